"""Phase 2, after the data: keys, indexes, constraints, foreign keys (NOT VALID, then VALIDATE), views,
identity restarts and ANALYZE, stage by stage, each step recorded when it commits so a resumed run skips it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import psycopg2
from psycopg2 import sql

from wizard.data_copy import violations
from wizard.data_copy.model import Run, TableResult
from wizard.data_copy.state import work_connection
from wizard.data_copy.statements import apply
from wizard.plan import ddl
from wizard.target.server_cores import build_workers
from wizard.workers import Link, run_jobs


def once(results: list[ddl.StatementResult]) -> list[ddl.StatementResult]:
    """The results without the validation of a constraint that could not be added: its failure ("constraint ...
    does not exist") would report the same missing constraint a second time."""
    not_added = {(r.statement.table, r.statement.name) for r in results
                 if not r.ok and r.statement.kind in ("fk", "check")}
    return [r for r in results if r.ok or r.statement.kind != "validate"
            or (r.statement.table, r.statement.name) not in not_added]


def post_load(run: Run, tables: list[TableResult]) -> list[ddl.StatementResult]:
    """Phase 2, stage by stage, the steps of a stage side by side on `jobs` connections (index builds, foreign key
    validations and ANALYZE are server work: threads are enough). Each step commits with its row in
    `pgmigrate.post_done`, so a resumed run skips what is finished and still reports its results."""
    stages = ddl.phase2_stages(run.plan, run.options.schema)
    local = threading.local()
    opened: list[Any] = []
    guard = threading.Lock()
    workers: list[int | None] = []  # the index builds' parallel workers, decided on the first connection

    def connection() -> Any:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = work_connection(run.spec, run.options, "building indexes and constraints")
            with guard:
                opened.append(conn)
                if not workers:
                    workers.append(build_workers(conn, run.options.jobs))
            if workers[0] is not None:
                with conn.cursor() as cur:
                    cur.execute("SELECT set_config('max_parallel_maintenance_workers', %s, false)",
                                (str(workers[0]),))
            conn.commit()
        return conn

    def run_step(step: ddl.Step, link: Link) -> list[ddl.StatementResult]:
        conn = connection()
        try:
            results = [r if r.ok else ddl.StatementResult(r.statement, False, violations.explain(
                conn, run.plan, run.options.schema, r.statement) or r.error) for r in apply(conn, step.statements)]
            with conn.cursor() as cur:
                cur.execute("INSERT INTO pgmigrate.post_done (step, results) VALUES (%s, %s)",
                            (step.key, json.dumps([[r.ok, r.error] for r in results])))
            conn.commit()
            return results
        except BaseException:
            with contextlib.suppress(psycopg2.Error):
                conn.rollback()
            raise

    try:
        conn = connection()
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS pgmigrate.post_done (step text PRIMARY KEY, results text NOT NULL)")
            cur.execute("SELECT step, results FROM pgmigrate.post_done")
            finished = {k: json.loads(v) for k, v in cur.fetchall()}
        conn.commit()
        by_step: dict[str, list[ddl.StatementResult]] = {}
        started = time.monotonic()
        rows = {r.table: r.rows for r in tables}
        for t in run.plan.included_tables:  # the fronts show it: this part can take a while on big tables
            run.emit(t, "post", rows.get(t.source, 0), 0, started, 0)
        table_rows = {t.target: t.row_count for t in run.plan.included_tables}

        def cost(step: ddl.Step) -> int:  # each statement reads its whole table
            return sum(table_rows.get(st.table or "", 0) for st in step.statements)

        for stage in stages:
            todo = []
            for step in stage:
                if step.key in finished:
                    by_step[step.key] = [ddl.StatementResult(st, ok, err) for st, (ok, err)
                                         in zip(step.statements, finished[step.key], strict=True)]
                else:
                    todo.append(step)
            # the longest steps first, so no connection is left alone with a big table at the end of the stage
            todo.sort(key=cost, reverse=True)
            done = run_jobs(run_step, todo, workers=run.options.jobs, processes=False, cancel=run.cancel)
            by_step.update((step.key, results) for step, results in zip(todo, done, strict=True))
        conn = connection()
        with conn.cursor() as cur:
            for t in run.plan.included_tables:
                cur.execute(sql.SQL("ALTER TABLE {} RESET (autovacuum_enabled)").format(
                    ddl.table_ident(t, run.options.schema)))
        conn.commit()
        for t in run.plan.included_tables:
            run.emit(t, "ready", rows.get(t.source, 0), 0, started, 0)
        return once([r for stage in stages for step in stage for r in by_step[step.key]])
    finally:
        for conn in opened:
            with contextlib.suppress(psycopg2.Error):
                conn.close()
