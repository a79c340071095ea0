"""Each column's type: the declared type's mapping (or the data's storage classes), the conversions its values
are checked against, and the fallback with a finding when some value does not fit; text issues (NUL bytes,
invalid UTF-8, BLOBs in text) and suggestions of a better type."""

from __future__ import annotations

import re

from wizard.convert.values import INTEGER_MAX, guess_epoch_unit
from wizard.plan import conventions
from wizard.plan.context import PlanContext
from wizard.plan.defaults import plan_default
from wizard.plan.type_mapping import Mapping, map_declared, parse_target_type
from wizard.plan_model import ColumnPlan
from wizard.source.profile import ColumnProfile
from wizard.source.schema import SqliteColumn, SqliteTable
from wizard.source.sql_tokens import quote
from wizard.source.value_checks import Candidate, check_key

_FLAG_NAME = re.compile(r"^(is|has|can|should|allow|enable|use)_|_(flag|enabled|active|deleted|visible|"
                        r"archived|done)$|^(active|enabled|deleted|visible|flag|done|archived|published)$",
                        re.IGNORECASE)


_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")


def mappings(ctx: PlanContext, t: SqliteTable,
             profiles: dict[str, ColumnProfile]) -> tuple[dict[str, Mapping], dict[str, list[Candidate]]]:
    """Each column's first mapping, and the conversions its values are checked against."""
    base: dict[str, Mapping] = {}
    wanted: dict[str, list[Candidate]] = {}
    for c in t.columns:
        base[c.name] = initial_mapping(ctx, t, c, profiles[c.name])
        wanted[c.name] = candidates(c, base[c.name], profiles[c.name])
    return base, wanted


def initial_mapping(ctx: PlanContext, t: SqliteTable, c: SqliteColumn, p: ColumnProfile) -> Mapping:
    key = f"{t.name}.{c.name}"
    if key in ctx.overrides:
        return parse_target_type(ctx.overrides[key])
    framework = conventions.column_mapping(ctx, t, c, p)
    if framework is not None:
        return framework
    if c.name == t.rowid_alias:
        return Mapping("bigint", "int")
    if json_checked(t, c.name):
        return Mapping("jsonb", "json")  # text that may only hold JSON (Django's JSONField, for one)
    declared = map_declared(c.declared_type)
    if declared is not None:
        if declared.conversion == "numeric" and declared.precision is None and not c.declared_type.upper() \
                .startswith(("NUMERIC", "DECIMAL", "MONEY")):
            return _from_data(p) or declared  # NUMERIC affinity by fallback: let the data decide
        return declared
    return _from_data(p) or Mapping("text", "text")


def _json_valid(column: str) -> re.Pattern[str]:
    name = re.escape(column)
    return re.compile(rf'^\(*\s*json_valid\s*\(\s*(?:"{name}"|`{name}`|\[{name}\]|{name})\s*\)'
                      rf'(?:\s+or\s+(?:"{name}"|`{name}`|\[{name}\]|{name})\s+is\s+null)?\s*\)*\s*$',
                      re.IGNORECASE)


def json_check(check: str, column: str) -> bool:
    """Whether a CHECK only says that `column` holds valid JSON (or NULL): jsonb itself makes sure of that."""
    return bool(_json_valid(column).match(check.strip()))


def json_checked(t: SqliteTable, column: str) -> bool:
    """A column whose CHECK only allows valid JSON (or NULL)."""
    col = next((c for c in t.columns if c.name == column), None)
    return any(json_check(ch, column) for ch in t.checks + (col.checks if col else []))


def candidates(c: SqliteColumn, m: Mapping, p: ColumnProfile) -> list[Candidate]:
    out = [Candidate(m.conversion, m.length, m.precision, m.scale)]
    if m.conversion == "text" and not p.blobs and m.length is None:
        out = []  # text always fits (NUL and UTF-8 are counted by the profile)
    if m.conversion == "int":
        if not (p.texts or p.reals or p.blobs):
            out = []
        else:
            out.append(Candidate("float"))
    if m.conversion == "float" and not (p.texts or p.blobs):
        out = []
    if m.conversion == "numeric":
        out.append(Candidate("numeric"))
        out.append(Candidate("float"))
    if m.conversion in ("timestamp", "date"):
        out += [Candidate("timestamp"), Candidate("timestamptz")]
    if m.conversion == "bool":
        out.append(Candidate("int"))
    if m.conversion == "text" and p.texts:
        lo, hi = str(p.min_value or ""), str(p.max_value or "")
        if _DATE_LIKE.match(lo) and _DATE_LIKE.match(hi):
            out += [Candidate("timestamp"), Candidate("timestamptz")]
        if lo[:1] in "[{" and hi[:1] in "[{" and lo and hi:
            out.append(Candidate("json"))
    return list(dict.fromkeys(out))


