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
import io
import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

from wizard.convert.binary_copy import HEADER, TRAILER, binary_rows, binary_table, encode_rows
from wizard.convert.text_copy import BadField, FieldEncoder, encode_columns, encode_line, field_encoder
from wizard.data_copy import violations
from wizard.errors import Cancelled, InputError, StepFailed
from wizard.plan import ddl
from wizard.plan_model import MigrationPlan, TablePlan
from wizard.source.snapshot import Snapshot, completed, discard, take_snapshot, unchanged, wait_flushed
from wizard.source.sql_tokens import quote
from wizard.source.sqlite_file import FIRST_CHUNK_ROWS, escaped_text, next_chunk_rows, rowid_name, rowid_ranges
from wizard.target.connection import ConnectionSpec, connect
from wizard.target.pg_errors import TargetStopped, is_transient
from wizard.target.server_check import ConnectFailed
from wizard.target.server_cores import build_workers
from wizard.workers import Link, Processes, run_jobs, start_processes

_LOCK_KEY = 0x70676D77  # "pgmw": one migrate at a time per target database
_FETCH = 2000  # rows per chunk, at most
_CHUNK_BYTES = 8 << 20  # bytes per encoded chunk, about: rows of big BLOBs come a few at a time
# bytes per batch, about: a batch of big rows ends early (each commits, and --on-error skip holds one in memory)
_BATCH_BYTES = 64 << 20
_PROCESS_MIN_ROWS = 50_000  # below this, starting worker processes costs more than it saves
_MAX_PARTS = 64
_REPORT_EVERY_S = 0.1


@dataclass(frozen=True)
class CopyOptions:
    jobs: int = 2
    batch_size: int = 50_000
    on_error: str = "fail"  # or "skip"
    backup_dir: Path | None = None
    rejects_dir: Path | None = None
    schema: str = "public"
    lock_timeout_s: float = 60.0  # a table locked by another session fails the batch (resumable) instead of hanging


@dataclass(frozen=True)
class Progress:
    """Emitted per batch and every few thousand rows; cheap enough for live bars, never per row."""

    table: str
    # "copy", "done" (copied), "resumed", "post" (keys, indexes, constraints being built), "ready" (all built)
    phase: str
    rows_done: int
    rows_total: int
    bytes_done: int
    rows_per_s: float
    eta_s: float | None
    overall_done: int
    overall_total: int


@dataclass
class TableResult:
    table: str
    rows: int
    rejected: int
    seconds: float
    resumed_from: int = 0
    rejects_file: str | None = None


@dataclass
class MigrationResult:
    snapshot: Snapshot
    tables: list[TableResult]
    post: list[ddl.StatementResult] = field(default_factory=list)
    already_done: bool = False

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables)

    @property
    def failed_statements(self) -> list[ddl.StatementResult]:
        return [r for r in self.post if not r.ok]


class CopyError(StepFailed):
    """A batch could not be loaded (with --on-error fail): names the table, the row key, column and message."""

    def __init__(self, table: str, key: Any, column: str | None, message: str) -> None:
        where = f"table {table}, row {key}" + (f", column {column}" if column else "")
        super().__init__(f"A row could not be loaded ({where}): {message}", title="Copy failed",
                         hint="Fix the value or the column's type in the plan (--type), or rerun with "
                              "--on-error skip to set such rows aside; the rerun resumes where this stopped.")
        self.table, self.key, self.column, self.pg_message = table, key, column, message


# -- state in the target -----------------------------------------------------------------------------------

def _state_exists(cur: Any) -> bool:
    cur.execute("SELECT to_regclass('pgmigrate.run') IS NOT NULL")
    return bool(cur.fetchone()[0])


def read_state(spec: ConnectionSpec) -> dict[str, Any] | None:
    """The recorded run in the target, or None when no migration was started there."""
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            if not _state_exists(cur):
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


def reset_target(plan: MigrationPlan, spec: ConnectionSpec, schema: str = "public") -> None:
    """--restart: drop the plan's tables and views and the state, in one transaction."""
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            for v in plan.views:
                cur.execute(sql.SQL("DROP VIEW IF EXISTS {} CASCADE").format(
                    sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(v.target)])))
            for t in plan.tables:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(ddl.table_ident(t, schema)))
            cur.execute("DROP SCHEMA IF EXISTS pgmigrate CASCADE")
        conn.commit()
    finally:
        conn.close()


# -- reading the snapshot ----------------------------------------------------------------------------------

