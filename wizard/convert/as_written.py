"""Which SQLite values PostgreSQL reads exactly as written, tested a whole column chunk at a time.

Text that PostgreSQL parses into exactly the value the converter would produce (plain timestamps, decimal
numbers a numeric takes without rounding, plain text) needs no conversion: the copy sends it unchanged, the
profile need not try it, and verify rewrites only the rest. The tests are a few C-speed passes over the joined
chunk (type set, shapes with digits as 9s, one regex) instead of a Python call per value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from wizard.plan_model import ColumnPlan

# Text PostgreSQL reads as exactly the value the converter would produce: no rounding (at most 6 fractional digits),
# no time zone to assume. Anything else takes the converter.
_DATE = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"


_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"  # no 24:00 or :60, which PostgreSQL rolls over


PLAIN_TS = re.compile(rf"{_DATE}(?:[T ]{_TIME})?")


ZONED_TS = re.compile(rf"{_DATE}[T ]{_TIME}(?:Z|[+-](?:0\d|1[0-4])(?::?[0-5]\d)?)")


def _many(pattern: str) -> re.Pattern[str]:
    """`pattern` repeated, one per line: one C-speed match checks a whole column chunk joined by newlines."""
    return re.compile(rf"(?:{pattern}\n)*{pattern}")


# year 0000 does not exist in PostgreSQL: such text takes the converter
_AS_WRITTEN_TS = {"timestamp": rf"(?!0000){PLAIN_TS.pattern}", "timestamptz": rf"(?!0000){ZONED_TS.pattern}"}


_ONE_TS = {kind: re.compile(p) for kind, p in _AS_WRITTEN_TS.items()}


_MANY_ZONED_TS = _many(_AS_WRITTEN_TS["timestamptz"])  # plain timestamps are checked by their shapes instead


def timestamp_as_written(kind: str) -> Callable[[Any], bool]:
    """For a timestamp or timestamptz column: whether a SQLite value is text the copy sends unchanged, because
    PostgreSQL reads it as exactly what the converter would produce (verify relies on the same test)."""
    pattern = _ONE_TS[kind]

    def as_written(v: Any) -> bool:
        return type(v) is str and pattern.fullmatch(v) is not None

    return as_written


# The shapes of PLAIN_TS with every digit written as 9: a date, then optionally minutes, seconds, a fraction.
_TS_SHAPES = frozenset(["9999-99-99"] + [f"9999-99-99{sep}99:99{rest}" for sep in "T " for rest in
                                         ["", ":99", *(":99." + "9" * n for n in range(1, 7))]])


_TO_NINES = str.maketrans("0123456789", "9999999999")


def _shapes(joined: str) -> set[str]:
    """The distinct shapes (digits written as 9) of the lines of a joined chunk."""
    return set(joined.translate(_TO_NINES).split("\n"))


def timestamp_shapes(values: Sequence[str]) -> set[str] | None:
    """The shapes (digits written as 9) of a column chunk's texts when every one matches PLAIN_TS, else None.

    A few C-speed passes; the regex over a whole chunk costs several times more. The shapes are checked on the
    text with its digits as 9s, the ranges (month, day, hour, minute, second; no year 0) by
    datetime.fromisoformat, which is stricter than the pattern: a valid value it refuses only takes the slower
    path."""
    checked = plain_stamps(values)
    return None if checked is None else checked[0]


def plain_stamps(values: Sequence[str]) -> tuple[set[str], list[datetime]] | None:
    """timestamp_shapes, with the datetime each text stands for (the check parses them anyway)."""
    joined = "\n".join(values)
    shapes = _shapes(joined)
    if not shapes <= _TS_SHAPES or len(values) != joined.count("\n") + 1:
        return None
    if " 24:" in joined or "T24:" in joined:  # newer Pythons read 24:00 as the next day
        return None
    try:
        return shapes, list(map(datetime.fromisoformat, values))
    except ValueError:
        return None


def all_zoned(values: Sequence[str]) -> bool:
    """Whether every text of a column chunk is one the copy sends as written to a timestamptz column (see
    timestamp_as_written): one regex over the chunk joined by newlines (which none may hold)."""
    joined = "\n".join(values)
    return joined.count("\n") == len(values) - 1 and _MANY_ZONED_TS.fullmatch(joined) is not None


def zoned_stamps(values: Sequence[str]) -> list[datetime] | None:
    """For a column chunk of texts: the (aware) datetimes when every text is one the copy sends as written to a
    timestamptz column (see timestamp_as_written), else None."""
    if not all_zoned(values):
        return None
    try:
        return list(map(datetime.fromisoformat, values))
    except ValueError:
        return None


_PLAIN_NUMBER = re.compile(r"-?\d{1,30}(?:\.\d{1,30})?")


def plain_texts(values: Sequence[Any], *, json: bool) -> str | None:
    """For a column chunk of a text or JSON column: the values joined by NUL when every one is a str without a
    NUL (PostgreSQL's text cannot hold one) and, for JSON, not blank; else None (the converter decides). Such
    chunks both COPY formats send unchanged (the text format escaping them)."""
    if set(map(type, values)) != {str}:
        return None
    joined = "\x00".join(values)  # NUL separates the values: none may hold one
    if joined.count("\x00") != len(values) - 1 or (json and not all(map(str.strip, values))):
        return None
    return joined


def with_nulls(values: Sequence[Any], out: list[Any], null: Any) -> list[Any]:
    """`out` holds one result per non-NULL entry of `values`: put `null` back where values has None."""
    if len(out) == len(values):
        return out
    it = iter(out)
    return [null if v is None else next(it) for v in values]


def numeric_texts(precision: int | None, scale: int | None) -> Callable[[Sequence[Any]], list[str] | None]:
    """For numeric(precision, scale): the texts of a chunk of non-NULL values when every one is sent as written
    (see numeric_as_written), else None. Such values all convert: the profile need not try them one by one."""
    shape_ok = _numeric_shapes(precision, scale or 0)

    def numerics(values: Sequence[Any]) -> list[str] | None:
        types = set(map(type, values))
        if types <= {int, float}:
            out = list(map(repr, values))  # repr(int) is str(int)
        elif types == {str}:
            out = list(values)
        else:
            return None
        joined = "\n".join(out)
        if joined.count("\n") != len(out) - 1 or \
                not all(map(shape_ok, _shapes(joined))):
            return None
        return out
    return numerics


def numeric_as_written(col: ColumnPlan) -> Callable[[Any], str | None]:
    """For a numeric column: the text the copy sends unchanged for a SQLite value (an integer, a float's repr, or
    plain decimal text that numeric(p,s) stores without rounding), or None when the converter decides. Verify
    relies on the same test."""
    pattern = re.compile(_numeric_pattern(col.precision, col.scale or 0))

    def as_written(v: Any) -> str | None:
        t = type(v)
        text = repr(v) if t is int or t is float else v if t is str else None
        return text if text is not None and pattern.fullmatch(text) else None

    return as_written


def _numeric_pattern(precision: int | None, scale: int) -> str:
    """Plain decimal text (_PLAIN_NUMBER) that numeric(p,s) stores without rounding, when a precision is set."""
    if precision is None:
        return _PLAIN_NUMBER.pattern
    whole = precision - scale
    head = rf"(?=\d{{1,30}}(?!\d))0*\d{{0,{whole}}}(?!\d)"  # 1-30 digits, at most `whole` after leading zeros
    frac = rf"(?:\.\d{{1,{min(scale, 30)}}})?" if scale > 0 else ""
    return rf"-?{head}{frac}"


def _numeric_shapes(precision: int | None, scale: int) -> Callable[[str], bool]:
    """For numeric(precision, scale): whether a shape (the text with its digits as 9s) is plain decimal text that
    stores without rounding. Stricter than _numeric_pattern, which also allows leading zeros beyond the precision:
    such text only takes the slower path."""
    known: dict[str, bool] = {}
    form = re.compile(r"-?(9{1,30})(?:\.(9{1,30}))?")

    def ok(shape: str) -> bool:
        if shape not in known:
            m = form.fullmatch(shape)
            known[shape] = m is not None and (precision is None or (
                len(m.group(1)) <= precision - scale and len(m.group(2) or "") <= scale))
        return known[shape]

    return ok
