"""Faults against a real server: kill -9 at several points, a cut connection, a server restart, a source being
written meanwhile, two runs at once, a statement_timeout and a locked table. After recovery, verify passes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from wizard.data_copy.model import CopyOptions
from wizard.data_copy.run import migrate
from wizard.data_copy.state import read_state
from wizard.plan.planner import build_plan
from wizard.plan_model import default_plan_path, load_plan, save_plan
from wizard.target.connection import ConnectionSpec
from wizard.target.pg_errors import TargetStopped
from wizard.verify.report import render_text
from wizard.verify.run import verify

ROWS = 100_000


def make_source(path: Path, rows: int = ROWS) -> Path:
    src = sqlite3.connect(path)
    src.execute("PRAGMA journal_mode=WAL")
    src.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY, payload TEXT, n INTEGER, at DATETIME)")
    src.executemany("INSERT INTO ev VALUES (?, ?, ?, ?)",
                    ((i, f"row {i} " + "x" * 60, i * 7, f"2024-01-01 00:{i % 60:02d}:00") for i in range(1, rows + 1)))
    src.execute("CREATE TABLE small (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
    src.executemany("INSERT INTO small VALUES (?, ?)", ((i, str(i)) for i in range(1, 1001)))
    src.commit()
    src.close()
    save_plan(build_plan(path), default_plan_path(path))  # planned once; every run and verify below reuse it
    return path


def _env(spec: ConnectionSpec) -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": spec.password or "", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}


def _cmd(path: Path, spec: ConnectionSpec, *extra: str) -> list[str]:
    target = ConnectionSpec(spec.host, spec.port, spec.user, spec.dbname, spec.sslmode).url(mask=False)
    return [sys.executable, "-m", "wizard", "migrate", str(path), "--target", target, "--batch-size", "5000",
            "--jobs", "2", *extra]


def _wait(predicate, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _rows_done(spec: ConnectionSpec) -> int:
    try:
        state = read_state(spec)
    except Exception:
        return 0
    return int(state["tables"].get("ev", {}).get("rows_done", 0)) if state else 0


def _phase(spec: ConnectionSpec) -> str | None:
    try:
        state = read_state(spec)
    except Exception:
        return None
    return str(state["phase"]) if state else None


def _table_exists(spec: ConnectionSpec, name: str) -> bool:
    conn = psycopg2.connect(**spec.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


def _assert_verified(path: Path, spec: ConnectionSpec) -> None:
    plan_file = Path(str(path) + ".pgmigrate.json")
    plan = load_plan(plan_file) if plan_file.exists() else build_plan(path)
    report = verify(plan, spec, jobs=1)
    assert report.ok, render_text(report)
    ev = next(t for t in report.tables if t.name == "ev")
    assert ev.target_rows == ROWS


def _descendants(pid: int) -> set[int]:
    """Live processes under `pid` (Linux /proc): the copy's worker processes and multiprocessing's helper."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found.update(kids)
        todo += kids
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _waiting_on_locks(spec: ConnectionSpec) -> int:
    conn = psycopg2.connect(**spec.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def _hold_lock(spec: ConnectionSpec, table: str, mode: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(**spec.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute(sql.SQL("LOCK TABLE {} IN " + mode + " MODE").format(sql.Identifier(table)))
    return conn  # the lock lasts until this transaction ends


@pytest.mark.parametrize("point", ["first-batches", "middle", "post-load"])
def test_kill_9_at_several_points_then_resume(tmp_path: Path, pg_db: ConnectionSpec, point: str) -> None:
    path = make_source(tmp_path / "app.db")
    blocker = None
    proc = subprocess.Popen(_cmd(path, pg_db), env=_env(pg_db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if point == "first-batches":
            _wait(lambda: _rows_done(pg_db) >= 5000, "the first batch")
        elif point == "middle":
            _wait(lambda: _rows_done(pg_db) >= ROWS // 2, "half the rows")
        else:
            # hold a lock that lets COPY in but blocks phase 2's ALTER TABLE, so the kill lands inside phase 2
            _wait(lambda: _table_exists(pg_db, "small"), "the tables")
            blocker = _hold_lock(pg_db, "small", "ACCESS SHARE")
            _wait(lambda: _phase(pg_db) == "post", "the post-load phase", timeout=120)
            time.sleep(0.3)
        helpers = _descendants(proc.pid)
        if point != "post-load":
            assert len(helpers) >= 2, "the copy should run in worker processes"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # the workers die with their parent: none keeps copying (or waiting for work) behind the rerun's back
        _wait(lambda: not any(_alive(p) for p in helpers), "the killed run's worker processes to exit", timeout=15)
    finally:
        if blocker is not None:
            blocker.rollback()
            blocker.close()
    state = read_state(pg_db)
    assert state is not None and state["phase"] != "done"
    if point != "post-load":
        assert 0 < state["tables"]["ev"]["rows_done"] < ROWS, "the kill came too late"
    again = subprocess.run(_cmd(path, pg_db), env=_env(pg_db), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    _assert_verified(path, pg_db)


def test_connection_cut_mid_copy_is_reported_and_resumes(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    path = make_source(tmp_path / "app.db")
    proc = subprocess.Popen(_cmd(path, pg_db), env=_env(pg_db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    _wait(lambda: _rows_done(pg_db) >= 5000, "the first batch")
    # every worker now waits at its next checkpoint, so the cut lands mid-copy however fast the copy is
    locker = psycopg2.connect(**pg_db.connect_kwargs())
    with locker.cursor() as cur:
        cur.execute("SELECT 1 FROM pgmigrate.progress WHERE table_name = 'ev' FOR UPDATE")
    _wait(lambda: _waiting_on_locks(pg_db) >= 1, "a worker waiting at its checkpoint")
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'pgmigrate-wizard' AND pid <> pg_backend_pid()")
    conn.close()
    locker.close()  # its backend was terminated with the others
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "target server stopped the migration while copying" in err and "run migrate again" in err, err
    assert "Traceback" not in err and (pg_db.password or "@@") not in err
    again = subprocess.run(_cmd(path, pg_db), env=_env(pg_db), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    _assert_verified(path, pg_db)


@pytest.fixture
def own_db(pg_server) -> Iterator[ConnectionSpec]:  # type: ignore[no-untyped-def]
    """A database whose teardown reconnects (pg_db's would hold a connection the restart kills)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = pg_server.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    yield pg_server.admin.with_dbname(name)
    conn = pg_server.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.close()


def test_server_restart_mid_copy_is_reported_and_resumes(tmp_path: Path, pg_server, own_db) -> None:  # type: ignore[no-untyped-def]
    if pg_server.pgdata is None:
        pytest.skip("restarting needs the built-in server (PGMIGRATE_TEST_DSN points elsewhere)")
    from wizard.target.local_server import start_local_server, stop_local_server

    path = make_source(tmp_path / "app.db")
    proc = subprocess.Popen(_cmd(path, own_db), env=_env(own_db), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    _wait(lambda: _rows_done(own_db) >= 10_000, "some batches")
    stop_local_server(pg_server.pgdata, mode="fast")
    _, err = proc.communicate(timeout=120)
    server = start_local_server(pg_server.pgdata)
    assert server.port == pg_server.admin.port  # same server, same address
    assert proc.returncode == 1, err
    assert "target server stopped the migration" in err and "Traceback" not in err
    assert "psycopg2" not in err and "SystemError" not in err, "one readable error, no driver noise"
    again = subprocess.run(_cmd(path, own_db), env=_env(own_db), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    _assert_verified(path, own_db)


def test_source_written_during_migration_copies_a_consistent_snapshot(tmp_path: Path, pg_db) -> None:  # type: ignore[no-untyped-def]
    path = make_source(tmp_path / "app.db")
    plan = load_plan(default_plan_path(path))
    stop = threading.Event()
    written = [0]

    def app_writes() -> None:  # the application keeps running: inserts and updates in both tables
        conn = sqlite3.connect(path, timeout=30)
        i = ROWS
        while not stop.is_set():
            i += 1
            with conn:
                conn.execute("INSERT INTO ev VALUES (?, 'late', 0, '2025-01-01 00:00:00')", (i,))
                conn.execute("UPDATE small SET v = v || '+' WHERE id = ?", (1 + i % 1000,))
            written[0] += 1
        conn.close()

    writer = threading.Thread(target=app_writes)
    writer.start()
    try:
        time.sleep(0.2)
        result = migrate(plan, pg_db, CopyOptions(jobs=2, batch_size=5000))
    finally:
        stop.set()
        writer.join()
    assert written[0] > 0 and result.rejected == 0
    snap = sqlite3.connect(result.snapshot.path)
    in_snapshot = snap.execute("SELECT count(*) FROM ev").fetchone()[0]
    snap.close()
    live = sqlite3.connect(path)
    assert live.execute("SELECT count(*) FROM ev").fetchone()[0] > in_snapshot  # the app wrote after the snapshot
    live.close()
    report = verify(plan, pg_db, jobs=1)  # compares with the snapshot the copy read
    assert report.ok, render_text(report)
    assert next(t for t in report.tables if t.name == "ev").target_rows == in_snapshot


def test_two_runs_at_once_second_refuses(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    path = make_source(tmp_path / "app.db", rows=20_000)
    blocker = None
    first = subprocess.Popen(_cmd(path, pg_db), env=_env(pg_db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    try:
        _wait(lambda: _table_exists(pg_db, "small"), "the tables")
        blocker = _hold_lock(pg_db, "small", "ACCESS SHARE")  # keeps the first run busy in phase 2
        _wait(lambda: _phase(pg_db) == "post", "the post-load phase", timeout=120)
        second = subprocess.run(_cmd(path, pg_db), env=_env(pg_db), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "Another migrate is already running" in second.stderr
    finally:
        if blocker is not None:
            blocker.rollback()
            blocker.close()
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    report = verify(load_plan(default_plan_path(path)), pg_db, jobs=1)
    assert report.ok, render_text(report)


def test_statement_timeout_is_reported_and_resumes(tmp_path: Path, pg_db: ConnectionSpec, pg_server) -> None:  # type: ignore[no-untyped-def]
    path = make_source(tmp_path / "app.db")
    admin = pg_server.connect()
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("ALTER DATABASE {} SET statement_timeout = '150ms'").format(sql.Identifier(pg_db.dbname)))
    out = subprocess.run(_cmd(path, pg_db, "--batch-size", "200000"), env=_env(pg_db), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "statement timeout" in out.stderr and "run migrate again" in out.stderr and "Traceback" not in out.stderr
    with admin.cursor() as cur:
        cur.execute(sql.SQL("ALTER DATABASE {} RESET statement_timeout").format(sql.Identifier(pg_db.dbname)))
    admin.close()
    again = subprocess.run(_cmd(path, pg_db), env=_env(pg_db), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    _assert_verified(path, pg_db)


def test_table_locked_by_another_session_fails_fast_and_resumes(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    path = make_source(tmp_path / "app.db")
    plan = load_plan(default_plan_path(path))
    holder: list[psycopg2.extensions.connection] = []

    def lock_when_created() -> None:
        _wait(lambda: _table_exists(pg_db, "ev"), "the tables")
        holder.append(_hold_lock(pg_db, "ev", "ACCESS EXCLUSIVE"))

    t = threading.Thread(target=lock_when_created)
    t.start()
    try:
        with pytest.raises(TargetStopped) as exc:
            migrate(plan, pg_db, CopyOptions(jobs=2, batch_size=2000, lock_timeout_s=0.5))
        assert "lock timeout" in exc.value.message and "resumes" in exc.value.hint
    finally:
        t.join()
        for c in holder:
            c.rollback()
            c.close()
    result = migrate(plan, pg_db, CopyOptions(jobs=2, batch_size=5000))
    assert result.failed_statements == []
    _assert_verified(path, pg_db)
