"""The canonical form of a row, the same on both sides of a migration, and its order-independent checksum.

A SQLite value is first converted by the plan (the conversion the copy applied); then both it and the value
PostgreSQL returns take the same canonical form: booleans, integers, floats and text as they are, a timestamp,
date or time as the text PostgreSQL prints for it (ISO DateStyle, in UTC), numeric as plain decimal text without
insignificant zeros, a BLOB as bytes, JSON with sorted keys and numbers compared by value (as jsonb stores them),
NULL distinct from ''. A row's hash is taken over its values marshalled to bytes, which keeps every type and value
apart.

The target side reads times and numbers as PostgreSQL's own text (no datetime or Decimal objects), so most of its
columns are canonical as they arrive; the source side reaches the same text column by column with a few regular
expressions over a whole chunk where the copy sent the values as written.
"""

from __future__ import annotations

import json
import marshal
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from hashlib import blake2b
from typing import Any

from wizard.convert.as_written import numeric_as_written, timestamp_shapes, with_nulls
from wizard.convert.text_copy import as_written_many
from wizard.convert.values import BadValue, JsonValue, column_converter, inet_text, reject_json_constant
from wizard.plan_model import ColumnPlan

Canon = Callable[[Any], Any]

BUCKETS = 4096  # rows are grouped by key into this many buckets to narrow a checksum difference down
_MOD = 1 << 64


def row_hash(fields: tuple[Any, ...]) -> int:
    """64 bits of BLAKE2b over the row's bytes. Canonical rows hold only None, bool, int, float, str and bytes, which
    marshal (version 2: no back-references, so equal values give equal bytes whatever the objects' identity)
    writes exactly and several times faster than repr()."""
    try:
        data = marshal.dumps(fields, 2)
    except ValueError:  # a type marshal does not know: the same fallback on both sides
        data = repr(fields).encode("utf-8", "surrogatepass")
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "little")


def bucket_of(key: tuple[Any, ...]) -> int:
    if len(key) == 1 and type(key[0]) is int:  # the usual integer id: no need to hash it
        return key[0] % BUCKETS
    return zlib.crc32(repr(key).encode("utf-8", "surrogatepass")) % BUCKETS


def add(total: int, h: int) -> int:
    """Checksums add modulo 2^64: order-independent, and a duplicated row is not cancelled out (unlike XOR)."""
    return (total + h) % _MOD


def _number(text: str) -> int | float:
    """A JSON number as jsonb compares it: by value (1.0, 1e0 and 1 are the same number)."""
    d = Decimal(text)
    if d == d.to_integral_value():
        return int(d)
    return float(text)


# made once: json.loads/dumps with options build a new decoder/encoder on every call
# an integer literal is its own value; NaN and Infinity are not JSON (jsonb refuses them, as the converter does)
_JSON_IN = json.JSONDecoder(parse_float=_number, parse_int=int, parse_constant=reject_json_constant)
_JSON_OUT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_SCAN = _JSON_IN.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__


