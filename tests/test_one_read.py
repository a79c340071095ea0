"""One read of the data: `migrate` without a saved plan chooses types from a sample and lets the copy check every
value; a value the sample did not show re-plans its table (and the tables its keys join), which is copied again,
exactly once even when the run is killed during that second copy. Against a real PostgreSQL."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from pathlib import Path

import psycopg2

from tests.test_faults import _alive, _cmd, _descendants, _env, _wait
from wizard.data_copy.state import recorded_plan
from wizard.plan.planner import build_plan
from wizard.source.profile_jobs import Sample
from wizard.target.connection import ConnectionSpec
from wizard.verify.report import render_text
from wizard.verify.run import verify

ROWS = 2_400_000
ODD = 1_999_999  # the row whose code is text: far from every window of the sample


def _make(path: Path) -> None:
    src = sqlite3.connect(path)
    src.executescript(f"""
        CREATE TABLE items (id INTEGER PRIMARY KEY, code INTEGER NOT NULL, qty INTEGER);
        CREATE TABLE tags (id INTEGER PRIMARY KEY, item_code INTEGER REFERENCES items (code), tag TEXT);
        CREATE UNIQUE INDEX items_code ON items (code);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})
            INSERT INTO items SELECT i, i, i % 7 FROM n;
        UPDATE items SET code = 'X-{ODD}' WHERE id = {ODD};
        INSERT INTO tags SELECT id, id, 'tag ' || id FROM items WHERE id % 50 = 0 AND id <> {ODD};
    """)
    src.commit()
    src.close()


def _state(spec: ConnectionSpec) -> tuple[str, int]:
    """The recorded plan's text and the rows of items copied so far ("" and 0 before the run state exists)."""
    try:
        conn = psycopg2.connect(**spec.connect_kwargs())
    except psycopg2.Error:
        return "", 0
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('pgmigrate.run') IS NOT NULL")
            if not cur.fetchone()[0]:
                return "", 0
            cur.execute("SELECT plan FROM pgmigrate.run")
            plan = cur.fetchone()[0]
            cur.execute("SELECT coalesce(sum(rows_done), 0) FROM pgmigrate.progress WHERE table_name = 'items'")
            return plan, int(cur.fetchone()[0])
    except psycopg2.Error:
        return "", 0
    finally:
        conn.close()


def test_a_sampled_plan_reads_a_few_rows_and_keeps_the_types(make_sqlite) -> None:  # type: ignore[no-untyped-def]
    rows = [(i, i, f"2024-01-{i % 28 + 1:02d} 10:00:00", i % 2, f"name {i}") for i in range(1, 30_001)]
    db = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, at DATETIME, flag BOOLEAN, name TEXT);",
                     {"t": rows})
    full, sampled = build_plan(db), build_plan(db, sample=Sample(1_000))
    t = sampled.table("t")
    assert 1_000 <= t.sampled_rows <= 1_200 and full.table("t").sampled_rows == 0
    assert [c.pg_type for c in t.columns] == [c.pg_type for c in full.table("t").columns]
    assert [c.pg_type for c in t.columns] == ["bigint", "bigint", "timestamp", "boolean", "text"]
    assert any(f.code == "sampled" and f.table == "t" for f in sampled.findings)
    assert sampled.sample_rows == 1_000


def test_a_value_the_sample_missed_replans_and_resumes_exactly_once(tmp_path: Path,
                                                                   pg_db: ConnectionSpec) -> None:
    path = tmp_path / "app.db"
    _make(path)
    proc = subprocess.Popen(_cmd(path, pg_db), env=_env(pg_db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # killed once the re-planned items are being copied again (its first rows committed, not all)
        _wait(lambda: '"sample_miss"' in (s := _state(pg_db))[0] and s[1] >= 100_000, "the second copy of items",
              timeout=180)
        helpers = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _wait(lambda: not any(_alive(p) for p in helpers), "the killed run's worker processes to exit", timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    plan_text, done = _state(pg_db)
    assert 0 < done < ROWS, "the kill came too late"
    recorded = json.loads(plan_text)
    types = {c["source"]: c["pg_type"] for t in recorded["tables"] for c in t["columns"]}
    assert types["code"] == "text" and types["item_code"] == "text"  # the key's column follows the re-planned one
    again = subprocess.run(_cmd(path, pg_db), env=_env(pg_db), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "using the plan recorded" in again.stderr  # the resume copies with the plan the rows came with
    plan = recorded_plan(pg_db, path)
    assert plan is not None
    miss = [f for f in plan.findings if f.code == "sample_miss"]
    assert len(miss) == 1 and miss[0].table == "items" and "code bigint -> text" in miss[0].message
    report = verify(plan, pg_db, jobs=2)
    assert report.ok, render_text(report)
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), count(DISTINCT id) FROM items")
            assert cur.fetchone() == (ROWS, ROWS)
            cur.execute("SELECT code FROM items WHERE id = %s", (ODD,))
            assert cur.fetchone() == (f"X-{ODD}",)
            cur.execute("SELECT count(*) FROM tags")
            assert cur.fetchone()[0] == ROWS // 50 - (1 if ODD % 50 == 0 else 0)
    finally:
        conn.close()


def test_the_snapshot_taken_while_sampling_is_recorded_or_removed(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    """migrate without a plan takes its snapshot while the plan is sampled: a run that then cannot start leaves
    no snapshot behind, and one that starts records that very snapshot (no second one is taken)."""
    path = tmp_path / "app.db"
    src = sqlite3.connect(path)
    src.executescript("""CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
                         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
                         INSERT INTO t SELECT i, 'n' || i FROM n;""")
    src.commit()
    src.close()
    snaps = tmp_path / "snaps"
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (x int)")  # not the tool's: the run must refuse to start
        refused = subprocess.run(_cmd(path, pg_db, "--backup-dir", str(snaps)), env=_env(pg_db),
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0 and "did not create" in refused.stderr, refused.stderr
        assert not list(snaps.glob("*pgmigrate-backup*")), "a snapshot no run refers to was left behind"
        with conn.cursor() as cur:
            cur.execute("DROP TABLE t")
        done = subprocess.run(_cmd(path, pg_db, "--backup-dir", str(snaps)), env=_env(pg_db),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        left = [p for p in snaps.glob("*pgmigrate-backup*") if p.suffix == ".sqlite"]
        with conn.cursor() as cur:
            cur.execute("SELECT snapshot FROM pgmigrate.run")
            recorded = json.loads(cur.fetchone()[0])["path"]
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchone()[0] == 5000
        assert [str(p) for p in left] == [recorded]
    finally:
        conn.close()
