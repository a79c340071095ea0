"""Connection settings: parse a pasted URL or fields into one typed spec, mask it, and connect with it; a failed
connection is classified by its cause (wrong password, no such database, nothing listening...) with a next step."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import psycopg2
import psycopg2.extensions

from wizard.errors import InputError
from wizard.target import watchdog
from wizard.target.stall_time import stall_seconds

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_SCHEME = re.compile(r"^(postgres(?:ql)?)(\+[A-Za-z0-9_]+)?://", re.IGNORECASE)
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class ConnectionSpec:
    """Where a PostgreSQL server is and who we are there. The password never shows in repr or str."""

    host: str = "localhost"
    port: int = 5432
    user: str = "postgres"
    dbname: str = "postgres"
    sslmode: str = "prefer"
    password: str | None = field(default=None, repr=False, compare=False)

    def with_password(self, password: str | None) -> ConnectionSpec:
        return dataclasses.replace(self, password=password)

    def with_dbname(self, dbname: str) -> ConnectionSpec:
        return dataclasses.replace(self, dbname=dbname)

    @property
    def is_socket(self) -> bool:
        """True when host names a Unix-socket directory rather than a network host."""
        return self.host.startswith("/")

    @property
    def account(self) -> str:
        """The keyring account name: `user@host:port` (host lower-cased so it matches however typed)."""
        return f"{self.user}@{self.host.lower()}:{self.port}"

    def url(self, *, password: str | None = None, mask: bool = True) -> str:
        """A libpq URL. With mask=True (the default) a password shows as `***`, so it is safe to print."""
        pw = password if password is not None else self.password
        auth = quote(self.user, safe="")
        if pw:
            auth += ":" + ("***" if mask else quote(pw, safe=""))
        query = []
        if self.is_socket:
            query.append("host=" + quote(self.host, safe="/"))
            netloc = f"{auth}@:{self.port}" if auth else f":{self.port}"
        else:
            host = f"[{self.host}]" if ":" in self.host else self.host
            netloc = f"{auth}@{host}:{self.port}"
        if self.sslmode != "prefer":
            query.append(f"sslmode={self.sslmode}")
        tail = ("?" + "&".join(query)) if query else ""
        return f"postgresql://{netloc}/{quote(self.dbname, safe='')}{tail}"

    def __str__(self) -> str:
        return self.url(mask=True)

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for psycopg2.connect; the password travels as its own argument, never in a URL."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.dbname,
            "sslmode": self.sslmode,
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "pgmigrate-wizard",
        }
        if self.password is not None:
            kwargs["password"] = self.password
        return kwargs


def parse_dsn(text: str) -> ConnectionSpec:
    """Parse a `postgresql://`, `postgres://` or SQLAlchemy `postgresql+driver://` URL (or a libpq key=value string)."""
    raw = text.strip()
    if not raw:
        raise InputError("The connection string is empty.", title="Bad connection string",
                         hint="Give a URL like postgresql://user@localhost:5432/dbname.")
    match = _SCHEME.match(raw)
    if match:
        raw = "postgresql://" + raw[match.end():]
    elif "://" in raw:
        scheme = raw.split("://", 1)[0]
        raise InputError(f"'{scheme}://' is not a PostgreSQL URL.", title="Bad connection string",
                         hint="Use postgresql://user@host:port/dbname "
                              "(postgres:// and postgresql+psycopg2:// work too).")
    elif "=" not in raw:
        raise InputError("The connection string is neither a URL nor key=value pairs.", title="Bad connection string",
                         hint="Use postgresql://user@host:port/dbname.")
    try:
        parts = psycopg2.extensions.parse_dsn(raw)
    except psycopg2.ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "it could not be parsed"
        raise InputError(f"The connection string is malformed: {_scrub(reason, raw)}.", title="Bad connection string",
                         hint="Check it looks like postgresql://user@host:port/dbname; "
                              "percent-encode special characters in user names.") from None
    port_text = parts.get("port", "5432")
    try:
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        raise InputError(f"The port '{port_text}' is not a number from 1 to 65535.", title="Bad connection string",
                         hint="The port goes after the host, e.g. localhost:5432.") from None
    sslmode = parts.get("sslmode", "prefer")
    if sslmode not in SSL_MODES:
        raise InputError(f"sslmode '{sslmode}' is unknown.", title="Bad connection string",
                         hint="Use one of: " + ", ".join(SSL_MODES) + ".")
    user = parts.get("user") or os.environ.get("PGUSER") or _default_user()
    return ConnectionSpec(
        host=parts.get("host") or "localhost",
        port=port,
        user=user,
        dbname=parts.get("dbname") or user,
        sslmode=sslmode,
        password=parts.get("password") or None,
    )


def _default_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name on this platform: fall back to PostgreSQL's usual superuser
        return "postgres"


def _scrub(message: str, raw: str) -> str:
    """Remove anything that might be a password from a libpq parser message."""
    try:
        pw = psycopg2.extensions.parse_dsn(raw).get("password")
    except psycopg2.ProgrammingError:
        pw = None
    return message.replace(pw, "***") if pw else message


def connect(spec: ConnectionSpec, **extra: Any) -> psycopg2.extensions.connection:
    """Open a connection, watched for a stalled network (target.watchdog); a failure is raised as ConnectFailed,
    classified by its cause."""
    kwargs = {**spec.connect_kwargs(), **watchdog.tcp_options(), **extra}
    # a server that does not answer within the stall time will not: the same limit as for a call in progress
    kwargs["connect_timeout"] = max(2, int(min(kwargs["connect_timeout"], stall_seconds())))
    try:
        conn: watchdog.WatchedConnection = psycopg2.connect(connection_factory=watchdog.WatchedConnection, **kwargs)
    except psycopg2.OperationalError as exc:
        raise classify_connect_error(exc, spec) from None
    conn.connect_kwargs = kwargs
    conn.backend_pid = conn.get_backend_pid()
    return conn


class ConnectFailed(InputError):
    """A connection attempt failed; `kind` says which of the known causes it was."""

    def __init__(self, kind: str, message: str, hint: str) -> None:
        super().__init__(message, title="Connection failed", hint=hint, ui_hint=_UI_HINTS.get(kind, ""))
        self.kind = kind


# The next step as the wizard says it, where the command line's differs.
_UI_HINTS = {
    "refused": "Is PostgreSQL running, and on this port? Start it (or choose the built-in PostgreSQL in step 2), "
               "then retry.",
    "no_password": "Type the password when the wizard asks for it, or in step 2.",
    "password": "Check the password (and the user), then Test connection again.",
}


# (kind, regular expressions searched in libpq's message, explanation, next step). First match wins.
_RULES: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("no_password", ("no password supplied", "password is required"),
     "The server needs a password for user '{user}', and none was given.",
     "Give it (PGPASSWORD, the OS keyring, the password file, or the prompt) and try again."),
    ("password", ("password authentication failed",),
     "The server rejected the password for user '{user}'.",
     "Check the password (PGPASSWORD, the OS keyring or the prompt) and try again."),
    ("no_role", (r'role "[^"]*" does not exist',),
     "User '{user}' does not exist on {where}.",
     "Use an existing user, or ask an administrator to create it."),
    ("no_database", (r'database "[^"]*" does not exist',),
     "Database '{dbname}' does not exist on {where}.",
     "Connect to an existing database (e.g. 'postgres') or create it first."),
    ("ssl_required", ("no pg_hba.conf entry", "ssl off", "SSL required", "requires SSL", "no encryption"),
     "The server does not accept this connection as configured (it may require SSL, or not allow this user/host).",
     "Try sslmode=require, or ask the administrator to allow this host in pg_hba.conf."),
    ("ssl_unsupported", ("server does not support SSL",),
     "The server does not support SSL but sslmode asks for it.",
     "Use sslmode=prefer or sslmode=disable for this server."),
    ("too_many", ("too many connections", "remaining connection slots are reserved"),
     "The server has no free connection slots.",
     "Close other connections or wait, then retry; the administrator can raise max_connections."),
    ("unknown_host", ("could not translate host name", "Name or service not known", "nodename nor servname"),
     "The host name '{host}' could not be found.",
     "Check the spelling of the host, or use an IP address."),
    ("timeout", ("timeout expired", "timed out"),
     "The server at {where} did not answer in time.",
     "Check the host and port, a firewall, or a VPN; then retry."),
    ("refused", ("Connection refused", "No such file or directory", "could not connect to server",
                 "connection to server on socket"),
     "Nothing is listening at {where}.",
     "Is PostgreSQL running, and on this port? Start it (or use --target local for a built-in server), then retry."),
)


def classify_connect_error(exc: BaseException, spec: ConnectionSpec) -> ConnectFailed:
    text = str(exc)  # classified as libpq wrote it; masked only where shown (a short password could match anywhere)
    where = f"{spec.host}:{spec.port}" if not spec.is_socket else f"socket {spec.host} (port {spec.port})"
    for kind, needles, message, hint in _RULES:
        if any(re.search(n, text, re.IGNORECASE) for n in needles):
            return ConnectFailed(kind, message.format(user=spec.user, dbname=spec.dbname, host=spec.host,
                                                      where=where), hint)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if spec.password:
        first = first.replace(spec.password, "***")
    return ConnectFailed("other", f"Could not connect to {where}: {first}",
                         "Check the connection settings and that the server is running.")
