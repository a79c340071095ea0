"""The wizard driven headless with Pilot against the real test server: the whole happy path on a corpus database,
resuming after a restart, and each error path (bad file, wrong password, unreachable server, copy errors)."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql
from textual.widgets import Button, DataTable, Input, Select

from screens.app import WizardApp
from screens.connection import ConnectionScreen
from screens.copy import CopyScreen
from screens.databases import DatabasesScreen
from screens.schema import SchemaScreen
from screens.source import SourceScreen
from screens.verify import VerifyScreen
from screens.widgets import ChoiceModal, MessageBox
from tests.conftest import CORPUS, drop_test_objects
from wizard.plan.planner import build_plan, parse_overrides
from wizard.plan_model import default_plan_path, save_plan
from wizard.target.connection import ConnectionSpec

SIZE = (100, 30)


async def settle(app: WizardApp, pilot) -> None:  # type: ignore[no-untyped-def]
    """Wait for the worker threads, then for the UI to apply what they sent back."""
    for _ in range(4):  # a key becomes a button press, then a worker, then a callback: each a message later
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


def message(app: WizardApp) -> str:
    return str(app.screen.query_one("#message", MessageBox).content)


def fill_connection(app: WizardApp, spec: ConnectionSpec, password: str | None) -> None:
    screen = app.screen
    assert isinstance(screen, ConnectionScreen)
    screen.query_one("#host", Input).value = spec.host
    screen.query_one("#port", Input).value = str(spec.port)
    screen.query_one("#user", Input).value = spec.user
    screen.query_one("#dbname", Input).value = spec.dbname
    screen.query_one("#password", Input).value = password or ""
    screen.query_one("#sslmode", Select).value = "disable"


async def connect_to(app: WizardApp, pilot, spec: ConnectionSpec) -> None:  # type: ignore[no-untyped-def]
    """From the Source step: on to the Connection step, `spec` (with its password) filled in and tested."""
    await settle(app, pilot)
    await pilot.press("ctrl+n")
    fill_connection(app, spec, spec.password)
    await pilot.press("ctrl+t")
    await settle(app, pilot)


@pytest.fixture
def chinook(tmp_path: Path) -> Path:
    src = CORPUS / "chinook" / "Chinook_Sqlite.sqlite"
    assert src.exists(), f"corpus database missing: {src}"
    dst = tmp_path / "chinook.sqlite"
    shutil.copyfile(src, dst)
    return dst


@pytest.fixture
def base_name(pg_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = f"wiz_{uuid.uuid4().hex[:8]}"
    yield name
    drop_test_objects(pg_server, name, (f"{name}_app",))


async def test_happy_path_on_a_corpus_database(chinook: Path, pg_server, base_name: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                               monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = WizardApp(sqlite_file=chinook)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, SourceScreen)
        assert app.screen.query_one("#tables", DataTable).row_count == 11 and "readable" in message(app)

        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ConnectionScreen)
        fill_connection(app, pg_server.admin, pg_server.admin.password)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert "Connected" in message(app) and app.state.server is not None
        assert "PostgreSQL" in str(app.screen.query_one("#server").content)

        await pilot.press("ctrl+n")
        assert isinstance(app.screen, DatabasesScreen)
        app.screen.query_one("#base", Input).value = base_name
        app.screen.query_one("#envs", Input).value = "dev,test"
        app.screen.query_one("#role", Input).value = f"{base_name}_app"
        app.screen.query_one("#role-password", Input).value = "Wiz-App-Pass-1"
        await pilot.press("ctrl+r")  # preview first
        await settle(app, pilot)
        assert f'CREATE DATABASE "{base_name}_dev"' in str(app.screen.query_one("#sql").content)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.state.databases == {"dev": f"{base_name}_dev", "test": f"{base_name}_test"}, message(app)

        await pilot.press("ctrl+n")
        assert isinstance(app.screen, SchemaScreen)
        assert app.screen.query_one("#schema-tables", DataTable).row_count == 11
        assert 'CREATE TABLE "public"."album"' in app.screen.query_one("#ddl").text

        await pilot.press("ctrl+n")
        app.screen.query_one("#env-path", Input).value = str(tmp_path / ".env")
        app.screen.query_one("#style", Select).value = "both"
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        env_text = (tmp_path / ".env").read_text()
        assert f"PG_DATABASE_DEV='{base_name}_dev'" in env_text and "Wrote" in message(app)
        assert f"PG_USER='{base_name}_app'" in env_text and "Wiz-App-Pass-1" not in env_text
        assert (pg_server.admin.password or "@@") not in env_text
        # the keyring placement says an unchanged app cannot find the password; the password file one can
        assert "does not find it" in str(app.screen.query_one("#password-note").content)
        pgpass = tmp_path / "pgpass.conf"
        monkeypatch.setenv("PGPASSFILE", str(pgpass))
        app.screen.query_one("#password-in", Select).value = "file"
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert "password file" in message(app) and "Wiz-App-Pass-1" in pgpass.read_text()
        assert "finds it there by itself" in str(app.screen.query_one("#password-note").content)
        app.screen.query_one("#check", Button).press()
        await settle(app, pilot)
        assert "The app can connect" in message(app) and f"{base_name}_app on database {base_name}_dev" in message(app)

        await pilot.press("ctrl+n")
        assert isinstance(app.screen, CopyScreen)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.state.copy_result is not None, message(app)
        assert "Copied 15,607 rows" in message(app)
        log = "\n".join(str(line) for line in app.screen.query_one("#log").lines)
        assert f"11 table(s)/view(s) now owned by {base_name}_app" in log

        await pilot.press("ctrl+n")
        assert isinstance(app.screen, VerifyScreen)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.state.report is not None and app.state.report.ok, message(app)
        report = app.screen.query_one("#report", DataTable)
        assert report.row_count >= 11 and all(report.get_row_at(i)[0] == "✓" for i in range(report.row_count))
        app.screen.query_one("#export-md", Button).press()
        await settle(app, pilot)
        assert Path(str(chinook) + ".verify.md").exists()
        await pilot.press("ctrl+n")  # Finish
    assert app.return_code == 0

    app_spec = ConnectionSpec(pg_server.admin.host, pg_server.admin.port, f"{base_name}_app", f"{base_name}_dev",
                              "disable", "Wiz-App-Pass-1")
    conn = psycopg2.connect(**app_spec.connect_kwargs())  # the application's own account reads its tables
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM track")
        assert cur.fetchone() == (3503,)
    conn.close()
    state = __import__("json").loads(default_plan_path(chinook).read_text())["wizard_state"]
    assert state["step"] == "verify" and "password" not in str(state).lower()


async def test_restart_continues_at_the_saved_step(chinook: Path, pg_server, base_name: str) -> None:  # type: ignore[no-untyped-def]
    app = WizardApp(sqlite_file=chinook)
    async with app.run_test(size=SIZE) as pilot:
        await connect_to(app, pilot, pg_server.admin)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, DatabasesScreen)
        await pilot.press("ctrl+q")
    again = WizardApp(sqlite_file=chinook)
    async with again.run_test(size=SIZE) as pilot:
        await settle(again, pilot)
        await pilot.pause()
        assert isinstance(again.screen, DatabasesScreen)
        assert again.state.server is not None and again.state.server.port == pg_server.admin.port
        assert "✓ 1. Source" in str(again.screen.query_one("#steps").content)


async def test_bad_file_is_explained_and_next_refused(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("this is not a database")
    app = WizardApp(sqlite_file=bad)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "not an SQLite database" in message(app) and "Next step" in message(app)
        assert "✗ 1. Source" in str(app.screen.query_one("#steps").content)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, SourceScreen) and "last check failed" in message(app)
        # retry from the same screen with a good file
        good = tmp_path / "good.db"
        import sqlite3

        c = sqlite3.connect(good)
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        c.commit()
        c.close()
        app.screen.query_one("#path", Input).value = str(good)
        app.screen.query_one("#check", Button).press()
        await settle(app, pilot)
        assert "readable" in message(app) and "✗" not in str(app.screen.query_one("#steps").content)


async def _to_connection(app: WizardApp, pilot, path: Path) -> None:  # type: ignore[no-untyped-def]
    await settle(app, pilot)
    await pilot.press("ctrl+n")
    assert isinstance(app.screen, ConnectionScreen)


async def test_wrong_password_and_unreachable_server(chinook: Path, pg_server) -> None:  # type: ignore[no-untyped-def]
    app = WizardApp(sqlite_file=chinook)
    async with app.run_test(size=SIZE) as pilot:
        await _to_connection(app, pilot, chinook)
        fill_connection(app, pg_server.admin, "not-the-password")
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert "rejected the password" in message(app) and "not-the-password" not in message(app)
        assert app.state.server is None and "✗ 2. Connection" in str(app.screen.query_one("#steps").content)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ConnectionScreen)

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            free = s.getsockname()[1]
        fill_connection(app, ConnectionSpec("127.0.0.1", free, "postgres", "postgres"), "x")
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert "Nothing is listening" in message(app) and "running" in message(app)

        fill_connection(app, pg_server.admin, pg_server.admin.password)  # Retry, fixed
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert "Connected" in message(app) and "✓ 2. Connection" not in str(app.screen.query_one("#steps").content)


def _bad_row_db(tmp_path: Path) -> Path:
    import sqlite3

    path = tmp_path / "m.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, n INTEGER)")
    c.executemany("INSERT INTO m VALUES (?, ?)", [(i, i if i != 7 else 2**40) for i in range(1, 21)])
    c.commit()
    c.close()
    save_plan(build_plan(path, overrides=parse_overrides(["m.n=integer"])), default_plan_path(path))
    return path


async def _to_copy(app: WizardApp, pilot, spec: ConnectionSpec) -> None:  # type: ignore[no-untyped-def]
    await connect_to(app, pilot, spec)
    assert app.state.server is not None, message(app)
    for _ in range(4):  # to databases (skipped: the connection's database), schema, .env (skipped), copy
        await pilot.press("ctrl+n")
    assert isinstance(app.screen, CopyScreen), message(app)


async def test_copy_error_skip_rows(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    path = _bad_row_db(tmp_path)
    app = WizardApp(sqlite_file=path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_copy(app, pilot, pg_db)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert isinstance(app.screen, ChoiceModal)
        assert "table m, row 7, column n" in app.screen.message
        await pilot.click("#choice-skip")
        await settle(app, pilot)
        assert isinstance(app.screen, CopyScreen)
        assert app.state.copy_result is not None and app.state.copy_result.rejected == 1, message(app)
        assert "1 rejected" in message(app)
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM m")
        assert cur.fetchone() == (19,)
    conn.close()
    assert (tmp_path / "pgmigrate-rejects" / "m.jsonl").exists()


async def test_copy_error_retry_after_fixing_the_cause(tmp_path: Path, pg_db: ConnectionSpec, pg_server) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "r.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE r (id INTEGER PRIMARY KEY, v TEXT)")
    c.executemany("INSERT INTO r VALUES (?, ?)", [(i, "x" * 100) for i in range(1, 2001)])
    c.commit()
    c.close()
    admin = pg_server.connect()
    admin.autocommit = True
    app = WizardApp(sqlite_file=path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_copy(app, pilot, pg_db)
        with admin.cursor() as cur:  # now the server refuses: every statement is cancelled at once
            cur.execute(sql.SQL("ALTER DATABASE {} SET statement_timeout = '1ms'").format(
                sql.Identifier(pg_db.dbname)))
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert isinstance(app.screen, ChoiceModal), message(app)
        assert "statement timeout" in app.screen.message
        with admin.cursor() as cur:
            cur.execute(sql.SQL("ALTER DATABASE {} RESET statement_timeout").format(sql.Identifier(pg_db.dbname)))
        await pilot.click("#choice-retry")
        await settle(app, pilot)
        assert isinstance(app.screen, CopyScreen)
        assert app.state.copy_result is not None and "Copied 2,000 rows" in message(app)
    admin.close()


async def test_copy_step_shows_what_a_stopped_run_already_did(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    import sqlite3
    import threading

    from textual.widgets import Log

    from wizard.data_copy.model import CopyOptions
    from wizard.data_copy.run import migrate
    from wizard.data_copy.state import read_state

    path = tmp_path / "s.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE s (id INTEGER PRIMARY KEY, v TEXT)")
    c.executemany("INSERT INTO s VALUES (?, ?)", [(i, "v") for i in range(1, 200_001)])
    c.commit()
    c.close()
    plan = build_plan(path)
    save_plan(plan, default_plan_path(path))
    stop = threading.Event()

    def halt(p) -> None:  # type: ignore[no-untyped-def]
        if p.rows_done >= 20_000:
            stop.set()  # like pressing Stop: the committed batches stay (the rest takes far longer than the stop)

    with pytest.raises(Exception, match="cancelled"):
        migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=1000), on_progress=halt, cancel=stop)
    state = read_state(pg_db)
    assert state is not None
    committed = state["tables"]["s"]["rows_done"]
    assert 0 < committed < 200_000
    app = WizardApp(sqlite_file=path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_copy(app, pilot, pg_db)
        await settle(app, pilot)
        log = "\n".join(str(line) for line in app.screen.query_one("#log", Log).lines)
        assert f"stopped migration: {committed:,} rows already copied" in log
        assert str(app.screen.query_one("#start", Button).label) == "Resume"
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.state.copy_result is not None and app.state.copy_result.tables[0].rows == 200_000
        assert app.state.copy_result.tables[0].resumed_from == committed


async def test_path_completion_from_the_file_system(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    sub = tmp_path / "data"
    sub.mkdir()
    c = sqlite3.connect(sub / "shop.sqlite3")
    c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    c.commit()
    c.close()
    (sub / "notes.txt").write_text("not offered")
    monkeypatch.chdir(tmp_path)
    app = WizardApp()
    async with app.run_test(size=SIZE) as pilot:
        field = app.screen.query_one("#path", Input)
        field.focus()
        await pilot.press(*"da")
        await pilot.pause(0.2)
        await pilot.press("right")  # accepts the suggestion: the folder
        await pilot.press(*"s")
        await pilot.pause(0.2)
        await pilot.press("right")
        assert field.value == "data/shop.sqlite3"
        await pilot.press("enter")
        await settle(app, pilot)
        assert "readable" in message(app)


async def test_an_entered_url_keeps_its_password_off_the_screen(chinook: Path) -> None:
    """A URL typed with a password fills the fields as it is typed; once entered, the password stays only in the
    masked field and the URL field keeps the rest, so it does not stay readable on screen."""
    app = WizardApp(sqlite_file=chinook)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ConnectionScreen)
        url = app.screen.query_one("#url", Input)
        url.focus()
        await pilot.pause(0.4)  # a step just shown takes keys after a moment (StepScreen.settling)
        typed = "postgresql://alice:S3cret-pw@db.example.com:6543/shop?sslmode=require"
        await pilot.press(*typed)
        await pilot.pause()
        assert url.value == typed  # nothing is rewritten while typing
        await pilot.press("tab")
        await pilot.pause()
        assert url.value == "postgresql://alice@db.example.com:6543/shop?sslmode=require"
        assert app.screen.query_one("#password", Input).value == "S3cret-pw"
        assert app.screen.query_one("#host", Input).value == "db.example.com"
        assert app.screen.query_one("#port", Input).value == "6543"


async def test_a_url_pasted_into_the_host_field_fills_the_fields(chinook: Path, pg_db: ConnectionSpec) -> None:
    """A URL put into the Host field instead of the URL field is read the same way when the connection is
    tested: not sent as a host name, nor shown with its password in the error that would follow. One that
    cannot be read is refused without being shown."""
    app = WizardApp(sqlite_file=chinook)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+n")
        host = app.screen.query_one("#host", Input)
        host.focus()
        await pilot.pause(0.4)  # a step just shown takes keys after a moment (StepScreen.settling)
        host.value = ""
        await pilot.press(*"postgresql://u:S3cret-pw@db.example.com:notaport/shop")
        await pilot.press("tab")
        await pilot.pause()
        assert "could not be read" in message(app) and "S3cret-pw" not in message(app)
        host.value = ""
        host.focus()
        await pilot.press(*pg_db.url(mask=False))
        await pilot.press("ctrl+t")  # tested without leaving the field
        await settle(app, pilot)
        assert "Connected" in message(app)
        assert host.value == pg_db.host
        assert app.screen.query_one("#password", Input).value == pg_db.password
        assert app.screen.query_one("#url", Input).value == pg_db.with_password(None).url()


async def test_the_copy_log_wraps_a_constraint_report_to_its_width(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    """A foreign key the copied rows break is reported with its offending keys; the log wraps that long line to
    its width instead of hiding the keys past the right edge, and verify shows the whole detail below its table."""
    from textual.widgets import Log, Static

    path = tmp_path / "fk.db"
    c = sqlite3.connect(path)
    c.executescript("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE ch (id INTEGER PRIMARY KEY, "
                    "pid INTEGER REFERENCES p(id));")
    c.executemany("INSERT INTO p VALUES (?)", [(1,), (2,)])
    c.executemany("INSERT INTO ch VALUES (?, ?)", [(i, 1 if i % 4 else 900 + i) for i in range(1, 41)])
    c.commit()
    c.close()
    app = WizardApp(sqlite_file=path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_copy(app, pilot, pg_db)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        log = app.screen.query_one("#log", Log)
        lines = [str(line) for line in log.lines]
        start = next(i for i, line in enumerate(lines) if line.startswith("not validated"))
        assert max(map(len, lines[start:])) <= log.scrollable_content_region.width  # a URL above stays whole
        text = " ".join(line.strip() for line in lines)
        assert "not validated: constraint ch_pid_fkey: 10 row(s) of ch refer to no row of p" in text
        assert "936, 940" in text  # the last keys, which a single line hid past the edge
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, VerifyScreen)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        details = str(app.screen.query_one("#details", Static).content)  # the table shows 80 characters of it
        assert "foreign_key ch: ch_pid_fkey exists but is NOT VALID: 10 row(s) of ch" in details
        assert "936, 940" in details


async def test_a_sampled_plan_is_shown_as_such_and_replanned_by_the_copy(tmp_path: Path,
                                                                       pg_db: ConnectionSpec) -> None:
    """No saved plan: the Source step plans a big table from a sample (the Schema step says so); a value the
    sample missed is re-planned by the copy, which says what changed, and Verify checks the new types."""
    path = tmp_path / "big.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, code INTEGER, label TEXT)")
    c.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000) "
              "INSERT INTO m SELECT i, i, 'row ' || i FROM n")
    c.execute("UPDATE m SET code = 'A-33333' WHERE id = 33333")  # between the sample's runs of rows
    c.commit()
    c.close()
    app = WizardApp(sqlite_file=path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.state.plan is not None and app.state.plan.table("m").sampled_rows > 0, message(app)
        assert app.state.plan.table("m").column("code").pg_type == "bigint"
        await connect_to(app, pilot, pg_db)
        await pilot.press("ctrl+n", "ctrl+n")
        assert isinstance(app.screen, SchemaScreen), message(app)
        assert "types from a sample of" in str(app.screen.query_one("#table-title").content)
        await pilot.press("ctrl+n", "ctrl+n")
        assert isinstance(app.screen, CopyScreen), message(app)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.state.copy_result is not None, message(app)
        assert "Copied 60,000 rows" in message(app)
        log = "\n".join(str(line) for line in app.screen.query_one("#log").lines)
        assert "did not fit the types chosen from a sample" in log
        assert app.state.plan.table("m").column("code").pg_type == "text"
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, VerifyScreen)
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert app.state.report is not None and app.state.report.ok, message(app)
