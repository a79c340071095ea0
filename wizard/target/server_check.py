"""Test a PostgreSQL connection: server version and rights, or a classified error with a next step."""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg2

from wizard.errors import InputError
from wizard.target.connection import ConnectionSpec, connect


@dataclass(frozen=True)
class ServerInfo:
    """What a successful connection test learned about the server and our role on it."""

    version: str
    version_num: int
    user: str
    superuser: bool
    createdb: bool
    createrole: bool


class ConnectFailed(InputError):
    """A connection attempt failed; `kind` says which of the known causes it was."""

    def __init__(self, kind: str, message: str, hint: str) -> None:
        super().__init__(message, title="Connection failed", hint=hint)
        self.kind = kind


# (kind, regular expressions searched in libpq's message, explanation, next step). First match wins.
_RULES: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("password", ("password authentication failed", "no password supplied", "password is required"),
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


def test_connection(spec: ConnectionSpec) -> ServerInfo:
    """Connect once and report the server version and our rights; raises ConnectFailed with a next step."""
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT version(), current_setting('server_version_num')::int, current_user,"
                " rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
            )
            row = cur.fetchone()
    except psycopg2.Error as exc:
        raise classify_connect_error(exc, spec) from None
    finally:
        conn.close()
    assert row is not None
    return ServerInfo(version=row[0], version_num=row[1], user=row[2], superuser=row[3], createdb=row[4],
                      createrole=row[5])


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name
