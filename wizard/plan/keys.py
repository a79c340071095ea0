"""Primary keys: NOT NULL as PostgreSQL needs it (or a UNIQUE index when SQLite let NULLs in), and the key
values that SQLite holds apart but the conversion makes equal."""

from __future__ import annotations

from typing import Any

from wizard.convert.values import BadValue, column_converter
from wizard.plan.context import PlanContext
from wizard.plan.identifiers import derived_name
from wizard.plan_model import ColumnPlan, IndexPlan, TablePlan
from wizard.source.schema import SqliteTable
from wizard.source.sql_tokens import quote
from wizard.source.sqlite_file import escaped_text, text_factory

_KEY_CHECK_MAX_ROWS = 2_000_000  # a key of mixed storage classes is checked for collisions up to this many rows


def plan_primary_key(ctx: PlanContext, t: SqliteTable, tp: TablePlan) -> None:
    """The primary key of `tp` as PostgreSQL needs it: its columns NOT NULL, or, when SQLite let NULLs into them
    (a rowid table's key other than its rowid), a UNIQUE index instead."""
    pk_cols = [c for c in tp.columns if c.source in t.primary_key]
    pk_order = tp.primary_key
    pk_nulls = [c for c in pk_cols if c.nulls]
    target = tp.target
    if pk_nulls and not t.rowid_alias:
        names_ = ", ".join(c.source for c in pk_nulls)
        ctx.find("pk_nulls", "error", t.name, pk_nulls[0].source,
                 f"Primary key column(s) {names_} hold NULL in {sum(c.nulls for c in pk_nulls)} row(s); "
                 "SQLite allows that in rowid tables, PostgreSQL does not.",
                 "The primary key becomes a UNIQUE index (which allows NULLs); the rows are kept.",
                 count=sum(c.nulls for c in pk_nulls))
        tp.indexes.append(IndexPlan(name=derived_name(target, suffix="pkey_uniq"), unique=True,
                                    parts=[quote(n) for n in pk_order]))
        tp.primary_key = []
    else:
        for pc in pk_cols:
            pc.nullable = False
        if len(pk_cols) == 1:
            find_key_collisions(ctx, t, pk_cols[0], "primary key")
    if not t.primary_key:
        ctx.find("no_pk", "info", t.name, None, "The table has no primary key.",
                 "It is copied as is; consider adding a key in PostgreSQL for updates by the application.")


def find_key_collisions(ctx: PlanContext, t: SqliteTable, col: ColumnPlan, key: str) -> None:
    """A finding when values of a single-column key that SQLite holds apart (1 and '1' in a column without
    affinity, 1.0 and '1.00' to numeric) become equal once converted: the key cannot be built."""
    classes = [k for k, n in col.classes.items() if n]
    if len(classes) < 2 or col.conversion == "json" or t.row_count > _KEY_CHECK_MAX_ROWS:
        return  # one storage class: SQLite's own uniqueness holds after conversion
    conv = column_converter(col)
    seen: dict[Any, Any] = {}
    collided: list[str] = []
    count = 0
    with text_factory(ctx.conn, escaped_text):  # invalid UTF-8 as the copy reads it
        for (v,) in ctx.conn.execute(f"SELECT {quote(col.source)} FROM {quote(t.name)} "
                                     f"WHERE {quote(col.source)} IS NOT NULL"):
            try:
                value = conv(v)
            except BadValue:
                continue  # refused by the copy anyway (the profile has a finding for it)
            if value is None:
                continue
            if value in seen:
                count += 1
                if len(collided) < 3:
                    collided.append(f"{seen[value]!r} and {v!r}")
            else:
                seen[value] = v
    if count:
        ctx.find("key_collisions", "error", t.name, col.source,
                 f"{count} value(s) of {col.source}, the {key} of {t.name}, equal another once converted to "
                 f"{col.pg_type}, though SQLite holds them apart (storage classes: {', '.join(classes)}).",
                 f"The rows are copied but the {key} cannot be created; make the values distinct, or override "
                 f"the column's type (--type {t.name}.{col.source}=TYPE).", count=count, examples=collided)
