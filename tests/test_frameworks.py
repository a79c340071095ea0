"""The framework that made a database is recognised from its migrations table (a real Django project's database,
and the bookkeeping tables other frameworks leave), shown by inspect, plan and the wizard, and --framework
overrides the guess."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from wizard.cli.main import main as cli_main
from wizard.errors import InputError
from wizard.plan.planner import build_plan

_DJANGO = """
import sys
import django
from django.conf import settings
settings.configure(DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}},
                   INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"], USE_TZ=True)
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
"""


@pytest.fixture(scope="module")
def django_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The database Django itself makes for a project with its contrib apps (manage.py migrate)."""
    path = tmp_path_factory.mktemp("django") / "db.sqlite3"
    subprocess.run([sys.executable, "-c", _DJANGO, str(path)], check=True, capture_output=True, timeout=120)
    return path


def test_a_django_projects_database_is_recognised_by_inspect_and_plan(django_db: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli_main(["inspect", str(django_db)]) == 0
    out = capsys.readouterr().out
    assert "made by: Django" in out
    assert cli_main(["plan", str(django_db)]) == 0
    ddl = capsys.readouterr().out
    assert "-- Made by Django (its migrations are recorded in django_migrations)." in ddl
    plan = build_plan(django_db)
    assert plan.framework == "django" and plan.findings[0].code == "framework"


def test_framework_none_and_an_unknown_name(django_db: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    plan = build_plan(django_db, framework="none")
    assert plan.framework == "" and not any(f.code == "framework" for f in plan.findings)
    assert plan.framework_choice == "none"
    with pytest.raises(InputError, match="not one this tool knows"):
        build_plan(django_db, framework="rubyonrails")
    assert cli_main(["inspect", str(django_db), "--framework", "rubyonrails"]) == 2
    err = capsys.readouterr().err
    assert "django" in err and "laravel" in err and "none" in err  # the names it knows


@pytest.mark.parametrize(("tables", "expected"), [
    ("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)", "alembic"),
    ("CREATE TABLE schema_migrations (version varchar PRIMARY KEY); "
     "CREATE TABLE ar_internal_metadata (key varchar PRIMARY KEY, value varchar)", "rails"),
    ("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, inserted_at TEXT)", "ecto"),
    ("CREATE TABLE migrations (id INTEGER PRIMARY KEY, migration TEXT, batch INTEGER)", "laravel"),
    ("CREATE TABLE _prisma_migrations (id TEXT PRIMARY KEY, checksum TEXT, migration_name TEXT)", "prisma"),
    ("CREATE TABLE knex_migrations (id INTEGER PRIMARY KEY, name TEXT)", "knex"),
    ("CREATE TABLE migrations (id INTEGER PRIMARY KEY, name TEXT)", ""),  # an app's own table of that name
    ("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)", ""),
])
def test_other_frameworks_bookkeeping(tmp_path: Path, tables: str, expected: str) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.executescript(tables + "; CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);")
    conn.close()
    plan = build_plan(path)
    assert plan.framework == expected
    assert build_plan(path, framework="django").framework == "django"  # the override wins


async def test_the_wizard_names_the_framework_on_the_schema_step(django_db: Path, tmp_path: Path) -> None:
    import shutil

    from screens.app import WizardApp
    from screens.schema import SchemaScreen
    from tests.test_tui import settle

    path = tmp_path / "db.sqlite3"
    shutil.copyfile(django_db, path)
    app = WizardApp(sqlite_file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.show("schema")
        await settle(app, pilot)
        assert isinstance(app.screen, SchemaScreen)
        assert "Made by Django" in str(app.screen.query_one("#framework").content)
