"""The migration plan: typed, serialisable choices shared by the wizard, the CLI and every engine step."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from wizard.errors import InputError

PLAN_FORMAT = 1


@dataclass
class Finding:
    """Something in the data or schema that needs attention, and what the plan does about it."""

    code: str
    severity: str  # "info", "warning", "error"
    table: str | None
    column: str | None
    message: str
    resolution: str
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class ColumnPlan:
    source: str
    target: str
    declared_type: str
    pg_type: str
    conversion: str
    nullable: bool = True
    default: str | None = None  # PostgreSQL DEFAULT expression
    identity: bool = False
    identity_kind: str = "identity"  # how the key generates values: "identity" column, or "serial" (SQLAlchemy)
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    epoch_unit: str = "s"
    text_fix: str | None = None  # "strip_nul" or "replace" (invalid UTF-8 -> U+FFFD, NUL removed)
    empty_to_null: bool = False
    override: str | None = None
    mapped_type: str = ""  # what the declared type alone would give
    suggestions: list[str] = field(default_factory=list)
    generated_sql: str | None = None
    classes: dict[str, int] = field(default_factory=dict)
    nulls: int = 0


@dataclass
class IndexPlan:
    name: str
    unique: bool
    parts: list[str]  # PostgreSQL SQL of each key part (quoted column or expression)
    where: str | None = None
    source_sql: str | None = None
    skipped: str | None = None
    # a UNIQUE constraint in SQLite (of plain columns), or a unique index Django would make one on PostgreSQL: a
    # UNIQUE constraint in PostgreSQL too (its own name, else table_column_key), where an app's later migration
    # looks for it
    constraint: bool = False


@dataclass
class ForeignKeyPlan:
    name: str
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    on_update: str = "NO ACTION"
    on_delete: str = "NO ACTION"
    violations: int = 0
    skipped: str | None = None
    deferred: bool = False  # DEFERRABLE INITIALLY DEFERRED, as SQLite had it: checked at commit


@dataclass
class CheckPlan:
    name: str
    source: str
    sql: str | None
    skipped: str | None = None


@dataclass
class TablePlan:
    source: str
    target: str
    columns: list[ColumnPlan]
    primary_key: list[str]  # target column names
    pk_name: str
    row_count: int
    without_rowid: bool
    key_columns: list[str]  # source columns ordering batches: ["rowid"] or the WITHOUT ROWID primary key
    include: bool = True
    autoincrement: bool = False
    sequence_floor: int = 0  # sqlite_sequence: AUTOINCREMENT never reuses an id up to here
    indexes: list[IndexPlan] = field(default_factory=list)
    foreign_keys: list[ForeignKeyPlan] = field(default_factory=list)
    checks: list[CheckPlan] = field(default_factory=list)
    sampled_rows: int = 0
    """The rows its types were chosen from, when a sample (0: all of them); see data_copy.replan."""
    rowid_alias: str | None = None
    """The INTEGER PRIMARY KEY column (source name), which is the rowid itself: the copy reads it once."""

    def column(self, source: str) -> ColumnPlan:
        for c in self.columns:
            if c.source == source:
                return c
        raise KeyError(source)

    @property
    def identity_column(self) -> ColumnPlan | None:
        return next((c for c in self.columns if c.identity), None)


@dataclass
class ViewPlan:
    source: str
    target: str
    source_sql: str
    sql: str | None
    skipped: str | None = None
    columns: list[str] = field(default_factory=list)  # the view's column names, as SQLite names them


@dataclass
class TriggerPlan:
    source: str
    table: str  # the source table
    target: str
    source_sql: str
    function: str = ""  # the trigger function's name
    body: str = ""  # the function's PL/pgSQL statements
    timing: str = ""  # when it fires: `BEFORE UPDATE OF "a", "b"`
    when: str | None = None  # the condition, PostgreSQL SQL
    skipped: str | None = None


@dataclass
class ManualItem:
    kind: str  # "trigger", "virtual table"
    name: str
    table: str
    sql: str
    note: str


@dataclass
class MigrationPlan:
    source_path: str
    source_size: int
    keep_case: bool
    tables: list[TablePlan]
    views: list[ViewPlan] = field(default_factory=list)
    triggers: list[TriggerPlan] = field(default_factory=list)
    manual: list[ManualItem] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)
    format: int = PLAN_FORMAT
    wizard_state: dict[str, Any] = field(default_factory=dict)  # the TUI's last step and choices (no secrets)
    sample_rows: int = 0  # made for the copy, big tables' types from this many rows each (data_copy.replan)
    framework: str = ""  # the framework that made the database (source.frameworks key), "" for none
    framework_choice: str = ""  # how it was chosen: "" found in the data, else --framework's value ("none" too)

    def table(self, source: str) -> TablePlan:
        for t in self.tables:
            if t.source == source:
                return t
        raise KeyError(source)

    @property
    def included_tables(self) -> list[TablePlan]:
        return [t for t in self.tables if t.include]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, text: str) -> MigrationPlan:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise ValueError("not a plan file of this version")
        return _build(cls, data)


T = TypeVar("T")


def _build(cls: type[T], data: Any) -> T:
    """Rebuild nested dataclasses from JSON data, checking shapes so a hand-edited file fails clearly."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object for {cls.__name__}")
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{cls.__name__}.{f.name} is missing")
            continue
        kwargs[f.name] = _coerce(hints[f.name], data[f.name], f"{cls.__name__}.{f.name}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    args = get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value)  # type: ignore[arg-type]
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where} should be a list")
        return [_coerce(args[0], v, where) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where} should be an object")
        return {str(k): _coerce(args[1], v, where) for k, v in value.items()}
    if args and type(None) in args:  # Optional[X]
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if tp is Any:
        return value
    if tp is bool and not isinstance(value, bool):
        raise ValueError(f"{where} should be true or false")
    if tp is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ValueError(f"{where} should be a whole number")
    if tp is str and not isinstance(value, str):
        raise ValueError(f"{where} should be text")
    return value


def default_plan_path(sqlite_path: Path | str) -> Path:
    p = Path(sqlite_path)
    return p.with_name(p.name + ".pgmigrate.json")


def save_plan(plan: MigrationPlan, path: Path) -> None:
    """Write atomically: a crash mid-write never leaves half a plan file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(plan.to_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_plan(path: Path) -> MigrationPlan:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"The plan file {path} cannot be read: {exc.strerror}.", title="Plan file",
                         hint="Check the path, or delete it to start from a fresh plan.") from None
    try:
        return MigrationPlan.from_json(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"The plan file {path} is not a valid plan ({exc}).", title="Plan file",
                         hint="Fix the file, or delete it and run 'pgmigrate-wizard plan SQLITE_FILE --save' again."
                         ) from None
