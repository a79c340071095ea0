"""Indexes: columns re-quoted, COLLATE NOCASE as lower(), expressions and partial-index predicates translated,
and unique indexes whose values collide once converted or compared case-insensitively."""

from __future__ import annotations

from collections.abc import Callable

from wizard.plan import django_names
from wizard.plan.affinity import Affinity
from wizard.plan.context import PlanContext
from wizard.plan.expressions import translate
from wizard.plan.keys import find_key_collisions
from wizard.plan_model import IndexPlan, TablePlan
from wizard.source.schema import SqliteIndex, SqliteTable
from wizard.source.sql_tokens import quote


def plan_indexes(ctx: PlanContext, t: SqliteTable, tp: TablePlan, resolve: Callable[[str], str | None],
                 kinds: Affinity) -> list[IndexPlan]:
    out = []
    nocase_cols = {c.name for c in t.columns if (c.collation or "").upper() == "NOCASE"}
    for idx in t.indexes:
        if idx.origin == "pk":
            continue
        parts: list[str] = []
        reason = None
        nocase = False
        for part in idx.parts:
            if part.column is not None:
                ref = resolve(part.column)
                if ref is None:
                    reason = f"refers to unknown column {part.column}"
                    break
                coll = (part.collation or ("NOCASE" if part.column in nocase_cols else "")).upper()
                if coll == "NOCASE":
                    nocase = True
                    ref = f"lower({ref})"
                elif coll == "RTRIM":
                    ref = f"rtrim({ref})"
                parts.append(ref + (" DESC" if part.descending else ""))
            elif part.expression:
                tr = translate(part.expression, resolve, kinds=kinds)
                if tr.sql is None:
                    reason = f"its expression {part.expression} {tr.reason}"
                    break
                parts.append(f"({tr.sql})" + (" DESC" if part.descending else ""))
            else:
                reason = "its expression could not be read"
                break
        where = None
        if reason is None and idx.where:
            tr = translate(idx.where, resolve, kinds=kinds)
            if tr.sql is None:
                reason = f"its WHERE clause {tr.reason}"
            else:
                where = tr.sql
        plain = all(p.column is not None and not p.descending and not p.collation for p in idx.parts)
        target_name, _ = ctx.relations.assign(_name(ctx, t, tp, idx, plain))
        # a UNIQUE constraint stays one (an app's migration drops it as a constraint); Django makes its unique
        # indexes (unique_together) constraints on PostgreSQL
        as_constraint = idx.origin == "u" or (ctx.framework == "django" and idx.unique)
        plan = IndexPlan(name=target_name, unique=idx.unique, parts=parts, where=where, source_sql=idx.sql,
                         skipped=reason, constraint=as_constraint and plain and not nocase and where is None)
        if reason:
            ctx.find("index_skipped", "warning", t.name, None, f"Index {idx.name} cannot be translated: "
                     f"{reason}.", "It is not created; its SQL is listed for manual translation.")
        elif nocase and idx.unique:
            dupes = _nocase_duplicates(ctx, t, idx.parts)
            if dupes:
                plan.skipped = f"{dupes} value(s) collide when compared case-insensitively"
                ctx.find("nocase_duplicates", "error", t.name, None,
                         f"Unique index {idx.name} (COLLATE NOCASE) has {dupes} duplicate value(s) once "
                         "compared with lower().", "The index is not created; clean the duplicates, then "
                         "create it by hand.", count=dupes)
        if not reason and not nocase and idx.unique and idx.where is None and len(idx.parts) == 1 \
                and idx.parts[0].column is not None and not idx.parts[0].collation:
            col = next((c for c in tp.columns if c.source == idx.parts[0].column), None)
            if col is not None:
                find_key_collisions(ctx, t, col, f"unique index {idx.name}")
        if nocase and not reason:
            ctx.find("nocase", "info", t.name, None, f"Index {idx.name} uses COLLATE NOCASE.",
                     "It is built on lower(column); queries must compare lower(column) to use it, or "
                     "choose the citext type for the column.")
        out.append(plan)
    if ctx.framework == "django":
        out += _django_like_indexes(ctx, t, tp)
    return out


def _name(ctx: PlanContext, t: SqliteTable, tp: TablePlan, idx: SqliteIndex, plain: bool) -> str:
    columns = [tp.column(p.column).target if p.column in {c.source for c in tp.columns} else p.column or "expr"
               for p in idx.parts]
    if idx.origin == "u":  # a UNIQUE constraint: its own name, else PostgreSQL's (`table_col_key`)
        given = t.unique_names.get(tuple(p.column.lower() for p in idx.parts if p.column))
        return given or "_".join([tp.target, *columns]) + "_key"
    if ctx.framework == "django" and plain:
        return django_names.on_postgresql(idx.name, tp.target, columns)
    return idx.name


def _django_like_indexes(ctx: PlanContext, t: SqliteTable, tp: TablePlan) -> list[IndexPlan]:
    """The second index Django adds on PostgreSQL to a text field it indexes (db_index, unique or primary key):
    with varchar_pattern_ops / text_pattern_ops, so LIKE 'abc%' (startswith, contains) can use an index under
    any collation. Made for the columns Django indexed here, under the name Django gives it there."""
    columns: list[str] = []
    if len(t.primary_key) == 1 and t.primary_key[0] != t.rowid_alias:
        columns.append(t.primary_key[0])
    for idx in t.indexes:
        if len(idx.parts) != 1 or idx.parts[0].column is None or idx.parts[0].collation or idx.where:
            continue
        column = idx.parts[0].column
        if idx.origin == "u" or (idx.origin == "c" and not idx.unique
                                 and idx.name == django_names.index_name(t.name, [column],
                                                                         limit=django_names.SQLITE_LIMIT)):
            columns.append(column)
    out = []
    for column in dict.fromkeys(columns):
        col = tp.column(column)
        ops = "varchar_pattern_ops" if col.pg_type.startswith("varchar") else \
            "text_pattern_ops" if col.pg_type == "text" else None
        if ops is None:
            continue
        name, _ = ctx.relations.assign(django_names.index_name(tp.target, [col.target], "_like"))
        out.append(IndexPlan(name=name, unique=False, parts=[f"{quote(col.target)} {ops}"], where=None,
                             source_sql=None))
        ctx.find("framework_index", "info", t.name, column,
                 f"Django indexes '{column}' for LIKE on PostgreSQL too ({name}, {ops}).",
                 "The index is created, as Django creates it there.")
    return out


def _nocase_duplicates(ctx: PlanContext, t: SqliteTable, parts: list) -> int:  # type: ignore[type-arg]
    cols = [p.column for p in parts if p.column]
    if len(cols) != len(parts):
        return 0
    keys = ", ".join(f"lower({quote(c)})" for c in cols)
    notnull = " AND ".join(f"{quote(c)} IS NOT NULL" for c in cols)
    row = ctx.conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {quote(t.name)} WHERE {notnull} "
                           f"GROUP BY {keys} HAVING count(*) > 1)").fetchone()
    return int(row[0])
