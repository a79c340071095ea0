"""Profile the real data of each column: storage classes, NULLs, ranges, lengths, NUL bytes, non-ASCII text.

One streaming Python pass per table (a rowid range of it, on a worker) counts them; memory is bounded: only counters
and a few examples are kept. A table with invalid UTF-8 is counted by SQLite instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from wizard.source.sql_tokens import quote
from wizard.source.sqlite_file import FIRST_CHUNK_ROWS, next_chunk_rows, text_factory

MAX_EXAMPLES = 3


@dataclass
class ConversionCheck:
    """How many non-NULL values failed a candidate conversion, with a few examples."""

    failures: int = 0
    examples: list[str] = field(default_factory=list)
    with_offset: int = 0  # timestamps carrying a UTC offset
    without_offset: int = 0

    def fail(self, value: Any, reason: str) -> None:
        self.failures += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(reason if len(reason) < 120 else reason[:119] + "…")


@dataclass
class ColumnProfile:
    rows: int = 0
    nulls: int = 0
    integers: int = 0
    reals: int = 0
    texts: int = 0
    blobs: int = 0
    min_value: Any = None
    max_value: Any = None
    max_text_length: int = 0
    empty_strings: int = 0
    nul_bytes: int = 0
    non_ascii: int = 0
    invalid_utf8: int = 0
    infinities: int = 0
    max_abs_integer: int = 0
    int_zero_one_only: bool = False
    checks: dict[str, ConversionCheck] = field(default_factory=dict)

    @property
    def non_null(self) -> int:
        return self.rows - self.nulls

    @property
    def classes(self) -> dict[str, int]:
        return {k: v for k, v in (("integer", self.integers), ("real", self.reals), ("text", self.texts),
                                  ("blob", self.blobs)) if v}


_COLUMNS_PER_QUERY = 100  # 14 expressions each stays under SQLite's 2000-column result limit


def aggregate_profile(conn: sqlite3.Connection, table: str, columns: list[str],
                      collated: frozenset[str] = frozenset()) -> dict[str, ColumnProfile]:
    """Counts per column: in one streaming pass over the rows, a column of a chunk at a time (SQLite evaluating
    the 14 expressions of _aggregate per value took about 20 µs per row of an app-like table, the scan a tenth
    of that). Text that is not valid UTF-8 cannot be read as str: such a table is counted by the SQL queries,
    which count the same things (a test holds the two to the same results). The `collated` columns (declared
    with a collation other than BINARY, e.g. NOCASE) take min() and max() from SQLite, which orders their text
    by that collation."""
    try:
        profiles = _scan(conn, table, columns)
    except sqlite3.OperationalError:  # "Could not decode to UTF-8": the SQL pass reads it leniently
        return aggregate_profile_sql(conn, table, columns)
    collated_extremes(conn, table, profiles, collated)
    return profiles


def collated_extremes(conn: sqlite3.Connection, table: str, profiles: dict[str, ColumnProfile],
                      collated: frozenset[str]) -> None:
    """min() and max() of the `collated` columns' text from SQLite, by their collation."""
    ordered = [c for c in profiles if c in collated and profiles[c].texts]
    if ordered:
        with text_factory(conn, _lenient_text):
            row = conn.execute(f"SELECT {', '.join(f'min({quote(c)}), max({quote(c)})' for c in ordered)} "
                               f"FROM {quote(table)}").fetchone()
        for i, c in enumerate(ordered):
            profiles[c].min_value, profiles[c].max_value = _printable(row[2 * i]), _printable(row[2 * i + 1])


def aggregate_profile_sql(conn: sqlite3.Connection, table: str, columns: list[str]) -> dict[str, ColumnProfile]:
    """Counts per column in one SQL pass (more for very wide tables)."""
    out: dict[str, ColumnProfile] = {}
    for start in range(0, len(columns), _COLUMNS_PER_QUERY):
        out.update(_aggregate(conn, table, columns[start:start + _COLUMNS_PER_QUERY]))
    return out


_SCAN_ROWS = 5000  # rows per chunk, at most


_SCAN_VALUES = 200_000  # values per chunk, at most


_SCAN_BYTES = 16 << 20  # text characters and BLOB bytes per chunk, about (one big value may exceed it)


_RANK = {int: 0, float: 0, str: 1, bytes: 2}  # SQLite orders numbers before text before BLOBs


_INF = float("inf")


