"""Every readable database of the shared corpus inspects, plans, and its DDL (all phases) loads into PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from tests.conftest import CORPUS, corpus_files
from wizard.data_copy.statements import apply
from wizard.plan import ddl
from wizard.plan.inspection import inspect_database
from wizard.plan.planner import build_plan
from wizard.plan_model import MigrationPlan
from wizard.target.connection import ConnectionSpec

FILES = corpus_files()


def test_corpus_is_present() -> None:
    if not CORPUS.exists():
        pytest.skip("../shared/corpus is not beside this checkout (CI always has it)")
    assert len(FILES) > 40


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_corpus_plan_loads(path: Path, pg_db: ConnectionSpec) -> None:
    report = inspect_database(path)
    assert report.size_bytes == path.stat().st_size
    plan = build_plan(path)
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        apply(conn, ddl.phase1(plan))
        results = apply(conn, ddl.phase2(plan))
        conn.commit()
    finally:
        conn.close()
    check_phase2_stages(plan)
    failed = [f"{r.statement.kind} {r.statement.name}: {r.error}" for r in results if not r.ok]
    # Views are best-effort by design (reported, not fatal); nothing else may fail on an empty target.
    assert [f for f in failed if not f.startswith("view ")] == []


def check_phase2_stages(plan: MigrationPlan) -> None:
    """The copy runs phase 2's steps of one stage side by side: a stage must not touch a table twice (lock waits),
    foreign keys come after the keys they reference, and together the steps are exactly phase 2."""
    flat = ddl.phase2(plan)
    stages = ddl.phase2_stages(plan)
    staged = [st for stage in stages for step in stage for st in step.statements]
    assert [ddl.render(s.sql) for s in sorted(staged, key=lambda s: ddl.render(s.sql))] == \
        [ddl.render(s.sql) for s in sorted(flat, key=lambda s: ddl.render(s.sql))]
    keys = [step.key for stage in stages for step in stage]
    assert len(keys) == len(set(keys))
    order = {ddl.render(s.sql): i for i, s in enumerate(staged)}
    for stage in stages:
        tables = [st.table for step in stage for st in step.statements if st.kind not in ("fk", "view", "sequence")]
        per_step = [{st.table for st in step.statements} for step in stage]
        assert len(stage) == 1 or all(len(s) == 1 for s in per_step), "a parallel step spans several tables"
        assert len(stage) == 1 or len({t for s in per_step for t in s}) == len(stage), tables
    for t in plan.included_tables:
        for fk in t.foreign_keys:
            adds = [s for s in staged if s.kind == "fk" and s.name == fk.name and s.table == t.target]
            checks = [s for s in staged if s.kind == "validate" and s.name == fk.name and s.table == t.target]
            if adds:
                first_key = min((order[ddl.render(s.sql)] for s in staged
                                 if s.table == fk.ref_table and s.kind in ("pk", "index")), default=-1)
                assert first_key < order[ddl.render(adds[0].sql)] < order[ddl.render(checks[0].sql)]
