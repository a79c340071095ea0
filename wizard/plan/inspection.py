"""`inspect`: what is in an SQLite file (tables, rows, size) and what in its data needs attention."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wizard.plan.planner import build_plan
from wizard.plan_model import Finding
from wizard.source.frameworks import FRAMEWORKS


@dataclass
class TableSummary:
    name: str
    rows: int
    columns: int
    without_rowid: bool
    primary_key: list[str]


@dataclass
class InspectionReport:
    path: str
    size_bytes: int
    tables: list[TableSummary]
    views: list[str]
    triggers: list[str]
    findings: list[Finding]
    framework: str = ""  # the framework that made it, as people call it ("" none found)

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["total_rows"] = self.total_rows
        return d


def inspect_database(path: Path | str, framework: str | None = None) -> InspectionReport:
    plan = build_plan(path, framework=framework)
    tables = [TableSummary(t.source, t.row_count, len(t.columns), t.without_rowid,
                           [c.source for c in t.columns if c.target in t.primary_key]) for t in plan.tables]
    return InspectionReport(path=plan.source_path, size_bytes=plan.source_size, tables=tables,
                            views=[v.source for v in plan.views],
                            triggers=[m.name for m in plan.manual if m.kind == "trigger"], findings=plan.findings,
                            framework=FRAMEWORKS.get(plan.framework, ""))


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def render_inspection(r: InspectionReport) -> str:
    lines = [f"{r.path}: {human_size(r.size_bytes)}, {len(r.tables)} table(s), {r.total_rows:,} row(s), "
             f"{len(r.views)} view(s), {len(r.triggers)} trigger(s)"]
    lines += [f"made by: {r.framework}", ""] if r.framework else [""]
    width = max([len(t.name) for t in r.tables] + [5])
    lines.append(f"{'table'.ljust(width)}  {'rows':>12}  cols  key")
    for t in r.tables:
        key = ", ".join(t.primary_key) or "-"
        lines.append(f"{t.name.ljust(width)}  {t.rows:>12,}  {t.columns:>4}  {key}"
                     + ("  (WITHOUT ROWID)" if t.without_rowid else ""))
    if r.findings:
        lines += ["", f"Findings ({len(r.findings)}):"]
        order = {"error": 0, "warning": 1, "info": 2}
        for f in sorted(r.findings, key=lambda f: order.get(f.severity, 3)):
            where = ".".join(x for x in (f.table, f.column) if x)
            lines.append(f"  [{f.severity}] {where + ': ' if where else ''}{f.message}")
            lines.append(f"      -> {f.resolution}")
            for ex in f.examples:
                lines.append(f"         e.g. {ex}")
    return "\n".join(lines) + "\n"
