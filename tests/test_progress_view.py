"""The headless progress: bars on a terminal say what the wait after the copy is for; plain lines otherwise."""

from __future__ import annotations

import io

from wizard.cli.progress_view import ProgressView
from wizard.data_copy.model import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _event(phase: str, done: int) -> Progress:
    return Progress("orders", phase, done, 100, 0, 0.0, None, done, 100)


def test_bars_name_the_phase_after_the_copy() -> None:
    out = _Terminal()
    with ProgressView(out) as view:
        view.update(_event("copy", 40))
        view.update(_event("post", 100))
        view._rich.refresh()
        assert "orders (keys, indexes)" in out.getvalue()
        view.update(_event("ready", 100))
    assert "orders ✓" in out.getvalue()


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    with ProgressView(out) as view:
        view.update(_event("done", 100))
        view.update(_event("post", 100))
        view.update(_event("ready", 100))  # each table says when its keys and indexes are built
    lines = out.getvalue().splitlines()
    assert lines == ["orders: done 100/100 rows (overall 100/100)", "orders: post 100/100 rows (overall 100/100)",
                     "orders: ready 100/100 rows (overall 100/100)"]


def test_a_resumed_tables_rate_counts_only_the_rows_this_run_copied(make_sqlite) -> None:  # type: ignore[no-untyped-def]
    import threading
    import time

    from wizard.data_copy.model import CopyOptions, Run
    from wizard.plan.planner import build_plan
    from wizard.target.connection import ConnectionSpec

    db = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY);", {"t": [(i,) for i in range(1, 11)]})
    plan = build_plan(db)
    seen: list[Progress] = []
    run = Run(plan, ConnectionSpec("localhost", 5432, "u", "d"), CopyOptions(), seen.append, threading.Event())
    # 990,000 rows were copied before the stop; this run copied 10,000 in its first 2 s
    run.emit(plan.table("t"), "copy", 1_000_000, 0, time.monotonic() - 2.0, 10_000, before=990_000)
    assert 4_000 < seen[-1].rows_per_s < 5_100  # not 1,000,000 / 2 s
