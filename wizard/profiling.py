"""Profile the real data of each column: storage classes, NULLs, ranges, and whether values fit a target type.

One aggregate SQL pass per table gives the counts; one streaming Python pass (only over the columns that need
value-level checks) tests conversions. Memory is bounded: only counters and a few examples are kept.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from wizard.copy_format import timestamp_shapes
from wizard.expressions import quote
from wizard.values import BadValue, converter, guess_epoch_unit

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


@contextlib.contextmanager
def _text_factory(conn: sqlite3.Connection, factory: Any) -> Iterator[None]:
    """Read text with `factory` for a while: invalid UTF-8 in the data must not abort a profile."""
    old = conn.text_factory
    conn.text_factory = factory
    try:
        yield
    finally:
        conn.text_factory = old


_COLUMNS_PER_QUERY = 100  # 14 expressions each stays under SQLite's 2000-column result limit


def aggregate_profile(conn: sqlite3.Connection, table: str, columns: list[str]) -> dict[str, ColumnProfile]:
    """Counts per column in one SQL pass (more for very wide tables)."""
    out: dict[str, ColumnProfile] = {}
    for start in range(0, len(columns), _COLUMNS_PER_QUERY):
        out.update(_aggregate(conn, table, columns[start:start + _COLUMNS_PER_QUERY]))
    return out


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
    with _text_factory(conn, _lenient_text):  # min()/max() may meet invalid UTF-8
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
                 profiles: dict[str, ColumnProfile]) -> None:
    """One streaming pass testing each column's candidate conversions; fills profiles[col].checks."""
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
    decode_needed = [profiles[c].non_ascii > 0 for c in cols]
    kinds = [[kind for kind, _, _ in entries] for entries in funcs]
    with _text_factory(conn, bytes):  # invalid UTF-8 must not abort the scan; we decode ourselves
        cur = conn.execute(f"SELECT {', '.join(quote(c) for c in cols)} FROM {quote(table)}")
        while True:
            rows = cur.fetchmany(5000)
            if not rows:
                break
            for i, values in enumerate(zip(*rows, strict=True)):
                present = [v for v in values if v is not None]
                if not present or (funcs[i] and _all_plain_timestamps(present, kinds[i])):
                    for _kind, _fn, check in funcs[i]:
                        check.without_offset += len(present)  # each converts, none carries an offset
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
                    for kind, fn, check in funcs[i]:
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
    from wizard.values import parse_timestamp

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
