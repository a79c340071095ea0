"""The wizard: seven steps, one screen each, with the step list always visible and the choices saved as it goes."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, SystemCommand
from textual.screen import Screen
from textual.widgets import Input

from screens.base import StepScreen
from screens.connection import ConnectionScreen
from screens.copy import CopyScreen
from screens.databases import DatabasesScreen
from screens.envfile import EnvFileScreen
from screens.schema import SchemaScreen
from screens.source import SourceScreen
from screens.state import STEP_NAMES, STEPS, WizardState
from screens.verify import VerifyScreen

SCREENS: dict[str, type[StepScreen]] = {
    "source": SourceScreen, "connection": ConnectionScreen, "databases": DatabasesScreen, "schema": SchemaScreen,
    "envfile": EnvFileScreen, "copy": CopyScreen, "verify": VerifyScreen,
}


class WizardApp(App[int]):
    TITLE = "pgmigrate-wizard"
    SUB_TITLE = "SQLite → PostgreSQL"
    CSS_PATH = "wizard.tcss"

    def __init__(self, sqlite_file: Path | None = None, plan_file: Path | None = None) -> None:
        super().__init__()
        self.plan_file = plan_file
        self.state = WizardState(sqlite_path=sqlite_file)
        self.summary: list[str] = []  # printed to the terminal once the wizard has closed

    def on_mount(self) -> None:
        for name, cls in SCREENS.items():
            self.install_screen(cls(), name)
        self.push_screen("source")

    def restore(self, data: dict[str, Any]) -> None:
        """Continue where an earlier session stopped (called once the plan file is read)."""
        self.state.restore(data)
        if self.state.server is not None and self.state.local:
            # the built-in server: the tool set its password and keeps it, so it is never asked for; the server
            # may have stopped with the machine, so it is started (again) in the background
            from wizard.target.local_server import known_password

            self.state.server = self.state.server.with_password(known_password())
            self.run_worker(self._start_local, thread=True, group="local-server", exit_on_error=False)
        elif self.state.server is not None:
            from wizard.target.credentials import resolve_password

            self.state.server = resolve_password(self.state.server)
        if self.state.step != "source":
            self.call_later(self.show, self.state.step)

    def _start_local(self) -> None:
        from wizard.target.local_server import start_local_server

        server = start_local_server()
        current = self.state.server
        if current is not None:
            spec = server.spec(current.dbname)
            self.call_from_thread(setattr, self.state, "server", spec)

    def show(self, step: str) -> None:
        self.state.step = step
        self.state.save()
        screen = self.get_screen(step)
        if isinstance(screen, StepScreen) and screen is not self.screen:
            screen.settle_on_show = True  # it settles once on screen (see StepScreen.settling)
        self.switch_screen(step)

    async def on_event(self, event: events.Event) -> None:
        if (isinstance(event, events.Key) and event.is_printable and isinstance(self.screen, StepScreen)
                and isinstance(self.screen.focused, Input) and self.screen.settling()):
            return  # typed for the step before this one: dropped rather than put into this step's field
        await super().on_event(event)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Ctrl+P: the wizard's own commands first (go to a step, start the copy, verify, export, keys), then
        Textual's theme and quit."""
        for i, (name, label) in enumerate(STEPS, start=1):
            yield SystemCommand(f"Go to {i}. {label}", f"Show the {label} step", partial(self.show, name))
        yield SystemCommand("Start or resume the copy", "Go to the Copy step and start it (Resume: continue it)",
                            partial(self._step_action, "copy", "#start"))
        yield SystemCommand("Verify", "Go to the Verify step and compare every row",
                            partial(self._step_action, "verify", "#run"))
        yield SystemCommand("Export the report as Markdown", "Write the verification report beside the SQLite file",
                            partial(self._step_action, "verify", "#export-md"))
        yield SystemCommand("Keys and marks", "The keys of this step and what the marks of the step list mean",
                            self._keys)
        yield from (c for c in super().get_system_commands(screen) if c.title in ("Theme", "Quit"))

    def _step_action(self, step: str, button: str) -> None:
        """Show `step`, then press its `button` once the step is on screen (a disabled one says nothing)."""
        if self.state.step != step:
            self.show(step)

        def press() -> None:
            if isinstance(self.screen, StepScreen):
                self.screen.action_press(button)

        self.call_after_refresh(press)

    def _keys(self) -> None:
        if isinstance(self.screen, StepScreen):
            self.screen.action_help()

    async def action_quit(self) -> None:
        """Quit, but not silently in the middle of work: a running copy is stopped at a committed batch first."""
        from screens.widgets import ChoiceModal

        screen = self.screen
        if isinstance(screen, CopyScreen) and screen.copying:
            def chosen(choice: str | None) -> None:
                if choice == "quit":
                    screen.quit_during_copy()

            self.push_screen(ChoiceModal(
                "A copy is running", "Quit now? The copy stops after its current batch, every committed batch is "
                "kept, and Resume continues from there when the wizard is started again.",
                [("stay", "Keep copying"), ("quit", "Stop and quit")]), chosen)
            return
        if isinstance(screen, StepScreen) and screen.working:
            def confirmed(choice: str | None) -> None:
                if choice == "quit":
                    self.exit(0)

            self.push_screen(ChoiceModal("Work in progress", "A job of this step is still running; its result "
                                         "would be lost. Quit anyway?",
                                         [("stay", "Stay"), ("quit", "Quit")]), confirmed)
            return
        self.exit(0)

    def go(self, delta: int) -> None:
        index = STEP_NAMES.index(self.state.step) + delta
        self.show(STEP_NAMES[max(0, min(index, len(STEP_NAMES) - 1))])


def run_wizard(sqlite_file: Path | None, plan_file: Path | None = None) -> int:
    """Run the wizard (Textual itself honours NO_COLOR). Returns the exit code: 0 once verified."""
    app = WizardApp(sqlite_file, plan_file)
    result = app.run()
    if app.summary:  # the screen is gone: what was done, where, stays in the terminal
        print("\n".join(app.summary))
    if result is None and app.return_code:  # a crash inside Textual: it printed the traceback
        return int(app.return_code)
    return int(result or 0)
