"""Types chosen per relation: the columns that foreign keys join (transitively) get one type that every value of
every one of them fits, so each key can be created. Each column is first typed from its own data; a referenced
code column of text and a referencing one holding only numbers would otherwise become text and bigint, which
PostgreSQL refuses to join by a foreign key."""

from __future__ import annotations

from wizard.plan.columns import switch_type
from wizard.plan.context import PlanContext
from wizard.plan_model import ColumnPlan, TablePlan
from wizard.source.schema import SqliteSchema

_NUMBERS = {"int", "float", "numeric", "bool"}
# Conversions PostgreSQL joins by a key whatever their length, precision or time zone.
_FAMILY = {"timestamptz": "timestamp", "date": "timestamp"}


def key_groups(schema: SqliteSchema) -> list[list[tuple[str, str]]]:
    """The (table, column) source names that foreign keys join, one group per connected set (two or more)."""
    tables = {t.name.lower(): t for t in schema.tables}
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for t in schema.tables:
        for fk in t.foreign_keys:
            ref = tables.get(fk.ref_table.lower())
            if ref is None or len(fk.from_columns) != len(fk.to_columns):
                continue
            ref_cols = {c.name.lower(): c.name for c in ref.columns}
            own_cols = {c.name.lower(): c.name for c in t.columns}
            for frm, to in zip(fk.from_columns, fk.to_columns, strict=True):
                if frm.lower() in own_cols and to.lower() in ref_cols:
                    a = (t.name, own_cols[frm.lower()])
                    b = (ref.name, ref_cols[to.lower()])
                    parent[find(a)] = find(b)
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def unify_key_types(ctx: PlanContext, tables: list[TablePlan]) -> None:
    """Give every group of joined columns one type: the widest the data of its columns needs, with a finding for
    each column that changes. A column the user typed with --type keeps it (and so sets the group's type)."""
    by_source = {t.source: t for t in tables}
    for group in key_groups(ctx.schema):
        cols = [(by_source[tn], by_source[tn].column(cn)) for tn, cn in group]
        if len({_family(c) for _, c in cols}) <= 1:
            continue
        overridden = [c for _, c in cols if c.override]
        pg_type, conversion = (overridden[0].pg_type, overridden[0].conversion) if overridden else _widest(
            [c for _, c in cols])
        planned = [(t, c, c.pg_type) for t, c in cols]
        for t, c in cols:
            if c.override or _family(c) == _FAMILY.get(conversion, conversion):
                continue
            was = c.pg_type
            switch_type(c, pg_type, conversion)
            c.identity = False
            ctx.find("key_type", "warning", t.source, c.source,
                     f"'{c.source}' was planned as {was}, but foreign keys join it to columns of other types: "
                     + ", ".join(f"{ot.source}.{oc.source} ({typ})" for ot, oc, typ in planned if oc is not c) + ".",
                     f"It becomes {pg_type}, which every value of the joined columns fits, so the foreign key "
                     f"can be created; override with --type {t.source}.{c.source}=TYPE.")


def _family(c: ColumnPlan) -> str:
    return _FAMILY.get(c.conversion, c.conversion)


def _widest(cols: list[ColumnPlan]) -> tuple[str, str]:
    kinds = {c.conversion for c in cols}
    if kinds <= _NUMBERS:
        if kinds <= {"int", "bool"}:
            return "bigint", "int"
        return "numeric", "numeric"  # holds every integer and every double's decimal text exactly
    if "bytea" in kinds:
        return "bytea", "bytea"
    return "text", "text"
