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
    ("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)", "sqlalchemy"),
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


@pytest.mark.parametrize("clause", ["DEFERRABLE INITIALLY DEFERRED", "NOT DEFERRABLE INITIALLY DEFERRED",
                                    "DEFERRABLE", "DEFERRABLE INITIALLY IMMEDIATE", ""])
def test_a_foreign_key_is_deferred_exactly_when_sqlite_defers_it(tmp_path: Path, clause: str) -> None:
    from wizard.source.schema import read_schema

    path = tmp_path / "app.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(f"""PRAGMA foreign_keys = ON;
        CREATE TABLE p (id INTEGER PRIMARY KEY);
        CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id) {clause}, q INTEGER,
                        FOREIGN KEY (q) REFERENCES p (id) {clause});""")
    conn.execute("BEGIN")
    try:  # what SQLite itself does: the child first, its parent later in the same transaction
        conn.execute("INSERT INTO c VALUES (1, 5, 5)")
        conn.execute("INSERT INTO p VALUES (5)")
        conn.execute("COMMIT")
        deferred = True
    except sqlite3.IntegrityError:
        deferred = False
    conn.close()
    fks = read_schema(path).table("c").foreign_keys
    assert [fk.deferred for fk in fks] == [deferred, deferred]


def test_djangos_deferred_foreign_keys_stay_deferred_on_postgresql(django_db: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                  pg_db) -> None:
    import shutil

    import psycopg2

    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate

    path = tmp_path / "db.sqlite3"
    shutil.copyfile(django_db, path)
    migrate(build_plan(path), pg_db, CopyOptions(jobs=1))
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT conname, condeferrable, condeferred FROM pg_constraint "
                        "WHERE conrelid = 'auth_permission'::regclass AND contype = 'f'")
            keys = cur.fetchall()
            assert keys and all(d and i for _, d, i in keys), keys
            # as Django does in a transaction: the row that points first, the row it points to after
            cur.execute("INSERT INTO auth_permission (name, content_type_id, codename) VALUES ('x', 999, 'x')")
            cur.execute("INSERT INTO django_content_type (id, app_label, model) VALUES (999, 'shop', 'order')")
        conn.commit()
    finally:
        conn.close()


def test_text_that_may_only_hold_json_becomes_jsonb_without_its_check(tmp_path: Path, pg_db) -> None:  # type: ignore[no-untyped-def]
    import psycopg2

    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate
    from wizard.verify.run import verify

    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    # as Django writes a JSONField on SQLite
    conn.executescript("""CREATE TABLE "shop_item" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
        "meta" text NOT NULL CHECK ((JSON_VALID("meta") OR "meta" IS NULL)),
        "extra" text NULL CHECK ((JSON_VALID("extra") OR "extra" IS NULL)));""")
    conn.executemany("INSERT INTO shop_item (meta, extra) VALUES (?, ?)",
                     [('{"color": "red", "size": 3}', None), ('{"color": "blue", "tags": ["a", "b"]}', "[1, 2.50]"),
                      ('[]', '"just text"')])
    conn.commit()
    conn.close()
    plan = build_plan(path)
    t = plan.table("shop_item")
    assert [c.pg_type for c in t.columns] == ["bigint", "jsonb", "jsonb"]
    assert t.checks == [] and sum(f.code == "json_check" for f in plan.findings) == 2
    assert not any(f.code == "check_skipped" for f in plan.findings)
    migrate(plan, pg_db, CopyOptions(jobs=1))
    assert verify(plan, pg_db, jobs=1).ok
    pg = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        with pg.cursor() as cur:  # what a JSON key lookup of the app sends
            cur.execute("SELECT id FROM shop_item WHERE meta ->> 'color' = 'blue' AND meta ? 'tags'")
            assert cur.fetchall() == [(2,)]
    finally:
        pg.close()


SHOP = Path(__file__).parent / "django_shop" / "run.py"


def test_the_unchanged_django_app_works_on_the_migrated_database(tmp_path: Path, pg_db) -> None:  # type: ignore[no-untyped-def]
    """A Django project's database built and filled by Django itself, migrated, then the same project pointed at
    PostgreSQL: a lookup by UUID, a JSON key lookup, a new row without an id in a transaction that saves it before
    the row it points to."""
    import json

    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate
    from wizard.verify.run import verify

    path = tmp_path / "db.sqlite3"
    made = subprocess.run([sys.executable, str(SHOP), "make", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert made.returncode == 0, made.stderr
    uid = json.loads(made.stdout)["uid"]
    # a DurationField is bigint on SQLite, like a BigIntegerField, and a DecimalField plain decimal: told with --type
    plan = build_plan(path, overrides={"shop_item.took": "interval", "shop_item.price": "numeric(12,2)"})
    item = plan.table("shop_item")
    assert {c.source: c.pg_type for c in item.columns}["uid"] == "uuid"
    assert {c.source: c.pg_type for c in item.columns}["meta"] == "jsonb"
    assert {c.source: c.pg_type for c in item.columns}["added"] == "timestamptz"
    assert {c.source: c.pg_type for c in item.columns}["seen_from"] == "inet"
    assert any(f.code == "framework_type" and f.column == "uid" for f in plan.findings)
    migrate(plan, pg_db, CopyOptions(jobs=1))
    assert verify(plan, pg_db, jobs=1).ok
    pg_args = [pg_db.host, str(pg_db.port), pg_db.user, pg_db.password or "", pg_db.dbname]
    dumps = [subprocess.run([sys.executable, str(SHOP), "dump", *args], capture_output=True, text=True, timeout=120)
             for args in ([str(path)], pg_args)]
    assert all(d.returncode == 0 for d in dumps), dumps[1].stderr[-2000:]
    assert json.loads(dumps[0].stdout) == json.loads(dumps[1].stdout)  # dumpdata: the same objects on both sides
    used = subprocess.run([sys.executable, str(SHOP), "check", pg_db.host, str(pg_db.port), pg_db.user,
                           pg_db.password or "", pg_db.dbname, uid], capture_output=True, text=True, timeout=120)
    assert used.returncode == 0, used.stderr[-2000:]
    assert json.loads(used.stdout) == {"n": 7, "blue": 10, "new_id": 21, "uid_type": "UUID", "aware": True,
                                       "on_8th": 1, "by_ip": 7, "took": True, "longer": 10}


def test_addresses_load_into_inet_exactly_and_verify(tmp_path: Path, pg_db) -> None:  # type: ignore[no-untyped-def]
    import psycopg2

    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate
    from wizard.verify.run import verify

    path = tmp_path / "log.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE hits (id INTEGER PRIMARY KEY, ip TEXT)")
    ips = ["10.0.0.1", "2001:DB8::1", "::ffff:1.2.3.4", "192.168.0.0/24", "::1", None, "fe80::1:2:3:4"]
    conn.executemany("INSERT INTO hits (ip) VALUES (?)", [(v,) for v in ips])
    conn.commit()
    conn.close()
    plan = build_plan(path, overrides={"hits.ip": "inet"})
    migrate(plan, pg_db, CopyOptions(jobs=1))
    assert verify(plan, pg_db, jobs=1).ok
    pg = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        with pg.cursor() as cur:
            cur.execute("SELECT ip::text FROM hits ORDER BY id")
            assert [r[0] for r in cur.fetchall()] == ["10.0.0.1/32", "2001:db8::1/128", "::ffff:1.2.3.4/128",
                                                     "192.168.0.0/24", "::1/128", None, "fe80::1:2:3:4/128"]
    finally:
        pg.close()
    bad = tmp_path / "bad.db"
    conn = sqlite3.connect(bad)
    conn.execute("CREATE TABLE hits (id INTEGER PRIMARY KEY, ip TEXT)")
    conn.executemany("INSERT INTO hits (ip) VALUES (?)", [("10.0.0.1",), ("not an address",)])
    conn.commit()
    conn.close()
    fell_back = build_plan(bad, overrides={"hits.ip": "inet"})
    assert any(f.code == "type_fallback" and f.column == "ip" for f in fell_back.findings)


def test_the_unchanged_sqlalchemy_app_works_on_the_migrated_database(tmp_path: Path, pg_db) -> None:  # type: ignore[no-untyped-def]
    """An SQLAlchemy 2.x app whose SQLite tables come from metadata.create_all (nothing in the database names the
    framework: --framework sqlalchemy), filled through its ORM, migrated, then the same code on PostgreSQL."""
    import json

    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate
    from wizard.verify.run import verify

    app = Path(__file__).parent / "sqlalchemy_shop" / "run.py"
    path = tmp_path / "parts.db"
    made = subprocess.run([sys.executable, str(app), "make", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert made.returncode == 0, made.stderr
    uid = json.loads(made.stdout)["uid"]
    assert build_plan(path).framework == ""  # create_all leaves no trace
    # SQLAlchemy's Interval is DATETIME on SQLite (the epoch plus the duration), like a DateTime: told with --type
    plan = build_plan(path, framework="sqlalchemy", overrides={"part.wait": "interval"})
    types = {c.source: c.pg_type for c in plan.table("part").columns}
    assert types["uid"] == "uuid" and types["spec"] == "jsonb" and types["price"] == "numeric(12,2)"
    migrate(plan, pg_db, CopyOptions(jobs=1))
    assert verify(plan, pg_db, jobs=1).ok
    url = (f"postgresql+psycopg2://{pg_db.user}:{pg_db.password or ''}@{pg_db.host}:{pg_db.port}/{pg_db.dbname}")
    used = subprocess.run([sys.executable, str(app), "check", url, uid], capture_output=True, text=True,
                          timeout=120)
    assert used.returncode == 0, used.stderr[-2000:]
    assert json.loads(used.stdout) == {"id": 5, "n": 4, "red": 6, "price": "4.25", "new_id": 13,
                                       "uid_type": "UUID", "wait": True}
