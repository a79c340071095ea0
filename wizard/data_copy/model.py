"""The copy's options, its progress events and its results, and the run they belong to."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.errors import Cancelled, StepFailed
from wizard.plan import ddl
from wizard.plan_model import MigrationPlan, TablePlan
from wizard.source.snapshot import Pruned, Snapshot
from wizard.target.connection import ConnectionSpec
from wizard.target.stall_time import default_stall_seconds


@dataclass(frozen=True)
class CopyOptions:
    jobs: int = 2
    batch_size: int = 50_000
    on_error: str = "fail"  # or "skip"
    backup_dir: Path | None = None
    rejects_dir: Path | None = None
    schema: str = "public"
    lock_timeout_s: float = 60.0  # a table locked by another session fails the batch (resumable) instead of hanging
    stall_timeout_s: float = field(default_factory=default_stall_seconds)  # no progress, server silent: watchdog
    keep_snapshots: bool = False  # else a finished migration removes the older snapshots of its source


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
    notes: list[str] = field(default_factory=list)  # what the run decided by itself (how it resumed), for the summary
    pruned: Pruned | None = None  # the older snapshots removed after this run finished (None: none looked for)
    plan: MigrationPlan | None = None  # the plan the run finished with (re-planned tables: see data_copy.replan)

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


class SampleMiss(CopyError):
    """A value of a table whose types were chosen from a sample did not load: the table is profiled in full and
    re-planned (data_copy.replan) before the copy goes on; never shown to the user as a failure."""


def cancelled() -> Cancelled:
    return Cancelled("The copy was cancelled.", title="Cancelled",
                     hint="Run migrate again to resume from the last committed batch.")


class Run:
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
        self.notes: list[str] = []  # see MigrationResult.notes

    def emit(self, t: TablePlan, phase: str, done: int, nbytes: int, started: float, delta: int,
             before: int = 0) -> None:
        """Report a table's progress: `done` rows of it in the target, `before` of them copied by an earlier run
        (not by this one since `started`: they do not count in its rate)."""
        with self.lock:
            self.overall_done += delta
            overall = self.overall_done
        elapsed = max(time.monotonic() - started, 1e-6)
        rate = max(done - before, 0) / elapsed if phase == "copy" else 0.0
        eta = (t.row_count - done) / rate if rate > 0 and t.row_count >= done else None
        self.on_progress(Progress(t.source, phase, done, t.row_count, nbytes, rate, eta, overall,
                                  self.overall_total))


@dataclass(frozen=True)
class Part:
    """One unit of work for a worker: a rowid range of one table (picklable: it travels to the process)."""

    spec: ConnectionSpec
    snapshot_path: str
    table: TablePlan
    part: int
    lo: int | None
    hi: int | None
    options: CopyOptions
