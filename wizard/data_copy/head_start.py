"""What a migration without a saved plan can begin while its plan is still being sampled.

The start of the worker processes (each a new Python importing the copy's modules) needs neither a plan nor the
target: they start first, beside finding the target and any plan recorded there. A new migration's snapshot (a
copy of the file, with the GIL released) needs no plan either. Begun before the sample is profiled, they
run on the other core instead of one after the other, which on a 2-core laptop takes most of the wait before the
first row is sent. `migrate()` takes what it can use and the rest is cleaned up by `close()`: a snapshot no run
state refers to is deleted, processes no copy took are ended.
"""

from __future__ import annotations

import threading
from pathlib import Path

from wizard.source.snapshot import Snapshot, discard, take_snapshot
from wizard.workers import Processes, start_processes

# The module of the copy's jobs: all a worker needs (not the rest of the engine, which only the parent uses).
COPY_JOBS = "wizard.data_copy.parts"

# Below this size the file holds fewer rows than make worker processes pay off (data_copy.parts.PROCESS_MIN_ROWS);
# the copy then runs in threads and the early processes would only be ended again.
PROCESS_MIN_BYTES = 4 * 1024 * 1024


class HeadStart:
    """(For a big file) worker processes starting, and once asked (`begin_snapshot`) the snapshot of `source`
    being taken in a thread."""

    def __init__(self, source: Path | str, backup_dir: Path | str | None, jobs: int) -> None:
        self._source = source
        self._backup_dir = backup_dir
        self._snapshot: Snapshot | None = None
        self._error: BaseException | None = None
        self._taken = False
        self.workers: Processes | None = None
        if jobs > 1 and _size(source) >= PROCESS_MIN_BYTES:
            self.workers = start_processes(jobs, COPY_JOBS)
        self._thread: threading.Thread | None = None

    def begin_snapshot(self) -> None:
        """Take the snapshot beside whatever comes next (a migration that starts anew needs one; a resumed one
        reads the snapshot it started from, so it never asks)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._take, name="snapshot-ahead", daemon=True)
            self._thread.start()

    def _take(self) -> None:
        try:
            self._snapshot = take_snapshot(self._source, self._backup_dir)
        except BaseException as exc:  # handed over by snapshot()
            self._error = exc

    def snapshot(self) -> Snapshot:
        """The snapshot, once taken; from now on the caller owns it (records it in a run state or discards it)."""
        self.begin_snapshot()
        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._snapshot is not None
        self._taken = True
        return self._snapshot

    def take_workers(self) -> Processes | None:
        """The started processes, now owned by the caller (a copy shuts them down at its end)."""
        workers, self.workers = self.workers, None
        return workers

    def close(self) -> None:
        """End what no migration took: the processes, and the snapshot (no run state refers to it)."""
        if self.workers is not None:
            self.workers.close()
            self.workers = None
        if self._thread is not None:
            self._thread.join()
        if not self._taken and self._snapshot is not None:
            discard(self._snapshot)
            self._taken = True


def _size(path: Path | str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:  # reported by the plan, which reads the file first
        return 0
