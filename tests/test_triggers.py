"""Common SQLite triggers become PostgreSQL triggers (the updated_at family, audit inserts); the rest stay
manual work with their SQLite text. On a real PostgreSQL, the translated triggers fire."""

from __future__ import annotations

import sqlite3

import psycopg2

from tests.conftest import migrate_whole
from wizard.plan import ddl
from wizard.plan.planner import build_plan
from wizard.target.connection import ConnectionSpec

SCHEMA = """
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, updated_at TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL NOT NULL, modified TIMESTAMP);
CREATE TABLE audit (id INTEGER PRIMARY KEY, item_id INTEGER, old_name TEXT, new_name TEXT);
CREATE TRIGGER items_touch AFTER UPDATE ON items
BEGIN
    UPDATE items SET updated_at = CURRENT_TIMESTAMP WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER [orders touch] AFTER UPDATE OF total ON orders FOR EACH ROW WHEN NEW.total <> OLD.total
BEGIN UPDATE orders SET modified = datetime('now') WHERE id = NEW.id; END;
CREATE TRIGGER items_audit AFTER UPDATE OF name ON items
BEGIN INSERT INTO audit(item_id, old_name, new_name) VALUES (OLD.id, OLD.name, NEW.name); END;
CREATE TABLE tasks (id INTEGER PRIMARY KEY, done BOOLEAN NOT NULL, code TEXT, finished_at TIMESTAMP);
CREATE TRIGGER tasks_finished AFTER UPDATE OF done ON tasks WHEN NEW.done = 1 AND NEW.code <> 'x'
BEGIN UPDATE tasks SET finished_at = CURRENT_TIMESTAMP WHERE id = NEW.id; END;
CREATE TRIGGER items_guard BEFORE DELETE ON items BEGIN SELECT RAISE(ABORT, 'items are never deleted'); END;
"""
ROWS = {"items": [(1, "tea", "2020-01-01 00:00:00"), (2, "coffee", "2020-01-01 00:00:00")],
        "orders": [(1, 9.5, "2020-01-01 00:00:00")],
        "tasks": [(1, 0, "a", None), (2, 0, "x", None)]}


def test_touch_and_audit_triggers_fire_in_postgresql(make_sqlite, pg_db: ConnectionSpec) -> None:  # type: ignore[no-untyped-def]
    db = make_sqlite(SCHEMA, ROWS)
    plan = build_plan(db)
    translated = {t.source: t for t in plan.triggers}
    assert {n for n, t in translated.items() if t.skipped is None} == {"items_touch", "orders touch", "items_audit",
                                                                   "tasks_finished"}
    assert translated["items_guard"].skipped
    assert [m.name for m in plan.manual if m.kind == "trigger"] == ["items_guard"]
    assert ddl.render_script(plan).count("RAISE(ABORT") == 1  # the manual one is listed once, with its SQLite text
    migrate_whole(plan, pg_db)
    pg = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        with pg.cursor() as cur:
            cur.execute("SELECT count(*) FROM audit")
            assert cur.fetchone() == (0,)
            cur.execute("UPDATE items SET name = 'green tea' WHERE id = 1")
            cur.execute("SELECT updated_at FROM items ORDER BY id")
            stamps = [r[0] for r in cur.fetchall()]
            assert stamps[0] > "2020-01-01 00:00:00" and len(stamps[0]) == 19  # SQLite's text format
            assert stamps[1] == "2020-01-01 00:00:00"
            cur.execute("SELECT item_id, old_name, new_name FROM audit")
            assert cur.fetchall() == [(1, "tea", "green tea")]
            cur.execute("UPDATE orders SET total = 9.5")  # WHEN NEW.total <> OLD.total: not fired
            cur.execute("SELECT modified::text FROM orders")
            assert cur.fetchone() == ("2020-01-01 00:00:00",)
            cur.execute("UPDATE orders SET total = 12")
            cur.execute("SELECT modified > '2021-01-01' FROM orders")
            assert cur.fetchone() == (True,)
            # its WHEN compares a column planned as boolean with 1
            cur.execute("UPDATE tasks SET done = true")
            cur.execute("SELECT id, finished_at IS NOT NULL FROM tasks ORDER BY id")
            assert cur.fetchall() == [(1, True), (2, False)]
        pg.commit()
    finally:
        pg.close()
    lite = sqlite3.connect(db)  # SQLite does the same
    lite.execute("UPDATE items SET name = 'green tea' WHERE id = 1")
    assert lite.execute("SELECT item_id, old_name, new_name FROM audit").fetchall() == [(1, "tea", "green tea")]
    lite.execute("UPDATE tasks SET done = 1")
    assert lite.execute("SELECT id, finished_at IS NOT NULL FROM tasks ORDER BY id").fetchall() == [(1, 1), (2, 0)]
    lite.close()


def test_new_and_old_have_no_affinity(make_sqlite) -> None:  # type: ignore[no-untyped-def]
    """In a trigger SQLite compares NEW.x and OLD.x as stored, without the column's affinity (NEW.code <> 7 holds
    for the text '7'): a number compared with them is not rewritten as text, unlike with the column itself."""
    db = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT, seen TEXT);"
                     "CREATE TRIGGER a AFTER UPDATE ON t WHEN NEW.code <> 7 "
                     "BEGIN UPDATE t SET seen = CURRENT_TIMESTAMP WHERE id = NEW.id; END;"
                     "CREATE VIEW v AS SELECT id FROM t WHERE code <> 7;", {"t": [(1, "7", None)]})
    plan = build_plan(db)
    assert 'WHEN (NEW."code" <> 7)' in ddl.render_script(plan)
    assert plan.views[0].sql is not None and "<> '7'" in plan.views[0].sql