def _order(v: Any) -> tuple[int, Any]:
    return _RANK[type(v)], v


class Tally:
    """The counts of one column, as _aggregate's expressions define them, fed a chunk of values at a time."""

    def __init__(self) -> None:
        self.p = ColumnProfile()
        self.min: Any = None
        self.max: Any = None
        self.max_abs_integer = 0
        self.not_zero_one = 0

    def add(self, values: tuple[Any, ...]) -> int:
        """Count a chunk of the column's values; returns the characters and bytes of its text and BLOBs."""
        p = self.p
        p.rows += len(values)
        nulls = values.count(None)
        p.nulls += nulls
        types = set(map(type, values))
        if nulls:
            types.discard(type(None))
            values = tuple(v for v in values if v is not None)
        if not types:
            return 0
        size = 0
        if len(types) == 1:
            size = self._one_class(next(iter(types)), values)
        else:  # mixed storage classes: each class by itself, in the order the values came
            for kind in (int, float, str, bytes):
                if kind in types:
                    size += self._one_class(kind, tuple(v for v in values if type(v) is kind))
        self._extremes(values, types)
        return size

    def _one_class(self, kind: type, values: tuple[Any, ...]) -> int:
        p = self.p
        if kind is int:
            p.integers += len(values)
            low, high = min(values), max(values)
            self.max_abs_integer = max(self.max_abs_integer, -low, high)
            if low < 0 or high > 1:
                self.not_zero_one += len(values) - values.count(0) - values.count(1)
            return 0
        if kind is float:
            p.reals += len(values)
            p.infinities += values.count(_INF) + values.count(-_INF)
            return 0
        if kind is str:
            p.texts += len(values)
            p.empty_strings += values.count("")
            joined = "".join(values)
            size = len(joined)
            if "\x00" in joined:  # SQLite's length() and GLOB stop at the first NUL of a text
                p.nul_bytes += sum("\x00" in v for v in values)
                values = tuple(v.partition("\x00")[0] for v in values)
                joined = "".join(values)
            p.max_text_length = max(p.max_text_length, max(map(len, values)))
            if not joined.isascii():
                p.non_ascii += len(values) - sum(map(str.isascii, values))
            return size
        p.blobs += len(values)  # a BLOB
        blob = b"".join(values)
        if b"\x00" in blob:
            p.nul_bytes += sum(b"\x00" in v for v in values)
        return len(blob)

    def _extremes(self, values: tuple[Any, ...], types: set[type]) -> None:
        """min() and max() as SQLite's: numbers before text before BLOBs, and of equal values the first stays."""
        if len({_RANK[t] for t in types}) > 1:  # integers and reals compare as they are, as numbers
            low, high = min(values, key=_order), max(values, key=_order)
        else:
            low, high = min(values), max(values)
        if self.min is None or _order(low) < _order(self.min):
            self.min = low
        if self.max is None or _order(high) > _order(self.max):
            self.max = high

    def merge(self, later: Tally) -> None:
        """Add the counts of the rows that come after this tally's (another range of the same column)."""
        p, q = self.p, later.p
        for name in ("rows", "nulls", "integers", "reals", "texts", "blobs", "empty_strings", "nul_bytes",
                     "non_ascii", "infinities"):
            setattr(p, name, getattr(p, name) + getattr(q, name))
        p.max_text_length = max(p.max_text_length, q.max_text_length)
        self.max_abs_integer = max(self.max_abs_integer, later.max_abs_integer)
        self.not_zero_one += later.not_zero_one
        if later.min is not None and (self.min is None or _order(later.min) < _order(self.min)):
            self.min = later.min
        if later.max is not None and (self.max is None or _order(later.max) > _order(self.max)):
            self.max = later.max

    def profile(self) -> ColumnProfile:
        p = self.p
        p.min_value, p.max_value = _printable(self.min), _printable(self.max)
        # _aggregate takes the largest absolute integer through a REAL, as SQLite's abs(CAST(x AS REAL))
        p.max_abs_integer = int(float(self.max_abs_integer))
        p.int_zero_one_only = p.integers > 0 and self.not_zero_one == 0
        return p


