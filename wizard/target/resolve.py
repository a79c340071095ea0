"""Turn a --target/--server argument into a connection spec with its password resolved."""

from __future__ import annotations

import re
from pathlib import Path

from wizard.target.connection import ConnectionSpec, connect, parse_dsn
from wizard.target.credentials import resolve_password


def resolve_target(text: str, *, default_db: str | None = None, create: bool = True) -> ConnectionSpec:
    """`local[/DBNAME]` starts the built-in server (creating DBNAME when `create`: a command that only reads, like
    verify, must not make the database it was asked to check); anything else is a DSN."""
    if text == "local" or text.startswith("local/"):
        from wizard.target.local_server import start_local_server

        server = start_local_server()
        dbname = text.partition("/")[2] or default_db or "app"
        spec = server.spec(dbname)
        if create:
            ensure_database(server.spec("postgres"), dbname)
        return spec
    return resolve_password(parse_dsn(text))


def database_name_for(sqlite_file: Path | str) -> str:
    stem = re.sub(r"[^a-z0-9_]+", "_", Path(sqlite_file).stem.lower()).strip("_")
    return stem or "app"


def ensure_database(admin: ConnectionSpec, dbname: str) -> bool:
    """Create the database when missing (UTF8 from template0). Returns True when it was created."""
    from psycopg2 import sql

    conn = connect(admin)
    conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(dbname)))
            return True
    finally:
        conn.close()
