"""The plan a migration was made with is recorded in the target: a resume and verify without a saved plan reuse
it instead of profiling the data again, so they use exactly the types the tables were created with."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg2

from tests.test_snapshot_pruning import _stopped
from wizard.data_copy.model import CopyOptions
from wizard.data_copy.state import read_state, recorded_plan
from wizard.plan.planner import build_plan
from wizard.target.connection import ConnectionSpec


def _cli(args: list[str], spec: ConnectionSpec, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGPASSWORD": spec.password or "", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    return subprocess.run([sys.executable, "-m", "wizard", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=180, check=False)


def test_resume_and_verify_use_the_recorded_plan(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, qty, name TEXT)")  # qty untyped: the data decides
    conn.executemany("INSERT INTO items VALUES (?, ?, ?)", [(i, i * 3, f"item {i}") for i in range(1, 501)])
    conn.commit()
    conn.close()
    plan = build_plan(db)
    assert plan.table("items").columns[1].pg_type == "bigint"
    _stopped(plan, pg_db, CopyOptions(jobs=1, batch_size=50))
    assert read_state(pg_db) is not None
    recorded = recorded_plan(pg_db, db)
    assert recorded is not None and recorded.to_json() == plan.to_json()
    assert recorded_plan(pg_db, tmp_path / "other.db") is None

    # the app writes on: a new profile would now type qty as text, unlike the table the stopped run created
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO items VALUES (501, 'a dozen', 'late')")
    conn.commit()
    conn.close()
    assert build_plan(db).table("items").columns[1].pg_type == "text"

    url = pg_db.with_password(None).url(mask=False)
    done = _cli(["migrate", str(db), "--target", url, "--jobs", "1"], pg_db, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "using the plan recorded in" in done.stderr and "no saved plan" not in done.stderr
    with psycopg2.connect(**pg_db.connect_kwargs()) as pg, pg.cursor() as cur:
        cur.execute("SELECT count(*), sum(qty), pg_typeof(min(qty))::text FROM items")
        assert cur.fetchone() == (500, 3 * 500 * 501 // 2, "bigint")  # the snapshot's rows, the recorded types
    pg.close()
    done = _cli(["verify", str(db), "--target", url], pg_db, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr  # against the snapshot the copy read
    assert "using the plan recorded in" in done.stderr and "no saved plan" not in done.stderr

    # --restart starts from the file as it is now: a new plan of its data
    done = _cli(["migrate", str(db), "--target", url, "--jobs", "1", "--restart", "--yes"], pg_db, tmp_path)
    assert done.returncode == 0 and "no saved plan" in done.stderr, done.stderr
    with psycopg2.connect(**pg_db.connect_kwargs()) as pg, pg.cursor() as cur:
        cur.execute("SELECT count(*), pg_typeof(min(qty))::text FROM items")
        assert cur.fetchone() == (501, "text")
    pg.close()
