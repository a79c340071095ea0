"""Build a MigrationPlan from an SQLite file: map every column's type from its declaration and its real data."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wizard.convert.values import BadValue, column_converter, converter, guess_epoch_unit
from wizard.errors import InputError
from wizard.plan.expressions import literal_value, translate
from wizard.plan.identifiers import NameSpace, derived_name
from wizard.plan.type_mapping import Mapping, map_declared, parse_target_type
from wizard.plan_model import (
    CheckPlan,
    ColumnPlan,
    Finding,
    ForeignKeyPlan,
    IndexPlan,
    ManualItem,
    MigrationPlan,
    TablePlan,
    ViewPlan,
)
from wizard.source.profile import ColumnProfile, RowRange, aggregate_profile, aggregate_profile_sql, collated_extremes
from wizard.source.profile_jobs import ProfileJob, merge_checks, merged_profiles, run_profile_job
from wizard.source.schema import SqliteColumn, SqliteSchema, SqliteTable, read_schema
from wizard.source.sql_tokens import quote
from wizard.source.sqlite_file import (
    escaped_text,
    fk_violation_counts,
    open_readonly,
    rowid_name,
    rowid_ranges,
    text_factory,
)
from wizard.source.value_checks import Candidate, check_key, check_values
from wizard.workers import run_jobs

_KEY_CHECK_MAX_ROWS = 2_000_000  # a key of mixed storage classes is checked for collisions up to this many rows
# A file with fewer rows is profiled in this process: starting worker processes costs a few tenths of a second.
_PARALLEL_MIN_ROWS = 200_000
_RANGE_ROWS = 50_000  # rows per range of a big table, about

_FLAG_NAME = re.compile(r"^(is|has|can|should|allow|enable|use)_|_(flag|enabled|active|deleted|visible|"
                        r"archived|done)$|^(active|enabled|deleted|visible|flag|done|archived|published)$",
                        re.IGNORECASE)
_DATE_LIKE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")
_FK_ACTIONS = {"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"}


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
               excluded: list[str] | None = None, jobs: int | None = None) -> MigrationPlan:
    """The plan for an SQLite file. A big file's data is profiled on `jobs` processes (default: one per core)."""
    overrides = dict(overrides or {})
    excluded = list(excluded or [])
    schema = read_schema(sqlite_path)
    _check_override_targets(schema, overrides)
    conn = open_readonly(sqlite_path)
    try:
        return _Planner(schema, conn, overrides, keep_case, excluded, jobs or os.cpu_count() or 1).run()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{sqlite_path} could not be read completely: {exc}.", title="Unreadable data",
                         hint="The file may be damaged; try 'sqlite3 FILE .recover' to salvage it.") from None
    finally:
        conn.close()


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


# Bytes a value takes in a PostgreSQL row for types that cannot move out of line (TOAST); others count 0.
_FIXED_WIDTH = {"bigint": 8, "integer": 4, "smallint": 2, "double precision": 8, "real": 4, "boolean": 1,
                "timestamp": 8, "timestamptz": 8, "date": 4, "time": 8, "uuid": 16}
_MAX_ROW_BYTES = 8160  # a heap tuple must fit one 8 kB page


def _grouped(results: list[Any], ranges: list[list[RowRange | None]]) -> list[list[Any]]:
    """Results of one job per range, in order, grouped per table."""
    grouped, i = [], 0
    for rs in ranges:
        grouped.append(results[i:i + len(rs)])
        i += len(rs)
    return grouped


def _names(t: SqliteTable) -> list[str]:
    return [c.name for c in t.columns]


def _collated(t: SqliteTable) -> frozenset[str]:
    """The columns declared with a collation other than BINARY: SQLite orders their text by it."""
    return frozenset(c.name for c in t.columns if c.collation)


