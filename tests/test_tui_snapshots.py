"""Snapshots of every step at 80x24 (the smallest terminal it must work in) and 120x36 (pytest-textual-snapshot).
The demo database is built deterministically in a fixed folder so paths in the screens are the same on every
machine; no server is contacted."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input

from screens.app import WizardApp
from wizard.demo import make
from wizard.target.connection import ConnectionSpec

FOLDER = Path("/tmp/pgmw-snapshots")
REPO = Path(__file__).resolve().parent.parent
SIZES = {"80x24": (80, 24), "120x36": (120, 36)}


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    make(FOLDER / "demo.db")
    monkeypatch.chdir(FOLDER)
    yield Path("demo.db")
    shutil.rmtree(FOLDER, ignore_errors=True)


def _before(step: str):  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        if step != "source":
            # a connection as step 2 would leave it (nothing listens on port 9: no server is needed)
            app.state.server = ConnectionSpec("127.0.0.1", 9, "app", "shop", "disable", "not-asked-for")
            if step == "copy":
                app.state.databases = {"dev": "shop_dev", "test": "shop_test"}
            app.show(step)
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        for field in app.screen.query(Input):  # a blinking cursor would make the picture depend on timing
            field.cursor_blink = False
        # DataTable sizes its columns on a later refresh, later still on a busy machine: wait until two pictures
        # taken a moment apart are the same
        previous = None
        for _ in range(50):
            await pilot.pause(0.1)
            picture = app.export_screenshot()
            if picture == previous:
                break
            previous = picture

    return run_before


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("step", ["source", "connection", "databases", "schema", "envfile", "copy", "verify"])
def test_step_snapshot(step: str, size: str, demo: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(WizardApp(sqlite_file=demo), run_before=_before(step), terminal_size=SIZES[size])
