"""The app's .env: merge keeps the user's file, nasty values round-trip, no password unless asked, .gitignore."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from wizard.errors import InputError
from wizard.target.compose import compose_text, write_compose
from wizard.target.connection import ConnectionSpec
from wizard.target.envfile import EnvRequest, add_to_gitignore, gitignore_status, plan_env, write_env

USER_FILE = """\
# my app settings
SECRET_KEY='abc'   # inline comment stays
DEBUG=true

# mail
MAIL_HOST=smtp.example
DATABASE_URL=sqlite:///app.db
"""

NASTY = "p@ss word#1 'q' \"dq\" $HOME ${USER} a=b\\c"


def _spec(password: str | None = NASTY) -> ConnectionSpec:
    return ConnectionSpec("db.example", 6543, "shop_app", "shop_dev", "require", password)


def test_merge_keeps_other_keys_comments_and_order_and_backs_up(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(USER_FILE)
    plan = plan_env(EnvRequest(env, _spec(), "both"))
    assert "-DATABASE_URL=sqlite:///app.db" in plan.diff and "+PG_DATABASE_PROD='shop_prod'" in plan.diff
    assert env.read_text() == USER_FILE  # the preview wrote nothing
    result = write_env(plan)
    text = env.read_text()
    assert result.backup is not None and result.backup.read_text() == USER_FILE
    lines = text.splitlines()
    for kept in ("# my app settings", "SECRET_KEY='abc'   # inline comment stays", "DEBUG=true", "# mail",
                 "MAIL_HOST=smtp.example"):
        assert kept in lines
    assert lines.index("# my app settings") < lines.index("DEBUG=true") < lines.index("# mail")
    values = dotenv_values(env, interpolate=False)
    assert values["DATABASE_URL"] == "postgresql://shop_app@db.example:6543/shop_dev?sslmode=require"
    assert (values["PG_HOST"], values["PG_PORT"], values["PG_USER"], values["ENVIRONMENT"]) == \
        ("db.example", "6543", "shop_app", "dev")
    assert [values[f"PG_DATABASE_{e}"] for e in ("DEV", "TEST", "PROD")] == ["shop_dev", "shop_test", "shop_prod"]
    assert "PG_PASSWORD" not in values
    assert "keyring.get_password('pgmigrate-wizard', 'shop_app@db.example:6543')" in text
    # writing again changes nothing and adds no second comment
    again = write_env(plan_env(EnvRequest(env, _spec(), "both")))
    assert again.changed == [] and env.read_text() == text


def test_no_password_in_any_written_file_unless_inline(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    plan = plan_env(EnvRequest(env, _spec(), "both"))
    write_env(plan)
    assert NASTY not in env.read_text() and "p%40ss" not in env.read_text() and "p@ss" not in plan.diff
    for f in tmp_path.iterdir():
        assert "p@ss" not in f.read_text()


def test_inline_password_round_trips_nasty_values_and_is_0600(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("OTHER='x'\n")
    os.chmod(env, 0o644)
    plan = plan_env(EnvRequest(env, _spec(), "both", password_in="inline"))
    assert NASTY not in plan.diff  # the preview masks it
    write_env(plan)
    values = dotenv_values(env, interpolate=False)
    assert values["PG_PASSWORD"] == NASTY
    import psycopg2.extensions

    assert psycopg2.extensions.parse_dsn(values["DATABASE_URL"])["password"] == NASTY
    assert values["OTHER"] == "x"
    if os.name == "posix":
        assert stat.S_IMODE(env.stat().st_mode) == 0o600
    fresh = tmp_path / "new.env"
    write_env(plan_env(EnvRequest(fresh, _spec(), "url", password_in="inline")))
    if os.name == "posix":
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


@pytest.mark.parametrize("value", ["with spaces  ", "a#b # c", "it's", 'say "hi"', "$HOME ${PATH} $$", "k=v=w",
                                   "back\\slash\\", "é✓ unicode", ""])
def test_nasty_values_round_trip_exactly(tmp_path: Path, value: str) -> None:
    env = tmp_path / ".env"
    write_env(plan_env(EnvRequest(env, ConnectionSpec("h", 5432, "u", "d", password=value or None), "pg-vars",
                                  password_in="inline" if value else "keyring")))
    if value:
        assert dotenv_values(env, interpolate=False)["PG_PASSWORD"] == value


def test_env_path_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        plan_env(EnvRequest(tmp_path, _spec(), "url"))
    ro = tmp_path / "ro.env"
    ro.write_text("A=1\n")
    os.chmod(ro, 0o444)
    if os.access(ro, os.W_OK):  # root can write anyway; make it a folder-less path instead
        with pytest.raises(InputError, match="does not exist"):
            plan_env(EnvRequest(tmp_path / "missing" / ".env", _spec(), "url"))
    else:
        with pytest.raises(InputError, match="read-only"):
            plan_env(EnvRequest(ro, _spec(), "url"))
    with pytest.raises(InputError, match="no password is known"):
        plan_env(EnvRequest(tmp_path / ".env", _spec(None), "url", password_in="inline"))


def test_gitignore_warning_and_fix(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    env = tmp_path / ".env"
    assert gitignore_status(env) == (False, tmp_path / ".gitignore")
    (tmp_path / ".gitignore").write_text("__pycache__/\n*.pyc")
    assert not plan_env(EnvRequest(env, _spec(), "url")).gitignored
    gi = add_to_gitignore(env)
    assert gi.read_text() == "__pycache__/\n*.pyc\n/.env\n" and gitignore_status(env)[0]
    (tmp_path / ".gitignore").write_text(".env*\n!.env.example\n")
    assert gitignore_status(env)[0] and not gitignore_status(tmp_path / ".env.example")[0]
    sub = tmp_path / "app"
    sub.mkdir()
    (tmp_path / ".gitignore").write_text(".env\n")
    assert gitignore_status(sub / ".env")[0]  # a bare name matches in every folder


def test_env_file_cli_dry_run_and_write(tmp_path: Path, pg_server) -> None:  # type: ignore[no-untyped-def]
    env_path = tmp_path / ".env"
    env_path.write_text("KEEP=1\n")
    admin = pg_server.admin
    dsn = ConnectionSpec(admin.host, admin.port, admin.user, "shop_test").url()
    base = [sys.executable, "-m", "wizard", "env-file", "--target", dsn, "--path", str(env_path), "--style", "both"]
    run_env = {"PATH": os.environ.get("PATH", ""), "PGPASSWORD": admin.password or "",
               "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    out = subprocess.run([*base, "--dry-run"], capture_output=True, text=True, env=run_env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "+PG_DATABASE_TEST='shop_test'" in out.stdout and "not ignored" in out.stderr
    assert env_path.read_text() == "KEEP=1\n"
    out = subprocess.run(base, capture_output=True, text=True, env=run_env, timeout=60)
    assert out.returncode == 0, out.stderr
    values = dotenv_values(env_path, interpolate=False)
    assert values["KEEP"] == "1" and values["ENVIRONMENT"] == "test"
    assert admin.password and admin.password not in env_path.read_text() + out.stdout + out.stderr


def test_compose_file_has_no_password_and_a_healthcheck(tmp_path: Path) -> None:
    text = compose_text(dbname="shop_dev", user="shop")
    assert "${POSTGRES_PASSWORD:?" in text and "pg_isready -U shop -d shop_dev" in text
    assert "pgdata:/var/lib/postgresql" in text and "\nvolumes:\n  pgdata:" in text
    path = tmp_path / "docker-compose.postgres.yml"
    cmd = write_compose(path, text)
    assert path.read_text() == text and "docker compose -f" in cmd and "up -d" in cmd
    with pytest.raises(InputError, match="exists already"):
        write_compose(path, text)
    with pytest.raises(InputError, match="not a usable"):
        compose_text(user="x; rm -rf /")


def test_the_diff_masks_passwords_where_they_stand_not_names_that_look_like_them(tmp_path: Path) -> None:
    from wizard.target.connection import ConnectionSpec

    env = tmp_path / ".env"
    env.write_text("DATABASE_URL='postgresql://shop:an-older-secret@db:5432/shop_dev'\n")
    spec = ConnectionSpec("db", 5432, "shop", "shop_dev", "prefer", "shop")  # the password is the user's name
    plan = plan_env(EnvRequest(env, spec, "both", password_in="inline"))
    assert "an-older-secret" not in plan.diff  # the password already in the file is masked too
    assert "+PG_USER='shop'" in plan.diff and "PG_DATABASE_DEV='shop_dev'" in plan.diff
    assert "postgresql://shop:***@db:5432/shop_dev" in plan.diff and "+PG_PASSWORD='***'" in plan.diff
    assert "***_dev" not in plan.diff and "PG_USER='***'" not in plan.diff
