"""Open an SQLite file read-only and read it the way every stage does: in bounded chunks, by rowid ranges,
with invalid UTF-8 kept.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from wizard.errors import InputError
from wizard.source.sql_tokens import quote

SQLITE_MAGIC = b"SQLite format 3\x00"


ROWID_NAMES = ("rowid", "_rowid_", "oid")  # the names a rowid table's rowid answers to


def rowid_name(columns: Iterable[str]) -> str | None:
    """The name a rowid table's rowid answers to, given its column names; None when columns take all three."""
    taken = {c.lower() for c in columns}
    return next((n for n in ROWID_NAMES if n not in taken), None)


def rowid_ranges(conn: sqlite3.Connection, table: str, rowid: str, parts: int) -> list[tuple[int | None, int | None]]:
    """Rowid ranges (lo, hi] splitting the table's rowids into `parts` equal spans; open at both ends, so every
    row is in exactly one. `rowid` is the name the rowid answers to in this table."""
    lo, hi = rowid_bounds(conn, table, rowid)
    if lo is None or hi is None:
        return [(None, None)]
    bounds = sorted({lo - 1 + (hi - lo + 1) * i // parts for i in range(1, parts)})
    edges: list[int | None] = [None, *bounds, None]
    return list(zip(edges[:-1], edges[1:], strict=True))


def rowid_bounds(conn: sqlite3.Connection, table: str, rowid: str) -> tuple[int | None, int | None]:
    """The table's lowest and highest rowid (None, None when it is empty)."""
    # two queries: SQLite answers a lone min() or max() from the b-tree's ends, but scans the table for both
    lo = conn.execute(f"SELECT min({rowid}) FROM {quote(table)}").fetchone()[0]
    hi = conn.execute(f"SELECT max({rowid}) FROM {quote(table)}").fetchone()[0]
    return lo, hi


def fk_violation_counts(conn: sqlite3.Connection, table: str, keys: int) -> dict[int, int]:
    """The rows of `table` breaking each of its `keys` foreign keys (by their index in PRAGMA foreign_key_list's
    reverse order, which is declaration order), from PRAGMA foreign_key_check: SQLite does not enforce them
    unless asked. A key that cannot be checked (its parent table or column is missing) counts nothing."""
    counts: dict[int, int] = {}
    try:
        rows = conn.execute(f"PRAGMA foreign_key_check({quote(table)})").fetchall()
    except sqlite3.DatabaseError:
        return counts
    for _tbl, _rowid, _parent, fkid in rows:
        idx = keys - 1 - int(fkid) if fkid is not None else 0
        idx = idx if 0 <= idx < keys else 0
        counts[idx] = counts.get(idx, 0) + 1
    return counts


@contextlib.contextmanager
def text_factory(conn: sqlite3.Connection, factory: Any) -> Iterator[None]:
    """Read text with `factory` for a while (invalid UTF-8 must not abort a read that only looks)."""
    old = conn.text_factory
    conn.text_factory = factory
    try:
        yield
    finally:
        conn.text_factory = old


def escaped_text(data: bytes) -> str:
    """TEXT as str, invalid UTF-8 bytes kept as surrogates: a converter then decodes them the plan's way."""
    return data.decode("utf-8", "surrogateescape")


FIRST_CHUNK_ROWS = 1  # a reader's first chunk: one row, until it knows how big rows are (one may be 100 MB)


def next_chunk_rows(rows: int, nbytes: int, *, most: int, budget: int) -> int:
    """How many rows to fetch next, after a chunk of `rows` rows that made `nbytes` bytes: at most `most`, at most
    four times as many, and about `budget` bytes' worth. Rows of big values (attachments, documents) then come a
    few at a time, so memory stays bounded whatever the row size."""
    return max(1, min(most, 4 * rows, int(budget * rows / (nbytes + rows))))


def open_readonly(path: Path | str, *, leave_no_files: bool = False) -> sqlite3.Connection:
    """Open an SQLite file without any chance of writing to it; bad input becomes an InputError.

    leave_no_files: a WAL-mode file that no program has open (no -wal beside it) is read as immutable, since even
    a read-only connection would create -wal and -shm files beside it and, unable to checkpoint, leave them there.
    Not for the snapshot's read, which must stay consistent if the application starts writing meanwhile."""
    p = Path(path)
    hint = "Pick the application's database file (often *.db, *.sqlite or *.sqlite3)."
    if not p.exists():
        raise InputError(f"{p} does not exist.", title="No such file", hint=hint)
    if p.is_dir():
        raise InputError(f"{p} is a folder, not an SQLite file.", title="Not a file", hint=hint)
    try:
        with open(p, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise InputError(f"{p} cannot be read: {exc.strerror}.", title="Unreadable file",
                         hint="Check the file's permissions, or copy it somewhere readable.") from None
    if not head:
        raise InputError(f"{p} is empty (0 bytes): there is no database in it.", title="Empty file", hint=hint)
    if not head.startswith(SQLITE_MAGIC):
        raise InputError(f"{p} is not an SQLite database (its header is not 'SQLite format 3').",
                         title="Not an SQLite file", hint=hint)
    uri = p.absolute().as_uri() + "?mode=ro"
    if leave_no_files and head[18:20] == b"\x02\x02" and not Path(f"{p}-wal").exists():
        uri += "&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = 1")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise db_error(p, exc) from None
    return conn


def db_error(p: Path, exc: sqlite3.Error) -> InputError:
    msg = str(exc)
    if "locked" in msg or "busy" in msg:
        return InputError(f"{p} is locked by another program.", title="Database locked",
                          hint="Close the application using it (or wait for its write to finish), then retry.")
    if "malformed" in msg or "not a database" in msg or "corrupt" in msg:
        return InputError(f"{p} is damaged: SQLite says '{msg}'.", title="Corrupt database",
                          hint="Restore a backup, or try 'sqlite3 FILE .recover > dump.sql' to salvage it.")
    return InputError(f"{p} could not be opened: {msg}.", title="Cannot open database",
                      hint="Check the file is a complete SQLite database and readable.")
