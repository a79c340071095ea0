"""Run CPU-heavy jobs (encoding rows, hashing rows) in worker processes, with progress and a stop signal.

Threads would share one GIL, so the copy and the verification use one process per core. Jobs talk back through a
`Link`: `report()` sends a message to the parent (progress), `stopped()` says the parent cancelled or another job
failed. A worker whose parent is gone (kill -9) exits at once. Small work runs in threads of this process instead,
through the same protocol, because starting a Python process costs a few tenths of a second.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from multiprocessing.connection import wait as wait_for
from typing import Any, Generic, TypeVar

from wizard.errors import Cancelled

J = TypeVar("J")
R = TypeVar("R")


class Link:
    """What a job sees of the parent: a message channel and the stop signal."""

    def __init__(self, messages: Any, stop: Any) -> None:
        self._messages = messages
        self._stop = stop

    def report(self, message: Any) -> None:
        self._messages.put(message)

    def stopped(self) -> bool:
        return bool(self._stop.is_set())


_link: Link | None = None


def _init_process(messages: Any, stop: Any) -> None:
    global _link
    _link = Link(messages, stop)
    # Ctrl-C reaches the whole process group; the parent answers it by setting `stop`, so each job ends at its
    # next check with its committed work intact instead of dying mid-statement.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Jobs make millions of short-lived row tuples; at the default threshold (700) the cycle collector runs every
    # few hundred rows and costs a fifth of the work. Rows hold no cycles, so collecting rarely loses nothing.
    gc.set_threshold(100_000, 20, 100)
    # A worker's failures travel to the parent as exceptions. Its stderr is the user's terminal (or the wizard's
    # screen), where psycopg2 prints a stray SystemError of its own when the server goes away mid-COPY.
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    threading.Thread(target=_exit_with_parent, daemon=True, name="parent-watch").start()


def _exit_with_parent() -> None:
    """A worker whose parent died (kill -9) exits at once: otherwise it would wait forever for more work, or keep
    writing while a rerun starts. An open transaction dies with its connection, so nothing half-done stays."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    wait_for([parent.sentinel])
    os._exit(1)


class _InProcess(Generic[J, R]):
    """Picklable wrapper that hands the process's link to the job function."""

    def __init__(self, fn: Callable[[J, Link], R]) -> None:
        self.fn = fn

    def __call__(self, job: J) -> R:
        assert _link is not None, "worker process started without its link"
        return self.fn(job, _link)


def _start_resource_tracker() -> None:
    """multiprocessing starts a helper process (the resource tracker) and hands it sys.stderr's descriptor. Under
    the full-screen wizard sys.stderr is Textual's capture object, whose fileno() is -1, and starting any worker
    would fail with "bad value(s) in fds_to_keep". Start the helper first, with a real (silent) stderr."""
    if sys.platform == "win32":
        return  # no resource tracker there
    from multiprocessing import resource_tracker

    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    if usable:
        return
    saved = sys.stderr
    with open(os.devnull, "w") as quiet:
        sys.stderr = quiet
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = saved


class Processes:
    """Worker processes and their message channel and stop signal, started ahead of the work by
    `start_processes`: starting Python and importing the job's module costs a few tenths of a second, which can
    overlap with the caller's own preparation. One `run_jobs` uses them and shuts them down."""

    def __init__(self, workers: int, warm: str | None = None) -> None:
        _start_resource_tracker()
        ctx = multiprocessing.get_context("spawn")  # the same on Windows, macOS and Linux
        # SimpleQueue writes synchronously, so a job's last message is in the pipe before its result is sent
        self.messages: Any = ctx.SimpleQueue()
        self.stop: Any = ctx.Event()
        self.workers = max(1, workers)
        self.executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_process,
                                            initargs=(self.messages, self.stop))
        if warm is not None:
            for _ in range(self.workers):  # each submit starts a process while none is idle
                self.executor.submit(importlib.import_module, warm)

    def close(self) -> None:
        """Stop the processes (nothing to do once a run_jobs has used them)."""
        self.executor.shutdown(wait=True, cancel_futures=True)


