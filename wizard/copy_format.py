"""COPY text-format encoding of converted values (one place, so the copy and its tests agree)."""

from __future__ import annotations

import json
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


def column_encoder(col: ColumnPlan) -> Callable[[Any], str]:
    """SQLite value -> COPY field for one column; raises values.BadValue for a value that cannot load."""
    conv = converter(col.conversion, text_fix=col.text_fix, epoch_unit=col.epoch_unit,
                     empty_to_null=col.empty_to_null, max_length=col.length, precision=col.precision, scale=col.scale)
    # Fast paths for the common storage class of the two most common columns; anything else takes the converter.
    if col.conversion == "int" and not col.empty_to_null:
        def enc_int(v: Any) -> str:
            if v is None:
                return NULL
            if type(v) is int:
                return str(v)
            return format_value(conv(v))
        return enc_int
    if col.conversion == "text" and col.length is None and col.text_fix is None:
        def enc_text(v: Any) -> str:
            if v is None:
                return NULL
            if type(v) is str and "\x00" not in v:
                return v.translate(_ESCAPES)
            return format_value(conv(v))
        return enc_text
    return lambda v: format_value(conv(v))


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
