"""A table's own keys and indexes are built as soon as the table is copied, on a core the copy's last parts leave
idle, while other tables are still being copied; a table made anew by a re-plan gets them built again. Against a
real PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg2
import pytest

from wizard.data_copy import parts, post_load
from wizard.data_copy.model import CopyOptions
from wizard.data_copy.run import migrate
from wizard.plan.ddl import table_step_key
from wizard.plan.planner import build_plan
from wizard.source.profile_jobs import Sample
from wizard.target.connection import ConnectionSpec

ITEMS = 8_000  # rows × columns above the other table's: copied first, in the same job (small parts are bundled)


def _built(spec: ConnectionSpec, table: str, timeout: float = 10.0) -> bool:
    """Whether the step building `table`'s keys and indexes is recorded as committed within `timeout` seconds."""
    end = time.monotonic() + timeout
    conn = psycopg2.connect(**spec.connect_kwargs())
    conn.autocommit = True
    try:
        while True:
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass('pgmigrate.post_done') IS NOT NULL")
                if cur.fetchone()[0]:
                    cur.execute("SELECT 1 FROM pgmigrate.post_done WHERE step = %s", (table_step_key(table),))
                    if cur.fetchone():
                        return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.05)
    finally:
        conn.close()


def _hold_copy_of(table: str, until_built: str, spec: ConnectionSpec, seen: list[bool],
                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy of `table` starts only once `until_built`'s keys and indexes are committed (or 10 s have passed):
    `seen` tells which. The copy runs in threads here (a small file), so the patch reaches it."""
    real = parts._copy_part

    def copy_part(job: Any, link: Any, conn: Any) -> None:
        if job.table.source == table and not seen:
            seen.append(_built(spec, until_built))
        real(job, link, conn)

    monkeypatch.setattr(parts, "_copy_part", copy_part)


def _index_names(conn: Any, table: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,))
        return {r[0] for r in cur.fetchall()}


def test_a_copied_tables_indexes_are_built_while_another_table_copies(  # type: ignore[no-untyped-def]
        make_sqlite, pg_db: ConnectionSpec, pg_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_sqlite("CREATE TABLE items (id INTEGER PRIMARY KEY, code INTEGER NOT NULL);"
                     "CREATE UNIQUE INDEX items_code ON items (code);"
                     "CREATE TABLE tags (id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES items (id), tag TEXT);",
                     {"items": [(i, i * 3) for i in range(1, ITEMS + 1)],
                      "tags": [(i, i, f"tag {i}") for i in range(1, 101)]})
    seen: list[bool] = []
    _hold_copy_of("tags", "items", pg_db, seen, monkeypatch)
    result = migrate(build_plan(db), pg_db, CopyOptions(jobs=2))
    assert seen == [True], "items' keys and indexes were not built while tags was still to copy"
    assert result.failed_statements == [] and sum(t.rows for t in result.tables) == ITEMS + 100
    assert {"items_pkey", "items_code"} <= _index_names(pg_conn, "items")
    assert "tags_pkey" in _index_names(pg_conn, "tags")


def test_a_table_made_anew_by_a_replan_gets_its_indexes_again(  # type: ignore[no-untyped-def]
        make_sqlite, pg_db: ConnectionSpec, pg_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    """items' keys and indexes are built while tags copies; then a value of tags the sample did not show re-plans
    tags, and items, whose code column tags' key joins, is made anew with the new type: the record of its
    first build must not stand for the new table."""
    odd = 2_345  # outside every window of a 100-row sample of 5,000 rows
    db = make_sqlite("CREATE TABLE items (id INTEGER PRIMARY KEY, code INTEGER NOT NULL);"
                     "CREATE UNIQUE INDEX items_code ON items (code);"
                     "CREATE TABLE tags (id INTEGER PRIMARY KEY, item_code INTEGER REFERENCES items (code), tag TEXT);",
                     {"items": [(i, i) for i in range(1, ITEMS + 1)],
                      "tags": [(i, f"X-{i}" if i == odd else i, f"tag {i}") for i in range(1, 5_001)]})
    plan = build_plan(db, sample=Sample(100))
    assert plan.table("items").column("code").pg_type == "bigint"
    seen: list[bool] = []
    _hold_copy_of("tags", "items", pg_db, seen, monkeypatch)
    result = migrate(plan, pg_db, CopyOptions(jobs=2))
    assert seen == [True], "items' keys and indexes were not built before tags' copy met its odd value"
    assert result.plan is not None and result.plan.table("items").column("code").pg_type == "text"
    assert any(f.code == "sample_miss" and f.table == "tags" for f in result.plan.findings)
    assert {"items_pkey", "items_code"} <= _index_names(pg_conn, "items")
    with pg_conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT code) FROM items")
        assert cur.fetchone() == (ITEMS, ITEMS)
        cur.execute("SELECT item_code FROM tags WHERE id = %s", (odd,))
        assert cur.fetchone() == (f"X-{odd}",)


def test_a_failed_copy_cancels_the_build_in_progress_and_a_rerun_finishes(  # type: ignore[no-untyped-def]
        make_sqlite, pg_db: ConnectionSpec, pg_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy of tags fails while items' keys are being built: the build is cancelled at once (not waited
    for), nothing of it is recorded, and the next run builds it."""
    db = make_sqlite("CREATE TABLE items (id INTEGER PRIMARY KEY, code INTEGER NOT NULL);"
                     "CREATE UNIQUE INDEX items_code ON items (code);"
                     "CREATE TABLE tags (id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES items (id), tag TEXT);",
                     {"items": [(i, i * 3) for i in range(1, ITEMS + 1)],
                      "tags": [(i, i, f"tag {i}") for i in range(1, 101)]})
    building = threading.Event()
    real_apply = post_load.apply

    def slow_apply(conn, statements):  # type: ignore[no-untyped-def]
        if any(st.table == "items" for st in statements):
            building.set()
            time.sleep(0.5)  # the failure's first cancel comes now, between two statements: it must not be lost
            with conn.cursor() as cur:
                cur.execute("SELECT pg_sleep(60)")  # a long build, on the server
        return real_apply(conn, statements)

    real_copy = parts._copy_part

    def failing_copy(job: Any, link: Any, conn: Any) -> None:
        if job.table.source == "tags":
            assert building.wait(10), "items' keys were not being built while tags was still to copy"
            raise RuntimeError("the copy of tags failed")
        real_copy(job, link, conn)

    monkeypatch.setattr(post_load, "apply", slow_apply)
    monkeypatch.setattr(parts, "_copy_part", failing_copy)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="the copy of tags failed"):
        migrate(build_plan(db), pg_db, CopyOptions(jobs=2))
    assert time.monotonic() - started < 30, "the failure waited for the build in progress"
    assert not _built(pg_db, "items", timeout=0)
    monkeypatch.undo()
    result = migrate(build_plan(db), pg_db, CopyOptions(jobs=2))
    assert result.failed_statements == [] and sum(t.rows for t in result.tables) == ITEMS + 100
    assert {"items_pkey", "items_code"} <= _index_names(pg_conn, "items")
