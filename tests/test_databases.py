"""Creating the per-environment databases and the app role on the real server: idempotent, the role can create
tables (PostgreSQL 15+ public schema rules), non-empty targets guarded, no CREATEDB explained."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import sql

from tests.conftest import drop_test_objects
from wizard.errors import InputError
from wizard.target.connection import ConnectionSpec, connect
from wizard.target.credentials import load_password
from wizard.target.databases import DatabaseRequest, create_databases, plan_databases, role_spec
from wizard.target.server_check import test_connection


@pytest.fixture
def names(pg_server) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """A unique base name and role; every database and role made from them is dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    made = {"base": f"shop_{tag}", "role": f"shop_app_{tag}", "user": f"limited_{tag}"}
    yield made
    drop_test_objects(pg_server, tag, (made["role"], made["user"]))


def _databases(admin: ConnectionSpec, base: str) -> dict[str, tuple[str, str]]:
    conn = connect(admin)
    with conn.cursor() as cur:
        cur.execute("SELECT datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding) FROM pg_database "
                    "WHERE datname LIKE %s", (base + "%",))
        out = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
    conn.close()
    return out


def test_create_databases_and_role_twice_is_idempotent(pg_server, names, memory_keyring) -> None:  # type: ignore[no-untyped-def]
    admin = pg_server.admin
    req = DatabaseRequest(names["base"], app_role=names["role"])
    plan = plan_databases(admin, req)
    preview = plan.preview_sql()
    assert f'CREATE ROLE "{names["role"]}" LOGIN PASSWORD \'***\'' in preview
    assert preview.count("CREATE DATABASE") == 3 and "TEMPLATE template0 ENCODING 'UTF8'" in preview
    assert plan.role_password and plan.role_password not in preview and len(plan.role_password) >= 24
    result = create_databases(admin, plan)
    assert result.created == [f"{names['base']}_{e}" for e in ("dev", "test", "prod")] and result.role_created
    assert result.password_storage is not None and result.password_storage.usable
    dbs = _databases(admin, names["base"])
    assert dbs == {f"{names['base']}_{e}": (names["role"], "UTF8") for e in ("dev", "test", "prod")}

    # the generated password is in the keyring, and the role logs in with it and creates a table in public
    app = role_spec(admin, names["role"], f"{names['base']}_dev")
    password = load_password(app)
    assert password == plan.role_password
    assert memory_keyring.store[("pgmigrate-wizard", app.account)] == password
    conn = psycopg2.connect(**app.with_password(password).connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE public.made_by_app (id int)")
        cur.execute("INSERT INTO made_by_app VALUES (1)")
    conn.commit()
    conn.close()

    again = plan_databases(admin, req)
    assert again.role_exists and all(st.exists for st in again.databases)
    assert again.steps == [] and "nothing to do" in again.preview_sql()
    second = create_databases(admin, again)
    assert second.created == [] and not second.role_created and len(second.reused) == 3
    assert _databases(admin, names["base"]) == dbs


def test_reused_database_gets_grants_so_the_role_can_create_tables(pg_server, names) -> None:  # type: ignore[no-untyped-def]
    """A database made earlier by someone else: PostgreSQL 15+ needs CREATE on schema public, not only on the
    database; the role must really be able to create a table."""
    admin = pg_server.admin
    existing = f"{names['base']}_dev"
    conn = connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(existing)))
    conn.close()
    plan = plan_databases(admin, DatabaseRequest(names["base"], ["dev"], app_role=names["role"],
                                                 role_password="App-Pass-123"))
    assert plan.databases[0].exists and "GRANT USAGE, CREATE ON SCHEMA public" in plan.preview_sql()
    create_databases(admin, plan)
    app = role_spec(admin, names["role"], existing).with_password("App-Pass-123")
    c2 = psycopg2.connect(**app.connect_kwargs())
    with c2.cursor() as cur:
        cur.execute("CREATE TABLE t (id int)")
    c2.commit()
    c2.close()


