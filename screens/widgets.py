"""Widgets shared by the steps: the step list, the message box, and the modal dialogs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DataTable, Input, Label, RadioButton, Select, Static

from screens.state import STEPS
from wizard.errors import WizardError

# Each state has its own character, so the list reads the same without colour (NO_COLOR, a monochrome terminal).
MARKS = {"done": "✓", "failed": "✗", "current": "▶", "todo": "·", "skipped": "–", "stale": "!"}
LEGEND = "✓ done  ✗ failed  ! redo (changed before it)  – skipped  · to do  ▶ this step (shown reversed)"


_TYPE_FLAG = re.compile(r"(?:use |override with )?(\()?--type ([^\s=]+)=([A-Za-z_]\w*(?:\(\d+(?:,\s*\d+)?\))?)(\))?")


def in_wizard(text: str) -> str:
    """A plan's finding as the wizard says it: the command line's `--type TABLE.COLUMN=TYPE` becomes the Schema
    step's way to change a type."""
    def said(m: re.Match[str]) -> str:
        what = "another type" if m.group(3) == "TYPE" else m.group(3)
        way = f"choose {what} for {m.group(2)} in step 4 (Schema: T)"
        return f"({way})" if m.group(1) and m.group(4) else (m.group(1) or "") + way + (m.group(4) or "")

    return _TYPE_FLAG.sub(said, text)


class StepList(Static):
    """Every step with its state (MARKS); a click on a step goes there."""

    class Picked(Message):
        def __init__(self, step: str) -> None:
            super().__init__()
            self.step = step

    def show(self, current: str, status: dict[str, str]) -> None:
        text = Text()
        for i, (name, label) in enumerate(STEPS, start=1):
            state = status.get(name, "todo")
            here = name == current
            mark = MARKS["current"] if here and state == "todo" else MARKS[state]
            # the current step is also shown reversed: visible without colour, and its mark still tells its state
            text.append(f"{mark} {i}. {label}", style="bold reverse" if here else "")
            if i < len(STEPS):
                text.append("\n")
        self.update(text)

    def on_click(self, event: events.Click) -> None:
        row = event.y - self.styles.padding.top
        if 0 <= row < len(STEPS):
            self.post_message(self.Picked(STEPS[row][0]))


class _MarkedToggle:
    """A toggle whose state is a character (MARK when on, blank when off), not only a colour: NO_COLOR terminals
    and colour-blind users see which one is chosen."""

    MARK = ""
    value: bool

    def on_mount(self) -> None:
        self.BUTTON_INNER = self.MARK if self.value else " "

    def watch_value(self) -> None:
        self.BUTTON_INNER = self.MARK if self.value else " "
        super().watch_value()  # type: ignore[misc]


class MarkedRadioButton(_MarkedToggle, RadioButton):
    MARK = "●"


class MarkedCheckbox(_MarkedToggle, Checkbox):
    MARK = "X"


class MessageBox(Static):
    """One place per step for what went wrong (and the next step) or what succeeded."""

    def error(self, exc: BaseException) -> None:
        if isinstance(exc, WizardError):
            hint = getattr(exc, "ui_hint", "") or exc.hint  # the screens' own next step, not a command-line flag
            text = f"✗ {exc.title}: {exc.message}" + (f"\n  Next step: {hint}" if hint else "")
        else:
            text = f"✗ Unexpected {type(exc).__name__}: {exc}\n  Next step: retry; if it persists, report it " \
                   "with this message and what you did just before."
        self.set_classes("message error")
        self.update(text)

    def ok(self, text: str) -> None:
        self.set_classes("message ok")
        self.update(text)

    def info(self, text: str) -> None:
        self.set_classes("message")
        self.update(text)


