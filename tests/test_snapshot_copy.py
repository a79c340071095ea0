"""The snapshot of a rollback-journal file is the file itself, copied by the kernel under SQLite's read lock, so an
application's writes wait until it is taken; a file whose committed data is (partly) in its -wal, or that a writer
has a journal for, is taken through SQLite's backup API instead."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from wizard.source import snapshot

_WRITE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=0)
try:
    conn.execute("INSERT INTO t (v) VALUES ('during')")
    conn.commit()
    print("written")
except sqlite3.OperationalError as exc:
    print(exc)
"""


def _rows(path: Path | str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT v FROM t ORDER BY id")]
    finally:
        conn.close()


def _source(path: Path, journal: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode = {journal}")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"row {i}",) for i in range(2000)])
    conn.commit()
    return conn


def test_a_writer_waits_while_the_file_is_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "app.db"
    _source(path, "DELETE").close()
    real_copy = snapshot.shutil.copyfile
    seen: list[str] = []

    def copy_while_an_app_writes(src, dst):  # type: ignore[no-untyped-def]
        # another process (SQLite's locks are per process) tries to commit while the copy runs
        seen.append(subprocess.run([sys.executable, "-c", _WRITE, str(path)], capture_output=True, text=True,
                                   timeout=60).stdout.strip())
        return real_copy(src, dst)

    monkeypatch.setattr(snapshot.shutil, "copyfile", copy_while_an_app_writes)
    snap = snapshot.completed(snapshot.take_snapshot(path, tmp_path / "snaps"))
    assert seen == ["database is locked"]  # the copy was taken, and the app could not commit meanwhile
    assert _rows(snap.path) == [f"row {i}" for i in range(2000)]
    assert snapshot.file_sha256(Path(snap.path)) == snapshot.file_sha256(path)  # the file itself
    assert subprocess.run([sys.executable, "-c", _WRITE, str(path)], capture_output=True, text=True,
                          timeout=60).stdout.strip() == "written"  # and can once it is taken


@pytest.mark.parametrize("journal", ["WAL", "DELETE"])
def test_committed_rows_a_copy_of_the_file_would_miss_are_in_the_snapshot(tmp_path: Path, journal: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """WAL: rows committed but not checkpointed live in the -wal; DELETE: a writer's open transaction (its
    journal beside the file, its pages maybe spilled). Both are taken by the backup API, never by copying the
    file, and hold exactly the committed rows."""
    path = tmp_path / "app.db"
    conn = _source(path, journal)
    if journal == "WAL":
        conn.execute("INSERT INTO t (v) VALUES ('in the wal')")
        conn.commit()
        expected = [*(f"row {i}" for i in range(2000)), "in the wal"]
    else:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (v) VALUES ('not committed')")
        conn.execute("PRAGMA cache_size = 1")
        expected = [f"row {i}" for i in range(2000)]

    def refuse(src, dst):  # type: ignore[no-untyped-def]
        raise AssertionError("the file was copied as it is")

    monkeypatch.setattr(snapshot.shutil, "copyfile", refuse)
    try:
        snap = snapshot.completed(snapshot.take_snapshot(path, tmp_path / "snaps"))
        assert _rows(snap.path) == expected
    finally:
        conn.rollback()
        conn.close()
