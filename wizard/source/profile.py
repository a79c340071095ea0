"""Profile the real data of each column: storage classes, NULLs, ranges, and whether values fit a target type.

One aggregate SQL pass per table gives the counts; one streaming Python pass (only over the columns that need
value-level checks) tests conversions. Memory is bounded: only counters and a few examples are kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from wizard.convert.text_copy import numeric_texts, timestamp_shapes
from wizard.convert.values import BadValue, converter, guess_epoch_unit
from wizard.plan.expressions import quote
from wizard.source.sqlite_file import (
    FIRST_CHUNK_ROWS,
    fk_violation_counts,
    next_chunk_rows,
    open_readonly,
    text_factory,
)

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


class _Tally:
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

    def merge(self, later: _Tally) -> None:
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


class _Chunks:
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
    tallies = _scan_tallies(conn, table, columns)
    return {c: t.profile() for c, t in zip(columns, tallies, strict=True)}


def _scan_tallies(conn: sqlite3.Connection, table: str, columns: list[str],
                  rows: RowRange | None = None) -> list[_Tally]:
    tallies = [_Tally() for _ in columns]
    if columns:
        where, params = _where(rows)
        with text_factory(conn, str):  # TEXT as str, BLOB as bytes: the storage class is the type
            cur = conn.execute(f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)}{where}", params)
            chunks = _Chunks(cur, len(columns))
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


def _where(rows: RowRange | None) -> tuple[str, tuple[int, ...]]:
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


@dataclass(frozen=True)
class Candidate:
    """A conversion to test against a column's values, with its parameters."""

    kind: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None


def check_values(conn: sqlite3.Connection, table: str, wanted: dict[str, list[Candidate]],
                 profiles: dict[str, ColumnProfile], rows: RowRange | None = None) -> None:
    """One streaming pass testing each column's candidate conversions (over `rows`, or the whole table); fills
    profiles[col].checks and counts invalid UTF-8."""
    cols = [c for c, cands in wanted.items() if cands or profiles[c].non_ascii]
    if not cols:
        return
    funcs: list[list[tuple[str, Any, ConversionCheck]]] = []
    for c in cols:
        p = profiles[c]
        unit = guess_epoch_unit(p.max_abs_integer)
        entries = []
        for cand in wanted[c]:
            check = p.checks.setdefault(_key(cand), ConversionCheck())
            fn = converter(cand.kind, epoch_unit=unit, max_length=cand.length, precision=cand.precision,
                           scale=cand.scale, text_fix="strip_nul")
            entries.append((cand.kind, fn, check))
        funcs.append(entries)
    # numeric candidates: a chunk of numbers sent as written all convert (copy_format's bulk check); bytea takes
    # any value (a BLOB as it is, anything else as its text's bytes), so its chunks need no look at all
    bulks = [[numeric_texts(cand.precision, cand.scale) if cand.kind == "numeric" else _any_value
              if cand.kind == "bytea" else None for cand in wanted[c]] for c in cols]
    decode_needed = [profiles[c].non_ascii > 0 for c in cols]
    kinds = [[kind for kind, _, _ in entries] for entries in funcs]
    sized = [i for i, c in enumerate(cols) if profiles[c].texts or profiles[c].blobs]  # read as bytes here
    with text_factory(conn, bytes):  # invalid UTF-8 must not abort the scan; we decode ourselves
        where, params = _where(rows)
        chunks = _Chunks(conn.execute(f"SELECT {', '.join(quote(c) for c in cols)} FROM {quote(table)}{where}",
                                      params), len(cols))
        for chunk in chunks:
            columns = list(zip(*chunk, strict=True))
            chunks.size = sum(len(v) for i in sized for v in columns[i] if type(v) is bytes)
            for i, values in enumerate(columns):
                present = [v for v in values if v is not None]
                if not present or (funcs[i] and _all_plain_timestamps(present, kinds[i])):
                    for _kind, _fn, check in funcs[i]:
                        check.without_offset += len(present)  # each converts, none carries an offset
                    continue
                active = [entry for entry, bulk in zip(funcs[i], bulks[i], strict=True)
                          if bulk is None or bulk(present) is None]
                # every candidate passed in bulk (or there is none: the column is read only to count invalid UTF-8),
                # and there is no invalid UTF-8 to count
                if not active and (not decode_needed[i] or _valid_utf8(present)):
                    continue
                for raw in present:
                    value = raw
                    if isinstance(raw, bytes):
                        # text values arrive as bytes here; a real BLOB is told apart by its storage class below
                        try:
                            value = raw.decode("utf-8")
                        except UnicodeDecodeError:
                            if decode_needed[i]:
                                profiles[cols[i]].invalid_utf8 += 1
                            value = raw.decode("utf-8", "replace")
                    for kind, fn, check in active:
                        try:
                            result = fn(value)
                        except BadValue as exc:
                            check.fail(value, f"{_repr(value)}: {exc}")
                            continue
                        if kind in ("timestamp", "timestamptz") and result is not None:
                            # a plain timestamp converts only values without an offset; no need to ask again
                            if kind == "timestamptz" and isinstance(value, str) and _has_offset(value):
                                check.with_offset += 1
                            else:
                                check.without_offset += 1


