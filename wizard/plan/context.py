"""What every decision of one plan shares: the source file, the user's choices, the names given so far, and the
findings collected on the way."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from wizard.plan.identifiers import NameSpace
from wizard.plan_model import Finding
from wizard.source.schema import SqliteSchema


@dataclass
class PlanContext:
    schema: SqliteSchema
    conn: sqlite3.Connection
    """The source, open read-only: a few decisions read values (key collisions, BLOBs in text columns)."""
    overrides: dict[str, str]
    """--type choices: `TABLE.COLUMN` -> PostgreSQL type."""
    keep_case: bool
    findings: list[Finding] = field(default_factory=list)
    relations: NameSpace = field(init=False)
    """Names of tables, indexes and constraints, which share one namespace per schema in PostgreSQL."""
    table_names: dict[str, str] = field(default_factory=dict)
    """Source table -> its PostgreSQL name."""
    fk_counts: dict[str, dict[int, int]] = field(default_factory=dict)
    """Foreign key violations per table and key, when the profile's workers counted them."""
    framework: str = ""
    """The framework that made the database (source.frameworks key): its types follow its conventions."""
    memo: dict[str, object] = field(default_factory=dict)
    """What a convention worked out once for the whole schema (plan.conventions)."""

    def __post_init__(self) -> None:
        self.relations = NameSpace(self.keep_case)

    def find(self, code: str, severity: str, table: str | None, column: str | None, message: str,
             resolution: str, count: int = 0, examples: list[str] | None = None) -> None:
        self.findings.append(Finding(code, severity, table, column, message, resolution, count, examples or []))
