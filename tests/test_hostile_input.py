"""Hostile and broken input: a clear message and exit 2 (or a finding), nothing lost, nothing half-written; and
random tables that round-trip and verify."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings

from tests.test_schema_property import tables as random_tables
from wizard.cli.main import main
from wizard.data_copy.model import CopyOptions
from wizard.data_copy.run import migrate
from wizard.plan.planner import build_plan
from wizard.target.connection import ConnectionSpec
from wizard.verify.report import render_text
from wizard.verify.run import verify


def _user_tables(spec: ConnectionSpec) -> list[str]:
    conn = psycopg2.connect(**spec.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT schemaname || '.' || tablename FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
        out = [r[0] for r in cur.fetchall()]
    conn.close()
    return out


def _good_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", ((i, "x" * 200) for i in range(2000)))
    conn.commit()
    conn.close()
    return path


def _broken(kind: str, tmp: Path) -> Path:
    path = tmp / f"{kind}.db"
    if kind == "not-sqlite":
        path.write_text("id,name\n1,alice\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        good = _good_db(tmp / "good.db").read_bytes()
        path.write_bytes(good[:5000])
    elif kind == "corrupt":
        data = bytearray(_good_db(tmp / "good.db").read_bytes())
        data[4096:12288] = b"\xde\xad\xbe\xef" * 2048  # pages after the header are garbage
        path.write_bytes(bytes(data))
    elif kind == "folder":
        path.mkdir()
    elif kind == "no-tables":
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA user_version = 7")
        conn.commit()
        conn.close()
    elif kind == "missing":
        pass
    return path


@pytest.mark.parametrize("kind", ["not-sqlite", "empty", "truncated", "corrupt", "folder", "no-tables", "missing"])
def test_broken_sources_exit_2_and_leave_the_target_untouched(kind: str, tmp_path: Path, pg_db: ConnectionSpec,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = _broken(kind, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["migrate", str(path), "--target", pg_db.url(mask=False)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error: " in err and "next step:" in err and "Traceback" not in err
    assert _user_tables(pg_db) == []  # nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no snapshot or plan left behind


def test_locked_source_is_explained(tmp_path: Path, pg_db: ConnectionSpec, capsys: pytest.CaptureFixture[str]) -> None:
    path = _good_db(tmp_path / "app.db")
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # an app in the middle of a long write, rollback-journal mode
    try:
        code = main(["migrate", str(path), "--target", pg_db.url(mask=False)])
    finally:
        holder.rollback()
        holder.close()
    err = capsys.readouterr().err
    assert code == 2 and "locked" in err and "next step:" in err
    assert _user_tables(pg_db) == []


HOSTILE = ['we"ird', "has space", "ünïcødé表", "select", "x; DROP TABLE canary; --", "L" * 70, "Mixed'Case"]


def test_hostile_identifiers_and_a_wide_table_round_trip(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    """Every name reaches PostgreSQL quoted (psycopg2.sql): the canary survives and every table verifies."""
    path = tmp_path / "hostile.db"
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE canary (id INTEGER PRIMARY KEY, v TEXT)')
    conn.execute("INSERT INTO canary VALUES (1, 'alive')")
    for name in HOSTILE:
        q = '"' + name.replace('"', '""') + '"'
        cols = ", ".join('"' + (n + "_c").replace('"', '""') + '" TEXT' for n in HOSTILE)
        conn.execute(f"CREATE TABLE {q} (id INTEGER PRIMARY KEY, {cols})")
        conn.execute(f"INSERT INTO {q} VALUES (1, {', '.join('?' * len(HOSTILE))})", HOSTILE)
    wide = ", ".join(f"c{i} TEXT" for i in range(1100))
    conn.execute(f"CREATE TABLE wide (id INTEGER PRIMARY KEY, {wide})")
    conn.executemany(f"INSERT INTO wide VALUES ({', '.join('?' * 1101)})",
                     [[r] + [f"{r}-{i}" for i in range(1100)] for r in range(1, 4)])
    conn.commit()
    conn.close()
    plan = build_plan(path)
    result = migrate(plan, pg_db, CopyOptions(jobs=2))
    assert result.failed_statements == [] and result.rejected == 0
    report = verify(plan, pg_db, jobs=1)
    assert report.ok, render_text(report)
    assert {t.name for t in report.tables} >= {"canary", "wide", 'we"ird', "x; drop table canary; --"}
    c = psycopg2.connect(**pg_db.connect_kwargs())
    with c.cursor() as cur:
        cur.execute("SELECT v FROM canary")
        assert cur.fetchall() == [("alive",)]
    c.close()


def test_a_row_too_wide_for_postgresql_is_a_finding_and_a_clear_error(tmp_path: Path, pg_db: ConnectionSpec,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wide.db"
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE wide (id INTEGER PRIMARY KEY, {', '.join(f'c{i} INTEGER' for i in range(1100))})")
    conn.execute(f"INSERT INTO wide VALUES ({', '.join('?' * 1101)})", list(range(1101)))
    conn.commit()
    conn.close()
    finding = next(f for f in build_plan(path).findings if f.code == "row_too_wide")
    assert finding.severity == "error" and "8,160" in finding.message
    code = main(["migrate", str(path), "--target", pg_db.url(mask=False)])
    err = capsys.readouterr().err
    assert code == 1 and "row is too big" in err and "table wide" in err and "next step:" in err


def test_hostile_values_convert_or_are_reported(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    """NUL bytes, invalid UTF-8, a 100 MB BLOB, 64-bit limits, NaN/Infinity, dates PostgreSQL cannot hold and mixed
    storage classes: each loads exactly or has a finding, and the migration verifies."""
    path = tmp_path / "values.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE v (id INTEGER PRIMARY KEY, t TEXT, n INTEGER, r REAL, b BLOB, d DATETIME, mixed)")
    big = bytes(range(256)) * (100 * 1024 * 1024 // 256)
    rows = [
        (1, "nul\x00inside", 2**63 - 1, float("inf"), big, "2024-01-01 00:00:00", 1),
        (2, None, -(2**63), float("-inf"), b"", "0000-01-01 00:00:00", "text"),
        (3, "ok", 0, None, b"\x00", "9999-12-31 23:59:59", b"\x01\x02"),
        (4, "NaN", 5, 1.5, None, "294277-01-01", 2.5),
    ]
    conn.executemany("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO v VALUES (5, CAST(x'66f6ff' AS TEXT), NULL, 'NaN', NULL, NULL, NULL)")  # bad UTF-8
    conn.commit()
    conn.close()
    plan = build_plan(path)
    codes = {(f.code, f.column) for f in plan.findings}
    assert any(c == "t" for _, c in codes) and any(c == "d" for _, c in codes) and any(c == "mixed" for _, c in codes)
    result = migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=2))
    assert result.rejected == 0 and result.failed_statements == []
    report = verify(plan, pg_db, jobs=1)
    assert report.ok, render_text(report)
    c = psycopg2.connect(**pg_db.connect_kwargs())
    with c.cursor() as cur:
        cur.execute("SELECT length(b), md5(b), n FROM v WHERE id = 1")
        length, digest, n = cur.fetchone()
        assert length == len(big) and n == 2**63 - 1
        import hashlib

        assert digest == hashlib.md5(big).hexdigest()
    c.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=random_tables)
def test_random_tables_round_trip_and_verify(spec: list[tuple[str, list[object]]], pg_db: ConnectionSpec) -> None:
    from tests.test_schema_property import _build

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.db"
        _build(spec, path)
        plan = build_plan(path)
        conn = psycopg2.connect(**pg_db.connect_kwargs())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("DROP SCHEMA IF EXISTS pgmigrate CASCADE; DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        conn.close()
        result = migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=3, backup_dir=Path(d)))
        assert result.rejected == 0
        assert [r.error for r in result.failed_statements] == []
        report = verify(plan, pg_db, jobs=1)
        assert report.ok, render_text(report)


def test_plan_file_edited_into_nonsense_is_refused(tmp_path: Path, pg_db: ConnectionSpec,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = _good_db(tmp_path / "app.db")
    plan_file = tmp_path / "app.db.pgmigrate.json"
    plan_file.write_text('{"format": 1, "tables": "all of them"}')
    code = main(["migrate", str(path), "--target", pg_db.url(mask=False)])
    err = capsys.readouterr().err
    assert code == 2 and "plan" in err.lower() and "next step:" in err
    assert _user_tables(pg_db) == []


def test_malformed_dsn_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _good_db(tmp_path / "app.db")
    for bad in ("postgresql://u@host:notaport/db", "mysql://u@h/db", "host=x port=", ""):
        code = main(["migrate", str(path), "--target", bad])
        err = capsys.readouterr().err
        assert code == 2 and "next step:" in err and "Traceback" not in err, (bad, err)



def test_infinity_in_a_numeric_column_with_a_precision_widens_it(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    """numeric(p,s) holds NaN but no infinity: such a column becomes plain numeric, and the values arrive."""
    path = tmp_path / "inf.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, price NUMERIC(8,2))")
    conn.executemany("INSERT INTO m VALUES (?, ?)", [(1, float("inf")), (2, 12.5), (3, float("-inf"))])
    conn.commit()
    conn.close()
    plan = build_plan(path)
    assert plan.table("m").column("price").pg_type == "numeric"
    assert migrate(plan, pg_db, CopyOptions(jobs=1)).rejected == 0
    assert verify(plan, pg_db, jobs=1).ok
    c = psycopg2.connect(**pg_db.connect_kwargs())
    with c.cursor() as cur:
        cur.execute("SELECT array_agg(price::text ORDER BY id) FROM m")
        assert cur.fetchone() == (["Infinity", "12.5", "-Infinity"],)
    c.close()
