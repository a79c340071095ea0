"""Whether a column's values fit a candidate PostgreSQL type: every value is tried with the copy's own
converter (chunks that a bulk test proves fine are skipped), counting failures with a few examples.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wizard.convert.as_written import numeric_texts, timestamp_shapes
from wizard.convert.values import BadValue, converter, guess_epoch_unit
from wizard.source.profile import Chunks, ColumnProfile, ConversionCheck, RowRange, range_where
from wizard.source.sql_tokens import quote
from wizard.source.sqlite_file import text_factory


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
        where, params = range_where(rows)
        chunks = Chunks(conn.execute(f"SELECT {', '.join(quote(c) for c in cols)} FROM {quote(table)}{where}",
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
