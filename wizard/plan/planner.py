"""Build a MigrationPlan from an SQLite file: profile its data, then plan every table, its foreign keys and the
views (plan/columns, keys, indexes, tables, foreign_keys, views make each decision)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from wizard.errors import InputError
from wizard.plan.affinity import affinity
from wizard.plan.columns import mappings
from wizard.plan.context import PlanContext
from wizard.plan.foreign_keys import plan_foreign_keys
from wizard.plan.relations import unify_key_types
from wizard.plan.tables import complete_table, plan_columns
from wizard.plan.triggers import plan_trigger
from wizard.plan.type_mapping import parse_target_type
from wizard.plan.views import dependency_order, plan_view, view_names
from wizard.plan_model import Finding, ManualItem, MigrationPlan
from wizard.source import frameworks
from wizard.source.profile_jobs import Sample, profile_tables
from wizard.source.schema import SqliteSchema, read_schema
from wizard.source.sqlite_file import open_readonly


def parse_overrides(items: list[str]) -> dict[str, str]:
    """`TABLE.COLUMN=PGTYPE` strings to a dict; bad ones raise InputError naming the item."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key or not value.strip():
            raise InputError(f"--type '{item}' is not TABLE.COLUMN=PGTYPE.", title="Bad override",
                             hint="For example: --type users.created_at=timestamptz")
        try:
            parse_target_type(value)
        except ValueError as exc:
            raise InputError(f"--type '{item}': {exc}.", title="Bad override",
                             hint="Pick a supported type (see 'pgmigrate-wizard plan --help').") from None
        out[key.strip()] = value.strip()
    return out


def build_plan(sqlite_path: Path | str, *, overrides: dict[str, str] | None = None, keep_case: bool = False,
               excluded: list[str] | None = None, jobs: int | None = None,
               sample: Sample | None = None, framework: str | None = None) -> MigrationPlan:
    """The plan for an SQLite file. A big file's data is profiled on `jobs` processes (default: one per core);
    with `sample`, a big table's types are chosen from a sample of its rows (the copy then checks every value,
    see data_copy.replan). `framework` names the framework that made it ("none": no framework), instead of
    finding it in the data."""
    overrides = dict(overrides or {})
    excluded = list(excluded or [])
    schema = read_schema(sqlite_path)
    _check_override_targets(schema, overrides)
    made_by = frameworks.choose(schema, framework)
    conn = open_readonly(sqlite_path, leave_no_files=True)
    try:
        ctx = PlanContext(schema, conn, overrides, keep_case, framework=made_by.key if made_by else "")
        plan = _plan(ctx, excluded, jobs or os.cpu_count() or 1, sample)
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{sqlite_path} could not be read completely: {exc}.", title="Unreadable data",
                         hint="The file may be damaged; try 'sqlite3 FILE .recover' to salvage it.") from None
    finally:
        conn.close()
    plan.framework_choice = (framework or "").strip().lower()
    if made_by is not None:
        plan.framework = made_by.key
        plan.findings.insert(0, Finding(
            "framework", "info", None, None, f"Made by {made_by.describe()}.",
            "Named so you know which app reads the data."))
    return plan


def _check_override_targets(schema: SqliteSchema, overrides: dict[str, str]) -> None:
    for key in overrides:
        table, _, column = key.partition(".")
        try:
            t = schema.table(table)
        except KeyError:
            raise InputError(f"--type {key}: there is no table '{table}'.", title="Bad override",
                             hint="Table names: " + ", ".join(x.name for x in schema.tables[:20])) from None
        if column not in {c.name for c in t.columns}:
            raise InputError(f"--type {key}: table '{table}' has no column '{column}'.", title="Bad override",
                             hint="Columns: " + ", ".join(c.name for c in t.columns[:30])) from None


def _plan(ctx: PlanContext, excluded: list[str], jobs: int, sample: Sample | None) -> MigrationPlan:
    schema = ctx.schema
    if not schema.tables:
        ctx.find("no_tables", "error", None, None, "The database has no tables to migrate.",
                 "Nothing will be copied; check this is the application's database.")
    for t in schema.tables:
        name, note = ctx.relations.assign(t.name)
        ctx.table_names[t.name] = name
        if note:
            ctx.find("identifier", "warning", t.name, None, note, "The table gets the new name in PostgreSQL.")
    found = profile_tables(ctx.conn, schema, jobs, lambda t, p: mappings(ctx, t, p)[1], sample)
    ctx.fk_counts = found.fk_counts
    tables = [plan_columns(ctx, t, p) for t, p in zip(schema.tables, found.tables, strict=True)]
    for tp in tables:
        if tp.source in found.sampled:
            tp.sampled_rows = found.sampled[tp.source]
            ctx.find("sampled", "info", tp.source, None,
                     f"Types chosen from a sample of {tp.sampled_rows:,} of its {tp.row_count:,} rows (the counts "
                     "in its other findings are the sample's).",
                     "The copy checks every value: if one does not fit its column's type, the table is profiled "
                     "in full, re-planned and copied again.")
    unify_key_types(ctx, tables)
    for t, tp in zip(schema.tables, tables, strict=True):
        complete_table(ctx, t, tp)
    by_source = {t.source: t for t in tables}
    for st, tp in zip(schema.tables, tables, strict=True):
        tp.foreign_keys = plan_foreign_keys(ctx, st, tp, by_source)
    lookup = view_names(by_source) if schema.views or schema.triggers else {}
    kinds = affinity(tables)
    views = [plan_view(ctx, v.name, v.sql, lookup, kinds) for v in dependency_order(schema.views)]
    by_name = {t.source.lower(): t for t in tables}
    triggers = [plan_trigger(o.name, o.sql, by_name, lambda n: lookup.get(n.lower())) for o in schema.triggers]
    manual = [ManualItem("trigger", tg.source, tg.table, tg.source_sql,
                         f"Not translated ({tg.skipped}); rewrite it as a PL/pgSQL trigger function.")
              for tg in triggers if tg.skipped]
    manual += [ManualItem("virtual table", o.name, o.table, o.sql,
                          "Virtual tables (FTS, R-tree...) have no PostgreSQL equivalent here; use a tsvector "
                          "column with a GIN index for full text, or PostGIS for R-trees.")
               for o in schema.virtual_tables]
    for m in manual:
        ctx.find("manual", "warning", m.table, None, f"{m.kind} '{m.name}' needs manual work.", m.note)
    for tp in tables:
        if tp.source in excluded:
            tp.include = False
    return MigrationPlan(source_path=str(Path(schema.path).absolute()), source_size=schema.size_bytes,
                         keep_case=ctx.keep_case, tables=tables, views=views, triggers=triggers, manual=manual,
                         findings=ctx.findings, overrides=dict(ctx.overrides), excluded=list(excluded),
                         sample_rows=sample.rows if sample else 0)
