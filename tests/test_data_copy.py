"""The copy against a real PostgreSQL: exact values, resume after kill -9, rejects, sequences."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest

from wizard.data_copy.model import CopyError, CopyOptions
from wizard.data_copy.run import migrate
from wizard.data_copy.state import read_state, reset_target
from wizard.plan.planner import build_plan, parse_overrides
from wizard.target.connection import ConnectionSpec

EDGE_SCRIPT = """
CREATE TABLE edge (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    t TEXT, n INTEGER, r REAL, b BLOB, flag BOOLEAN, at DATETIME, atz DATETIME, js JSON, price NUMERIC(10,2)
);
"""
EDGE_ROWS = [
    (1, "", 0, 0.0, b"", 0, "2024-01-02 03:04:05", "2024-01-02T03:04:05Z", '{"a": [1, 2]}', "12.50"),
    (2, None, None, None, None, None, None, None, None, None),
    (3, "tab\there\nnewline\\back \\N \u00e9\u4e2d\U0001F600", 2**63 - 1, float("inf"), bytes(range(256)), 1,
     "2024-01-02T03:04:05.123456", "2024-01-02 03:04:05+02:00", "[]", 0.1),
    (4, "x\x00y", -(2**63), float("-inf"), b"\x00", 1, 1700000000, "2024-06-01T00:00:00-05:30", '"s"', -99999999.99),
    (5, "'quotes\" and ; -- sql", 42, 1.7976931348623157e308, b"\\x", 0, "1999-12-31", "2000-01-01T00:00:00Z",
     "null", 7),
    (6, "NaN", 7, 5e-324, b"\xff\xfe", 1, "2024-02-29 23:59:59.9999995", "2024-01-01T00:00:00+00:00", "1.5", None),
]


def run(plan, spec, **kw):  # type: ignore[no-untyped-def]
    return migrate(plan, spec, CopyOptions(jobs=2, batch_size=kw.pop("batch_size", 2), **kw))


def test_exact_round_trip_of_edge_values(make_sqlite, pg_db: ConnectionSpec) -> None:  # type: ignore[no-untyped-def]
    path = make_sqlite(EDGE_SCRIPT, {"edge": EDGE_ROWS})
    plan = build_plan(path)
    result = run(plan, pg_db)
    assert [(t.table, t.rows, t.rejected) for t in result.tables] == [("edge", 6, 0)]
    assert result.failed_statements == []
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT id, t, n, r, b, flag, at, atz, js, price FROM edge ORDER BY id")
        rows = {r[0]: r for r in cur.fetchall()}
    conn.close()
    assert rows[1][1:] == ("", 0, 0.0, b"", False, datetime(2024, 1, 2, 3, 4, 5),
                           datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), {"a": [1, 2]}, Decimal("12.50"))
    assert rows[2][1:] == (None,) * 9  # NULL stays NULL, distinct from ''
    r3 = rows[3]
    assert r3[1] == "tab\there\nnewline\\back \\N \u00e9\u4e2d\U0001F600" and r3[2] == 2**63 - 1
    assert math.isinf(r3[3]) and r3[3] > 0 and bytes(r3[4]) == bytes(range(256)) and r3[5] is True
    assert r3[6] == datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert r3[7] == datetime(2024, 1, 2, 1, 4, 5, tzinfo=timezone.utc) and r3[8] == [] and r3[9] == Decimal("0.10")
    r4 = rows[4]
    assert r4[1] == "xy"  # NUL removed, as the plan's finding said
    assert r4[2] == -(2**63) and r4[3] == float("-inf") and bytes(r4[4]) == b"\x00"
    assert r4[6] == datetime(2023, 11, 14, 22, 13, 20)  # Unix epoch seconds
    assert r4[7] == datetime(2024, 6, 1, 5, 30, tzinfo=timezone.utc) and r4[8] == "s"
    assert r4[9] == Decimal("-99999999.99")
    r5 = rows[5]
    assert r5[1] == "'quotes\" and ; -- sql" and r5[3] == 1.7976931348623157e308 and bytes(r5[4]) == b"\\x"
    assert r5[6] == datetime(1999, 12, 31) and r5[8] is None and r5[9] == Decimal("7.00")
    r6 = rows[6]
    assert r6[1] == "NaN" and r6[3] == 5e-324 and bytes(r6[4]) == b"\xff\xfe"
    assert r6[6] == datetime(2024, 3, 1, 0, 0, 0)  # 7 fractional digits round like PostgreSQL does
    assert r6[8] == 1.5


def test_sequences_continue_past_max_and_sqlite_sequence(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    path = make_sqlite("CREATE TABLE u (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);"
                       "CREATE TABLE empty (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);"
                       "CREATE TABLE plain (id INTEGER PRIMARY KEY, v TEXT);"
                       "INSERT INTO u(name) VALUES ('a'),('b'),('c'),('d'); DELETE FROM u WHERE id = 4;"
                       "INSERT INTO empty(v) VALUES ('x'); DELETE FROM empty;"
                       "INSERT INTO plain VALUES (10, 'x');")
    run(build_plan(path), pg_db)
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("INSERT INTO u (name) VALUES ('new') RETURNING id")
        assert cur.fetchone() == (5,)  # past the deleted 4: AUTOINCREMENT never reuses ids
        cur.execute("INSERT INTO empty (v) VALUES ('y') RETURNING id")
        assert cur.fetchone() == (2,)
        cur.execute("INSERT INTO plain (v) VALUES ('y') RETURNING id")
        assert cur.fetchone() == (11,)
    conn.commit()
    conn.close()


def test_on_error_fail_names_table_row_and_column(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    path = make_sqlite("CREATE TABLE m (id INTEGER PRIMARY KEY, n INTEGER);",
                       {"m": [(i, i if i != 7 else 2**40) for i in range(1, 11)]})
    plan = build_plan(path, overrides=parse_overrides(["m.n=integer"]))
    with pytest.raises(CopyError) as exc:
        run(plan, pg_db, batch_size=4)
    err = exc.value
    assert (err.table, err.key, err.column) == ("m", "7", "n") and "out of range" in err.pg_message
    state = read_state(pg_db)
    # the table is copied in parts side by side; every batch committed before the failure stays: ids 1-6 here
    assert state is not None and state["tables"]["m"]["rows_done"] == 6 and state["tables"]["m"]["parts"] == 3
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT array_agg(id ORDER BY id) FROM m")
        assert cur.fetchone() == ([1, 2, 3, 4, 5, 6],)
        # no autovacuum on a table still being loaded; switched back on once it is complete
        cur.execute("SELECT reloptions FROM pg_class WHERE relname = 'm'")
        assert cur.fetchone() == (["autovacuum_enabled=false"],)
    conn.close()


def test_on_error_skip_writes_rejects_and_continues(make_sqlite, pg_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = make_sqlite("CREATE TABLE m (id INTEGER PRIMARY KEY, n INTEGER, j JSON);",
                       {"m": [(i, 2**40 if i in (3, 9) else i, "[1]") for i in range(1, 13)]})
    plan = build_plan(path, overrides=parse_overrides(["m.n=integer"]))
    events = []
    result = migrate(plan, pg_db, CopyOptions(batch_size=5, on_error="skip", rejects_dir=tmp_path / "rej"),
                     on_progress=events.append)
    assert (result.tables[0].rows, result.tables[0].rejected) == (10, 2)
    # the overall bar counts every row once, also the batches that failed and were isolated row by row
    assert max(e.overall_done for e in events) == events[-1].overall_done == events[-1].overall_total == 12
    lines = [json.loads(x) for x in (tmp_path / "rej" / "m.jsonl").read_text().splitlines()]
    assert sorted(r["key"][0] for r in lines) == [3, 9]
    assert all("out of range" in r["reason"] for r in lines) and lines[0]["row"]["n"] == 2**40
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id) FROM m")
        assert cur.fetchone() == (10, 10)
        cur.execute("SELECT reloptions FROM pg_class WHERE relname = 'm'")
        assert cur.fetchone() == (None,)  # autovacuum is back on
    conn.close()


def test_second_run_refuses_and_finished_run_is_not_repeated(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    path = make_sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);", {"a": [(1, "x"), (2, "y")]})
    plan = build_plan(path)
    run(plan, pg_db)
    again = run(plan, pg_db)
    assert again.already_done and again.tables[0].rows == 2
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM a")
        assert cur.fetchone() == (2,)
    conn.close()


def test_resume_after_kill_9(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    """A real subprocess is killed with SIGKILL mid-copy; the rerun loses and duplicates nothing."""
    import sqlite3

    path = tmp_path / "big.db"
    src = sqlite3.connect(path)
    src.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY, payload TEXT, n INTEGER)")
    src.executemany("INSERT INTO ev VALUES (?, ?, ?)", ((i, f"row {i} " + "x" * 50, i * 7) for i in range(1, 300_001)))
    src.execute("CREATE TABLE small (id INTEGER PRIMARY KEY, v TEXT)")
    src.executemany("INSERT INTO small VALUES (?, ?)", ((i, str(i)) for i in range(1, 1001)))
    src.commit()
    src.close()
    env = {**os.environ, "PGPASSWORD": pg_db.password or "", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    target = ConnectionSpec(host=pg_db.host, port=pg_db.port, user=pg_db.user, dbname=pg_db.dbname,
                            sslmode=pg_db.sslmode).url(mask=False)
    cmd = [sys.executable, "-m", "wizard", "migrate", str(path), "--target", target, "--batch-size", "5000",
           "--jobs", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline:
        state = read_state(pg_db)
        done = state["tables"].get("ev", {}).get("rows_done", 0) if state else 0
        if done >= 20_000:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = read_state(pg_db)
    assert state is not None and 0 < state["tables"]["ev"]["rows_done"] < 300_000, "kill came too late"
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id), sum(n) FROM ev")
        assert cur.fetchone() == (300_000, 300_000, 7 * 300_000 * 300_001 // 2)
        cur.execute("SELECT count(*) FROM small")
        assert cur.fetchone() == (1000,)
    conn.close()


def test_invalid_utf8_is_decoded_the_plans_way(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    path = make_sqlite("CREATE TABLE w (id INTEGER PRIMARY KEY, t TEXT, j JSON);"
                       "INSERT INTO w VALUES (1, CAST(x'66e96c69' AS TEXT), CAST(x'5b22e9225d' AS TEXT)),"
                       " (2, 'ok', '[1]');")
    plan = build_plan(path)
    assert plan.table("w").column("t").text_fix == "replace"
    result = run(plan, pg_db)
    assert (result.tables[0].rows, result.tables[0].rejected) == (2, 0)
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT t FROM w ORDER BY id")
        assert cur.fetchall() == [("f\ufffdli",), ("ok",)]
    conn.close()


def test_a_target_holding_another_files_migration_is_refused(make_sqlite, pg_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from wizard.errors import InputError

    first = make_sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);", {"a": [(1, "x")]}, name="one.db")
    second = make_sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);", {"a": [(1, "y"), (2, "z")]},
                         name="two.db")
    run(build_plan(first), pg_db)
    with pytest.raises(InputError, match="another SQLite file"):
        run(build_plan(second), pg_db)


def _opened_connections(monkeypatch):  # type: ignore[no-untyped-def]
    """What each work connection opened from here on was for ("copying TABLE", ...), in order."""
    from wizard.data_copy import parts

    opened: list[str | None] = []
    real = parts.work_connection

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        opened.append(args[2] if len(args) > 2 else kwargs.get("doing"))
        return real(*args, **kwargs)

    monkeypatch.setattr(parts, "work_connection", counting)
    return opened


def test_many_small_tables_share_connections(make_sqlite, pg_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Apps have dozens or hundreds of small tables: they are copied in bundles on a few connections, not one
    connection per table (which made a 367-table file take seconds just connecting)."""

    script = "".join(f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT);" for i in range(40))
    path = make_sqlite(script, {f"t{i}": [(j, f"v{i}-{j}") for j in range(1, 6)] for i in range(40)})
    opened = _opened_connections(monkeypatch)
    result = run(build_plan(path), pg_db, batch_size=1000)
    assert sum(r.rows for r in result.tables) == 200
    copying = [d for d in opened if d and d.startswith("copying")]
    assert 1 <= len(copying) <= 4, opened  # 40 tables of 5 rows: two bundles (at most 32 parts each)
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT " + " + ".join(f"(SELECT count(*) FROM t{i})" for i in range(40)))
        assert cur.fetchone() == (200,)
    conn.close()


