"""Step 4: review the translated schema: include/exclude tables, change a column's type, read the DDL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from textual import on
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Static, TextArea

from screens.base import StepScreen
from screens.widgets import AUTOMATIC, HelpModal, TypeModal, fill_table, in_wizard
from wizard.plan.ddl import render_script
from wizard.plan.planner import build_plan
from wizard.plan.type_mapping import TARGET_TYPES
from wizard.plan_model import MigrationPlan, TablePlan
from wizard.source.profile_jobs import Sample

_TABLES = ("include", "SQLite table", "PostgreSQL", "rows", "findings")
_COLUMNS = ("column", "SQLite type", "PostgreSQL type", "notes")


class SchemaScreen(StepScreen):
    STEP = "schema"
    AUTO_FOCUS = "#schema-tables"
    HEADING = "4. Schema: tables, column types, DDL"
    HELP = ("The upper table lists the SQLite tables: Space includes or excludes the highlighted one. The lower "
            "table shows its columns: SQLite type → PostgreSQL type, with the findings. Highlight a column and "
            "press T to change its type (the data is checked again), Enter to read its notes in full. The DDL "
            "below is what will run.")
    BINDINGS = [Binding("space", "toggle_table", "Include/exclude", show=True),
                Binding("t", "change_type", "Change type", show=True)]

    def body(self) -> Iterable[Widget]:
        yield Static("", id="framework", markup=False)
        yield DataTable(id="schema-tables", cursor_type="row", zebra_stripes=True)
        yield Static("", id="table-title", markup=False)
        yield DataTable(id="columns", cursor_type="row", zebra_stripes=True)
        yield TextArea("", id="ddl", read_only=True, show_line_numbers=False)

    def on_mount(self) -> None:
        self.query_one("#schema-tables", DataTable).add_columns(*_TABLES)
        self.query_one("#columns", DataTable).add_columns(*_COLUMNS)

    def refresh_step(self) -> None:
        if self.state.plan is not None:
            self._show(self.state.plan)

    def _current(self) -> TablePlan | None:
        plan = self.state.plan
        table = self.query_one("#schema-tables", DataTable)
        if plan is None or not plan.tables:
            return None
        return plan.tables[min(table.cursor_row, len(plan.tables) - 1)]

    def _show(self, plan: MigrationPlan, keep_row: int | None = None) -> None:
        table = self.query_one("#schema-tables", DataTable)
        row = table.cursor_row if keep_row is None else keep_row  # a refill would put the cursor back on row 0
        counts = Counter(f.table for f in plan.findings)
        made_by = next((f.message for f in plan.findings if f.code == "framework"), "")
        self.query_one("#framework", Static).update(made_by)
        self.query_one("#framework", Static).display = bool(made_by)
        fill_table(table, _TABLES, (("✓" if t.include else "✗", t.source, t.target, f"{t.row_count:,}",
                                     str(counts[t.source] or "")) for t in plan.tables))
        if plan.tables:
            table.move_cursor(row=min(max(row, 0), len(plan.tables) - 1))
        self._show_columns()
        self.query_one("#ddl", TextArea).text = render_script(plan)

    @on(DataTable.RowHighlighted, "#schema-tables")
    def _show_columns(self) -> None:
        t = self._current()
        columns = self.query_one("#columns", DataTable)
        plan = self.state.plan
        if t is None or plan is None:
            fill_table(columns, _COLUMNS, [])
            return
        sampled = (f": types from a sample of {t.sampled_rows:,} of {t.row_count:,} rows (the copy checks every "
                   "value, and re-plans the table if one does not fit)") if t.sampled_rows else ""
        self.query_one("#table-title", Static).update(f"Columns of {t.source}" + ("" if t.include else " (excluded)")
                                                      + sampled)
        # the same table shown again (after a type change): the cursor stays on its column, so the next T edits it
        keep = columns.cursor_row if getattr(self, "_columns_of", None) == t.source else 0
        self._columns_of = t.source
        rows = []
        for c in t.columns:
            notes = [in_wizard(f.message) for f in plan.findings if f.table == t.source and f.column == c.source]
            notes += [f"suggestion: {s}" for s in c.suggestions]
            rows.append((c.source, c.declared_type or "(none)", c.pg_type + (" *" if c.override else ""),
                         "; ".join(notes)[:90]))
        fill_table(columns, _COLUMNS, rows)
        if rows:
            columns.move_cursor(row=min(keep, len(rows) - 1))

    @on(DataTable.RowSelected, "#columns")
    def _open_column(self, event: DataTable.RowSelected) -> None:
        """Enter on a column: its notes in full (the table cuts them to its width)."""
        plan, t = self.state.plan, self._current()
        if plan is None or t is None or not 0 <= event.cursor_row < len(t.columns):
            return
        c = t.columns[event.cursor_row]
        notes = [in_wizard(f"{f.message} → {f.resolution}") for f in plan.findings
                 if f.table == t.source and f.column == c.source] + [f"suggestion: {s}" for s in c.suggestions]
        text = "\n".join([f"SQLite type: {c.declared_type or '(none)'}", f"PostgreSQL type: {c.pg_type}"
                          + (" (chosen by hand)" if c.override else ""), "", *(notes or ["No findings."])])
        self.app.push_screen(HelpModal(f"{t.source}.{c.source}", text))

    def action_toggle_table(self) -> None:
        plan, t = self.state.plan, self._current()
        if plan is None or t is None:
            return
        row = self.query_one("#schema-tables", DataTable).cursor_row
        t.include = not t.include
        plan.excluded = [x.source for x in plan.tables if not x.include]
        self.state.changed("schema")
        self.state.save()
        self._show(plan, row)

    def action_change_type(self) -> None:
        plan, t = self.state.plan, self._current()
        if plan is None or t is None or not t.columns:
            return
        columns = self.query_one("#columns", DataTable)
        col = t.columns[min(columns.cursor_row, len(t.columns) - 1)]
        row = self.query_one("#schema-tables", DataTable).cursor_row
        key = f"{t.source}.{col.source}"

        def chosen(pg_type: str | None) -> None:
            if not pg_type or self.state.sqlite_path is None:
                return
            overrides = dict(plan.overrides)
            if pg_type == AUTOMATIC:
                overrides.pop(key, None)
            else:
                overrides[key] = pg_type
            if overrides == plan.overrides:
                self.message.info(f"{key} stays {col.pg_type}.")
                return
            path = self.state.sqlite_path
            sample = Sample(plan.sample_rows) if plan.sample_rows else None
            self.in_thread(lambda: build_plan(path, overrides=overrides, keep_case=plan.keep_case,
                                              excluded=plan.excluded, sample=sample,
                                              framework=plan.framework_choice or None),
                           lambda new: self._replanned(new, row, t.source, col.source, col.pg_type),
                           busy="checking the data against the new type…", group="schema")

        self.app.push_screen(TypeModal(key, col.pg_type, sorted(TARGET_TYPES), overridden=key in plan.overrides),
                             chosen)

    def _replanned(self, plan: MigrationPlan, row: int, table: str, column: str, before: str) -> None:
        old = self.state.plan
        if old is not None:
            plan.wizard_state = old.wizard_state
        self.state.plan = plan
        self.state.changed("schema")
        self.state.save()
        self._show(plan, row)
        after = next((c.pg_type for c in plan.table(table).columns if c.source == column), before)
        how = "chosen by hand" if f"{table}.{column}" in plan.overrides else "chosen automatically"
        change = f"{before} → {after}" if after != before else f"stays {after}"
        self.succeeded(f"✓ {table}.{column}: {change} ({how}). The plan is saved.")

    def can_leave(self) -> str | None:
        plan = self.state.plan
        if plan is None or not plan.included_tables:
            return "Include at least one table."
        return None
