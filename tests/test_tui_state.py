"""The wizard's step marks tell what exists, not which keys were pressed: a failed or unfinished step is never
marked done, a skipped one says so, a change upstream marks what was built on it for redoing, and a target the
copy cannot continue is offered for a fresh start inside the wizard (no CLI flag)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from textual.widgets import Button, Input

from screens.app import WizardApp
from screens.connection import ConnectionScreen
from screens.copy import CopyScreen
from screens.databases import DatabasesScreen
from screens.schema import SchemaScreen
from screens.source import SourceScreen
from screens.widgets import ChoiceModal, ConfirmNameModal
from tests.conftest import drop_test_objects
from tests.test_tui import SIZE, _to_copy, connect_to, fill_connection, message, settle
from wizard.target.connection import ConnectionSpec


@pytest.fixture
def base_name(pg_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = f"wiz_{uuid.uuid4().hex[:8]}"
    yield name
    drop_test_objects(pg_server, name, (f"{name}_app",))


def _db(path: Path, rows: int = 50, table: str = "t", pad: int = 0) -> Path:
    c = sqlite3.connect(path)
    c.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT)")
    c.execute(f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) "
              f"INSERT INTO {table} SELECT i, 'n' || i || printf('%.{pad}c', 'x') FROM n")
    c.commit()
    c.close()
    return path


def steps(app: WizardApp) -> str:
    return str(app.screen.query_one("#steps").content)


async def test_next_after_a_failed_check_of_another_file_is_refused(tmp_path: Path) -> None:
    good = _db(tmp_path / "good.db")
    app = WizardApp(sqlite_file=good)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "readable" in message(app)
        app.screen.query_one("#path", Input).value = str(tmp_path / "fake.db")
        app.screen.query_one("#check", Button).press()
        await settle(app, pilot)
        assert "✗ 1. Source" in steps(app)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, SourceScreen), "Next left a failed Source step"
        assert "last check failed" in message(app)
        assert "✓ 1. Source" not in steps(app)
        # the typed path differs from the checked file: Next says which one to check
        app.screen.query_one("#path", Input).value = str(tmp_path / "other.db")
        app.state.status.pop("source")
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, SourceScreen) and "other.db first" in message(app)
        app.screen.query_one("#path", Input).value = str(good)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ConnectionScreen)
        assert "✓ 1. Source" in steps(app)


async def test_next_while_the_file_is_being_read_is_refused(tmp_path: Path) -> None:
    path = _db(tmp_path / "app.db")
    app = WizardApp()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SourceScreen)
        screen.query_one("#path", Input).value = str(path)
        screen._jobs = 1  # a check whose result has not arrived yet
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, SourceScreen) and "still being read" in message(app)
        screen._jobs = 0
        screen.check()
        await settle(app, pilot)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ConnectionScreen)


async def test_skipping_databases_is_marked_skipped_and_refused_for_the_maintenance_database(
        tmp_path: Path, pg_server, pg_db: ConnectionSpec) -> None:  # type: ignore[no-untyped-def]
    app = WizardApp(sqlite_file=_db(tmp_path / "app.db"))
    async with app.run_test(size=SIZE) as pilot:
        await connect_to(app, pilot, pg_server.admin.with_dbname("postgres"))
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, DatabasesScreen)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, DatabasesScreen), "the data would have gone into the maintenance database"
        assert "maintenance database" in message(app)
        assert "✓ 3. Databases" not in steps(app)

        await pilot.press("ctrl+b")
        fill_connection(app, pg_db, pg_db.password)  # the app's own database: skipping is fine
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        await pilot.press("ctrl+n")
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, SchemaScreen), message(app)
        assert "– 3. Databases" in steps(app) and "✓ 3. Databases" not in steps(app)


async def test_another_source_marks_later_steps_for_redoing(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    first = _db(tmp_path / "first.db")
    second = _db(tmp_path / "second.db", table="u")
    app = WizardApp(sqlite_file=first)
    async with app.run_test(size=SIZE) as pilot:
        await _to_copy(app, pilot, pg_db)  # the connection's own database, .env skipped
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.state.copy_result is not None, message(app)
        assert "✓ 4. Schema" in steps(app) and "✓ 6. Copy" in steps(app)

        await pilot.click("#steps", offset=(3, 1))  # the step list is clickable: its first line is Source
        await settle(app, pilot)
        assert isinstance(app.screen, SourceScreen)
        app.screen.query_one("#path", Input).value = str(second)
        app.screen.query_one("#check", Button).press()
        await settle(app, pilot)
        marks = steps(app)
        assert "! 4. Schema" in marks and "! 6. Copy" in marks and "✓ 2. Connection" in marks
        assert app.state.copy_result is None
        # the copy step refuses Next until the new source is copied; the target holds the first file's copy,
        # which the wizard offers to replace (the database's name typed back) instead of advising a CLI flag
        app.state.status["schema"] = "done"
        app.state.step = "schema"
        app.show("copy")
        await settle(app, pilot)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, CopyScreen) and "Start the copy first" in message(app)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert isinstance(app.screen, ChoiceModal), message(app)
        assert "--restart" not in app.screen.message
        app.screen.query_one("#choice-restart", Button).press()
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmNameModal)
        app.screen.query_one("#typed", Input).value = pg_db.dbname
        app.screen.query_one("#drop", Button).press()
        await settle(app, pilot)
        await settle(app, pilot)
        assert app.state.copy_result is not None, message(app)
        assert "--restart" not in message(app) and "Copied 50 rows" in message(app)
        assert "✓ 6. Copy" in steps(app)
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('public.t') IS NULL, (SELECT count(*) FROM u)")
            assert cur.fetchone() == (True, 50)  # the first file's table is gone, the second's copied
    finally:
        conn.close()


async def _to_databases(app: WizardApp, pilot, admin: ConnectionSpec, base: str, envs: str) -> None:  # type: ignore[no-untyped-def]
    await connect_to(app, pilot, admin)
    await pilot.press("ctrl+n")
    assert isinstance(app.screen, DatabasesScreen)
    app.screen.query_one("#base", Input).value = base
    app.screen.query_one("#envs", Input).value = envs
    await pilot.press("ctrl+t")
    await settle(app, pilot)
    assert len(app.state.databases) == len(envs.split(",")), message(app)


def _killed_copy(path: Path, spec: ConnectionSpec) -> int:
    """A copy of `path` into `spec` killed (kill -9) once its first batches are committed: the rows committed."""
    import signal
    import subprocess

    from tests.test_faults import _cmd, _env, _wait
    from wizard.data_copy.state import read_state

    def committed() -> int:
        try:
            state = read_state(spec)
        except Exception:  # noqa: BLE001 - not created yet
            return 0
        return sum(int(t["rows_done"]) for t in state["tables"].values()) if state else 0

    proc = subprocess.Popen(_cmd(path, spec), env=_env(spec), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: committed() >= 10_000, "the killed copy's first batches", timeout=120)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    return committed()


async def test_a_copy_killed_in_another_environment_is_offered_for_resume(
        tmp_path: Path, pg_server, base_name: str) -> None:  # type: ignore[no-untyped-def]
    path = _db(tmp_path / "app.db", rows=100_000, pad=600)
    app = WizardApp(sqlite_file=path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_databases(app, pilot, pg_server.admin, base_name, "dev,test")
        test_db = pg_server.admin.with_dbname(f"{base_name}_test")
        committed = _killed_copy(path, test_db)  # the copy into test was killed
        assert 0 < committed < 100_000, "the kill came too late"
        app.state.target_env = "dev"  # as a restarted wizard had it before: the copy was not into dev
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n")
        assert isinstance(app.screen, CopyScreen)
        await settle(app, pilot)
        await settle(app, pilot)
        assert app.state.target_env == "test"
        assert str(app.screen.query_one("#start", Button).label) == "Resume"
        assert f"stopped after {committed:,} rows" in message(app) and "Resume" in message(app)
        labels = " ".join(str(w.content) for w in app.screen.query("#bars Label"))
        assert f"t: stopped {committed:,}/100,000" in labels and "rows/s" not in labels
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        result = app.state.copy_result
        assert result is not None and result.tables[0].rows == 100_000 and result.tables[0].resumed_from == committed
        assert f"({100_000 - committed:,} of them in this run" in message(app)
    conn = psycopg2.connect(**test_db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), count(DISTINCT id) FROM t")
            assert cur.fetchone() == (100_000, 100_000)
    finally:
        conn.close()


async def test_quit_during_a_copy_asks_then_stops_at_a_committed_batch(tmp_path: Path,
                                                                       pg_db: ConnectionSpec) -> None:
    import asyncio

    from wizard.data_copy.state import read_state

    path = _db(tmp_path / "app.db", rows=1_500_000, pad=300)  # a copy of several seconds
    app = WizardApp(sqlite_file=path)
    held = psycopg2.connect(**pg_db.connect_kwargs())

    def hold_the_table() -> None:
        """Once the copy has created t, lock it against the copy's batches (waiting for the one in progress to
        commit): the copy cannot finish before the quit is chosen, however slowly the screen answers."""
        with held.cursor() as cur:
            for _ in range(600):
                cur.execute("SELECT to_regclass('public.t') IS NOT NULL")
                if cur.fetchone()[0]:
                    break
                held.rollback()
                time.sleep(0.05)
            cur.execute("LOCK TABLE t IN SHARE MODE")

    try:
        async with app.run_test(size=SIZE) as pilot:
            await _to_copy(app, pilot, pg_db)  # the connection's own database, .env skipped
            app.screen.message.info("Stopped.")  # an earlier run's status: a new start clears it
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert "Stopped." not in message(app) and "copying into" in message(app)
            await asyncio.to_thread(hold_the_table)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert isinstance(app.screen, ChoiceModal) and "copy is running" in app.screen.title_text
            assert app.is_running
            app.screen.query_one("#choice-quit", Button).press()
            for _ in range(200):
                await pilot.pause()
                if "stopping after the current batch" in message(app):
                    break
            assert "stopping after the current batch" in message(app)
            held.rollback()  # the batches waiting on the lock commit, then the copy stops
            for _ in range(600):
                if not app.is_running:
                    break
                await asyncio.sleep(0.05)
            assert not app.is_running, "the wizard did not close after stopping the copy"
    finally:
        held.close()
    state = read_state(pg_db)
    assert state is not None and state["phase"] == "copy"  # stopped before the end, resumable
    rows = int(state["tables"]["t"]["rows_done"])
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchone()[0] == rows < 1_500_000  # exactly the committed batches
    finally:
        conn.close()


async def test_a_type_the_tool_cannot_load_into_is_explained_in_the_dialog(tmp_path: Path) -> None:
    from textual.widgets import DataTable

    from screens.widgets import TypeModal

    c = sqlite3.connect(tmp_path / "app.db")
    c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT, name TEXT)")
    c.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, f"c{i}", f"n{i}") for i in range(1, 50)])
    c.commit()
    c.close()
    app = WizardApp(sqlite_file=tmp_path / "app.db")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.state.status["connection"] = "skipped"
        app.show("schema")
        await settle(app, pilot)
        assert isinstance(app.screen, SchemaScreen)
        columns = app.screen.query_one("#columns", DataTable)
        columns.move_cursor(row=2)  # name
        await pilot.press("t")
        assert isinstance(app.screen, TypeModal)
        app.screen.query_one("#type-text", Input).value = "tsvector"
        app.screen.query_one("#type-text", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TypeModal), "a bad type closed the dialog"
        error = str(app.screen.query_one("#type-error").content)
        assert "tsvector" in error and "supported" in error and "Unexpected" not in error
        app.screen.query_one("#type-text", Input).value = "varchar(20)"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "t.name: text → varchar(20) (chosen by hand)" in message(app)
        assert app.screen.query_one("#columns", DataTable).cursor_row == 2  # the next T edits the same column
        await pilot.press("t")
        assert isinstance(app.screen, TypeModal)
        app.screen.query_one("#automatic", Button).press()  # back to the planner's choice
        await settle(app, pilot)
        assert "t.name: varchar(20) → text (chosen automatically)" in message(app)
        await pilot.press("t")
        app.screen.query_one("#type-text", Input).value = "text"
        app.screen.query_one("#type-text", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "stays text" in message(app) and "→" not in message(app)


async def test_choices_are_marked_by_a_character_not_only_by_colour(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from screens.widgets import MarkedCheckbox, MarkedRadioButton

    monkeypatch.setenv("NO_COLOR", "1")
    app = WizardApp(sqlite_file=_db(tmp_path / "app.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+n")
        local = app.screen.query_one("#kind-local", MarkedRadioButton)
        own = app.screen.query_one("#kind-own", MarkedRadioButton)
        assert "●" in str(own.render()) and "●" not in str(local.render())
        local.value = True
        await pilot.pause()
        assert "●" in str(local.render()) and "●" not in str(own.render())
        remember = app.screen.query_one("#remember", MarkedCheckbox)
        ticked = "X" in str(remember.render())
        remember.value = not remember.value
        await pilot.pause()
        assert ("X" in str(remember.render())) is not ticked


async def test_a_missing_password_is_asked_for_where_it_is_needed(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    from screens.widgets import MarkedCheckbox, PasswordModal
    from wizard.target import credentials

    path = _db(tmp_path / "app.db", rows=500)
    app = WizardApp(sqlite_file=path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+n")
        fill_connection(app, pg_db, pg_db.password)
        app.screen.query_one("#remember", MarkedCheckbox).value = False  # nothing keeps it past this session
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n", "ctrl+n")
        assert isinstance(app.screen, CopyScreen)
        await pilot.press("ctrl+q")
    credentials.forget_session()  # a new process: only the keyring (empty here) would remember
    again = WizardApp(sqlite_file=path)
    async with again.run_test(size=SIZE) as pilot:
        await settle(again, pilot)
        await settle(again, pilot)
        # the Copy step needs the server to know whether a copy there can be resumed: it asks on arrival
        assert isinstance(again.screen, PasswordModal), message(again)
        assert again.state.server is not None and again.state.server.password is None
        assert "rejected" not in str(again.screen_stack[-2].query_one("#message").content)
        again.screen.query_one("#secret", Input).value = pg_db.password or ""
        again.screen.query_one("#ok", Button).press()
        await settle(again, pilot)
        assert isinstance(again.screen, CopyScreen)
        await pilot.press("ctrl+t")
        await settle(again, pilot)
        await settle(again, pilot)
        assert again.state.copy_result is not None, message(again)
        assert "Copied 500 rows" in message(again)


async def test_the_built_in_servers_password_is_never_asked_for(tmp_path: Path, pg_server, pg_db: ConnectionSpec,  # type: ignore[no-untyped-def]
                                                                 monkeypatch) -> None:
    from wizard.target import local_server

    if pg_server.pgdata is None:
        pytest.skip("the test server is not the built-in one")
    monkeypatch.setattr(local_server, "default_data_dir", lambda: pg_server.pgdata)
    path = _db(tmp_path / "app.db", rows=500)
    from wizard.plan.planner import build_plan
    from wizard.plan_model import default_plan_path, save_plan

    plan = build_plan(path)
    plan.wizard_state = {"step": "copy", "status": {"source": "done", "connection": "done", "databases": "skipped",
                                                     "schema": "done", "envfile": "skipped"},
                         "server": {"host": pg_db.host, "port": pg_db.port, "user": pg_db.user,
                                    "dbname": pg_db.dbname, "sslmode": "disable"}, "local": True}
    save_plan(plan, default_plan_path(path))  # what a wizard that used the built-in server left
    app = WizardApp(sqlite_file=path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await settle(app, pilot)
        assert isinstance(app.screen, CopyScreen)
        assert app.state.server is not None and app.state.server.password == pg_server.admin.password
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        await settle(app, pilot)
        assert app.state.copy_result is not None, message(app)


async def test_long_work_shows_its_time_and_progress(tmp_path: Path) -> None:
    import time

    app = WizardApp(sqlite_file=_db(tmp_path / "app.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SourceScreen)
        screen.in_thread(lambda: time.sleep(2.4), lambda _: None, busy="working", group="slow",
                         detail=lambda: "7 of 9 parts")
        await pilot.pause(2.2)
        assert "… working: 2 s, 7 of 9 parts" in message(app)
        await app.workers.wait_for_complete()


async def test_verify_at_80x24_opens_a_cut_row_in_full_and_finish_prints_a_summary(
        tmp_path: Path, pg_db: ConnectionSpec) -> None:
    from textual.widgets import DataTable

    from screens.verify import VerifyScreen
    from screens.widgets import HelpModal

    path = _db(tmp_path / "app.db", rows=300)
    app = WizardApp(sqlite_file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_copy(app, pilot, pg_db)  # the connection's own database, .env skipped
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.state.copy_result is not None, message(app)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, VerifyScreen)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.state.report is not None and app.state.report.ok, message(app)
        report = app.screen.query_one("#report", DataTable)
        last = report.row_count - 1
        check = app.state.report.checks[-1]
        report.focus()
        report.move_cursor(row=last)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        assert check.detail in app.screen.text and check.name in app.screen.text  # in full, whatever the width
        await pilot.press("escape")
        await pilot.press("ctrl+n")  # Finish
    assert app.return_code == 0
    summary = "\n".join(app.summary)
    assert str(path) in summary and "copied: 300 rows" in summary and "verified" in summary


async def test_the_command_palette_and_the_keys_overlay(tmp_path: Path) -> None:
    from screens.widgets import LEGEND, HelpModal

    app = WizardApp(sqlite_file=_db(tmp_path / "app.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"go to 4")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, SchemaScreen)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        text = app.screen.text
        assert "Keys:" in text and "Next" in text and "Change type" in text and LEGEND in text


async def test_findings_inside_the_wizard_give_the_wizards_way_not_a_flag(tmp_path: Path) -> None:
    from wizard.demo import make

    make(tmp_path / "shop.db")
    app = WizardApp(sqlite_file=tmp_path / "shop.db")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        findings = str(app.screen.query_one("#findings").content)
        assert "--type" not in findings and "choose boolean for posts.published in step 4 (Schema: T)" in findings


async def test_keys_typed_during_a_step_change_do_not_land_in_the_next_steps_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from screens import base as step_base

    # a wider window than the wizard's 0.3 s: a machine that stalls between the step change and the keys (a busy
    # CI host) must not turn keys typed "right after the change" into keys typed later
    monkeypatch.setattr(step_base, "_SETTLE_S", 3.0)
    app = WizardApp(sqlite_file=_db(tmp_path / "app.db"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.state.server = ConnectionSpec("127.0.0.1", 9, "app", "shop", "disable")
        app.show("databases")
        await pilot.press(*"secret")  # the end of a password typed on the step before
        base = app.screen.query_one("#base", Input)
        assert "secret" not in base.value
        await pilot.pause(3.2)
        assert app.focused is base  # then the step takes keys as usual
        await pilot.press("x")
        assert base.value.endswith("x")


async def test_no_stale_status_and_no_command_line_advice_on_the_databases_and_env_steps(
        tmp_path: Path, pg_server, base_name: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Select

    from wizard.target import databases
    from wizard.target.credentials import KeyringStatus

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(databases, "keyring_status", lambda: KeyringStatus(False, "none", "no keyring here"))
    app = WizardApp(sqlite_file=_db(tmp_path / "app.db"))
    async with app.run_test(size=SIZE) as pilot:
        await connect_to(app, pilot, pg_server.admin)
        await pilot.press("ctrl+n")
        app.screen.query_one("#base", Input).value = base_name
        app.screen.query_one("#envs", Input).value = "dev"
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert "to create" in str(app.screen.query_one("#sql").content), message(app)
        app.screen.query_one("#role", Input).value = f"{base_name}_app"
        await pilot.press("ctrl+t")  # no keyring for a generated password: the wizard's own way out
        await settle(app, pilot)
        assert "PGMIGRATE_APP_PASSWORD" not in message(app) and "'Its password' field" in message(app)
        app.screen.query_one("#role-password", Input).value = "Role-Pass-1"
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.state.databases == {"dev": f"{base_name}_dev"}, message(app)
        assert "to create" not in str(app.screen.query_one("#sql").content)  # what is, not what was
        assert "— created" in str(app.screen.query_one("#sql").content)

        await pilot.press("ctrl+n", "ctrl+n")
        assert str(app.screen.query_one("#diff").content) == ""
        app.screen.query_one("#preview", Button).press()
        await settle(app, pilot)
        assert "+++" in str(app.screen.query_one("#diff").content)
        app.screen.query_one("#style", Select).value = "pg-vars"
        await pilot.pause()
        assert str(app.screen.query_one("#diff").content) == ""  # the diff of other choices is gone
        app.screen.query_one("#preview", Button).press()
        await settle(app, pilot)
        app.screen.query_one("#gitignore", Button).press()
        await settle(app, pilot)
        assert "updating" not in message(app) and ".gitignore" in message(app)
        (tmp_path / ".gitignore").unlink()


async def test_switching_the_copys_target_forgets_the_other_targets_bars(tmp_path: Path, pg_server,  # type: ignore[no-untyped-def]
                                                                        base_name: str) -> None:
    from textual.widgets import Select

    app = WizardApp(sqlite_file=_db(tmp_path / "app.db", rows=3000))
    async with app.run_test(size=SIZE) as pilot:
        await _to_databases(app, pilot, pg_server.admin, base_name, "dev,test")
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n")
        assert isinstance(app.screen, CopyScreen)
        await settle(app, pilot)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.state.copy_result is not None, message(app)
        assert app.screen.query(".bar-row")
        app.screen.query_one("#env", Select).value = "test"
        await settle(app, pilot)
        assert app.state.target_env == "test"
        assert not app.screen.query(".bar-row")  # dev's 100% bars are not test's state
        assert str(app.screen.query_one("#start", Button).label) == "Start"


async def test_a_columns_notes_open_in_full_and_the_index_stage_says_what_it_does(tmp_path: Path) -> None:
    from textual.widgets import DataTable

    from screens.widgets import HelpModal
    from wizard.data_copy.model import Progress
    from wizard.demo import make

    make(tmp_path / "shop.db")
    app = WizardApp(sqlite_file=tmp_path / "shop.db")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.state.server = ConnectionSpec("127.0.0.1", 9, "app", "shop", "disable", "x")
        app.show("schema")
        await settle(app, pilot)
        tables = app.screen.query_one("#schema-tables", DataTable)
        tables.move_cursor(row=[t.source for t in app.state.plan.tables].index("posts"))
        await settle(app, pilot)
        columns = app.screen.query_one("#columns", DataTable)
        columns.focus()
        columns.move_cursor(row=[c.source for c in app.state.plan.table("posts").columns].index("published"))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        assert "choose boolean for posts.published in step 4 (Schema: T)" in app.screen.text
        await pilot.press("escape")

        app.show("copy")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CopyScreen)
        screen._copying = True  # rows all copied, keys and indexes being built: the line says so, with the time
        screen._latest_progress["posts"] = Progress("posts", "post", 85, 85, 0, 0.0, None, 248, 248)
        screen._paint()  # mounts the table's bar; the next paint fills it
        await pilot.pause()
        screen._ticked = -1
        screen._paint()
        assert "building keys, indexes and foreign keys" in message(app) and "248 of 248 rows" in message(app)
        screen._copying = False
