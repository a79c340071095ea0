"""Types chosen per relation, on a real PostgreSQL: columns that foreign keys join get one type every value fits,
and each key is created and validated."""

from __future__ import annotations

import psycopg2

from tests.conftest import migrate_whole
from wizard.plan.planner import build_plan
from wizard.plan.relations import key_groups
from wizard.source.schema import read_schema
from wizard.target.connection import ConnectionSpec
from wizard.verify.run import verify

# Code columns of a custom type with INTEGER affinity: the referenced one holds text codes beside numbers, the
# referencing ones only numbers, so each typed from its own data becomes text and bigint.
UOM = """
CREATE TABLE unit_of_measure (code INTEGER_OR_TEXT PRIMARY KEY CHECK (length(code) >= 1), label TEXT NOT NULL);
CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT,
                   uom_code INTEGER_OR_TEXT REFERENCES unit_of_measure (code));
CREATE TABLE conversion (from_code INTEGER_OR_TEXT NOT NULL REFERENCES unit_of_measure,
                         to_code INTEGER_OR_TEXT NOT NULL REFERENCES unit_of_measure (code),
                         factor REAL NOT NULL, PRIMARY KEY (from_code, to_code));
CREATE TABLE package (id INTEGER PRIMARY KEY, item_uom INTEGER REFERENCES item (id));
"""
ROWS = {
    "unit_of_measure": [(1, "each"), (12, "dozen"), ("kg", "kilogram"), ("g", "gram")],
    "item": [(1, "eggs", 12), (2, "nails", 1), (3, "flour", None)],
    "conversion": [(12, 1, 12.0), (1, 12, 1 / 12)],
    "package": [(1, 1), (2, 3)],
}


def test_key_groups_follow_foreign_keys_transitively(make_sqlite) -> None:  # type: ignore[no-untyped-def]
    db = make_sqlite(UOM, ROWS)
    groups = key_groups(read_schema(db))
    assert sorted(groups) == [
        [("conversion", "from_code"), ("conversion", "to_code"), ("item", "uom_code"),
         ("unit_of_measure", "code")],
        [("item", "id"), ("package", "item_uom")],
    ]


def test_joined_columns_get_one_type_and_every_key_validates(make_sqlite, pg_db: ConnectionSpec) -> None:  # type: ignore[no-untyped-def]
    db = make_sqlite(UOM, ROWS)
    plan = build_plan(db)
    assert plan.table("unit_of_measure").column("code").pg_type == "text"  # text codes: the widest the data needs
    for table, column in (("item", "uom_code"), ("conversion", "from_code"), ("conversion", "to_code")):
        assert plan.table(table).column(column).pg_type == "text", (table, column)
        assert any(f.code == "key_type" and f.table == table and f.column == column for f in plan.findings)
    assert plan.table("package").column("item_uom").pg_type == "bigint"  # same types already: untouched
    assert not [f for f in plan.findings if f.code == "key_type" and f.table in ("item", "package")
                and f.column in ("id", "item_uom")]
    assert all(fk.skipped is None for t in plan.tables for fk in t.foreign_keys)
    assert all(ch.sql for ch in plan.table("unit_of_measure").checks)
    migrate_whole(plan, pg_db)
    assert verify(plan, pg_db).ok
    pg = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        with pg.cursor() as cur:
            cur.execute("SELECT conrelid::regclass::text, convalidated FROM pg_constraint WHERE contype = 'f' "
                        "ORDER BY 1, conname")
            keys = cur.fetchall()
            assert keys == [("conversion", True), ("conversion", True), ("item", True), ("package", True)]
            cur.execute("SELECT i.name, u.label FROM item i JOIN unit_of_measure u ON u.code = i.uom_code "
                        "ORDER BY i.id")
            assert cur.fetchall() == [("eggs", "dozen"), ("nails", "each")]
            cur.execute("INSERT INTO item (id, name, uom_code) VALUES (9, 'sugar', 'kg')")
            try:
                cur.execute("INSERT INTO item (id, name, uom_code) VALUES (10, 'salt', 'lb')")
                raise AssertionError("a code that is not in unit_of_measure was accepted")
            except psycopg2.errors.ForeignKeyViolation:
                pass
    finally:
        pg.rollback()
        pg.close()


def test_a_type_override_sets_the_group_type(make_sqlite) -> None:  # type: ignore[no-untyped-def]
    db = make_sqlite(UOM, ROWS)
    plan = build_plan(db, overrides={"unit_of_measure.code": "varchar(8)"})
    assert plan.table("unit_of_measure").column("code").pg_type == "varchar(8)"
    for table, column in (("item", "uom_code"), ("conversion", "from_code"), ("conversion", "to_code")):
        assert plan.table(table).column(column).pg_type == "varchar(8)", (table, column)


# The pattern of an activity log: GUID ids stored as 16-byte blobs in one table, declared the same in an empty
# queue table (NUMERIC affinity, so planned numeric); a view joins them and puts them in one UNION column.
ACTIVITIES = """
CREATE TABLE activity (id GUID PRIMARY KEY NOT NULL, parent GUID, status INT NOT NULL);
CREATE TABLE operation (seq INTEGER PRIMARY KEY, id GUID NOT NULL, parent GUID, kind INT NOT NULL);
CREATE VIEW lookup AS SELECT o.id, o.parent, o.kind AS status, a.status AS known FROM operation AS o
    LEFT JOIN activity AS a ON o.id = a.id
    UNION SELECT id, parent, status, status FROM activity WHERE id NOT IN (SELECT id FROM operation);
"""


def test_columns_a_view_compares_get_a_type_postgresql_compares(make_sqlite, pg_db: ConnectionSpec) -> None:  # type: ignore[no-untyped-def]
    a, b = bytes(range(16)), bytes(range(16, 32))
    db = make_sqlite(ACTIVITIES, {"activity": [(a, None, 1), (b, a, 2)], "operation": []})
    plan = build_plan(db)
    assert plan.table("activity").column("id").pg_type == "bytea"
    assert plan.table("operation").column("id").pg_type == "bytea"  # the join and the UNION's first column
    assert plan.table("operation").column("parent").pg_type == "bytea"  # the UNION's second column
    assert plan.table("operation").column("kind").pg_type == "bigint"  # a number beside a number: untouched
    assert any(f.code == "key_type" and f.table == "operation" and f.column == "id" and "views" in f.message
               for f in plan.findings)
    migrate_whole(plan, pg_db)
    pg = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        with pg.cursor() as cur:
            cur.execute("INSERT INTO operation VALUES (1, %s, NULL, 7)", (psycopg2.Binary(b),))
            cur.execute("SELECT id, status, known FROM lookup ORDER BY status")
            assert [(bytes(i), s, k) for i, s, k in cur.fetchall()] == [(a, 1, 1), (b, 7, 2)]
    finally:
        pg.rollback()
        pg.close()