def open_snapshot(path: str | Path, t: TablePlan, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open the snapshot read-only the way the copy reads table `t` (verify reads it the same way)."""
    src = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True, check_same_thread=check_same_thread)
    if any(c.text_fix == "replace" for c in t.columns):
        # keep invalid UTF-8 bytes as surrogates; the column's converter decodes them the plan's way
        src.text_factory = escaped_text
    return src


def _cancelled() -> Cancelled:
    return Cancelled("The copy was cancelled.", title="Cancelled",
                     hint="Run migrate again to resume from the last committed batch.")


def _batch_keys(t: TablePlan) -> list[str]:
    """What orders t's batches: the WITHOUT ROWID primary key, or the name t's rowid answers to; [] when every such
    name is a column's, which leaves the rowid unreachable (the batches then follow the table's scan order)."""
    if t.key_columns != ["rowid"]:
        return t.key_columns
    name = rowid_name(c.source for c in t.columns)
    return [name] if name else []


def _next_fetch(rows: int, nbytes: int, batch_bytes: int) -> int:
    """Rows for a batch's next chunk, after one of `rows` rows and `nbytes` bytes, with `batch_bytes` read so far:
    about _CHUNK_BYTES' worth, and no more than the batch's budget leaves, so the batch ends within a row of it."""
    return next_chunk_rows(rows, nbytes, most=_FETCH, budget=min(_CHUNK_BYTES, _BATCH_BYTES - batch_bytes))


class _BatchReader:
    """File-like object for copy_expert: encodes rows of one batch in the table's COPY format, chunk by chunk."""

    def __init__(self, rows: sqlite3.Cursor, chunks: _ChunkFormat, nkey: int,
                 stopped: Callable[[], bool], on_bad: Callable[[tuple[Any, ...], BadField], None],
                 on_rows: Callable[[int, int], None], fetch: int = FIRST_CHUNK_ROWS) -> None:
        self.rows = rows
        self.fetch = fetch  # rows the next chunk takes (next_chunk_rows; the part's next batch starts from it)
        self.chunks = chunks
        self.nkey = nkey
        self.stopped = stopped
        self.on_bad = on_bad
        self.on_rows = on_rows
        self.buf = bytearray(chunks.header)
        self.count = 0
        self.last_key: tuple[Any, ...] | None = None
        self.keys: list[Any] = []  # keys in COPY line order, to name a row PostgreSQL rejects
        self.failure: BaseException | None = None
        self.done = False
        self.cut = False  # the batch ended at _BATCH_BYTES, before its LIMIT: more rows follow
        self.nbytes = 0

    def key_of_line(self, line: int) -> tuple[Any, ...] | None:
        """The key of the row on COPY line `line` (1-based) of this batch."""
        if not 0 < line <= len(self.keys):
            return None
        key = self.keys[line - 1]
        return key if self.nkey > 1 else (key,)

    def readline(self, size: int = -1) -> bytes:  # part of the file protocol; COPY FROM only calls read()
        return self.read(size if size > 0 else 65536)

    def read(self, size: int = 65536) -> bytes:
        try:
            while len(self.buf) < size and not self.done:
                if self.stopped():
                    raise _cancelled()
                rows = self.rows.fetchmany(self.fetch)
                if not rows:
                    self.done = True
                    self.buf += self.chunks.trailer
                    break
                self._encode(rows)
                if self.nbytes >= _BATCH_BYTES:
                    self.cut = self.done = True
                    self.buf += self.chunks.trailer
            out = bytes(self.buf[:size])
            del self.buf[:size]
            return out
        except BaseException as exc:
            # psycopg2 reports any error from read() as a generic COPY failure; keep the real one for the caller
            self.failure = exc
            raise

    def _encode(self, rows: list[tuple[Any, ...]]) -> None:
        columns = list(zip(*rows, strict=True))  # the chunk column by column: most columns encode in bulk
        n = self.nkey
        keys: list[Any] = list(columns[0]) if n == 1 else list(zip(*columns[:n], strict=True))
        data, bad = self.chunks.encode(columns[n:])
        if bad:
            for i in sorted(bad):
                self.on_bad(rows[i], bad[i])  # raises unless bad rows are set aside
            keys = [k for i, k in enumerate(keys) if i not in bad]
        self.last_key = tuple(rows[-1][:n])
        self.keys += keys
        self.buf += data
        self.nbytes += len(data)
        self.count += len(rows)
        self.fetch = _next_fetch(len(rows), len(data), self.nbytes)
        self.on_rows(len(rows), len(data))


