"""The checks of what the copy's post-load promised: every planned key, index, CHECK and foreign key exists
and is validated, and each identity's next value is past the highest id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg2 import sql

from wizard.data_copy import violations
from wizard.plan import ddl
from wizard.plan_model import MigrationPlan, TablePlan
from wizard.target.connection import ConnectionSpec, connect
from wizard.verify.results import Check


def existing_tables(spec: ConnectionSpec, schema: str, tables: list[TablePlan]) -> set[str]:
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
            names = {r[0] for r in cur.fetchall()}
        return {t.target for t in tables if t.target in names}
    finally:
        conn.close()


def post_load_checks(plan: MigrationPlan, spec: ConnectionSpec, schema: str, present: set[str],
                      state: dict[str, Any] | None) -> list[Check]:
    out: list[Check] = []
    conn = connect(spec)
    try:
        with conn.cursor() as cur:
            for t in plan.included_tables:
                if t.target not in present:
                    continue
                cur.execute("SELECT conname, contype, convalidated FROM pg_constraint "
                            "WHERE conrelid = %s::regclass", (ddl.render(ddl.table_ident(t, schema)),))
                constraints = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
                cur.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                            (schema, t.target))
                indexes = {r[0] for r in cur.fetchall()}
                if t.primary_key:
                    found = constraints.get(t.pk_name, ("", False))[0] == "p"
                    out.append(Check("primary_key", t.target, found,
                                     f"{t.pk_name} ({', '.join(t.primary_key)})" + ("" if found else " is missing")))
                for ix in t.indexes:
                    if ix.skipped is None:
                        out.append(Check("index", t.target, ix.name in indexes,
                                         ix.name + ("" if ix.name in indexes else " is missing")))
                def rows_breaking(name: str, _t: str = t.target) -> str | None:
                    return violations.explain_constraint(conn, plan, schema, _t, name)

                for fk in t.foreign_keys:
                    if fk.skipped is None:
                        out.append(_constraint_check("foreign_key", t.target, fk.name, "f", constraints,
                                                     rows_breaking))
                for ck in t.checks:
                    if ck.skipped is None and ck.sql is not None:
                        out.append(_constraint_check("check", t.target, ck.name, "c", constraints, rows_breaking))
                if t.identity_column is not None:
                    out.append(_sequence_check(cur, t, schema))
            conn.rollback()
    finally:
        conn.close()
    if state is not None:
        rejected = {name: int(s["rejected"]) for name, s in state["tables"].items() if int(s["rejected"])}
        detail = ("none" if not rejected else
                  ", ".join(f"{n}: {c}" for n, c in sorted(rejected.items())) + " (see the rejects files)")
        out.append(Check("rejected_rows", None, not rejected, detail))
    return out


def _constraint_check(kind: str, table: str, name: str, contype: str, constraints: dict[str, tuple[str, bool]],
                      rows_breaking: Callable[[str], str | None]) -> Check:
    """Whether constraint `name` exists and is validated; one left NOT VALID says which rows break it."""
    got = constraints.get(name)
    if got is None or got[0] != contype:
        return Check(kind, table, False, f"{name} is missing")
    if not got[1]:
        why = rows_breaking(name)
        return Check(kind, table, False, f"{name} exists but is NOT VALID" +
                     (f": {why}" if why else " (existing rows violate it)"))
    return Check(kind, table, True, f"{name} validated")


def _sequence_check(cur: Any, t: TablePlan, schema: str) -> Check:
    ident = t.identity_column
    assert ident is not None
    cur.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.oid = pg_get_serial_sequence(%s, %s)::regclass",
                (ddl.render(ddl.table_ident(t, schema)), ident.target))
    row = cur.fetchone()
    if row is None:
        return Check("sequence", t.target, False, f"{ident.target} has no sequence")
    cur.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
        sql.SQL(".").join([sql.Identifier(row[0]), sql.Identifier(row[1])])))
    last, called = cur.fetchone()
    cur.execute(sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(ident.target), ddl.table_ident(t, schema)))
    top = max(cur.fetchone()[0] or 0, t.sequence_floor)
    nxt = last + 1 if called else last
    ok = nxt > top
    return Check("sequence", t.target, ok, f"next {ident.target} is {nxt}, " +
                 (f"past the highest used ({top})" if ok else f"but {top} is already used: an insert would collide"))
