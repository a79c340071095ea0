"""Step 5: the application's .env: style, path, password placement, a diff preview, then write."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from screens.base import StepScreen
from wizard.errors import InputError
from wizard.target.credentials import resolve_password
from wizard.target.env_check import EnvCheck, check_env
from wizard.target.envfile import (
    PASSWORD_PLACES,
    STYLES,
    EnvPlan,
    EnvRequest,
    EnvResult,
    add_to_gitignore,
    plan_env,
    write_env,
)


class EnvFileScreen(StepScreen):
    STEP = "envfile"
    AUTO_FOCUS = "#style"
    BINDINGS = [Binding("ctrl+t", "press('#write')", "Write .env")]
    HEADING = "5. .env: the app's connection settings"
    HELP = ("Writes DATABASE_URL (style url), PG_HOST/PG_PORT/PG_USER/PG_DATABASE_*/ENVIRONMENT (pg-vars), or both "
            "into the .env file, merging with what is there: other keys and comments stay, the old file is kept as "
            ".env.bak-…. The password goes into the OS keyring (an unchanged app does not read it there), the "
            "standard libpq password file (~/.pgpass, or %APPDATA%\\postgresql\\pgpass.conf on Windows: psycopg2, "
            "psycopg 3 and psql read it by themselves), or the .env file itself (then readable by you only). "
            "Preview shows the diff first; Check connects with exactly what the app will read. This step is "
            "optional: Next skips it.")

    def body(self) -> Iterable[Widget]:
        with Horizontal(classes="row"):
            yield Label("Style", classes="field-label")
            yield Select([(s, s) for s in STYLES], value="url", allow_blank=False, id="style", classes="short",
                         compact=True)
            yield Label("File", classes="field-label")
            yield Input(".env", id="env-path", compact=True)
        with Horizontal(classes="row"):
            yield Label("Password", classes="field-label")
            yield Select([("OS keyring", "keyring"), ("libpq password file", "file"), (".env file itself", "inline")],
                         value="keyring", allow_blank=False, id="password-in", compact=True)
        yield Static("", id="password-note", markup=False)
        with Horizontal(classes="row"):
            yield Button("Preview", id="preview", compact=True)
            yield Button("Write", id="write", variant="primary", compact=True)
            yield Button("Check", id="check", compact=True)
        with Horizontal(classes="row"):
            yield Button("Add to .gitignore", id="gitignore", disabled=True, compact=True)
            yield Static("", id="gitignore-note", markup=False)
        yield Static("", id="diff", markup=False)

    def refresh_step(self) -> None:
        self.query_one("#style", Select).value = self.state.env_style
        path = self.query_one("#env-path", Input)
        if path.value == ".env":
            path.value = self.state.env_path

    def _request(self) -> EnvRequest:
        spec = self.state.app_spec()
        if spec is None:
            raise InputError("There is no connection yet.", title="No connection", hint="Test one in step 2.")
        spec = resolve_password(spec)  # PGPASSWORD, the keyring or this session's, when the step has none
        style = self.query_one("#style", Select).value
        self.state.env_style = style if isinstance(style, str) else "url"
        self.state.env_path = self.query_one("#env-path", Input).value.strip() or ".env"
        envs = list(self.state.databases) if self.state.databases else None
        return EnvRequest(Path(self.state.env_path), spec, self.state.env_style, self._password_in(), envs)

    def _password_in(self) -> str:
        value = self.query_one("#password-in", Select).value
        return value if isinstance(value, str) else "keyring"

    @on(Select.Changed, "#password-in")
    def password_place(self) -> None:
        self.query_one("#password-note", Static).update(
            f"The password goes into {PASSWORD_PLACES[self._password_in()]}.")

    @on(Select.Changed)
    @on(Input.Changed, "#env-path")
    def _choice_changed(self) -> None:
        """A diff shown for other choices (another file, style or password place) is not what Write would do."""
        diff = self.query_one("#diff", Static)
        if str(diff.content):
            diff.update("")
            self.message.info("The choices changed: Preview shows the new diff.")

    def on_mount(self) -> None:
        self.password_place()

    @on(Button.Pressed, "#check")
    def check(self) -> None:
        path = Path(self.query_one("#env-path", Input).value.strip() or ".env")

        def done(result: EnvCheck) -> None:
            if result.ok:
                self.message.info(result.render().strip())
            else:
                self.failed(InputError(result.message, title="The app cannot connect",
                                       hint="Pick another password place, Write, then Check again."))

        self.in_thread(lambda: check_env(path), done, busy="connecting as the app would…", group="envfile")

    def _plan(self, then: str) -> None:
        try:
            request = self._request()
        except InputError as exc:
            self.failed(exc)
            return
        self.in_thread(lambda: plan_env(request), lambda plan: self._planned(plan, then), busy="preparing…",
                       group="envfile")

    @on(Button.Pressed, "#preview")
    def preview(self) -> None:
        self._plan("preview")

    @on(Button.Pressed, "#write")
    def write(self) -> None:
        self._plan("write")

    def _planned(self, plan: EnvPlan, then: str) -> None:
        self.query_one("#diff", Static).update(plan.diff or "The file already holds these settings.")
        self.query_one("#password-note", Static).update(plan.app_note)
        self._gitignore(plan)
        if then == "preview":
            self.message.info("The diff is shown above; press Write to apply it.")
            return
        self.in_thread(lambda: write_env(plan), self._written, busy="writing…", group="envfile")

    def _gitignore(self, plan: EnvPlan) -> None:
        note = self.query_one("#gitignore-note", Static)
        button = self.query_one("#gitignore", Button)
        button.disabled = plan.gitignored
        note.update("" if plan.gitignored else f"⚠ {plan.request.path} is not ignored by {plan.gitignore}: it "
                                               "could be committed with its settings.")

    def leaving_state(self) -> str:
        return "done" if ".env" in self.state.written else "skipped"

    def _written(self, result: EnvResult) -> None:
        self.state.written[".env"] = str(result.path)
        self.state.status["envfile"] = "done"
        self.state.save()
        backup = f" (previous file kept as {result.backup})" if result.backup else ""
        entry = (f"; password file {result.password_file.path}: entry {result.password_file.action}"
                 if result.password_file else "")
        if result.password_file:
            self.state.written["password file"] = str(result.password_file.path)
        self.succeeded(f"✓ Wrote {result.path}{backup}{entry}. Check connects as the app would.")

    @on(Button.Pressed, "#gitignore")
    def gitignore(self) -> None:
        path = Path(self.query_one("#env-path", Input).value.strip() or ".env")

        def done(gi: Path) -> None:
            self.query_one("#gitignore", Button).disabled = True
            self.query_one("#gitignore-note", Static).update(f"✓ Added to {gi}.")
            self.succeeded(f"✓ {path} is now ignored by {gi}.")

        self.in_thread(lambda: add_to_gitignore(path), done, busy="updating .gitignore…", group="envfile")
