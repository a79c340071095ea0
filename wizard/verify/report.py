"""The verification report as a terminal table, Markdown and JSON (the JSON shape is documented in README)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from wizard.errors import InputError
from wizard.verify.results import Difference, VerifyReport


def _mark(ok: bool) -> str:
    return "ok" if ok else "FAIL"


def difference_line(d: Difference) -> str:
    key = ", ".join(f"{k}={v!r}" for k, v in d.key.items())
    if d.kind == "changed":
        cols = "; ".join(f"{c.column}: {c.source!r} -> {c.target!r}" for c in d.columns)
        return f"changed  {key}: {cols}"
    times = f" (x{d.count})" if d.count > 1 else ""
    return f"{d.kind:<8} {key}{times}"


def render_text(r: VerifyReport) -> str:
    lines = [f"source: {r.source}", f"target: {r.target}"]
    width = max([len(t.name) for t in r.tables] + [5])
    lines.append(f"{'':5}{'table'.ljust(width)}  {'sqlite rows':>12}  {'pg rows':>12}  checksum")
    for t in r.tables:
        same = "same" if t.source_checksum == t.target_checksum and t.source_checksum else \
            f"{t.source_checksum or '-'} != {t.target_checksum or '-'}"
        lines.append(f"{_mark(t.ok):<5}{t.name.ljust(width)}  {t.source_rows:>12,}  {t.target_rows:>12,}  {same}")
        if t.note:
            lines.append(f"      {t.note}")
        for d in t.differences:
            lines.append(f"      {difference_line(d)}")
        if t.more_differences:
            lines.append("      … more differing rows not listed")
    for c in r.checks:
        lines.append(f"{_mark(c.ok):<5}{c.name}{' ' + c.table if c.table else ''}: {c.detail}")
    bad = sum(not t.ok for t in r.tables) + sum(not c.ok for c in r.checks)
    lines.append("verified: every row arrived and every check passed" if r.ok else
                 f"NOT verified: {bad} table(s)/check(s) differ (listed above)")
    lines.append(f"({r.seconds:.1f} s)")
    return "\n".join(lines) + "\n"


def _md_cell(v: object) -> str:
    return str(v).replace("|", "\\|").replace("\n", "\\n")


def render_markdown(r: VerifyReport) -> str:
    out = ["# Migration verification", "", f"**Result: {'verified' if r.ok else 'NOT verified'}**", "",
           f"- Source: `{r.source}`", f"- Target: `{r.target}`", "", "## Tables", "",
           "| | table | SQLite rows | PostgreSQL rows | SQLite checksum | PostgreSQL checksum |",
           "|---|---|---:|---:|---|---|"]
    for t in r.tables:
        out.append(f"| {'✓' if t.ok else '✗'} | {_md_cell(t.name)} | {t.source_rows} | {t.target_rows} | "
                   f"`{t.source_checksum}` | `{t.target_checksum}` |")
    for t in r.tables:
        if t.differences or t.note:
            out += ["", f"### {_md_cell(t.name)}", ""]
            if t.note:
                out.append(f"- {_md_cell(t.note)}")
            out += [f"- {_md_cell(difference_line(d))}" for d in t.differences]
            if t.more_differences:
                out.append("- … more differing rows not listed")
    out += ["", "## Checks", "", "| | check | table | detail |", "|---|---|---|---|"]
    for c in r.checks:
        out.append(f"| {'✓' if c.ok else '✗'} | {c.name} | {_md_cell(c.table or '')} | {_md_cell(c.detail)} |")
    return "\n".join(out) + "\n"


def write_report(r: VerifyReport, path: Path) -> None:
    """Write by extension (.json or .md), atomically, so a failed write never leaves half a report."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = r.to_json() + "\n"
    elif suffix in (".md", ".markdown"):
        text = render_markdown(r)
    else:
        raise InputError(f"The report file {path} must end in .json or .md.", title="Unknown report format",
                         hint="Pass e.g. --report verify.md or --report verify.json.")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"The report could not be written to {path}: {exc.strerror}.", title="Report not written",
                         hint="Pick a writable folder for --report.") from None
