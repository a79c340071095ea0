"""The Textual application shell."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static


class WizardApp(App[int]):
    TITLE = "pgmigrate-wizard"
    CSS_PATH = "wizard.tcss"

    def __init__(self, sqlite_file: Path | None = None, plan_file: Path | None = None) -> None:
        super().__init__()
        self.sqlite_file = sqlite_file
        self.plan_file = plan_file

    def compose(self) -> ComposeResult:
        yield Header()
        source = str(self.sqlite_file) if self.sqlite_file else "SQLITE_FILE"
        yield Static(
            "Welcome to pgmigrate-wizard.\n\n"
            "The interactive steps are not in this version yet. Each step runs headless:\n\n"
            f"  pgmigrate-wizard inspect {source}\n"
            f"  pgmigrate-wizard plan {source} --save\n"
            f"  pgmigrate-wizard migrate {source} --target local   (or --target postgresql://user@host/db)\n\n"
            "Press Ctrl+Q to quit.",
            id="welcome", markup=False)
        yield Footer()


def run_wizard(sqlite_file: Path | None, plan_file: Path | None = None) -> int:
    result = WizardApp(sqlite_file, plan_file).run()
    return int(result or 0)
