"""A column's DEFAULT in PostgreSQL: a literal of the column's planned type, CURRENT_TIMESTAMP and friends,
or dropped with a finding when PostgreSQL could not use it."""

from __future__ import annotations

from wizard.convert.values import BadValue, converter
from wizard.plan.context import PlanContext
from wizard.plan.expressions import literal_value, translate
from wizard.plan_model import ColumnPlan
from wizard.source.schema import SqliteColumn, SqliteTable


def plan_default(ctx: PlanContext, t: SqliteTable, c: SqliteColumn, col: ColumnPlan) -> str | None:
    if c.default is None or col.identity:
        return None
    lit = literal_value(c.default)
    kind = col.conversion
    drop_reason = None
    if lit is None:
        resolved = translate(c.default, lambda n: None)
        drop_reason = resolved.reason or "it is an expression PostgreSQL may not accept"
    else:
        what, text = lit
        if what == "null":
            return None
        if what == "now":
            if kind in ("timestamp", "timestamptz", "text"):
                return text
            if kind == "date":
                return "CURRENT_DATE"
            drop_reason = f"{text} does not fit {col.pg_type}"
        elif kind == "bool":
            v = text.strip().lower()
            if v in ("1", "t", "true", "y", "yes", "on"):
                return "true"
            if v in ("0", "f", "false", "n", "no", "off"):
                return "false"
            drop_reason = f"{text!r} is not a boolean"
        elif kind in ("int", "float", "numeric"):
            try:
                float(text)
                return text.strip() if what == "number" else _num_literal(text)
            except ValueError:
                drop_reason = f"{text!r} is not a number"
        elif what == "blob":
            return f"'\\x{text}'::bytea" if kind == "bytea" else None
        elif kind in ("timestamp", "timestamptz", "date", "time", "json"):
            try:
                converter(kind)(text)
                return _str_literal(text)
            except BadValue as exc:
                drop_reason = str(exc)
        else:
            return _str_literal(text) if what in ("string", "number") else _str_literal(text)
    ctx.find("default_dropped", "warning", t.name, c.name,
             f"DEFAULT {c.default} of '{c.name}' cannot be used in PostgreSQL: {drop_reason}.",
             "The column is created without a default; add one by hand if the application relies on it.")
    return None


def _num_literal(text: str) -> str:
    return text.strip()


def _str_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
