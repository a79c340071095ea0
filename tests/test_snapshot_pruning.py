"""Snapshots do not pile up: a finished migration removes the older snapshots of its source, keeps its own (for
verify) and any that an unfinished migration into another target still needs; --keep-snapshots keeps them all."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from tests.conftest import PgServer
from wizard.data_copy import parts
from wizard.data_copy.model import CopyOptions
from wizard.data_copy.run import migrate
from wizard.data_copy.state import reset_target
from wizard.errors import Cancelled
from wizard.plan.planner import build_plan
from wizard.plan_model import MigrationPlan
from wizard.target.connection import ConnectionSpec


def _source(make_sqlite) -> Path:  # type: ignore[no-untyped-def]
    return make_sqlite("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
                       {"items": [(i, f"item {i}") for i in range(1, 501)]})


def _snapshots(folder: Path) -> list[Path]:
    return sorted(folder.glob("app.db.pgmigrate-backup-*.sqlite"))


def _cli(*args: str, spec: ConnectionSpec) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGPASSWORD": spec.password or "", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    return subprocess.run([sys.executable, "-m", "wizard", *args], capture_output=True, text=True, env=env,
                          timeout=180, check=False)


def test_three_migrates_leave_one_snapshot(tmp_path: Path, pg_db: ConnectionSpec,
                                          make_sqlite) -> None:  # type: ignore[no-untyped-def]
    db = _source(make_sqlite)
    url = pg_db.with_password(None).url(mask=False)
    outputs = []
    for restart in ([], ["--restart", "--yes"], ["--restart", "--yes"]):
        done = _cli("migrate", str(db), "--target", url, "--jobs", "1", *restart, spec=pg_db)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    left = _snapshots(tmp_path)
    assert len(left) == 1
    assert not list(tmp_path.glob("*.in-use"))  # the finished run no longer marks its snapshot as needed
    # the summary names the kept snapshot and its size, and what was removed
    assert f"snapshot: {left[0]}" in outputs[-1] and "KiB" in outputs[-1]
    assert "removed 1 older snapshot(s) of this source" in outputs[-1]
    verify = _cli("verify", str(db), "--target", url, spec=pg_db)
    assert verify.returncode == 0 and str(left[0]) in verify.stdout


def test_keep_snapshots_keeps_them_all(tmp_path: Path, pg_db: ConnectionSpec,
                                       make_sqlite) -> None:  # type: ignore[no-untyped-def]
    db = _source(make_sqlite)
    url = pg_db.with_password(None).url(mask=False)
    for restart in ([], ["--restart", "--yes"]):
        done = _cli("migrate", str(db), "--target", url, "--jobs", "1", "--keep-snapshots", *restart, spec=pg_db)
        assert done.returncode == 0, done.stderr
        assert "removed" not in done.stdout
    assert len(_snapshots(tmp_path)) == 2


def _stopped(plan: MigrationPlan, spec: ConnectionSpec, options: CopyOptions) -> None:
    """A migrate cancelled once its first part is copied, before the keys and indexes: it stays resumable."""
    cancel = threading.Event()
    real = parts._copy_part

    def part_then_cancel(job, link, conn):  # type: ignore[no-untyped-def]
        real(job, link, conn)
        cancel.set()
        deadline = time.monotonic() + 10
        while not link.stopped() and time.monotonic() < deadline:
            time.sleep(0.01)

    with pytest.MonkeyPatch.context() as mp, pytest.raises(Cancelled):
        mp.setattr(parts, "_copy_part", part_then_cancel)
        migrate(plan, spec, options, cancel=cancel)


def test_unfinished_migration_keeps_its_snapshot(tmp_path: Path, pg_server: PgServer, pg_db: ConnectionSpec,
                                                 make_sqlite) -> None:  # type: ignore[no-untyped-def]
    """A migration into one target that stopped (and will resume) keeps its snapshot when another target's
    migration of the same source finishes; once it resumes and finishes, the older one goes."""
    db = _source(make_sqlite)
    plan = build_plan(db)
    other = pg_db.with_dbname(pg_db.dbname + "_b")
    admin = psycopg2.connect(**pg_server.admin.connect_kwargs())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(other.dbname)))
    try:
        # the first target's copy is stopped before it finished: it is resumable
        _stopped(plan, pg_db, CopyOptions(jobs=1, batch_size=50))
        stopped = _snapshots(tmp_path)
        assert len(stopped) == 1 and Path(f"{stopped[0]}.in-use").exists()

        result = migrate(plan, other, CopyOptions(jobs=1))
        assert result.pruned is not None and result.pruned.removed == []
        assert result.pruned.in_use == [str(stopped[0])]
        assert len(_snapshots(tmp_path)) == 2

        # the stopped one resumes from its own snapshot and finishes: now the older snapshots go
        again = migrate(plan, pg_db, CopyOptions(jobs=1))
        assert again.snapshot.path == str(stopped[0]) and not Path(f"{stopped[0]}.in-use").exists()
        assert again.pruned is not None and again.pruned.removed == []  # the other target's is newer: kept
        # --restart frees a stopped run's snapshot, and the next finished run removes it
        reset_target(plan, pg_db)
        _stopped(plan, pg_db, CopyOptions(jobs=1, batch_size=50))
        third = _snapshots(tmp_path)[-1]
        assert Path(f"{third}.in-use").exists()
        reset_target(plan, pg_db)
        assert not list(tmp_path.glob("*.in-use"))
        last = migrate(plan, pg_db, CopyOptions(jobs=1))
        assert last.pruned is not None
        assert [p for p, _size in last.pruned.removed] == [str(stopped[0]), result.snapshot.path, str(third)]
        assert _snapshots(tmp_path) == [Path(last.snapshot.path)]
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(other.dbname)))
        admin.close()