def start_processes(workers: int, warm: str) -> Processes:
    """Start `workers` processes now, each importing module `warm` (the module of the job function to come)."""
    return Processes(workers, warm)


_FAILED_GRACE_S = 1.0  # how long the other jobs have to stop at their next check once one failed


def _end_processes(executor: Executor) -> None:
    """Terminate a process pool's workers. The pool then fails the jobs it still holds; those already cancelled are
    dropped first, as the pool (CPython 3.11) would fail on them with InvalidStateError."""
    items = getattr(executor, "_pending_work_items", {})
    for key in [k for k, item in list(items.items()) if item.future.cancelled()]:
        items.pop(key, None)
    for process in list(getattr(executor, "_processes", {}).values()):
        with contextlib.suppress(OSError, AttributeError):
            process.terminate()


def run_jobs(fn: Callable[[J, Link], R], jobs: Sequence[J], *, workers: int, processes: bool,
             on_message: Callable[[Any], None] | None = None, cancel: threading.Event | None = None,
             stop_on_error: bool = True, started: Processes | None = None) -> list[R]:
    """Run `fn(job, link)` for every job, at most `workers` at a time; results in the order of `jobs`.

    `fn` must be a module-level function and the jobs picklable when `processes` is true; `started` are
    processes started earlier for this run (they are shut down at its end). The first failure stops the other
    jobs at their next `link.stopped()` check (with `stop_on_error`) and is raised once all have ended; a
    `Cancelled` is raised only when nothing else went wrong. Ctrl-C in the parent stops the jobs the same way.
    """
    if not jobs:
        if started is not None:
            started.close()
        return []
    executor: Executor
    if processes:
        pool = started or Processes(min(workers, len(jobs)))
        executor, messages, stop = pool.executor, pool.messages, pool.stop
        call: Callable[[J], R] = _InProcess(fn)
    else:
        if started is not None:
            started.close()
        messages, stop = queue.Queue(), threading.Event()
        executor = ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs))))
        link = Link(messages, stop)

        def call(job: J) -> R:
            return fn(job, link)

    def drain() -> None:
        while not messages.empty():
            message = messages.get()
            if on_message is not None:
                on_message(message)

    errors: list[BaseException] = []
    interrupted = False
    failed_at = 0.0  # when the first failure stopped the other jobs
    with executor:
        futures: list[Future[R]] = [executor.submit(call, j) for j in jobs]
        pending = set(futures)
        while pending:
            try:
                wait(pending, timeout=0.05)
                drain()
                if cancel is not None and cancel.is_set():
                    stop.set()
                for f in [f for f in pending if f.done()]:
                    pending.discard(f)
                    exc = f.exception() if not f.cancelled() else None
                    if exc is not None:
                        errors.append(exc)
                        if stop_on_error:
                            stop.set()
                            failed_at = failed_at or time.monotonic()
                if processes and failed_at and pending and time.monotonic() - failed_at > _FAILED_GRACE_S:
                    # a job stuck where it cannot see the stop (connecting to a server that stopped answering):
                    # its work is uncommitted and safe to lose, and the failure is what the user must hear now
                    _end_processes(executor)
                if stop.is_set():
                    for f in pending:
                        f.cancel()  # jobs not started yet never start
            except KeyboardInterrupt:
                interrupted = True
                stop.set()
        drain()
    if interrupted:
        raise KeyboardInterrupt
    if errors:
        raise next((e for e in errors if not isinstance(e, Cancelled)), errors[0])
    if stop.is_set() and any(f.cancelled() for f in futures):
        raise Cancelled("The work was cancelled.", title="Cancelled", hint="Run it again to resume.")
    return [f.result() for f in futures]
