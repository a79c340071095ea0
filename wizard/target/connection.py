"""Connection settings: parse a pasted URL or fields into one typed spec, mask it, and connect with it."""

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
    """Open a connection; failures are classified into a WizardError by `wizard.server_check`."""
    from wizard.target.server_check import classify_connect_error

    try:
        conn: psycopg2.extensions.connection = psycopg2.connect(**{**spec.connect_kwargs(), **extra})
        return conn
    except psycopg2.OperationalError as exc:
        raise classify_connect_error(exc, spec) from None
