"""One read of the data: a plan whose types came from a sample (plan.sample_rows) is checked by the copy itself,
which converts and validates every value anyway. When a value of a sampled table does not load, that table is
profiled in full (from the run's snapshot, so from the very bytes being copied), the plan is made again, and every
table whose columns changed (the table itself, and the tables its foreign keys join, whose types follow its own)
is created anew and copied again from its first row. The new plan is recorded with the dropped tables' progress
in one transaction: a run stopped at any moment resumes with the plan its rows were copied with, exactly once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from psycopg2 import sql

from wizard.data_copy.model import Run, SampleMiss
from wizard.data_copy.state import connect_mid_run, create_tables, recordable
from wizard.plan import ddl
from wizard.plan.planner import build_plan
from wizard.plan_model import ColumnPlan, Finding, TablePlan
from wizard.source.profile_jobs import Sample
from wizard.source.snapshot import Snapshot

SAMPLE_ROWS = 5_000  # rows of a big table a plan made for the copy reads (about 0.03 s a table; the corpus plans
# the same types from 5,000 rows as from every row, and the copy checks every value anyway)


def replan(run: Run, snapshot: Snapshot, miss: SampleMiss) -> list[str]:
    """Re-plan after `miss`: the table profiled whole, the changed tables recreated empty, the new plan recorded
    (run.plan becomes it). Returns the names of the tables copied again."""
    old = run.plan
    whole = frozenset(t.source for t in old.tables if not t.sampled_rows) | {miss.table}
    fresh = build_plan(snapshot.path, overrides=old.overrides, keep_case=old.keep_case, excluded=old.excluded,
                       jobs=run.options.jobs, sample=Sample(old.sample_rows, whole),
                       framework=old.framework_choice or None)
    # the plan of the source file, made from its snapshot's bytes
    new = replace(fresh, source_path=old.source_path, source_size=old.source_size, wizard_state=old.wizard_state,
                  sample_rows=old.sample_rows)
    before = {t.source: t for t in old.included_tables}
    changed = [t for t in new.included_tables if _shape(t) != _shape(before[t.source])]
    sampled = before[miss.table]
    new.findings.append(Finding(
        "sample_miss", "warning", miss.table, miss.column,
        f"The types of {miss.table} were chosen from a sample of {sampled.sampled_rows:,} rows; row "
        f"{miss.key} did not load ({miss.pg_message}). The table was profiled in full"
        + (": " + "; ".join(_changes(before[t.source], t) for t in changed) + "." if changed else
           ", which changed no type."),
        "Copied again from its first row with the new types"
        + (f" (with {', '.join(t.source for t in changed if t.source != miss.table)}, whose types follow it)"
           if any(t.source != miss.table for t in changed) else "") + "." if changed else
        "The copy goes on; the value is handled as --on-error says."))
    run.plan = new
    conn = connect_mid_run(run.spec, "re-planning a table")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('pgmigrate.post_done') IS NOT NULL")
            (built_early,) = cur.fetchone()  # keys and indexes built during the copy are recorded there
            for t in changed:
                cur.execute(sql.SQL("DROP TABLE {} CASCADE").format(ddl.table_ident(before[t.source],
                                                                                     run.options.schema)))
                cur.execute("DELETE FROM pgmigrate.progress WHERE table_name = %s", (before[t.source].target,))
                cur.execute("DELETE FROM pgmigrate.rejects WHERE table_name = %s", (before[t.source].target,))
                if built_early:
                    cur.execute("DELETE FROM pgmigrate.post_done WHERE step = %s",
                                (ddl.table_step_key(before[t.source].target),))
            cur.execute("UPDATE pgmigrate.run SET plan = %s WHERE id = 1", (recordable(new),))
        create_tables(conn, run, snapshot, changed)
        conn.commit()
    except BaseException:
        conn.rollback()
        run.plan = old
        raise
    finally:
        conn.close()
    return [t.source for t in changed]


def _shape(t: TablePlan) -> list[Any]:
    """What the copy writes of a table: its columns' names, types and conversions (not the counts behind them)."""
    return [_column(c) for c in t.columns]


def _changes(old: TablePlan, new: TablePlan) -> str:
    moved = [f"{n.source} {o.pg_type} -> {n.pg_type}" if o.pg_type != n.pg_type else f"{n.source} ({n.conversion})"
             for o, n in zip(old.columns, new.columns, strict=True) if _column(o) != _column(n)]
    return f"{new.source}: {', '.join(moved) or 'its columns'}"


def _column(c: ColumnPlan) -> Any:
    return (c.target, c.pg_type, c.conversion, c.nullable, c.default, c.identity, c.epoch_unit, c.text_fix,
            c.empty_to_null, c.generated_sql)
