"""The profile of a big file on worker processes: one job per rowid range of a table (counts, then value
checks, or a table's foreign key check), and the merge of the ranges' results into exactly what one pass gives.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from typing import Any

from wizard.source.profile import MAX_EXAMPLES, ColumnProfile, ConversionCheck, RowRange, Tally, scan_tallies
from wizard.source.sqlite_file import fk_violation_counts, open_readonly
from wizard.source.value_checks import Candidate, check_values


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
    conn = open_readonly(job.path)
    try:
        if job.foreign_keys:
            return fk_violation_counts(conn, job.table, job.foreign_keys)
        if job.wanted is None:
            try:
                return scan_tallies(conn, job.table, job.columns, job.rows)
            except sqlite3.OperationalError:
                return None
        assert job.profiles is not None
        profiles = {c: replace(p, checks={}, invalid_utf8=0) for c, p in job.profiles.items()}
        check_values(conn, job.table, job.wanted, profiles, job.rows)
        return {c: (p.checks, p.invalid_utf8) for c, p in profiles.items()}
    finally:
        conn.close()


def merged_profiles(columns: list[str], parts: list[list[Tally]]) -> dict[str, ColumnProfile]:
    """The profiles of a table from its ranges' tallies, given in row order (of equal values the first stays)."""
    first, *later = parts
    for tallies in later:
        for mine, theirs in zip(first, tallies, strict=True):
            mine.merge(theirs)
    return {c: t.profile() for c, t in zip(columns, first, strict=True)}


def merge_checks(profiles: dict[str, ColumnProfile],
                 parts: list[dict[str, tuple[dict[str, ConversionCheck], int]]]) -> None:
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
