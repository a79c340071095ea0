"""The source's folder gets no new files from plan, inspect or verify, even for a WAL-mode database (whose
readers would otherwise leave -wal and -shm files beside it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from wizard.cli.main import main
from wizard.target.connection import ConnectionSpec


def _wal_database(folder: Path) -> Path:
    path = folder / "app.db"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, created TEXT)")
    conn.executemany("INSERT INTO notes VALUES (?, ?, ?)", [(i, f"note {i}", "2024-01-02 03:04:05")
                                                           for i in range(1, 501)])
    conn.commit()
    conn.close()
    assert sorted(p.name for p in folder.iterdir()) == ["app.db"]  # the last close removed -wal and -shm
    return path


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_plan_inspect_and_verify_leave_the_folder_as_it_was(tmp_path: Path, pg_db: ConnectionSpec,
                                                              capsys) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "app"
    folder.mkdir()
    db = _wal_database(folder)
    assert main(["inspect", str(db)]) == 0
    assert main(["plan", str(db)]) == 0
    assert main(["plan", str(db), "--json"]) == 0
    assert _names(folder) == ["app.db"]
    target = pg_db.url(mask=False)
    assert main(["migrate", str(db), "--target", target, "--yes"]) == 0
    after_migrate = _names(folder)
    assert [n for n in after_migrate if n.endswith(".sqlite")], "the snapshot is kept beside the source"
    assert main(["verify", str(db), "--target", target]) == 0
    assert _names(folder) == after_migrate
    capsys.readouterr()
