"""The run's state in the target's `pgmigrate` schema: the run (source, snapshot, phase), each part's checkpoint
and the rejected rows. A batch's checkpoint commits with its rows, so a rerun resumes after the last committed
batch of each part: no row lost or duplicated.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

from wizard.data_copy.batches import part_ranges
from wizard.data_copy.model import CopyOptions, Part, Run, TableResult
from wizard.data_copy.statements import apply
from wizard.errors import StepFailed
from wizard.plan import ddl
from wizard.plan_model import MigrationPlan, TablePlan
from wizard.source.snapshot import Snapshot, release
from wizard.target.connection import ConnectFailed, ConnectionSpec, connect
from wizard.target.pg_errors import TargetStopped


def state_exists(cur: Any) -> bool:
    cur.execute("SELECT to_regclass('pgmigrate.run') IS NOT NULL")
    return bool(cur.fetchone()[0])


def read_state(spec: ConnectionSpec) -> dict[str, Any] | None:
    """The recorded run in the target, or None when no migration was started there."""
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            if not state_exists(cur):
                return None
            cur.execute("SELECT snapshot, phase FROM pgmigrate.run WHERE id = 1")
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute("SELECT table_name, sum(rows_done), sum(rejected), bool_and(done), count(*) "
                        "FROM pgmigrate.progress GROUP BY table_name")
            tables = {r[0]: {"rows_done": int(r[1]), "rejected": int(r[2]), "done": r[3], "parts": int(r[4])}
                      for r in cur.fetchall()}
            return {"snapshot": json.loads(row[0]), "phase": row[1], "tables": tables}
    finally:
        conn.close()


def recorded_plan(spec: ConnectionSpec, source: str | Path) -> MigrationPlan | None:
    """The plan a migration of `source` into this target was made with (its copy and its verify use exactly it),
    or None: no migration there, one of another file, or one recorded before plans were kept."""
    try:
        conn = connect(spec)
    except ConnectFailed as exc:
        if exc.kind == "no_database":
            raise  # nothing there to read or to copy into: said now, before any data is read
        return None  # the command itself says what is wrong with the target
    try:
        with conn.cursor() as cur:
            if not state_exists(cur):
                return None
            cur.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = 'pgmigrate' "
                        "AND table_name = 'run' AND column_name = 'plan'")
            if cur.fetchone() is None:
                return None
            cur.execute("SELECT source, plan FROM pgmigrate.run WHERE id = 1")
            row = cur.fetchone()
    except psycopg2.Error:
        return None  # not readable by this account: the command profiles the data instead
    finally:
        conn.close()
    if row is None or row[1] is None or Path(row[0]).absolute() != Path(source).absolute():
        return None
    try:
        return MigrationPlan.from_json(row[1])
    except (ValueError, TypeError, KeyError):
        return None  # recorded by another version of the plan format: profile again


def reset_target(plan: MigrationPlan, spec: ConnectionSpec, schema: str = "public") -> None:
    """--restart: drop the plan's tables and views, those of the migration recorded there (of another file, or an
    older plan of this one) and the state, in one transaction. The dropped run's snapshot is no longer needed for a
    resume (it is pruned after the next finished migration)."""
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            snapshot = None
            if state_exists(cur):
                cur.execute("SELECT snapshot FROM pgmigrate.run WHERE id = 1")
                row = cur.fetchone()
                snapshot = json.loads(row[0])["path"] if row else None
                cur.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = 'pgmigrate' "
                            "AND table_name = 'run' AND column_name = 'plan'")
                if cur.fetchone() is not None:
                    cur.execute("SELECT plan FROM pgmigrate.run WHERE id = 1")
                    recorded = cur.fetchone()
                    if recorded is not None and recorded[0]:
                        with contextlib.suppress(ValueError, TypeError, KeyError):
                            drop_migration(cur, MigrationPlan.from_json(recorded[0]), schema)
            drop_migration(cur, plan, schema)
        conn.commit()
    finally:
        conn.close()
    if snapshot:
        release(snapshot)


def drop_migration(cur: Any, plan: MigrationPlan, schema: str) -> None:
    """Drop the plan's tables and views and the run state, in the cursor's open transaction."""
    for v in plan.views:
        cur.execute(sql.SQL("DROP VIEW IF EXISTS {} CASCADE").format(
            sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(v.target)])))
    for t in plan.tables:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(ddl.table_ident(t, schema)))
    cur.execute("DROP SCHEMA IF EXISTS pgmigrate CASCADE")


def record_snapshot(cur: Any, snap: Snapshot) -> None:
    """Record the run's snapshot (now with its SHA-256), in the cursor's open transaction."""
    cur.execute("UPDATE pgmigrate.run SET snapshot = %s WHERE id = 1", (json.dumps(snap.__dict__),))


def create_state(conn: Any, run: Run, snap: Snapshot) -> None:
    """The target's tables and the run state, in the open transaction of `conn` (the caller commits)."""
    with conn.cursor() as cur:
        cur.execute("CREATE SCHEMA pgmigrate")
        # `plan` is the whole plan the run copies with: a resume and verify reuse it instead of profiling again
        cur.execute("CREATE TABLE pgmigrate.run (id int PRIMARY KEY CHECK (id = 1), source text NOT NULL, "
                    "snapshot text NOT NULL, plan_tables text NOT NULL, phase text NOT NULL, "
                    "started timestamptz DEFAULT now(), plan text)")
        # one row per part of a table: the rowid range (lo, hi] it covers and how far it got
        cur.execute("CREATE TABLE pgmigrate.progress (table_name text NOT NULL, part int NOT NULL, lo bigint, "
                    "hi bigint, last_key text, rows_done bigint NOT NULL DEFAULT 0, "
                    "rejected bigint NOT NULL DEFAULT 0, done boolean NOT NULL DEFAULT false, "
                    "PRIMARY KEY (table_name, part))")
        # rejected rows (--on-error skip) land with their batch, so the rejects files are exact after a resume
        cur.execute("CREATE TABLE pgmigrate.rejects (id bigserial PRIMARY KEY, table_name text NOT NULL, "
                    "part int NOT NULL, record text NOT NULL)")
        cur.execute("INSERT INTO pgmigrate.run (id, source, snapshot, plan_tables, phase, plan) "
                    "VALUES (1, %s, %s, %s, 'copy', %s)", (run.plan.source_path, json.dumps(snap.__dict__),
                                                           json.dumps([t.target for t in run.plan.included_tables]),
                                                           recordable(run.plan)))
        create_tables(conn, run, snap, run.plan.included_tables)
        # Like the batches, this commit need not wait for its WAL flush (the disk may be busy writing the new
        # snapshot out): a server crash loses the tables and the state together, and the rerun starts afresh.
        cur.execute("SET LOCAL synchronous_commit = off")