@dataclass(frozen=True)
class _ChunkFormat:
    """How a batch is written for COPY: what comes first and last, and the encoding of a chunk given column by
    column (its rows that cannot load are left out and returned)."""

    statement: str
    header: bytes
    trailer: bytes
    encode: Callable[[Sequence[Sequence[Any]]], tuple[bytes, dict[int, BadField]]]


def _copy_statement(t: TablePlan, schema: str, order: list[int] | None = None, options: str = "") -> str:
    """COPY t FROM STDIN, its columns in `order` (indexes into t.columns; default: the table's order)."""
    columns = [t.columns[i] for i in order] if order is not None else t.columns
    return ddl.render(sql.SQL("COPY {} ({}) FROM STDIN" + options).format(
        ddl.table_ident(t, schema), sql.SQL(", ").join(sql.Identifier(c.target) for c in columns)))


def _chunk_format(t: TablePlan, schema: str, encoders: list[FieldEncoder]) -> _ChunkFormat:
    """Binary COPY when every column of t has a binary form (less work on both sides), else text with
    `encoders` (the text encoders of t's columns)."""
    if binary_table(t):
        rows = binary_rows(t)
        return _ChunkFormat(_copy_statement(t, schema, rows.order, " WITH (FORMAT binary)"), HEADER, TRAILER,
                            lambda columns: encode_rows(rows, columns))

    def text(columns: Sequence[Sequence[Any]]) -> tuple[bytes, dict[int, BadField]]:
        lines, bad = encode_columns(encoders, columns)
        if bad:
            lines = [line for i, line in enumerate(lines) if i not in bad]
        return (_utf8_lines(lines) if lines else b""), bad

    return _ChunkFormat(_copy_statement(t, schema), b"", b"", text)


def _utf8_lines(lines: list[str]) -> bytes:
    """The lines as UTF-8, each ended by a newline. One non-ASCII character would make a chunk joined as one str
    four bytes per character (an emoji) and slow to encode: such chunks are encoded line by line."""
    if all(map(str.isascii, lines)):
        return ("\n".join(lines) + "\n").encode("utf-8")
    return b"\n".join(map(str.encode, lines)) + b"\n"


# -- the migration -----------------------------------------------------------------------------------------

class _Run:
    def __init__(self, plan: MigrationPlan, spec: ConnectionSpec, options: CopyOptions,
                 on_progress: Callable[[Progress], None] | None, cancel: threading.Event) -> None:
        self.plan = plan
        self.spec = spec
        self.options = options
        self.on_progress = on_progress or (lambda p: None)
        self.cancel = cancel
        self.lock = threading.Lock()
        self.overall_total = sum(t.row_count for t in plan.included_tables)
        self.overall_done = 0

    def emit(self, t: TablePlan, phase: str, done: int, nbytes: int, started: float, delta: int) -> None:
        with self.lock:
            self.overall_done += delta
            overall = self.overall_done
        elapsed = max(time.monotonic() - started, 1e-6)
        rate = done / elapsed if phase == "copy" else 0.0
        eta = (t.row_count - done) / rate if rate > 0 and t.row_count >= done else None
        self.on_progress(Progress(t.source, phase, done, t.row_count, nbytes, rate, eta, overall,
                                  self.overall_total))