def _encoder() -> Callable[[Any, int], Sequence[str]]:
    """JSONEncoder.encode builds its C encoder anew on every call, which costs more than encoding a small object;
    build it once (same arguments as _JSON_OUT's) where the C accelerator exists."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is not None:
        try:
            return make(None, None, json.encoder.encode_basestring, None, ":", ",", True, False, True)  # type: ignore[no-any-return]
        except TypeError:  # another signature: take the public path
            pass
    return lambda obj, _level: [_JSON_OUT.encode(obj)]


_ENCODE = _encoder()


def json_text(text: str) -> str:
    """JSON as jsonb would give it back: keys sorted (last duplicate wins), numbers compared by value."""
    try:
        obj, end = _SCAN(text, 0)  # the decoder's C scanner, without its whitespace checks around the value
    except StopIteration:
        end = -1
    if end != len(text):  # whitespace around the value, or not JSON: the full decoder decides (ValueError)
        obj = _JSON_IN.decode(text)
    return "".join(_ENCODE(obj, 0))


# -- times and numbers as PostgreSQL prints them -------------------------------------------------------------

def pg_time_text(v: date | time) -> str:
    """A converted date, time or timestamp as PostgreSQL prints it with DateStyle ISO in UTC: a space between date
    and time, no trailing zeros in the fraction, '+00' for a timestamptz."""
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            return _trim_fraction(v.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")) + "+00"
        return _trim_fraction(v.isoformat(sep=" "))
    if isinstance(v, time):
        return _trim_fraction(v.isoformat())
    return v.isoformat()


def _trim_fraction(text: str) -> str:
    # isoformat writes a fraction only when it is not zero: trailing zeros stop at a digit that is not
    return text.rstrip("0") if "." in text else text


# Rewrites over a chunk joined by newlines (every line already matched the copy's as-written pattern).
_NO_SECONDS = re.compile(r"(?m)( \d\d:\d\d)$")
_DATE_ONLY = re.compile(r"(?m)^(\d{4}-\d\d-\d\d)$")
_FRACTION_ZEROS = re.compile(r"(?m)(\.\d*?)0+$")
_BARE_POINT = re.compile(r"(?m)\.$")
_LEADING_ZEROS = re.compile(r"(?m)^(-?)0+(?=\d)")
_MINUS_ZERO = re.compile(r"(?m)^-0$")


def _lines(values: Sequence[str], rewrite: Callable[[str], str]) -> list[str] | None:
    joined = "\n".join(values)
    if joined.count("\n") != len(values) - 1:
        return None  # a value holds a newline: not one of ours
    return rewrite(joined).split("\n")


def _timestamps_as_pg(joined: str, shapes: set[str]) -> str:
    """'2024-01-02T03:04', '2024-01-02' or '2024-01-02 03:04:05.500' as PostgreSQL prints the timestamp; `shapes`
    (see copy_format.timestamp_shapes) skips the rewrites no line needs."""
    def has(test: Callable[[str], bool]) -> bool:
        return any(map(test, shapes))

    text = joined.replace("T", " ")
    if has(lambda shape: len(shape) == 10):
        text = _DATE_ONLY.sub(r"\1 00:00:00", text)
    if has(lambda shape: len(shape) == 16):
        text = _NO_SECONDS.sub(r"\1:00", text)
    if has(lambda shape: "." in shape) and ("0\n" in text or text.endswith("0")):
        text = _FRACTION_ZEROS.sub(r"\1", text)
        if ".\n" in text or text.endswith("."):
            text = _BARE_POINT.sub("", text)
    return text


def _numerics_as_pg(joined: str) -> str:
    """Plain decimal text without insignificant zeros: '007.50' -> '7.5', '-0.0' -> '0', '100.00' -> '100'.
    Each rewrite runs only when a quick search says some line needs it."""
    text = joined
    if "\n0" in text or "-0" in text or text.startswith("0"):
        text = _LEADING_ZEROS.sub(r"\1", text)
    if "." in text and ("0\n" in text or text.endswith("0")):
        text = _FRACTION_ZEROS.sub(r"\1", text)
    if ".\n" in text or text.endswith("."):
        text = _BARE_POINT.sub("", text)
    if "-0" in text:
        text = _MINUS_ZERO.sub("0", text)
    return text


def numeric_text(v: Any) -> str:
    """A converted numeric value (Decimal, int or float) or PostgreSQL's numeric text, canonical."""
    if isinstance(v, Decimal):
        text = format(v, "f")
    elif isinstance(v, str):
        text = v
    else:
        text = format(Decimal(v), "f")
    return _numerics_as_pg(text)


def value_canon(col: ColumnPlan) -> Canon | None:
    """Converted value -> canonical value; None when the converter's value is canonical as it is (text, integers,
    floats and booleans). Times and numbers become PostgreSQL's text, so a row is plain data to hash."""
    kind = col.conversion
    if kind == "float" and col.pg_type == "real":  # stored in 4 bytes: compare what fits in them
        return lambda v: None if v is None else struct.pack("<f", v)
    if kind in ("text", "int", "float", "bool", "uuid"):  # a UUID converts to PostgreSQL's own text of it
        return None
    if kind in ("timestamp", "timestamptz", "date", "time"):
        return lambda v: None if v is None else pg_time_text(v)
    if kind == "numeric":
        return lambda v: None if v is None else numeric_text(v)
    if kind == "json":
        def canon_json(v: Any) -> str | None:
            if v is None:
                return None
            return json_text(v.text if isinstance(v, JsonValue) else v)
        return canon_json
    if kind == "bytea":
        return lambda v: None if v is None else bytes(v)
    if kind == "inet":
        return lambda v: None if v is None else inet_text(v)
    if kind == "interval":  # psycopg2 gives a timedelta; the converter too
        return lambda v: None if v is None else v // timedelta(microseconds=1)
    raise ValueError(f"unknown conversion {kind!r}")