def _any_value(values: Sequence[Any]) -> Sequence[Any]:
    """The bulk check of a candidate whose converter takes every value."""
    return values


def _valid_utf8(values: list[Any]) -> bool:
    """Whether every bytes value of a chunk is valid UTF-8: one decode of them joined by newlines (an ASCII byte,
    so a sequence cut at the end of one value cannot be completed by the next)."""
    try:
        b"\n".join(v for v in values if type(v) is bytes).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _all_plain_timestamps(present: list[Any], kinds: list[str]) -> bool:
    """Whether a column chunk (no NULLs) is text that every candidate, all of them timestamp or timestamptz,
    converts without an offset: the shapes the copy sends as written (copy_format.timestamp_shapes), checked
    with a few C-speed passes instead of a converter call per value and candidate."""
    if not kinds or any(k not in ("timestamp", "timestamptz") for k in kinds) or \
            set(map(type, present)) != {bytes}:
        return False
    joined = b"\n".join(present)
    if joined.count(b"\n") != len(present) - 1:
        return False
    try:
        texts = joined.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return False  # value by value, which counts the invalid ones
    return timestamp_shapes(texts) is not None


def _has_offset(text: str) -> bool:
    from wizard.convert.values import parse_timestamp

    try:
        return parse_timestamp(text)[1]
    except BadValue:
        return False


def _repr(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 50 else s[:49] + "…"


def _key(c: Candidate) -> str:
    if c.length:
        return f"{c.kind}({c.length})"
    if c.precision:
        return f"{c.kind}({c.precision},{c.scale or 0})"
    return c.kind


def check_key(c: Candidate) -> str:
    return _key(c)


# -- a table's rows in ranges, on worker processes ----------------------------------------------------------

@dataclass(frozen=True)
class ProfileJob:
    """One range of a table's rows for a worker process: its counts (`wanted` None), or its value checks against
    the table's whole `profiles`."""

    path: str
    table: str
    columns: list[str]
    rows: RowRange | None
    wanted: dict[str, list[Candidate]] | None = None
    profiles: dict[str, ColumnProfile] | None = None
    foreign_keys: int = 0  # instead: the table's violations of its this many foreign keys (fk_violation_counts)


def run_profile_job(job: ProfileJob, link: Any) -> Any:
    """A worker's part: the range's tallies (None when its text is not all UTF-8: the caller then counts the
    table in SQL), or {column: (its checks, invalid UTF-8 count)} for the range, or the table's foreign key
    violations."""
    conn = open_readonly(job.path)
    try:
        if job.foreign_keys:
            return fk_violation_counts(conn, job.table, job.foreign_keys)
        if job.wanted is None:
            try:
                return _scan_tallies(conn, job.table, job.columns, job.rows)
            except sqlite3.OperationalError:
                return None
        assert job.profiles is not None
        profiles = {c: replace(p, checks={}, invalid_utf8=0) for c, p in job.profiles.items()}
        check_values(conn, job.table, job.wanted, profiles, job.rows)
        return {c: (p.checks, p.invalid_utf8) for c, p in profiles.items()}
    finally:
        conn.close()


def merged_profiles(columns: list[str], parts: list[list[_Tally]]) -> dict[str, ColumnProfile]:
    """The profiles of a table from its ranges' tallies, given in row order (of equal values the first stays)."""
    first, *later = parts
    for tallies in later:
        for mine, theirs in zip(first, tallies, strict=True):
            mine.merge(theirs)
    return {c: t.profile() for c, t in zip(columns, first, strict=True)}


def merge_checks(profiles: dict[str, ColumnProfile],
                 parts: list[dict[str, tuple[dict[str, ConversionCheck], int]]]) -> None:
    """Add the ranges' value checks (given in row order) to `profiles`, as one pass over the table would."""
    for part in parts:
        for column, (checks, invalid) in part.items():
            p = profiles[column]
            p.invalid_utf8 += invalid
            for key, check in checks.items():
                mine = p.checks.setdefault(key, ConversionCheck())
                mine.failures += check.failures
                mine.examples = (mine.examples + check.examples)[:MAX_EXAMPLES]
                mine.with_offset += check.with_offset
                mine.without_offset += check.without_offset
