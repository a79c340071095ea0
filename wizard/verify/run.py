"""Verification: prove every row arrived (counts and order-independent checksums), name the rows that did not,
and check what the copy's post-load phase promised (sequences, foreign keys, indexes, constraints, rejects).

Each side of each table is scanned once, streaming: rows are hashed in their canonical form (verify.canonical)
and summed per key bucket. Only when a table's sums differ is it scanned again, keeping just the rows of the first
differing buckets, so memory stays bounded however large the table and however many rows differ.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wizard.data_copy.state import read_state
from wizard.errors import InputError
from wizard.plan_model import MigrationPlan, TablePlan
from wizard.source.snapshot import file_sha256
from wizard.target import stall_time
from wizard.target.connection import ConnectionSpec
from wizard.verify import canonical
from wizard.verify.checks import existing_tables, post_load_checks
from wizard.verify.differences import differing_rows
from wizard.verify.results import Check, TableReport, VerifyProgress, VerifyReport
from wizard.verify.scan import Scan, run_scans

_COLLECT_BUCKETS = 8  # differing buckets re-read per table to find example rows (bounded memory)


def _hex(n: int) -> str:
    return f"{n:016x}"


def verify(plan: MigrationPlan, spec: ConnectionSpec, *, source_path: Path | str | None = None, schema: str = "public",
           jobs: int = 2, examples: int = 10, on_progress: Callable[[VerifyProgress], None] | None = None,
           stall_timeout_s: float | None = None) -> VerifyReport:
    """Compare the SQLite data (by default the snapshot the copy read) with the target; never raises for a
    difference, only for a source or target that cannot be read at all."""
    started = time.monotonic()
    stall_timeout_s = stall_timeout_s or stall_time.default_stall_seconds()
    stall_time.configure(stall_timeout_s)
    checks: list[Check] = []
    state = read_state(spec)
    source = _choose_source(plan, state, source_path, checks)
    tables = plan.included_tables
    present = existing_tables(spec, schema, tables)
    scanned = [t for t in tables if t.target in present]
    totals = {t.target: t.row_count for t in tables}

    def scan(t: TablePlan, side: str, **more: Any) -> Scan:
        return Scan(t, side, source, spec, schema, stall_timeout_s=stall_timeout_s, **more)

    jobs_list = [scan(t, side) for t in sorted(scanned, key=lambda t: -t.row_count)
                 for side in ("source", "target")]
    results = run_scans(jobs_list, jobs, on_progress, totals)
    by_table = {(j.table.target, j.side): r for j, r in zip(jobs_list, results, strict=True)}

    reports: dict[str, TableReport] = {}
    recheck: list[Scan] = []
    for t in scanned:
        s, d = by_table[(t.target, "source")], by_table[(t.target, "target")]
        ok = s.rows == d.rows and s.checksum == d.checksum
        reports[t.target] = TableReport(t.target, s.rows, d.rows, _hex(s.checksum), _hex(d.checksum), ok)
        if not ok:
            recheck += [scan(t, side, buckets=True) for side in ("source", "target")]
    if recheck:  # the rare case: sum the differing tables' rows per key bucket to narrow the difference down
        sums = run_scans(recheck, jobs, None, totals)
        by_side = {(j.table.target, j.side): r for j, r in zip(recheck, sums, strict=True)}
        recheck = []
        for t in scanned:
            if (t.target, "source") not in by_side:
                continue
            s, d = by_side[(t.target, "source")], by_side[(t.target, "target")]
            differing = sorted(i for i in range(canonical.BUCKETS) if s.buckets[i] != d.buckets[i])
            chosen = frozenset(differing[:_COLLECT_BUCKETS])
            reports[t.target].more_differences = len(differing) > _COLLECT_BUCKETS
            recheck += [scan(t, side, collect=chosen) for side in ("source", "target")]
    for t in tables:
        if t.target not in present:
            reports[t.target] = TableReport(t.target, t.row_count, 0, "", "", False,
                                            note="the table does not exist in the target")
    if recheck:
        again = run_scans(recheck, jobs, None, totals)
        pairs = {(j.table.target, j.side): r for j, r in zip(recheck, again, strict=True)}
        for t in scanned:
            if (t.target, "source") in pairs:
                diffs = differing_rows(t, pairs[(t.target, "source")], pairs[(t.target, "target")])
                rep = reports[t.target]
                rep.differences = diffs[:examples]
                rep.more_differences = rep.more_differences or len(diffs) > examples

    checks += post_load_checks(plan, spec, schema, present, state)
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