def test_the_parts_of_a_table_share_each_workers_connection(make_sqlite, pg_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A big table is copied in a few dozen parts; each worker keeps its connection from one part to the next
    instead of paying a new server process and password exchange per part."""

    path = make_sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);", {"a": [(i, f"v{i}") for i in range(1, 601)]})
    opened = _opened_connections(monkeypatch)
    result = run(build_plan(path), pg_db, batch_size=10)
    state = read_state(pg_db)
    assert state is not None and state["tables"]["a"]["parts"] >= 8
    assert result.tables[0].rows == 600
    assert len([d for d in opened if d and d.startswith("copying")]) <= 2, opened  # jobs=2
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id) FROM a")
        assert cur.fetchone() == (600, 600)
    conn.close()


def _stopped_after_first_batch(make_sqlite, spec):  # type: ignore[no-untyped-def]
    """A 50-row table whose migrate was cancelled once its first part (batches of 5) committed: its plan, and the run
    state left in the target."""
    import threading

    from wizard.data_copy import parts
    from wizard.errors import Cancelled

    path = make_sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);", {"a": [(i, f"v{i}") for i in range(1, 51)]})
    plan = build_plan(path)
    cancel = threading.Event()
    real = parts._copy_part

    def part_then_cancel(job, link, conn):  # type: ignore[no-untyped-def]
        real(job, link, conn)
        cancel.set()  # after the first part: the worker waits until the stop reaches it, so no race decides
        deadline = time.monotonic() + 10
        while not link.stopped() and time.monotonic() < deadline:
            time.sleep(0.01)

    with pytest.MonkeyPatch.context() as mp, pytest.raises(Cancelled):
        mp.setattr(parts, "_copy_part", part_then_cancel)
        migrate(plan, spec, CopyOptions(jobs=1, batch_size=5), cancel=cancel)
    state = read_state(spec)
    assert state is not None
    return plan, state


def test_resume_refuses_a_snapshot_whose_bytes_changed(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    """The rows still to copy must come from the same bytes as those already copied: a snapshot torn by a power cut
    or edited since keeps its size but not its SHA-256, and a resume refuses it."""
    from wizard.errors import InputError

    plan, state = _stopped_after_first_batch(make_sqlite, pg_db)
    assert 0 < state["tables"]["a"]["rows_done"] < 50
    snap = Path(state["snapshot"]["path"])
    data = bytearray(snap.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    snap.write_bytes(bytes(data))
    with pytest.raises(InputError, match="SHA-256 differs"):
        run(plan, pg_db)
    data[-1] ^= 0xFF
    snap.write_bytes(bytes(data))
    result = run(plan, pg_db)  # the same bytes again: it resumes and finishes
    assert result.tables[0].rows == 50


def test_resume_without_the_snapshot_says_it_is_gone(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    from wizard.errors import InputError

    plan, state = _stopped_after_first_batch(make_sqlite, pg_db)
    Path(state["snapshot"]["path"]).unlink()
    with pytest.raises(InputError, match="is gone"):
        run(plan, pg_db)
    reset_target(plan, pg_db)  # what --restart does
    assert run(plan, pg_db).tables[0].rows == 50


def test_a_target_that_cannot_be_prepared_leaves_no_snapshot(make_sqlite, pg_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The snapshot comes before the target's tables: when creating them fails, no run state refers to the
    snapshot, so it is deleted rather than left to fill the disk one retry after another."""
    from wizard.errors import InputError

    path = make_sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);", {"a": [(1, "x")]})
    snaps = tmp_path / "snaps"
    with pytest.raises(InputError, match="no_such_schema"):
        migrate(build_plan(path), pg_db, CopyOptions(jobs=1, schema="no_such_schema", backup_dir=snaps))
    assert snaps.is_dir() and list(snaps.iterdir()) == []
    assert read_state(pg_db) is None  # nothing half-made in the target either
    assert run(build_plan(path), pg_db, backup_dir=snaps).tables[0].rows == 1
    assert len(list(snaps.iterdir())) == 1  # the run that started keeps its snapshot