def decide_column(ctx: PlanContext, t: SqliteTable, c: SqliteColumn, target: str, m: Mapping,
                  p: ColumnProfile) -> ColumnPlan:
    key = f"{t.name}.{c.name}"
    col = ColumnPlan(source=c.name, target=target, declared_type=c.declared_type, pg_type=m.pg_type,
                     conversion=m.conversion, nullable=not c.notnull, length=m.length, precision=m.precision,
                     scale=m.scale, epoch_unit=guess_epoch_unit(p.max_abs_integer),
                     override=ctx.overrides.get(key), mapped_type=m.pg_type,
                     generated_sql=c.generated_expr, classes=p.classes, nulls=p.nulls)
    # an integer key generates its values, whatever its width
    col.identity = c.name == t.rowid_alias and m.conversion == "int" and m.pg_type in INTEGER_MAX
    if col.identity:
        col.nullable = False
        col.identity_kind = conventions.key_style(ctx)
    fit_column(ctx, t, col, p)
    conventions.column_findings(ctx, t, c, col)
    text_issues(ctx, t, col, p)
    suggest(ctx, t, col, p)
    col.default = plan_default(ctx, t, c, col)
    if col.nulls and not col.nullable:
        col.nullable = True  # a NOT NULL column holding NULLs (SQLite allows it in some cases) stays loadable
        ctx.find("notnull_violated", "warning", t.name, c.name,
                 f"'{c.name}' is declared NOT NULL but holds {p.nulls} NULL(s).",
                 "The column is created without NOT NULL so every row loads.", count=p.nulls)
    return col


def fit_column(ctx: PlanContext, t: SqliteTable, col: ColumnPlan, p: ColumnProfile) -> None:
    """Keep the mapped type when every value fits; otherwise fall back, with a finding that says why."""
    if col.conversion == "text" and col.length is None:
        return
    main = p.checks.get(check_key(Candidate(col.conversion, col.length, col.precision, col.scale)))
    if main is None or main.failures == 0:
        if col.conversion in ("timestamp", "date"):
            ts = p.checks.get("timestamp")
            tz = p.checks.get("timestamptz")
            if ts and tz and ts.failures and not tz.failures and tz.with_offset:
                switch_type(col, "timestamptz", "timestamptz")
        if col.conversion in ("int", "float", "numeric", "bool", "timestamp", "timestamptz", "date") \
                and p.empty_strings:
            col.empty_to_null = True
        return
    failures, examples = main.failures, main.examples
    was = col.pg_type
    if col.conversion in ("int", "float", "numeric", "bool", "timestamp", "date", "timestamptz", "time", "json") \
            and p.empty_strings and p.empty_strings == failures and col.nullable and not col.identity:
        col.empty_to_null = True
        ctx.find("empty_string", "warning", t.name, col.source,
                 f"{p.empty_strings} empty string(s) in {col.declared_type or 'untyped'} column "
                 f"'{col.source}'.", f"They are loaded as NULL into {col.pg_type}.", count=p.empty_strings)
        return
    fallback: tuple[str, str] | None = None
    if col.conversion in ("timestamp", "date"):
        if col.conversion == "date" and not p.checks["timestamp"].failures:
            fallback = ("timestamp", "timestamp")
        elif not p.checks["timestamptz"].failures and p.checks["timestamptz"].with_offset:
            fallback = ("timestamptz", "timestamptz")
    elif col.conversion == "numeric" and col.precision and not p.checks["numeric"].failures:
        fallback = ("numeric", "numeric")
    elif col.conversion == "int" and not p.checks["float"].failures and p.max_abs_integer <= 2**53:
        fallback = ("double precision", "float")
    elif col.conversion == "bool" and not p.checks["int"].failures:
        fallback = ("bigint", "int")
    if fallback is None:
        fallback = ("bytea", "bytea") if p.blobs and p.invalid_utf8 else ("text", "text")
    if col.identity:
        col.identity = False
    switch_type(col, *fallback)
    ctx.find("type_fallback", "warning", t.name, col.source,
             f"{failures} value(s) in '{col.source}' do not fit {was}.",
             f"The column becomes {col.pg_type}, so every value loads unchanged; "
             f"override with --type {t.name}.{col.source}=TYPE after cleaning the data.",
             count=failures, examples=examples)


