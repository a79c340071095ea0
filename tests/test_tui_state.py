"""The wizard's step marks tell what exists, not which keys were pressed: a failed or unfinished step is never
marked done, a skipped one says so, a change upstream marks what was built on it for redoing, and a target the
copy cannot continue is offered for a fresh start inside the wizard (no CLI flag)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg2
from textual.widgets import Button, Input

from screens.app import WizardApp
from screens.connection import ConnectionScreen
from screens.copy import CopyScreen
from screens.databases import DatabasesScreen
from screens.schema import SchemaScreen
from screens.source import SourceScreen
from screens.widgets import ChoiceModal, ConfirmNameModal
from tests.test_tui import SIZE, fill_connection, message, settle
from wizard.target.connection import ConnectionSpec


def _db(path: Path, rows: int = 50, table: str = "t") -> Path:
    c = sqlite3.connect(path)
    c.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT)")
    c.executemany(f"INSERT INTO {table} VALUES (?, ?)", [(i, f"n{i}") for i in range(1, rows + 1)])
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
        await settle(app, pilot)
        await pilot.press("ctrl+n")
        fill_connection(app, pg_server.admin.with_dbname("postgres"), pg_server.admin.password)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
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
        assert isinstance(app.screen, SchemaScreen)
        assert "– 3. Databases" in steps(app) and "✓ 3. Databases" not in steps(app)


async def test_another_source_marks_later_steps_for_redoing(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    first = _db(tmp_path / "first.db")
    second = _db(tmp_path / "second.db", table="u")
    app = WizardApp(sqlite_file=first)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+n")
        fill_connection(app, pg_db, pg_db.password)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        for _ in range(4):
            await pilot.press("ctrl+n")
        assert isinstance(app.screen, CopyScreen)
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