def test_non_empty_database_is_only_dropped_with_the_typed_name(pg_server, names) -> None:  # type: ignore[no-untyped-def]
    admin = pg_server.admin
    req = DatabaseRequest(names["base"], ["dev"])
    create_databases(admin, plan_databases(admin, req))
    dev = admin.with_dbname(f"{names['base']}_dev")
    conn = connect(dev)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE precious (v text); INSERT INTO precious VALUES ('keep me')")
        cur.execute("CREATE SCHEMA pgmigrate; CREATE TABLE pgmigrate.run (id int)")  # a copy's own state
    conn.commit()
    conn.close()

    plan = plan_databases(admin, req)
    assert plan.databases[0].non_empty and plan.databases[0].tables == 1  # the app's tables, not the tool's
    create_databases(admin, plan)  # no confirmation: reused, untouched
    with pytest.raises(InputError, match="did not match"):
        create_databases(admin, plan, drop_confirmed={dev.dbname: "yes"})
    conn = connect(dev)
    with conn.cursor() as cur:
        cur.execute("SELECT v FROM precious")
        assert cur.fetchall() == [("keep me",)]
    conn.close()
    result = create_databases(admin, plan, drop_confirmed={dev.dbname: dev.dbname})
    assert result.dropped == [dev.dbname]
    assert not plan_databases(admin, req).databases[0].non_empty


def test_user_without_createdb_gets_an_explanation_and_can_use_an_existing_database(pg_server, names) -> None:  # type: ignore[no-untyped-def]
    admin = pg_server.admin
    conn = connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'Limited-1'").format(sql.Identifier(names["user"])))
        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(f"{names['base']}_dev"),
                                                                  sql.Identifier(names["user"])))
    conn.close()
    limited = ConnectionSpec(admin.host, admin.port, names["user"], "postgres", admin.sslmode, "Limited-1")
    assert not test_connection(limited).createdb
    with pytest.raises(InputError) as exc:
        plan_databases(limited, DatabaseRequest(names["base"]))
    err = exc.value
    assert "CREATEDB" in err.message and f"{names['base']}_dev" in err.message and "existing database" in err.hint
    # continuing with the database that exists works
    plan = plan_databases(limited, DatabaseRequest(names["base"], ["dev"]))
    assert plan.steps == [] and create_databases(limited, plan).reused == [f"{names['base']}_dev"]


def test_bad_names_are_refused_before_any_sql(pg_server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="not a usable database name"):
        plan_databases(pg_server.admin, DatabaseRequest('x"; DROP DATABASE postgres; --'))


def test_without_a_keyring_a_generated_role_password_is_refused(pg_server, names, no_keyring,  # type: ignore[no-untyped-def]
                                                               monkeypatch) -> None:
    req = DatabaseRequest(names["base"], ["dev"], app_role=names["role"])
    with pytest.raises(InputError, match="would be lost") as exc:
        plan_databases(pg_server.admin, req)
    assert "PGMIGRATE_APP_PASSWORD" in exc.value.hint
    monkeypatch.setenv("PGMIGRATE_APP_PASSWORD", "Chosen-Pass-1")
    create_databases(pg_server.admin, plan_databases(pg_server.admin, req))
    app = role_spec(pg_server.admin, names["role"], f"{names['base']}_dev").with_password("Chosen-Pass-1")
    assert test_connection(app).user == names["role"]


def test_the_app_role_can_use_the_migrated_tables(pg_server, names, make_sqlite) -> None:  # type: ignore[no-untyped-def]
    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate
    from wizard.plan.planner import build_plan
    from wizard.target.databases import hand_over

    admin = pg_server.admin
    req = DatabaseRequest(names["base"], ["dev"], app_role=names["role"], role_password="App-Pass-456")
    create_databases(admin, plan_databases(admin, req))
    target = admin.with_dbname(f"{names['base']}_dev")
    path = make_sqlite("CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);"
                       "INSERT INTO items (name) VALUES ('a'), ('b');")
    plan = build_plan(path)
    migrate(plan, target, CopyOptions(jobs=1))  # as the administrator: the tables are the administrator's
    app = role_spec(admin, names["role"], target.dbname).with_password("App-Pass-456")
    conn = psycopg2.connect(**app.connect_kwargs())
    with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
        cur.execute("SELECT count(*) FROM items")
    conn.close()
    assert hand_over(target, plan, names["role"]) == 1
    conn = psycopg2.connect(**app.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM items")
        assert cur.fetchone() == (2,)
        cur.execute("INSERT INTO items (name) VALUES ('c') RETURNING id")  # the identity sequence came along
        assert cur.fetchone() == (3,)
    conn.commit()
    conn.close()
