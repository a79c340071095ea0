"""Verification: prove every row arrived (counts and order-independent checksums), name the rows that did not,
and check what the copy's post-load phase promised (sequences, foreign keys, indexes, constraints, rejects).

Each side of each table is scanned once, streaming: rows are hashed in their canonical form (wizard.canonical)
and summed per key bucket. Only when a table's sums differ is it scanned again, keeping just the rows of the first
differing buckets, so memory stays bounded however large the table and however many rows differ.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

from wizard.convert.values import float_text
from wizard.data_copy import violations
from wizard.data_copy.batches import open_snapshot
from wizard.data_copy.state import read_state
from wizard.errors import InputError
from wizard.plan import ddl
from wizard.plan_model import MigrationPlan, TablePlan
from wizard.source.snapshot import file_sha256
from wizard.source.sql_tokens import quote
from wizard.source.sqlite_file import FIRST_CHUNK_ROWS, next_chunk_rows
from wizard.target.connection import ConnectionSpec, connect
from wizard.verify import canonical
from wizard.workers import Link, run_jobs

_FETCH = 5000  # rows per chunk, at most
_CHUNK_BYTES = 8 << 20  # text and BLOB bytes per chunk, about: rows of big values come a few at a time
_WIDE_TYPES = ("text", "character varying", "varchar", "bytea", "json", "jsonb")
_COLLECT_BUCKETS = 8  # differing buckets re-read per table to find example rows (bounded memory)
_SHOW = 80  # characters of a value shown in a report


@dataclass
class ColumnDiff:
    column: str
    source: str | None
    target: str | None


@dataclass
class Difference:
    kind: str  # "missing" (in the target), "extra" (in the target), "changed"
    key: dict[str, str | None]
    columns: list[ColumnDiff] = field(default_factory=list)
    count: int = 1  # for tables without a key: how many identical rows


@dataclass
class TableReport:
    name: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str
    ok: bool
    differences: list[Difference] = field(default_factory=list)
    more_differences: bool = False
    note: str | None = None
    seconds: float = 0.0


@dataclass
class Check:
    name: str  # "sequence", "primary_key", "index", "foreign_key", "check", "rejected_rows", "snapshot"
    table: str | None
    ok: bool
    detail: str


@dataclass
class VerifyReport:
    ok: bool
    source: str
    target: str  # masked: never a password
    tables: list[TableReport]
    checks: list[Check]
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class VerifyProgress:
    table: str
    side: str  # "source" or "target"
    rows_done: int
    rows_total: int
    finished: bool


@dataclass(frozen=True)
class _Scan:
    table: TablePlan
    side: str
    source_path: str
    spec: ConnectionSpec
    schema: str
    collect: frozenset[int] | None = None  # buckets whose rows to return
    buckets: bool = False  # also sum the rows per key bucket (only needed once a table's checksums differ)


@dataclass
class _SideResult:
    rows: int = 0
    checksum: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * canonical.BUCKETS)
    kept: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = field(default_factory=list)  # (key, row)


def _key_indexes(t: TablePlan) -> list[int]:
    by_target = {c.target: i for i, c in enumerate(t.columns)}
    return [by_target[k] for k in t.primary_key if k in by_target]


# timestamp, timestamptz, date, time and numeric, read as the text PostgreSQL sends
_AS_TEXT = psycopg2.extensions.new_type((1114, 1184, 1082, 1083, 1700), "PGMIGRATE_AS_TEXT",
                                        lambda value, cur: value)


def _source_rows(job: _Scan) -> tuple[Any, Any]:
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


def _target_rows(job: _Scan, conn: Any) -> tuple[Any, Any]:
    t = job.table
    cur = conn.cursor(name="pgmigrate_verify")  # server-side: rows stream, memory stays flat
    cur.itersize = _FETCH
    cur.execute(sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(c.target) for c in t.columns), ddl.table_ident(t, job.schema)))
    return _EndScan(conn, cur), (cur, [canonical.target_column_canon(c) for c in t.columns])


def _scan(job: _Scan, report: Callable[[int], None], conn: Any) -> _SideResult:
    """Hash every row of one side of one table; with job.collect, also keep the rows of those buckets. A target
    scan reads on `conn` (a verify connection, see _verify_connection; None for a source scan)."""
    owner, (cur, canons) = _source_rows(job) if job.side == "source" else _target_rows(job, conn)
    keys = _key_indexes(job.table)
    fixes = [(i, f) for i, f in enumerate(canons) if f is not None]
    res = _SideResult()
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


# -- running scans in worker processes ---------------------------------------------------------------------

def _scan_bundle(bundle: tuple[_Scan, ...], link: Link) -> list[_SideResult]:
    """Run scans one after another; the target scans share one connection (a database of hundreds of small
    tables would otherwise spend its time connecting)."""
    conn = None
    results = []
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


def _run_scans(jobs: list[_Scan], workers: int, on_progress: Callable[[VerifyProgress], None] | None,
               totals: dict[str, int]) -> list[_SideResult]:
    """Scan each (table, side) in parallel worker processes: hashing is CPU work, threads would share one GIL.
    Results in the order of `jobs`."""

    def on_message(message: tuple[str, str, int, bool]) -> None:
        name, side, rows, finished = message
        if on_progress is not None:
            on_progress(VerifyProgress(name, side, rows, totals[name], finished))

    bundles: list[tuple[_Scan, ...]] = []
    small: list[_Scan] = []
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


# -- the report ----------------------------------------------------------------------------------------------

def _natural(key: tuple[Any, ...]) -> tuple[tuple[int, int, str], ...]:
    """Order keys as a person reads them: 9 before 10."""
    out = []
    for v in key:
        s = "" if v is None else str(v)
        digits = s.lstrip("-")
        out.append((0, int(s), "") if digits.isdigit() and len(digits) < 30 else (1, 0, s))
    return tuple(out)


def _show(v: Any) -> str | None:
    """A canonical value as a report shows it: t/f, bytes in hex, times in ISO 8601, numbers in plain digits."""
    if v is None:
        return None
    if isinstance(v, bool):
        text = "t" if v else "f"
    elif isinstance(v, (bytes, bytearray)):
        text = bytes(v).hex()
    elif isinstance(v, (dt.datetime, dt.date, dt.time)):
        text = v.isoformat()
    elif isinstance(v, Decimal):
        text = format(v, "f") if v.is_finite() else str(v)
    elif isinstance(v, float):
        text = float_text(v)
    else:
        text = str(v)
    return text if len(text) <= _SHOW else text[:_SHOW] + f"… ({len(text)} chars)"


def _differences(t: TablePlan, src: _SideResult, dst: _SideResult) -> list[Difference]:
    names = [c.target for c in t.columns]
    keys = _key_indexes(t)
    key_names = [names[i] for i in keys] if keys else names
    out: list[Difference] = []
    if keys:
        s_rows = dict(src.kept)
        d_rows = dict(dst.kept)
        for k in sorted(s_rows.keys() | d_rows.keys(), key=_natural):
            a, b = s_rows.get(k), d_rows.get(k)
            key = {n: _show(v) for n, v in zip(key_names, k, strict=True)}
            if b is None:
                out.append(Difference("missing", key))
            elif a is None:
                out.append(Difference("extra", key))
            elif a != b:
                out.append(Difference("changed", key, [ColumnDiff(n, _show(x), _show(y))
                                                       for n, x, y in zip(names, a, b, strict=True) if x != y]))
    else:
        s_count = Counter(row for _, row in src.kept)
        d_count = Counter(row for _, row in dst.kept)
        for row in sorted(s_count.keys() | d_count.keys(), key=_natural):
            n = s_count[row] - d_count[row]
            if n:
                out.append(Difference("missing" if n > 0 else "extra",
                                      {c: _show(v) for c, v in zip(names, row, strict=True)}, count=abs(n)))
    return out


def _hex(n: int) -> str:
    return f"{n:016x}"


def verify(plan: MigrationPlan, spec: ConnectionSpec, *, source_path: Path | str | None = None, schema: str = "public",
           jobs: int = 2, examples: int = 10,
           on_progress: Callable[[VerifyProgress], None] | None = None) -> VerifyReport:
    """Compare the SQLite data (by default the snapshot the copy read) with the target; never raises for a
    difference, only for a source or target that cannot be read at all."""
    started = time.monotonic()
    checks: list[Check] = []
    state = read_state(spec)
    source = _choose_source(plan, state, source_path, checks)
    tables = plan.included_tables
    present = _existing_tables(spec, schema, tables)
    scanned = [t for t in tables if t.target in present]
    totals = {t.target: t.row_count for t in tables}
    jobs_list = [_Scan(t, side, source, spec, schema) for t in sorted(scanned, key=lambda t: -t.row_count)
                 for side in ("source", "target")]
    results = _run_scans(jobs_list, jobs, on_progress, totals)
    by_table = {(j.table.target, j.side): r for j, r in zip(jobs_list, results, strict=True)}

    reports: dict[str, TableReport] = {}
    recheck: list[_Scan] = []
    for t in scanned:
        s, d = by_table[(t.target, "source")], by_table[(t.target, "target")]
        ok = s.rows == d.rows and s.checksum == d.checksum
        reports[t.target] = TableReport(t.target, s.rows, d.rows, _hex(s.checksum), _hex(d.checksum), ok)
        if not ok:
            recheck += [_Scan(t, side, source, spec, schema, buckets=True) for side in ("source", "target")]
    if recheck:  # the rare case: sum the differing tables' rows per key bucket to narrow the difference down
        sums = _run_scans(recheck, jobs, None, totals)
        by_side = {(j.table.target, j.side): r for j, r in zip(recheck, sums, strict=True)}
        recheck = []
        for t in scanned:
            if (t.target, "source") not in by_side:
                continue
            s, d = by_side[(t.target, "source")], by_side[(t.target, "target")]
            differing = sorted(i for i in range(canonical.BUCKETS) if s.buckets[i] != d.buckets[i])
            chosen = frozenset(differing[:_COLLECT_BUCKETS])
            reports[t.target].more_differences = len(differing) > _COLLECT_BUCKETS
            recheck += [_Scan(t, side, source, spec, schema, chosen) for side in ("source", "target")]
    for t in tables:
        if t.target not in present:
            reports[t.target] = TableReport(t.target, t.row_count, 0, "", "", False,
                                            note="the table does not exist in the target")
    if recheck:
        again = _run_scans(recheck, jobs, None, totals)
        pairs = {(j.table.target, j.side): r for j, r in zip(recheck, again, strict=True)}
        for t in scanned:
            if (t.target, "source") in pairs:
                diffs = _differences(t, pairs[(t.target, "source")], pairs[(t.target, "target")])
                rep = reports[t.target]
                rep.differences = diffs[:examples]
                rep.more_differences = rep.more_differences or len(diffs) > examples

    checks += _post_load_checks(plan, spec, schema, present, state)
    ordered = [reports[t.target] for t in tables]
    ok = all(r.ok for r in ordered) and all(c.ok for c in checks)
    return VerifyReport(ok, str(source), spec.url(), ordered, checks, time.monotonic() - started)


def _choose_source(plan: MigrationPlan, state: dict[str, Any] | None, given: Path | str | None,
                   checks: list[Check]) -> str:
    """The snapshot the copy read, when it is still there and unchanged; else the SQLite file itself."""
    if given is not None:
        path = Path(given)
    elif state is not None and Path(state["snapshot"]["path"]).exists():
        snap = state["snapshot"]
        path = Path(snap["path"])
        if not snap["sha256"]:  # the copy stopped before the snapshot's hash was recorded
            checks.append(Check("snapshot", None, False, f"{path}: its SHA-256 was never recorded (the copy "
                                "stopped in its first moments), so nothing shows it is what the copy read"))
        else:
            same = file_sha256(path) == snap["sha256"]
            checks.append(Check("snapshot", None, same, f"{path} (sha256 {snap['sha256'][:16]}…) "
                                + ("is unchanged" if same else "changed since the copy read it")))
    else:
        path = Path(plan.source_path)
    if not path.is_file():
        raise InputError(f"The SQLite data to compare with ({path}) is not there.", title="Source missing",
                         hint="Pass the SQLite file the migration was made from.")
    return str(path)


def _existing_tables(spec: ConnectionSpec, schema: str, tables: list[TablePlan]) -> set[str]:
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
            names = {r[0] for r in cur.fetchall()}
        return {t.target for t in tables if t.target in names}
    finally:
        conn.close()


def _post_load_checks(plan: MigrationPlan, spec: ConnectionSpec, schema: str, present: set[str],
                      state: dict[str, Any] | None) -> list[Check]:
    out: list[Check] = []
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            for t in plan.included_tables:
                if t.target not in present:
                    continue
                cur.execute("SELECT conname, contype, convalidated FROM pg_constraint "
                            "WHERE conrelid = %s::regclass", (ddl.render(ddl.table_ident(t, schema)),))
                constraints = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
                cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                            (schema, t.target))
                indexes = {r[0] for r in cur.fetchall()}
                if t.primary_key:
                    found = constraints.get(t.pk_name, ("", False))[0] == "p"
                    out.append(Check("primary_key", t.target, found,
                                     f"{t.pk_name} ({', '.join(t.primary_key)})" + ("" if found else " is missing")))
                for ix in t.indexes:
                    if ix.skipped is None:
                        out.append(Check("index", t.target, ix.name in indexes,
                                         ix.name + ("" if ix.name in indexes else " is missing")))
                def rows_breaking(name: str, _t: str = t.target) -> str | None:
                    return violations.explain_constraint(conn, plan, schema, _t, name)

                for fk in t.foreign_keys:
                    if fk.skipped is None:
                        out.append(_constraint_check("foreign_key", t.target, fk.name, "f", constraints,
                                                     rows_breaking))
                for ck in t.checks:
                    if ck.skipped is None and ck.sql is not None:
                        out.append(_constraint_check("check", t.target, ck.name, "c", constraints, rows_breaking))
                if t.identity_column is not None:
                    out.append(_sequence_check(cur, t, schema))
            conn.rollback()
    finally:
        conn.close()
    if state is not None:
        rejected = {name: int(s["rejected"]) for name, s in state["tables"].items() if int(s["rejected"])}
        detail = ("none" if not rejected else
                  ", ".join(f"{n}: {c}" for n, c in sorted(rejected.items())) + " (see the rejects files)")
        out.append(Check("rejected_rows", None, not rejected, detail))
    return out


def _constraint_check(kind: str, table: str, name: str, contype: str, constraints: dict[str, tuple[str, bool]],
                      rows_breaking: Callable[[str], str | None]) -> Check:
    """Whether constraint `name` exists and is validated; one left NOT VALID says which rows break it."""
    got = constraints.get(name)
    if got is None or got[0] != contype:
        return Check(kind, table, False, f"{name} is missing")
    if not got[1]:
        why = rows_breaking(name)
        return Check(kind, table, False, f"{name} exists but is NOT VALID" +
                     (f": {why}" if why else " (existing rows violate it)"))
    return Check(kind, table, True, f"{name} validated")


def _sequence_check(cur: Any, t: TablePlan, schema: str) -> Check:
    ident = t.identity_column
    assert ident is not None
    cur.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.oid = pg_get_serial_sequence(%s, %s)::regclass",
                (ddl.render(ddl.table_ident(t, schema)), ident.target))
    row = cur.fetchone()
    if row is None:
        return Check("sequence", t.target, False, f"{ident.target} has no sequence")
    cur.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
        sql.SQL(".").join([sql.Identifier(row[0]), sql.Identifier(row[1])])))
    last, called = cur.fetchone()
    cur.execute(sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(ident.target), ddl.table_ident(t, schema)))
    top = max(cur.fetchone()[0] or 0, t.sequence_floor)
    nxt = last + 1 if called else last
    ok = nxt > top
    return Check("sequence", t.target, ok, f"next {ident.target} is {nxt}, " +
                 (f"past the highest used ({top})" if ok else f"but {top} is already used: an insert would collide"))
