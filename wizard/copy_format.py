"""COPY text-format encoding of converted values (one place, so the copy and its tests agree)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from wizard.plan_model import ColumnPlan
from wizard.values import JsonValue, converter, float_text

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def _text(s: str) -> str:
    return s.translate(_ESCAPES)


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
        return _text(v.text)
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, Decimal):
        return format(v, "f") if v.is_finite() else str(v)
    if isinstance(v, (date, time)):
        return v.isoformat()
    return _text(json.dumps(v))


def column_encoder(col: ColumnPlan) -> Callable[[Any], str]:
    """SQLite value -> COPY field for one column; raises values.BadValue for a value that cannot load."""
    if col.conversion == "int" and not col.empty_to_null:
        def enc_int(v: Any) -> str:
            if v is None:
                return NULL
            if type(v) is int:
                return str(v)
            return format_value(conv(v))
        conv = converter("int")
        return enc_int
    if col.conversion == "text" and col.length is None and col.text_fix is None:
        slow = converter("text")

        def enc_text(v: Any) -> str:
            if v is None:
                return NULL
            if type(v) is str and "\x00" not in v:
                return v.translate(_ESCAPES)
            return format_value(slow(v))
        return enc_text
    conv = converter(col.conversion, text_fix=col.text_fix, epoch_unit=col.epoch_unit,
                     empty_to_null=col.empty_to_null, max_length=col.length, precision=col.precision, scale=col.scale)
    return lambda v: format_value(conv(v))
