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
from datetime import timezone
from decimal import Decimal
from hashlib import blake2b
from typing import Any

from wizard.plan_model import ColumnPlan
from wizard.values import BadValue, JsonValue, converter

Canon = Callable[[Any], "str | None"]

BUCKETS = 4096  # rows are grouped by key into this many buckets to narrow a checksum difference down
_MOD = 1 << 64


def row_hash(fields: tuple[str | None, ...]) -> int:
    return int.from_bytes(blake2b(repr(fields).encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def bucket_of(key: tuple[str | None, ...]) -> int:
    return zlib.crc32(repr(key).encode("utf-8", "surrogatepass")) % BUCKETS


def add(total: int, h: int) -> int:
    """Checksums add modulo 2^64: order-independent, and a duplicated row is not cancelled out (unlike XOR)."""
    return (total + h) % _MOD


def _json_canon(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _json_canon(v)
                              for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json_canon(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return _decimal(value)
    return json.dumps(value, ensure_ascii=False)


def json_text(text: str) -> str:
    """JSON as jsonb would give it back: keys sorted (last duplicate wins), numbers compared by value."""
    return _json_canon(json.loads(text, parse_float=Decimal, parse_int=Decimal))


def _decimal(d: Decimal) -> str:
    if d.is_nan():
        return "NaN"
    if d.is_infinite():
        return "Infinity" if d > 0 else "-Infinity"
    return format(d.normalize(), "f")


def value_canon(col: ColumnPlan) -> Canon:
    """Converted value (or the value PostgreSQL returns for the column) -> canonical text."""
    kind = col.conversion
    if kind == "text":
        return lambda v: v
    if kind == "int":
        return lambda v: None if v is None else str(int(v))
    if kind == "float":
        if col.pg_type == "real":  # stored in 4 bytes: compare what fits in them
            return lambda v: None if v is None else struct.pack("<f", v).hex()
        return lambda v: None if v is None else repr(float(v))
    if kind == "numeric":
        return lambda v: None if v is None else _decimal(Decimal(v))
    if kind == "bool":
        return lambda v: None if v is None else ("t" if v else "f")
    if kind == "timestamptz":
        return lambda v: None if v is None else v.astimezone(timezone.utc).isoformat()
    if kind in ("timestamp", "date", "time"):
        return lambda v: None if v is None else v.isoformat()
    if kind == "json":
        def canon_json(v: Any) -> str | None:
            if v is None:
                return None
            return json_text(v.text if isinstance(v, JsonValue) else v)
        return canon_json
    if kind == "bytea":
        return lambda v: None if v is None else bytes(v).hex()
    raise ValueError(f"unknown conversion {kind!r}")


def source_canon(col: ColumnPlan) -> Canon:
    """SQLite value -> canonical text of what the copy loads; a value the copy rejects gets a marker no
    PostgreSQL value can equal, so its row shows as missing in the target."""
    conv = converter(col.conversion, text_fix=col.text_fix, epoch_unit=col.epoch_unit,
                     empty_to_null=col.empty_to_null, max_length=col.length, precision=col.precision, scale=col.scale)
    canon = value_canon(col)
    if col.conversion == "text" and col.length is None and col.text_fix is None:
        def src_text(v: Any) -> str | None:
            if v is None or (type(v) is str and "\x00" not in v):
                return v
            return _guarded(conv, canon, v)
        return src_text
    if col.conversion == "int" and not col.empty_to_null:
        def src_int(v: Any) -> str | None:
            if v is None:
                return None
            if type(v) is int:
                return str(v)
            return _guarded(conv, canon, v)
        return src_int
    return lambda v: _guarded(conv, canon, v)


def _guarded(conv: Callable[[Any], Any], canon: Canon, v: Any) -> str | None:
    try:
        return canon(conv(v))
    except BadValue as exc:
        return f"\x00not loadable: {exc}"
