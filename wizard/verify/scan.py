"""One streaming scan of one side of a table: every row in canonical form, hashed, the hashes summed (an
order-independent checksum), in worker processes; a second scan sums them per key bucket and keeps the rows
of the buckets that differ.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

from wizard.data_copy.batches import open_snapshot
from wizard.plan import ddl
from wizard.plan_model import TablePlan
from wizard.source.sql_tokens import quote
from wizard.source.sqlite_file import FIRST_CHUNK_ROWS, next_chunk_rows
from wizard.target import stall_time
from wizard.target.connection import ConnectionSpec, connect
from wizard.verify import canonical
from wizard.verify.results import VerifyProgress
from wizard.workers import Link, run_jobs

_FETCH = 5000  # rows per chunk, at most


_CHUNK_BYTES = 8 << 20  # text and BLOB bytes per chunk, about: rows of big values come a few at a time


_WIDE_TYPES = ("text", "character varying", "varchar", "bytea", "json", "jsonb")


@dataclass(frozen=True)
class Scan:
    table: TablePlan
    side: str
    source_path: str
    spec: ConnectionSpec
    schema: str
    collect: frozenset[int] | None = None  # buckets whose rows to return
    buckets: bool = False  # also sum the rows per key bucket (only needed once a table's checksums differ)
    stall_timeout_s: float = stall_time.DEFAULT_STALL_S  # see target.watchdog (verify passes its own)


@dataclass
class SideResult:
    rows: int = 0
    checksum: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * canonical.BUCKETS)
    kept: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = field(default_factory=list)  # (key, row)


def key_indexes(t: TablePlan) -> list[int]:
    by_target = {c.target: i for i, c in enumerate(t.columns)}
    return [by_target[k] for k in t.primary_key if k in by_target]


# timestamp, timestamptz, date, time and numeric, read as the text PostgreSQL sends
_AS_TEXT = psycopg2.extensions.new_type((1114, 1184, 1082, 1083, 1700), "PGMIGRATE_AS_TEXT",
                                        lambda value, cur: value)


def _source_rows(job: Scan) -> tuple[Any, Any]:
    t = job.table
    src = open_snapshot(job.source_path, t)
    cur = src.execute(f"SELECT {', '.join(quote(c.source) for c in t.columns)} FROM {quote(t.source)}")
    return src, (cur, [canonical.source_column_canon(c) for c in t.columns])


def _verify_connection(spec: ConnectionSpec) -> Any:
    conn = connect(spec)
    psycopg2.extras.register_default_jsonb(conn, loads=lambda s: s)  # the JSON text, compared canonically
    psycopg2.extras.register_default_json(conn, loads=lambda s: s)
    # times and numbers as PostgreSQL's text, which is their canonical form: no datetime or Decimal per value
    psycopg2.extensions.register_type(_AS_TEXT, conn)
    with conn.cursor() as c:
        c.execute("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'")
    conn.commit()
    return conn


class _EndScan:
    """Closing a target scan on a shared connection: the server-side cursor and its transaction end."""

    def __init__(self, conn: Any, cur: Any) -> None:
        self.conn, self.cur = conn, cur

    def close(self) -> None:
        with contextlib.suppress(psycopg2.Error):  # after a failed read: the rollback below ends it anyway
            self.cur.close()
        self.conn.rollback()


def _target_rows(job: Scan, conn: Any) -> tuple[Any, Any]:
    t = job.table
    cur = conn.cursor(name="pgmigrate_verify")  # server-side: rows stream, memory stays flat
    cur.itersize = _FETCH
    cur.execute(sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(c.target) for c in t.columns), ddl.table_ident(t, job.schema)))
    return _EndScan(conn, cur), (cur, [canonical.target_column_canon(c) for c in t.columns])


def _scan(job: Scan, report: Callable[[int], None], conn: Any) -> SideResult:
    """Hash every row of one side of one table; with job.collect, also keep the rows of those buckets. A target
    scan reads on `conn` (a verify connection, see _verify_connection; None for a source scan)."""
    owner, (cur, canons) = _source_rows(job) if job.side == "source" else _target_rows(job, conn)
    keys = key_indexes(job.table)
    fixes = [(i, f) for i, f in enumerate(canons) if f is not None]
    res = SideResult()
    buckets, collect = res.buckets, job.collect
    row_hash, bucket_of = canonical.row_hash, canonical.bucket_of
    total = 0
    int_key = keys[0] if len(keys) == 1 else None
    per_bucket = job.buckets or collect is not None  # the first pass needs only the table's sum
    wide = [i for i, c in enumerate(job.table.columns) if c.pg_type.lower().startswith(_WIDE_TYPES)]
    fetch = FIRST_CHUNK_ROWS
    try:
        while True:
            batch = cur.fetchmany(fetch)
            if not batch:
                break
            fetch = next_chunk_rows(len(batch), _chunk_bytes(batch, wide), most=_FETCH, budget=_CHUNK_BYTES)
            if fixes:  # column by column instead of a Python loop per value
                columns = list(zip(*batch, strict=True))
                for i, f in fixes:
                    columns[i] = f(columns[i])
                rows = list(zip(*columns, strict=True))
            else:
                rows = batch  # tuples already, from either driver
            hashes = list(map(row_hash, rows))
            total += sum(hashes)
            if per_bucket and collect is None and int_key is not None and \
                    all(type(r[int_key]) is int for r in rows):
                for r, h in zip(rows, hashes, strict=True):  # bucket_of's integer shortcut, inlined
                    buckets[r[int_key] % canonical.BUCKETS] += h
            elif per_bucket:
                for row, h in zip(rows, hashes, strict=True):
                    key = tuple([row[i] for i in keys]) if keys else row
                    b = bucket_of(key) if keys else h % canonical.BUCKETS
                    buckets[b] += h
                    if collect is not None and b in collect:
                        res.kept.append((key, row))
            res.rows += len(batch)
            report(res.rows)
    finally:
        owner.close()
    res.checksum = total % (1 << 64)
    res.buckets = [b % (1 << 64) for b in buckets]
    return res


def _chunk_bytes(batch: list[Any], wide: list[int]) -> int:
    """About the bytes a chunk of rows holds: the lengths of its values in the columns that can be big."""
    total = 0
    for i in wide:
        try:
            total += sum(map(len, filter(None, map(itemgetter(i), batch))))
        except TypeError:  # a number in a text column of SQLite's
            total += sum(len(v) for v in map(itemgetter(i), batch) if isinstance(v, (str, bytes, memoryview)))
    return total


def _scan_bundle(bundle: tuple[Scan, ...], link: Link) -> list[SideResult]:
    """Run scans one after another; the target scans share one connection (a database of hundreds of small
    tables would otherwise spend its time connecting)."""
    conn = None
    results = []
    stall_time.configure(bundle[0].stall_timeout_s)  # a worker process starts with the default
    try:
        for job in bundle:
            name, side = job.table.target, job.side
            last = [0.0]

            def report(rows: int, _name: str = name, _side: str = side, _last: list[float] = last) -> None:
                now = time.monotonic()
                if now - _last[0] > 0.2:
                    _last[0] = now
                    link.report((_name, _side, rows, False))

            if side == "target" and conn is None:
                conn = _verify_connection(job.spec)
            result = _scan(job, report, conn)
            link.report((name, side, result.rows, True))
            results.append(result)
    finally:
        if conn is not None:
            conn.close()
    return results


_SMALL_SCAN = 20_000  # rows: scans of smaller tables are bundled, up to 32 per job


def run_scans(jobs: list[Scan], workers: int, on_progress: Callable[[VerifyProgress], None] | None,
               totals: dict[str, int]) -> list[SideResult]:
    """Scan each (table, side) in parallel worker processes: hashing is CPU work, threads would share one GIL.
    Results in the order of `jobs`."""

    def on_message(message: tuple[str, str, int, bool]) -> None:
        name, side, rows, finished = message
        if on_progress is not None:
            on_progress(VerifyProgress(name, side, rows, totals[name], finished))

    bundles: list[tuple[Scan, ...]] = []
    small: list[Scan] = []
    for job in jobs:
        if job.table.row_count > _SMALL_SCAN:
            bundles.append((job,))
        else:
            small.append(job)
    # the small scans spread over the workers, a few connections each instead of one per table
    n = max(workers, -(-len(small) // 32)) if small else 0
    bundles += [tuple(small[i::n]) for i in range(n) if small[i::n]]
    done = run_jobs(_scan_bundle, bundles, workers=workers, processes=workers > 1, on_message=on_message,
                    stop_on_error=False)
    by_job = {id(job): result for bundle, results in zip(bundles, done, strict=True)
              for job, result in zip(bundle, results, strict=True)}
    return [by_job[id(job)] for job in jobs]
