"""The rows behind a constraint that could not be validated: which keys break it, for the copy's report.

PostgreSQL names one offending row when VALIDATE CONSTRAINT fails; the user needs all of them (or at least how
many, and the commonest) to decide whether to fix the data or the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from wizard.plan import ddl
from wizard.plan_model import CheckPlan, ForeignKeyPlan, MigrationPlan, TablePlan
from wizard.target.pg_errors import is_transient

SHOWN = 10  # offending keys listed per constraint


def explain(conn: Any, plan: MigrationPlan, schema: str, st: ddl.Statement) -> str | None:
    """For a failed validation of a foreign key or CHECK: how many rows break it and their keys; None for any
    other statement. Runs in the caller's transaction (which must still be usable)."""
    if st.kind != "validate":
        return None
    return explain_constraint(conn, plan, schema, st.table or "", st.name)


def explain_constraint(conn: Any, plan: MigrationPlan, schema: str, table: str, name: str) -> str | None:
    """How many rows of `table` (a target name) break its foreign key or CHECK `name`, and their keys; None for
    another constraint, or when the rows cannot be read."""
    tables = {t.target: t for t in plan.included_tables}
    t = tables.get(table)
    if t is None:
        return None
    fk = next((f for f in t.foreign_keys if f.name == name), None)
    ck = next((c for c in t.checks if c.name == name and c.sql), None)
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT pgmw_explain")
        try:
            if fk is not None and fk.ref_table in tables:
                return _orphans(conn, t, fk, tables[fk.ref_table], schema)
            if ck is not None:
                return _failing_checks(conn, t, ck, schema)
            return None
        except psycopg2.Error as exc:
            if is_transient(exc):
                raise
            cur.execute("ROLLBACK TO SAVEPOINT pgmw_explain")  # PostgreSQL's own message stands
            return None
        finally:
            if not conn.closed and conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INTRANS:
                cur.execute("RELEASE SAVEPOINT pgmw_explain")


def _orphans(conn: Any, t: TablePlan, fk: ForeignKeyPlan, ref: TablePlan, schema: str) -> str:
    cols = [sql.SQL("c.{}").format(sql.Identifier(c)) for c in fk.columns]
    # MATCH SIMPLE, PostgreSQL's default: a row with a NULL in any key column references nothing and passes
    present = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(c) for c in cols)
    match = sql.SQL(" AND ").join(sql.SQL("p.{} = {}").format(sql.Identifier(r), c)
                                  for r, c in zip(fk.ref_columns, cols, strict=True))
    where = sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(present, ddl.table_ident(ref, schema),
                                                                            match)
    found = _offending(conn, sql.SQL(", ").join(cols), ddl.table_ident(t, schema), where)
    return (f"{found.rows:,} row(s) of {t.target} refer to no row of {ref.target}: ({', '.join(fk.columns)}) = "
            f"{found.listed()}. The foreign key stays NOT VALID (new rows are checked); fix or delete those rows, "
            f"then run: ALTER TABLE {ddl.render(ddl.table_ident(t, schema))} VALIDATE CONSTRAINT "
            f"{ddl.render(sql.Identifier(fk.name))}")


def _failing_checks(conn: Any, t: TablePlan, ck: CheckPlan, schema: str) -> str:
    assert ck.sql is not None
    key_cols = t.primary_key or [c.target for c in t.columns[:1]]
    key = sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c)) for c in key_cols)
    # a CHECK passes when its expression is NULL: only a false one breaks it
    found = _offending(conn, key, ddl.table_ident(t, schema), sql.SQL("NOT ({})").format(sql.SQL(ck.sql)))
    return (f"{found.rows:,} row(s) of {t.target} break CHECK ({ck.source}): ({', '.join(key_cols)}) = "
            f"{found.listed()}. The constraint stays NOT VALID (new rows are checked).")


@dataclass(frozen=True)
class _Found:
    rows: int
    keys: int  # distinct
    commonest: list[tuple[tuple[Any, ...], int]]  # at most SHOWN keys, with how many rows hold each

    def listed(self) -> str:
        text = ", ".join(key_text(k, n) for k, n in self.commonest)
        more = self.keys - len(self.commonest)
        return text + (f" and {more:,} more" if more > 0 else "")


def _offending(conn: Any, key: sql.Composable, table: sql.Composable, where: sql.Composable) -> _Found:
    """The rows of `table` (as c) matching `where`: how many, how many distinct keys, the commonest keys."""
    grouped = sql.SQL("SELECT {key}, count(*) AS n FROM {table} c WHERE {where} GROUP BY {key}").format(
        key=key, table=table, where=where)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT coalesce(sum(n), 0), count(*) FROM ({}) g").format(grouped))
        rows, keys = cur.fetchone()
        cur.execute(sql.SQL("{} ORDER BY n DESC, {} LIMIT {}").format(grouped, key, sql.Literal(SHOWN)))
        commonest = [(tuple(r[:-1]), int(r[-1])) for r in cur.fetchall()]
    return _Found(int(rows), int(keys), commonest)


def key_text(key: tuple[Any, ...], rows: int) -> str:
    values = [_value_text(v) for v in key]
    text = values[0] if len(values) == 1 else "(" + ", ".join(values) + ")"
    return text + (f" ({rows:,} rows)" if rows > 1 else "")


def _value_text(v: Any) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, (memoryview, bytes)):
        return "\\x" + bytes(v).hex()
    return str(v)
