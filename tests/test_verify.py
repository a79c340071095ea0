"""Verification against a real PostgreSQL: a clean migration verifies, and each kind of tampering is caught
with the row named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from tests.test_data_copy import EDGE_ROWS, EDGE_SCRIPT
from wizard.data_copy.model import CopyOptions
from wizard.data_copy.run import migrate
from wizard.plan.planner import build_plan, parse_overrides
from wizard.target.connection import ConnectionSpec
from wizard.verify.report import render_markdown, render_text, write_report
from wizard.verify.results import VerifyReport
from wizard.verify.run import verify

SCRIPT = """
CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, active BOOLEAN,
                    seen_at DATETIME, data BLOB, note TEXT);
CREATE TABLE log (msg TEXT, n INTEGER);
"""


def _items() -> list[tuple[object, ...]]:
    return [(i, f"name-{i}", i % 2, f"2024-03-{1 + i % 28:02d} 10:{i % 60:02d}:00", bytes([i % 256, 0, 255]),
             "" if i % 5 == 0 else f"note {i}") for i in range(1, 61)]


@pytest.fixture
def migrated(make_sqlite, pg_db: ConnectionSpec):  # type: ignore[no-untyped-def]
    path = make_sqlite(SCRIPT, {"items": _items(), "log": [("hello", 1), ("hello", 1), ("bye", 2)]})
    plan = build_plan(path, overrides=parse_overrides([]))
    result = migrate(plan, pg_db, CopyOptions(jobs=2, batch_size=16))
    assert result.rejected == 0 and result.failed_statements == []
    return plan, pg_db


def _tamper(spec: ConnectionSpec, statement: str) -> None:
    conn = psycopg2.connect(**spec.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.commit()
    conn.close()


def _table(report: VerifyReport, name: str):  # type: ignore[no-untyped-def]
    return next(t for t in report.tables if t.name == name)


def test_untampered_migration_verifies_clean(migrated) -> None:  # type: ignore[no-untyped-def]
    plan, spec = migrated
    report = verify(plan, spec, jobs=2)  # worker processes, as the CLI runs it
    assert report.ok, render_text(report)
    items = _table(report, "items")
    assert (items.source_rows, items.target_rows, items.differences) == (60, 60, [])
    assert items.source_checksum == items.target_checksum and len(items.source_checksum) == 16
    names = {(c.name, c.table) for c in report.checks}
    assert {("sequence", "items"), ("primary_key", "items"), ("rejected_rows", None), ("snapshot", None)} <= names


@pytest.mark.parametrize(("statement", "kind", "key", "column", "source", "target"), [
    ("DELETE FROM items WHERE id = 7", "missing", "7", None, None, None),
    ("INSERT INTO items (id, name) VALUES (1000, 'intruder')", "extra", "1000", None, None, None),
    ("UPDATE items SET name = 'name-l3' WHERE id = 13", "changed", "13", "name", "name-13", "name-l3"),
    ("UPDATE items SET active = NOT active WHERE id = 4", "changed", "4", "active", "f", "t"),
    ("UPDATE items SET seen_at = seen_at + interval '1 second' WHERE id = 5", "changed", "5", "seen_at",
     "2024-03-06 10:05:00", "2024-03-06 10:05:01"),
    ("UPDATE items SET data = '\\x0600fe'::bytea WHERE id = 6", "changed", "6", "data", "0600ff", "0600fe"),
    ("UPDATE items SET note = NULL WHERE id = 10", "changed", "10", "note", "", None),
], ids=["deleted-row", "extra-row", "one-character", "flipped-boolean", "timestamp-plus-1s", "blob-byte",
        "empty-to-null"])
def test_tampering_is_caught_and_the_row_named(migrated, statement, kind, key, column, source,  # type: ignore[no-untyped-def]
                                               target) -> None:
    plan, spec = migrated
    _tamper(spec, statement)
    report = verify(plan, spec, jobs=1)
    assert not report.ok
    items = _table(report, "items")
    assert not items.ok and items.source_checksum != items.target_checksum
    assert [(d.kind, d.key) for d in items.differences] == [(kind, {"id": key})]
    if column is not None:
        assert [(c.column, c.source, c.target) for c in items.differences[0].columns] == [(column, source, target)]
    assert _table(report, "log").ok  # the other table is untouched and says so


def test_sequence_reset_too_low_is_caught(migrated) -> None:  # type: ignore[no-untyped-def]
    plan, spec = migrated
    _tamper(spec, "SELECT setval(pg_get_serial_sequence('items', 'id'), 5)")
    report = verify(plan, spec, jobs=1)
    assert not report.ok and all(t.ok for t in report.tables)
    seq = next(c for c in report.checks if c.name == "sequence" and c.table == "items")
    assert not seq.ok and "next id is 6" in seq.detail and "60 is already used" in seq.detail


def test_keyless_table_counts_duplicates(migrated) -> None:  # type: ignore[no-untyped-def]
    plan, spec = migrated
    _tamper(spec, "DELETE FROM log WHERE ctid = (SELECT min(ctid) FROM log WHERE msg = 'hello')")
    report = verify(plan, spec, jobs=1)
    log = _table(report, "log")
    assert (log.source_rows, log.target_rows, log.ok) == (3, 2, False)
    assert [(d.kind, d.key, d.count) for d in log.differences] == [("missing", {"msg": "hello", "n": "1"}, 1)]


def test_dropped_foreign_key_and_index_are_reported(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    path = make_sqlite("CREATE TABLE a (id INTEGER PRIMARY KEY, code TEXT UNIQUE);"
                       "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id));"
                       "INSERT INTO a VALUES (1, 'x'); INSERT INTO b VALUES (1, 1);")
    plan = build_plan(path)
    migrate(plan, pg_db, CopyOptions(jobs=1))
    assert verify(plan, pg_db, jobs=1).ok
    fk = plan.table("b").foreign_keys[0].name
    ix = plan.table("a").indexes[0]
    assert ix.constraint  # the column's UNIQUE is a constraint in PostgreSQL too
    _tamper(pg_db, f'ALTER TABLE b DROP CONSTRAINT "{fk}"; ALTER TABLE a DROP CONSTRAINT "{ix.name}"')
    report = verify(plan, pg_db, jobs=1)
    failed = {(c.name, c.table) for c in report.checks if not c.ok}
    assert failed == {("foreign_key", "b"), ("index", "a")} and not report.ok


def test_edge_values_verify_clean(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    """Every converted type compares equal: jsonb's normalisation, offsets as instants, NaN, ±Inf, NUL fixes."""
    path = make_sqlite(EDGE_SCRIPT, {"edge": EDGE_ROWS})
    plan = build_plan(path)
    migrate(plan, pg_db, CopyOptions(jobs=1))
    report = verify(plan, pg_db, jobs=1)
    assert report.ok, render_text(report)
    _tamper(pg_db, "UPDATE edge SET js = '{\"a\": [1, 3]}' WHERE id = 1")
    report = verify(plan, pg_db, jobs=1)
    diff = _table(report, "edge").differences
    assert [(d.key, d.columns[0].source, d.columns[0].target) for d in diff] == [
        ({"id": "1"}, '{"a":[1,2]}', '{"a":[1,3]}')]


