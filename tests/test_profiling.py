"""The profile's value checks take a bulk path for timestamp text; it must count exactly what the converter,
value by value, counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.test_copy_fast_paths import stamps
from wizard.source import profile as profiling
from wizard.source import profile_jobs, value_checks
from wizard.source.profile import ColumnProfile, aggregate_profile
from wizard.source.value_checks import Candidate, check_values

texts = st.one_of(stamps, st.none(), st.sampled_from([
    "2024-02-30 10:00", "2024-13-01", "0000-01-01 00:00:00", "2024-01-01 24:00:00", "2024-01-02", "10:00",
    "2024-01-02T03:04", "not a date", "", "2024-01-02 03:04:05.1234567", "1999-12-31 23:59:59.000"]))


def _profile(path: Path, bulk: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, ColumnProfile]:
    if not bulk:
        monkeypatch.setattr(value_checks, "_all_plain_timestamps", lambda present, kinds: False)
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
    real = value_checks._all_plain_timestamps

    def spy(present, kinds):  # type: ignore[no-untyped-def]
        answers.append(real(present, kinds))
        return answers[-1]

    monkeypatch.setattr(value_checks, "_all_plain_timestamps", spy)
    fast = _profile(path, True, monkeypatch)["at"].checks
    # the first 5000 in bulk (in growing chunks); the last chunk holds an offset and a non-date
    assert len(answers) > 1 and all(answers[:-1]) and answers[-1] is False
    slow = _profile(path, False, monkeypatch)["at"].checks
    assert fast == slow
    assert fast["timestamptz"].with_offset == 1 and fast["timestamptz"].failures == 1


def _table_t(path: Path, columns: list[list[object]]) -> tuple[sqlite3.Connection, list[str]]:
    """A fresh file at `path` with table t of the given columns (shorter ones padded with NULLs), open."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    names = [f"c{i}" for i in range(len(columns))]
    conn.execute(f"CREATE TABLE t ({', '.join(names)})")
    rows = max(map(len, columns))
    conn.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(names))})",
                     [tuple(col[r] if r < len(col) else None for col in columns) for r in range(rows)])
    conn.commit()
    return conn, names