def _undecodable_blobs(ctx: PlanContext, table: str, column: str) -> int:
    """How many BLOB values of a column are not UTF-8 (streamed; only BLOBs are read)."""
    bad = 0
    cur = ctx.conn.execute(f"SELECT {quote(column)} FROM {quote(table)} WHERE typeof({quote(column)}) = 'blob'")
    while rows := cur.fetchmany(5000):
        for (raw,) in rows:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
    return bad


def switch_type(col: ColumnPlan, pg_type: str, conversion: str) -> None:
    col.pg_type, col.conversion = pg_type, conversion
    col.length = col.precision = col.scale = None


def text_issues(ctx: PlanContext, t: SqliteTable, col: ColumnPlan, p: ColumnProfile) -> None:
    if col.conversion == "bytea":
        return
    if p.nul_bytes:
        col.text_fix = "strip_nul"
        ctx.find("nul_bytes", "warning", t.name, col.source,
                 f"{p.nul_bytes} value(s) in '{col.source}' contain NUL bytes (\\x00), which PostgreSQL text "
                 "cannot hold.", "NUL bytes are removed; choose bytea for the column to keep them.",
                 count=p.nul_bytes)
    if p.invalid_utf8:
        col.text_fix = "replace"
        ctx.find("invalid_utf8", "warning", t.name, col.source,
                 f"{p.invalid_utf8} value(s) in '{col.source}' are not valid UTF-8.",
                 "Invalid bytes become U+FFFD; choose bytea for the column to keep the exact bytes.",
                 count=p.invalid_utf8)
    if p.infinities and col.conversion == "float":
        ctx.find("infinity", "info", t.name, col.source,
                 f"{p.infinities} value(s) in '{col.source}' are ±Infinity.",
                 "double precision holds them exactly.", count=p.infinities)
    if p.blobs and col.conversion == "text":
        binary = _undecodable_blobs(ctx, t.name, col.source)
        if binary:
            switch_type(col, "bytea", "bytea")
            col.text_fix = None
            ctx.find("blob_in_text", "warning", t.name, col.source,
                     f"{p.blobs} BLOB value(s) in text column '{col.source}', {binary} of them not UTF-8 text.",
                     "The column becomes bytea so every value keeps its exact bytes (text values are stored "
                     "as their UTF-8 bytes).", count=p.blobs)
        else:
            ctx.find("blob_in_text", "warning", t.name, col.source,
                     f"{p.blobs} BLOB value(s) in text column '{col.source}'.",
                     "They are valid UTF-8 and are loaded as text.", count=p.blobs)
    other = {k: v for k, v in p.classes.items() if v}
    if len(other) > 1:
        ctx.find("mixed_types", "info", t.name, col.source,
                 f"'{col.source}' holds several storage classes: "
                 + ", ".join(f"{k} {v}" for k, v in other.items()) + ".",
                 f"All are converted to {col.pg_type}.")


def suggest(ctx: PlanContext, t: SqliteTable, col: ColumnPlan, p: ColumnProfile) -> None:
    if col.override:
        return
    if col.conversion == "int" and not col.identity and p.int_zero_one_only and not p.texts and not p.reals \
            and _FLAG_NAME.search(col.source):
        col.suggestions.append("boolean")
    if col.conversion == "text" and p.texts and not p.blobs:
        ts, tz, js = p.checks.get("timestamp"), p.checks.get("timestamptz"), p.checks.get("json")
        if ts and not ts.failures:
            col.suggestions.append("timestamp")
        elif tz and not tz.failures:
            col.suggestions.append("timestamptz")
        if js and not js.failures:
            col.suggestions.append("jsonb")
    for s in col.suggestions:
        ctx.find("suggestion", "info", t.name, col.source,
                 f"Every value of '{col.source}' fits {s}.",
                 f"Kept as {col.pg_type}; use --type {t.name}.{col.source}={s} to convert.")


def _from_data(p: ColumnProfile) -> Mapping | None:
    """Type from the storage classes actually present (for untyped or NUMERIC-affinity columns)."""
    classes = set(p.classes)
    if not classes:
        return None
    if classes == {"integer"}:
        return Mapping("bigint", "int")
    if classes <= {"integer", "real"}:
        return Mapping("double precision", "float") if p.max_abs_integer <= 2**53 else Mapping("numeric", "numeric")
    if classes == {"blob"}:
        return Mapping("bytea", "bytea")
    return Mapping("text", "text")
