"""The framework that made a database is recognised from its migrations table (a real Django project's database,
and the bookkeeping tables other frameworks leave), shown by inspect, plan and the wizard, and --framework
overrides the guess."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.schema_compare import describe, differences
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


# What still differs from the schema Django creates itself on an empty PostgreSQL database, and why it does no harm.
DJANGO_HARMLESS = {
    # Django writes the Decimal 0 of Q(price__gte=0) as '0' on SQLite and as 0 on PostgreSQL: the same test
    "constraint shop_item.item_price_nonneg": ("CHECK ((price >= '0'::numeric))", "CHECK ((price >= (0)::numeric))"),
}


def test_the_unchanged_django_app_works_on_the_migrated_database(tmp_path: Path, pg_db, other_pg_db) -> None:  # type: ignore[no-untyped-def]
    """A Django project's database built and filled by Django itself, migrated, then the same project pointed at
    PostgreSQL: nothing for `migrate --check` to apply, a lookup by UUID, a JSON key lookup, a new row without an
    id in a transaction that saves it before the row it points to, a later migration; and the schema is the one
    Django makes itself on an empty PostgreSQL database, but for DJANGO_HARMLESS."""
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
    migrated = describe(pg_db)  # before the app's later migration changes it
    pg_args = [pg_db.host, str(pg_db.port), pg_db.user, pg_db.password or "", pg_db.dbname]
    dumps = [subprocess.run([sys.executable, str(SHOP), "dump", *args], capture_output=True, text=True, timeout=120)
             for args in ([str(path)], pg_args)]
    assert all(d.returncode == 0 for d in dumps), dumps[1].stderr[-2000:]
    assert json.loads(dumps[0].stdout) == json.loads(dumps[1].stdout)  # dumpdata: the same objects on both sides
    used = subprocess.run([sys.executable, str(SHOP), "check", pg_db.host, str(pg_db.port), pg_db.user,
                           pg_db.password or "", pg_db.dbname, uid], capture_output=True, text=True, timeout=120)
    assert used.returncode == 0, used.stderr[-2000:]
    assert json.loads(used.stdout) == {"n": 7, "blue": 10, "new_id": 21, "uid_type": "UUID", "aware": True,
                                       "on_8th": 1, "by_ip": 7, "took": True, "longer": 10, "starts": 10}

    made_there = subprocess.run([sys.executable, str(SHOP), "create", other_pg_db.host, str(other_pg_db.port),
                                 other_pg_db.user, other_pg_db.password or "", other_pg_db.dbname],
                                capture_output=True, text=True, timeout=120)
    assert made_there.returncode == 0, made_there.stderr[-2000:]
    assert differences(migrated, describe(other_pg_db)) == DJANGO_HARMLESS
    # the project's next migration (AlterField(unique=False), RemoveConstraint) finds what it drops
    upgraded = subprocess.run([sys.executable, str(SHOP), "upgrade", *pg_args], capture_output=True, text=True,
                              timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    gone = set(migrated) - set(describe(pg_db))
    assert {"constraint shop_category.shop_category_name_key", "constraint shop_item.item_price_nonneg"} <= gone


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


# What still differs from the schema SQLAlchemy's create_all makes on an empty PostgreSQL database, and why it
# does no harm.
SQLALCHEMY_HARMLESS = {
    # Enum is VARCHAR(longest label) on SQLite and nothing there names the type or lists its labels (one no row
    # uses is nowhere): it stays varchar, which SQLAlchemy reads and writes as the same labels
    "column part.status": ("character varying(7) not null", "status not null"),
    "enum status": (None, "draft,listed,retired"),
}


def test_the_unchanged_sqlalchemy_app_works_on_the_migrated_database(tmp_path: Path, pg_db, other_pg_db) -> None:  # type: ignore[no-untyped-def]
    """An SQLAlchemy 2.x app whose SQLite tables come from metadata.create_all (nothing in the database names the
    framework: --framework sqlalchemy), filled through its ORM, migrated, then the same code on PostgreSQL; the
    schema is the one create_all makes there itself, but for SQLALCHEMY_HARMLESS."""
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
    # On SQLite, Interval is DATETIME (the epoch plus the duration) and DateTime(timezone=True) a DATETIME without
    # its offset, both like a DateTime: told with --type
    plan = build_plan(path, framework="sqlalchemy", overrides={"part.wait": "interval", "part.seen": "timestamptz"})
    types = {c.source: c.pg_type for c in plan.table("part").columns}
    assert types == {"id": "integer", "uid": "uuid", "spec": "json", "price": "numeric(12,2)", "made": "timestamp",
                     "wait": "interval", "status": "varchar(7)", "seen": "timestamptz", "qty": "integer",
                     "sku": "varchar(20)", "shelf_id": "integer"}
    assert plan.table("part").identity_column.identity_kind == "serial"
    migrate(plan, pg_db, CopyOptions(jobs=1))
    assert verify(plan, pg_db, jobs=1).ok
    migrated = describe(pg_db)

    def url(spec) -> str:  # type: ignore[no-untyped-def]
        return f"postgresql+psycopg2://{spec.user}:{spec.password or ''}@{spec.host}:{spec.port}/{spec.dbname}"

    used = subprocess.run([sys.executable, str(app), "check", url(pg_db), uid], capture_output=True, text=True,
                          timeout=120)
    assert used.returncode == 0, used.stderr[-2000:]
    assert json.loads(used.stdout) == {"id": 5, "n": 4, "red": 6, "price": "4.25", "new_id": 13,
                                       "uid_type": "UUID", "wait": True, "status": "listed", "listed": 4,
                                       "aware": True, "on_5th": 8, "shelf": None, "new_shelf": 2}
    made_there = subprocess.run([sys.executable, str(app), "create", url(other_pg_db)], capture_output=True,
                                text=True, timeout=120)
    assert made_there.returncode == 0, made_there.stderr[-2000:]
    assert differences(migrated, describe(other_pg_db)) == SQLALCHEMY_HARMLESS


def test_constraints_keep_the_names_postgresql_gives_them(tmp_path: Path, pg_db, other_pg_db) -> None:  # type: ignore[no-untyped-def]
    """Unnamed CHECKs get the names PostgreSQL gives them in a CREATE TABLE (table_col_check, table_check), a named
    UNIQUE constraint keeps its name, and an index on a parenthesised expression is created: the migrated schema
    equals the same CREATE TABLE run on PostgreSQL itself."""
    import psycopg2

    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate

    table = ("CREATE TABLE acct (id integer PRIMARY KEY, a integer CHECK (a > 0), b integer NOT NULL, c text, "
             "CHECK (a < b), CONSTRAINT acct_b_c_uniq UNIQUE (b, c))")
    index = "CREATE INDEX acct_lower_c ON acct ((lower(c)))"
    path = tmp_path / "acct.db"
    conn = sqlite3.connect(path)
    conn.executescript(f"{table}; {index}; INSERT INTO acct VALUES (1, 1, 2, 'x'), (2, 2, 3, 'y');")
    conn.close()
    plan = build_plan(path, overrides={"acct.id": "integer", "acct.a": "integer", "acct.b": "integer"})
    result = migrate(plan, pg_db, CopyOptions(jobs=1))
    assert all(r.ok for r in result.post), [r.error for r in result.post if not r.ok]
    pg = psycopg2.connect(**other_pg_db.connect_kwargs())
    with pg, pg.cursor() as cur:
        cur.execute(table.replace("id integer PRIMARY KEY", "id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"))
        cur.execute(index)
    pg.close()
    assert differences(describe(pg_db), describe(other_pg_db)) == {}


def _django_like(path: Path, script: str) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE django_migrations (id integer NOT NULL PRIMARY KEY AUTOINCREMENT, "
                       "app varchar(255) NOT NULL, name varchar(255) NOT NULL, applied datetime NOT NULL);" + script)
    conn.close()
    return path


def test_django_integer_widths_follow_the_fields(tmp_path: Path) -> None:
    """Django's integer fields keep their width (integer, smallint), unless a value needs more; an AutoField
    key is told from a BigAutoField by the keys pointing at it, and a key nothing points at follows the project's
    default as its other tables show it."""
    small = _django_like(tmp_path / "small.db", """
        CREATE TABLE app_a (id integer NOT NULL PRIMARY KEY AUTOINCREMENT, n integer NOT NULL, s smallint unsigned,
                            big integer);
        CREATE TABLE app_b (id integer NOT NULL PRIMARY KEY AUTOINCREMENT,
                            a_id integer NOT NULL REFERENCES app_a (id) DEFERRABLE INITIALLY DEFERRED);
        INSERT INTO app_a VALUES (1, 5, 3, 3000000000);""")
    plan = build_plan(small)
    a = {c.source: c.pg_type for c in plan.table("app_a").columns}
    assert a == {"id": "integer", "n": "integer", "s": "smallint", "big": "bigint"}
    # the project's keys are AutoFields (app_a's key is pointed at by an integer): so is app_b's, and Django's own
    assert plan.table("app_b").column("id").pg_type == "integer"
    assert plan.table("django_migrations").column("id").pg_type == "integer"
    assert build_plan(small, framework="none").table("app_a").column("n").pg_type == "bigint"  # generic: 64-bit
    big = _django_like(tmp_path / "big.db", """
        CREATE TABLE app_a (id integer NOT NULL PRIMARY KEY AUTOINCREMENT);
        CREATE TABLE app_b (id integer NOT NULL PRIMARY KEY AUTOINCREMENT,
                            a_id bigint NOT NULL REFERENCES app_a (id) DEFERRABLE INITIALLY DEFERRED);
        CREATE TABLE auth_group (id integer NOT NULL PRIMARY KEY AUTOINCREMENT, name varchar(150) NOT NULL UNIQUE);""")
    plan = build_plan(big)
    assert [plan.table(t).column("id").pg_type for t in ("app_a", "app_b", "django_migrations", "auth_group")] == \
        ["bigint", "bigint", "bigint", "integer"]  # BigAutoField keys; Django's own Group keeps an AutoField
    assert any(f.code == "framework_type" and f.table == "app_b" and "BigAutoField" in f.message
               for f in plan.findings)
    assert [ix.name for ix in plan.table("auth_group").indexes] == ["auth_group_name_key",
                                                                    "auth_group_name_a6ea08ec_like"]


def test_a_uuid_column_becomes_uuid_with_the_same_values(tmp_path: Path, pg_db) -> None:  # type: ignore[no-untyped-def]
    """A column declared UUID (SQLAlchemy's UUID writes 32 hex digits, others the dashed form) becomes uuid, each
    value the same UUID; one holding anything else stays text, with a finding."""
    import uuid

    import psycopg2

    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate
    from wizard.verify.run import verify

    ids = [uuid.uuid5(uuid.NAMESPACE_DNS, f"{n}.example") for n in range(4)]
    path = tmp_path / "u.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, u UUID, other UUID)")
    conn.executemany("INSERT INTO t (u, other) VALUES (?, ?)",
                     [(ids[0].hex, "x"), (str(ids[1]), str(ids[1])), (str(ids[2]).upper(), None), (None, None)])
    conn.commit()
    conn.close()
    plan = build_plan(path)
    assert plan.table("t").column("u").pg_type == "uuid"
    assert plan.table("t").column("other").pg_type == "text"
    assert any(f.code == "type_fallback" and f.column == "other" for f in plan.findings)
    migrate(plan, pg_db, CopyOptions(jobs=1))
    assert verify(plan, pg_db, jobs=1).ok
    pg = psycopg2.connect(**pg_db.connect_kwargs())
    with pg, pg.cursor() as cur:
        cur.execute("SELECT u::text FROM t ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == [str(ids[0]), str(ids[1]), str(ids[2]), None]
    pg.close()
