"""The profile of every table: in this process for a small file; for a big one on worker processes, one job per
rowid range of a table (counts, then value checks, or a table's foreign key check), the ranges' results merged into
exactly what one pass gives."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from wizard.source.profile import (
    MAX_EXAMPLES,
    ColumnProfile,
    ConversionCheck,
    RowRange,
    Tally,
    aggregate_profile,
    aggregate_profile_sql,
    collated_extremes,
    scan_tallies,
)
from wizard.source.schema import SqliteSchema, SqliteTable
from wizard.source.sqlite_file import fk_violation_counts, open_readonly, rowid_bounds, rowid_name, rowid_ranges
from wizard.source.value_checks import Candidate, check_values
from wizard.workers import run_jobs


@dataclass(frozen=True)
class ProfileJob:
    """One range of a table's rows for a worker process: its counts (`wanted` None), or its value checks against
    the table's whole `profiles`."""

    path: str
    table: str
    columns: list[str]
    rows: RowRange | None
    wanted: dict[str, list[Candidate]] | None = None
    profiles: dict[str, ColumnProfile] | None = None
    foreign_keys: int = 0  # instead: the table's violations of its this many foreign keys (fk_violation_counts)


def run_profile_job(job: ProfileJob, link: Any) -> Any:
    """A worker's part: the range's tallies (None when its text is not all UTF-8: the caller then counts the
    table in SQL), or {column: (its checks, invalid UTF-8 count)} for the range, or the table's foreign key
    violations."""
    conn = open_readonly(job.path, leave_no_files=True)
    try:
        if job.foreign_keys:
            return fk_violation_counts(conn, job.table, job.foreign_keys)
        if job.wanted is None:
            try:
                return scan_tallies(conn, job.table, job.columns, job.rows)
            except sqlite3.OperationalError:
                return None
        assert job.profiles is not None
        return _checked(conn, job.table, job.wanted, job.profiles, job.rows)
    finally:
        conn.close()


def merged_profiles(columns: list[str], parts: list[list[Tally]]) -> dict[str, ColumnProfile]:
    """The profiles of a table from its ranges' tallies, given in row order (of equal values the first stays)."""
    first, *later = parts
    for tallies in later:
        for mine, theirs in zip(first, tallies, strict=True):
            mine.merge(theirs)
    return {c: t.profile() for c, t in zip(columns, first, strict=True)}


def merge_checks(profiles: dict[str, ColumnProfile], parts: list[Checked]) -> None:
    """Add the ranges' value checks (given in row order) to `profiles`, as one pass over the table would."""
    for part in parts:
        for column, (checks, invalid) in part.items():
            p = profiles[column]
            p.invalid_utf8 += invalid
            for key, check in checks.items():
                mine = p.checks.setdefault(key, ConversionCheck())
                mine.failures += check.failures
                mine.examples = (mine.examples + check.examples)[:MAX_EXAMPLES]
                mine.with_offset += check.with_offset
                mine.without_offset += check.without_offset


# A file with fewer rows is profiled in this process: starting worker processes costs a few tenths of a second.
_PARALLEL_MIN_ROWS = 200_000
_RANGE_ROWS = 50_000  # rows per range of a big table, about

# Which conversions a table's columns are checked against, given their counts (the plan's choice).
Wanted = Callable[[SqliteTable, dict[str, ColumnProfile]], dict[str, list[Candidate]]]


@dataclass(frozen=True)
class Sample:
    """Profile at most about `rows` rows of each big table (spread over its rowids) instead of all of them, except
    the tables in `whole`."""

    rows: int
    whole: frozenset[str] = frozenset()


_SAMPLE_WINDOWS = 10  # a sample is this many runs of consecutive rowids, spread evenly over the table


def profile_tables(conn: sqlite3.Connection, schema: SqliteSchema, jobs: int, wanted: Wanted,
                   sample: Sample | None = None) -> Profiles:
    """Every table's column profiles, value checks included, the foreign key violations the workers counted
    (per table and key; a small file's are counted later, by the plan), and the rows read of each table profiled
    from a sample (its foreign keys are not counted: that reads the whole table). A big file is read by `jobs`
    worker processes, a range of rows each, in two rounds (the checks depend on the counts); a small one here."""
    tables = schema.tables
    windows = {t.name: w for t in tables if sample is not None and t.columns
               and (w := _sample_windows(conn, t, sample))}
    rows_read = sum(t.row_count for t in tables if t.name not in windows) + len(windows) * (sample.rows if sample
                                                                                         else 0)
    if jobs < 2 or rows_read < _PARALLEL_MIN_ROWS:
        out = []
        for t in tables:
            if t.name in windows:
                profiles = _profile_here(conn, t, windows[t.name], wanted)
            else:
                profiles = aggregate_profile(conn, t.name, _names(t), _collated(t)) if t.columns else {}
                check_values(conn, t.name, wanted(t, profiles), profiles)
            out.append(profiles)
        sampled = _sampled(tables, out)
        return Profiles(out, {name: {} for name in sampled}, sampled)
    ranges = [windows.get(t.name) or (_row_ranges(conn, t, jobs) if t.columns else []) for t in tables]
    counts = [ProfileJob(schema.path, t.name, _names(t), r) for t, rs in zip(tables, ranges, strict=True) for r in rs]
    # ranges of about the same size keep the processes evenly busy; the results come grouped per table, in row order
    counted = _grouped(run_jobs(run_profile_job, counts, workers=jobs, processes=True), ranges)
    out = []
    for t, parts in zip(tables, counted, strict=True):
        if not t.columns:
            out.append({})
        elif any(p is None for p in parts):  # text that is not UTF-8: counted in SQL, leniently (and wholly)
            out.append(aggregate_profile_sql(conn, t.name, _names(t)))
            windows.pop(t.name, None)
            ranges[tables.index(t)] = [None]
        else:
            profiles = merged_profiles(_names(t), parts)
            if t.name not in windows:
                collated_extremes(conn, t.name, profiles, _collated(t))
            out.append(profiles)
    # the foreign key checks need no profile: they run beside the value checks, first (each is one job)
    fk_jobs = [ProfileJob(schema.path, t.name, [], None, foreign_keys=len(t.foreign_keys))
               for t in tables if t.foreign_keys and t.name not in windows]
    checks = [ProfileJob(schema.path, t.name, _names(t), r, wanted(t, profiles), profiles)
              for t, rs, profiles in zip(tables, ranges, out, strict=True) for r in rs]
    results = run_jobs(run_profile_job, fk_jobs + checks, workers=jobs, processes=True)
    fk_counts = {job.table: counts for job, counts in zip(fk_jobs, results, strict=False)}
    fk_counts.update({name: {} for name in windows})
    checked = _grouped(results[len(fk_jobs):], ranges)
    for profiles, parts in zip(out, checked, strict=True):
        merge_checks(profiles, parts)
    return Profiles(out, fk_counts, _sampled(tables, out))


