"""The Windows and macOS paths that this machine cannot run natively, each test run under every simulated platform
(PGMIGRATE_SIMULATE_PLATFORM, see wizard/platforms): the built-in server over TCP only where there are no Unix
sockets, a data folder with spaces (macOS's "Application Support"), spawned worker processes, paths with spaces,
backslashes and URL characters, the password file's location, and a keyring that prompts or refuses."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.errors
import psycopg2
import pytest
from psycopg2 import sql

from wizard.platforms import SIMULATE_ENV, current_platform, unix_sockets
from wizard.target.connection import ConnectionSpec

PLATFORMS = ["linux", "darwin", "win32"]


@pytest.fixture(params=PLATFORMS)
def simulated(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(SIMULATE_ENV, request.param)
    assert current_platform() == request.param
    return str(request.param)


def _small_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, at DATETIME)")
    conn.executemany("INSERT INTO notes VALUES (?, ?, ?)",
                     [(i, f"note {i} \\ back:slash", f"2024-01-{i % 28 + 1:02d} 10:00:00") for i in range(1, 301)])
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def server_home() -> Iterator[Path]:
    # a short path (Unix socket paths are limited to ~100 bytes), outside $HOME (as root the server runs as another
    # user, which must reach it), with a space in it as macOS's Application Support has
    base = Path(tempfile.mkdtemp(prefix="pgmw plat-"))
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_builtin_server_per_platform(simulated: str, server_home: Path) -> None:
    """On Windows the built-in server has no Unix socket: everything goes over TCP with its password. Elsewhere its
    socket lives in its data folder, also when that folder's path has spaces."""
    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate
    from wizard.plan.planner import build_plan
    from wizard.target.local_server import start_local_server, stop_local_server

    pgdata = server_home / "Application Support" / "local-pg"
    server = start_local_server(pgdata)
    try:
        sockets = list(pgdata.glob(".s.PGSQL.*"))
        conn = psycopg2.connect(**server.socket_spec().connect_kwargs())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SHOW unix_socket_directories")
            directories = cur.fetchone()[0]
            cur.execute("SELECT inet_server_addr() IS NOT NULL")  # NULL over a Unix socket
            over_tcp = cur.fetchone()[0]
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("plat_app")))
        conn.close()
        if simulated == "win32":
            assert not unix_sockets() and server.socket_dir is None
            assert sockets == [] and directories == "" and over_tcp
        else:
            assert server.socket_dir == pgdata and sockets and directories == str(pgdata) and not over_tcp
        db = _small_db(server_home / "src" / "app.db")
        result = migrate(build_plan(db), server.spec("plat_app"), CopyOptions(jobs=1))
        assert sum(t.rows for t in result.tables) == 300
    finally:
        stop_local_server(pgdata, mode="immediate")


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wizard", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=180, check=False)


def test_paths_with_spaces_backslashes_and_url_characters(simulated: str, tmp_path: Path,
                                                          pg_db: ConnectionSpec) -> None:
    """The source, its snapshot, the .env and the password file in folders whose names Windows and macOS users
    have: spaces, a backslash (a plain character here), '#', '%' and non-ASCII; migrate, verify and env-file with
    the simulated platform's password file location."""
    folder = tmp_path / "My Projects" / "shop\\app #1 (100% Zoë)"
    db = _small_db(folder / "app data.db")
    home = tmp_path / "home dir"
    appdata = tmp_path / "App Data\\Roaming"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({SIMULATE_ENV: simulated, "HOME": str(home), "APPDATA": str(appdata),
                "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    tool = {**env, "PGPASSWORD": pg_db.password or ""}
    url = pg_db.with_password(None).url(mask=False)
    for args in (["migrate", str(db), "--target", url, "--jobs", "2"], ["verify", str(db), "--target", url]):
        done = _cli(args, tool, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    snapshots = list(folder.glob("app data.db.pgmigrate-backup-*.sqlite"))
    assert len(snapshots) == 1 and str(snapshots[0]) in done.stdout  # verify read the snapshot
    dotenv = folder / ".env"
    done = _cli(["env-file", "--target", url, "--path", str(dotenv), "--password-file", "--check"], tool, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = appdata / "postgresql" / "pgpass.conf" if simulated == "win32" else home / ".pgpass"
    assert expected.is_file() and f"password file {expected}" in done.stderr
    # the app's side, with only what the .env and the password file give it
    done = _cli(["env-file", "--check", "--path", str(dotenv)], env, tmp_path)
    assert done.returncode == 0 and "✓ The app can connect" in done.stdout, done.stdout + done.stderr


def _report_start_method(job: int, link: object) -> tuple[str | None, str]:
    import multiprocessing

    return multiprocessing.get_start_method(allow_none=True), MARK


MARK = "as imported"


def test_workers_are_spawned_on_every_platform(simulated: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows and macOS can only spawn worker processes (a fresh interpreter importing the job's module); Linux
    uses the same, so what works here works there: a worker does not see the parent's changes to a module."""
    from wizard.workers import run_jobs

    monkeypatch.setattr(sys.modules[__name__], "MARK", "changed in the parent")
    results = run_jobs(_report_start_method, [1, 2], workers=2, processes=True)
    assert results == [("spawn", "as imported")] * 2


class PromptingKeyring(keyring.backend.KeyringBackend):
    """macOS's keychain: every write of an item asks the user (counted here), reads of an allowed item do not."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}
        self.prompts = 0

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.prompts += 1
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


class RefusingKeyring(PromptingKeyring):
    """A locked keychain or a Windows Credential Manager policy: every write is refused."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("User interaction is not allowed.")


def test_keyring_that_prompts_is_asked_once(simulated: str) -> None:
    from wizard.target import credentials

    kr = PromptingKeyring()
    keyring.set_keyring(kr)
    spec = ConnectionSpec("db.example", 5432, "app", "app_dev")
    for _ in range(3):  # the wizard saves after each successful test of the connection
        assert credentials.save_password(spec, "pw-1").usable
    assert kr.prompts == 1
    credentials.forget_session()
    assert credentials.load_password(spec) == "pw-1"
    credentials.save_password(spec, "pw-2")
    assert kr.prompts == 2


def test_keyring_that_refuses_keeps_the_password_for_the_session(simulated: str) -> None:
    from wizard.target import credentials

    keyring.set_keyring(RefusingKeyring())
    spec = ConnectionSpec("db.example", 5432, "app", "app_dev")
    status = credentials.save_password(spec, "pw-1")
    assert not status.usable and "refused" in status.explanation and "session only" in status.explanation
    assert credentials.load_password(spec) == "pw-1"  # this session still has it
    credentials.forget_session()
    assert credentials.load_password(spec) is None  # and nothing was written anywhere
