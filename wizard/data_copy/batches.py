"""One batch's rows: read from the snapshot after the part's checkpoint, in chunks bounded by rows and bytes,
and encoded in the table's COPY format (binary where every column has one, else text) as a file-like object
for copy_expert.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg2 import sql

from wizard.convert.binary_copy import HEADER, TRAILER, binary_rows, binary_table, encode_rows
from wizard.convert.text_copy import BadField, FieldEncoder, encode_columns
from wizard.data_copy.model import Part, cancelled
from wizard.plan import ddl
from wizard.plan_model import TablePlan
from wizard.source.sql_tokens import quote
from wizard.source.sqlite_file import FIRST_CHUNK_ROWS, escaped_text, next_chunk_rows, rowid_name, rowid_ranges

_FETCH = 2000  # rows per chunk, at most


_CHUNK_BYTES = 8 << 20  # bytes per encoded chunk, about: rows of big BLOBs come a few at a time


# bytes per batch, about: a batch of big rows ends early (each commits, and --on-error skip holds one in memory)
_BATCH_BYTES = 64 << 20


_MAX_PARTS = 64


def open_snapshot(path: str | Path, t: TablePlan, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open the snapshot read-only the way the copy reads table `t` (verify reads it the same way)."""
    src = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True, check_same_thread=check_same_thread)
    if any(c.text_fix == "replace" for c in t.columns):
        # keep invalid UTF-8 bytes as surrogates; the column's converter decodes them the plan's way
        src.text_factory = escaped_text
    return src


def batch_keys(t: TablePlan) -> list[str]:
    """What orders t's batches: the WITHOUT ROWID primary key, or the name t's rowid answers to; [] when every such
    name is a column's, which leaves the rowid unreachable (the batches then follow the table's scan order)."""
    if t.key_columns != ["rowid"]:
        return t.key_columns
    name = rowid_name(c.source for c in t.columns)
    return [name] if name else []