TIMES_SCRIPT = """
CREATE TABLE t (id INTEGER PRIMARY KEY, ts DATETIME, tz TIMESTAMPTZ, d DATE, tm TIME, n NUMERIC(10,3), m NUMERIC);
"""
TIMES_ROWS = [
    (1, "2024-01-02T03:04", "2024-01-02T03:04:05Z", "2024-01-02", "10:00", "007.50", "0012.5000"),
    (2, "2024-01-02", "2024-01-02 03:04:05.120+02:00", "1999-12-31", "10:00:00.500", "-0.0", "-0.000"),
    (3, "2024-01-02 03:04:05.500", "2024-06-01T00:00:00-05:30", None, "23:59:59.999999", 100, 100),
    (4, "2024-01-02 03:04:05.000", None, "0999-01-01", None, 1.5, 12345.678),
    (5, "0999-01-01 00:00:00", 1700000000, "2024-02-29", "00:00:00", "1e3", "-12.340"),
    (6, 1700000000.25, "2000-01-01T00:00:00.000001+00:00", "2024-01-02", "12:30:45.1", None, 0.1),
    (7, "2024-02-29 23:59:59.9999995", "2024-01-01T00:00:00+00:00", "2024-01-03", "01:02", "-99.999", "1e-5"),
    (8, None, "2024-03-01 12:00:00", "2024-01-04", "01:02:03", 0, 0),
]


