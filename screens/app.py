"""The wizard: seven steps, one screen each, with the step list always visible and the choices saved as it goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App

from screens.base import StepScreen
from screens.connection import ConnectionScreen
from screens.copy import CopyScreen
from screens.databases import DatabasesScreen
from screens.envfile import EnvFileScreen
from screens.schema import SchemaScreen
from screens.source import SourceScreen
from screens.state import STEP_NAMES, WizardState
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

    def on_mount(self) -> None:
        for name, cls in SCREENS.items():
            self.install_screen(cls(), name)
        self.push_screen("source")

    def restore(self, data: dict[str, Any]) -> None:
        """Continue where an earlier session stopped (called once the plan file is read)."""
        self.state.restore(data)
        if self.state.server is not None:
            from wizard.target.credentials import resolve_password

            self.state.server = resolve_password(self.state.server)
        if self.state.step != "source":
            self.call_later(self.show, self.state.step)

    def show(self, step: str) -> None:
        self.state.step = step
        self.state.save()
        self.switch_screen(step)

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
    if result is None and app.return_code:  # a crash inside Textual: it printed the traceback
        return int(app.return_code)
    return int(result or 0)
