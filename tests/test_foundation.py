"""The foundation: the engine never imports Textual, the CLI parses, and the suite has a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import psycopg2
import pytest

from wizard.cli.main import main
from wizard.target.connection import ConnectFailed, ConnectionSpec, parse_dsn
from wizard.target.server_check import test_connection


def test_engine_does_not_import_textual() -> None:
    code = ("import sys, wizard.cli.main, wizard.plan.planner, wizard.plan.ddl, wizard.target.local_server, "
            "wizard.target.credentials; import wizard.cli.commands; assert 'textual' not in sys.modules, "
            "sorted(m for m in sys.modules if m.startswith('textual'))")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("command", [[], ["inspect"], ["plan"], ["create-databases"], ["env-file"], ["compose-file"],
                                     ["migrate"], ["verify"]])
def test_every_help_works(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: pgmigrate-wizard" in out
    assert "PGPASSWORD" in out  # how passwords are found is told in every help


def test_bad_usage_exits_2_with_a_next_step(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["migrate", "x.db", "--target", "postgresql://h/db", "--jobs", "zero"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'zero' is not a whole number" in err and "next step" in err


def test_not_sqlite_is_exit_2_without_traceback(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    assert main(["inspect", str(bogus)]) == 2
    err = capsys.readouterr().err
    assert "is not an SQLite database" in err and "Traceback" not in err


def test_python_dash_m_wizard_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "wizard", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "inspect" in done.stdout


@pytest.mark.parametrize("url", ["postgresql://alice@db.example.com:6543/shop?sslmode=require",
                                 "postgres://alice@db.example.com:6543/shop?sslmode=require",
                                 "postgresql+psycopg2://alice@db.example.com:6543/shop?sslmode=require"])
def test_dsn_schemes(url: str) -> None:
    spec = parse_dsn(url)
    assert (spec.host, spec.port, spec.user, spec.dbname, spec.sslmode) == ("db.example.com", 6543, "alice",
                                                                              "shop", "require")


def test_dsn_password_is_masked() -> None:
    spec = parse_dsn("postgresql://alice:s3cr%40t@localhost/db")
    assert spec.password == "s3cr@t"
    assert "s3cr" not in str(spec) and "s3cr" not in repr(spec) and "***" in str(spec)


@pytest.mark.parametrize("bad", ["mysql://x@y/z", "postgresql://u@h:notaport/db", "justtext",
                                 "postgresql://u@h/db?sslmode=sometimes"])
def test_malformed_dsn_is_input_error(bad: str) -> None:
    from wizard.errors import InputError

    with pytest.raises(InputError):
        parse_dsn(bad)


def test_server_is_real(pg_conn: psycopg2.extensions.connection) -> None:
    with pg_conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int")
        row = cur.fetchone()
    assert row is not None and row[0] >= 150000


def test_password_auth_over_tcp(pg_server, pg_db: ConnectionSpec) -> None:  # type: ignore[no-untyped-def]
    """A role with a password connects over TCP with it, and a wrong password fails with a clear message."""
    admin = pg_server.connect()
    admin.autocommit = True
    role = "pw_" + pg_db.dbname
    with admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" LOGIN PASSWORD %s', ("p@ss w0rd#$'\"",))
    try:
        spec = ConnectionSpec(host=pg_server.admin.host, port=pg_server.admin.port, user=role, dbname=pg_db.dbname,
                              sslmode="disable")
        if spec.is_socket:
            pytest.fail("password auth must be exercised over TCP; point PGMIGRATE_TEST_DSN at host:port")
        info = test_connection(spec.with_password("p@ss w0rd#$'\""))
        assert info.user == role and not info.superuser
        with pytest.raises(ConnectFailed) as exc:
            test_connection(spec.with_password("wrong"))
        assert exc.value.kind == "password"
        assert "rejected the password" in exc.value.message and exc.value.hint
        with admin.cursor() as cur:
            cur.execute("SELECT rolpassword LIKE 'SCRAM-SHA-256%%' FROM pg_authid WHERE rolname = %s", (role,))
            assert cur.fetchone() == (True,)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()
