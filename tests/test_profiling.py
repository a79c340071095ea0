"""The profile's value checks take a bulk path for timestamp text; it must count exactly what the converter,
value by value, counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_copy_fast_paths import stamps
from wizard import profiling
from wizard.profiling import Candidate, ColumnProfile, aggregate_profile, check_values

texts = st.one_of(stamps, st.none(), st.sampled_from([
    "2024-02-30 10:00", "2024-13-01", "0000-01-01 00:00:00", "2024-01-01 24:00:00", "2024-01-02", "10:00",
    "2024-01-02T03:04", "not a date", "", "2024-01-02 03:04:05.1234567", "1999-12-31 23:59:59.000"]))


def _profile(path: Path, bulk: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, ColumnProfile]:
    if not bulk:
        monkeypatch.setattr(profiling, "_all_plain_timestamps", lambda present, kinds: False)
    conn = sqlite3.connect(path)
    try:
        profiles = aggregate_profile(conn, "t", ["at"])
        check_values(conn, "t", {"at": [Candidate("timestamp"), Candidate("timestamptz")]}, profiles)
    finally:
        conn.close()
    monkeypatch.undo()
    return profiles


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.lists(texts, min_size=1, max_size=30), plain=st.lists(stamps, max_size=30))
def test_bulk_timestamp_checks_count_like_the_converter(chunk, plain, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.db"
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (at DATETIME)")
    # a plain chunk (the bulk path) and a mixed one (value by value): 5000 rows are read at a time
    conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in (plain * (5000 // max(1, len(plain))))[:5000]])
    conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in chunk])
    conn.commit()
    conn.close()
    fast = _profile(path, True, monkeypatch)["at"].checks
    slow = _profile(path, False, monkeypatch)["at"].checks
    assert fast == slow


def test_plain_timestamp_chunks_take_the_bulk_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (at DATETIME)")
    rows = [(f"2024-01-{1 + i % 28:02d} 10:00:{i % 60:02d}.5",) for i in range(6000)]
    conn.executemany("INSERT INTO t VALUES (?)", [*rows, (None,), ("2024-01-02T03:04:05+02:00",), ("yesterday",)])
    conn.commit()
    conn.close()
    answers: list[bool] = []
    real = profiling._all_plain_timestamps

    def spy(present, kinds):  # type: ignore[no-untyped-def]
        answers.append(real(present, kinds))
        return answers[-1]

    monkeypatch.setattr(profiling, "_all_plain_timestamps", spy)
    fast = _profile(path, True, monkeypatch)["at"].checks
    assert answers == [True, False]  # the first 5000 in bulk; the last chunk holds an offset and a non-date
    slow = _profile(path, False, monkeypatch)["at"].checks
    assert fast == slow
    assert fast["timestamptz"].with_offset == 1 and fast["timestamptz"].failures == 1