class HelpModal(ModalScreen[None]):
    BINDINGS = [("escape", "dismiss", "Close"), ("f1", "dismiss", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Help: {self.title_text}", classes="dialog-title")
            with VerticalScroll():
                yield Static(self.text, markup=False)
            yield Button("Close", id="close", variant="primary", compact=True)

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        self.dismiss(None)


class ChoiceModal(ModalScreen[str]):
    """A failure with its explanation and what the user can do next (e.g. Retry / Skip rows / Abort)."""

    BINDINGS = [("escape", "choose('abort')", "Abort")]

    def __init__(self, title: str, message: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text, self.message, self.choices = title, message, choices

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, markup=False, id="dialog-message")
            with Horizontal(classes="buttons"):
                for key, label in self.choices:
                    yield Button(label, id=f"choice-{key}", variant="primary" if key == "retry" else "default",
                                 compact=True)

    def action_choose(self, key: str) -> None:
        self.dismiss(key)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss((event.button.id or "").removeprefix("choice-"))


class PasswordModal(ModalScreen[tuple[str, bool] | None]):
    """The password a step needs and the wizard does not have (no keyring, a restarted wizard): asked where it is
    needed, with the choice to keep it in the OS keyring. Returns (password, remember) or None."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, who: str, why: str, can_remember: bool) -> None:
        super().__init__()
        self.who, self.why, self.can_remember = who, why, can_remember

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Password for {self.who}", classes="dialog-title")
            yield Static(self.why, markup=False)
            yield Input(password=True, id="secret", placeholder="password", compact=True)
            yield MarkedCheckbox("Remember it in the OS keyring", value=self.can_remember, id="keep",
                                 disabled=not self.can_remember, compact=True)
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#secret", Input).focus()

    @on(Button.Pressed, "#ok")
    @on(Input.Submitted, "#secret")
    def ok(self) -> None:
        secret = self.query_one("#secret", Input).value
        if secret:
            self.dismiss((secret, self.query_one("#keep", MarkedCheckbox).value))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmNameModal(ModalScreen[bool]):
    """Dropping a database (or the tables a copy made in it) needs its name typed back."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, name: str, tables: int, text: str | None = None) -> None:
        super().__init__()
        self.db_name, self.tables = name, tables
        self.text = text or (f"{name} holds {tables} table(s). Type its name to DROP it and create it empty; "
                             "anything else keeps it.")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Drop {self.db_name}?" if self.tables else f"Start over in {self.db_name}?",
                        classes="dialog-title")
            yield Static(self.text, markup=False)
            yield Input(placeholder=self.db_name, id="typed", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Drop", id="drop", variant="error", compact=True)
                yield Button("Keep", id="keep", variant="primary", compact=True)

    @on(Button.Pressed, "#drop")
    @on(Input.Submitted, "#typed")
    def drop(self) -> None:
        self.dismiss(self.query_one("#typed", Input).value.strip() == self.db_name)

    @on(Button.Pressed, "#keep")
    def action_cancel(self) -> None:
        self.dismiss(False)


AUTOMATIC = "(automatic)"  # what TypeModal returns to drop a column's override: the planner chooses again


class TypeModal(ModalScreen[str | None]):
    """Pick a column's PostgreSQL type: the common ones, or type any valid one (varchar(50), numeric(12,2)); a
    column whose type was chosen by hand can go back to the automatic choice. A type the tool cannot load into is
    explained here, and the dialog stays open to fix it."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, column: str, current: str, choices: list[str], overridden: bool = False) -> None:
        super().__init__()
        self.column, self.current, self.choices, self.overridden = column, current, choices, overridden

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Type of {self.column} (now {self.current}{', chosen by hand' if self.overridden else ''})",
                        classes="dialog-title")
            yield Select([(c, c) for c in self.choices], prompt="choose a type", id="type-select", compact=True)
            yield Input(placeholder="or type one, e.g. varchar(50)", id="type-text", compact=True)
            yield Static("", id="type-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Apply", id="apply", variant="primary", compact=True)
                yield Button("Automatic", id="automatic", disabled=not self.overridden, compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    @on(Button.Pressed, "#apply")
    @on(Input.Submitted, "#type-text")
    def apply(self) -> None:
        from wizard.plan.type_mapping import parse_target_type

        typed = self.query_one("#type-text", Input).value.strip()
        chosen = self.query_one("#type-select", Select).value
        if typed:
            try:
                parse_target_type(typed)
            except ValueError as exc:
                self.query_one("#type-error", Static).update(f"✗ {exc}. Pick one from the list, or type one of "
                                                              "those (varchar(n), numeric(p,s) take sizes).")
                self.query_one("#type-text", Input).focus()
                return
            self.dismiss(typed)
        elif isinstance(chosen, str):
            self.dismiss(chosen)
        else:
            self.dismiss(None)

    @on(Button.Pressed, "#automatic")
    def automatic(self) -> None:
        self.dismiss(AUTOMATIC)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def fill_table(table: DataTable[Any], columns: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> None:
    """Replace a DataTable's content, with each column as wide as its widest cell. DataTable would size its
    columns itself on a later refresh, but a picture taken before that one (a busy machine) shows them cut off."""
    rows = list(rows)
    table.clear(columns=True)
    for i, label in enumerate(columns):
        table.add_column(label, width=max([cell_len(label)] + [cell_len(str(r[i])) for r in rows]))
    table.add_rows(rows)
