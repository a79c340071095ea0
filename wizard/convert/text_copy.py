"""COPY text-format encoding of converted values (one place, so the copy and its tests agree).

Two ways to encode, with the same result: `column_encoder` takes one value; `field_encoder(...).many` takes a
whole column of a chunk of rows and, when every value has the column's common storage class, encodes it with a few
C-speed passes (see as_written) instead of a Python call per value. A column chunk that does not qualify goes
value by value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from wizard.convert.as_written import (
    all_zoned,
    numeric_as_written,
    numeric_texts,
    plain_texts,
    timestamp_as_written,
    timestamp_shapes,
    with_nulls,
)
from wizard.convert.values import BadValue, JsonValue, column_converter, float_text
from wizard.plan_model import ColumnPlan

# backslash first: escape_chunk replaces in this order, so it must not escape its own backslashes again
_ESCAPE_PAIRS = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))


_ESCAPES = str.maketrans(dict(_ESCAPE_PAIRS))


NULL = "\\N"


_MICROSECOND = timedelta(microseconds=1)


def format_value(v: Any) -> str:
    """One converted value as a COPY text field."""
    if v is None:
        return NULL
    if v is True:
        return "t"
    if v is False:
        return "f"
    if isinstance(v, str):
        return v.translate(_ESCAPES)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return float_text(v)
    if isinstance(v, bytes):
        return "\\\\x" + v.hex()
    if isinstance(v, JsonValue):
        return v.text.translate(_ESCAPES)
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, Decimal):
        return format(v, "f") if v.is_finite() else str(v)
    if isinstance(v, (date, time)):
        return v.isoformat()
    if isinstance(v, timedelta):  # exact, and kept as a time span (not justified into days)
        return f"{v // _MICROSECOND} microseconds"
    return json.dumps(v).translate(_ESCAPES)


def escape_text(v: str) -> str:
    """A str as a COPY text field. Most values hold none of the four special characters, and four C-speed
    searches are cheaper than translating every character."""
    if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
        return v.translate(_ESCAPES)
    return v


def escape_chunk(joined: str) -> str:
    """escape_text of every value of a column chunk joined into one text (by a separator that is none of the four
    special characters): four C-speed replaces instead of a translate per value."""
    for char, escaped in _ESCAPE_PAIRS:
        if char in joined:
            joined = joined.replace(char, escaped)
    return joined


def column_encoder(col: ColumnPlan) -> Callable[[Any], str]:
    """SQLite value -> COPY field for one column; raises values.BadValue for a value that cannot load.

    The common storage class of each conversion has a fast path; everything else takes the converter, which is
    the one definition of what a value becomes (verify compares against it)."""
    conv = column_converter(col)

    def slow(v: Any) -> str:
        return format_value(conv(v))

    kind = col.conversion
    if kind == "int" and not col.empty_to_null:
        def enc_int(v: Any) -> str:
            if v is None:
                return NULL
            if type(v) is int:
                return str(v)
            return slow(v)
        return enc_int
    if kind == "text" and col.length is None and col.text_fix is None:
        def enc_text(v: Any) -> str:
            if v is None:
                return NULL
            if type(v) is str and "\x00" not in v:
                return escape_text(v)
            return slow(v)
        return enc_text
    if kind == "float":
        def enc_float(v: Any) -> str:
            if v is None:
                return NULL
            if type(v) is float:
                return float_text(v)
            return slow(v)
        return enc_float
    if kind == "bool":
        def enc_bool(v: Any) -> str:
            if v is None:
                return NULL
            if type(v) is int and (v == 0 or v == 1):
                return "t" if v else "f"
            return slow(v)
        return enc_bool
    if kind in ("timestamp", "timestamptz"):
        as_written = timestamp_as_written(kind)

        def enc_ts(v: Any) -> str:
            if v is None:
                return NULL
            if as_written(v):
                return v  # type: ignore[no-any-return]
            return slow(v)
        return enc_ts
    if kind == "json" and col.text_fix is None:
        def enc_json(v: Any) -> str:
            # PostgreSQL validates JSON as it loads it (a bad value fails its batch like any other); the profile
            # already checked every value, so the parse here would only repeat that work
            if type(v) is str and v.strip() and "\x00" not in v:
                return escape_text(v)
            return slow(v)
        return enc_json
    if kind == "numeric":
        number_as_written = numeric_as_written(col)

        def enc_numeric(v: Any) -> str:
            if v is None:
                return NULL
            text = number_as_written(v)
            return text if text is not None else slow(v)
        return enc_numeric
    return slow


_BOOL_TEXT = {0: "f", 1: "t"}


@dataclass(frozen=True)
class FieldEncoder:
    """The two ways to encode one column; `many` returns None when a chunk must go value by value."""

    one: Callable[[Any], str]
    many: Callable[[Sequence[Any]], list[str] | None]


def field_encoder(col: ColumnPlan) -> FieldEncoder:
    one = column_encoder(col)
    bulk = _bulk_encoder(col)
    if bulk is None:
        return FieldEncoder(one, lambda values: None)

    def many(values: Sequence[Any]) -> list[str] | None:
        if None not in values:
            return bulk(values)
        present = [v for v in values if v is not None]
        if not present:
            return [NULL] * len(values)
        out = bulk(present)
        return None if out is None else with_nulls(values, out, NULL)

    return FieldEncoder(one, many)


def _bulk_encoder(col: ColumnPlan) -> Callable[[Sequence[Any]], list[str] | None] | None:
    """For the conversions whose per-value fast path is a pure function of the storage class: the same fields for a
    column chunk without NULLs, or None when some value is not of the common class (the caller goes per value)."""
    kind = col.conversion
    if kind == "int" and not col.empty_to_null:
        def ints(values: Sequence[Any]) -> list[str] | None:
            return list(map(str, values)) if set(map(type, values)) == {int} else None
        return ints
    if kind in ("text", "json") and col.length is None and col.text_fix is None:
        def texts(values: Sequence[Any]) -> list[str] | None:
            joined = plain_texts(values, json=kind == "json")
            if joined is None:
                return None
            if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
                return escape_chunk(joined).split("\x00")
            return list(values)
        return texts
    if kind == "float":
        def floats(values: Sequence[Any]) -> list[str] | None:
            if set(map(type, values)) != {float}:
                return None
            total = sum(values)  # nan or inf when a value is one (or when finite values overflow: then per value)
            if total - total != 0.0:
                return None  # nan and inf are spelled PostgreSQL's way per value
            return list(map(float.__repr__, values))
        return floats
    if kind == "bool":
        def bools(values: Sequence[Any]) -> list[str] | None:
            if set(map(type, values)) != {int} or not set(values) <= {0, 1}:
                return None
            return list(map(_BOOL_TEXT.__getitem__, values))
        return bools
    if kind == "timestamp":
        def plain_stamps(values: Sequence[Any]) -> list[str] | None:
            if set(map(type, values)) != {str} or timestamp_shapes(values) is None:
                return None
            return list(values)  # sent as written: see timestamp_as_written
        return plain_stamps
    if kind == "timestamptz":
        def stamps(values: Sequence[Any]) -> list[str] | None:
            if set(map(type, values)) != {str} or not all_zoned(values):
                return None
            return list(values)  # sent as written: see timestamp_as_written
        return stamps
    if kind == "numeric":
        return numeric_texts(col.precision, col.scale)
    if kind == "bytea":
        def blobs(values: Sequence[Any]) -> list[str] | None:
            if set(map(type, values)) != {bytes}:
                return None
            return list(map("\\\\x".__add__, map(bytes.hex, values)))
        return blobs
    return None


def as_written_many(col: ColumnPlan) -> Callable[[Sequence[Any]], list[str] | None]:
    """For a timestamp or numeric column: the texts the copy sends unchanged for a chunk of values without NULLs
    (see timestamp_as_written and numeric_as_written), or None when some value takes the converter."""
    if col.conversion not in ("timestamp", "timestamptz", "numeric"):
        raise ValueError(f"{col.conversion} values are not sent as written")
    bulk = _bulk_encoder(col)
    assert bulk is not None
    return bulk


class BadField(BadValue):
    """A value of one row that cannot load; `column` is its index among the encoded columns."""

    def __init__(self, column: int, cause: BadValue) -> None:
        super().__init__(str(cause))
        self.column = column


def encode_line(encoders: list[Callable[[Any], str]], values: tuple[Any, ...]) -> str:
    """One COPY text line (without the newline); raises BadField naming the column that failed."""
    try:
        return "\t".join([enc(v) for enc, v in zip(encoders, values, strict=True)])
    except BadValue:
        pass
    for i, (enc, v) in enumerate(zip(encoders, values, strict=True)):  # the rare slow path: find the column
        try:
            enc(v)
        except BadValue as exc:
            raise BadField(i, exc) from None
    raise AssertionError("a value failed once and then encoded")  # encoders are pure


def encode_columns(encoders: list[FieldEncoder],
                   columns: Sequence[Sequence[Any]]) -> tuple[list[str], dict[int, BadField]]:
    """COPY text lines (without newlines) of a chunk given column by column, and the rows that cannot load.

    Returns one line per row in order, "" for a row that failed, and {row index: the first failing column}."""
    fields: list[Sequence[str]] = []
    bad: dict[int, BadField] = {}
    for ci, (enc, values) in enumerate(zip(encoders, columns, strict=True)):
        out = enc.many(values)
        if out is None:
            out = []
            one = enc.one
            for ri, v in enumerate(values):
                try:
                    out.append(one(v))
                except BadValue as exc:
                    if ri not in bad:
                        bad[ri] = BadField(ci, exc)
                    out.append("")
        fields.append(out)
    lines = list(map("\t".join, zip(*fields, strict=True)))
    for ri in bad:
        lines[ri] = ""
    return lines, bad