def recordable(plan: MigrationPlan) -> str:
    """The plan as the run records it: the wizard's choices are the wizard's, not the run's."""
    return replace(plan, wizard_state={}).to_json()


def create_tables(conn: Any, run: Run, snap: Snapshot, tables: list[TablePlan]) -> None:
    """Create `tables` (of run.plan) and their parts, each yet to copy, in the open transaction of `conn`."""
    # parts small enough that every worker stays busy to the end, never smaller than a batch
    part_rows = max(run.options.batch_size, sum(t.row_count for t in run.plan.included_tables)
                    // (8 * max(1, run.options.jobs)))
    names = {t.target for t in tables}
    apply(conn, [st for st in ddl.phase1(run.plan, run.options.schema) if st.table in names])
    with conn.cursor() as cur:
        # No autovacuum while the batches commit (it would scan the growing tables again and again); the
        # post-load phase switches it back on once the tables are complete and analyzed.
        for t in tables:
            cur.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(
                ddl.table_ident(t, run.options.schema)))
        for t in tables:
            for part, (lo, hi) in enumerate(part_ranges(snap.path, t, part_rows)):
                cur.execute("INSERT INTO pgmigrate.progress (table_name, part, lo, hi) VALUES (%s, %s, %s, %s)",
                            (t.target, part, lo, hi))


