"""The copy of the tables' parts (rowid ranges fixed when the run starts) side by side in worker processes,
batch by batch, each worker keeping its connection; progress travels back as small messages.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg2

from wizard.convert.text_copy import BadField, field_encoder
from wizard.data_copy.batches import (
    BatchReader,
    batch_keys,
    batch_query,
    chunk_format,
    copy_statement,
    open_snapshot,
    row_shape,
)
from wizard.data_copy.model import CopyError, Part, Run, SampleMiss, TableResult, cancelled
from wizard.data_copy.rejects import copy_error, isolate, key_text, reject_record, write_rejects
from wizard.data_copy.state import (
    advance_checkpoint,
    connect_mid_run,
    key_from_json,
    results_from_state,
    work_connection,
)
from wizard.source.snapshot import Snapshot
from wizard.source.sqlite_file import FIRST_CHUNK_ROWS
from wizard.target import stall_time
from wizard.target.pg_errors import TargetStopped, is_transient
from wizard.workers import Link, Processes, run_jobs

PROCESS_MIN_ROWS = 50_000  # below this, starting worker processes costs more than it saves


_REPORT_EVERY_S = 0.1




def copy_all(run: Run, snapshot: Snapshot, pool: Processes | None = None, *,
             on_copied: Callable[[str], None] | None = None,
             on_idle: Callable[[int], None] | None = None) -> list[TableResult]:
    """Copy every part not done yet. `on_copied(target)` hears of each table whose rows are all in (those done
    before too), `on_idle(n)` how many workers have no part left to take: work of its own may use their cores."""
    conn = connect_mid_run(run.spec, "reading the progress")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name, part, lo, hi, rows_done, done FROM pgmigrate.progress "
                        "ORDER BY table_name, part")
            rows = cur.fetchall()
    finally:
        conn.close()
    by_target = {t.target: t for t in run.plan.included_tables}
    parts: list[tuple[Part, int]] = []  # with the rows it is expected to copy, to start the biggest first
    left: dict[str, int] = {}  # parts still to do per table
    done_before: dict[str, int] = {}
    n_parts: dict[str, int] = {}
    for name, part, lo, hi, rows_done, finished in rows:
        t = by_target[name]
        done_before[t.source] = done_before.get(t.source, 0) + int(rows_done)
        n_parts[t.source] = n_parts.get(t.source, 0) + 1
        if not finished:
            left[t.source] = left.get(t.source, 0) + 1
            parts.append((Part(run.spec, snapshot.path, t, part, lo, hi, run.options), int(rows_done)))
    started = time.monotonic()
    for t in run.plan.included_tables:
        before = done_before.get(t.source, 0)
        if t.source not in left:
            run.emit(t, "done", before, 0, started, before)
            if on_copied is not None:
                on_copied(t.target)
        elif before:
            run.emit(t, "resumed", before, 0, started, before)
    parts_left = [len(parts)]

    def idle() -> None:  # a worker holds at least one part while it works: fewer parts than workers leave some idle
        if on_idle is not None and parts_left[0] < run.options.jobs:
            on_idle(run.options.jobs - parts_left[0])

    idle()
    done_rows = dict(done_before)
    nbytes: dict[str, int] = {}
    seconds: dict[str, float] = {}
    # when a table's first part started, here (for its rate) and by the clock of the worker that started it (for
    # its time: parts end by that clock too, not when this loop gets round to their messages)
    began: dict[str, float] = {}
    began_at: dict[str, float] = {}
    tables = {t.source: t for t in run.plan.included_tables}

    def on_message(message: tuple[Any, ...]) -> None:
        kind, source, rows_delta, bytes_delta, *at = message
        t = tables[source]
        if kind == "part-start":
            began.setdefault(source, time.monotonic())
            began_at[source] = min(began_at.get(source, at[0]), at[0])
        elif kind == "rows":
            done_rows[source] = done_rows.get(source, 0) + rows_delta
            nbytes[source] = nbytes.get(source, 0) + bytes_delta
            run.emit(t, "copy", done_rows[source], nbytes[source], began.get(source, started), rows_delta,
                     before=done_before.get(source, 0))
        elif kind == "part-done":
            left[source] -= 1
            parts_left[0] -= 1
            if left[source] == 0:
                seconds[source] = at[0] - began_at[source] if source in began_at else time.monotonic() - started
                run.emit(t, "done", done_rows.get(source, 0), nbytes.get(source, 0), began.get(source, started), 0)
                if on_copied is not None:
                    on_copied(t.target)
            idle()

    expected = {s: max(tables[s].row_count // max(1, n), 1) for s, n in n_parts.items()}
    # costliest first (rows left times columns: wide rows cost more to encode), so no worker is left alone at the end
    parts.sort(key=lambda pr: -(expected[pr[0].table.source] - pr[1]) * len(pr[0].table.columns))
    remaining = sum(max(0, expected[p.table.source] - d) for p, d in parts)
    processes = run.options.jobs > 1 and remaining >= PROCESS_MIN_ROWS
    bundles = _bundles([(p, expected[p.table.source] - d) for p, d in parts], run.options.batch_size)
    run_jobs(_copy_bundle, bundles, workers=run.options.jobs, processes=processes,
             on_message=on_message, cancel=run.cancel, started=pool)
    rejects_files = write_rejects(run)
    return results_from_state(run, seconds, done_before, rejects_files)


# A worker's connection, kept from one job to the next: a new one costs a server process and a password
# exchange (SCRAM), about 10 ms of CPU, and a big table comes in a few dozen parts. A worker thread's connection
# closes when the thread ends, a worker process's when the process does.
_kept = threading.local()


def _copy_bundle(bundle: tuple[Part, ...], link: Link) -> None:
    """Copy parts one after another on one connection (in a worker process or thread). Small tables come in
    bundles: a database of hundreds of small tables would otherwise spend its time opening connections."""
    first = bundle[0]
    stall_time.configure(first.options.stall_timeout_s)  # a worker process starts with the default
    if link.stopped():  # another job failed meanwhile: its cause (a stalled network?) would only delay this one
        raise cancelled()
    key = (first.spec, first.options)
    kept: tuple[Any, Any] | None = getattr(_kept, "conn", None)
    _kept.conn = None
    if kept is not None and (kept[0] != key or kept[1].closed):
        with contextlib.suppress(psycopg2.Error):
            kept[1].close()
        kept = None
    conn = kept[1] if kept is not None else work_connection(first.spec, first.options,
                                                             f"copying {first.table.source}")
    try:
        for job in bundle:
            if link.stopped():
                raise cancelled()
            _copy_part(job, link, conn)
    except BaseException:
        with contextlib.suppress(psycopg2.Error):
            conn.close()  # whatever state it was left in, it is not reused
        raise
    _kept.conn = (key, conn)  # every part committed: the connection is idle and clean


def _bundles(parts: list[tuple[Part, int]], batch_size: int) -> list[tuple[Part, ...]]:
    """One job per part (given with the rows it has left), except that parts of at most a batch are grouped, up
    to a batch of rows or 32 parts per job. Keeps the order of `parts` (costliest first)."""
    out: list[tuple[Part, ...]] = []
    group: list[Part] = []
    rows = 0
    for part, n in parts:
        if n > batch_size:
            out.append((part,))
            continue
        if group and (rows + n > batch_size or len(group) >= 32):
            out.append(tuple(group))
            group, rows = [], 0
        group.append(part)
        rows += n
    if group:
        out.append(tuple(group))
    return out


def _copy_part(job: Part, link: Link, conn: Any) -> None:
    """Copy one part batch by batch on `conn`; each batch commits with its checkpoint."""
    t, options = job.table, job.options
    src = open_snapshot(job.snapshot_path, t, check_same_thread=False)
    pending = [0, 0, time.monotonic()]  # rows and bytes not reported yet, time of the last report

    def report(rows: int, nbytes: int, force: bool = False) -> None:
        pending[0] += rows
        pending[1] += nbytes
        now = time.monotonic()
        if force or now - pending[2] >= _REPORT_EVERY_S:
            if pending[0] or pending[1]:
                link.report(("rows", t.source, pending[0], pending[1]))
            pending[:] = [0, 0, now]

    try:
        with conn.cursor() as cur:
            cur.execute("SELECT last_key, done FROM pgmigrate.progress WHERE table_name = %s AND part = %s",
                        (t.target, job.part))
            row = cur.fetchone()
        conn.commit()
        if row is None or row[1]:
            return
        link.report(("part-start", t.source, 0, 0, time.time()))
        checkpoint: str | None = row[0]
        last_key = key_from_json(checkpoint) if checkpoint else None
        keys = batch_keys(t)
        shape, cols_sql = row_shape(t, keys)
        encoders = [field_encoder(c) for c in t.columns]  # also for --on-error skip's isolation, always text
        chunks = chunk_format(t, options.schema, encoders)
        copy_text = copy_statement(t, options.schema)
        fetch = FIRST_CHUNK_ROWS
        while True:
            query, params = batch_query(t, keys, cols_sql, job, last_key, options.batch_size)
            batch_rejects: list[dict[str, Any]] = []

            def on_bad(row: tuple[Any, ...], exc: BadField, _br: list[dict[str, Any]] = batch_rejects) -> None:
                column = t.columns[exc.column].source
                if t.sampled_rows:  # the sample missed such a value: re-plan the table rather than fail or skip
                    raise SampleMiss(t.source, key_text(shape.key(row)), column, str(exc))
                if options.on_error != "skip":
                    raise CopyError(t.source, key_text(shape.key(row)), column, str(exc))
                _br.append(reject_record(t, shape.key(row), shape.values(row), column, str(exc)))

            reader = BatchReader(src.execute(query, params), chunks, shape, link.stopped, on_bad, report, fetch)
            try:
                with conn.cursor() as cur:
                    cur.copy_expert(chunks.statement, reader, size=1 << 16)
                count = reader.count
                new_key = reader.last_key
                fetch = reader.fetch
                cut = reader.cut
            except psycopg2.Error as exc:
                with contextlib.suppress(psycopg2.Error):
                    conn.rollback()
                if reader.failure is not None:  # our own error inside read(): cancel, or a value that cannot load
                    raise reader.failure from None
                if is_transient(exc):
                    raise
                if t.sampled_rows:
                    miss = copy_error(t, reader, exc)
                    raise SampleMiss(t.source, miss.key, miss.column, miss.pg_message) from None
                if options.on_error != "skip":
                    raise copy_error(t, reader, exc) from None
                count, new_key, more_rejects, cut = isolate(conn, src, t, query, params, encoders, shape,
                                                        copy_text)
                batch_rejects[:] = more_rejects  # the isolation pass re-judged every row of the batch
            if count == 0 or new_key is None:
                break
            checkpoint = advance_checkpoint(conn, job, checkpoint, new_key, count - len(batch_rejects), batch_rejects)
            conn.commit()  # the rows, the checkpoint and the rejects land together: exactly once
            report(0, 0, force=True)
            last_key = new_key
            if count < options.batch_size and not cut:
                break
        with conn.cursor() as cur:
            cur.execute("UPDATE pgmigrate.progress SET done = true WHERE table_name = %s AND part = %s",
                        (t.target, job.part))
        conn.commit()
        report(0, 0, force=True)
        link.report(("part-done", t.source, 0, 0, time.time()))
    except psycopg2.Error as exc:
        if is_transient(exc):
            raise TargetStopped(f"copying {t.source}", exc) from None
        raise
    finally:
        src.close()
