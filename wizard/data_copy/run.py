"""The data copy: phase-1 tables, batched streaming COPY with an exactly-once checkpoint per batch, then phase 2.

Each table is cut into parts (rowid ranges, fixed when the run starts) that worker processes copy side by side.
Each batch of a part is one PostgreSQL transaction holding the rows, the part's checkpoint in `pgmigrate.progress`
and the batch's rejected rows; after a crash, kill -9, Ctrl-C or a dropped connection, a rerun continues after the
last committed batch of each part. The checkpoint only moves forward from the value the batch started from, so
even a stray worker of a killed run cannot commit a batch twice. Only the snapshot is read, so a resumed run sees
exactly the data the first run started from.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg2

from wizard.data_copy.head_start import COPY_JOBS, HeadStart
from wizard.data_copy.model import CopyOptions, MigrationResult, Progress, Run, SampleMiss
from wizard.data_copy.parts import PROCESS_MIN_ROWS, copy_all
from wizard.data_copy.post_load import PostLoad
from wizard.data_copy.replan import replan
from wizard.data_copy.state import (
    connect_mid_run,
    create_state,
    drop_migration,
    record_snapshot,
    results_from_state,
    set_phase,
    state_exists,
    table_exists,
)
from wizard.errors import InputError
from wizard.plan_model import MigrationPlan
from wizard.source.snapshot import (
    Snapshot,
    completed,
    discard,
    file_sha256,
    prune_snapshots,
    release,
    take_snapshot,
    unchanged,
    wait_flushed,
    whole,
)
from wizard.target import stall_time, watchdog
from wizard.target.connection import ConnectionSpec, connect
from wizard.target.pg_errors import TargetStopped, is_transient
from wizard.workers import Processes, start_processes

_LOCK_KEY = 0x70676D77  # "pgmw": one migrate at a time per target database


def migrate(plan: MigrationPlan, spec: ConnectionSpec, options: CopyOptions | None = None, *,
            on_progress: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None, head_start: HeadStart | None = None) -> MigrationResult:
    """Run (or resume) the whole copy into the database of `spec`. `head_start` holds a snapshot and worker
    processes begun while the plan was made; what this run does not use is left to its `close()`."""
    options = options or CopyOptions()
    if not plan.included_tables:
        raise InputError(f"There is nothing to copy: {plan.source_path} has no tables"
                         + (" (all are excluded in the plan)." if plan.tables else "."), title="No tables",
                         hint="Pick the application's database file; 'pgmigrate-wizard inspect FILE' shows what is "
                              "in one.")
    cancel = cancel or threading.Event()
    stall_time.configure(options.stall_timeout_s)
    run = Run(plan, spec, options, on_progress, cancel)
    guard = connect(spec)
    guard.autocommit = True
    workers: Processes | None = None
    snapshot: Snapshot | None = None
    digest: _Digest | None = None
    post: PostLoad | None = None
    try:
        with guard.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,))
            locked = cur.fetchone()
            if not (locked and locked[0]):
                raise InputError("Another migrate is already running against this database, or the session of "
                                 "one that stopped has not ended on the server yet.", title="Target busy",
                                 hint="Wait for it to finish (or stop it), then retry; the session of a run whose "
                                      f"network stalled ends within about {options.stall_timeout_s:.0f} s.")
        watchdog.server_keepalives(guard)  # the lock ends with this session: the server must notice a dead client
        if options.jobs > 1 and sum(t.row_count for t in plan.included_tables) >= PROCESS_MIN_ROWS:
            workers = head_start.take_workers() if head_start is not None else None
            if workers is None:  # they start (and import) while the snapshot is taken
                workers = start_processes(options.jobs, COPY_JOBS)
        snapshot, phase = _prepare(run, head_start)
        if phase == "done":
            return MigrationResult(snapshot, results_from_state(run), already_done=True, notes=run.notes,
                                   plan=run.plan)
        post = PostLoad(run)
        if phase == "copy":
            digest = _Digest(spec, snapshot) if not snapshot.sha256 else None
            while True:
                try:
                    # a copied table's keys and indexes are built on the cores the copy's last parts leave idle
                    tables = copy_all(run, snapshot, workers, on_copied=post.table_copied, on_idle=post.idle)
                    break
                except SampleMiss as miss:  # a value the sample did not show: re-plan, then go on
                    post.close()  # what it began on a table made anew is rolled back; its record is dropped
                    again = replan(run, snapshot, miss)
                    post = PostLoad(run)
                    run.overall_done = 0  # the next copy counts every row copied so far again
                    run.notes.append(f"A value of {miss.table} (row {miss.key}) did not fit the types chosen from "
                                     f"a sample: {miss.table} was profiled in full"
                                     + (f" and {', '.join(again)} copied again with the new types." if again else
                                        "; no type changed."))
                finally:
                    workers = None  # used and shut down by the copy
            if digest is not None:
                snapshot = digest.wait()
            set_phase(spec, "post")
        else:
            tables = results_from_state(run)
        try:
            built = post.finish(tables)
        except psycopg2.Error as exc:
            if is_transient(exc):
                raise TargetStopped("building indexes and constraints", exc) from None
            raise
        set_phase(spec, "done")
        release(snapshot.path)  # a resume no longer needs it
        result = MigrationResult(snapshot, tables, built, notes=run.notes, plan=run.plan)
        if not options.keep_snapshots and not result.rejected:
            result.pruned = prune_snapshots(plan.source_path, snapshot)
        return result
    except psycopg2.Error as exc:
        if is_transient(exc):
            raise TargetStopped("recording progress", exc) from None
        raise
    finally:
        if post is not None:
            post.close()  # a step still running (the copy failed or stopped) is cancelled and rolls back
        if workers is not None:
            workers.close()
        if digest is not None:
            digest.thread.join()  # a stopped copy resumes only once the snapshot's SHA-256 is recorded
        if snapshot is not None:
            wait_flushed(snapshot)  # a new snapshot is on disk before migrate returns
        with contextlib.suppress(psycopg2.Error):
            guard.close()


class _Digest:
    """Records a big snapshot's SHA-256 in the run state once its background hash is done: the copy starts
    without waiting for it. A run stopped before then has its snapshot checked and hashed when it resumes."""

    def __init__(self, spec: ConnectionSpec, snapshot: Snapshot) -> None:
        self.result: Snapshot | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._record, args=(spec, snapshot), name="snapshot-digest",
                                       daemon=True)
        self.thread.start()

    def _record(self, spec: ConnectionSpec, snapshot: Snapshot) -> None:
        try:
            full = completed(snapshot)
            conn = connect_mid_run(spec, "recording the snapshot")
            try:
                with conn.cursor() as cur:
                    record_snapshot(cur, full)
                conn.commit()
            finally:
                conn.close()
            self.result = full
        except BaseException as exc:  # handed to the caller by wait()
            self.error = exc

    def wait(self) -> Snapshot:
        self.thread.join()
        if self.error is not None:
            if isinstance(self.error, psycopg2.Error) and is_transient(self.error):
                raise TargetStopped("recording the snapshot", self.error) from None
            raise self.error
        assert self.result is not None
        return self.result


def _prepare(run: Run, head_start: HeadStart | None) -> tuple[Snapshot, str]:
    conn = connect(run.spec)
    try:
        with conn.cursor() as cur:
            if state_exists(cur):
                cur.execute("SELECT snapshot, phase, plan_tables, source FROM pgmigrate.run WHERE id = 1")
                row = cur.fetchone()
                if row is not None:
                    snap = Snapshot(**json.loads(row[0]))
                    if row[3] != run.plan.source_path:
                        raise InputError(f"The target holds a migration of another SQLite file ({row[3]}).",
                                         title="Different source", hint="Pick another target database, or rerun "
                                         "with --restart to replace it with this file's data.")
                    if json.loads(row[2]) != [t.target for t in run.plan.included_tables]:
                        raise InputError("The target holds a migration of a different plan (other tables).",
                                         title="Different plan", hint="Rerun with --restart to start over.")
                    unrecorded = str(row[1]) == "copy" and not snap.sha256
                    if unrecorded:
                        # stopped while its big snapshot was still being hashed: the snapshot is ours and whole
                        # unless something happened to the file since, which its size and SQLite's check tell
                        recorded = _record_unhashed(cur, snap)
                        if recorded is not None:
                            conn.commit()
                            run.notes.append(f"The last run stopped before the SHA-256 of its snapshot ({snap.path}) "
                                             "was recorded; the snapshot was checked whole and recorded now, and the "
                                             "copy resumed.")
                            return recorded, "copy"
                        drop_migration(cur, run.plan, run.options.schema)
                        discard(snap)
                        run.notes.append(f"The last run stopped before the SHA-256 of its snapshot ({snap.path}) was "
                                         "recorded, and that snapshot is gone or damaged, so its rows could not be "
                                         "trusted: the migration started over from a new snapshot.")
                    elif str(row[1]) == "copy" and not unchanged(snap):
                        # the rows still to copy must come from the very bytes the first rows came from
                        what = "has changed (its SHA-256 differs)" if Path(snap.path).is_file() else "is gone"
                        raise InputError(f"The snapshot this migration started from ({snap.path}) {what}, so the "
                                         "copy cannot resume exactly.", title="Snapshot changed",
                                         hint="Rerun with --restart to start over from a new snapshot.")
                    else:
                        return snap, str(row[1])
            existing = [t.target for t in run.plan.included_tables if table_exists(cur, run.options.schema,
                                                                                    t.target)]
            if existing:
                raise InputError(f"The target already has table(s) {', '.join(existing[:5])} that this tool did "
                                 "not create.", title="Target not empty",
                                 hint="Pick an empty database, or rerun with --restart to drop them and start over.")
        if head_start is not None:
            snap = head_start.snapshot()
        else:
            snap = take_snapshot(run.plan.source_path, run.options.backup_dir)
        try:
            create_state(conn, run, snap)
        except BaseException:
            discard(snap)  # no run state refers to it, so nothing would ever read it
            raise
        conn.commit()  # tables and state appear together or not at all
        return snap, "copy"
    except psycopg2.Error as exc:
        conn.rollback()
        raise InputError(f"Preparing the target failed: {(exc.pgerror or str(exc)).strip()}",
                         title="Target not ready", hint="Check the account may create tables there, then retry.") \
            from None
    finally:
        conn.close()


def _record_unhashed(cur: Any, snap: Snapshot) -> Snapshot | None:
    """The snapshot with its SHA-256, recorded in the open transaction of `cur`, when the file is still there at
    its recorded size and SQLite finds it whole (a stop before the hash was recorded left it complete); else None."""
    path = Path(snap.path)
    if not path.is_file() or path.stat().st_size != snap.size_bytes or not whole(path):
        return None
    full = replace(snap, sha256=file_sha256(path))
    record_snapshot(cur, full)
    return full
