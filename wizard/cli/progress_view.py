"""Headless progress: rich bars on a terminal, plain lines otherwise; and the end-of-run summary table."""

from __future__ import annotations

import time
from typing import Any, TextIO

from wizard.data_copy.model import MigrationResult, Progress
from wizard.plan.ddl import StatementResult
from wizard.plan.inspection import human_size


class ProgressView:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._rich: Any = None
        self._tasks: dict[str, Any] = {}
        self._last_line = 0.0

    def __enter__(self) -> ProgressView:
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._rich = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                  console=Console(file=self.stream))
            self._rich.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(None, None, None)

    def update(self, p: Progress) -> None:
        if self._rich is not None:
            task = self._tasks.get(p.table)
            if task is None:
                task = self._tasks[p.table] = self._rich.add_task(p.table, total=p.rows_total or None, rate="")
            # after the copy, say what the wait is for: keys and indexes can take a while on big tables
            label = {"post": f"{p.table} (keys, indexes)", "ready": f"{p.table} ✓"}.get(p.phase, p.table)
            self._rich.update(task, completed=p.rows_done, description=label,
                              rate=f"{p.rows_per_s:,.0f} rows/s" if p.rows_per_s else "")
            return
        now = time.monotonic()
        if p.phase in ("done", "resumed", "post", "ready") or now - self._last_line > 2:
            self._last_line = now
            self.stream.write(f"{p.table}: {p.phase} {p.rows_done:,}/{p.rows_total:,} rows "
                              f"(overall {p.overall_done:,}/{p.overall_total:,})\n")
            self.stream.flush()


def snapshot_lines(r: MigrationResult) -> list[str]:
    """Where the run's snapshot is and how big, and which older snapshots of the source were removed or kept."""
    lines = [f"snapshot: {r.snapshot.path} ({human_size(r.snapshot.size_bytes)}, sha256 {r.snapshot.sha256[:16]}…); "
             "verify reads it"]
    if r.pruned is not None and r.pruned.removed:
        lines.append(f"removed {len(r.pruned.removed)} older snapshot(s) of this source "
                     f"({human_size(r.pruned.freed_bytes)}); --keep-snapshots keeps them")
    if r.pruned is not None and r.pruned.in_use:
        lines.append(f"kept {len(r.pruned.in_use)} older snapshot(s) that an unfinished migration into another "
                     "target still needs to resume: " + ", ".join(r.pruned.in_use))
    return lines


def render_summary(r: MigrationResult) -> str:
    lines = snapshot_lines(r)
    if r.already_done:
        lines.append("this target already holds a finished migration of this plan; use --restart to redo it")
    lines += [f"note: {note}" for note in r.notes]
    width = max([len(t.table) for t in r.tables] + [5])
    lines.append(f"{'table'.ljust(width)}  {'rows':>12}  {'rejected':>8}  {'seconds':>8}  {'rows/s':>10}")
    for t in r.tables:
        rate = f"{(t.rows - t.resumed_from) / t.seconds:,.0f}" if t.seconds > 0 else "-"
        # a table a run before this one finished: its time was not measured here
        seconds = "earlier" if t.seconds == 0 and t.rows and t.resumed_from == t.rows else f"{t.seconds:.2f}"
        lines.append(f"{t.table.ljust(width)}  {t.rows:>12,}  {t.rejected:>8,}  {seconds:>8}  {rate:>10}")
        if t.rejects_file:
            lines.append(f"  rejected rows written to {t.rejects_file}")
    lines += [failed_statement_line(res) for res in r.failed_statements]
    return "\n".join(lines) + "\n"


def failed_statement_line(res: StatementResult) -> str:
    """One post-load statement that failed, for the summary: a constraint that could not be validated exists
    (NOT VALID), anything else was not created."""
    what = "not validated" if res.statement.kind == "validate" else "not created"
    kind = "constraint" if res.statement.kind == "validate" else res.statement.kind
    return f"{what}: {kind} {res.statement.name}: {res.error}"