# what SQLite stores: NaN becomes NULL, so none is drawn
stored = st.one_of(
    st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.sampled_from([0, 1, 2**63 - 1, -(2**63)]),
    st.floats(allow_nan=False), st.sampled_from([float("inf"), float("-inf"), 0.0, 1.0, -0.0]),
    st.text(), st.sampled_from(["", "\x00", "a\x00é", "é", "\U0001F600", "1", "abc"]),
    st.binary(max_size=8), st.sampled_from([b"", b"\x00", b"a"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=st.lists(st.lists(stored, max_size=12), min_size=1, max_size=3), chunk=st.integers(1, 7))
@example(columns=[[1.0, 1, 2, 2.0], [1, 1.0, "b", b"", "a"]], chunk=1)  # of equal values, the first is kept
def test_the_scan_counts_what_the_sql_aggregate_counts(columns, chunk, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Storage classes, NULLs, min/max across classes and chunks, lengths and NULs, non-ASCII, infinities, the
    largest integer: the Python scan and SQLite's expressions agree on every table."""
    path = tmp_path / "agg.db"
    conn, names = _table_t(path, columns)
    monkeypatch.setattr(profiling, "_SCAN_ROWS", chunk)  # several chunks: their results must combine
    try:
        # repr: 1 and 1.0 are equal, but not the same min() (the schema review shows it)
        assert repr(profiling._scan(conn, "t", names)) == repr(profiling.aggregate_profile_sql(conn, "t", names))
    finally:
        conn.close()


def test_invalid_utf8_is_counted_by_the_sql_aggregate(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (name TEXT, n INTEGER)")
    conn.executemany("INSERT INTO t VALUES (CAST(? AS TEXT), ?)", [(b"ok", 1), (b"caf\xe9", 2), (None, 3)])
    conn.commit()
    try:
        profiles = aggregate_profile(conn, "t", ["name", "n"])
        assert profiles == profiling.aggregate_profile_sql(conn, "t", ["name", "n"])
        assert profiles["name"].texts == 2 and profiles["name"].non_ascii == 1 and profiles["n"].integers == 3
    finally:
        conn.close()


def _chunk_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows of each chunk the profile's readers take from here on, in order."""
    rows: list[int] = []
    real_iter = profiling.Chunks.__iter__

    def counted(self):  # type: ignore[no-untyped-def]
        for chunk in real_iter(self):
            rows.append(len(chunk))
            yield chunk

    monkeypatch.setattr(profiling.Chunks, "__iter__", counted)
    return rows


def _conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """[how many values the profile's converters are given from here on]."""
    calls = [0]
    real = value_checks.converter

    def counting_converter(*args, **kwargs):  # type: ignore[no-untyped-def]
        fn = real(*args, **kwargs)

        def conv(v):  # type: ignore[no-untyped-def]
            calls[0] += 1
            return fn(v)
        return conv

    monkeypatch.setattr(value_checks, "converter", counting_converter)
    return calls


sizes: list[int] = []  # the chunks check_values read, in rows


def _numeric_checks(path: Path, monkeypatch: pytest.MonkeyPatch, bulk: bool) -> tuple[dict[str, object], int]:
    """The checks of numeric(12,2) and numeric on column p, and how many values the converters were given."""
    sizes[:] = []
    read = _chunk_rows(monkeypatch)
    calls = _conversions(monkeypatch)
    if not bulk:
        monkeypatch.setattr(value_checks, "numeric_texts", lambda precision, scale: lambda values: None)
    conn = sqlite3.connect(path)
    try:
        profiles = aggregate_profile(conn, "t", ["p"])
        check_values(conn, "t", {"p": [Candidate("numeric", precision=12, scale=2), Candidate("numeric")]}, profiles)
    finally:
        conn.close()
    monkeypatch.undo()
    sizes.extend(read)
    return dict(profiles["p"].checks), calls[0]


def test_chunks_of_numbers_a_numeric_takes_as_written_are_not_converted_one_by_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "n.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (p NUMERIC(12,2))")
    plain = [(round(i * 1.37, 2),) for i in range(5000)] + [(i,) for i in range(5000)]
    odd = [(12.5,), (1e300,), (float("inf"),), (1234567890123.5,), ("abc",), (None,), (0.001,)]
    conn.executemany("INSERT INTO t VALUES (?)", plain + odd)
    conn.commit()
    conn.close()
    fast, fast_calls = _numeric_checks(path, monkeypatch, bulk=True)
    slow, slow_calls = _numeric_checks(path, monkeypatch, bulk=False)
    assert fast == slow
    assert fast["numeric(12,2)"].failures == 4 and fast["numeric"].failures == 1  # type: ignore[attr-defined]
    assert slow_calls == 2 * 10006 and fast_calls == 2 * (sizes[-1] - 1)  # only the last chunk (one NULL)
    assert sizes[-1] < 10007 / 2


def test_text_read_only_for_its_utf8_is_decoded_one_by_one_only_when_invalid(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "u.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (name TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [(f"café {i}",) for i in range(5000)])
    conn.executemany("INSERT INTO t VALUES (CAST(? AS TEXT))", [(b"caf\xe9",), (b"ok",), ("\u00e9".encode(),)])
    conn.commit()
    answers: list[bool] = []
    real = value_checks._valid_utf8

    def spy(values):  # type: ignore[no-untyped-def]
        answers.append(real(values))
        return answers[-1]

    try:
        profiles = aggregate_profile(conn, "t", ["name"])
        monkeypatch.setattr(value_checks, "_valid_utf8", spy)
        check_values(conn, "t", {"name": []}, profiles)
        assert len(answers) > 1 and all(answers[:-1]) and answers[-1] is False
        assert profiles["name"].invalid_utf8 == 1
        monkeypatch.setattr(value_checks, "_valid_utf8", lambda values: False)  # value by value: the same count
        again = aggregate_profile(conn, "t", ["name"])
        check_values(conn, "t", {"name": []}, again)
        assert again["name"].invalid_utf8 == 1
    finally:
        conn.close()


def test_a_collated_column_takes_min_and_max_by_its_collation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NOCASE orders 'Wire' after 'picture'; byte order puts it before. The planner reads its candidates (dates,
    JSON) from min() and max(), so they are SQLite's."""
    from wizard.plan import planner

    path = tmp_path / "c.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, folder TEXT COLLATE NOCASE, plain TEXT)")
    conn.executemany("INSERT INTO t (folder, plain) VALUES (?, ?)",
                     [("picture", "picture"), ("Wire Images", "Wire Images"), ("alpha", "alpha")])
    conn.commit()
    try:
        profiles = aggregate_profile(conn, "t", ["id", "folder", "plain"], frozenset({"folder"}))
        assert repr(profiles) == repr(profiling.aggregate_profile_sql(conn, "t", ["id", "folder", "plain"]))
        assert (profiles["folder"].min_value, profiles["folder"].max_value) == ("alpha", "Wire Images")
        assert (profiles["plain"].min_value, profiles["plain"].max_value) == ("Wire Images", "picture")
    finally:
        conn.close()
    seen: list[frozenset[str]] = []
    real = profile_jobs.aggregate_profile

    def spy(conn, table, columns, collated=frozenset()):  # type: ignore[no-untyped-def]
        seen.append(collated)
        return real(conn, table, columns, collated)

    monkeypatch.setattr(profile_jobs, "aggregate_profile", spy)
    planner.build_plan(path)
    assert seen == [frozenset({"folder"})]


def test_the_scan_reads_rows_of_big_blobs_a_few_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays bounded by the chunk, whatever the rows hold: 1 MB BLOBs are read two at a time here, and a
    table of a thousand columns a few hundred rows at a time."""
    path = tmp_path / "big.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
    conn.executemany("INSERT INTO blobs (data) VALUES (?)", [(bytes([i]) * (1 << 20),) for i in range(40)])
    conn.execute(f"CREATE TABLE wide ({', '.join(f'c{i} INTEGER' for i in range(1000))})")
    conn.executemany(f"INSERT INTO wide VALUES ({', '.join('?' * 1000)})", [tuple(range(1000))] * 600)
    conn.commit()
    chunks: list[int] = []
    real_add = profiling.Tally.add

    def add(self, values):  # type: ignore[no-untyped-def]
        chunks.append(len(values))
        return real_add(self, values)

    monkeypatch.setattr(profiling.Tally, "add", add)
    monkeypatch.setattr(profiling, "_SCAN_BYTES", 2 << 20)
    try:
        profiles = aggregate_profile(conn, "blobs", ["id", "data"])
        assert profiles["data"].blobs == 40 and profiles["data"].nul_bytes == 1
        assert max(chunks) <= 16 and sum(chunks[1::2]) == 40 and max(chunks[2:]) <= 2, chunks
        chunks.clear()
        wide = aggregate_profile(conn, "wide", [f"c{i}" for i in range(1000)])
        assert wide["c999"].integers == 600
        assert max(chunks) <= 200
        read = _chunk_rows(monkeypatch)  # the value checks read the same way
        check_values(conn, "blobs", {"id": [], "data": [Candidate("bytea")]}, profiles)
        assert sum(read) == 40 and max(read[1:]) <= 2, read
        assert profiles["data"].checks["bytea"].failures == 0
    finally:
        conn.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(columns=st.lists(st.lists(stored, min_size=1, max_size=12), min_size=1, max_size=3),
       cuts=st.lists(st.integers(0, 12), max_size=3))
@example(columns=[[1, 1.0, 2.0, 2]], cuts=[1, 3])  # ties across ranges: the first stays
def test_ranges_merged_give_the_whole_tables_profile(columns, cuts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "r.db"
    conn, names = _table_t(path, columns)
    bounds = sorted(set(cuts))
    ranges = [profiling.RowRange("rowid", lo, hi) for lo, hi in zip([None, *bounds], [*bounds, None], strict=True)]
    try:
        whole = aggregate_profile(conn, "t", names)
        parts = [profile_jobs.run_profile_job(profile_jobs.ProfileJob(str(path), "t", names, r), None) for r in ranges]
        merged = profile_jobs.merged_profiles(names, parts)
        assert repr(merged) == repr(whole)
        wanted = {n: [Candidate("timestamp"), Candidate("json"), Candidate("numeric", precision=4, scale=1)]
                  for n in names}
        check_values(conn, "t", wanted, whole)
        checked = [profile_jobs.run_profile_job(profile_jobs.ProfileJob(str(path), "t", names, r, wanted, merged), None)
                   for r in ranges]
        profile_jobs.merge_checks(merged, checked)
        assert repr(merged) == repr(whole)
    finally:
        conn.close()


def test_a_bytea_candidate_takes_every_value_without_decoding_blobs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bytea takes any value, so a column of BLOBs (attachments) is not decoded and re-encoded value by value: a
    file of 4 MB BLOBs took 24 s to plan. Text in such a column is still counted when its UTF-8 is invalid."""
    path = tmp_path / "b.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (data BLOB)")
    conn.executemany("INSERT INTO t VALUES (?)", [(bytes([i % 256]) * 3000 + b"\xff",) for i in range(3000)])
    conn.commit()
    calls = _conversions(monkeypatch)
    try:
        profiles = aggregate_profile(conn, "t", ["data"])
        check_values(conn, "t", {"data": [Candidate("bytea")]}, profiles)
        assert calls[0] == 0 and profiles["data"].checks["bytea"].failures == 0  # type: ignore[attr-defined]
        conn.execute("CREATE TABLE notes (note TEXT)")
        conn.executemany("INSERT INTO notes VALUES (?)", [(f"caf\u00e9 {i}",) for i in range(3000)])
        conn.execute("INSERT INTO notes VALUES (CAST(? AS TEXT))", (b"caf\xe9",))  # invalid UTF-8
        notes = aggregate_profile(conn, "notes", ["note"])
        check_values(conn, "notes", {"note": [Candidate("bytea")]}, notes)
        assert notes["note"].invalid_utf8 == 1 and calls[0] == 0
    finally:
        conn.close()
