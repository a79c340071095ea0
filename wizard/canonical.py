"""The canonical form of a row, the same on both sides of a migration, and its order-independent checksum.

A SQLite value is first converted by the plan (the conversion the copy applied), then both it and the value
PostgreSQL returns are written as the same text: a boolean as t/f, a timestamp with a zone as its UTC instant, a
BLOB as hex, JSON with sorted keys and normalised numbers (as jsonb stores them), NULL distinct from ''. A row is
the repr() of its tuple of such texts, which is unambiguous whatever the texts hold.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Context, Decimal
from hashlib import blake2b
from typing import Any

from wizard.copy_format import timestamp_as_written
from wizard.plan_model import ColumnPlan
from wizard.values import _FAST_ISO, BadValue, JsonValue, converter

Canon = Callable[[Any], Any]

BUCKETS = 4096  # rows are grouped by key into this many buckets to narrow a checksum difference down
_MOD = 1 << 64


def row_hash(fields: tuple[Any, ...]) -> int:
    return int.from_bytes(blake2b(repr(fields).encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


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


def json_text(text: str) -> str:
    """JSON as jsonb would give it back: keys sorted (last duplicate wins), numbers compared by value."""
    return json.dumps(json.loads(text, parse_float=_number, parse_int=_number), sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)


_WIDE = Context(prec=2000)  # numeric keeps up to 1000 digits each side of the point: never round when normalising


def _numeric(v: Any) -> Decimal:
    return Decimal(v).normalize(_WIDE)


def _utc(v: datetime) -> datetime:
    return v.astimezone(timezone.utc)


def value_canon(col: ColumnPlan) -> Canon | None:
    """Converted value (or the value PostgreSQL returns for the column) -> canonical value; None when the value
    is already canonical as PostgreSQL returns it (text, integers, floats, booleans, timestamps, dates, times come
    back as the same Python values the converter produces)."""
    kind = col.conversion
    if kind == "float" and col.pg_type == "real":  # stored in 4 bytes: compare what fits in them
        return lambda v: None if v is None else struct.pack("<f", v)
    if kind in ("text", "int", "float", "bool", "timestamp", "date", "time"):
        return None
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
    if kind in ("timestamp", "timestamptz"):
        as_written = timestamp_as_written(kind)

        def src_ts(v: Any) -> Any:
            if v is None:
                return None
            if _FAST_ISO and as_written(v):
                value = datetime.fromisoformat(v)
                return value if kind == "timestamp" else _utc(value)
            return _guarded(conv, canon, v)
        return src_ts
    return lambda v: _guarded(conv, canon, v)


def _same(v: Any) -> Any:
    return v


def _guarded(conv: Callable[[Any], Any], canon: Canon, v: Any) -> Any:
    try:
        return canon(conv(v))
    except BadValue as exc:
        return f"\x00not loadable: {exc}"