def test_a_snapshot_interrupted_halfway_leaves_no_partial_file(make_sqlite, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from wizard.source import snapshot

    path = make_sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);",
                       {"a": [(i, "x" * 500) for i in range(1, 2001)]})
    started: list[Path] = []

    def ctrl_c_after_first_pages(reader, dest) -> None:  # type: ignore[no-untyped-def]
        def progress(status: int, remaining: int, total: int) -> None:
            started.extend(tmp_path.glob("*.pgmigrate-backup-*"))
            raise KeyboardInterrupt

        reader.backup(dest, pages=4, progress=progress)  # the real backup API, stopped after its first step

    monkeypatch.setattr(snapshot, "_backup", ctrl_c_after_first_pages)
    real_copy = snapshot.shutil.copyfile

    def ctrl_c_halfway(src, dst):  # type: ignore[no-untyped-def]
        with open(src, "rb") as fh, open(dst, "wb") as out:
            out.write(fh.read(8192))
        started.extend(tmp_path.glob("*.pgmigrate-backup-*"))
        raise KeyboardInterrupt

    for copy in (ctrl_c_halfway, real_copy):  # the file copied as it is; then taken by the backup API (WAL mode)
        monkeypatch.setattr(snapshot.shutil, "copyfile", copy)
        started.clear()
        with pytest.raises(KeyboardInterrupt):
            snapshot.take_snapshot(path, tmp_path)
        assert started  # the file was there while the copy ran
        assert list(tmp_path.glob("*.pgmigrate-backup-*")) == []
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.close()


