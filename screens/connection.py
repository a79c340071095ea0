"""Step 2: the PostgreSQL server: the built-in one, or fields / a pasted URL; tested before going on."""

from __future__ import annotations

from collections.abc import Iterable

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Input, Label, RadioSet, Select, Static

from screens.base import StepScreen
from screens.widgets import MarkedCheckbox, MarkedRadioButton
from wizard.errors import InputError, WizardError
from wizard.target.connection import ConnectionSpec, parse_dsn
from wizard.target.credentials import keyring_status, load_password, save_password
from wizard.target.server_check import ServerInfo, test_connection

SSLMODES = ["disable", "prefer", "require", "verify-full"]


class ConnectionScreen(StepScreen):
    STEP = "connection"
    AUTO_FOCUS = "#url"  # typing starts in the URL field: Enter on the choice above would switch servers
    BINDINGS = [Binding("ctrl+t", "press('#test')", "Test connection"),
                Binding("ctrl+l", "use_local", "Built-in server")]
    HEADING = "2. Connection: where PostgreSQL is"
    HELP = ("Choose the built-in PostgreSQL (nothing to install: the tool runs a server for you on 127.0.0.1, its "
            "data in your user folder) or your own server. Paste a URL (postgresql://user@host:5432/db) to fill "
            "the fields, or type them. The password is masked and, if you tick the box, kept in the OS keyring.\n\n"
            "Test connection shows the server version and your rights, or what went wrong and what to do.")

    def body(self) -> Iterable[Widget]:
        with RadioSet(id="kind", compact=True):
            yield MarkedRadioButton("Built-in PostgreSQL (no setup)", id="kind-local", compact=True)
            yield MarkedRadioButton("My PostgreSQL server", id="kind-own", value=True, compact=True)
        yield Input(placeholder="paste a URL: postgresql://user@host:5432/dbname", id="url", compact=True)
        with Horizontal(classes="row"):
            yield Label("Host", classes="field-label")
            yield Input("localhost", id="host", compact=True)
            yield Label("Port", classes="field-label")
            yield Input("5432", id="port", type="integer", classes="short", compact=True)
        with Horizontal(classes="row"):
            yield Label("User", classes="field-label")
            yield Input("postgres", id="user", compact=True)
            yield Label("Database", classes="field-label")
            yield Input("postgres", id="dbname", compact=True)
        with Horizontal(classes="row"):
            yield Label("Password", classes="field-label")
            yield Input(password=True, id="password", placeholder="optional",
                        compact=True)
            yield Label("SSL", classes="field-label")
            yield Select([(m, m) for m in SSLMODES], value="prefer", allow_blank=False, id="sslmode",
                         classes="short", compact=True)
        status = keyring_status()
        yield MarkedCheckbox("Remember the password in the OS keyring", value=status.usable, id="remember",
                       disabled=not status.usable, compact=True)
        yield Static(status.explanation, id="keyring", markup=False)
        yield Button("Test connection", id="test", variant="primary", compact=True)
        yield Static("", id="server", markup=False)

    def on_mount(self) -> None:
        s = self.state.server
        if s is not None:
            self._fill(s)
        if self.state.local:
            self.query_one("#kind-local", MarkedRadioButton).value = True

    def action_use_local(self) -> None:
        self.query_one("#kind-local", MarkedRadioButton).value = True
        self.query_one("#test", Button).press()

    def _fill(self, s: ConnectionSpec) -> None:
        self.query_one("#host", Input).value = s.host
        self.query_one("#port", Input).value = str(s.port)
        self.query_one("#user", Input).value = s.user
        self.query_one("#dbname", Input).value = s.dbname
        self.query_one("#sslmode", Select).value = s.sslmode if s.sslmode in SSLMODES else "prefer"
        if s.password:
            self.query_one("#password", Input).value = s.password

    @on(Input.Changed, "#url")
    def url_pasted(self, event: Input.Changed) -> None:
        if "://" not in event.value and "=" not in event.value:
            return
        try:
            spec = parse_dsn(event.value)
        except WizardError:
            return  # still typing
        self._take(spec)

    def _take(self, spec: ConnectionSpec) -> None:
        """A URL's server: in the fields, and chosen over the built-in one."""
        self._fill(spec)
        self.query_one("#kind-own", MarkedRadioButton).value = True

    @on(Input.Submitted, "#url")
    @on(Input.Blurred, "#url")
    def url_done(self, event: Input.Submitted | Input.Blurred) -> None:
        """Once the URL is entered (not while it is typed), its password, now in the masked field, leaves the
        screen: the URL field keeps the rest."""
        try:
            spec = parse_dsn(event.value)
        except WizardError:
            return
        if spec.password:
            event.input.value = spec.with_password(None).url()

    @on(Input.Submitted, "#host")
    @on(Input.Blurred, "#host")
    def host_done(self) -> None:
        try:
            self._url_in_host()
        except WizardError as exc:
            self.failed(exc)

    def _url_in_host(self) -> None:
        """A URL pasted into the Host field (not the URL field) is read like one there: its parts fill the fields
        and its password the masked one, so none of it is sent as a host name or shown in an error."""
        host = self.query_one("#host", Input)
        if "://" not in host.value:
            return
        try:
            spec = parse_dsn(host.value.strip())
        except WizardError:
            raise InputError("The Host field holds a URL that could not be read.", title="Bad host",
                             hint="Paste it into the URL field above, or type the host name alone.") from None
        self._take(spec)
        self.query_one("#url", Input).value = spec.with_password(None).url()

    def _spec(self) -> ConnectionSpec:
        self._url_in_host()
        port_text = self.query_one("#port", Input).value.strip()
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InputError(f"Port '{port_text}' is not a port number.", title="Bad port",
                             hint="Use a number between 1 and 65535 (PostgreSQL's default is 5432).")
        sslmode = self.query_one("#sslmode", Select).value
        spec = ConnectionSpec(self.query_one("#host", Input).value.strip() or "localhost", int(port_text),
                              self.query_one("#user", Input).value.strip() or "postgres",
                              self.query_one("#dbname", Input).value.strip() or "postgres",
                              sslmode if isinstance(sslmode, str) else "prefer")
        password = self.query_one("#password", Input).value
        if password:
            return spec.with_password(password)
        from wizard.target.credentials import resolve_password

        return resolve_password(spec)

    @on(Button.Pressed, "#test")
    def test(self) -> None:
        local = self.query_one("#kind-local", MarkedRadioButton).value
        try:
            spec = None if local else self._spec()
        except WizardError as exc:
            self.failed(exc)
            return
        remember = self.query_one("#remember", MarkedCheckbox).value
        self.query_one("#server", Static).update("")  # the last test's server is not this one
        def work() -> tuple[ConnectionSpec, ServerInfo, str | None]:
            if spec is None:
                from wizard.target.local_server import start_local_server

                server = start_local_server()
                found = server.spec("postgres")
                return found, test_connection(found), None
            info = test_connection(spec)
            note = None
            if remember and spec.password and spec.password != load_password(spec.with_password(None)):
                note = save_password(spec.with_password(None), spec.password).explanation
            return spec, info, note

        self.in_thread(work, self._tested, busy="connecting…", group="connection")

    def _tested(self, result: tuple[ConnectionSpec, ServerInfo, str | None]) -> None:
        spec, info, note = result
        old = self.state.server
        if old is not None and old.with_password(None) != spec.with_password(None):
            self.state.changed("connection")  # another server or account: databases, .env and copy are redone
            self.state.databases = {}
        self.state.server = spec
        self.state.local = self.query_one("#kind-local", MarkedRadioButton).value
        if self.state.local:
            self._fill(spec)
        rights = ", ".join(f"{name}: {'yes' if flag else 'no'}" for name, flag in
                           (("superuser", info.superuser), ("CREATEDB", info.createdb),
                            ("CREATEROLE", info.createrole)))
        version = info.version.split(" on ")[0]
        where = f"{spec.user}@{spec.host}:{spec.port}/{spec.dbname}, SSL {spec.sslmode}"  # no URL to wrap mid-word
        self.query_one("#server", Static).update(f"{version} as {info.user} ({rights})\n{where}")
        self.state.save()
        self.succeeded("✓ Connected." + (f" {note}" if note else "") + " Press Next (Ctrl+N).")

    def failed(self, exc: BaseException) -> None:
        super().failed(exc)
        if getattr(exc, "kind", "") in ("refused", "unknown_host", "timeout"):
            self.message.update(str(self.message.content) + "\n  No server yet? Ctrl+L uses the built-in PostgreSQL.")

    def can_leave(self) -> str | None:
        if self.working:
            return "Wait: the connection is being tested."
        if self.state.status.get(self.STEP) == "failed":
            return "The last test failed (see above): fix the settings and Test connection again (Ctrl+T)."
        return None if self.state.server is not None else "Test the connection first."
