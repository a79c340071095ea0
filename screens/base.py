"""The frame every step shares: the step list, the step's body, a message line, Back/Next, the footer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Header, Static

from screens.state import WizardState
from screens.widgets import LEGEND, HelpModal, MessageBox, PasswordModal, StepList


class Wizard(Protocol):
    """What a step needs of the app that hosts it (screens.app.WizardApp, which imports the steps)."""

    state: WizardState
    plan_file: Path | None

    def go(self, delta: int) -> None: ...

    def show(self, step: str) -> None: ...

    def restore(self, data: dict[str, Any]) -> None: ...


_SETTLE_S = 0.3  # how long a step shown anew ignores typing (keys meant for the step before it)


class StepScreen(Screen[None]):
    STEP: ClassVar[str] = ""
    HEADING: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+b", "back", "Back"),
        Binding("ctrl+n", "next", "Next"),
    ]

    @property
    def wizard(self) -> Wizard:
        return cast(Wizard, self.app)

    @property
    def state(self) -> WizardState:
        return self.wizard.state

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="frame"):
            yield StepList(id="steps")
            with Vertical(id="main"):
                yield Static(self.HEADING, classes="heading")
                with VerticalScroll(id="body"):
                    yield from self.body()
                yield MessageBox("", id="message", classes="message", markup=False)
                with Horizontal(id="nav"):
                    yield Button("◀ Back", id="back", compact=True)
                    yield Button("Next ▶", id="next", variant="primary", compact=True)
        yield Footer()

    def body(self) -> Iterable[Widget]:
        return []

    @property
    def message(self) -> MessageBox:
        return self.query_one("#message", MessageBox)

    def on_screen_resume(self) -> None:
        if self.settle_on_show:  # shown by a step change (not back from a dialog)
            self.settle_on_show = False
            self.shown_at = time.monotonic()
        self.query_one(StepList).show(self.STEP, self.state.status)
        self.query_one("#back", Button).disabled = self.STEP == "source"
        self.refresh_step()

    def refresh_step(self) -> None:
        """Bring the step up to date with the state (called each time the step is shown)."""

    def can_leave(self) -> str | None:
        """Why Next is not possible yet (None: it is)."""
        return None

    def leaving_state(self) -> str:
        """The step's state once Next leaves it: "done", or "skipped" for an optional step whose work was not
        done (what exists decides, not the key that was pressed)."""
        return "done"

    shown_at = 0.0
    settle_on_show = False

    def settling(self) -> bool:
        """Just shown: keys typed on the way here (the end of a password, then Next, then more keys) are meant
        for the step before, not for this step's first field (WizardApp drops them)."""
        return self.settle_on_show or time.monotonic() - self.shown_at < _SETTLE_S  # (not on screen yet, or just)

    @property
    def working(self) -> bool:
        """A job of this step is still running (its result is not in the state yet)."""
        return bool(getattr(self, "_jobs", 0))

    def action_press(self, selector: str) -> None:
        """Keyboard shortcut for a step's main button (shown in the footer)."""
        button = self.query_one(selector, Button)
        if not button.disabled:
            button.press()

    def action_help(self) -> None:
        """F1: the step's keys (as bound now), what the step marks mean, then what the step does."""
        keys, seen = [], set()
        for active in self.active_bindings.values():
            binding = active.binding
            if binding.description and binding.description not in seen and binding.action != "help":
                seen.add(binding.description)
                keys.append(f"  {self.app.get_key_display(binding):<10} {binding.description}")
        text = "\n".join(["Keys:", *keys, "  Ctrl+P     commands (go to a step, copy, verify, export)",
                          "  Tab        next field", "", "Step marks: " + LEGEND, "", self.HELP])
        self.app.push_screen(HelpModal(self.HEADING, text))

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

    def action_back(self) -> None:
        if self.STEP != "source":
            self.wizard.go(-1)

    def action_next(self) -> None:
        reason = self.can_leave()
        if reason:
            self.message.info(f"▶ {reason}")
            return
        if self.working:
            self.message.info("▶ Wait for the running job to finish.")
            return
        self.state.status[self.STEP] = self.leaving_state()
        self.wizard.go(+1)

    @on(StepList.Picked)
    def _step_picked(self, event: StepList.Picked) -> None:
        if event.step != self.STEP:
            self.wizard.show(event.step)

    # -- running engine calls off the UI thread ------------------------------------------------------------

    def failed(self, exc: BaseException) -> None:
        self.state.status[self.STEP] = "failed"
        self.query_one(StepList).show(self.STEP, self.state.status)
        self.message.error(exc)

    def succeeded(self, text: str) -> None:
        if self.state.status.get(self.STEP) == "failed":
            del self.state.status[self.STEP]
        self.query_one(StepList).show(self.STEP, self.state.status)
        self.message.ok(text)

    def with_password(self, action: Callable[[], None], why: str) -> None:
        """Run `action` once the connection has a password: the one known (typed this session, PGPASSWORD, the
        keyring), else asked for here, in a dialog, instead of failing at the server with none sent. A connection
        that needs none (trust, a password file) is tried first, so it is never asked for needlessly."""
        server = self.state.server
        if server is None or server.password:
            action()
            return
        from wizard.target.connection import ConnectFailed
        from wizard.target.credentials import keyring_status, resolve_password, save_password
        from wizard.target.server_check import test_connection

        found = resolve_password(server)
        if found.password:
            self.state.server = found
            action()
            return

        def asked(answer: tuple[str, bool] | None) -> None:
            if answer is None:
                self.message.info(f"▶ The password of {server.user} is needed to {why}.")
                return
            secret, remember = answer
            self.state.server = server.with_password(secret)
            if remember:
                self.in_thread(lambda: save_password(server, secret), lambda _: action(), busy=None,
                               group="password")
            else:
                action()

        def probe() -> None:
            try:
                test_connection(server)
            except ConnectFailed as exc:
                if exc.kind in ("no_password", "password"):
                    who = f"{server.user} on {server.host}:{server.port}"
                    self.app.call_from_thread(self.app.push_screen, PasswordModal(
                        who, f"The wizard needs it to {why}; it is not in the OS keyring or PGPASSWORD.",
                        keyring_status().usable), asked)
                    return
                self.app.call_from_thread(self.failed, exc)
                return
            except BaseException as exc:  # shown on this step, like any other failure
                self.app.call_from_thread(self.failed, exc)
                return
            self.app.call_from_thread(action)  # the server needs no password from us (trust, a password file)

        self.run_worker(probe, thread=True, group="password", exit_on_error=False)

    def in_thread(self, fn: Callable[[], Any], done: Callable[[Any], None], *, busy: str | None, group: str,
                  detail: Callable[[], str] | None = None) -> None:
        """Run `fn` in a worker thread; `done(result)` or the failure display runs on the UI thread. `busy` is
        shown meanwhile with the time it has taken so far and `detail()` (how far it got), refreshed every second
        (None: a follow-up job that leaves the step's message alone)."""
        ticker = None
        if busy is not None:
            started = time.monotonic()

            def tick() -> None:
                more = detail() if detail is not None else ""
                self.message.info(f"… {busy.rstrip('…')}: {time.monotonic() - started:.0f} s"
                                  + (f", {more}" if more else ""))

            self.message.info(f"… {busy}")
            ticker = self.set_interval(1.0, tick)
        self._jobs = getattr(self, "_jobs", 0) + 1

        def finish(callback: Callable[[Any], None], value: Any) -> None:
            self._jobs -= 1
            if ticker is not None:
                ticker.stop()
            callback(value)

        def job() -> None:
            try:
                result = fn()
            except BaseException as exc:  # every failure lands on this step, never as a traceback
                self.app.call_from_thread(finish, self.failed, exc)
                return
            self.app.call_from_thread(finish, done, result)

        self.run_worker(job, thread=True, exclusive=True, group=group, exit_on_error=False)
