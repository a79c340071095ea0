"""COPY text-format encoding of converted values (one place, so the copy and its tests agree)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from wizard.plan_model import ColumnPlan
from wizard.values import BadValue, JsonValue, converter, float_text

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


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
    return json.dumps(v).translate(_ESCAPES)


def escape_text(v: str) -> str:
    """A str as a COPY text field. Most values hold none of the four special characters, and four C-speed
    searches are cheaper than translating every character."""
    if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
        return v.translate(_ESCAPES)
    return v


# Text PostgreSQL reads as exactly the value the converter would produce: no rounding (at most 6 fractional digits),
# no time zone to assume. Anything else takes the converter.
_DATE = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"  # no 24:00 or :60, which PostgreSQL rolls over
PLAIN_TS = re.compile(rf"{_DATE}(?:[T ]{_TIME})?")
ZONED_TS = re.compile(rf"{_DATE}[T ]{_TIME}(?:Z|[+-](?:0\d|1[0-4])(?::?[0-5]\d)?)")


def timestamp_as_written(kind: str) -> Callable[[Any], bool]:
    """For a timestamp or timestamptz column: whether a SQLite value is text the copy sends unchanged, because
    PostgreSQL reads it as exactly what the converter would produce (verify relies on the same test)."""
    pattern = PLAIN_TS if kind == "timestamp" else ZONED_TS

    def as_written(v: Any) -> bool:
        return type(v) is str and pattern.fullmatch(v) is not None and not v.startswith("0000")

    return as_written


_PLAIN_NUMBER = re.compile(r"-?\d{1,30}(?:\.\d{1,30})?")


def column_encoder(col: ColumnPlan) -> Callable[[Any], str]:
    """SQLite value -> COPY field for one column; raises values.BadValue for a value that cannot load.

    The common storage class of each conversion has a fast path; everything else takes the converter, which is
    the one definition of what a value becomes (verify compares against it)."""
    conv = converter(col.conversion, text_fix=col.text_fix, epoch_unit=col.epoch_unit,
                     empty_to_null=col.empty_to_null, max_length=col.length, precision=col.precision, scale=col.scale)

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
        scale = col.scale or 0
        whole = (col.precision - scale) if col.precision else None

        def fits(text: str) -> bool:
            """Plain decimal text that numeric(p,s) stores without rounding (else the converter decides)."""
            if whole is None:
                return True
            head, _, frac = text.lstrip("-").partition(".")
            return len(frac) <= scale and len(head.lstrip("0")) <= whole

        def enc_numeric(v: Any) -> str:
            if v is None:
                return NULL
            t = type(v)
            if t is int or t is float:
                text = str(v) if t is int else repr(v)
                if _PLAIN_NUMBER.fullmatch(text) and fits(text):
                    return text
            elif t is str and _PLAIN_NUMBER.fullmatch(v) and fits(v):
                return v  # type: ignore[no-any-return]
            return slow(v)
        return enc_numeric
    return slow


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
