"""What the Copy step knows about its targets: the runs recorded in each environment's database, the bars of a
recorded run, and what it offers when a target holds something a copy cannot continue."""

from __future__ import annotations

from typing import Any

from wizard.data_copy.model import Progress
from wizard.data_copy.state import read_state
from wizard.plan_model import MigrationPlan
from wizard.target.connection import ConnectionSpec

# What a target may hold that a copy cannot continue, and what the Copy step offers instead of the CLI's --restart.
RESTARTABLE = {
    "Different source": "Start over there (its copied tables are dropped), or pick another environment above.",
    "Different plan": "The tables or their types changed since that copy began: start over there (its copied "
                      "tables are dropped), or pick another environment above.",
    "Target not empty": "Start over there (those tables are dropped), or pick another environment above.",
    "Snapshot changed": "The copy cannot continue exactly from another snapshot: start over there (its copied "
                        "tables are dropped).",
}


def recorded_runs(targets: dict[str, ConnectionSpec]) -> dict[str, dict[str, Any]]:
    """The run recorded in each target that has one (environment -> its state); a database that cannot be read
    (unreachable, not ours) holds nothing to resume."""
    found = {}
    for env, spec in targets.items():
        try:
            state = read_state(spec)
        except BaseException:  # noqa: BLE001 - see above
            continue
        if state is not None:
            found[env] = state
    return found


def stored_progress(plan: MigrationPlan, state: dict[str, Any]) -> list[Progress]:
    """The bars of a recorded run, as far as it got (no rate: nothing is flowing)."""
    totals = {t.source: t.row_count for t in plan.included_tables}
    overall = sum(totals.values())
    done_all = sum(int(t["rows_done"]) for t in state["tables"].values())
    return [Progress(name, "copied" if t["done"] else "stopped", int(t["rows_done"]), totals[name], 0, 0.0, None,
                     done_all, overall) for name, t in state["tables"].items() if name in totals]
