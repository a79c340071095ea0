"""Connection tests produce each classified error for real against the test server; rights; the keyring."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import sql

from wizard.target.connection import ConnectFailed, ConnectionSpec, connect, parse_dsn
from wizard.target.credentials import delete_password, keyring_status, load_password, resolve_password, save_password
from wizard.target.server_check import test_connection


@pytest.fixture
def make_role(pg_server) -> Iterator:  # type: ignore[no-untyped-def,type-arg]
    """Create throwaway LOGIN roles (cluster-wide, so uniquely named) and drop them afterwards."""
    made: list[str] = []

    def make(options: str = "", password: str = "Secr3t-pw") -> ConnectionSpec:
        name = f"r_{uuid.uuid4().hex[:10]}"
        conn = pg_server.connect()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} " + options).format(
                sql.Identifier(name), sql.Literal(password)))
        conn.close()
        made.append(name)
        return ConnectionSpec(pg_server.admin.host, pg_server.admin.port, name, "postgres", "disable", password)

    yield make
    conn = pg_server.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in made:
            cur.execute("SELECT datname FROM pg_database WHERE pg_get_userbyid(datdba) = %s", (name,))
            for (db,) in cur.fetchall():
                cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))
            cur.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
    conn.close()


def _kind(spec: ConnectionSpec, **extra) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ConnectFailed) as exc:
        connect(spec, **extra).close()
    assert exc.value.hint  # every classified error carries a next step
    return exc.value.kind


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_rights_are_reported(pg_server, make_role) -> None:  # type: ignore[no-untyped-def]
    admin = test_connection(pg_server.admin)
    assert admin.superuser and admin.version_num >= 150000 and "PostgreSQL" in admin.version
    plain = test_connection(make_role("CREATEDB"))
    assert (plain.superuser, plain.createdb, plain.createrole) == (False, True, False)


def test_wrong_password_missing_role_and_missing_database(pg_server, make_role) -> None:  # type: ignore[no-untyped-def]
    role = make_role()
    assert _kind(role.with_password("wrong")) == "password"
    assert _kind(ConnectionSpec(role.host, role.port, "nobody_here", "postgres", "disable", "x")) in ("password",
                                                                                                     "no_role")
    assert _kind(pg_server.admin.with_dbname("no_such_db_x")) == "no_database"


def test_nothing_listening_is_refused(pg_server) -> None:  # type: ignore[no-untyped-def]
    spec = ConnectionSpec("127.0.0.1", _free_port(), "postgres", "postgres", "disable", "x")
    with pytest.raises(ConnectFailed) as exc:
        connect(spec)
    assert exc.value.kind == "refused" and "running" in exc.value.hint


def test_unknown_host() -> None:
    assert _kind(ConnectionSpec("no-such-host.invalid", 5432, "u", "d", "disable", "x")) == "unknown_host"


def test_a_server_that_never_answers_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # accept and say nothing, like a black-holing firewall
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        spec = ConnectionSpec("127.0.0.1", listener.getsockname()[1], "u", "d", "disable", "x")
        assert _kind(spec, connect_timeout=2) == "timeout"
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
        listener.close()


def test_ssl_not_supported_by_the_server(pg_server) -> None:  # type: ignore[no-untyped-def]
    spec = ConnectionSpec(pg_server.admin.host, pg_server.admin.port, pg_server.admin.user, "postgres", "require",
                          pg_server.admin.password)
    assert _kind(spec) == "ssl_unsupported"


def test_ssl_required_by_the_server(pg_server, make_role) -> None:  # type: ignore[no-untyped-def]
    """pg_hba.conf admits this role only over SSL; a plain connection gets the 'SSL required' explanation."""
    if pg_server.pgdata is None:
        pytest.skip("needs the built-in server's pg_hba.conf (PGMIGRATE_TEST_DSN points elsewhere)")
    role = make_role()
    hba = pg_server.pgdata / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f"hostnossl all {role.user} all reject\n" + original)
    _reload(pg_server)
    try:
        assert _kind(role) == "ssl_required"
    finally:
        hba.write_text(original)
        _reload(pg_server)


def _reload(pg_server) -> None:  # type: ignore[no-untyped-def]
    conn = pg_server.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT pg_reload_conf()")
    conn.close()


def test_too_many_connections(make_role) -> None:  # type: ignore[no-untyped-def]
    role = make_role("CONNECTION LIMIT 1")
    first = connect(role)
    try:
        assert _kind(role) == "too_many"
    finally:
        first.close()


def test_password_is_masked_in_errors_and_urls(pg_server, make_role) -> None:  # type: ignore[no-untyped-def]
    role = make_role(password="Very-Secret-42")
    wrong = role.with_password("Wrong-Secret-99")
    with pytest.raises(ConnectFailed) as exc:
        connect(wrong)
    assert "Wrong-Secret-99" not in exc.value.render()
    assert "Very-Secret-42" not in str(role) + repr(role) and "***" in role.url()
    assert parse_dsn("postgresql+psycopg2://u:p%40ss@h:6543/db?sslmode=verify-full").url() == \
        "postgresql://u:***@h:6543/db?sslmode=verify-full"


def test_keyring_round_trip(memory_keyring, make_role) -> None:  # type: ignore[no-untyped-def]
    role = make_role(password="from-the-keyring")
    bare = role.with_password(None)
    status = save_password(bare, "from-the-keyring")
    assert status.usable
    assert memory_keyring.store[("pgmigrate-wizard", f"{role.user}@127.0.0.1:{role.port}")] == "from-the-keyring"
    from wizard.target import credentials

    credentials.forget_session()  # a new process: only the keyring remembers
    assert load_password(bare) == "from-the-keyring"
    resolved = resolve_password(bare)
    test_connection(resolved)  # the stored password really logs in
    delete_password(bare)
    delete_password(bare)  # idempotent
    credentials.forget_session()
    assert load_password(bare) is None and memory_keyring.store == {}


def test_pgpassword_wins_over_keyring(monkeypatch, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    spec = ConnectionSpec("db.example", 5432, "app", "x")
    save_password(spec, "in-keyring")
    monkeypatch.setenv("PGPASSWORD", "from-env")
    assert resolve_password(spec).password == "from-env"
    assert resolve_password(spec.with_password("in-dsn")).password == "in-dsn"


def test_no_keyring_backend_keeps_the_password_for_the_session_only(no_keyring, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    spec = ConnectionSpec("db.example", 5432, "app", "x")
    status = save_password(spec, "session-only-pw")
    assert not status.usable and "session only" in status.explanation
    assert not keyring_status().usable
    assert load_password(spec) == "session-only-pw"
    from wizard.target import credentials

    credentials.forget_session()
    assert load_password(spec) is None  # gone with the session: nothing was written anywhere
    assert list(tmp_path.iterdir()) == []


def test_psycopg2_error_text_never_carries_the_password(pg_server) -> None:  # type: ignore[no-untyped-def]
    spec = pg_server.admin.with_dbname("no_such_db_y")
    try:
        psycopg2.connect(**spec.connect_kwargs())
    except psycopg2.OperationalError as exc:
        assert spec.password and spec.password not in str(exc)


def test_migrate_and_verify_into_a_missing_database_say_so_before_reading_the_data(  # type: ignore[no-untyped-def]
        pg_server, make_sqlite, tmp_path) -> None:
    import os
    import subprocess
    import sys

    db = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);", {"t": [(1, "a"), (2, "b")]})
    spec = pg_server.admin.with_dbname("no_such_db_z")
    url = ConnectionSpec(spec.host, spec.port, spec.user, spec.dbname, spec.sslmode).url(mask=False)
    env = {**os.environ, "PGPASSWORD": spec.password or "", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    snaps = tmp_path / "snaps"
    migrate = subprocess.run([sys.executable, "-m", "wizard", "migrate", str(db), "--target", url,
                              "--backup-dir", str(snaps)], env=env, capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 2, migrate.stderr
    assert "Database 'no_such_db_z' does not exist" in migrate.stderr
    assert "pgmigrate-wizard create-databases" in migrate.stderr and "CREATE DATABASE no_such_db_z" in migrate.stderr
    assert "no saved plan" not in migrate.stderr  # said before the data was sampled
    assert not snaps.exists() or not any(snaps.iterdir())  # and no snapshot taken for nothing
    verify = subprocess.run([sys.executable, "-m", "wizard", "verify", str(db), "--target", url], env=env,
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 2, verify.stderr
    assert "does not exist" in verify.stderr and "Check --target" in verify.stderr
    assert "profiling" not in verify.stderr
    assert spec.password and spec.password not in migrate.stderr + verify.stderr
