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
from itertools import chain, repeat, starmap
from typing import Any

from wizard.convert.as_written import plain_stamps, plain_texts, with_nulls, zoned_stamps
from wizard.convert.text_copy import BadField
from wizard.convert.values import INTEGER_MAX, BadValue, JsonValue, column_converter
from wizard.plan_model import ColumnPlan, TablePlan

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # signature, flags, no header extension
TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_LEN = struct.Struct(">i").pack
# the fixed-width forms: struct code and width of the value
_CODES = {"bigint": ("q", 8), "integer": ("i", 4), "smallint": ("h", 2), "float8": ("d", 8), "bool": ("B", 1),
          "timestamp": ("q", 8), "timestamptz": ("q", 8)}
_INT_LIMITS = {kind: top + 1 for kind, top in INTEGER_MAX.items()}
_BOOLS = {0: b"\x00\x00\x00\x01\x00", 1: b"\x00\x00\x00\x01\x01"}  # the whole field: a lookup beats a pack
_EPOCH = datetime(2000, 1, 1)  # PostgreSQL's timestamps count microseconds from here
_EPOCH_UTC = _EPOCH.replace(tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

Pieces = list[list[bytes]]  # per column: one list of pieces per part of the field, each as long as the chunk
Numbers = Callable[[Sequence[Any]], Sequence[Any] | None]  # a chunk's values -> the numbers they pack as, or None


@dataclass(frozen=True)
class BinaryField:
    """How one column becomes binary fields: `parts` pieces per field (1; 2 for length and data; 3 with jsonb's
    version byte); `many` encodes a chunk of non-NULL values of the common storage class (None when one is not),
    `one` any value."""

    parts: int
    many: Callable[[Sequence[Any]], Pieces | None] | None
    one: Callable[[Any], list[bytes]]
    # a fixed-width form: its struct code and width, and the numbers a chunk of non-NULL values packs as
    code: str | None = None
    width: int = 0
    raw: Numbers | None = None


def binary_table(t: TablePlan) -> bool:
    """Whether table t loads in binary format: every column has a binary form here."""
    return all(_kind(c) is not None for c in t.columns)


def _kind(col: ColumnPlan) -> str | None:
    """The binary form of a column, or None for a column the text format handles."""
    if col.text_fix is not None or col.length is not None:
        return None
    pg = col.pg_type.lower()
    forms = {"int": pg if pg in _INT_LIMITS else None, "float": "float8" if pg == "double precision" else None,
             "bool": "bool" if pg == "boolean" else None, "text": "text" if pg == "text" else None,
             "json": pg if pg in ("json", "jsonb") else None, "bytea": "bytea" if pg == "bytea" else None,
             "timestamp": "timestamp" if pg == "timestamp" else None,
             "timestamptz": "timestamptz" if pg == "timestamptz" else None}
    return forms.get(col.conversion)


def binary_field(col: ColumnPlan) -> BinaryField:
    kind = _kind(col)
    if kind is None:
        raise ValueError(f"column {col.source} ({col.pg_type}) has no binary form here")
    conv = column_converter(col)
    data = _data(kind)
    parts = 3 if kind == "jsonb" else 2 if kind in ("text", "json", "bytea") else 1
    null = [_NULL] + [b""] * (parts - 1)

    def one(v: Any) -> list[bytes]:
        value = conv(v)
        return null if value is None else data(value)

    raw = _raw(kind)
    bulk = _bulk(kind) if raw is None else _packed(kind, raw)
    code, width = _CODES.get(kind, (None, 0))
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

    return BinaryField(parts, many, one, code, width, raw)


def _field_pack(kind: str) -> Callable[[int, Any], bytes]:
    """struct's pack of a fixed-width field: its length, then its value."""
    return struct.Struct(">i" + _CODES[kind][0]).pack


def _data(kind: str) -> Callable[[Any], list[bytes]]:
    """The pieces of one converted (non-NULL) value."""
    if kind in _INT_LIMITS:
        pack, limit = _field_pack(kind), _INT_LIMITS[kind]
        width = _CODES[kind][1]

        def int_data(v: Any) -> list[bytes]:
            if not -limit <= v < limit:
                raise BadValue(f"{v} is out of range for {kind}")
            return [pack(width, v)]
        return int_data
    if kind == "float8":
        pack = _field_pack(kind)
        return lambda v: [pack(8, v)]
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
    if kind in ("timestamp", "timestamptz"):
        pack = _field_pack(kind)
        epoch = _EPOCH if kind == "timestamp" else _EPOCH_UTC
        return lambda v: [pack(8, (v - epoch) // _US)]
    raise ValueError(kind)


def _raw(kind: str) -> Numbers | None:
    """For a fixed-width form: the numbers a chunk of non-NULL values packs as, when every value has the column's
    common storage class and the text format would send it without the converter, else None."""
    if kind in _INT_LIMITS:
        limit = _INT_LIMITS[kind]

        def ints(values: Sequence[Any]) -> Sequence[Any] | None:
            if set(map(type, values)) != {int}:
                return None
            if kind != "bigint" and (min(values) < -limit or max(values) >= limit):  # SQLite's fit a bigint
                return None
            return values
        return ints
    if kind == "float8":
        def floats(values: Sequence[Any]) -> Sequence[Any] | None:
            if set(map(type, values)) != {float}:
                return None
            return values  # NaN and infinities as they are
        return floats
    if kind == "bool":
        def bools(values: Sequence[Any]) -> Sequence[Any] | None:
            if set(map(type, values)) != {int} or not set(values) <= {0, 1}:
                return None
            return values
        return bools
    if kind in ("timestamp", "timestamptz"):
        epoch = _EPOCH if kind == "timestamp" else _EPOCH_UTC

        def stamps(values: Sequence[Any]) -> Sequence[Any] | None:
            if set(map(type, values)) != {str}:
                return None
            if kind == "timestamp":
                checked = plain_stamps(values)
                parsed = None if checked is None else checked[1]
            else:
                parsed = zoned_stamps(values)
            if parsed is None:
                return None
            return [(d - epoch) // _US for d in parsed]
        return stamps
    return None


def _packed(kind: str, raw: Numbers) -> Callable[[Sequence[Any]], Pieces | None]:
    """The fields of a fixed-width form, each packed with its length."""
    pack, width = _field_pack(kind), _CODES[kind][1]

    def fields(values: Sequence[Any]) -> Pieces | None:
        numbers = raw(values)
        return None if numbers is None else [list(map(pack, repeat(width, len(numbers)), numbers))]
    return fields


def _bulk(kind: str) -> Callable[[Sequence[Any]], Pieces | None] | None:
    """For a variable-width form: the fields of a chunk of non-NULL values when every one has the column's common
    storage class and the text format would send it without the converter (see copy_format's bulk encoders), else
    None."""
    if kind in ("text", "json", "jsonb"):
        def texts(values: Sequence[Any]) -> Pieces | None:
            if plain_texts(values, json=kind != "text") is None:
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
    return None


def encode_binary(fields: list[BinaryField], columns: Sequence[Sequence[Any]],
                  index: list[int] | None = None) -> tuple[bytes, dict[int, BadField]]:
    """The binary tuples of a chunk given column by column (without the rows that cannot load), and those rows:
    {row index: the first failing column, as index[its position] when given}."""
    n = len(columns[0]) if columns else 0
    pieces, bad = _pieces(fields, columns, index if index is not None else list(range(len(fields))))
    return _join([[struct.pack(">h", len(fields))] * n, *pieces], bad), bad


@dataclass(frozen=True)
class BinaryRows:
    """How a table's rows become binary tuples. The COPY lists the columns in `order` (indexes into the table's
    columns): first the NOT NULL fixed-width ones, which one struct packs per row together with the field
    count, then the others, field by field."""

    order: list[int]
    fields: list[BinaryField]  # in COPY order
    fixed: int
    pack_row: Callable[..., bytes]


def binary_rows(t: TablePlan) -> BinaryRows:
    fields = [binary_field(c) for c in t.columns]
    fixed = [i for i, (c, f) in enumerate(zip(t.columns, fields, strict=True)) if not c.nullable and f.code]
    order = fixed + [i for i in range(len(fields)) if i not in fixed]
    row = struct.Struct(">h" + "".join("i" + (fields[i].code or "") for i in fixed))
    return BinaryRows(order, [fields[i] for i in order], len(fixed), row.pack)


def encode_rows(rows: BinaryRows, columns: Sequence[Sequence[Any]]) -> tuple[bytes, dict[int, BadField]]:
    """encode_binary for a table's chunk given column by column in the table's order (BadField.column too)."""
    cols = [columns[i] for i in rows.order]
    n = len(cols[0]) if cols else 0
    numbers: list[Any] = []
    for field, values in zip(rows.fields[:rows.fixed], cols, strict=False):
        got = field.raw(values) if field.raw is not None else None
        if got is None:  # a value the converter decides (or a NULL): this chunk goes field by field
            return encode_binary(rows.fields, cols, rows.order)
        numbers += [repeat(field.width, n), got]
    head = list(starmap(rows.pack_row, zip(repeat(len(rows.fields), n), *numbers, strict=True)))
    pieces, bad = _pieces(rows.fields[rows.fixed:], cols[rows.fixed:], rows.order[rows.fixed:])
    return _join([head, *pieces], bad), bad


def _pieces(fields: list[BinaryField], columns: Sequence[Sequence[Any]],
            index: list[int]) -> tuple[Pieces, dict[int, BadField]]:
    """Every field's pieces, column by column; a row that cannot load gets empty pieces and an entry in the
    returned {row: BadField naming column index[i]}."""
    pieces: Pieces = []
    bad: dict[int, BadField] = {}
    for ci, (field, values) in enumerate(zip(fields, columns, strict=True)):
        out = field.many(values) if field.many is not None else None
        if out is None:
            out = [[] for _ in range(field.parts)]
            for ri, v in enumerate(values):
                try:
                    got = field.one(v)
                except BadValue as exc:
                    bad.setdefault(ri, BadField(index[ci], exc))
                    got = [b""] * field.parts
                for part, piece in zip(out, got, strict=True):
                    part.append(piece)
        pieces += out
    return pieces, bad


def _join(pieces: Pieces, bad: dict[int, BadField]) -> bytes:
    rows: Any = zip(*pieces, strict=True)
    if bad:
        rows = (row for ri, row in enumerate(rows) if ri not in bad)
    return b"".join(chain.from_iterable(rows))