def source_canon(col: ColumnPlan) -> Canon:
    """SQLite value -> canonical value of what the copy loads; a value the copy rejects gets a marker no
    PostgreSQL value can equal, so its row shows as missing in the target. The common storage classes take the
    same fast paths as the copy's encoders (wizard.copy_format), which send such text as written."""
    conv = column_converter(col)
    canon = value_canon(col) or _same
    kind = col.conversion
    if kind == "json" and col.text_fix is None and not col.empty_to_null:
        def src_json(v: Any) -> Any:
            if type(v) is str and "\x00" not in v and "\\u0000" not in v:
                try:
                    return json_text(v)  # parsing once is also the validation the copy's converter does
                except ValueError:
                    pass
            return _guarded(conv, canon, v)
        return src_json
    if kind == "text" and col.length is None and col.text_fix is None:
        def src_text(v: Any) -> Any:
            if v is None or (type(v) is str and "\x00" not in v):
                return v
            return _guarded(conv, canon, v)
        return src_text
    if kind == "int" and not col.empty_to_null:
        def src_int(v: Any) -> Any:
            if v is None or type(v) is int:
                return v
            return _guarded(conv, canon, v)
        return src_int
    if kind == "float" and col.pg_type != "real":
        def src_float(v: Any) -> Any:
            if v is None or type(v) is float:
                return v
            return _guarded(conv, canon, v)
        return src_float
    if kind == "numeric":
        number_as_written = numeric_as_written(col)

        def src_numeric(v: Any) -> Any:
            if v is None:
                return None
            text = number_as_written(v)
            if text is not None:  # sent as written; numeric stores it exactly
                return _numerics_as_pg(text)
            return _guarded(conv, canon, v)
        return src_numeric
    if kind == "timestamp":
        def src_ts(v: Any) -> Any:
            if v is None:
                return None
            if type(v) is str:
                shapes = timestamp_shapes([v])  # the copy sends it as written, and it is a valid timestamp
                if shapes is not None:
                    return _timestamps_as_pg(v, shapes)
            return _guarded(conv, canon, v)
        return src_ts
    return lambda v: _guarded(conv, canon, v)


_NONE = type(None)


def source_column_canon(col: ColumnPlan) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """source_canon over a column of a chunk, with C-speed passes instead of a Python call per value where it can:
    a column already canonical as SQLite gives it (integers in an integer column, floats in a float column, text
    without NUL in a text column) is returned as it is; timestamps and numbers the copy sends as written are
    rewritten to PostgreSQL's text by a few regular expressions over the joined chunk. Anything else goes value by
    value."""
    one = source_canon(col)
    kind = col.conversion
    plain: type | None = None
    if kind == "text" and col.length is None and col.text_fix is None:
        plain = str
    elif kind == "int" and not col.empty_to_null:
        plain = int
    elif kind == "float" and col.pg_type != "real":
        plain = float
    written = as_written_many(col) if kind == "numeric" else None
    plain_json = kind == "json" and col.text_fix is None and not col.empty_to_null

    def bulk(values: Sequence[Any]) -> list[str] | None:
        present = [v for v in values if v is not None]
        out: list[str] | None = []
        if present and written is not None:  # numeric
            texts = written(present)
            out = None if texts is None else _lines(texts, _numerics_as_pg)
        elif present:  # timestamp
            shapes = timestamp_shapes(present) if set(map(type, present)) == {str} else None
            out = None if shapes is None else _lines(present, lambda joined: _timestamps_as_pg(joined, shapes))
        return None if out is None else with_nulls(values, out, None)

    def column(values: Sequence[Any]) -> Sequence[Any]:
        if plain is not None and set(map(type, values)) <= {plain, _NONE} and (
                plain is not str or "\x00" not in "".join(filter(None, values))):
            return values
        if kind in ("numeric", "timestamp"):
            out = bulk(values)
            if out is not None:
                return out
        elif kind == "bool" and set(map(type, values)) <= {int, _NONE} and set(values) <= {0, 1, None}:
            return list(map(_BOOLS.__getitem__, values))
        elif plain_json and set(map(type, values)) <= {str, _NONE}:
            joined = "".join(filter(None, values))
            if "\x00" not in joined and "\\u0000" not in joined:
                try:
                    return [None if v is None else json_text(v) for v in values]
                except ValueError:
                    pass  # one is not JSON: value by value, which marks it
        return tuple(map(one, values))

    return column


_BOOLS = {0: False, 1: True, None: None}


def target_column_canon(col: ColumnPlan) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
    """Values of a column as the verify connection returns them (times and numbers as PostgreSQL's text, see
    verify) -> canonical values; None when they are canonical as they arrive."""
    kind = col.conversion
    if kind in ("text", "int", "bool", "timestamp", "timestamptz", "date", "time", "uuid") or (
            kind == "float" and col.pg_type != "real"):
        return None
    if kind == "numeric":
        def numerics(values: Sequence[Any]) -> Sequence[Any]:
            present = [v for v in values if v is not None]
            out = _lines(present, _numerics_as_pg) if present else []
            assert out is not None, "PostgreSQL's numeric text has no newline"
            return with_nulls(values, out, None)
        return numerics
    if kind == "bytea":  # psycopg2 gives a memoryview
        return lambda values: [None if v is None else bytes(v) for v in values]
    canon = value_canon(col)
    assert canon is not None
    return lambda values: tuple(map(canon, values))


def _same(v: Any) -> Any:
    return v


def _guarded(conv: Callable[[Any], Any], canon: Canon, v: Any) -> Any:
    try:
        return canon(conv(v))
    except BadValue as exc:
        return f"\x00not loadable: {exc}"
