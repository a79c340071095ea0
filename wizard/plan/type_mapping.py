"""Declared SQLite types to PostgreSQL types: a rule table first, then SQLite's own affinity rules."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Mapping:
    """A PostgreSQL type and how values are converted into it."""

    pg_type: str
    conversion: str
    length: int | None = None  # varchar(n)
    precision: int | None = None
    scale: int | None = None


_ARGS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")

# Exact (upper-cased, arguments removed) declared type names, checked before the affinity rules.
_EXACT: dict[str, tuple[str, str]] = {
    "BOOLEAN": ("boolean", "bool"), "BOOL": ("boolean", "bool"), "BIT": ("boolean", "bool"),
    "DATE": ("date", "date"),
    "DATETIME": ("timestamp", "timestamp"), "TIMESTAMP": ("timestamp", "timestamp"),
    "TIMESTAMP WITHOUT TIME ZONE": ("timestamp", "timestamp"),
    "TIMESTAMPTZ": ("timestamptz", "timestamptz"), "TIMESTAMP WITH TIME ZONE": ("timestamptz", "timestamptz"),
    "DATETIMEOFFSET": ("timestamptz", "timestamptz"),
    "TIME": ("time", "time"),
    "JSON": ("jsonb", "json"), "JSONB": ("jsonb", "json"),
    "BLOB": ("bytea", "bytea"), "BYTEA": ("bytea", "bytea"), "BINARY": ("bytea", "bytea"),
    "VARBINARY": ("bytea", "bytea"), "LONGBLOB": ("bytea", "bytea"), "MEDIUMBLOB": ("bytea", "bytea"),
    "TINYBLOB": ("bytea", "bytea"), "IMAGE": ("bytea", "bytea"),
    "REAL": ("double precision", "float"), "FLOAT": ("double precision", "float"),
    "DOUBLE": ("double precision", "float"), "DOUBLE PRECISION": ("double precision", "float"),
    "FLOAT8": ("double precision", "float"),
    "TEXT": ("text", "text"), "CLOB": ("text", "text"), "STRING": ("text", "text"),
    "UUID": ("uuid", "uuid"),  # its values checked: a column holding other text stays text
    "MONEY": ("numeric", "numeric"),
}
_VARCHAR = ("VARCHAR", "CHARACTER VARYING", "NVARCHAR", "VARYING CHARACTER", "NATIVE CHARACTER", "NCHAR",
            "CHAR", "CHARACTER")
_NUMERIC = ("NUMERIC", "DECIMAL")

# Target types a user may choose in an override, with the conversion each implies.
TARGET_TYPES: dict[str, str] = {
    "bigint": "int", "integer": "int", "smallint": "int", "boolean": "bool", "text": "text",
    "double precision": "float", "real": "float", "numeric": "numeric", "date": "date",
    "timestamp": "timestamp", "timestamptz": "timestamptz", "time": "time", "jsonb": "json", "json": "json",
    "bytea": "bytea", "uuid": "uuid", "inet": "inet", "interval": "interval",
}
_PARAM_TYPES = {"varchar": "text", "numeric": "numeric"}


def map_declared(declared: str) -> Mapping | None:
    """The mapping for a declared type, or None when the column has no type (decided from the data)."""
    raw = declared.strip()
    if not raw:
        return None
    upper = " ".join(raw.upper().split())
    args = _ARGS.search(upper)
    name = _ARGS.sub("", upper).strip()
    name = re.sub(r"\b(UNSIGNED|SIGNED)\b", "", name).strip()
    if name in _EXACT:
        pg, conv = _EXACT[name]
        if pg == "numeric" and args:
            return Mapping("numeric", "numeric", precision=int(args.group(1)),
                           scale=int(args.group(2) or 0))
        return Mapping(pg, conv)
    if name in _NUMERIC:
        if args:
            p, s = int(args.group(1)), int(args.group(2) or 0)
            if 1 <= p <= 1000 and 0 <= s <= p:
                return Mapping(f"numeric({p},{s})", "numeric", precision=p, scale=s)
        return Mapping("numeric", "numeric")
    if name in _VARCHAR and args and not args.group(2):
        n = int(args.group(1))
        if 1 <= n <= 10_485_760:
            return Mapping(f"varchar({n})", "text", length=n)
        return Mapping("text", "text")
    # SQLite's affinity rules (https://sqlite.org/datatype3.html §3.1), in its order.
    if "INT" in name:
        return Mapping("bigint", "int")  # SQLite integers are 64-bit whatever the declared width
    if "CHAR" in name or "CLOB" in name or "TEXT" in name:
        return Mapping("text", "text")
    if "BLOB" in name:
        return Mapping("bytea", "bytea")
    if "REAL" in name or "FLOA" in name or "DOUB" in name:
        return Mapping("double precision", "float")
    if "BOOL" in name:
        return Mapping("boolean", "bool")
    if "DATETIME" in name or "TIMESTAMP" in name:
        return Mapping("timestamp", "timestamp")
    if "DATE" in name:
        return Mapping("date", "date")
    return Mapping("numeric", "numeric")  # NUMERIC affinity: whatever the data turns out to be is checked


def parse_target_type(text: str) -> Mapping:
    """Validate a user's override (`bigint`, `varchar(50)`, `numeric(12,2)`, ...). Raises ValueError."""
    t = " ".join(text.strip().lower().split())
    aliases = {"int8": "bigint", "int": "integer", "int4": "integer", "int2": "smallint", "bool": "boolean",
               "float8": "double precision", "float4": "real", "timestamp without time zone": "timestamp",
               "timestamp with time zone": "timestamptz", "decimal": "numeric", "character varying": "varchar"}
    m = re.fullmatch(r"([a-z ]+?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?", t)
    if not m:
        raise ValueError(f"'{text}' is not a PostgreSQL type this tool can load into")
    base = aliases.get(m.group(1), m.group(1))
    if m.group(2):
        if base == "varchar" and not m.group(3):
            return Mapping(f"varchar({int(m.group(2))})", "text", length=int(m.group(2)))
        if base == "numeric":
            p, s = int(m.group(2)), int(m.group(3) or 0)
            if 1 <= p <= 1000 and s <= p:
                return Mapping(f"numeric({p},{s})", "numeric", precision=p, scale=s)
        raise ValueError(f"'{text}' has arguments this type does not take")
    if base in TARGET_TYPES:
        return Mapping(base, TARGET_TYPES[base])
    choices = ", ".join([*TARGET_TYPES, "varchar(n)", "numeric(p,s)"])
    raise ValueError(f"'{text}' is not one of the supported target types: {choices}")