def _sampled(tables: list[SqliteTable], profiles: list[dict[str, ColumnProfile]]) -> dict[str, int]:
    """The tables whose profile read fewer rows than the table has (a sample): the rows it read. A sampled table
    whose text is not all UTF-8 was counted whole, in SQL, and is not one of them."""
    return {t.name: rows for t, p in zip(tables, profiles, strict=True)
            if p and (rows := next(iter(p.values())).rows) < t.row_count}


@dataclass
class Profiles:
    tables: list[dict[str, ColumnProfile]]
    """Per table of the schema, in its order: the profile of each column."""
    fk_counts: dict[str, dict[int, int]]
    """Foreign key violations per table and key, where counted (see PlanContext.fk_counts)."""
    sampled: dict[str, int]
    """The tables profiled from a sample: the rows read."""


def _profile_here(conn: sqlite3.Connection, t: SqliteTable, windows: list[RowRange | None],
                  wanted: Wanted) -> dict[str, ColumnProfile]:
    """A table's profile from some of its rows (the sample's windows), in this process."""
    try:
        profiles = merged_profiles(_names(t), [scan_tallies(conn, t.name, _names(t), w) for w in windows])
    except sqlite3.OperationalError:  # not UTF-8: counted wholly in SQL, as an unsampled table
        profiles = aggregate_profile_sql(conn, t.name, _names(t))
        windows = [None]
    want = wanted(t, profiles)
    merge_checks(profiles, [_checked(conn, t.name, want, profiles, w) for w in windows])
    return profiles


Checked = dict[str, tuple[dict[str, ConversionCheck], int]]  # per column: its checks, its invalid UTF-8 count


def _checked(conn: sqlite3.Connection, table: str, want: dict[str, list[Candidate]],
             profiles: dict[str, ColumnProfile], rows: RowRange | None) -> Checked:
    """The value checks of a range of rows (the profiles' counts are those of the whole table or sample)."""
    fresh = {c: replace(p, checks={}, invalid_utf8=0) for c, p in profiles.items()}
    check_values(conn, table, want, fresh, rows)
    return {c: (p.checks, p.invalid_utf8) for c, p in fresh.items()}


def _sample_windows(conn: sqlite3.Connection, t: SqliteTable, sample: Sample) -> list[RowRange | None] | None:
    """Runs of rowids spread over a big rowid table that hold about `sample.rows` rows together (None: the table
    is profiled whole: it is small, in `sample.whole`, or has no rowid to find its rows by)."""
    key = rowid_name(_names(t))
    if t.name in sample.whole or t.without_rowid or key is None or t.row_count <= 2 * sample.rows:
        return None
    lo, hi = rowid_bounds(conn, t.name, key)
    if lo is None or hi is None:
        return None
    span = hi - lo + 1
    # rowids per window, for about sample.rows / _SAMPLE_WINDOWS rows where the rowids are as dense as on average
    width = max(1, span * sample.rows // (_SAMPLE_WINDOWS * t.row_count))
    starts = [lo - 1 + span * i // _SAMPLE_WINDOWS for i in range(_SAMPLE_WINDOWS)]
    starts[-1] = max(starts[0], hi - width)  # the last window ends at the table's end: appended rows are seen
    return [RowRange(key, start, start + width) for start in sorted(set(starts))]


def _row_ranges(conn: sqlite3.Connection, t: SqliteTable, jobs: int) -> list[RowRange | None]:
    """A big rowid table in rowid ranges of about _RANGE_ROWS rows (equal spans of its rowids); else the whole
    table (None)."""
    key = rowid_name(_names(t))
    parts = min(jobs * 4, t.row_count // _RANGE_ROWS)
    if t.without_rowid or key is None or parts < 2:
        return [None]
    return [RowRange(key, lo, hi) for lo, hi in rowid_ranges(conn, t.name, key, parts)]


def _grouped(results: list[Any], ranges: list[list[RowRange | None]]) -> list[list[Any]]:
    """Results of one job per range, in order, grouped per table."""
    grouped, i = [], 0
    for rs in ranges:
        grouped.append(results[i:i + len(rs)])
        i += len(rs)
    return grouped


def _names(t: SqliteTable) -> list[str]:
    return [c.name for c in t.columns]


def _collated(t: SqliteTable) -> frozenset[str]:
    """The columns declared with a collation other than BINARY: SQLite orders their text by it."""
    return frozenset(c.name for c in t.columns if c.collation)
