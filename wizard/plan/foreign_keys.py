"""Foreign keys: the referenced table and columns by their PostgreSQL names, the actions, what PostgreSQL
requires of the referenced columns, and the rows that break a key (SQLite does not enforce them by default)."""

from __future__ import annotations

from wizard.plan import django_names
from wizard.plan.context import PlanContext
from wizard.plan.identifiers import derived_name
from wizard.plan_model import ForeignKeyPlan, TablePlan
from wizard.source.schema import SqliteTable
from wizard.source.sql_tokens import quote
from wizard.source.sqlite_file import fk_violation_counts

_FK_ACTIONS = {"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"}


def plan_foreign_keys(ctx: PlanContext, t: SqliteTable, tp: TablePlan,
                      tables: dict[str, TablePlan]) -> list[ForeignKeyPlan]:
    out = []
    violations = _fk_violations(ctx, t)
    for n, fk in enumerate(t.foreign_keys):
        ref = tables.get(fk.ref_table) or next((x for x in tables.values()
                                                if x.source.lower() == fk.ref_table.lower()), None)
        cols = [tp.column(c).target for c in fk.from_columns if c in {x.source for x in tp.columns}]
        plan = ForeignKeyPlan(name="", columns=cols, ref_table=ref.target if ref else fk.ref_table,
                              ref_columns=[], on_update=_action(fk.on_update), on_delete=_action(fk.on_delete),
                              violations=violations.get(n, 0), deferred=fk.deferred)
        if ref is None:
            plan.skipped = f"the referenced table {fk.ref_table} does not exist"
        elif len(cols) != len(fk.from_columns):
            plan.skipped = "it names a column the table does not have"
        else:
            try:
                plan.ref_columns = [ref.column(c).target if c in {x.source for x in ref.columns}
                                    else next(x.target for x in ref.columns if x.source.lower() == c.lower())
                                    for c in fk.to_columns]
            except StopIteration:
                plan.skipped = f"it refers to a column {fk.ref_table} does not have"
            if not plan.skipped and not _is_unique_target(ref, plan.ref_columns):
                plan.skipped = (f"the referenced columns of {fk.ref_table} are neither its primary key nor "
                                "unique (PostgreSQL requires that)")
            if not plan.skipped and not ref.include:
                plan.skipped = f"the referenced table {fk.ref_table} is excluded"
        plan.name, _ = ctx.relations.assign(_name(ctx, tp, plan, fk.from_columns))
        if plan.skipped:
            ctx.find("fk_skipped", "warning", t.name, None,
                     f"Foreign key ({', '.join(fk.from_columns)}) -> {fk.ref_table} cannot be created: "
                     f"{plan.skipped}.", "It is left out; the data is copied anyway.")
        elif plan.violations:
            ctx.find("fk_violations", "error", t.name, None,
                     f"{plan.violations} row(s) of {t.name} break the foreign key ({', '.join(fk.from_columns)})"
                     f" -> {fk.ref_table} (SQLite does not enforce foreign keys by default).",
                     "The rows are copied; the key is created NOT VALID so new rows are checked, and the "
                     "offending rows are listed by the copy's report.", count=plan.violations)
        out.append(plan)
    return out


def _name(ctx: PlanContext, tp: TablePlan, plan: ForeignKeyPlan, from_columns: list[str]) -> str:
    """PostgreSQL's own name for the key (`table_col_fkey`), or the one Django gives it there."""
    if ctx.framework == "django" and len(plan.columns) == 1 and len(plan.ref_columns) == 1:
        return django_names.foreign_key_name(tp.target, plan.columns[0], plan.ref_table, plan.ref_columns[0])
    return derived_name(tp.target, *from_columns, suffix="fkey")


def _fk_violations(ctx: PlanContext, t: SqliteTable) -> dict[int, int]:
    if not t.foreign_keys:
        return {}
    if t.name in ctx.fk_counts:  # counted by a worker beside the profile's value checks
        return ctx.fk_counts[t.name]
    return fk_violation_counts(ctx.conn, t.name, len(t.foreign_keys))


def _action(a: str) -> str:
    a = (a or "NO ACTION").upper()
    return a if a in _FK_ACTIONS else "NO ACTION"


def _is_unique_target(ref: TablePlan, cols: list[str]) -> bool:
    if set(cols) == set(ref.primary_key) and ref.primary_key:
        return True
    quoted = {quote(c) for c in cols}
    return any(ix.unique and not ix.where and not ix.skipped and set(ix.parts) == quoted and len(ix.parts) ==
               len(cols) for ix in ref.indexes)
