"""A table's plan: its columns, primary key, row width, indexes, CHECKs and generated columns."""

from __future__ import annotations

from collections.abc import Callable

from wizard.plan.affinity import Affinity, affinity, text_arithmetic_note
from wizard.plan.columns import decide_column, json_check, mappings
from wizard.plan.context import PlanContext
from wizard.plan.expressions import translate
from wizard.plan.identifiers import NameSpace, derived_name
from wizard.plan.indexes import plan_indexes
from wizard.plan.keys import plan_primary_key
from wizard.plan_model import CheckPlan, TablePlan
from wizard.source.profile import ColumnProfile
from wizard.source.schema import SqliteTable
from wizard.source.sql_tokens import quote, tokenize

# Bytes a value takes in a PostgreSQL row for types that cannot move out of line (TOAST); others count 0.
_FIXED_WIDTH = {"bigint": 8, "integer": 4, "smallint": 2, "double precision": 8, "real": 4, "boolean": 1,
                "timestamp": 8, "timestamptz": 8, "date": 4, "time": 8, "uuid": 16}


_MAX_ROW_BYTES = 8160  # a heap tuple must fit one 8 kB page


def plan_columns(ctx: PlanContext, t: SqliteTable, profiles: dict[str, ColumnProfile]) -> TablePlan:
    """Table `t` with its columns typed from their profiles; `complete_table` adds the rest once the types of the
    columns that foreign keys join are settled (plan/relations)."""
    colspace = NameSpace(ctx.keep_case)
    base, _ = mappings(ctx, t, profiles)
    columns = []
    for c in t.columns:
        target, note = colspace.assign(c.name)
        if note:
            ctx.find("identifier", "warning", t.name, c.name, note, "The column gets the new name.")
        columns.append(decide_column(ctx, t, c, target, base[c.name], profiles[c.name]))
    target = ctx.table_names[t.name]
    pk_order = [next(c for c in columns if c.source == s).target for s in t.primary_key]
    pk_name = derived_name(target, suffix="pkey")
    tp = TablePlan(source=t.name, target=target, columns=columns, primary_key=pk_order, pk_name=pk_name,
                   row_count=t.row_count, without_rowid=t.without_rowid,
                   key_columns=list(t.primary_key) if t.without_rowid else ["rowid"],
                   autoincrement=t.autoincrement, sequence_floor=ctx.schema.sequences.get(t.name, 0),
                   rowid_alias=t.rowid_alias)
    return tp


def complete_table(ctx: PlanContext, t: SqliteTable, tp: TablePlan) -> None:
    """The rest of the table's plan, against its columns' final types: row width, primary key, indexes, CHECKs
    and generated columns (its foreign keys come once every table is planned)."""
    columns = tp.columns
    width = sum(_FIXED_WIDTH.get(c.pg_type, 0) for c in columns) + 24  # + the tuple header
    if width > _MAX_ROW_BYTES or len(columns) > 1600:
        ctx.find("row_too_wide", "error", t.name, None,
                 f"A row of {t.name} needs about {width:,} bytes in {len(columns)} column(s); PostgreSQL "
                 f"stores at most {_MAX_ROW_BYTES:,} bytes of fixed-width columns and 1,600 columns per row.",
                 "Exclude the table, or override columns to narrower types (integer, real) or to text; "
                 "as planned, its copy will fail.")
    plan_primary_key(ctx, t, tp)
    resolve = column_resolver(tp)
    kinds = affinity([tp])
    tp.indexes += plan_indexes(ctx, t, tp, resolve, kinds)
    json_columns = [c for c in tp.columns if c.conversion == "json"]
    for src in t.checks + [ch for c in t.columns for ch in c.checks]:
        covered = next((c for c in json_columns if json_check(src, c.source)), None)
        if covered is not None:  # the jsonb column only takes valid JSON: the CHECK has nothing left to do
            ctx.find("json_check", "info", t.name, covered.source,
                     f"'{covered.source}' may only hold JSON (CHECK ({src})).",
                     f"It becomes {covered.pg_type}, which only takes valid JSON, so the CHECK is not needed.")
            continue
        tp.checks.append(plan_check(ctx, t, tp, src, resolve, kinds))
    for col in t.columns:
        if col.generated:
            ctx.find("generated", "warning", t.name, col.name,
                     f"'{col.name}' is a generated column ({col.generated_expr}).",
                     "Its current values are copied into a plain column; re-create the expression in "
                     "PostgreSQL as GENERATED ALWAYS AS (...) STORED if the application needs it.")
    if t.strict:
        ctx.find("strict", "info", t.name, None, "The table is STRICT.", "Types map as declared.")


def column_resolver(tp: TablePlan) -> Callable[[str], str | None]:
    lookup = {c.source.lower(): quote(c.target) for c in tp.columns}
    return lambda name: lookup.get(name.lower())


def _check_name(tp: TablePlan, src: str) -> str:
    """The name PostgreSQL gives an unnamed CHECK, as the framework's own CREATE TABLE there gets it:
    `table_column_check` when it reads one column, else `table_check`."""
    names = {c.source.lower(): c.target for c in tp.columns}
    used = {names[t.value.lower()] for t in tokenize(src) if t.kind in ("ident", "qident") and t.value.lower()
            in names}
    return derived_name(tp.target, *(used if len(used) == 1 else ()), suffix="check")


def plan_check(ctx: PlanContext, t: SqliteTable, tp: TablePlan, src: str, resolve: Callable[[str], str | None],
               kinds: Affinity) -> CheckPlan:
    given = t.check_names.get(src)  # kept: the app's later migrations drop or alter it by that name
    name, _ = ctx.relations.assign(given or _check_name(tp, src))
    tr = translate(src, resolve, kinds=kinds)
    if tr.sql is None:
        ctx.find("check_skipped", "warning", t.name, None, f"CHECK ({src}) cannot be translated: {tr.reason}.",
                 "It is not created; add an equivalent constraint by hand.")
    if tr.text_arithmetic:
        ctx.find("text_arithmetic", "warning", t.name, None,
                 f"CHECK ({src}) {text_arithmetic_note(tr.text_arithmetic)}.",
                 "Translated to give the same result as in SQLite; to join text, || was probably meant.")
    return CheckPlan(name=name, source=src, sql=tr.sql, skipped=tr.reason)
