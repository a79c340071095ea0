"""Test a PostgreSQL connection: server version and rights, or a classified error with a next step."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2

from wizard.target.connection import ConnectionSpec, classify_connect_error, connect


@dataclass(frozen=True)
class ServerInfo:
    """What a successful connection test learned about the server and our role on it."""

    version: str
    version_num: int
    user: str
    superuser: bool
    createdb: bool
    createrole: bool


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