def migrate(plan: MigrationPlan, spec: ConnectionSpec, options: CopyOptions | None = None, *,
            on_progress: Callable[[Progress], None] | None = None,
            cancel: threading.Event | None = None) -> MigrationResult:
    """Run (or resume) the whole copy into the database of `spec`."""
    options = options or CopyOptions()
    if not plan.included_tables:
        raise InputError(f"There is nothing to copy: {plan.source_path} has no tables"
                         + (" (all are excluded in the plan)." if plan.tables else "."), title="No tables",
                         hint="Pick the application's database file; 'pgmigrate-wizard inspect FILE' shows what is "
                              "in one.")
    cancel = cancel or threading.Event()
    run = _Run(plan, spec, options, on_progress, cancel)
    guard = connect(spec)
    guard.autocommit = True
    workers: Processes | None = None
    snapshot: Snapshot | None = None
    digest: _Digest | None = None
    try:
        with guard.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,))
            locked = cur.fetchone()
            if not (locked and locked[0]):
                raise InputError("Another migrate is already running against this database.",
                                 title="Target busy", hint="Wait for it to finish (or stop it), then retry.")
        if options.jobs > 1 and sum(t.row_count for t in plan.included_tables) >= _PROCESS_MIN_ROWS:
            # the worker processes start (and import) while the snapshot is taken
            workers = start_processes(options.jobs, __name__)
        snapshot, phase = _prepare(run)
        if phase == "done":
            return MigrationResult(snapshot, _results_from_state(run), already_done=True)
        if phase == "copy":
            digest = _Digest(spec, snapshot) if not snapshot.sha256 else None
            tables = _copy_all(run, snapshot, workers)
            workers = None  # used and shut down by the copy
            if digest is not None:
                snapshot = digest.wait()
            _set_phase(spec, "post")
        else:
            tables = _results_from_state(run)
        try:
            post = _post_load(run, tables)
        except psycopg2.Error as exc:
            if is_transient(exc):
                raise TargetStopped("building indexes and constraints", exc) from None
            raise
        _set_phase(spec, "done")
        return MigrationResult(snapshot, tables, post)
    except psycopg2.Error as exc:
        if is_transient(exc):
            raise TargetStopped("recording progress", exc) from None
        raise
    finally:
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
    without waiting for it. A run stopped before then cannot resume (nothing could check the snapshot)."""

    def __init__(self, spec: ConnectionSpec, snapshot: Snapshot) -> None:
        self.result: Snapshot | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._record, args=(spec, snapshot), name="snapshot-digest",
                                       daemon=True)
        self.thread.start()

    def _record(self, spec: ConnectionSpec, snapshot: Snapshot) -> None:
        try:
            full = completed(snapshot)
            conn = _connect_mid_run(spec, "recording the snapshot")
            try:
                with conn.cursor() as cur:
                    cur.execute("UPDATE pgmigrate.run SET snapshot = %s WHERE id = 1", (json.dumps(full.__dict__),))
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


def _prepare(run: _Run) -> tuple[Snapshot, str]:
    conn = connect(run.spec)
    try:
        with conn.cursor() as cur:
            if _state_exists(cur):
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
                    if str(row[1]) == "copy" and not snap.sha256:
                        raise InputError("The last run stopped before the SHA-256 of its snapshot "
                                         f"({snap.path}) was recorded, so the copy cannot resume exactly.",
                                         title="Snapshot not recorded",
                                         hint="Rerun with --restart to start over from a new snapshot.")
                    if str(row[1]) == "copy" and not unchanged(snap):
                        # the rows still to copy must come from the very bytes the first rows came from
                        what = "has changed (its SHA-256 differs)" if Path(snap.path).is_file() else "is gone"
                        raise InputError(f"The snapshot this migration started from ({snap.path}) {what}, so the "
                                         "copy cannot resume exactly.", title="Snapshot changed",
                                         hint="Rerun with --restart to start over from a new snapshot.")
                    return snap, str(row[1])
            existing = [t.target for t in run.plan.included_tables if _table_exists(cur, run.options.schema,
                                                                                    t.target)]
            if existing:
                raise InputError(f"The target already has table(s) {', '.join(existing[:5])} that this tool did "
                                 "not create.", title="Target not empty",
                                 hint="Pick an empty database, or rerun with --restart to drop them and start over.")
        snap = take_snapshot(run.plan.source_path, run.options.backup_dir)
        try:
            _create_state(conn, run, snap)
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


def _create_state(conn: Any, run: _Run, snap: Snapshot) -> None:
    """The target's tables and the run state, in the open transaction of `conn` (the caller commits)."""
    # parts small enough that every worker stays busy to the end, never smaller than a batch
    part_rows = max(run.options.batch_size, sum(t.row_count for t in run.plan.included_tables)
                    // (8 * max(1, run.options.jobs)))
    with conn.cursor() as cur:
        cur.execute("CREATE SCHEMA pgmigrate")
        cur.execute("CREATE TABLE pgmigrate.run (id int PRIMARY KEY CHECK (id = 1), source text NOT NULL, "
                    "snapshot text NOT NULL, plan_tables text NOT NULL, phase text NOT NULL, "
                    "started timestamptz DEFAULT now())")
        # one row per part of a table: the rowid range (lo, hi] it covers and how far it got
        cur.execute("CREATE TABLE pgmigrate.progress (table_name text NOT NULL, part int NOT NULL, lo bigint, "
                    "hi bigint, last_key text, rows_done bigint NOT NULL DEFAULT 0, "
                    "rejected bigint NOT NULL DEFAULT 0, done boolean NOT NULL DEFAULT false, "
                    "PRIMARY KEY (table_name, part))")
        # rejected rows (--on-error skip) land with their batch, so the rejects files are exact after a resume
        cur.execute("CREATE TABLE pgmigrate.rejects (id bigserial PRIMARY KEY, table_name text NOT NULL, "
                    "part int NOT NULL, record text NOT NULL)")
        ddl.apply(conn, ddl.phase1(run.plan, run.options.schema))
        # No autovacuum while the batches commit (it would scan the growing tables again and again); the
        # post-load phase switches it back on once the tables are complete and analyzed.
        for t in run.plan.included_tables:
            cur.execute(sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(
                ddl.table_ident(t, run.options.schema)))
        cur.execute("INSERT INTO pgmigrate.run (id, source, snapshot, plan_tables, phase) "
                    "VALUES (1, %s, %s, %s, 'copy')", (run.plan.source_path, json.dumps(snap.__dict__),
                                                       json.dumps([t.target for t in run.plan.included_tables])))
        for t in run.plan.included_tables:
            for part, (lo, hi) in enumerate(_split(snap.path, t, part_rows)):
                cur.execute("INSERT INTO pgmigrate.progress (table_name, part, lo, hi) VALUES (%s, %s, %s, %s)",
                            (t.target, part, lo, hi))
        # Like the batches, this commit need not wait for its WAL flush (the disk may be busy writing the new
        # snapshot out): a server crash loses the tables and the state together, and the rerun starts afresh.
        cur.execute("SET LOCAL synchronous_commit = off")


def _table_exists(cur: Any, schema: str, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (ddl.render(sql.SQL(".").join(
        [sql.Identifier(schema), sql.Identifier(name)])),))
    return bool(cur.fetchone()[0])


def _set_phase(spec: ConnectionSpec, phase: str) -> None:
    conn = _connect_mid_run(spec, "recording progress")
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE pgmigrate.run SET phase = %s WHERE id = 1", (phase,))
        conn.commit()
    finally:
        conn.close()


def _results_from_state(run: _Run, seconds: dict[str, float] | None = None,
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


def _split(snapshot_path: str, t: TablePlan, part_rows: int) -> list[tuple[int | None, int | None]]:
    """Rowid ranges (lo, hi] of about `part_rows` rows each; open at both ends, so every row is in exactly one.

    Only rowid tables are split (their key is an integer); a WITHOUT ROWID table, or one whose rowid has no name
    left, is one part."""
    keys = _batch_keys(t)
    if t.key_columns != ["rowid"] or not keys or t.row_count < 2 * part_rows:
        return [(None, None)]
    src = open_snapshot(snapshot_path, t)
    try:
        return rowid_ranges(src, t.source, keys[0], min(_MAX_PARTS, math.ceil(t.row_count / part_rows)))
    finally:
        src.close()


@dataclass(frozen=True)
class _Part:
    """One unit of work for a worker: a rowid range of one table (picklable: it travels to the process)."""

    spec: ConnectionSpec
    snapshot_path: str
    table: TablePlan
    part: int
    lo: int | None
    hi: int | None
    options: CopyOptions


def _copy_all(run: _Run, snapshot: Snapshot, pool: Processes | None = None) -> list[TableResult]:
    conn = _connect_mid_run(run.spec, "reading the progress")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name, part, lo, hi, rows_done, done FROM pgmigrate.progress "
                        "ORDER BY table_name, part")
            rows = cur.fetchall()
    finally:
        conn.close()
    by_target = {t.target: t for t in run.plan.included_tables}
    parts: list[tuple[_Part, int]] = []  # with the rows it is expected to copy, to start the biggest first
    left: dict[str, int] = {}  # parts still to do per table
    done_before: dict[str, int] = {}
    n_parts: dict[str, int] = {}
    for name, part, lo, hi, rows_done, finished in rows:
        t = by_target[name]
        done_before[t.source] = done_before.get(t.source, 0) + int(rows_done)
        n_parts[t.source] = n_parts.get(t.source, 0) + 1
        if not finished:
            left[t.source] = left.get(t.source, 0) + 1
            parts.append((_Part(run.spec, snapshot.path, t, part, lo, hi, run.options), int(rows_done)))
    started = time.monotonic()
    for t in run.plan.included_tables:
        before = done_before.get(t.source, 0)
        if t.source not in left:
            run.emit(t, "done", before, 0, started, before)
        elif before:
            run.emit(t, "resumed", before, 0, started, before)
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
            run.emit(t, "copy", done_rows[source], nbytes[source], began.get(source, started), rows_delta)
        elif kind == "part-done":
            left[source] -= 1
            if left[source] == 0:
                seconds[source] = at[0] - began_at[source] if source in began_at else time.monotonic() - started
                run.emit(t, "done", done_rows.get(source, 0), nbytes.get(source, 0), began.get(source, started), 0)

    expected = {s: max(tables[s].row_count // max(1, n), 1) for s, n in n_parts.items()}
    # costliest first (rows left times columns: wide rows cost more to encode), so no worker is left alone at the end
    parts.sort(key=lambda pr: -(expected[pr[0].table.source] - pr[1]) * len(pr[0].table.columns))
    remaining = sum(max(0, expected[p.table.source] - d) for p, d in parts)
    processes = run.options.jobs > 1 and remaining >= _PROCESS_MIN_ROWS
    bundles = _bundles([(p, expected[p.table.source] - d) for p, d in parts], run.options.batch_size)
    run_jobs(_copy_bundle, bundles, workers=run.options.jobs, processes=processes,
             on_message=on_message, cancel=run.cancel, started=pool)
    rejects_files = _write_rejects(run)
    return _results_from_state(run, seconds, done_before, rejects_files)


# A worker's connection, kept from one job to the next: a new one costs a server process and a password
# exchange (SCRAM), about 10 ms of CPU, and a big table comes in a few dozen parts. A worker thread's connection
# closes when the thread ends, a worker process's when the process does.
_kept = threading.local()


def _copy_bundle(bundle: tuple[_Part, ...], link: Link) -> None:
    """Copy parts one after another on one connection (in a worker process or thread). Small tables come in
    bundles: a database of hundreds of small tables would otherwise spend its time opening connections."""
    first = bundle[0]
    key = (first.spec, first.options)
    kept: tuple[Any, Any] | None = getattr(_kept, "conn", None)
    _kept.conn = None
    if kept is not None and (kept[0] != key or kept[1].closed):
        with contextlib.suppress(psycopg2.Error):
            kept[1].close()
        kept = None
    conn = kept[1] if kept is not None else _work_connection(first.spec, first.options,
                                                             f"copying {first.table.source}")
    try:
        for job in bundle:
            if link.stopped():
                raise _cancelled()
            _copy_part(job, link, conn)
    except BaseException:
        with contextlib.suppress(psycopg2.Error):
            conn.close()  # whatever state it was left in, it is not reused
        raise
    _kept.conn = (key, conn)  # every part committed: the connection is idle and clean


def _bundles(parts: list[tuple[_Part, int]], batch_size: int) -> list[tuple[_Part, ...]]:
    """One job per part (given with the rows it has left), except that parts of at most a batch are grouped, up
    to a batch of rows or 32 parts per job. Keeps the order of `parts` (costliest first)."""
    out: list[tuple[_Part, ...]] = []
    group: list[_Part] = []
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


def _copy_part(job: _Part, link: Link, conn: Any) -> None:
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
        last_key = _key_from_json(checkpoint) if checkpoint else None
        keys = _batch_keys(t)
        nkey = max(len(keys), 1)  # a table in scan order is keyed by the row's position
        cols_sql = ", ".join(quote(c.source) for c in t.columns)
        encoders = [field_encoder(c) for c in t.columns]  # also for --on-error skip's isolation, always text
        chunks = _chunk_format(t, options.schema, encoders)
        copy_text = _copy_statement(t, options.schema)
        fetch = FIRST_CHUNK_ROWS
        while True:
            query, params = _batch_query(t, keys, cols_sql, job, last_key, options.batch_size)
            batch_rejects: list[dict[str, Any]] = []

            def on_bad(row: tuple[Any, ...], exc: BadField, _br: list[dict[str, Any]] = batch_rejects,
                       _n: int = nkey) -> None:
                column = t.columns[exc.column].source
                if options.on_error != "skip":
                    raise CopyError(t.source, _key_text(row[:_n]), column, str(exc))
                _br.append(_reject(t, row[:_n], row[_n:], column, str(exc)))

            reader = _BatchReader(src.execute(query, params), chunks, nkey, link.stopped, on_bad, report, fetch)
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
                if options.on_error != "skip":
                    raise _copy_error(t, reader, exc) from None
                count, new_key, more_rejects, cut = _isolate(conn, src, t, query, params, encoders, nkey,
                                                        copy_text)
                batch_rejects[:] = more_rejects  # the isolation pass re-judged every row of the batch
            if count == 0 or new_key is None:
                break
            checkpoint = _checkpoint(conn, job, checkpoint, new_key, count - len(batch_rejects), batch_rejects)
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


def _batch_query(t: TablePlan, keys: list[str], cols_sql: str, job: _Part, last_key: tuple[Any, ...] | None,
                 batch_size: int) -> tuple[str, tuple[Any, ...]]:
    """The SQL and parameters reading the next batch of `job` after `last_key` (None: from its start): the key
    columns, then the table's columns."""
    if not keys:
        # The next slice of a scan of the table's own b-tree (NOT INDEXED), in rowid order on the snapshot, which
        # never changes; a row's position in the scan is its key. Skipping the rows before the slice costs a scan
        # of them: such tables are rare.
        start = last_key[0] if last_key is not None else 0
        return (f"SELECT ? + row_number() OVER (), * FROM (SELECT {cols_sql} FROM {quote(t.source)} "
                f"NOT INDEXED LIMIT {batch_size} OFFSET ?)"), (start, start)
    key_sql = ", ".join(quote(k) for k in keys)
    conds: list[str] = []
    params: tuple[Any, ...] = ()
    if last_key is not None:
        conds.append(f"({key_sql}) > ({', '.join('?' * len(keys))})" if len(keys) > 1 else f"{key_sql} > ?")
        params += last_key
    elif job.lo is not None:
        conds.append(f"{key_sql} > ?")
        params += (job.lo,)
    if job.hi is not None:
        conds.append(f"{key_sql} <= ?")
        params += (job.hi,)
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    return (f"SELECT {key_sql}, {cols_sql} FROM {quote(t.source)} {where} ORDER BY {key_sql} "
            f"LIMIT {batch_size}"), params


def _key_json(key: tuple[Any, ...]) -> str:
    """A batch key as the checkpoint's JSON, exactly: a WITHOUT ROWID key may hold BLOBs (binary UUIDs) and
    floats, besides integers and text."""
    return json.dumps([{"blob": v.hex()} if isinstance(v, bytes) else v for v in key])


def _key_from_json(text: str) -> tuple[Any, ...]:
    return tuple(bytes.fromhex(v["blob"]) if isinstance(v, dict) else v for v in json.loads(text))


def _checkpoint(conn: Any, job: _Part, expected: str | None, last_key: tuple[Any, ...], loaded: int,
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


def _key_text(key: tuple[Any, ...]) -> str:
    return ", ".join(repr(k) for k in key) if len(key) > 1 else repr(key[0])


def _copy_error(t: TablePlan, reader: _BatchReader, exc: psycopg2.Error) -> CopyError:
    diag = getattr(exc, "diag", None)
    context = getattr(diag, "context", None) or ""
    message = (getattr(diag, "message_primary", None) or str(exc)).strip()
    key: Any = "?"
    column = None
    # the COPY's own line of the context (a JSON error adds one of its own first: "JSON data, line 1: ...")
    copy_lines = [line for line in context.splitlines() if line.startswith("COPY ")]
    m = re.search(r", line (\d+)(?:, column ([^:]+))?", copy_lines[-1]) if copy_lines else None
    if m:
        line = int(m.group(1))
        found = reader.key_of_line(line)
        if found is not None:
            key = _key_text(found)
        if m.group(2):
            target = m.group(2).strip()
            column = next((c.source for c in t.columns if c.target == target), target)
    return CopyError(t.source, key, column, message)


def _reject(t: TablePlan, key: tuple[Any, ...], values: tuple[Any, ...], column: str | None,
            reason: str) -> dict[str, Any]:
    return {"table": t.source, "key": [_jsonable(k) for k in key], "column": column, "reason": reason,
            "row": {c.source: _jsonable(v) for c, v in zip(t.columns, values, strict=False)}}


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return str(v)
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return v


def _isolate(conn: Any, src: sqlite3.Connection, t: TablePlan, query: str, params: tuple[Any, ...],
             encoders: list[FieldEncoder], nkey: int,
             copy_text: str) -> tuple[int, tuple[Any, ...] | None, list[dict[str, Any]], bool]:
    """--on-error skip: load a failed batch by halves inside savepoints; single bad rows go to the rejects.

    The batch is read again, up to its LIMIT or about _BATCH_BYTES of text (it is held in memory). Returns its row
    count, its last key (None for an empty batch), the rejected rows, and whether it ended at _BATCH_BYTES."""
    cur = src.execute(query, params)
    rejects: list[dict[str, Any]] = []
    good: list[tuple[tuple[Any, ...], str]] = []  # (row, its encoded COPY line)
    ones = [e.one for e in encoders]
    count, size, cut, fetch = 0, 0, False, FIRST_CHUNK_ROWS
    last: tuple[Any, ...] | None = None
    while chunk := cur.fetchmany(fetch):
        nbytes = 0
        for row in chunk:
            try:
                line = encode_line(ones, row[nkey:]) + "\n"
            except BadField as exc:
                rejects.append(_reject(t, row[:nkey], row[nkey:], t.columns[exc.column].source, str(exc)))
                continue
            good.append((row, line))
            nbytes += len(line)
        count, last, size = count + len(chunk), chunk[-1], size + nbytes
        if size >= _BATCH_BYTES:
            cut = True
            break
        fetch = _next_fetch(len(chunk), nbytes, size)

    def load(chunk: list[tuple[tuple[Any, ...], str]]) -> None:
        if not chunk:
            return
        text = "".join(line for _row, line in chunk)
        with conn.cursor() as cur:
            cur.execute("SAVEPOINT pgmw_part")
            try:
                cur.copy_expert(copy_text, io.BytesIO(text.encode("utf-8")))
                cur.execute("RELEASE SAVEPOINT pgmw_part")
                return
            except psycopg2.Error as exc:
                cur.execute("ROLLBACK TO SAVEPOINT pgmw_part")
                if len(chunk) == 1:
                    msg = (getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)).strip()
                    row = chunk[0][0]
                    rejects.append(_reject(t, row[:nkey], row[nkey:], None, msg))
                    return
        mid = len(chunk) // 2
        load(chunk[:mid])
        load(chunk[mid:])

    load(good)
    return count, (tuple(last[:nkey]) if last is not None else None), rejects, cut


def _write_rejects(run: _Run) -> dict[str, str]:
    """Write each table's rejects file (JSON lines) from the rows recorded in the target: complete and without
    repeats, also after a resume. Returns the files written, by source table."""
    folder = run.options.rejects_dir or Path(run.plan.source_path).absolute().parent / "pgmigrate-rejects"
    files: dict[str, str] = {}
    conn = _connect_mid_run(run.spec, "writing the rejects files")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT table_name FROM pgmigrate.rejects")
            names = {r[0] for r in cur.fetchall()}
        for t in run.plan.included_tables:
            if t.target not in names:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{t.target}.jsonl"
            with conn.cursor(name="pgmigrate_rejects") as cur, open(path, "w", encoding="utf-8") as fh:
                cur.itersize = 1000  # streamed: a table may have many
                cur.execute("SELECT record FROM pgmigrate.rejects WHERE table_name = %s ORDER BY part, id",
                            (t.target,))
                for (record,) in cur:
                    fh.write(record + "\n")
            files[t.source] = str(path)
        conn.commit()
    finally:
        conn.close()
    return files


def _connect_mid_run(spec: ConnectionSpec, doing: str) -> Any:
    """A connection opened once the migration is under way: failing now means the server stopped us (resumable),
    not that the settings are wrong."""
    try:
        return connect(spec)
    except ConnectFailed as exc:
        raise TargetStopped(doing, exc) from None


def _work_connection(spec: ConnectionSpec, options: CopyOptions, doing: str = "copying") -> Any:
    conn = _connect_mid_run(spec, doing)
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(options.lock_timeout_s * 1000)}ms",))
        # A batch's commit need not wait for its WAL flush: the rows and their checkpoint are one transaction, so
        # a server crash can only lose whole recent batches, which the rerun copies again. Never a partial one.
        cur.execute("SET synchronous_commit = off")
    conn.commit()
    return conn


def _post_load(run: _Run, tables: list[TableResult]) -> list[ddl.StatementResult]:
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
            conn = local.conn = _work_connection(run.spec, run.options, "building indexes and constraints")
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
                conn, run.plan, run.options.schema, r.statement) or r.error) for r in ddl.apply(conn, step.statements)]
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
        return [r for stage in stages for step in stage for r in by_step[step.key]]
    finally:
        for conn in opened:
            with contextlib.suppress(psycopg2.Error):
                conn.close()