@dataclass(frozen=True)
class RowShape:
    """How a batch's rows come from SQLite: the `nkey` fields of the key, then the table's columns, except that the
    column which is the rowid itself (INTEGER PRIMARY KEY), when the rowid is the key, is read once, as the key,
    and put back among the columns at `alias_at`: a field less per row to read and convert."""

    nkey: int
    alias_at: int | None = None

    def key(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return row[:self.nkey]

    def columns(self, fields: Sequence[Any]) -> Sequence[Any]:
        """The fields of a row, or of a chunk given field by field, in the order of the table's columns."""
        if self.alias_at is None:
            return fields[self.nkey:]
        rest = fields[1:]
        return [*rest[:self.alias_at], fields[0], *rest[self.alias_at:]]

    def values(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """The row's values in the order of the table's columns."""
        return tuple(self.columns(row))


def row_shape(t: TablePlan, keys: list[str]) -> tuple[RowShape, str]:
    """The shape of t's batch rows for the batch keys `keys` (batch_keys), and the SQL list of the columns read
    after the key."""
    names = [c.source for c in t.columns]
    if t.key_columns == ["rowid"] and keys and t.rowid_alias in names and len(names) > 1:
        at = names.index(t.rowid_alias)
        return RowShape(1, at), ", ".join(quote(n) for i, n in enumerate(names) if i != at)
    # (a table in scan order is keyed by the row's position: one field)
    return RowShape(max(len(keys), 1)), ", ".join(quote(n) for n in names)


def batch_full(nbytes: int) -> bool:
    """Whether a batch of `nbytes` encoded bytes has reached its budget (it then ends before its LIMIT)."""
    return nbytes >= _BATCH_BYTES


def next_fetch(rows: int, nbytes: int, batch_bytes: int) -> int:
    """Rows for a batch's next chunk, after one of `rows` rows and `nbytes` bytes, with `batch_bytes` read so far:
    about _CHUNK_BYTES' worth, and no more than the batch's budget leaves, so the batch ends within a row of it."""
    return next_chunk_rows(rows, nbytes, most=_FETCH, budget=min(_CHUNK_BYTES, _BATCH_BYTES - batch_bytes))


class BatchReader:
    """File-like object for copy_expert: encodes rows of one batch in the table's COPY format, chunk by chunk."""

    def __init__(self, rows: sqlite3.Cursor, chunks: ChunkFormat, shape: RowShape,
                 stopped: Callable[[], bool], on_bad: Callable[[tuple[Any, ...], BadField], None],
                 on_rows: Callable[[int, int], None], fetch: int = FIRST_CHUNK_ROWS) -> None:
        self.rows = rows
        self.fetch = fetch  # rows the next chunk takes (next_chunk_rows; the part's next batch starts from it)
        self.chunks = chunks
        self.shape = shape
        self.stopped = stopped
        self.on_bad = on_bad
        self.on_rows = on_rows
        self.buf = bytearray(chunks.header)
        self.count = 0
        self.last_key: tuple[Any, ...] | None = None
        self.keys: list[Any] = []  # keys in COPY line order, to name a row PostgreSQL rejects
        self.failure: BaseException | None = None
        self.done = False
        self.cut = False  # the batch ended at _BATCH_BYTES, before its LIMIT: more rows follow
        self.nbytes = 0

    def key_of_line(self, line: int) -> tuple[Any, ...] | None:
        """The key of the row on COPY line `line` (1-based) of this batch."""
        if not 0 < line <= len(self.keys):
            return None
        key = self.keys[line - 1]
        return key if self.shape.nkey > 1 else (key,)

    def readline(self, size: int = -1) -> bytes:  # part of the file protocol; COPY FROM only calls read()
        return self.read(size if size > 0 else 65536)

    def read(self, size: int = 65536) -> bytes:
        try:
            while len(self.buf) < size and not self.done:
                if self.stopped():
                    raise cancelled()
                rows = self.rows.fetchmany(self.fetch)
                if not rows:
                    self.done = True
                    self.buf += self.chunks.trailer
                    break
                self._encode(rows)
                if batch_full(self.nbytes):
                    self.cut = self.done = True
                    self.buf += self.chunks.trailer
            out = bytes(self.buf[:size])
            del self.buf[:size]
            return out
        except BaseException as exc:
            # psycopg2 reports any error from read() as a generic COPY failure; keep the real one for the caller
            self.failure = exc
            raise

    def _encode(self, rows: list[tuple[Any, ...]]) -> None:
        fields = list(zip(*rows, strict=True))  # the chunk column by column: most columns encode in bulk
        n = self.shape.nkey
        keys: list[Any] = list(fields[0]) if n == 1 else list(zip(*fields[:n], strict=True))
        data, bad = self.chunks.encode(self.shape.columns(fields))
        if bad:
            for i in sorted(bad):
                self.on_bad(rows[i], bad[i])  # raises unless bad rows are set aside
            keys = [k for i, k in enumerate(keys) if i not in bad]
        self.last_key = self.shape.key(rows[-1])
        self.keys += keys
        self.buf += data
        self.nbytes += len(data)
        self.count += len(rows)
        self.fetch = next_fetch(len(rows), len(data), self.nbytes)
        self.on_rows(len(rows), len(data))


@dataclass(frozen=True)
class ChunkFormat:
    """How a batch is written for COPY: what comes first and last, and the encoding of a chunk given column by
    column (its rows that cannot load are left out and returned)."""

    statement: str
    header: bytes
    trailer: bytes
    encode: Callable[[Sequence[Sequence[Any]]], tuple[bytes, dict[int, BadField]]]


def copy_statement(t: TablePlan, schema: str, order: list[int] | None = None, options: str = "") -> str:
    """COPY t FROM STDIN, its columns in `order` (indexes into t.columns; default: the table's order)."""
    columns = [t.columns[i] for i in order] if order is not None else t.columns
    return ddl.render(sql.SQL("COPY {} ({}) FROM STDIN" + options).format(
        ddl.table_ident(t, schema), sql.SQL(", ").join(sql.Identifier(c.target) for c in columns)))


def chunk_format(t: TablePlan, schema: str, encoders: list[FieldEncoder]) -> ChunkFormat:
    """Binary COPY when every column of t has a binary form (less work on both sides), else text with
    `encoders` (the text encoders of t's columns)."""
    if binary_table(t):
        rows = binary_rows(t)
        return ChunkFormat(copy_statement(t, schema, rows.order, " WITH (FORMAT binary)"), HEADER, TRAILER,
                            lambda columns: encode_rows(rows, columns))

    def text(columns: Sequence[Sequence[Any]]) -> tuple[bytes, dict[int, BadField]]:
        lines, bad = encode_columns(encoders, columns)
        if bad:
            lines = [line for i, line in enumerate(lines) if i not in bad]
        return (_utf8_lines(lines) if lines else b""), bad

    return ChunkFormat(copy_statement(t, schema), b"", b"", text)


def _utf8_lines(lines: list[str]) -> bytes:
    """The lines as UTF-8, each ended by a newline. One non-ASCII character would make a chunk joined as one str
    four bytes per character (an emoji) and slow to encode: such chunks are encoded line by line."""
    if all(map(str.isascii, lines)):
        return ("\n".join(lines) + "\n").encode("utf-8")
    return b"\n".join(map(str.encode, lines)) + b"\n"


def part_ranges(snapshot_path: str, t: TablePlan, part_rows: int) -> list[tuple[int | None, int | None]]:
    """Rowid ranges (lo, hi] of about `part_rows` rows each; open at both ends, so every row is in exactly one.

    Only rowid tables are split (their key is an integer); a WITHOUT ROWID table, or one whose rowid has no name
    left, is one part."""
    keys = batch_keys(t)
    if t.key_columns != ["rowid"] or not keys or t.row_count < 2 * part_rows:
        return [(None, None)]
    src = open_snapshot(snapshot_path, t)
    try:
        return rowid_ranges(src, t.source, keys[0], min(_MAX_PARTS, math.ceil(t.row_count / part_rows)))
    finally:
        src.close()


def batch_query(t: TablePlan, keys: list[str], cols_sql: str, job: Part, last_key: tuple[Any, ...] | None,
                 batch_size: int) -> tuple[str, tuple[Any, ...]]:
    """The SQL and parameters reading the next batch of `job` after `last_key` (None: from its start): the key
    columns, then the table's columns."""
    if not keys:
        # The next slice of a scan of the table's own b-tree (NOT INDEXED), in rowid order on the snapshot, which
        # never changes; a row's position in the scan is its key. Skipping the rows before the slice costs a scan
        # of them: such tables are rare.
        start = last_key[0] if last_key is not None else 0
        return (f"SELECT ? + row_number() OVER (), * FROM (SELECT {cols_sql} FROM {quote(t.source)} "
                f"NOT INDEXED LIMIT {batch_size} OFFSET ?)"), (start, start)
    key_sql = ", ".join(quote(k) for k in keys)
    conds: list[str] = []
    params: tuple[Any, ...] = ()
    if last_key is not None:
        conds.append(f"({key_sql}) > ({', '.join('?' * len(keys))})" if len(keys) > 1 else f"{key_sql} > ?")
        params += last_key
    elif job.lo is not None:
        conds.append(f"{key_sql} > ?")
        params += (job.lo,)
    if job.hi is not None:
        conds.append(f"{key_sql} <= ?")
        params += (job.hi,)
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    return (f"SELECT {key_sql}, {cols_sql} FROM {quote(t.source)} {where} ORDER BY {key_sql} "
            f"LIMIT {batch_size}"), params
