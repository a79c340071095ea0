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
