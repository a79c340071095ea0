"""A big file is profiled by worker processes, a range of rows each: the plan must be the one a single pass
gives, to the order of the examples in its findings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wizard.plan import foreign_keys
from wizard.plan.planner import build_plan
from wizard.plan_model import save_plan
from wizard.source import profile_jobs

SCRIPT = """
CREATE TABLE mixed (id INTEGER PRIMARY KEY, price NUMERIC(6,2), at DATETIME, label TEXT COLLATE NOCASE,
                    flag BOOLEAN, doc JSON, data BLOB);
CREATE TABLE keyed (code TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID;
CREATE TABLE named (rowid TEXT, _rowid_ TEXT, v INTEGER);
CREATE TABLE badtext (id INTEGER PRIMARY KEY, note TEXT);
CREATE TABLE empty (id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE child (id INTEGER PRIMARY KEY, mixed_id INTEGER REFERENCES mixed(id), code TEXT REFERENCES keyed(code));
"""


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "ranges.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCRIPT)
    rows = []
    for i in range(1, 401):
        price = [12.5, 1, "9999.999", "abc", 1e9, 12][i % 6]  # ties of 1 and 1.0, and failures in every range
        at = ["2024-01-02 03:04:05", "2024-01-02T03:04:05+02:00", "yesterday", 1700000000][i % 4]
        label = ["picture", "Wire Images", "alpha", "é"][i % 4]
        doc = ['{"a": 1}', "[1,", "null", "{}"][i % 4]
        rows.append((i, price, at, label, i % 3 if i % 50 else "yes", doc, bytes([i % 256]) * (i % 5)))
    conn.executemany("INSERT INTO mixed VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.executemany("INSERT INTO keyed VALUES (?, ?)", [(f"k{i:04d}", i) for i in range(300)])
    conn.executemany("INSERT INTO named VALUES (?, ?, ?)", [("r", "s", i) for i in range(300)])
    conn.executemany("INSERT INTO badtext VALUES (?, ?)", [(i, f"note {i}") for i in range(1, 300)])
    conn.execute("INSERT INTO badtext VALUES (300, CAST(x'6361666509' || x'e9' AS TEXT))")  # not UTF-8, at the end
    # orphans of both foreign keys (7 and 3), counted by a worker beside the value checks
    conn.executemany("INSERT INTO child VALUES (?, ?, ?)", [(i, 1000 + i if i % 30 == 0 else i,
                                                             "nope" if i % 70 == 0 else f"k{i:04d}")
                                                            for i in range(1, 211)])
    conn.commit()
    conn.close()
    return path


def _plan_text(path: Path, jobs: int, out: Path) -> str:
    save_plan(build_plan(path, jobs=jobs), out)
    return out.read_text()


def test_ranges_on_worker_processes_give_the_single_pass_plan(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path)
    single = _plan_text(path, 1, tmp_path / "one.json")
    jobs: list[int] = []
    real = profile_jobs.run_jobs

    def counting(fn, items, **kw):  # type: ignore[no-untyped-def]
        jobs.append(len(items))
        return real(fn, items, **kw)

    monkeypatch.setattr(profile_jobs, "_PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(profile_jobs, "_RANGE_ROWS", 30)
    monkeypatch.setattr(profile_jobs, "run_jobs", counting)
    monkeypatch.setattr(foreign_keys, "fk_violation_counts", lambda *a: pytest.fail("foreign keys checked here"))
    ranged = _plan_text(path, 2, tmp_path / "two.json")
    assert jobs and jobs[0] > len(SCRIPT.split("CREATE TABLE")) - 1  # the big tables went in several ranges
    assert ranged == single
    assert '"violations": 7' in single and '"violations": 3' in single
    assert '"yesterday"' in single or "yesterday" in single  # the findings carry examples from the ranges


def test_a_small_file_is_profiled_without_worker_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path)
    monkeypatch.setattr(profile_jobs, "run_jobs", lambda *a, **k: pytest.fail("no worker processes for 1,500 rows"))
    build_plan(path, jobs=2)


def test_migrate_without_a_saved_plan_says_it_profiles_first(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from wizard.cli.commands import _plan_for
    from wizard.plan_model import default_plan_path

    path = _file(tmp_path)
    args = argparse.Namespace(sqlite_file=path, plan_file=None, jobs=1)
    _plan_for(args)
    assert "no saved plan: profiling the data of" in capsys.readouterr().err
    save_plan(build_plan(path, jobs=1), default_plan_path(path))
    _plan_for(args)
    assert capsys.readouterr().err == ""
