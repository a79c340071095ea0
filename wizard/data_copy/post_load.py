"""Phase 2, after the data: keys, indexes, constraints, foreign keys (NOT VALID, then VALIDATE), views,
identity restarts and ANALYZE, stage by stage, each step recorded when it commits so a resumed run skips it.

A table's own keys, indexes and CHECKs need no other table: they may start as soon as the table is copied, while
the copy's last parts still run, on a core that the copy leaves idle (`PostLoad.table_copied`, `PostLoad.idle`).
The end of a copy is where a core would otherwise wait: the last parts run on fewer workers than there are cores.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

import psycopg2
from psycopg2 import sql

from wizard.data_copy import violations
from wizard.data_copy.model import Run, TableResult
from wizard.data_copy.state import work_connection
from wizard.data_copy.statements import apply
from wizard.errors import Cancelled
from wizard.plan import ddl
from wizard.target.server_cores import build_workers
from wizard.workers import run_jobs


def once(results: list[ddl.StatementResult]) -> list[ddl.StatementResult]:
    """The results without the validation of a constraint that could not be added: its failure ("constraint ...
    does not exist") would report the same missing constraint a second time."""
    not_added = {(r.statement.table, r.statement.name) for r in results
                 if not r.ok and r.statement.kind in ("fk", "check")}
    return [r for r in results if r.ok or r.statement.kind != "validate"
            or (r.statement.table, r.statement.name) not in not_added]


_CANCEL_FOR_S = 10.0  # how long stop() keeps cancelling the steps in progress before it just waits for them


class _Stopped(Exception):
    """A step that was stopped before it committed (the run ends, or its table is about to be created anew)."""


class PostLoad:
    """Phase 2 of `run`, stage by stage, the steps of a stage side by side on `jobs` connections (index builds,
    foreign key validations and ANALYZE are server work: threads are enough). Each step commits with its row in
    `pgmigrate.post_done`, so a resumed run skips what is finished and still reports its results.

    The first stage's per-table steps may begin during the copy: `table_copied` queues a table's step, `idle`
    says how many of the copy's workers have nothing left to do, and that many queued steps run at a time."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.stages = ddl.phase2_stages(run.plan, run.options.schema)
        self._local = threading.local()
        self._opened: list[Any] = []
        self._running: set[Any] = set()  # connections with a step in progress, to cancel it on stop()
        self._guard = threading.Lock()
        self._begin_lock = threading.Lock()
        self._build_workers: list[int | None] = []  # the index builds' parallel workers, from the first connection
        self._finished: dict[str, list[Any]] | None = None
        first = self.stages[0] if self.stages else []
        # the first stage's steps that need only their own table, by table
        self._per_table = {step.table: step for step in first if step.table is not None}
        self._pool: ThreadPoolExecutor | None = None
        self._queued: dict[str, Future[list[ddl.StatementResult]]] = {}
        self._waiting: list[ddl.Step] = []  # queued, not started: a free core takes the costliest
        self._slots = threading.Semaphore(0)  # a step runs holding one: an idle core
        self._granted = 0
        self._halt = threading.Event()  # start no more steps
        self._stop = threading.Event()  # ... and cancel those in progress
        self._rows = {t.target: t.row_count for t in run.plan.included_tables}

    # --- during the copy

    def table_copied(self, target: str) -> None:
        """Table `target` holds all its rows: its own keys and indexes may be built, once a core is free."""
        step = self._per_table.get(target)
        if step is not None and step.key not in self._queued and not self._halt.is_set():
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=max(1, self.run.options.jobs),
                                                thread_name_prefix="post-load")
            future: Future[list[ddl.StatementResult]] = Future()
            self._queued[step.key] = future
            with self._guard:
                self._waiting.append(step)
            self._pool.submit(self._early)

    def idle(self, workers: int) -> None:
        """`workers` of the copy's workers have nothing left to do (a count that only grows)."""
        while self._granted < min(workers, max(1, self.run.options.jobs)):
            self._granted += 1
            self._slots.release()

    def stop(self) -> None:
        """Start no more steps and cancel the ones in progress (they roll back: a resumed run builds them)."""
        self._halt.set()
        self._stop.set()
        # A cancel reaches only the statement running at that moment: one sent between two statements of a step
        # is lost, and the next one would run to its end. Cancel again until every step has ended.
        deadline = time.monotonic() + _CANCEL_FOR_S
        while time.monotonic() < deadline:
            with self._guard:
                running = list(self._running)
            if not running:
                break
            for conn in running:
                with contextlib.suppress(psycopg2.Error):
                    conn.cancel()
            time.sleep(0.05)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._queued.clear()

    def _early(self) -> None:
        """Once a core is free, the costliest waiting step (longest first balances the connections at the end of
        the stage); its result or failure goes to its future. Stopped before a core was free: a waiting step is
        dropped, never started."""
        free = self._wait_for_core()
        with self._guard:
            step = max(self._waiting, key=self._cost)
            self._waiting.remove(step)
        future = self._queued[step.key]
        try:
            if not free or self._halted():
                future.set_exception(_Stopped())
            else:
                future.set_result(self._step(step))
        except BaseException as exc:  # handed to the end of the stage (_first_stage)
            future.set_exception(exc)
        finally:
            if free:
                self._slots.release()

    def _wait_for_core(self) -> bool:
        while not self._slots.acquire(timeout=0.1):
            if self._halted():
                return False
        return True

    def _halted(self) -> bool:
        return self._halt.is_set() or self.run.cancel.is_set()

    # --- after the copy

    def finish(self, tables: list[TableResult]) -> list[ddl.StatementResult]:
        """Every step not done yet, stage by stage; the results of all, in the order of the stages."""
        run = self.run
        started = time.monotonic()
        rows = {r.table: r.rows for r in tables}
        for t in run.plan.included_tables:  # the fronts show it: this part can take a while on big tables
            run.emit(t, "post", rows.get(t.source, 0), 0, started, 0)
        self._begin()
        by_step: dict[str, list[ddl.StatementResult]] = {}
        for n, stage in enumerate(self.stages):
            if n == 0:
                by_step.update(self._first_stage(stage))
                continue
            todo = []
            for step in stage:
                done = self._recorded(step)
                if done is not None:
                    by_step[step.key] = done
                else:
                    todo.append(step)
            # the longest steps first, so no connection is left alone with a big table at the end of the stage
            todo.sort(key=self._cost, reverse=True)
            results = run_jobs(lambda step, link: self._step(step), todo, workers=run.options.jobs,
                               processes=False, cancel=run.cancel)
            by_step.update((step.key, r) for step, r in zip(todo, results, strict=True))
        conn = self._connection()
        with conn.cursor() as cur:
            for t in run.plan.included_tables:
                cur.execute(sql.SQL("ALTER TABLE {} RESET (autovacuum_enabled)").format(
                    ddl.table_ident(t, run.options.schema)))
        conn.commit()
        for t in run.plan.included_tables:
            run.emit(t, "ready", rows.get(t.source, 0), 0, started, 0)
        return once([r for stage in self.stages for step in stage for r in by_step[step.key]])

    def _first_stage(self, stage: list[ddl.Step]) -> dict[str, list[ddl.StatementResult]]:
        """The first stage: the steps begun during the copy, and the others queued now, longest first, all on
        `jobs` connections; its failure (or a cancel) is raised once every step of it has ended."""
        by_step: dict[str, list[ddl.StatementResult]] = {}
        for step in sorted(stage, key=self._cost, reverse=True):
            if step.table is not None:
                self.table_copied(step.table)
            else:  # a first stage of foreign keys (no table has keys or indexes of its own)
                by_step[step.key] = self._step(step)
        self.idle(self.run.options.jobs)
        pending = {f: key for key, f in self._queued.items()}
        errors: list[BaseException] = []
        try:
            while pending:
                done, _ = wait_futures(pending, timeout=0.05)
                if self.run.cancel.is_set():
                    self._halt.set()  # steps not started yet never start; those running finish
                for f in done:
                    key = pending.pop(f)
                    exc = f.exception()
                    if exc is None:
                        by_step[key] = f.result()
                    elif not isinstance(exc, _Stopped):
                        errors.append(exc)
                        self._halt.set()
        except BaseException:
            self.stop()
            raise
        if errors:
            raise errors[0]
        if len(by_step) < len(stage):
            raise Cancelled("The work was cancelled.", title="Cancelled", hint="Run it again to resume.")
        return by_step

    # --- one step

    def _cost(self, step: ddl.Step) -> int:  # each statement reads its whole table
        return sum(self._rows.get(st.table or "", 0) for st in step.statements)

    def _begin(self) -> dict[str, list[Any]]:
        """The record of finished steps, read once (made on the first use: two connections creating it at once
        would collide in the catalog)."""
        with self._begin_lock:
            if self._finished is None:
                conn = self._connection()
                with conn.cursor() as cur:
                    cur.execute("CREATE TABLE IF NOT EXISTS pgmigrate.post_done "
                                "(step text PRIMARY KEY, results text NOT NULL)")
                    cur.execute("SELECT step, results FROM pgmigrate.post_done")
                    self._finished = {k: json.loads(v) for k, v in cur.fetchall()}
                conn.commit()
            return self._finished

    def _recorded(self, step: ddl.Step) -> list[ddl.StatementResult] | None:
        """The results of `step` as a run before this one recorded them, or None when it is still to do."""
        done = self._begin().get(step.key)
        if done is None:
            return None
        return [ddl.StatementResult(st, ok, err) for st, (ok, err) in zip(step.statements, done, strict=True)]

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = work_connection(self.run.spec, self.run.options,
                                                      "building indexes and constraints")
            with self._guard:
                self._opened.append(conn)
                if not self._build_workers:
                    self._build_workers.append(build_workers(conn, self.run.options.jobs))
            if self._build_workers[0] is not None:
                with conn.cursor() as cur:
                    cur.execute("SELECT set_config('max_parallel_maintenance_workers', %s, false)",
                                (str(self._build_workers[0]),))
            conn.commit()
        return conn

    def _step(self, step: ddl.Step) -> list[ddl.StatementResult]:
        done = self._recorded(step)
        if done is not None:
            return done
        conn = self._connection()
        with self._guard:
            self._running.add(conn)
        try:
            if self._stop.is_set():
                raise _Stopped
            results = [r if r.ok else ddl.StatementResult(r.statement, False, violations.explain(
                conn, self.run.plan, self.run.options.schema, r.statement) or r.error)
                for r in apply(conn, step.statements)]
            if self._stop.is_set():  # stopped meanwhile: what it built is dropped, a resumed run builds it
                raise _Stopped
            with conn.cursor() as cur:
                cur.execute("INSERT INTO pgmigrate.post_done (step, results) VALUES (%s, %s)",
                            (step.key, json.dumps([[r.ok, r.error] for r in results])))
            conn.commit()
            return results
        except BaseException as exc:
            with contextlib.suppress(psycopg2.Error):
                conn.rollback()
            if self._stop.is_set() and isinstance(exc, psycopg2.Error):
                raise _Stopped from exc  # cancelled by stop(): not a failure of the step
            raise
        finally:
            with self._guard:
                self._running.discard(conn)

    def close(self) -> None:
        self.stop()
        for conn in self._opened:
            with contextlib.suppress(psycopg2.Error):
                conn.close()
