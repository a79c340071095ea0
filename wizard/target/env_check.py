"""Whether the app can connect with what its `.env` holds: read the file with python-dotenv as the app does, and
connect with psycopg2 using only that (no keyring, no PGPASSWORD), so libpq finds a password only where the
unchanged app's driver would: in the URL, in PG_PASSWORD, or in the libpq password file."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
from dotenv import dotenv_values

from wizard.errors import InputError
from wizard.target.pgpass import password_file


@dataclass(frozen=True)
class EnvCheck:
    ok: bool
    setting: str  # what was used: DATABASE_URL, or the PG_* variables
    target: str  # where it connected (no password)
    password_from: str  # "DATABASE_URL", "PG_PASSWORD", "the password file …", or "none"
    message: str

    def render(self) -> str:
        mark = "✓" if self.ok else "✗"
        return f"{mark} {self.message}\n"


@contextlib.contextmanager
def _without_pgpassword() -> Iterator[None]:
    """The app's process has no PGPASSWORD of ours: hide the one this shell may hold while connecting."""
    saved = os.environ.pop("PGPASSWORD", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PGPASSWORD"] = saved


def _settings(path: Path, env: str | None) -> tuple[str, dict[str, Any]]:
    """The connection parameters the app reads from the file: DATABASE_URL first, else the PG_* variables."""
    if not path.is_file():
        raise InputError(f"There is no .env file at {path}.", title="No .env file",
                         hint="Write one with 'pgmigrate-wizard env-file --target DSN', or pass --path.")
    values = {k: v for k, v in dotenv_values(path).items() if v is not None}
    url = values.get("DATABASE_URL")
    if url:
        # SQLAlchemy's form (postgresql+psycopg2://) names a driver; libpq reads the URL without it
        return "DATABASE_URL", {"dsn": re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", url)}
    env = env or values.get("ENVIRONMENT") or "dev"
    dbname = values.get(f"PG_DATABASE_{env.upper()}")
    if values.get("PG_HOST") and dbname:
        params = {"host": values["PG_HOST"], "port": values.get("PG_PORT", "5432"), "dbname": dbname,
                  "user": values.get("PG_USER", ""), "sslmode": values.get("PG_SSLMODE", "prefer")}
        if values.get("PG_PASSWORD"):
            params["password"] = values["PG_PASSWORD"]
        return f"PG_HOST/PG_PORT/PG_USER/PG_DATABASE_{env.upper()}", params
    raise InputError(f"{path} holds no DATABASE_URL and no PG_HOST with PG_DATABASE_{env.upper()}.",
                     title="No connection settings",
                     hint="Write them with 'pgmigrate-wizard env-file --target DSN --path FILE'.")


def check_env(path: Path, env: str | None = None) -> EnvCheck:
    """Connect as the app would with the settings in `path` (`env` picks PG_DATABASE_<ENV>; default ENVIRONMENT)."""
    setting, params = _settings(path, env)
    dsn = params.pop("dsn", "")
    try:
        parsed = psycopg2.extensions.parse_dsn(dsn) if dsn else dict(params)
    except psycopg2.ProgrammingError as exc:
        return EnvCheck(False, setting, "?", "none", f"DATABASE_URL in {path} is not a valid URL: {exc}".strip())
    shown = f"{parsed.get('user', '')}@{parsed.get('host', 'localhost')}:{parsed.get('port', '5432')}/" \
            f"{parsed.get('dbname', '')}"
    # libpq's own default, named explicitly so that a simulated platform's location is the one read as well
    pgpass = Path(parsed["passfile"]) if parsed.get("passfile") else password_file()
    params.setdefault("passfile", str(pgpass))
    if parsed.get("password"):
        source = "DATABASE_URL" if dsn else "PG_PASSWORD"
    else:
        source = f"the password file {pgpass}" if pgpass.is_file() else "none"
    try:
        with _without_pgpassword():
            conn = psycopg2.connect(dsn or None, **{**params, "connect_timeout": 10})
    except psycopg2.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if parsed.get("password"):
            reason = reason.replace(str(parsed["password"]), "***")
        hint = ("no password was found: write one with 'env-file --target DSN --password-file' (or "
                "--inline-password)" if source == "none" and "password" in reason.lower() else
                "check the server runs and the settings are right, then write the file again")
        return EnvCheck(False, setting, shown, source,
                        f"The app cannot connect with {setting} from {path} ({shown}, password from {source}): "
                        f"{reason}. Next: {hint}.")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database(), current_setting('server_version')")
            user, db, version = cur.fetchone()
    finally:
        conn.close()
    return EnvCheck(True, setting, shown, source,
                    f"The app can connect with {setting} from {path}: {user} on database {db} (PostgreSQL "
                    f"{version}), password from {source}. No keyring and no PGPASSWORD were used.")