def test_times_and_numbers_verify_clean_in_every_written_form(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    """verify reads times and numbers as PostgreSQL's text and rewrites the source's written forms to it: every
    form an app stores must compare equal, and a change in the last digit must not."""
    path = make_sqlite(TIMES_SCRIPT, {"t": TIMES_ROWS})
    plan = build_plan(path)
    result = migrate(plan, pg_db, CopyOptions(jobs=1))
    assert result.rejected == 0
    report = verify(plan, pg_db, jobs=1)
    assert report.ok, render_text(report)
    _tamper(pg_db, "UPDATE t SET n = n + 0.001, ts = ts + interval '1 microsecond' WHERE id = 3")
    diff = _table(verify(plan, pg_db, jobs=1), "t").differences
    assert [(d.key, [(c.column, c.source, c.target) for c in d.columns]) for d in diff] == [
        ({"id": "3"}, [("ts", "2024-01-02 03:04:05.5", "2024-01-02 03:04:05.500001"), ("n", "100", "100.001")])]


def test_report_files_and_cli_exit_codes(migrated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plan, spec = migrated
    _tamper(spec, "DELETE FROM items WHERE id = 7")
    report = verify(plan, spec, jobs=1)
    write_report(report, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["ok"] is False and set(data) >= {"ok", "tables", "checks"}
    t = next(t for t in data["tables"] if t["name"] == "items")
    assert set(t) >= {"name", "source_rows", "target_rows", "source_checksum", "target_checksum", "ok",
                      "differences"}
    assert t["differences"][0]["kind"] == "missing" and t["differences"][0]["key"] == {"id": "7"}
    md = render_markdown(report)
    assert "NOT verified" in md and "missing  id='7'" in md
    write_report(report, tmp_path / "r.md")
    assert (tmp_path / "r.md").read_text() == md
    with pytest.raises(Exception, match="must end in .json or .md"):
        write_report(report, tmp_path / "r.txt")

    base = [sys.executable, "-m", "wizard", "verify", plan.source_path, "--target", spec.url(mask=False)]
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([*base, "--jobs", "1", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["ok"] is False
    assert spec.password not in out.stdout + out.stderr
    _tamper(spec, "INSERT INTO items SELECT 7, 'name-7', true, '2024-03-08 10:07:00', '\\x0700ff'::bytea, 'note 7'")
    out = subprocess.run([*base, "--report", str(tmp_path / "ok.md")], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verified: every row arrived" in out.stdout and (tmp_path / "ok.md").exists()


def test_many_small_tables_share_connections(make_sqlite, pg_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The scans of small tables come in bundles whose target scans share one connection: hundreds of tables
    must not mean hundreds of connections. A change in one of them is still found."""
    from wizard.verify import scan as verify_scan

    script = "".join(f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT);" for i in range(40))
    path = make_sqlite(script, {f"t{i}": [(j, f"v{i}-{j}") for j in range(1, 6)] for i in range(40)})
    plan = build_plan(path)
    migrate(plan, pg_db, CopyOptions(jobs=2))
    _tamper(pg_db, "UPDATE t37 SET v = 'changed' WHERE id = 3")
    opened = []
    real = verify_scan._verify_connection

    def counting(spec):  # type: ignore[no-untyped-def]
        opened.append(spec)
        return real(spec)

    monkeypatch.setattr(verify_scan, "_verify_connection", counting)
    report = verify(plan, pg_db, jobs=1)  # in this process, where the count is kept
    assert [t.name for t in report.tables if not t.ok] == ["t37"]
    assert [(d.kind, d.key) for d in _table(report, "t37").differences] == [("changed", {"id": "3"})]
    assert 1 <= len(opened) <= 8, len(opened)  # 80 scans in 3 bundles, then the bucket and collect passes


def test_rows_of_big_blobs_are_read_a_few_at_a_time(make_sqlite, pg_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Both sides of a table of big values are read in chunks of about _CHUNK_BYTES, so verify's memory stays
    bounded whatever the row size (it read 5000 rows at a time: 300 rows of 4 MB peaked near 5 GB). A tampered
    row among them is still found."""
    from wizard.verify import scan as verify_scan

    monkeypatch.setattr(verify_scan, "_CHUNK_BYTES", 1 << 20)
    blobs = [bytes([i]) * (200 << 10) for i in range(40)]
    path = make_sqlite("CREATE TABLE files (id INTEGER PRIMARY KEY, name TEXT, data BLOB);",
                       {"files": [(i + 1, f"f{i}", b) for i, b in enumerate(blobs)]})
    plan = build_plan(path)
    migrate(plan, pg_db, CopyOptions(jobs=1))
    chunks: list[int] = []
    real = verify_scan._chunk_bytes

    def spy(batch, wide):  # type: ignore[no-untyped-def]
        size = real(batch, wide)
        chunks.append(size)
        return size

    monkeypatch.setattr(verify_scan, "_chunk_bytes", spy)
    assert verify(plan, pg_db, jobs=1).ok  # one worker: the scans run in this process, where the spy is
    assert len(chunks) >= 2 * 8 and max(chunks) <= (1 << 20) + 2 * len(blobs[0])  # hex on the target side
    _tamper(pg_db, "UPDATE files SET data = set_byte(data, 1000, 7) WHERE id = 17")
    report = verify(plan, pg_db, jobs=1)
    assert not report.ok and "17" in json.dumps(_table(report, "files").__dict__, default=str)


def test_a_constraint_left_not_valid_is_reported_with_its_offending_keys(make_sqlite, pg_db) -> None:  # type: ignore[no-untyped-def]
    """verify, often run later than the copy, names the rows behind a NOT VALID foreign key or CHECK too."""
    path = make_sqlite("PRAGMA ignore_check_constraints = ON;"
                       "CREATE TABLE p (id INTEGER PRIMARY KEY);"
                       "CREATE TABLE ch (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p(id),"
                       " n INTEGER CHECK (n > 0));",
                       {"p": [(1,), (2,)], "ch": [(1, 1, 5), (2, 77, 5), (3, 2, -4), (4, 77, 5)]})
    plan = build_plan(path)
    migrate(plan, pg_db, CopyOptions(jobs=1))
    report = verify(plan, pg_db, jobs=1)
    failed = {c.name: c.detail for c in report.checks if not c.ok}
    assert failed["foreign_key"].startswith("ch_pid_fkey exists but is NOT VALID: 2 row(s) of ch refer to no row "
                                            "of p: (pid) = 77 (2 rows).")
    assert "1 row(s) of ch break CHECK (n > 0): (id) = 3." in failed["check"]
    assert not report.ok


def test_verify_against_the_built_in_server_does_not_create_the_database_it_checks(pg_server, monkeypatch,  # type: ignore[no-untyped-def]
                                                                                  make_sqlite) -> None:
    import uuid

    import pytest

    from wizard.cli.main import main as cli_main
    from wizard.target import local_server

    if pg_server.pgdata is None:
        pytest.skip("the test server is not the built-in one")
    monkeypatch.setattr(local_server, "default_data_dir", lambda: pg_server.pgdata)
    db = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY);", {"t": [(1,)]})
    name = f"never_made_{uuid.uuid4().hex[:8]}"
    code = cli_main(["verify", str(db), "--target", f"local/{name}"])
    assert code != 0
    conn = psycopg2.connect(**pg_server.admin.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
            assert cur.fetchone()[0] == 0
    finally:
        conn.close()
