"""Step 5: the application's .env: style, path, password placement, a diff preview, then write."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from screens.base import StepScreen
from wizard.errors import InputError
from wizard.target.envfile import STYLES, EnvPlan, EnvRequest, EnvResult, add_to_gitignore, plan_env, write_env


class EnvFileScreen(StepScreen):
    STEP = "envfile"
    AUTO_FOCUS = "#style"
    BINDINGS = [Binding("ctrl+t", "press('#write')", "Write .env")]
    HEADING = "5. .env: the app's connection settings"
    HELP = ("Writes DATABASE_URL (style url), PG_HOST/PG_PORT/PG_USER/PG_DATABASE_*/ENVIRONMENT (pg-vars), or both "
            "into the .env file, merging with what is there: other keys and comments stay, the old file is kept as "
            ".env.bak-…. The password stays in the OS keyring unless you tick 'write the password'; the file is "
            "then readable by you only. Preview shows the diff first. This step is optional: Next skips it.")

    def body(self) -> Iterable[Widget]:
        with Horizontal(classes="row"):
            yield Label("Style", classes="field-label")
            yield Select([(s, s) for s in STYLES], value="url", allow_blank=False, id="style", classes="short",
                         compact=True)
            yield Label("File", classes="field-label")
            yield Input(".env", id="env-path", compact=True)
        yield Checkbox("Write the password into the file (otherwise it stays in the OS keyring)", id="inline",
                       compact=True)
        with Horizontal(classes="row"):
            yield Button("Preview", id="preview", compact=True)
            yield Button("Write", id="write", variant="primary", compact=True)
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
        style = self.query_one("#style", Select).value
        self.state.env_style = style if isinstance(style, str) else "url"
        self.state.env_path = self.query_one("#env-path", Input).value.strip() or ".env"
        envs = list(self.state.databases) if self.state.databases else None
        return EnvRequest(Path(self.state.env_path), spec, self.state.env_style,
                          self.query_one("#inline", Checkbox).value, envs)

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

    def _written(self, result: EnvResult) -> None:
        self.state.written[".env"] = str(result.path)
        self.state.save()
        backup = f" (previous file kept as {result.backup})" if result.backup else ""
        self.succeeded(f"✓ Wrote {result.path}{backup}.")

    @on(Button.Pressed, "#gitignore")
    def gitignore(self) -> None:
        path = Path(self.query_one("#env-path", Input).value.strip() or ".env")

        def done(gi: Path) -> None:
            self.query_one("#gitignore", Button).disabled = True
            self.query_one("#gitignore-note", Static).update(f"✓ Added to {gi}.")

        self.in_thread(lambda: add_to_gitignore(path), done, busy="updating .gitignore…", group="envfile")
