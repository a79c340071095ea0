"""The schema of a PostgreSQL database as comparable facts, for proving a migrated schema equals the one an app's
framework creates itself: columns (type, nullability, default, identity), constraints and indexes by name and
definition, enum types. The tool's own bookkeeping schema is left out."""

from __future__ import annotations

import re

import psycopg2

from wizard.target.connection import ConnectionSpec

_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
"""
_CONSTRAINTS = """
SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND k.contype <> 'n'
"""
_INDEXES = """
SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
"""
_ENUMS = """
SELECT t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = 'public' GROUP BY t.typname
"""


def describe(spec: ConnectionSpec) -> dict[str, str]:
    """Each schema object as "kind table.name" → its definition."""
    conn = psycopg2.connect(**spec.connect_kwargs())
    facts: dict[str, str] = {}
    try:
        with conn.cursor() as cur:
            cur.execute(_COLUMNS)
            for table, column, type_, not_null, default, identity in cur.fetchall():
                # a sequence's name is its own fact (the sequences below), not the column's
                default = re.sub(r"nextval\('[^']*'::regclass\)", "nextval(sequence)", default or "")
                facts[f"column {table}.{column}"] = " ".join(filter(None, [
                    type_, "not null" if not_null else "null", default and f"default {default}",
                    {"a": "identity always", "d": "identity by default"}.get(identity, "")]))
            cur.execute("SELECT tablename, columnname, 'owned sequence' FROM (SELECT c.relname AS tablename, "
                        "a.attname AS columnname, pg_get_serial_sequence(quote_ident(c.relname), a.attname) AS s "
                        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' "
                        "AND a.attnum > 0 AND NOT a.attisdropped) x WHERE s IS NOT NULL")
            for table, column, _ in cur.fetchall():
                facts[f"sequence {table}.{column}"] = "owned"
            cur.execute(_CONSTRAINTS)
            for table, name, definition in cur.fetchall():
                facts[f"constraint {table}.{name}"] = definition
            cur.execute(_INDEXES)
            for table, name, definition in cur.fetchall():
                facts[f"index {table}.{name}"] = definition
            cur.execute(_ENUMS)
            for name, labels in cur.fetchall():
                facts[f"enum {name}"] = labels
    finally:
        conn.close()
    return facts


def differences(ours: dict[str, str], theirs: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """What differs: key → (the migrated database's definition, the framework's own), None where missing."""
    return {key: (ours.get(key), theirs.get(key)) for key in sorted(ours.keys() | theirs.keys())
            if ours.get(key) != theirs.get(key)}