def table_exists(cur: Any, schema: str, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (ddl.render(sql.SQL(".").join(
        [sql.Identifier(schema), sql.Identifier(name)])),))
    return bool(cur.fetchone()[0])


def set_phase(spec: ConnectionSpec, phase: str) -> None:
    conn = connect_mid_run(spec, "recording progress")
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE pgmigrate.run SET phase = %s WHERE id = 1", (phase,))
        conn.commit()
    finally:
        conn.close()


def results_from_state(run: Run, seconds: dict[str, float] | None = None,
                        resumed: dict[str, int] | None = None,
                        rejects_files: dict[str, str] | None = None) -> list[TableResult]:
    state = read_state(run.spec) or {"tables": {}}
    out = []
    for t in run.plan.included_tables:
        s = state["tables"].get(t.target, {"rows_done": 0, "rejected": 0})
        done = int(s["rows_done"])
        out.append(TableResult(t.source, done, int(s["rejected"]), (seconds or {}).get(t.source, 0.0),
                               done if resumed is None else resumed.get(t.source, 0),
                               (rejects_files or {}).get(t.source)))
    return out


def _key_json(key: tuple[Any, ...]) -> str:
    """A batch key as the checkpoint's JSON, exactly: a WITHOUT ROWID key may hold BLOBs (binary UUIDs) and
    floats, besides integers and text."""
    return json.dumps([{"blob": v.hex()} if isinstance(v, bytes) else v for v in key])


def key_from_json(text: str) -> tuple[Any, ...]:
    return tuple(bytes.fromhex(v["blob"]) if isinstance(v, dict) else v for v in json.loads(text))


def advance_checkpoint(conn: Any, job: Part, expected: str | None, last_key: tuple[Any, ...], loaded: int,
                rejects: list[dict[str, Any]]) -> str:
    """Move the part's checkpoint from `expected` to `last_key`, in the batch's transaction.

    If the checkpoint is no longer `expected`, another process committed this batch first (a worker of a killed
    run that had not noticed yet): this batch is rolled back instead of loading its rows twice."""
    new = _key_json(last_key)
    with conn.cursor() as cur:
        cur.execute("UPDATE pgmigrate.progress SET last_key = %s, rows_done = rows_done + %s, "
                    "rejected = rejected + %s WHERE table_name = %s AND part = %s "
                    "AND last_key IS NOT DISTINCT FROM %s", (new, loaded, len(rejects), job.table.target, job.part,
                                                             expected))
        if cur.rowcount != 1:
            conn.rollback()
            raise StepFailed(f"Another migrate process copied the same rows of {job.table.source} at the same time; "
                             "this one stepped back.", title="Concurrent copy",
                             hint="Make sure only one migrate runs against this database, then run it again.")
        for r in rejects:
            cur.execute("INSERT INTO pgmigrate.rejects (table_name, part, record) VALUES (%s, %s, %s)",
                        (job.table.target, job.part, json.dumps(r, ensure_ascii=False)))
    return new


def connect_mid_run(spec: ConnectionSpec, doing: str) -> Any:
    """A connection opened once the migration is under way: failing now means the server stopped us (resumable),
    not that the settings are wrong."""
    try:
        return connect(spec)
    except ConnectFailed as exc:
        raise TargetStopped(doing, exc) from None


def work_connection(spec: ConnectionSpec, options: CopyOptions, doing: str = "copying") -> Any:
    conn = connect_mid_run(spec, doing)
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(options.lock_timeout_s * 1000)}ms",))
        # A batch's commit need not wait for its WAL flush: the rows and their checkpoint are one transaction, so
        # a server crash can only lose whole recent batches, which the rerun copies again. Never a partial one.
        cur.execute("SET synchronous_commit = off")
    conn.commit()
    return conn
