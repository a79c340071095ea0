"""What verify reports: per table its counts, checksums and differing rows, and the checks of what the
post-load promised (the JSON shape is documented in README).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ColumnDiff:
    column: str
    source: str | None
    target: str | None


@dataclass
class Difference:
    kind: str  # "missing" (in the target), "extra" (in the target), "changed"
    key: dict[str, str | None]
    columns: list[ColumnDiff] = field(default_factory=list)
    count: int = 1  # for tables without a key: how many identical rows


@dataclass
class TableReport:
    name: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str
    ok: bool
    differences: list[Difference] = field(default_factory=list)
    more_differences: bool = False
    note: str | None = None
    seconds: float = 0.0


@dataclass
class Check:
    name: str  # "sequence", "primary_key", "index", "foreign_key", "check", "rejected_rows", "snapshot"
    table: str | None
    ok: bool
    detail: str


@dataclass
class VerifyReport:
    ok: bool
    source: str
    target: str  # masked: never a password
    tables: list[TableReport]
    checks: list[Check]
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class VerifyProgress:
    table: str
    side: str  # "source" or "target"
    rows_done: int
    rows_total: int
    finished: bool
