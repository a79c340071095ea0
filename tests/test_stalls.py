"""A network that stalls (a proxy that keeps the sockets open but forwards nothing) ends the run within the stall
time with a message, and the same command then resumes exactly once; runs the tool interrupts itself resume
without --restart; a partial snapshot left by a kill is removed by the next run."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from tests.stall_proxy import StallingProxy
from tests.test_faults import _env, _phase, _wait
from wizard.data_copy.state import read_state
from wizard.plan.planner import build_plan
from wizard.plan_model import default_plan_path, load_plan, save_plan
from wizard.target.connection import ConnectionSpec
from wizard.verify.report import render_text
from wizard.verify.run import verify

ROWS = 60_000
STALL_S = 4


def make_source(path: Path, rows: int = ROWS) -> Path:
    src = sqlite3.connect(path)
    src.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY, payload TEXT, n INTEGER)")
    src.executemany("INSERT INTO ev VALUES (?, ?, ?)", ((i, f"row {i} " + "x" * 80, i * 7) for i in range(1, rows + 1)))
    src.execute("CREATE TABLE small (id INTEGER PRIMARY KEY, v TEXT UNIQUE)")
    src.executemany("INSERT INTO small VALUES (?, ?)", ((i, str(i)) for i in range(1, 1001)))
    src.commit()
    src.close()
    save_plan(build_plan(path), default_plan_path(path))
    return path



def _url(spec: ConnectionSpec, port: int | None = None) -> str:
    return ConnectionSpec(spec.host, port or spec.port, spec.user, spec.dbname, spec.sslmode).url(mask=False)


def _migrate(path: Path, target: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "wizard", "migrate", str(path), "--target", target, "--batch-size", "5000",
            "--jobs", "2", "--stall-timeout", str(STALL_S), *extra]



def _sessions_gone(spec: ConnectionSpec) -> bool:
    """No session of the stopped run is left on the server (they end once the proxy delivers their close)."""
    conn = psycopg2.connect(**spec.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name = 'pgmigrate-wizard' AND pid <> pg_backend_pid()")
            return bool(cur.fetchone()[0] == 0)
    finally:
        conn.close()


def _assert_exactly_once(path: Path, spec: ConnectionSpec) -> None:
    conn = psycopg2.connect(**spec.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id) FROM ev")
        assert cur.fetchone() == (ROWS, ROWS)
    conn.close()
    report = verify(load_plan(default_plan_path(path)), spec, jobs=1)
    assert report.ok, render_text(report)



def _resume_and_check(path: Path, spec: ConnectionSpec, proxy: StallingProxy) -> None:
    """The network is back: once the stopped run's sessions end, the same command finishes, every row once."""
    proxy.resume()
    _wait(lambda: _sessions_gone(spec), "the stopped run's sessions to end")
    again = subprocess.run(_migrate(path, _url(spec, proxy.port)), env=_env(spec), capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    _assert_exactly_once(path, spec)


@pytest.fixture
def proxy(pg_db: ConnectionSpec):  # type: ignore[no-untyped-def]
    if pg_db.is_socket:
        pytest.fail("the stall tests need the server on TCP")
    p = StallingProxy(pg_db.host if pg_db.host != "localhost" else "127.0.0.1", pg_db.port)
    yield p
    p.close()


def test_a_stall_mid_copy_ends_with_a_message_and_the_rerun_resumes(tmp_path: Path, pg_db: ConnectionSpec,
                                                                     proxy: StallingProxy) -> None:
    path = make_source(tmp_path / "app.db")
    proxy.stall_after = 2_000_000  # a few batches in: the workers are mid-copy when the network stops
    stalled: list[float] = []
    proxy.on_stall = lambda: stalled.append(time.monotonic())
    run = subprocess.run(_migrate(path, _url(pg_db, proxy.port)), env=_env(pg_db), capture_output=True, text=True,
                         timeout=120)
    ended = time.monotonic()
    assert stalled, "the proxy never stalled"
    assert run.returncode == 1, run.stderr
    assert "stalled while copying" in run.stderr and "run migrate again" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and (pg_db.password or "@@") not in run.stderr
    assert ended - stalled[0] < 1.5 * STALL_S, f"{ended - stalled[0]:.1f} s from the stall to the message"
    state = read_state(pg_db)
    assert state is not None and 0 < state["tables"]["ev"]["rows_done"] < ROWS
    _resume_and_check(path, pg_db, proxy)


def test_a_stall_during_the_index_build_ends_with_a_message_and_a_long_wait_does_not(
        tmp_path: Path, pg_db: ConnectionSpec, proxy: StallingProxy) -> None:
    path = make_source(tmp_path / "app.db")
    # a lock that lets COPY in but holds phase 2's ALTER TABLE: the post-load waits on the server, legitimately
    blocker = psycopg2.connect(**pg_db.connect_kwargs())
    proc = subprocess.Popen(_migrate(path, _url(pg_db, proxy.port)), env=_env(pg_db), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: _phase(pg_db) is not None, "the run state")
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE small IN ACCESS SHARE MODE")
        _wait(lambda: _phase(pg_db) == "post", "the post-load phase", timeout=120)
        time.sleep(2 * STALL_S)  # longer than the stall time: a server that answers is waited for
        assert proc.poll() is None, proc.communicate()[1]
        stalled = time.monotonic()
        proxy.stall()
        _, err = proc.communicate(timeout=60)
        ended = time.monotonic()
    finally:
        blocker.rollback()
        blocker.close()
    assert proc.returncode == 1, err
    assert "stalled while building indexes and constraints" in err, err
    assert ended - stalled < 1.5 * STALL_S, f"{ended - stalled:.1f} s from the stall to the message"
    _resume_and_check(path, pg_db, proxy)


# Runs migrate with the big-snapshot path (hashed beside the copy) and a hash that takes long enough to be killed
# before it is recorded.
_SLOW_HASH = """
import sys, time
from wizard.source import snapshot
snapshot.HASH_AHEAD_BYTES = 0
real = snapshot.file_sha256
def slow(path):
    time.sleep(60)
    return real(path)
snapshot.file_sha256 = slow
from wizard.cli.main import main
raise SystemExit(main(sys.argv[1:]))
"""


def _killed_before_the_hash(path: Path, spec: ConnectionSpec) -> dict:  # type: ignore[type-arg]
    cmd = _migrate(path, _url(spec))[3:]  # the arguments after "-m wizard"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_HASH, *cmd], env=_env(spec), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def copied_unrecorded() -> bool:
        try:
            state = read_state(spec)
        except Exception:
            return False
        return bool(state and state["tables"].get("ev", {}).get("rows_done", 0) > 0)

    try:
        _wait(copied_unrecorded, "rows copied while the snapshot is hashed")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    state = read_state(spec)
    assert state is not None and state["snapshot"]["sha256"] == "" and state["phase"] == "copy"
    return state


def test_a_kill_before_the_snapshot_hash_is_recorded_resumes_without_a_flag(tmp_path: Path,
                                                                           pg_db: ConnectionSpec) -> None:
    path = make_source(tmp_path / "app.db")
    state = _killed_before_the_hash(path, pg_db)
    done_before = state["tables"]["ev"]["rows_done"]
    again = subprocess.run(_migrate(path, _url(pg_db)), env=_env(pg_db), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "checked whole and recorded now" in again.stdout, again.stdout
    assert read_state(pg_db)["snapshot"]["sha256"]  # type: ignore[index]
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:  # resumed, not restarted: the committed batches were kept
        cur.execute("SELECT sum(rows_done) FROM pgmigrate.progress WHERE table_name = 'ev'")
        assert cur.fetchone()[0] == ROWS
    conn.close()
    assert done_before < ROWS
    _assert_exactly_once(path, pg_db)


def test_a_kill_before_the_hash_with_the_snapshot_gone_starts_over_by_itself(tmp_path: Path,
                                                                            pg_db: ConnectionSpec) -> None:
    path = make_source(tmp_path / "app.db")
    state = _killed_before_the_hash(path, pg_db)
    Path(state["snapshot"]["path"]).unlink()
    again = subprocess.run(_migrate(path, _url(pg_db)), env=_env(pg_db), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "started over from a new snapshot" in again.stdout, again.stdout
    assert read_state(pg_db)["snapshot"]["path"] != state["snapshot"]["path"]  # type: ignore[index]
    _assert_exactly_once(path, pg_db)


_SLOW_BACKUP = """
import sys, time
from wizard.source import snapshot
def slow(reader, dest):
    reader.backup(dest, pages=1, progress=lambda status, remaining, total: time.sleep(0.05))
snapshot._backup = slow
snapshot._copy_whole = lambda *args: False  # taken through the backup API
snapshot.take_snapshot(sys.argv[1])
"""
_SLOW_COPY = """
import sys, time
from wizard.source import snapshot
def slow(src, dst):
    with open(src, "rb") as fh, open(dst, "wb") as out:
        out.write(fh.read(4096))
        out.flush()
        time.sleep(60)
snapshot.shutil.copyfile = slow
snapshot.take_snapshot(sys.argv[1])
"""


@pytest.mark.parametrize(("script", "files"), [(_SLOW_BACKUP, 2), (_SLOW_COPY, 1)], ids=["backup", "copy"])
def test_a_partial_snapshot_left_by_a_kill_is_removed_by_the_next_run(tmp_path: Path, pg_db: ConnectionSpec,
                                                                      script: str, files: int) -> None:
    path = make_source(tmp_path / "app.db")
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)])
    try:
        _wait(lambda: len(list(tmp_path.glob("app.db.pgmigrate-backup-*.partial*"))) == files and all(
            p.stat().st_size for p in tmp_path.glob("app.db.pgmigrate-backup-*.partial*")), "a partial snapshot")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = sorted(p.name for p in tmp_path.glob("*.partial*"))
    assert len(left) == files, left  # the partial file (and, from the backup API, its journal)
    again = subprocess.run(_migrate(path, _url(pg_db)), env=_env(pg_db), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert not list(tmp_path.glob("*.partial*"))
    _assert_exactly_once(path, pg_db)


async def test_the_wizard_shows_a_stall_on_the_copy_step_and_retry_completes(
        tmp_path: Path, pg_db: ConnectionSpec, proxy: StallingProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    from screens.app import WizardApp
    from screens.copy import CopyScreen
    from screens.widgets import ChoiceModal
    from tests.test_tui import SIZE, _to_copy, message, settle
    from wizard.target import stall_time

    monkeypatch.setenv(stall_time.STALL_ENV, str(STALL_S))  # the wizard has no options: its copy reads this
    path = tmp_path / "w.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE w (id INTEGER PRIMARY KEY, v TEXT)")
    c.executemany("INSERT INTO w VALUES (?, ?)", [(i, "x" * 100) for i in range(1, 5001)])
    c.commit()
    c.close()
    app = WizardApp(sqlite_file=path)
    through_proxy = ConnectionSpec("127.0.0.1", proxy.port, pg_db.user, pg_db.dbname, "disable", pg_db.password)
    async with app.run_test(size=SIZE) as pilot:
        await _to_copy(app, pilot, through_proxy)
        proxy.stall_after = proxy.sent + 100_000  # inside the COPY of w's rows
        started = time.monotonic()
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert isinstance(app.screen, ChoiceModal), message(app)
        assert time.monotonic() - started < 4 * STALL_S
        assert app.screen.title_text == "Connection stalled" and "stalled while copying w" in app.screen.message
        proxy.resume()
        _wait(lambda: _sessions_gone(pg_db), "the stopped run's sessions to end")
        await pilot.click("#choice-retry")
        await settle(app, pilot)
        assert isinstance(app.screen, CopyScreen)
        assert app.state.copy_result is not None and "Copied 5,000 rows" in message(app), message(app)
