"""The libpq password file: where it is on each platform, entries added or updated exactly, and an unchanged app
(python-dotenv + psycopg2, nothing else) connecting after `env-file --password-file`; `env-file --check`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from wizard.target.connection import ConnectionSpec
from wizard.target.pgpass import _fields, password_file, write_password


def test_location_follows_the_platform(tmp_path: Path) -> None:
    assert password_file({"PGPASSFILE": str(tmp_path / "x")}, "win32") == tmp_path / "x"
    assert password_file({"HOME": str(tmp_path)}, "linux") == tmp_path / ".pgpass"
    assert password_file({"HOME": str(tmp_path)}, "darwin") == tmp_path / ".pgpass"
    appdata = r"C:\Users\Zoë Doe\AppData\Roaming"
    assert password_file({"APPDATA": appdata}, "win32") == Path(appdata) / "postgresql" / "pgpass.conf"


def test_simulated_windows_picks_the_appdata_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGMIGRATE_SIMULATE_PLATFORM", "win32")
    monkeypatch.delenv("PGPASSFILE", raising=False)
    monkeypatch.setenv("APPDATA", str(tmp_path / "App Data"))
    spec = ConnectionSpec("db.example", 5432, "app", "app_dev", password="s3cret")
    result = write_password(spec)
    assert result.path == tmp_path / "App Data" / "postgresql" / "pgpass.conf"  # the folder is created
    assert result.path.read_text() == "db.example:5432:*:app:s3cret\n"


def test_entries_are_added_updated_and_escaped(tmp_path: Path) -> None:
    path = tmp_path / ".pgpass"
    path.write_text("# mine\nother:5432:*:bob:bobpw\n*:*:*:app:wildcard\ndb:5432:app_dev:app:old\n")
    os.chmod(path, 0o644)
    nasty = r"p:a\ss:w*rd"
    spec = ConnectionSpec("db", 5432, "app", "app_dev", password=nasty)
    result = write_password(spec, path)
    assert result.action == "updated"
    lines = path.read_text().splitlines()
    # the old entry of the account is gone, ours comes before the wildcard line that would answer first
    assert lines == ["# mine", "other:5432:*:bob:bobpw", r"db:5432:*:app:p\:a\\ss\:w*rd", "*:*:*:app:wildcard"]
    assert _fields(lines[2]) == ["db", "5432", "*", "app", nasty]
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # libpq ignores a file others can read
    assert write_password(spec, path).action == "unchanged"
    assert write_password(spec.with_password("new"), path).action == "updated"
    assert path.read_text().count("db:5432:*:app:") == 1
    fresh = tmp_path / "new" / "pgpass.conf"
    assert write_password(spec, fresh).action == "added"


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wizard", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=180, check=False)


APP = """
import psycopg2
from dotenv import dotenv_values

conn = psycopg2.connect(dotenv_values(".env")["DATABASE_URL"])
with conn.cursor() as cur:
    cur.execute("SELECT count(*), min(name) FROM items")
    print(*cur.fetchone())
"""


def test_unchanged_app_connects_through_the_password_file(tmp_path: Path, pg_db: ConnectionSpec,
                                                          make_sqlite) -> None:  # type: ignore[no-untyped-def]
    db = make_sqlite("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)",
                     {"items": [(i, f"n{i:03d}") for i in range(1, 121)]})
    home = tmp_path / "home"
    home.mkdir()
    url = pg_db.with_password(None).url(mask=False)
    base = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    base.update(HOME=str(home), PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    tool = {**base, "PGPASSWORD": pg_db.password or ""}
    done = _run(["migrate", str(db), "--target", url, "--jobs", "1"], tool, tmp_path)
    assert done.returncode == 0, done.stderr

    # the default place: an unchanged app finds no password, and --check says so and what to do
    done = _run(["env-file", "--target", url, "--path", ".env", "--check"], tool, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot connect" in done.stdout and "--password-file" in done.stdout
    assert "does not find it" in done.stderr  # the note on the keyring placement

    done = _run(["env-file", "--target", url, "--path", ".env", "--password-file", "--check"], tool, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"password file {home / '.pgpass'}: entry added" in done.stderr
    assert "✓ The app can connect" in done.stdout and ".pgpass" in done.stdout
    env_text = (tmp_path / ".env").read_text()
    assert (pg_db.password or "") not in env_text and ".pgpass" in env_text

    # the app: python-dotenv and psycopg2 only, no PGPASSWORD, no keyring
    app = subprocess.run([sys.executable, "-c", APP], capture_output=True, text=True, env=base, cwd=tmp_path,
                         timeout=60, check=False)
    assert app.returncode == 0, app.stderr
    assert app.stdout.split() == ["120", "n001"]
    # --check alone, without PGPASSWORD in this shell either
    done = _run(["env-file", "--check"], base, tmp_path)
    assert done.returncode == 0 and "✓" in done.stdout, done.stdout + done.stderr


def test_check_names_a_missing_file_and_a_wrong_password(tmp_path: Path, pg_db: ConnectionSpec,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from wizard.errors import InputError
    from wizard.target.env_check import check_env

    with pytest.raises(InputError, match="no .env file"):
        check_env(tmp_path / ".env")
    wrong = pg_db.with_password("not-the-password").url(mask=False)
    (tmp_path / ".env").write_text(f"DATABASE_URL='{wrong}'\n")
    result = check_env(tmp_path / ".env")
    assert not result.ok and "not-the-password" not in result.message and "cannot connect" in result.message
    right = pg_db.url(mask=False)
    (tmp_path / ".env").write_text(f"DATABASE_URL='{right.replace('postgresql://', 'postgresql+psycopg2://')}'\n")
    assert check_env(tmp_path / ".env").ok  # SQLAlchemy's form of the URL
    # this shell's PGPASSWORD is not the app's: the check does not use it
    monkeypatch.setenv("PGPASSWORD", pg_db.password or "")
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))
    (tmp_path / ".env").write_text(f"DATABASE_URL='{pg_db.with_password(None).url(mask=False)}'\n")
    result = check_env(tmp_path / ".env")
    assert not result.ok and result.password_from == "none"
    assert os.environ["PGPASSWORD"] == pg_db.password  # put back afterwards
    with psycopg2.connect(pg_db.with_password(None).url(mask=False), connect_timeout=5):
        pass  # while with it, the same URL connects