class _Planner:
    def __init__(self, schema: SqliteSchema, conn: sqlite3.Connection, overrides: dict[str, str], keep_case: bool,
                 excluded: list[str], jobs: int = 1) -> None:
        self.schema = schema
        self.jobs = jobs
        self.fk_counts: dict[str, dict[int, int]] = {}  # foreign key violations per key, counted by workers
        self.conn = conn
        self.overrides = overrides
        self.keep_case = keep_case
        self.excluded = excluded
        self.findings: list[Finding] = []
        self.relations = NameSpace(keep_case)
        self.table_names: dict[str, str] = {}

    def find(self, code: str, severity: str, table: str | None, column: str | None, message: str,
             resolution: str, count: int = 0, examples: list[str] | None = None) -> None:
        self.findings.append(Finding(code, severity, table, column, message, resolution, count, examples or []))

    def run(self) -> MigrationPlan:
        if not self.schema.tables:
            self.find("no_tables", "error", None, None, "The database has no tables to migrate.",
                      "Nothing will be copied; check this is the application's database.")
        for t in self.schema.tables:
            name, note = self.relations.assign(t.name)
            self.table_names[t.name] = name
            if note:
                self.find("identifier", "warning", t.name, None, note, "The table gets the new name in PostgreSQL.")
        tables = [self.plan_table(t, p) for t, p in zip(self.schema.tables, self.profile_tables(), strict=True)]
        by_source = {t.source: t for t in tables}
        for st, tp in zip(self.schema.tables, tables, strict=True):
            tp.foreign_keys = self.plan_foreign_keys(st, tp, by_source)
        view_names = _view_names(by_source) if self.schema.views else ({}, frozenset())
        views = [self.plan_view(v.name, v.sql, *view_names) for v in self.schema.views]
        manual = [ManualItem("trigger", o.name, o.table, o.sql,
                             "SQLite triggers are not translated; rewrite it as a PL/pgSQL trigger function.")
                  for o in self.schema.triggers]
        manual += [ManualItem("virtual table", o.name, o.table, o.sql,
                              "Virtual tables (FTS, R-tree...) have no PostgreSQL equivalent here; use a tsvector "
                              "column with a GIN index for full text, or PostGIS for R-trees.")
                   for o in self.schema.virtual_tables]
        for m in manual:
            self.find("manual", "warning", m.table, None, f"{m.kind} '{m.name}' needs manual work.", m.note)
        for tp in tables:
            if tp.source in self.excluded:
                tp.include = False
        return MigrationPlan(source_path=str(Path(self.schema.path).absolute()), source_size=self.schema.size_bytes,
                             keep_case=self.keep_case, tables=tables, views=views, manual=manual,
                             findings=self.findings, overrides=dict(self.overrides), excluded=list(self.excluded))

    # -- tables and columns -------------------------------------------------------------------------------

    def mappings(self, t: SqliteTable,
                 profiles: dict[str, ColumnProfile]) -> tuple[dict[str, Mapping], dict[str, list[Candidate]]]:
        """Each column's first mapping, and the conversions its values are checked against."""
        base: dict[str, Mapping] = {}
        wanted: dict[str, list[Candidate]] = {}
        for c in t.columns:
            base[c.name] = self.initial_mapping(t, c, profiles[c.name])
            wanted[c.name] = self.candidates(c, base[c.name], profiles[c.name])
        return base, wanted

    def profile_tables(self) -> list[dict[str, ColumnProfile]]:
        """Every table's column profiles, value checks included. A big file is read by `jobs` worker processes,
        a range of rows each, in two rounds (the checks depend on the counts); a small one here."""
        tables = self.schema.tables
        if self.jobs < 2 or sum(t.row_count for t in tables) < _PARALLEL_MIN_ROWS:
            out = []
            for t in tables:
                profiles = aggregate_profile(self.conn, t.name, _names(t), _collated(t)) if t.columns else {}
                check_values(self.conn, t.name, self.mappings(t, profiles)[1], profiles)
                out.append(profiles)
            return out
        ranges = [self._row_ranges(t) if t.columns else [] for t in tables]
        counted = self._run([ProfileJob(self.schema.path, t.name, _names(t), r)
                             for t, rs in zip(tables, ranges, strict=True) for r in rs], ranges)
        out = []
        for t, parts in zip(tables, counted, strict=True):
            if not t.columns:
                out.append({})
            elif any(p is None for p in parts):  # text that is not UTF-8: counted in SQL, leniently
                out.append(aggregate_profile_sql(self.conn, t.name, _names(t)))
            else:
                profiles = merged_profiles(_names(t), parts)
                collated_extremes(self.conn, t.name, profiles, _collated(t))
                out.append(profiles)
        # the foreign key checks need no profile: they run beside the value checks, first (each is one job)
        fk_jobs = [ProfileJob(self.schema.path, t.name, [], None, foreign_keys=len(t.foreign_keys))
                   for t in tables if t.foreign_keys]
        checks = [ProfileJob(self.schema.path, t.name, _names(t), r, self.mappings(t, profiles)[1], profiles)
                  for t, rs, profiles in zip(tables, ranges, out, strict=True) for r in rs]
        results = run_jobs(run_profile_job, fk_jobs + checks, workers=self.jobs, processes=True)
        self.fk_counts = {job.table: counts for job, counts in zip(fk_jobs, results, strict=False)}
        checked = _grouped(results[len(fk_jobs):], ranges)
        for profiles, parts in zip(out, checked, strict=True):
            merge_checks(profiles, parts)
        return out

    def _run(self, jobs: list[ProfileJob], ranges: list[list[RowRange | None]]) -> list[list[Any]]:
        """Run the jobs on worker processes (ranges of about the same size keep them evenly busy); the results
        grouped per table, in row order."""
        return _grouped(run_jobs(run_profile_job, jobs, workers=self.jobs, processes=True), ranges)

    def _row_ranges(self, t: SqliteTable) -> list[RowRange | None]:
        """A big rowid table in rowid ranges of about _RANGE_ROWS rows (equal spans of its rowids); else the whole
        table (None)."""
        key = rowid_name(_names(t))
        parts = min(self.jobs * 4, t.row_count // _RANGE_ROWS)
        if t.without_rowid or key is None or parts < 2:
            return [None]
        return [RowRange(key, lo, hi) for lo, hi in rowid_ranges(self.conn, t.name, key, parts)]

    def plan_table(self, t: SqliteTable, profiles: dict[str, ColumnProfile]) -> TablePlan:
        colspace = NameSpace(self.keep_case)
        base, _ = self.mappings(t, profiles)
        columns = []
        for c in t.columns:
            target, note = colspace.assign(c.name)
            if note:
                self.find("identifier", "warning", t.name, c.name, note, "The column gets the new name.")
            columns.append(self.decide_column(t, c, target, base[c.name], profiles[c.name]))
        target = self.table_names[t.name]
        pk_cols = [t_col for t_col in columns if t_col.source in t.primary_key]
        pk_order = [next(c for c in columns if c.source == s).target for s in t.primary_key]
        pk_nulls = [c for c in pk_cols if c.nulls]
        pk_name = derived_name(target, suffix="pkey")
        tp = TablePlan(source=t.name, target=target, columns=columns, primary_key=pk_order, pk_name=pk_name,
                       row_count=t.row_count, without_rowid=t.without_rowid,
                       key_columns=list(t.primary_key) if t.without_rowid else ["rowid"],
                       autoincrement=t.autoincrement, sequence_floor=self.schema.sequences.get(t.name, 0))
        width = sum(_FIXED_WIDTH.get(c.pg_type, 0) for c in columns) + 24  # + the tuple header
        if width > _MAX_ROW_BYTES or len(columns) > 1600:
            self.find("row_too_wide", "error", t.name, None,
                      f"A row of {t.name} needs about {width:,} bytes in {len(columns)} column(s); PostgreSQL "
                      f"stores at most {_MAX_ROW_BYTES:,} bytes of fixed-width columns and 1,600 columns per row.",
                      "Exclude the table, or override columns to narrower types (integer, real) or to text; "
                      "as planned, its copy will fail.")
        if pk_nulls and not t.rowid_alias:
            names_ = ", ".join(c.source for c in pk_nulls)
            self.find("pk_nulls", "error", t.name, pk_nulls[0].source,
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
                self._find_key_collisions(t, pk_cols[0], "primary key")
        if not t.primary_key:
            self.find("no_pk", "info", t.name, None, "The table has no primary key.",
                      "It is copied as is; consider adding a key in PostgreSQL for updates by the application.")
        resolve = self.column_resolver(tp)
        bools = frozenset(c.source.lower() for c in tp.columns if c.conversion == "bool")
        tp.indexes += self.plan_indexes(t, tp, resolve, bools)
        for n, src in enumerate(t.checks + [ch for c in t.columns for ch in c.checks], start=1):
            tp.checks.append(self.plan_check(t, tp, src, n, resolve, bools))
        for col in t.columns:
            if col.generated:
                self.find("generated", "warning", t.name, col.name,
                          f"'{col.name}' is a generated column ({col.generated_expr}).",
                          "Its current values are copied into a plain column; re-create the expression in "
                          "PostgreSQL as GENERATED ALWAYS AS (...) STORED if the application needs it.")
        if t.strict:
            self.find("strict", "info", t.name, None, "The table is STRICT.", "Types map as declared.")
        return tp

    def initial_mapping(self, t: SqliteTable, c: SqliteColumn, p: ColumnProfile) -> Mapping:
        key = f"{t.name}.{c.name}"
        if key in self.overrides:
            return parse_target_type(self.overrides[key])
        if c.name == t.rowid_alias:
            return Mapping("bigint", "int")
        declared = map_declared(c.declared_type)
        if declared is not None:
            if declared.conversion == "numeric" and declared.precision is None and not c.declared_type.upper() \
                    .startswith(("NUMERIC", "DECIMAL", "MONEY")):
                return _from_data(p) or declared  # NUMERIC affinity by fallback: let the data decide
            return declared
        return _from_data(p) or Mapping("text", "text")

    def candidates(self, c: SqliteColumn, m: Mapping, p: ColumnProfile) -> list[Candidate]:
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

    def decide_column(self, t: SqliteTable, c: SqliteColumn, target: str, m: Mapping,
                      p: ColumnProfile) -> ColumnPlan:
        key = f"{t.name}.{c.name}"
        col = ColumnPlan(source=c.name, target=target, declared_type=c.declared_type, pg_type=m.pg_type,
                         conversion=m.conversion, nullable=not c.notnull, length=m.length, precision=m.precision,
                         scale=m.scale, epoch_unit=guess_epoch_unit(p.max_abs_integer),
                         override=self.overrides.get(key), mapped_type=m.pg_type,
                         generated_sql=c.generated_expr, classes=p.classes, nulls=p.nulls)
        col.identity = c.name == t.rowid_alias and m.conversion == "int" and m.pg_type == "bigint"
        if col.identity:
            col.nullable = False
        self.fit_column(t, col, p)
        self.text_issues(t, col, p)
        self.suggest(t, col, p)
        col.default = self.plan_default(t, c, col)
        if col.nulls and not col.nullable:
            col.nullable = True  # a NOT NULL column holding NULLs (SQLite allows it in some cases) stays loadable
            self.find("notnull_violated", "warning", t.name, c.name,
                      f"'{c.name}' is declared NOT NULL but holds {p.nulls} NULL(s).",
                      "The column is created without NOT NULL so every row loads.", count=p.nulls)
        return col

    def fit_column(self, t: SqliteTable, col: ColumnPlan, p: ColumnProfile) -> None:
        """Keep the mapped type when every value fits; otherwise fall back, with a finding that says why."""
        if col.conversion == "text" and col.length is None:
            return
        main = p.checks.get(check_key(Candidate(col.conversion, col.length, col.precision, col.scale)))
        if main is None or main.failures == 0:
            if col.conversion in ("timestamp", "date"):
                ts = p.checks.get("timestamp")
                tz = p.checks.get("timestamptz")
                if ts and tz and ts.failures and not tz.failures and tz.with_offset:
                    self._switch(col, "timestamptz", "timestamptz")
            if col.conversion in ("int", "float", "numeric", "bool", "timestamp", "timestamptz", "date") \
                    and p.empty_strings:
                col.empty_to_null = True
            return
        failures, examples = main.failures, main.examples
        was = col.pg_type
        if col.conversion in ("int", "float", "numeric", "bool", "timestamp", "date", "timestamptz", "time", "json") \
                and p.empty_strings and p.empty_strings == failures and col.nullable and not col.identity:
            col.empty_to_null = True
            self.find("empty_string", "warning", t.name, col.source,
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
        self._switch(col, *fallback)
        self.find("type_fallback", "warning", t.name, col.source,
                  f"{failures} value(s) in '{col.source}' do not fit {was}.",
                  f"The column becomes {col.pg_type}, so every value loads unchanged; "
                  f"override with --type {t.name}.{col.source}=TYPE after cleaning the data.",
                  count=failures, examples=examples)

    def _undecodable_blobs(self, table: str, column: str) -> int:
        """How many BLOB values of a column are not UTF-8 (streamed; only BLOBs are read)."""
        bad = 0
        cur = self.conn.execute(f"SELECT {quote(column)} FROM {quote(table)} WHERE typeof({quote(column)}) = 'blob'")
        while rows := cur.fetchmany(5000):
            for (raw,) in rows:
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    bad += 1
        return bad

    @staticmethod
    def _switch(col: ColumnPlan, pg_type: str, conversion: str) -> None:
        col.pg_type, col.conversion = pg_type, conversion
        col.length = col.precision = col.scale = None

    def text_issues(self, t: SqliteTable, col: ColumnPlan, p: ColumnProfile) -> None:
        if col.conversion == "bytea":
            return
        if p.nul_bytes:
            col.text_fix = "strip_nul"
            self.find("nul_bytes", "warning", t.name, col.source,
                      f"{p.nul_bytes} value(s) in '{col.source}' contain NUL bytes (\\x00), which PostgreSQL text "
                      "cannot hold.", "NUL bytes are removed; choose bytea for the column to keep them.",
                      count=p.nul_bytes)
        if p.invalid_utf8:
            col.text_fix = "replace"
            self.find("invalid_utf8", "warning", t.name, col.source,
                      f"{p.invalid_utf8} value(s) in '{col.source}' are not valid UTF-8.",
                      "Invalid bytes become U+FFFD; choose bytea for the column to keep the exact bytes.",
                      count=p.invalid_utf8)
        if p.infinities and col.conversion == "float":
            self.find("infinity", "info", t.name, col.source,
                      f"{p.infinities} value(s) in '{col.source}' are ±Infinity.",
                      "double precision holds them exactly.", count=p.infinities)
        if p.blobs and col.conversion == "text":
            binary = self._undecodable_blobs(t.name, col.source)
            if binary:
                self._switch(col, "bytea", "bytea")
                col.text_fix = None
                self.find("blob_in_text", "warning", t.name, col.source,
                          f"{p.blobs} BLOB value(s) in text column '{col.source}', {binary} of them not UTF-8 text.",
                          "The column becomes bytea so every value keeps its exact bytes (text values are stored "
                          "as their UTF-8 bytes).", count=p.blobs)
            else:
                self.find("blob_in_text", "warning", t.name, col.source,
                          f"{p.blobs} BLOB value(s) in text column '{col.source}'.",
                          "They are valid UTF-8 and are loaded as text.", count=p.blobs)
        other = {k: v for k, v in p.classes.items() if v}
        if len(other) > 1:
            self.find("mixed_types", "info", t.name, col.source,
                      f"'{col.source}' holds several storage classes: "
                      + ", ".join(f"{k} {v}" for k, v in other.items()) + ".",
                      f"All are converted to {col.pg_type}.")

    def suggest(self, t: SqliteTable, col: ColumnPlan, p: ColumnProfile) -> None:
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
            self.find("suggestion", "info", t.name, col.source,
                      f"Every value of '{col.source}' fits {s}.",
                      f"Kept as {col.pg_type}; use --type {t.name}.{col.source}={s} to convert.")

    def plan_default(self, t: SqliteTable, c: SqliteColumn, col: ColumnPlan) -> str | None:
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
        self.find("default_dropped", "warning", t.name, c.name,
                  f"DEFAULT {c.default} of '{c.name}' cannot be used in PostgreSQL: {drop_reason}.",
                  "The column is created without a default; add one by hand if the application relies on it.")
        return None

    # -- indexes, checks, foreign keys, views ----------------------------------------------------------------

    def column_resolver(self, tp: TablePlan) -> Callable[[str], str | None]:
        lookup = {c.source.lower(): quote(c.target) for c in tp.columns}
        return lambda name: lookup.get(name.lower())

    def plan_indexes(self, t: SqliteTable, tp: TablePlan, resolve: Callable[[str], str | None],
                     bools: frozenset[str]) -> list[IndexPlan]:
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
                    tr = translate(part.expression, resolve, bool_columns=bools)
                    if tr.sql is None:
                        reason = f"its expression {part.expression} {tr.reason}"
                        break
                    parts.append(f"({tr.sql})" + (" DESC" if part.descending else ""))
                else:
                    reason = "its expression could not be read"
                    break
            where = None
            if reason is None and idx.where:
                tr = translate(idx.where, resolve, bool_columns=bools)
                if tr.sql is None:
                    reason = f"its WHERE clause {tr.reason}"
                else:
                    where = tr.sql
            name = idx.name if idx.origin == "c" else "_".join([tp.target, *(p.column or "expr" for p in
                                                                               idx.parts)])
            target_name, _ = self.relations.assign(name if idx.origin == "c" else name + "_key")
            plan = IndexPlan(name=target_name, unique=idx.unique, parts=parts, where=where, source_sql=idx.sql,
                             skipped=reason)
            if reason:
                self.find("index_skipped", "warning", t.name, None, f"Index {idx.name} cannot be translated: "
                          f"{reason}.", "It is not created; its SQL is listed for manual translation.")
            elif nocase and idx.unique:
                dupes = self._nocase_duplicates(t, idx.parts)
                if dupes:
                    plan.skipped = f"{dupes} value(s) collide when compared case-insensitively"
                    self.find("nocase_duplicates", "error", t.name, None,
                              f"Unique index {idx.name} (COLLATE NOCASE) has {dupes} duplicate value(s) once "
                              "compared with lower().", "The index is not created; clean the duplicates, then "
                              "create it by hand.", count=dupes)
            if not reason and not nocase and idx.unique and idx.where is None and len(idx.parts) == 1 \
                    and idx.parts[0].column is not None and not idx.parts[0].collation:
                col = next((c for c in tp.columns if c.source == idx.parts[0].column), None)
                if col is not None:
                    self._find_key_collisions(t, col, f"unique index {idx.name}")
            if nocase and not reason:
                self.find("nocase", "info", t.name, None, f"Index {idx.name} uses COLLATE NOCASE.",
                          "It is built on lower(column); queries must compare lower(column) to use it, or "
                          "choose the citext type for the column.")
            out.append(plan)
        return out

    def _find_key_collisions(self, t: SqliteTable, col: ColumnPlan, key: str) -> None:
        """A finding when values of a single-column key that SQLite holds apart (1 and '1' in a column without
        affinity, 1.0 and '1.00' to numeric) become equal once converted: the key cannot be built."""
        classes = [k for k, n in col.classes.items() if n]
        if len(classes) < 2 or col.conversion == "json" or t.row_count > _KEY_CHECK_MAX_ROWS:
            return  # one storage class: SQLite's own uniqueness holds after conversion
        conv = column_converter(col)
        seen: dict[Any, Any] = {}
        collided: list[str] = []
        count = 0
        with text_factory(self.conn, escaped_text):  # invalid UTF-8 as the copy reads it
            for (v,) in self.conn.execute(f"SELECT {quote(col.source)} FROM {quote(t.name)} "
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
            self.find("key_collisions", "error", t.name, col.source,
                      f"{count} value(s) of {col.source}, the {key} of {t.name}, equal another once converted to "
                      f"{col.pg_type}, though SQLite holds them apart (storage classes: {', '.join(classes)}).",
                      f"The rows are copied but the {key} cannot be created; make the values distinct, or override "
                      f"the column's type (--type {t.name}.{col.source}=TYPE).", count=count, examples=collided)

    def _nocase_duplicates(self, t: SqliteTable, parts: list) -> int:  # type: ignore[type-arg]
        cols = [p.column for p in parts if p.column]
        if len(cols) != len(parts):
            return 0
        keys = ", ".join(f"lower({quote(c)})" for c in cols)
        notnull = " AND ".join(f"{quote(c)} IS NOT NULL" for c in cols)
        row = self.conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {quote(t.name)} WHERE {notnull} "
                                f"GROUP BY {keys} HAVING count(*) > 1)").fetchone()
        return int(row[0])

    def plan_check(self, t: SqliteTable, tp: TablePlan, src: str, n: int, resolve: Callable[[str], str | None],
                   bools: frozenset[str]) -> CheckPlan:
        name, _ = self.relations.assign(derived_name(tp.target, f"check{n}", suffix="ck"))
        tr = translate(src, resolve, bool_columns=bools)
        if tr.sql is None:
            self.find("check_skipped", "warning", t.name, None, f"CHECK ({src}) cannot be translated: {tr.reason}.",
                      "It is not created; add an equivalent constraint by hand.")
        return CheckPlan(name=name, source=src, sql=tr.sql, skipped=tr.reason)

    def plan_foreign_keys(self, t: SqliteTable, tp: TablePlan, tables: dict[str, TablePlan]) -> list[ForeignKeyPlan]:
        out = []
        violations = self._fk_violations(t)
        for n, fk in enumerate(t.foreign_keys):
            ref = tables.get(fk.ref_table) or next((x for x in tables.values()
                                                    if x.source.lower() == fk.ref_table.lower()), None)
            cols = [tp.column(c).target for c in fk.from_columns if c in {x.source for x in tp.columns}]
            name, _ = self.relations.assign(derived_name(tp.target, *fk.from_columns, suffix="fkey"))
            plan = ForeignKeyPlan(name=name, columns=cols, ref_table=ref.target if ref else fk.ref_table,
                                  ref_columns=[], on_update=_action(fk.on_update), on_delete=_action(fk.on_delete),
                                  violations=violations.get(n, 0))
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
            if plan.skipped:
                self.find("fk_skipped", "warning", t.name, None,
                          f"Foreign key ({', '.join(fk.from_columns)}) -> {fk.ref_table} cannot be created: "
                          f"{plan.skipped}.", "It is left out; the data is copied anyway.")
            elif plan.violations:
                self.find("fk_violations", "error", t.name, None,
                          f"{plan.violations} row(s) of {t.name} break the foreign key ({', '.join(fk.from_columns)})"
                          f" -> {fk.ref_table} (SQLite does not enforce foreign keys by default).",
                          "The rows are copied; the key is created NOT VALID so new rows are checked, and the "
                          "offending rows are listed by the copy's report.", count=plan.violations)
            out.append(plan)
        return out

    def _fk_violations(self, t: SqliteTable) -> dict[int, int]:
        if not t.foreign_keys:
            return {}
        if t.name in self.fk_counts:  # counted by a worker beside the profile's value checks
            return self.fk_counts[t.name]
        return fk_violation_counts(self.conn, t.name, len(t.foreign_keys))

    def plan_view(self, name: str, sql: str, lookup: dict[str, str], bools: frozenset[str]) -> ViewPlan:
        target, _ = self.relations.assign(name)
        body = _view_body(sql)
        tr = translate(body, lambda n: lookup.get(n.lower()), bool_columns=bools) if body else None
        if tr is None or tr.sql is None:
            reason = tr.reason if tr else "its SELECT could not be found"
            self.find("view_skipped", "warning", None, None, f"View {name} cannot be translated: {reason}.",
                      "It is not created; its SQL is listed for manual translation.")
            return ViewPlan(source=name, target=target, source_sql=sql, sql=None, skipped=reason)
        return ViewPlan(source=name, target=target, source_sql=sql, sql=tr.sql)


def _view_names(tables: dict[str, TablePlan]) -> tuple[dict[str, str], frozenset[str]]:
    """For view SQL, which may name any table or column: source name (lower case) -> quoted target name, and the
    column names that became boolean in every table that has them."""
    lookup: dict[str, str] = {}
    kinds: dict[str, set[bool]] = {}
    for tp in tables.values():
        for c in tp.columns:
            lookup.setdefault(c.source.lower(), quote(c.target))
            kinds.setdefault(c.source.lower(), set()).add(c.conversion == "bool")
    for tp in tables.values():
        lookup[tp.source.lower()] = quote(tp.target)
    return lookup, frozenset(col for col, k in kinds.items() if k == {True})


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


def _num_literal(text: str) -> str:
    return text.strip()


def _str_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _action(a: str) -> str:
    a = (a or "NO ACTION").upper()
    return a if a in _FK_ACTIONS else "NO ACTION"


def _is_unique_target(ref: TablePlan, cols: list[str]) -> bool:
    if set(cols) == set(ref.primary_key) and ref.primary_key:
        return True
    quoted = {quote(c) for c in cols}
    return any(ix.unique and not ix.where and not ix.skipped and set(ix.parts) == quoted and len(ix.parts) ==
               len(cols) for ix in ref.indexes)


def _view_body(sql: str) -> str | None:
    from wizard.source.sql_tokens import is_word, join, tokenize

    toks = tokenize(sql)
    for i, t in enumerate(toks):
        if is_word(t, "AS"):
            return join(toks[i + 1:]).rstrip(";").strip()
    return None