def test_a_snapshot_that_cannot_fit_is_refused_before_it_starts(make_sqlite, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A backup folder without room for the snapshot is refused at once, with the sizes and a way out, instead of
    failing after copying most of a big file."""
    import collections

    from wizard.errors import InputError
    from wizard.source import snapshot

    path = make_sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);", {"a": [(i, "x" * 500) for i in range(2000)]})
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(snapshot.shutil, "disk_usage", lambda folder: usage(10 << 30, 10 << 30, 100_000))
    with pytest.raises(InputError, match=r"needs about \d+ MiB, but .* has 0 MiB free") as caught:
        snapshot.take_snapshot(path, tmp_path / "snaps")
    assert "--backup-dir" in (caught.value.hint or "")
    assert list((tmp_path / "snaps").glob("*")) == []
    monkeypatch.setattr(snapshot.shutil, "disk_usage", lambda folder: usage(10 << 30, 0, 10 << 30))
    assert Path(snapshot.take_snapshot(path, tmp_path / "snaps").path).exists()


def test_a_source_folder_that_cannot_take_the_snapshot_falls_back_to_the_data_folder(make_sqlite, tmp_path,  # type: ignore[no-untyped-def]
                                                                                    monkeypatch) -> None:
    """By default the snapshot goes next to the source; when that folder cannot take it (read-only, full), it goes
    to the user data folder instead of stopping the run. A folder asked for (--backup-dir) is never replaced."""
    import collections

    from wizard.errors import InputError
    from wizard.source import snapshot

    path = make_sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);", {"a": [(i, "x" * 500) for i in range(2000)]})
    data = tmp_path / "data"
    monkeypatch.setattr(snapshot.platformdirs, "user_data_path", lambda app: data / app)
    usage = collections.namedtuple("usage", "total used free")
    full = {path.parent.resolve()}  # the source's folder has no room; every other one has plenty
    monkeypatch.setattr(snapshot.shutil, "disk_usage", lambda folder: usage(
        10 << 30, 0, 1000 if Path(folder).resolve() in full else 10 << 30))
    snap = snapshot.take_snapshot(path)
    assert Path(snap.path).parent == data / "pgmigrate-wizard" / "snapshots" and Path(snap.path).exists()
    assert list(path.parent.glob("*.pgmigrate-backup-*")) == []
    with pytest.raises(InputError, match="free"):  # asked for: no other folder is tried
        snapshot.take_snapshot(path, path.parent)
    full.add((data / "pgmigrate-wizard" / "snapshots").resolve())
    with pytest.raises(InputError, match=str(path.parent)):  # no room anywhere: the source folder's reason
        snapshot.take_snapshot(path)
    full.clear()
    real_probe = snapshot.tempfile.TemporaryFile

    def read_only_source(*args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(kwargs["dir"]).resolve() == path.parent.resolve():
            raise PermissionError(13, "Permission denied")
        return real_probe(*args, **kwargs)

    monkeypatch.setattr(snapshot.tempfile, "TemporaryFile", read_only_source)
    assert Path(snapshot.take_snapshot(path).path).parent == data / "pgmigrate-wizard" / "snapshots"


def test_a_tables_time_counts_from_its_own_start(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    """A table copied after another on the same worker is timed from its own first part, not from the start of
    the copy: its seconds and rows/s in the summary are its own."""
    path = make_sqlite("CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE small (id INTEGER "
                       "PRIMARY KEY, v TEXT);", {"big": [(i, f"value {i}" * 5) for i in range(1, 200_001)],
                                                 "small": [(i, "x") for i in range(1, 51)]})
    result = migrate(build_plan(path), pg_db, CopyOptions(jobs=1))  # one worker: big first, then small
    seconds = {t.table: t.seconds for t in result.tables}
    assert 0 < seconds["small"] < seconds["big"] / 3, seconds


def test_the_summary_says_which_tables_an_earlier_run_copied(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    """A table finished before a resume was not timed by this run: the summary says 'earlier', not 0.00 s."""
    from wizard.cli.progress_view import render_summary

    path = make_sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);", {"a": [(i, f"v{i}") for i in range(1, 51)]})
    plan = build_plan(path)
    result = run(plan, pg_db)
    row = next(line for line in render_summary(result).splitlines() if line.startswith("a "))
    assert "earlier" not in row and result.tables[0].seconds > 0  # a few ms: it may print as 0.00
    again = run(plan, pg_db)
    assert again.already_done
    row = next(line for line in render_summary(again).splitlines() if line.startswith("a "))
    assert row.split()[1:5] == ["50", "0", "earlier", "-"]


def test_a_big_snapshot_is_hashed_beside_the_copy_and_then_recorded(make_sqlite, pg_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A big snapshot's SHA-256 is computed while the copy runs and recorded in the run state as soon as it is
    known, also by a run that is stopped: the rerun checks it and resumes."""
    from wizard.source import snapshot

    monkeypatch.setattr(snapshot, "HASH_AHEAD_BYTES", 0)  # every snapshot counts as big
    plan, state = _stopped_after_first_batch(make_sqlite, pg_db)
    snap = Path(state["snapshot"]["path"])
    assert state["snapshot"]["sha256"] == snapshot.file_sha256(snap)
    result = run(plan, pg_db, batch_size=5)  # resumes from that snapshot (no new one is taken)
    assert result.tables[0].rows == 50 and result.snapshot.path == str(snap)
    assert result.snapshot.sha256 == snapshot.file_sha256(snap)


def test_a_run_stopped_before_its_snapshot_hash_was_recorded_resumes_without_a_flag(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    """kill -9 in the first moments of a big copy leaves a run state without the snapshot's SHA-256: the rerun
    checks the snapshot whole, records its hash and resumes, keeping the committed batches; with the snapshot gone
    it starts over by itself (the next test). Either way it says so."""
    plan, state = _stopped_after_first_batch(make_sqlite, pg_db)
    done_before = state["tables"]["a"]["rows_done"]

    def forget_hash() -> None:  # what the state holds when the process died before recording the hash
        conn = psycopg2.connect(**pg_db.connect_kwargs())
        with conn.cursor() as cur:
            cur.execute("UPDATE pgmigrate.run SET snapshot = jsonb_set(snapshot::jsonb, '{sha256}', '\"\"')::text")
        conn.commit()
        conn.close()

    forget_hash()
    from wizard.verify.run import verify

    (check,) = [c for c in verify(plan, pg_db, jobs=1).checks if c.name == "snapshot"]
    assert not check.ok and "never recorded" in check.detail
    result = run(plan, pg_db)
    assert result.tables[0].rows == 50 and result.tables[0].resumed_from == done_before > 0
    assert any("checked whole and recorded now" in n for n in result.notes), result.notes
    assert read_state(pg_db)["snapshot"]["sha256"] == result.snapshot.sha256 != ""  # type: ignore[index]


def test_a_run_stopped_before_its_hash_with_its_snapshot_gone_starts_over_by_itself(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    plan, state = _stopped_after_first_batch(make_sqlite, pg_db)
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("UPDATE pgmigrate.run SET snapshot = jsonb_set(snapshot::jsonb, '{sha256}', '\"\"')::text")
    conn.commit()
    conn.close()
    Path(state["snapshot"]["path"]).unlink()
    result = run(plan, pg_db)
    assert result.tables[0].rows == 50 and result.tables[0].resumed_from == 0
    assert any("started over from a new snapshot" in n for n in result.notes), result.notes
    assert result.snapshot.path != state["snapshot"]["path"]


def test_a_table_whose_columns_take_every_rowid_name_copies_in_scan_order(make_sqlite, pg_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Columns named rowid, _rowid_ and oid leave the rowid no name to order batches by: the batches go in the
    table's scan order instead, keyed by position (also past an index that holds every column); a run stopped by
    a bad row resumes after its last batch, and the rejected row is named by its position."""
    rows = [(f"r{i}", i % 3, i * 10, 2**40 if i == 17 else i) for i in range(1, 41)]
    path = make_sqlite('CREATE TABLE named (rowid TEXT, _rowid_ INTEGER, oid INTEGER, n INTEGER);'
                       'CREATE INDEX named_all ON named (_rowid_, rowid, oid, n);', {"named": rows})
    plan = build_plan(path, overrides=parse_overrides(["named.n=integer"]))
    with pytest.raises(CopyError, match="17"):  # batches of 7: rows 1-14 committed, the third batch refused
        migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=7))
    state = read_state(pg_db)
    assert state is not None and state["tables"]["named"]["rows_done"] == 14
    result = migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=7, on_error="skip", rejects_dir=tmp_path))
    assert [(t.table, t.rows, t.rejected) for t in result.tables] == [("named", 39, 1)]
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute('SELECT "rowid", "_rowid_", oid, n FROM named ORDER BY oid')
        assert cur.fetchall() == [r for r in rows if r[3] != 2**40]
    conn.close()
    reject = json.loads((tmp_path / "named.jsonl").read_text().strip())
    assert reject["key"] == [17] and reject["row"]["n"] == 2**40  # its position in the scan


def test_the_rowid_column_is_read_once_and_put_in_its_place(make_sqlite, pg_db, pg_conn, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An INTEGER PRIMARY KEY column is the rowid itself: the copy reads it once, as the batches' key, and puts it
    back among the columns wherever it stands. Rejected rows name it as their key and show it in its place."""
    from wizard.data_copy import batches

    rows = [(f"n{i}", i * 3, 2**40 if i in (4, 11) else i, i / 4) for i in range(1, 21)]
    path = make_sqlite("CREATE TABLE mid (name TEXT, id INTEGER PRIMARY KEY, n INTEGER, price REAL);",
                       {"mid": rows})
    plan = build_plan(path, overrides=parse_overrides(["mid.n=integer"]))
    widths: set[int] = set()
    real = batches.BatchReader._encode

    def spy(self, chunk):  # type: ignore[no-untyped-def]
        widths.add(len(chunk[0]))
        return real(self, chunk)

    monkeypatch.setattr(batches.BatchReader, "_encode", spy)
    result = migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=5, on_error="skip", rejects_dir=tmp_path))
    assert widths == {4}  # the key (the id), name, n, price: not the id a second time
    assert [(t.table, t.rows, t.rejected) for t in result.tables] == [("mid", 18, 2)]
    with pg_conn.cursor() as cur:
        cur.execute("SELECT name, id, n, price FROM mid ORDER BY id")
        assert cur.fetchall() == [r for r in rows if r[2] != 2**40]
    rejects = [json.loads(line) for line in (tmp_path / "mid.jsonl").read_text().splitlines()]
    assert sorted((r["key"], r["row"]["id"], r["row"]["name"], r["row"]["n"]) for r in rejects) == \
        [([12], 12, "n4", 2**40), ([33], 33, "n11", 2**40)]


def test_without_rowid_keys_of_every_storage_class_checkpoint_and_resume(make_sqlite, pg_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A WITHOUT ROWID table orders its batches by its primary key, whose values may be BLOBs (binary UUIDs) or
    of mixed storage classes: the checkpoint keeps each key exactly, so a run stopped halfway resumes after it."""
    import uuid

    blob_rows = [(uuid.UUID(int=i * 7919).bytes, i) for i in range(1, 31)]
    mixed_keys = [1, 2.5, -7, "a", "zz", "\u00e9t\u00e9", b"", b"\x00\x01", b"\xff", 2**62, -0.5, "b"]
    mixed_rows = [(k, 2**40 if k == "zz" else i) for i, k in enumerate(mixed_keys)]
    path = make_sqlite("CREATE TABLE ids (id BLOB PRIMARY KEY, n INTEGER) WITHOUT ROWID;"
                       "CREATE TABLE mixed (k PRIMARY KEY, n INTEGER) WITHOUT ROWID;",
                       {"ids": blob_rows, "mixed": mixed_rows})
    plan = build_plan(path, overrides=parse_overrides(["mixed.n=integer"]))
    # mixed: batches of 3 in SQLite's key order (numbers, then text, then BLOBs); the third holds the bad row
    with pytest.raises(CopyError, match="zz"):
        migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=3))
    state = read_state(pg_db)
    assert state is not None and state["tables"]["mixed"]["rows_done"] == 6
    result = migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=3, on_error="skip", rejects_dir=tmp_path))
    assert sorted((t.table, t.rows, t.rejected) for t in result.tables) == [("ids", 30, 0), ("mixed", 11, 1)]
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT id, n FROM ids ORDER BY n")
        assert [(bytes(b), n) for b, n in cur.fetchall()] == blob_rows
        cur.execute("SELECT count(*), count(DISTINCT k) FROM mixed")
        assert cur.fetchone() == (11, 11)
    conn.close()


def test_constraints_that_cannot_be_validated_name_every_offending_key(make_sqlite, pg_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """SQLite enforces neither foreign keys (by default) nor, with ignore_check_constraints, CHECKs: rows that
    break them are copied, and the report says how many and which keys, commonest first, not only the first row
    PostgreSQL tripped on. A primary key that cannot be built names the duplicated key."""
    from wizard.cli.progress_view import render_summary
    from wizard.data_copy import violations

    monkeypatch.setattr(violations, "SHOWN", 3)
    children = [(1, 1), (2, 999), (3, 2), (4, 998), (5, 998), (6, None), (7, 997), (8, 996), (9, 998)]
    path = make_sqlite(
        "PRAGMA ignore_check_constraints = ON;"
        "CREATE TABLE p (id INTEGER PRIMARY KEY);"
        "CREATE TABLE ch (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p(id));"
        "CREATE TABLE q (id INTEGER PRIMARY KEY, n INTEGER CHECK (n >= 0));"
        "CREATE TABLE m (k PRIMARY KEY, v TEXT) WITHOUT ROWID;"
        "CREATE TABLE r (id INTEGER PRIMARY KEY, mk REFERENCES m(k));",
        {"p": [(1,), (2,)], "ch": children, "q": [(1, 5), (2, -1), (3, None), (4, -3)],
         "m": [(1, "int"), ("1", "text"), (2, "two")], "r": [(1, 2)]})
    result = run(build_plan(path), pg_db)
    assert sum(t.rows for t in result.tables) == 2 + 9 + 4 + 3 + 1  # every row is copied all the same
    errors = {r.statement.name: r.error for r in result.failed_statements}
    assert errors["ch_pid_fkey"].startswith("6 row(s) of ch refer to no row of p: (pid) = 998 (3 rows), 996, 997 "
                                            "and 1 more.")
    assert 'VALIDATE CONSTRAINT "ch_pid_fkey"' in errors["ch_pid_fkey"]
    check = next(v for k, v in errors.items() if k.startswith("q_"))
    assert check.startswith("2 row(s) of q break CHECK (n >= 0): (id) = 2, 4.")
    assert errors["m_pkey"] == 'could not create unique index "m_pkey": Key (k)=(1) is duplicated.'
    summary = render_summary(result)
    assert "\nnot validated: constraint ch_pid_fkey: 6 row(s) of ch" in summary  # it exists, NOT VALID
    assert '\nnot created: pk m_pkey: could not create unique index "m_pkey"' in summary
    # the key on m's missing primary key is reported once: not created (and not again as "not validated")
    assert [(r.statement.kind, r.statement.name) for r in result.failed_statements if r.statement.table == "r"] \
        == [("fk", "r_mk_fkey")]
    assert summary.count("r_mk_fkey") == 1


def test_rows_of_big_blobs_come_a_few_at_a_time(make_sqlite, pg_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An attachments table of big BLOBs is read a few rows at a time, so the copy's memory stays bounded by its
    chunk budget whatever the row size (it read 2000 rows at a time: a table of 4 MB files took gigabytes)."""
    import hashlib

    from wizard.data_copy import batches

    monkeypatch.setattr(batches, "_CHUNK_BYTES", 1 << 20)
    blobs = [bytes([i]) * (256 << 10) + str(i).encode() for i in range(40)]
    path = make_sqlite("CREATE TABLE files (id INTEGER PRIMARY KEY, name TEXT, data BLOB);"
                       "CREATE TABLE small (id INTEGER PRIMARY KEY, v TEXT);",
                       {"files": [(i + 1, f"f{i}", b) for i, b in enumerate(blobs)],
                        "small": [(i, f"v{i}") for i in range(1, 5001)]})
    chunks: dict[int, list[int]] = {}
    real = batches.BatchReader._encode

    def spy(self, rows):  # type: ignore[no-untyped-def]
        chunks.setdefault(len(rows[0]), []).append(sum(len(v) for r in rows for v in r if isinstance(v, bytes)))
        return real(self, rows)

    monkeypatch.setattr(batches.BatchReader, "_encode", spy)
    result = run(build_plan(path), pg_db, batch_size=50_000)
    assert sorted((t.table, t.rows) for t in result.tables) == [("files", 40), ("small", 5000)]
    file_chunks = chunks[3]  # the key (the id), name, data
    assert len(file_chunks) >= 10 and max(file_chunks) <= (1 << 20) + len(blobs[0])
    assert len(chunks[2]) <= 10  # small rows still come in big chunks (5000 rows: 1, 4, 16, ... 2000)
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT id, sha256(data) FROM files ORDER BY id")
        assert [bytes(h) for _id, h in cur.fetchall()] == [hashlib.sha256(b).digest() for b in blobs]
    conn.close()


def test_batches_of_big_rows_end_at_their_byte_budget(make_sqlite, pg_db, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A batch ends at --batch-size rows or at about _BATCH_BYTES, whichever comes first: big rows commit a few at
    a time, and --on-error skip, which holds a failed batch in memory to split it, holds no more than that."""
    from wizard.data_copy import batches, parts

    monkeypatch.setattr(batches, "_BATCH_BYTES", 1 << 20)
    rows = [(i, '{"a": 1}', bytes([i]) * (200 << 10)) for i in range(1, 41)]
    path = make_sqlite("CREATE TABLE files (id INTEGER PRIMARY KEY, doc JSON, data BLOB);", {"files": rows})
    plan = build_plan(path)
    with sqlite3.connect(path) as app:  # the app writes after the plan: PostgreSQL refuses this JSON as it loads
        app.execute("UPDATE files SET doc = '{bad' WHERE id = 23")
    app.close()
    commits: list[int] = []
    cuts: list[bool] = []
    real_checkpoint, real_isolate = parts.advance_checkpoint, parts.isolate

    def checkpoint(conn, job, expected, last_key, loaded, rejects):  # type: ignore[no-untyped-def]
        commits.append(loaded + len(rejects))
        return real_checkpoint(conn, job, expected, last_key, loaded, rejects)

    def isolate(*args):  # type: ignore[no-untyped-def]
        out = real_isolate(*args)
        cuts.append(out[3])
        return out

    monkeypatch.setattr(parts, "advance_checkpoint", checkpoint)
    monkeypatch.setattr(parts, "isolate", isolate)
    with pytest.raises(CopyError, match="23"):  # stops at the bad row's batch; the batches before it stay
        migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=1000))
    state = read_state(pg_db)
    assert state is not None and 0 < state["tables"]["files"]["rows_done"] == sum(commits) < 23
    result = migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=1000, on_error="skip", rejects_dir=tmp_path))
    assert [(t.rows, t.rejected) for t in result.tables] == [(39, 1)]
    assert sum(commits) == 40 and len(commits) >= 6 and max(commits) <= 7  # rows of 200 KB, batches of 1 MB
    assert cuts and all(cuts)  # a failed batch was read again only up to the budget (the text form is bigger)
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT id, length(data), get_byte(data, 0) FROM files ORDER BY id")
        assert cur.fetchall() == [(i, 200 << 10, i) for i in range(1, 41) if i != 23]
    conn.close()
