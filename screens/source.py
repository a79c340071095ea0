"""Step 1: pick the SQLite file; it is checked and profiled, and its tables and findings shown."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Button, DataTable, DirectoryTree, Input, Label, Static

from screens.base import StepScreen
from screens.widgets import fill_table, in_wizard
from wizard.data_copy.replan import SAMPLE_ROWS
from wizard.plan.inspection import human_size
from wizard.plan.planner import build_plan
from wizard.plan_model import MigrationPlan, default_plan_path, load_plan
from wizard.source.profile_jobs import Sample

SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")


_TABLE_COLUMNS = ("table", "rows", "columns", "key")


def looks_sqlite(path: Path) -> bool:
    """A file worth offering: an SQLite suffix, and not one of the wizard's own snapshots."""
    return path.suffix.lower() in SUFFIXES and ".pgmigrate-backup-" not in path.name


def candidates(folder: Path) -> list[str]:
    """SQLite-looking files in a folder."""
    try:
        return sorted(p.name for p in folder.iterdir() if looks_sqlite(p) and p.is_file())
    except OSError:
        return []


class PathSuggester(Suggester):
    """Completes a typed path from the file system: folders, and SQLite-looking files (→ or End accepts)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        typed = Path(value).expanduser()
        folder, prefix = (typed, "") if value.endswith(("/", "\\")) else (typed.parent, typed.name)
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            return None
        for entry in entries:
            if not entry.name.startswith(prefix) or entry.name.startswith("."):
                continue
            if entry.is_dir():
                return value + entry.name[len(prefix):] + "/"
            if looks_sqlite(entry):
                return value + entry.name[len(prefix):]
        return None


class _SqliteTree(DirectoryTree):
    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if p.is_dir() or p.suffix.lower() in SUFFIXES]


class BrowseModal(ModalScreen[Path | None]):
    BINDINGS = [("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Pick the SQLite file (Enter to choose, Esc to cancel)", classes="dialog-title")
            yield _SqliteTree(Path.cwd(), id="tree")

    @on(DirectoryTree.FileSelected)
    def chosen(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(event.path)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _types(plan: MigrationPlan) -> list[tuple[str, list[str]]]:
    return [(t.source, [f"{c.source} {c.pg_type}" for c in t.columns]) for t in plan.tables]


class SourceScreen(StepScreen):
    STEP = "source"
    AUTO_FOCUS = "#path"
    BINDINGS = [Binding("ctrl+o", "press('#browse')", "Browse")]
    HEADING = "1. Source: the SQLite database"
    HELP = ("Type the path of the application's SQLite file (Tab completes the suggestions from this folder), or "
            "press Browse. Check reads it read-only, profiles every column and shows what needs attention.\n\n"
            "The file itself is never changed: the copy later reads a snapshot of it.")

    def body(self) -> Iterable[Widget]:
        found = candidates(Path.cwd())
        hint = f"SQLite files here: {', '.join(found[:6])}" if found else "No .db/.sqlite files in this folder."
        with Horizontal(classes="row"):
            yield Input(placeholder="path/to/app.db", id="path", suggester=PathSuggester(), compact=True)
            yield Button("Check", id="check", variant="primary", compact=True)
            yield Button("Browse…", id="browse", compact=True)
        yield Static(hint, id="found", markup=False)
        yield Static("", id="summary", markup=False)
        yield DataTable(id="tables", cursor_type="row", zebra_stripes=True)
        yield Static("", id="findings", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#tables", DataTable)
        table.add_columns(*_TABLE_COLUMNS)
        if self.state.sqlite_path is not None:  # the CLI argument preselects the file and checks it
            self.query_one("#path", Input).value = str(self.state.sqlite_path)
            self.check()

    def refresh_step(self) -> None:
        if self.state.plan is not None:
            self._show(self.state.plan)

    @on(Button.Pressed, "#browse")
    def browse(self) -> None:
        def picked(path: Path | None) -> None:
            if path is not None:
                self.query_one("#path", Input).value = str(path)
                self.check()

        self.app.push_screen(BrowseModal(), picked)

    @on(Button.Pressed, "#check")
    @on(Input.Submitted, "#path")
    def check(self) -> None:
        text = self.query_one("#path", Input).value.strip()
        if not text:
            self.message.info("▶ Type the path of the SQLite file first.")
            return
        path = Path(text)
        plan_path = self.wizard.plan_file or default_plan_path(path)

        def work() -> MigrationPlan:
            if plan_path.exists():  # choices saved by an earlier session of the wizard or by `plan --save`
                saved = load_plan(plan_path)
                if Path(saved.source_path).resolve() == path.resolve():
                    return saved
            # one read of the data: big tables' types from a sample, every value checked by the copy itself
            return build_plan(path, sample=Sample(SAMPLE_ROWS))

        self.in_thread(work, lambda plan: self._loaded(path, plan_path, plan), busy=f"reading {path}…",
                       group="source")

    def _loaded(self, path: Path, plan_path: Path, plan: MigrationPlan) -> None:
        old, old_plan = self.state.sqlite_path, self.state.plan
        other = old_plan is not None and (old is None or old.resolve() != path.resolve()
                                          or _types(old_plan) != _types(plan))
        self.state.sqlite_path, self.state.plan_path, self.state.plan = path, plan_path, plan
        if other:  # another file (or the same one changed): what was built on the old plan is stale
            self.state.changed("source")
            self.state.status["source"] = "done"
        if plan.wizard_state and not self.state.server:
            self.wizard.restore(plan.wizard_state)
        if not self.state.base_name:
            from wizard.target.resolve import database_name_for

            self.state.base_name = database_name_for(path)
        self.state.save()
        self._show(plan)
        self.succeeded(f"✓ {path} is a readable SQLite database. Press Next (Ctrl+N).")

    def _show(self, plan: MigrationPlan) -> None:
        rows = sum(t.row_count for t in plan.tables)
        self.query_one("#summary", Static).update(
            f"{plan.source_path}: {human_size(plan.source_size)}, {len(plan.tables)} table(s), {rows:,} row(s)")
        fill_table(self.query_one("#tables", DataTable), _TABLE_COLUMNS,
                   ((t.source, f"{t.row_count:,}", str(len(t.columns)), ", ".join(t.primary_key) or "-")
                    for t in plan.tables))
        order = {"error": 0, "warning": 1, "info": 2}
        lines = [f"Findings ({len(plan.findings)}):"] if plan.findings else ["No findings: the data fits as is."]
        for f in sorted(plan.findings, key=lambda f: order.get(f.severity, 3))[:30]:
            where = ".".join(x for x in (f.table, f.column) if x)
            lines.append(in_wizard(f"[{f.severity}] {where + ': ' if where else ''}{f.message} → {f.resolution}"))
        self.query_one("#findings", Static).update("\n".join(lines))

    def can_leave(self) -> str | None:
        if self.working:
            return "Wait: the file is still being read."
        if self.state.status.get("source") == "failed":
            return "The last check failed (see above); fix the path and Check again."
        if self.state.plan is None or self.state.sqlite_path is None:
            return "Check a SQLite file first."
        typed = self.query_one("#path", Input).value.strip()
        if typed and Path(typed).expanduser().absolute() != self.state.sqlite_path.expanduser().absolute():
            return f"Check {typed} first (Enter), or put back {self.state.sqlite_path}."
        if not self.state.plan.tables:
            return "This database has no tables to migrate; pick the application's database."
        return None
