"""Expressions translated against the planned types, by SQLite's affinity rules, on a real PostgreSQL: views give
the same rows as in SQLite, and CHECKs on re-typed columns are created and enforced."""

from __future__ import annotations

import sqlite3

import psycopg2
import pytest

from tests.conftest import migrate_whole
from wizard.plan.planner import build_plan
from wizard.target.connection import ConnectionSpec

SHOP = """
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, discontinued TEXT NOT NULL, category_id INTEGER,
                       added TEXT);
CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL, nickname TEXT);
CREATE TABLE tags (id INTEGER PRIMARY KEY, tag TEXT);
-- views in the file before the views they use; literals compared with TEXT columns; SQLite-only spellings
CREATE VIEW live_names AS SELECT name FROM [live products] WHERE id > 1;
CREATE VIEW [live products] AS SELECT id, name FROM products WHERE (((products.discontinued)=0));
CREATE VIEW dropped AS SELECT id FROM products WHERE discontinued <> 0 AND 1 = discontinued;
CREATE VIEW listed AS SELECT id FROM products WHERE discontinued IN (0, 1);
CREATE VIEW handles AS SELECT user.username AS username FROM users AS user WHERE user.nickname NOT NULL;
CREATE VIEW added_2024 AS SELECT id FROM products WHERE DATETIME(added) BETWEEN DATETIME('2024-01-01') AND
    DATETIME('2024-12-31 23:59:59');
-- arithmetic on text: SQLite reads the number a text starts with (0 for a word), NULL stays NULL
CREATE VIEW text_sums AS SELECT u.id, u.username + ' ' + u.nickname AS greeting, p.discontinued - '-1' AS shifted
    FROM users u JOIN products p ON p.id = u.id;
-- grouped SELECTs naming columns neither grouped nor aggregated (one row a group here, so SQLite's pick is known)
CREATE VIEW per_user AS SELECT * FROM users LEFT JOIN products ON products.id = users.id GROUP BY users.id;
-- USING a column both tables on its left have: SQLite takes the left-most, PostgreSQL refuses the USING
CREATE VIEW tagged AS SELECT p.name, u.username, tag FROM products p JOIN users u ON u.id = p.id + 1
    LEFT JOIN tags USING (id);
CREATE VIEW per_name AS SELECT p.*, count(*) AS n FROM products AS p GROUP BY p.name;
"""
PRODUCTS = [(1, "tea", "0", 1, "2024-03-01 10:00:00"), (2, "coffee", "0", 1, "2023-12-31 23:00:00"),
            (3, "mate", "1", 2, "2024-07-04T08:00:00"), (4, "cocoa", "0", None, None),
            (5, "chai", "1", 2, "2025-01-01 00:00:00")]
USERS = [(1, "ada", "A"), (2, "bob", None), (3, "3cy", "C")]
VIEWS = ["live_names", "live products", "dropped", "listed", "handles", "added_2024", "text_sums", "per_user",
         "per_name", "tagged"]


def _rows(cur_rows: list[tuple[object, ...]]) -> list[tuple[str, ...]]:
    return sorted(tuple(str(v) for v in row) for row in cur_rows)


def test_views_give_the_rows_sqlite_gives(make_sqlite, pg_db: ConnectionSpec) -> None:  # type: ignore[no-untyped-def]
    db = make_sqlite(SHOP, {"products": PRODUCTS, "users": USERS, "tags": [(1, "hot"), (2, "bitter"), (3, "new")]})
    plan = build_plan(db)
    assert [v.source for v in plan.views][:2] == ["live products", "live_names"]  # the used one first
    assert all(v.sql for v in plan.views), [v.skipped for v in plan.views]
    [warned] = [f.message for f in plan.findings if f.code == "text_arithmetic"]
    assert "u.username (+)" in warned and "u.nickname (+)" in warned
    migrate_whole(plan, pg_db)
    lite = sqlite3.connect(db)
    pg = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        with pg.cursor() as cur:
            for view in VIEWS:
                expected = _rows(lite.execute(f'SELECT * FROM "{view}"').fetchall())
                cur.execute(f'SELECT * FROM "{view}"')
                assert _rows(cur.fetchall()) == expected, view
                assert expected, f"the test view {view} should return rows"
    finally:
        pg.close()
        lite.close()


def test_check_with_a_text_function_on_a_numeric_column(make_sqlite, pg_db: ConnectionSpec) -> None:  # type: ignore[no-untyped-def]
    """A column of a custom type with INTEGER affinity that holds numbers is planned as bigint; its CHECK using
    length() is created (on the number's text, as SQLite computes it) and enforced."""
    db = make_sqlite("CREATE TABLE uom (code INTEGER_OR_TEXT PRIMARY KEY CHECK (length(code) >= 1 AND "
                     "length(code) <= 3), label TEXT CHECK (label NOT LIKE '9%'));",
                     {"uom": [(1, "one"), (12, "dozen"), (144, "gross")]})
    plan = build_plan(db)
    uom = plan.table("uom")
    assert uom.column("code").pg_type == "bigint"
    assert all(ch.sql for ch in uom.checks), [ch.skipped for ch in uom.checks]
    migrate_whole(plan, pg_db)
    pg = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        with pg.cursor() as cur:
            cur.execute("INSERT INTO uom VALUES (999, 'ok')")
            with pytest.raises(psycopg2.errors.CheckViolation):
                cur.execute("INSERT INTO uom VALUES (1728, 'too long a code')")
    finally:
        pg.rollback()
        pg.close()
    lite = sqlite3.connect(db)  # SQLite agrees on both rows
    lite.execute("INSERT INTO uom VALUES (999, 'ok')")
    with pytest.raises(sqlite3.IntegrityError):
        lite.execute("INSERT INTO uom VALUES (1728, 'too long a code')")
    lite.close()


def test_a_call_on_a_text_column_compares_as_the_call(make_sqlite) -> None:  # type: ignore[no-untyped-def]
    """`length(code) >= 2` compares a number with a number: the literal stays one (only `(code) = 2`, the column
    itself in grouping parentheses, is compared as text)."""
    db = make_sqlite("CREATE TABLE t (code TEXT CHECK (length(code) >= 2) CHECK ((code) <> 2));", {"t": [("ab",)]})
    checks = [ch.sql for ch in build_plan(db).table("t").checks]
    assert checks == ['length("code") >= 2', '("code") <> \'2\'']
