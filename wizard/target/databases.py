"""Create one database per environment (and optionally an application role owning them), idempotently.

`plan_databases` looks at the server and decides what to do; its statements can be previewed (the role's password
shows as ***) before `create_databases` runs them. Existing databases and roles are reused; a database that already
holds tables is only dropped when the caller passes its name typed back as confirmation.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from wizard.errors import InputError
from wizard.plan_model import MigrationPlan
from wizard.target.connection import ConnectionSpec, connect
from wizard.target.credentials import KeyringStatus, keyring_status, save_password
from wizard.target.server_check import test_connection

APP_PASSWORD_ENV = "PGMIGRATE_APP_PASSWORD"  # where a role's password comes from when no keyring can keep one
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")


@dataclass
class DatabaseRequest:
    base_name: str
    envs: list[str] = field(default_factory=lambda: ["dev", "test", "prod"])
    names: dict[str, str] = field(default_factory=dict)  # env -> database name, overriding NAME_env
    app_role: str | None = None
    role_password: str | None = None  # None: generate a strong one (new roles only)

    def database_names(self) -> dict[str, str]:
        return {env: self.names.get(env) or f"{self.base_name}_{env}" for env in self.envs}


@dataclass
class DatabaseStatus:
    env: str
    name: str
    exists: bool
    owner: str | None = None
    tables: int = 0  # user tables already in it

    @property
    def non_empty(self) -> bool:
        return self.tables > 0


@dataclass
class Step:
    """One statement: where it runs (None = the admin connection) and how the preview shows it."""

    database: str | None
    statement: sql.Composable
    preview: str
    creates: str | None = None  # the database this statement creates
    creates_role: bool = False


@dataclass
class DatabasePlan:
    request: DatabaseRequest
    databases: list[DatabaseStatus]
    role_exists: bool
    steps: list[Step]
    role_password: str | None = field(default=None, repr=False)

    def preview_sql(self) -> str:
        return "".join(s.preview + ";\n" for s in self.steps) or "-- nothing to do: everything exists already\n"


@dataclass
class DatabaseResult:
    created: list[str]
    reused: list[str]
    dropped: list[str]
    role: str | None
    role_created: bool
    password_storage: KeyringStatus | None = None


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        raise InputError(f"'{name}' is not a usable {kind} name.", title=f"Bad {kind} name",
                         hint="Use letters, digits and _ (start with a letter), at most 63 characters.")


def _text(conn: psycopg2.extensions.connection, composed: sql.Composable) -> str:
    return composed.as_string(conn)


def plan_databases(admin: ConnectionSpec, request: DatabaseRequest) -> DatabasePlan:
    """Inspect the server and build the statements (nothing changes yet). Raises InputError when the account lacks
    a right it needs, naming the databases that exist already so the user can continue with one of those."""
    for name in request.database_names().values():
        _check_name("database", name)
    if request.app_role:
        _check_name("role", request.app_role)
    info = test_connection(admin)
    conn = connect(admin)
    try:
        with conn.cursor() as cur:
            statuses = []
            for env, name in request.database_names().items():
                cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,))
                row = cur.fetchone()
                statuses.append(DatabaseStatus(env, name, row is not None, row[0] if row else None))
            role_exists = False
            if request.app_role:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (request.app_role,))
                role_exists = cur.fetchone() is not None
        for st in statuses:
            if st.exists:
                st.tables = _user_tables(admin.with_dbname(st.name))
        missing = [s.name for s in statuses if not s.exists]
        if missing and not (info.superuser or info.createdb):
            existing = [s.name for s in statuses if s.exists]
            raise InputError(f"User '{admin.user}' may not create databases (no CREATEDB right), so "
                             f"{', '.join(missing)} cannot be created." +
                             (f" These exist already: {', '.join(existing)}." if existing else ""),
                             title="Cannot create databases",
                             hint="Continue with an existing database, connect as a user with CREATEDB, or ask "
                                  "an administrator: ALTER ROLE <you> CREATEDB.")
        if request.app_role and not role_exists and not (info.superuser or info.createrole):
            raise InputError(f"User '{admin.user}' may not create roles (no CREATEROLE right).",
                             title="Cannot create the role",
                             hint="Leave out the app role, or connect as a user with CREATEROLE.")
        password = None
        given = request.role_password or os.environ.get(APP_PASSWORD_ENV)
        if request.app_role and not role_exists and not given and not keyring_status().usable:
            raise InputError(f"No OS keyring is available to keep the generated password of role "
                             f"'{request.app_role}', so it would be lost.", title="Nowhere to keep the password",
                             hint=f"Choose the password yourself: set {APP_PASSWORD_ENV} and run again.",
                             ui_hint="Type the role's password in the 'Its password' field, then Create again.")
        steps: list[Step] = []
        role = request.app_role
        if role and not role_exists:
            password = given or _generated_password()
            # The server only ever sees the SCRAM verifier, never the password (not in its logs either).
            verifier = psycopg2.extensions.encrypt_password(password, role, conn, "scram-sha-256")
            stmt = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier))
            preview = sql.SQL("CREATE ROLE {} LOGIN PASSWORD '***'").format(sql.Identifier(role))
            steps.append(Step(None, stmt, _text(conn, preview), creates_role=True))
        if role and not info.superuser and any(not st.exists for st in statuses) and not _member(conn, role):
            # only a member may create databases owned by a role (PostgreSQL 16+ does not make the creator one)
            stmt = sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role))
            steps.append(Step(None, stmt, _text(conn, stmt)))
        for st in statuses:
            if st.exists:
                if role and st.owner != role:
                    steps += _grant_steps(conn, st.name, role)
                continue
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(st.name))
            if role:
                stmt = sql.SQL("{} OWNER {}").format(stmt, sql.Identifier(role))
            steps.append(Step(None, stmt, _text(conn, stmt), creates=st.name))
        return DatabasePlan(request, statuses, role_exists, steps, password)
    finally:
        conn.close()


def _grant_steps(conn: psycopg2.extensions.connection, dbname: str, role: str) -> list[Step]:
    """A reused database the role does not own: since PostgreSQL 15 `public` no longer lets everyone create
    tables, so the schema grant is needed besides the database one."""
    out = []
    for stmt in (sql.SQL("GRANT CONNECT, TEMPORARY, CREATE ON DATABASE {} TO {}").format(
                     sql.Identifier(dbname), sql.Identifier(role)),
                 sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(role))):
        text = _text(conn, stmt)
        out.append(Step(dbname, stmt, f"-- in {dbname}\n{text}" if "SCHEMA" in text else text))
    return out


def _member(conn: psycopg2.extensions.connection, role: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = %s", (role,))
        row = cur.fetchone()
    return bool(row and row[0])


def _generated_password() -> str:
    return secrets.token_urlsafe(24)  # 192 bits, URL- and .env-safe


def _user_tables(spec: ConnectionSpec) -> int:
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', "
                        "'pgmigrate') AND n.nspname NOT LIKE 'pg_toast%'")  # pgmigrate: a copy's own state
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def create_databases(admin: ConnectionSpec, plan: DatabasePlan, *,
                     drop_confirmed: dict[str, str] | None = None) -> DatabaseResult:
    """Run the plan. `drop_confirmed` maps a non-empty database's name to what the user typed: only an exact match
    drops and recreates it. Each statement runs on its own, so a failure leaves what succeeded in place and a rerun
    (which reuses it) finishes the rest."""
    drop_confirmed = drop_confirmed or {}
    result = DatabaseResult([], [], [], plan.request.app_role, False)
    role = plan.request.app_role
    dropping = [st for st in plan.databases if st.non_empty and st.name in drop_confirmed]
    for st in dropping:
        if drop_confirmed[st.name] != st.name:
            raise InputError(f"The confirmation for dropping {st.name} did not match its name.",
                             title="Not confirmed", hint=f"Type the database name exactly ({st.name}) to drop it.")
    conn = connect(admin)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            for step in plan.steps:
                if step.database is None:
                    _run(cur, step)
                    if step.creates_role:
                        result.role_created = True
                        assert plan.role_password is not None and role is not None
                        result.password_storage = save_password(role_spec(admin, role, admin.dbname),
                                                                plan.role_password)
                    elif step.creates is not None:
                        result.created.append(step.creates)
                else:
                    _run_in(admin.with_dbname(step.database), step)
            for st in dropping:
                cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(st.name)))
                stmt = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(st.name))
                if role:
                    stmt = sql.SQL("{} OWNER {}").format(stmt, sql.Identifier(role))
                cur.execute(stmt)
                result.dropped.append(st.name)
    finally:
        conn.close()
    result.reused = [st.name for st in plan.databases if st.exists and st.name not in result.dropped]
    return result


def _run(cur: psycopg2.extensions.cursor, step: Step) -> None:
    try:
        cur.execute(step.statement)
    except psycopg2.Error as exc:
        raise InputError(f"'{step.preview.splitlines()[-1]}' failed: {(exc.pgerror or str(exc)).strip()}",
                         title="Statement failed", hint="Fix the cause, then run again: what was done is reused.") \
            from None


def _run_in(spec: ConnectionSpec, step: Step) -> None:
    conn = connect(spec)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            _run(cur, step)
    finally:
        conn.close()


def role_spec(admin: ConnectionSpec, role: str, dbname: str) -> ConnectionSpec:
    """How the app connects: the admin's server, the role's name, one of its databases (no password in it)."""
    return ConnectionSpec(admin.host, admin.port, role, dbname, admin.sslmode)


def hand_over(target: ConnectionSpec, plan: MigrationPlan, role: str, schema: str = "public") -> int:
    """Make `role` the owner of the migrated tables and views (their identity sequences follow the tables), so the
    application connecting as that role can read and write them. One transaction; returns how many objects."""
    _check_name("role", role)
    conn = connect(target)
    count = 0
    try:
        with conn.cursor() as cur:
            for t in plan.included_tables:
                cur.execute(sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(
                    sql.Identifier(schema), sql.Identifier(t.target), sql.Identifier(role)))
                count += 1
            for v in plan.views:
                if v.sql is None:
                    continue
                cur.execute("SELECT 1 FROM pg_views WHERE schemaname = %s AND viewname = %s", (schema, v.target))
                if cur.fetchone():
                    cur.execute(sql.SQL("ALTER VIEW {}.{} OWNER TO {}").format(
                        sql.Identifier(schema), sql.Identifier(v.target), sql.Identifier(role)))
                    count += 1
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        raise InputError(f"The tables could not be handed over to role {role}: {(exc.pgerror or str(exc)).strip()}",
                         title="Ownership not changed",
                         hint="Connect as a superuser or a member of that role, then retry.") from None
    finally:
        conn.close()
    return count
