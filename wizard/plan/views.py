"""Views: the SELECT of each view translated with every table's and column's PostgreSQL name and planned type,
created after the views it uses."""

from __future__ import annotations

import sqlite3

from wizard.plan.affinity import Affinity, text_arithmetic_note
from wizard.plan.context import PlanContext
from wizard.plan.expressions import translate
from wizard.plan.from_clause import using_as_on
from wizard.plan.grouping import aggregate_bare_columns, expand_grouped_stars
from wizard.plan.identifiers import NameSpace
from wizard.plan_model import TablePlan, ViewPlan
from wizard.source.schema import SqliteObject
from wizard.source.sql_tokens import quote, tokenize


def view_names(tables: dict[str, TablePlan]) -> dict[str, str]:
    """For view SQL, which may name any table or column: source name (lower case) -> quoted target name."""
    lookup: dict[str, str] = {}
    for tp in tables.values():
        for c in tp.columns:
            lookup.setdefault(c.source.lower(), quote(c.target))
    for tp in tables.values():
        lookup[tp.source.lower()] = quote(tp.target)
    return lookup


def dependency_order(views: list[SqliteObject]) -> list[SqliteObject]:
    """The views, each after those it names (SQLite resolves a view's views when it is used, PostgreSQL when it is
    created); otherwise in the file's order. Views that name each other in a circle keep that order."""
    names = {v.name.lower(): v for v in views}
    position = {v.name.lower(): n for n, v in enumerate(views)}
    uses = {v.name.lower(): {t.value.lower() for t in tokenize(v.sql) if t.kind in ("ident", "qident")
                             and t.value.lower() in names and t.value.lower() != v.name.lower()} for v in views}
    out: list[SqliteObject] = []
    placed: set[str] = set()

    def place(name: str, path: frozenset[str]) -> None:
        if name in placed or name in path:
            return
        for dep in sorted(uses[name], key=position.__getitem__):
            place(dep, path | {name})
        placed.add(name)
        out.append(names[name])

    for v in views:
        place(v.name.lower(), frozenset())
    return out


def plan_view(ctx: PlanContext, name: str, sql: str, lookup: dict[str, str], kinds: Affinity) -> ViewPlan:
    target, _ = ctx.relations.assign(name)
    lookup.setdefault(name.lower(), quote(target))  # the views after it may use it
    body = _view_body(sql)
    if body:
        def columns(source: str) -> list[str] | None:
            return _columns_of(ctx, source)

        body = expand_grouped_stars(using_as_on(body, columns), columns)
    tr = translate(body, lambda n: lookup.get(n.lower()), kinds=kinds) if body else None
    if tr is None or tr.sql is None:
        reason = tr.reason if tr else "its SELECT could not be found"
        ctx.find("view_skipped", "warning", None, None, f"View {name} cannot be translated: {reason}.",
                 "It is not created; its SQL is listed for manual translation.")
        return ViewPlan(source=name, target=target, source_sql=sql, sql=None, skipped=reason)
    if tr.text_arithmetic:
        ctx.find("text_arithmetic", "warning", None, None, f"View {name} {text_arithmetic_note(tr.text_arithmetic)}.",
                 "Translated to give the same values as in SQLite; to join text, || was probably meant.")
    body_sql, bare = aggregate_bare_columns(tr.sql)
    if bare:
        ctx.find("view_bare_columns", "info", None, None,
                 f"View {name} takes {', '.join(bare)} from one row of each group, which SQLite allows and "
                 "PostgreSQL refuses.", "Each is written as (array_agg(column))[1]: one row's value, as in SQLite.")
    return ViewPlan(source=name, target=target, source_sql=sql, sql=body_sql, columns=_column_names(ctx, name))


def _columns_of(ctx: PlanContext, source: str) -> list[str] | None:
    """A table's or view's columns as SQLite lists them (None: SQLite cannot read it)."""
    try:
        rows = ctx.conn.execute(f"PRAGMA table_info({quote(source)})").fetchall()
    except sqlite3.Error:
        return None
    return [r[1] for r in rows] or None


def _column_names(ctx: PlanContext, name: str) -> list[str]:
    """The view's columns as SQLite names them (a second `_id` is `_id:1`), by the tables' naming rules: the
    view's columns keep SQLite's names (and PostgreSQL, which refuses two columns of one name, gets distinct
    ones). Empty when SQLite itself cannot read the view."""
    space = NameSpace(ctx.keep_case)
    return [space.assign(c)[0] for c in _columns_of(ctx, name) or []]


def _view_body(sql: str) -> str | None:
    from wizard.source.sql_tokens import is_word, join

    toks = tokenize(sql)
    for i, t in enumerate(toks):
        if is_word(t, "AS"):
            return join(toks[i + 1:]).rstrip(";").strip()
    return None