class Chunks:
    """The rows of a cursor, chunk by chunk: bounded by values (a wide table gives fewer rows at a time) and, once
    the reader sets `size` (the text characters and BLOB bytes of the chunk it got), by size, so rows of big
    values come a few at a time. The first chunk is small; the following grow four times at most."""

    def __init__(self, cur: sqlite3.Cursor, columns: int) -> None:
        self.cur = cur
        self.most = max(1, min(_SCAN_ROWS, _SCAN_VALUES // max(1, columns)))
        self.size = 0

    def __iter__(self) -> Iterator[list[Any]]:
        rows = min(self.most, FIRST_CHUNK_ROWS)
        while chunk := self.cur.fetchmany(rows):
            self.size = 0
            yield chunk
            rows = next_chunk_rows(len(chunk), self.size, most=self.most, budget=_SCAN_BYTES)


def _scan(conn: sqlite3.Connection, table: str, columns: list[str]) -> dict[str, ColumnProfile]:
    tallies = scan_tallies(conn, table, columns)
    return {c: t.profile() for c, t in zip(columns, tallies, strict=True)}


def scan_tallies(conn: sqlite3.Connection, table: str, columns: list[str],
                  rows: RowRange | None = None) -> list[Tally]:
    tallies = [Tally() for _ in columns]
    if columns:
        where, params = range_where(rows)
        with text_factory(conn, str):  # TEXT as str, BLOB as bytes: the storage class is the type
            cur = conn.execute(f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)}{where}", params)
            chunks = Chunks(cur, len(columns))
            for chunk in chunks:
                chunks.size = sum(tally.add(values)
                                  for tally, values in zip(tallies, zip(*chunk, strict=True), strict=True))
    return tallies


@dataclass(frozen=True)
class RowRange:
    """The rows of a rowid table with `key` (its rowid's name) in (lo, hi]; None: no bound on that side."""

    key: str
    lo: int | None
    hi: int | None


def range_where(rows: RowRange | None) -> tuple[str, tuple[int, ...]]:
    if rows is None:
        return "", ()
    conds, params = [], []
    if rows.lo is not None:
        conds.append(f"{quote(rows.key)} > ?")
        params.append(rows.lo)
    if rows.hi is not None:
        conds.append(f"{quote(rows.key)} <= ?")
        params.append(rows.hi)
    return (" WHERE " + " AND ".join(conds) if conds else ""), tuple(params)


def _aggregate(conn: sqlite3.Connection, table: str, columns: list[str]) -> dict[str, ColumnProfile]:
    exprs = ["count(*)"]
    for c in columns:
        q = quote(c)
        exprs += [
            f"sum({q} IS NULL)", f"sum(typeof({q})='integer')", f"sum(typeof({q})='real')",
            f"sum(typeof({q})='text')", f"sum(typeof({q})='blob')", f"min({q})", f"max({q})",
            f"max(CASE WHEN typeof({q})='text' THEN length({q}) END)",
            f"sum(typeof({q})='text' AND {q}='')",
            f"sum(typeof({q}) IN ('text','blob') AND instr(CAST({q} AS BLOB), x'00') > 0)",
            f"sum(typeof({q})='text' AND {q} GLOB '*[^'||char(1)||'-'||char(127)||']*')",
            f"sum(typeof({q})='real' AND abs(CAST({q} AS REAL)) > 1.7976931348623157e308)",
            f"max(CASE WHEN typeof({q})='integer' THEN abs(CAST({q} AS REAL)) END)",
            f"sum(typeof({q})='integer' AND {q} NOT IN (0, 1))",
        ]
    with text_factory(conn, _lenient_text):  # min()/max() may meet invalid UTF-8
        row = conn.execute(f"SELECT {', '.join(exprs)} FROM {quote(table)}").fetchone()
    total = int(row[0])
    out: dict[str, ColumnProfile] = {}
    width = 14
    for i, c in enumerate(columns):
        v = row[1 + i * width: 1 + (i + 1) * width]
        p = ColumnProfile(rows=total, nulls=int(v[0] or 0), integers=int(v[1] or 0), reals=int(v[2] or 0),
                          texts=int(v[3] or 0), blobs=int(v[4] or 0), min_value=_printable(v[5]),
                          max_value=_printable(v[6]), max_text_length=int(v[7] or 0),
                          empty_strings=int(v[8] or 0), nul_bytes=int(v[9] or 0), non_ascii=int(v[10] or 0),
                          infinities=int(v[11] or 0), max_abs_integer=int(v[12] or 0))
        p.int_zero_one_only = p.integers > 0 and int(v[13] or 0) == 0
        out[c] = p
    return out


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _printable(v: Any) -> Any:
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    if isinstance(v, str) and len(v) > 60:
        return v[:59] + "…"
    return v
