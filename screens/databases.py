"""Step 3: one database per environment and, optionally, an application role; SQL preview, then create."""

from __future__ import annotations

from collections.abc import Iterable

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from screens.base import StepScreen
from screens.widgets import ConfirmNameModal
from wizard.errors import InputError
from wizard.target.databases import DatabasePlan, DatabaseRequest, DatabaseResult, create_databases, plan_databases

_MAINTENANCE = ("postgres", "template0", "template1")  # a server's own databases, never an app's


class DatabasesScreen(StepScreen):
    STEP = "databases"
    AUTO_FOCUS = "#base"
    BINDINGS = [Binding("ctrl+r", "press('#preview')", "Preview SQL"),
                Binding("ctrl+t", "press('#create')", "Create")]
    HEADING = "3. Databases: one per environment, and an app role"
    HELP = ("Give a base name and the environments: the databases are NAME_dev, NAME_test, ... (UTF8). An app "
            "role (optional) gets a generated password kept in the OS keyring and owns the databases, so the app "
            "can create tables. Preview shows the SQL; Create runs it. Existing databases and roles are reused; a "
            "database that already holds tables is only dropped if you type its name.\n\n"
            "No right to create databases? Skip this step with Next: the data then goes to the database of the "
            "connection.")

    def body(self) -> Iterable[Widget]:
        with Horizontal(classes="row"):
            yield Label("Base name", classes="field-label")
            yield Input(id="base", compact=True)
            yield Label("Environments", classes="field-label")
            yield Input("dev,test,prod", id="envs", compact=True)
        with Horizontal(classes="row"):
            yield Label("App role", classes="field-label")
            yield Input(placeholder="optional", id="role", compact=True)
            yield Label("Its password", classes="field-label")
            yield Input(placeholder="(generate)", password=True, id="role-password",
                        compact=True)
        with Horizontal(classes="row"):
            yield Button("Preview SQL", id="preview", compact=True)
            yield Button("Create", id="create", variant="primary", compact=True)
        yield Static("", id="sql", markup=False)
        yield Static("", id="result", markup=False)

    def refresh_step(self) -> None:
        base = self.query_one("#base", Input)
        if not base.value:
            base.value = self.state.base_name
        self.query_one("#envs", Input).value = ",".join(self.state.envs)
        if self.state.app_role:
            self.query_one("#role", Input).value = self.state.app_role
        if self.state.databases:
            self._show_databases()

    def _request(self) -> DatabaseRequest:
        base = self.query_one("#base", Input).value.strip()
        envs = [e.strip() for e in self.query_one("#envs", Input).value.split(",") if e.strip()]
        if not base or not envs:
            raise InputError("Give a base name and at least one environment.", title="Missing names",
                             hint="For example: shop and dev,test,prod.")
        role = self.query_one("#role", Input).value.strip() or None
        password = self.query_one("#role-password", Input).value or None
        self.state.base_name, self.state.envs, self.state.app_role = base, envs, role or ""
        return DatabaseRequest(base, envs, app_role=role, role_password=password)

    def _plan(self, then: str) -> None:
        server = self.state.server
        if server is None:
            self.message.info("▶ Test a connection first (step 2).")
            return
        try:
            request = self._request()
        except InputError as exc:
            self.failed(exc)
            return
        self.in_thread(lambda: plan_databases(server, request),
                       lambda plan: self._planned(plan, then), busy="looking at the server…", group="databases")

    @on(Button.Pressed, "#preview")
    def preview(self) -> None:
        self.with_password(lambda: self._plan("preview"), "look at the server")

    @on(Button.Pressed, "#create")
    def create(self) -> None:
        self.with_password(lambda: self._plan("create"), "create the databases")

    def _planned(self, plan: DatabasePlan, then: str) -> None:
        states = [f"{st.env}: {st.name} — " + ("to create" if not st.exists else
                  f"exists, {st.tables} table(s)" if st.non_empty else "exists, empty") for st in plan.databases]
        self.query_one("#sql", Static).update("\n".join(states) + "\n\n" + plan.preview_sql())
        if then == "preview":
            self.message.info("SQL shown above; press Create to run it.")
            return
        self._confirm_drops(plan, [st for st in plan.databases if st.non_empty], {})

    def _confirm_drops(self, plan: DatabasePlan, pending: list, confirmed: dict[str, str]) -> None:  # type: ignore[type-arg]
        if not pending:
            self._run(plan, confirmed)
            return
        st = pending[0]

        def answered(drop: bool | None) -> None:
            if drop:
                confirmed[st.name] = st.name
            self._confirm_drops(plan, pending[1:], confirmed)

        self.app.push_screen(ConfirmNameModal(st.name, st.tables), answered)

    def _run(self, plan: DatabasePlan, confirmed: dict[str, str]) -> None:
        server = self.state.server
        assert server is not None
        self.in_thread(lambda: create_databases(server, plan, drop_confirmed=confirmed),
                       lambda result: self._created(plan, result), busy="creating…", group="databases")

    def _created(self, plan: DatabasePlan, result: DatabaseResult) -> None:
        created = {st.env: st.name for st in plan.databases}
        if created != self.state.databases:
            self.state.changed("databases")
        self.state.databases = created
        self.state.status["databases"] = "done"
        self.query_one("#sql", Static).update(
            "\n".join(f"{st.env}: {st.name} — " + ("dropped and created empty" if st.name in result.dropped
                                                     else "created" if st.name in result.created else "exists")
                      for st in plan.databases) + "\n\n" + plan.preview_sql())
        if self.state.target_env not in self.state.databases:
            self.state.target_env = plan.databases[0].env
        if result.role_created:
            self.state.app_password = plan.role_password
        self.state.save()
        self._show_databases()
        parts = [f"created: {', '.join(result.created) or 'none'}", f"reused: {', '.join(result.reused) or 'none'}"]
        if result.dropped:
            parts.append(f"dropped and recreated: {', '.join(result.dropped)}")
        note = f" Role {result.role}: {result.password_storage.explanation}" if result.password_storage else ""
        self.succeeded("✓ " + "; ".join(parts) + "." + note)

    def leaving_state(self) -> str:
        return "done" if self.state.databases else "skipped"

    def can_leave(self) -> str | None:
        server = self.state.server
        if self.state.databases or server is None:
            return None
        if server.dbname in _MAINTENANCE:
            return (f"Without databases of its own the data would go into {server.dbname}, the server's "
                    "maintenance database: press Create (Ctrl+T), or connect to the app's database in step 2.")
        return None

    def _show_databases(self) -> None:
        self.query_one("#result", Static).update(
            "Databases: " + ", ".join(f"{env} → {name}" for env, name in self.state.databases.items()))
