"""The canonical form of a row, the same on both sides of a migration, and its order-independent checksum.

A SQLite value is first converted by the plan (the conversion the copy applied); then both it and the value
PostgreSQL returns take the same canonical form: booleans, integers, floats and text as they are, a timestamp,
date or time as ISO 8601 text (one with a zone as its UTC instant), numeric as normalised decimal text, a BLOB as
bytes, JSON with sorted keys and numbers compared by value (as jsonb stores them), NULL distinct from ''. A row's
hash is taken over its values marshalled to bytes, which keeps every type and value apart.
"""

from __future__ import annotations

import json
import marshal
import struct
import zlib
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from decimal import Context, Decimal
from hashlib import blake2b
from typing import Any

from wizard.copy_format import numeric_as_written, timestamp_as_written
from wizard.plan_model import ColumnPlan
from wizard.values import _FAST_ISO, BadValue, JsonValue, converter

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
_JSON_IN = json.JSONDecoder(parse_float=_number, parse_int=int)  # an integer literal is its own value
_JSON_OUT = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def json_text(text: str) -> str:
    """JSON as jsonb would give it back: keys sorted (last duplicate wins), numbers compared by value."""
    return _JSON_OUT.encode(_JSON_IN.decode(text))


_WIDE = Context(prec=2000)  # numeric keeps up to 1000 digits each side of the point: never round when normalising


def _numeric(v: Any) -> str:
    d = Decimal(v).normalize(_WIDE)
    return "0" if d.is_zero() else str(d)  # numeric has no negative zero


def _utc(v: datetime) -> str:
    return v.astimezone(timezone.utc).isoformat()


def _iso(v: Any) -> Any:
    return None if v is None else v.isoformat()


def value_canon(col: ColumnPlan) -> Canon | None:
    """Converted value (or the value PostgreSQL returns for the column) -> canonical value; None when the value
    is already canonical as PostgreSQL returns it (text, integers, floats and booleans come back as the same
    Python values the converter produces). Times and numbers become text, so a row is plain data to hash."""
    kind = col.conversion
    if kind == "float" and col.pg_type == "real":  # stored in 4 bytes: compare what fits in them
        return lambda v: None if v is None else struct.pack("<f", v)
    if kind in ("text", "int", "float", "bool"):
        return None
    if kind in ("timestamp", "date", "time"):
        return _iso
    if kind == "numeric":
        return lambda v: None if v is None else _numeric(v)
    if kind == "timestamptz":
        return lambda v: None if v is None else _utc(v)
    if kind == "json":
        def canon_json(v: Any) -> str | None:
            if v is None:
                return None
            return json_text(v.text if isinstance(v, JsonValue) else v)
        return canon_json
    if kind == "bytea":
        return lambda v: None if v is None else bytes(v)
    raise ValueError(f"unknown conversion {kind!r}")


def source_canon(col: ColumnPlan) -> Canon:
    """SQLite value -> canonical value of what the copy loads; a value the copy rejects gets a marker no
    PostgreSQL value can equal, so its row shows as missing in the target. The common storage classes take the
    same fast paths as the copy's encoders (wizard.copy_format), which send such text as written."""
    conv = converter(col.conversion, text_fix=col.text_fix, epoch_unit=col.epoch_unit,
                     empty_to_null=col.empty_to_null, max_length=col.length, precision=col.precision, scale=col.scale)
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
                return _numeric(text)
            return _guarded(conv, canon, v)
        return src_numeric
    if kind in ("timestamp", "timestamptz"):
        as_written = timestamp_as_written(kind)

        def src_ts(v: Any) -> Any:
            if v is None:
                return None
            if _FAST_ISO and as_written(v):
                value = datetime.fromisoformat(v)
                return value.isoformat() if kind == "timestamp" else _utc(value)
            return _guarded(conv, canon, v)
        return src_ts
    return lambda v: _guarded(conv, canon, v)


_NONE = type(None)


def source_column_canon(col: ColumnPlan) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """source_canon over a column of a chunk. Where every value is already canonical as SQLite gives it (integers
    in an integer column, floats in a float column, text without NUL in a text column), the column is returned
    as it is, checked with a few C-speed passes instead of a Python call per value."""
    one = source_canon(col)
    kind = col.conversion
    plain: type | None = None
    if kind == "text" and col.length is None and col.text_fix is None:
        plain = str
    elif kind == "int" and not col.empty_to_null:
        plain = int
    elif kind == "float" and col.pg_type != "real":
        plain = float

    def column(values: Sequence[Any]) -> Sequence[Any]:
        if plain is not None and set(map(type, values)) <= {plain, _NONE} and (
                plain is not str or "\x00" not in "".join(filter(None, values))):
            return values
        return tuple(map(one, values))

    return column


def _same(v: Any) -> Any:
    return v


def _guarded(conv: Callable[[Any], Any], canon: Canon, v: Any) -> Any:
    try:
        return canon(conv(v))
    except BadValue as exc:
        return f"\x00not loadable: {exc}"
