"""Step 7: the verification report (✓/✗ per table and check, the differing rows), its export, and the summary."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, DataTable, Static

from screens.base import StepScreen
from screens.widgets import HelpModal, StepList, fill_table
from wizard.errors import StepFailed
from wizard.verify.report import difference_line, write_report
from wizard.verify.results import VerifyProgress, VerifyReport
from wizard.verify.run import verify

_REPORT = ("", "table / check", "detail", "SQLite", "PostgreSQL")  # the detail before the counts: a narrow
# terminal still shows what it says (Enter opens a row in full)


class VerifyScreen(StepScreen):
    STEP = "verify"
    AUTO_FOCUS = "#run"
    BINDINGS = [Binding("ctrl+t", "press('#run')", "Verify")]
    HEADING = "7. Verify: did every row arrive?"
    HELP = ("Verify compares every row of the SQLite snapshot with PostgreSQL, by checksums of their canonical "
            "form (a boolean as a boolean, a timestamp as the same instant, bytes as bytes), and names the rows "
            "that differ. It also checks keys, indexes, foreign keys and sequences. Export writes the report as "
            "Markdown or JSON next to the SQLite file.")

    def body(self) -> Iterable[Widget]:
        with Horizontal(classes="row"):
            yield Button("Verify", id="run", variant="primary", compact=True)
            yield Button("Export Markdown", id="export-md", disabled=True, compact=True)
            yield Button("Export JSON", id="export-json", disabled=True, compact=True)
        yield DataTable(id="report", cursor_type="row", zebra_stripes=True)
        yield Static("Enter on a row shows it in full.", id="report-hint", markup=False)
        yield Static("", id="details", markup=False)
        yield Static("", id="summary", markup=False)

    def on_mount(self) -> None:
        self.query_one("#report", DataTable).add_columns(*_REPORT)
        self.query_one("#next", Button).label = "Finish"

    def refresh_step(self) -> None:
        if self.state.report is not None:
            self._show(self.state.report)

    @on(Button.Pressed, "#run")
    def _run_pressed(self) -> None:
        self.with_password(self.run, "read the copied data")

    def run(self) -> None:
        spec, plan = self.state.target_spec(), self.state.plan
        if spec is None or plan is None:
            self.message.info("▶ A source (step 1) and a connection (step 2) are needed first.")
            return
        big = sum(t.row_count for t in plan.included_tables) > 200_000
        total = 2 * sum(t.row_count for t in plan.included_tables)  # each row is read on both sides
        seen: dict[tuple[str, str], int] = {}

        def progress(p: VerifyProgress) -> None:  # from the verify's threads; the ticker reads it
            seen[(p.table, p.side)] = p.rows_done

        def detail() -> str:
            done = sum(seen.values())
            return f"{done:,} of {total:,} rows read ({100 * done / total:.0f}%)" if total else ""

        self.in_thread(lambda: verify(plan, spec, jobs=2 if big else 1, on_progress=progress), self._verified,
                       busy="comparing every row…", group="verify", detail=detail)

    def _verified(self, report: VerifyReport) -> None:
        self.state.report = report
        self._show(report)
        for b in ("#export-md", "#export-json"):
            self.query_one(b, Button).disabled = False
        if report.ok:
            self.state.status[self.STEP] = "done"
            self.query_one(StepList).show(self.STEP, self.state.status)
            self.state.save()
            self.succeeded(f"✓ Verified: every row arrived and every check passed ({report.seconds:.1f} s).")
        else:
            bad = sum(not t.ok for t in report.tables) + sum(not c.ok for c in report.checks)
            self.failed(StepFailed(f"{bad} table(s)/check(s) differ; the ✗ rows above say which and how.",
                                   title="Not verified", hint="Fix the cause (Resume the copy in step 6, or the "
                                   "rejected rows), then press Verify again."))

    def _show(self, report: VerifyReport) -> None:
        rows = []
        self._full: list[str] = []  # each row in full, opened with Enter (a narrow terminal cuts the table)
        for t in report.tables:
            detail = "checksums match" if t.ok else (t.note or f"{len(t.differences)} differing row(s) shown below")
            rows.append(("✓" if t.ok else "✗", t.name, detail, f"{t.source_rows:,}", f"{t.target_rows:,}"))
            self._full.append("\n".join([f"{'✓ matches' if t.ok else '✗ differs'}: table {t.name}",
                                         f"SQLite rows: {t.source_rows:,}", f"PostgreSQL rows: {t.target_rows:,}",
                                         detail] + [difference_line(d) for d in t.differences]))
        for c in report.checks:
            rows.append(("✓" if c.ok else "✗", f"{c.name} {c.table or ''}".strip(), c.detail[:80], "", ""))
            self._full.append(f"{'✓ passed' if c.ok else '✗ failed'}: {c.name} {c.table or ''}\n\n{c.detail}")
        fill_table(self.query_one("#report", DataTable), _REPORT, rows)
        lines = []
        for t in report.tables:
            for d in t.differences:
                lines.append(f"{t.name}: {difference_line(d)}")
            if t.more_differences:
                lines.append(f"{t.name}: … more differing rows not listed")
        # a failed check's whole detail (the table shows 80 characters: a NOT VALID key's rows come after them)
        lines += [f"{c.name} {c.table or ''}: {c.detail}" for c in report.checks if not c.ok and len(c.detail) > 80]
        self.query_one("#details", Static).update("\n".join(lines))
        self._summary()

    @on(DataTable.RowSelected, "#report")
    def _open_row(self, event: DataTable.RowSelected) -> None:
        full = getattr(self, "_full", [])
        if 0 <= event.cursor_row < len(full):
            self.app.push_screen(HelpModal("verification", full[event.cursor_row]))

    def summary_lines(self) -> list[str]:
        """What the wizard did, for the terminal after it closes."""
        s = self.state
        lines = [f"  source: {s.sqlite_path}", f"  plan: {s.plan_path}"]
        lines += [f"  {what}: {where}" for what, where in s.written.items()]
        if s.databases:
            lines.append("  databases: " + ", ".join(f"{e} → {d}" for e, d in s.databases.items()))
        spec = s.target_spec()
        if spec is not None:
            lines.append(f"  data in: {spec}")
        if s.copy_result is not None:
            rows = sum(t.rows for t in s.copy_result.tables)
            lines.append(f"  copied: {rows:,} rows in {len(s.copy_result.tables)} table(s)"
                         + (f", {s.copy_result.rejected:,} rejected" if s.copy_result.rejected else ""))
        if s.report is not None:
            lines.append("  verified: every row and check" if s.report.ok else "  NOT verified: see the report")
        return lines

    def _summary(self) -> None:
        self.query_one("#summary", Static).update("\n".join(["Summary:", *self.summary_lines()]))

    def _export(self, suffix: str) -> None:
        report, source = self.state.report, self.state.sqlite_path
        if report is None or source is None:
            return
        path = Path(str(source) + f".verify{suffix}")

        def done(_: None) -> None:
            self.state.written[f"report ({suffix[1:]})"] = str(path)
            self._summary()
            self.message.ok(f"✓ Report written to {path}.")

        self.in_thread(lambda: write_report(report, path), done, busy="writing the report…", group="verify-export")

    @on(Button.Pressed, "#export-md")
    def export_md(self) -> None:
        self._export(".md")

    @on(Button.Pressed, "#export-json")
    def export_json(self) -> None:
        self._export(".json")

    def action_next(self) -> None:
        """The last step: Finish leaves the wizard (its choices stay in the plan file)."""
        self.state.status[self.STEP] = "done" if self.state.report and self.state.report.ok else \
            self.state.status.get(self.STEP, "todo")
        self.state.save()
        self.app.summary = ["pgmigrate-wizard finished:", *self.summary_lines()]  # type: ignore[attr-defined,unused-ignore]
        self.app.exit(0 if self.state.report and self.state.report.ok else 1)
