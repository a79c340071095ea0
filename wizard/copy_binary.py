"""COPY binary-format encoding, for the tables whose every column has a binary form here.

PostgreSQL reads binary fields without parsing text: a BLOB goes as its bytes instead of hex, a float as its 8
bytes instead of the shortest decimal, a timestamp as microseconds instead of a string to parse, and text needs no
escaping. That is less work on both sides of the connection. The values are the ones the text format sends: the
same converters decide every value that is not of its column's common storage class, and the text a timestamp
column sends as written is parsed here to the instant PostgreSQL would read from it.

A field is one to three byte strings ("pieces": its 4-byte length, then its data), so a chunk of rows is joined
once, without concatenating each field first. A table with any other column (numeric, date, time, real,
varchar(n), text fixes) keeps the text format.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import chain, repeat
from typing import Any

from wizard.copy_format import BadField, plain_stamps, with_nulls, zoned_stamps
from wizard.plan_model import ColumnPlan, TablePlan
from wizard.values import BadValue, JsonValue, converter

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # signature, flags, no header extension
TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_LEN = struct.Struct(">i").pack
_INTS = {"bigint": (struct.Struct(">iq").pack, 8, 2**63), "integer": (struct.Struct(">ii").pack, 4, 2**31),
         "smallint": (struct.Struct(">ih").pack, 2, 2**15)}
_FLOAT = struct.Struct(">id").pack
_BOOLS = {0: b"\x00\x00\x00\x01\x00", 1: b"\x00\x00\x00\x01\x01"}
_EPOCH = datetime(2000, 1, 1)  # PostgreSQL's timestamps count microseconds from here
_EPOCH_UTC = _EPOCH.replace(tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

Pieces = list[list[bytes]]  # per column: one list of pieces per part of the field, each as long as the chunk


@dataclass(frozen=True)
class BinaryField:
    """How one column becomes binary fields: `parts` pieces per field (1; 2 for length and data; 3 with jsonb's
    version byte); `many` encodes a chunk of non-NULL values of the common storage class (None when one is not),
    `one` any value."""

    parts: int
    many: Callable[[Sequence[Any]], Pieces | None] | None
    one: Callable[[Any], list[bytes]]


def binary_table(t: TablePlan) -> bool:
    """Whether table t loads in binary format: every column has a binary form here."""
    return all(_kind(c) is not None for c in t.columns)


def _kind(col: ColumnPlan) -> str | None:
    """The binary form of a column, or None for a column the text format handles."""
    if col.text_fix is not None or col.length is not None:
        return None
    pg = col.pg_type.lower()
    forms = {"int": pg if pg in _INTS else None, "float": "float8" if pg == "double precision" else None,
             "bool": "bool" if pg == "boolean" else None, "text": "text" if pg == "text" else None,
             "json": pg if pg in ("json", "jsonb") else None, "bytea": "bytea" if pg == "bytea" else None,
             "timestamp": "timestamp" if pg == "timestamp" else None,
             "timestamptz": "timestamptz" if pg == "timestamptz" else None}
    return forms.get(col.conversion)


def binary_field(col: ColumnPlan) -> BinaryField:
    kind = _kind(col)
    if kind is None:
        raise ValueError(f"column {col.source} ({col.pg_type}) has no binary form here")
    conv = converter(col.conversion, text_fix=col.text_fix, epoch_unit=col.epoch_unit,
                     empty_to_null=col.empty_to_null)
    data = _data(kind)
    parts = 3 if kind == "jsonb" else 2 if kind in ("text", "json", "bytea") else 1
    null = [_NULL] + [b""] * (parts - 1)

    def one(v: Any) -> list[bytes]:
        value = conv(v)
        return null if value is None else data(value)

    bulk = _bulk(kind, col)
    if bulk is None:
        return BinaryField(parts, None, one)

    def many(values: Sequence[Any]) -> Pieces | None:
        if None not in values:
            return bulk(values)
        present = [v for v in values if v is not None]
        if not present:
            return [[p] * len(values) for p in null]
        out = bulk(present)
        return None if out is None else [with_nulls(values, part, p) for part, p in zip(out, null, strict=True)]

    return BinaryField(parts, many, one)


def _data(kind: str) -> Callable[[Any], list[bytes]]:
    """The pieces of one converted (non-NULL) value."""
    if kind in _INTS:
        pack, width, limit = _INTS[kind]

        def int_data(v: Any) -> list[bytes]:
            if not -limit <= v < limit:
                raise BadValue(f"{v} is out of range for {kind}")
            return [pack(width, v)]
        return int_data
    if kind == "float8":
        return lambda v: [_FLOAT(8, v)]
    if kind == "bool":
        return lambda v: [_BOOLS[int(v)]]
    if kind in ("text", "json"):
        def text_data(v: Any) -> list[bytes]:
            b = (v.text if isinstance(v, JsonValue) else v).encode("utf-8")
            return [_LEN(len(b)), b]
        return text_data
    if kind == "jsonb":
        def jsonb_data(v: Any) -> list[bytes]:
            b = v.text.encode("utf-8")
            return [_LEN(len(b) + 1), b"\x01", b]  # jsonb's binary form: version 1, then the JSON text
        return jsonb_data
    if kind == "bytea":
        return lambda v: [_LEN(len(v)), v]
    if kind == "timestamp":
        return lambda v: [_INTS["bigint"][0](8, (v - _EPOCH) // _US)]
    if kind == "timestamptz":
        return lambda v: [_INTS["bigint"][0](8, (v - _EPOCH_UTC) // _US)]
    raise ValueError(kind)


def _bulk(kind: str, col: ColumnPlan) -> Callable[[Sequence[Any]], Pieces | None] | None:
    """The fields of a chunk of non-NULL values when every one has the column's common storage class and the
    text format would send it without the converter (see copy_format's bulk encoders), else None."""
    if kind in _INTS:
        pack, width, limit = _INTS[kind]

        def ints(values: Sequence[Any]) -> Pieces | None:
            if set(map(type, values)) != {int}:
                return None
            if kind != "bigint" and (min(values) < -limit or max(values) >= limit):  # SQLite's fit a bigint
                return None
            return [list(map(pack, repeat(width, len(values)), values))]
        return ints
    if kind == "float8":
        def floats(values: Sequence[Any]) -> Pieces | None:
            if set(map(type, values)) != {float}:
                return None
            return [list(map(_FLOAT, repeat(8, len(values)), values))]  # NaN and infinities as they are
        return floats
    if kind == "bool":
        def bools(values: Sequence[Any]) -> Pieces | None:
            if set(map(type, values)) != {int} or not set(values) <= {0, 1}:
                return None
            return [list(map(_BOOLS.__getitem__, values))]
        return bools
    if kind in ("text", "json", "jsonb"):
        def texts(values: Sequence[Any]) -> Pieces | None:
            if set(map(type, values)) != {str}:
                return None
            if "\x00".join(values).count("\x00") != len(values) - 1:
                return None  # a NUL, which PostgreSQL's text cannot hold: the converter decides
            if kind != "text" and not all(map(str.strip, values)):
                return None
            data = list(map(str.encode, values))
            if kind == "jsonb":  # version 1, then the JSON text
                return [list(map(_LEN, map((1).__add__, map(len, data)))), [b"\x01"] * len(data), data]
            return [list(map(_LEN, map(len, data))), data]
        return texts
    if kind == "bytea":
        def blobs(values: Sequence[Any]) -> Pieces | None:
            if set(map(type, values)) != {bytes}:
                return None
            return [list(map(_LEN, map(len, values))), list(values)]
        return blobs
    if kind in ("timestamp", "timestamptz"):
        pack = _INTS["bigint"][0]
        epoch = _EPOCH if kind == "timestamp" else _EPOCH_UTC

        def stamps(values: Sequence[Any]) -> Pieces | None:
            if set(map(type, values)) != {str}:
                return None
            if kind == "timestamp":
                checked = plain_stamps(values)
                parsed = None if checked is None else checked[1]
            else:
                parsed = zoned_stamps(values)
            if parsed is None:
                return None
            return [list(map(pack, repeat(8, len(values)), [(d - epoch) // _US for d in parsed]))]
        return stamps
    return None


def encode_binary(fields: list[BinaryField], columns: Sequence[Sequence[Any]]) -> tuple[bytes, dict[int, BadField]]:
    """The binary tuples of a chunk given column by column (without the rows that cannot load), and those rows:
    {row index: the first failing column}."""
    n = len(columns[0]) if columns else 0
    pieces: Pieces = [[struct.pack(">h", len(fields))] * n]
    bad: dict[int, BadField] = {}
    for ci, (field, values) in enumerate(zip(fields, columns, strict=True)):
        out = field.many(values) if field.many is not None else None
        if out is None:
            out = [[] for _ in range(field.parts)]
            for ri, v in enumerate(values):
                try:
                    got = field.one(v)
                except BadValue as exc:
                    bad.setdefault(ri, BadField(ci, exc))
                    got = [b""] * field.parts
                for part, piece in zip(out, got, strict=True):
                    part.append(piece)
        pieces += out
    rows: Any = zip(*pieces, strict=True)
    if bad:
        rows = (row for ri, row in enumerate(rows) if ri not in bad)
    return b"".join(chain.from_iterable(rows)), bad
