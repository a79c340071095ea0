"""The names Django gives indexes and constraints on PostgreSQL, so the migrated schema carries the names a Django
project's own later migrations and `sqlmigrate` expect.

Django derives a name from the table, the columns and a digest of both, then shortens it to the backend's limit:
63 characters on PostgreSQL, 200 on SQLite. A name that fits both is the same on both; a longer one made on SQLite
is made again here with PostgreSQL's limit, as Django would have made it there.
"""

from __future__ import annotations

import hashlib

PG_LIMIT = 63
SQLITE_LIMIT = 200


def _digest(*parts: str) -> str:
    h = hashlib.md5(usedforsecurity=False)
    for part in parts:
        h.update(part.encode())
    return h.hexdigest()[:8]


def index_name(table: str, columns: list[str], suffix: str = "", limit: int = PG_LIMIT) -> str:
    """The name Django's schema editor gives an index or constraint on `columns` of `table` (suffix "" for an
    index, "_uniq" for unique_together, "_like" for the pattern-ops twin, "_fk_<table>_<column>" for a key)."""
    tail = _digest(table, *columns) + suffix
    name = f"{table}_{'_'.join(columns)}_{tail}"
    if len(name) <= limit:
        return name
    if len(tail) > limit / 3:
        tail = tail[: limit // 3]
    room = (limit - len(tail)) // 2 - 1
    name = f"{table[:room]}_{'_'.join(columns)[:room]}_{tail}"
    if name[0] == "_" or name[0].isdigit():
        name = "D" + name[:-1]
    return name


def foreign_key_name(table: str, column: str, ref_table: str, ref_column: str) -> str:
    return index_name(table, [column], f"_fk_{ref_table}_{ref_column}")


def on_postgresql(name: str, table: str, columns: list[str]) -> str:
    """The PostgreSQL name of an index Django named on SQLite: the same, unless it was longer than PostgreSQL
    allows, then what Django makes there."""
    if len(name) <= PG_LIMIT:
        return name
    for suffix in ("", "_uniq"):
        if name == index_name(table, columns, suffix, SQLITE_LIMIT):
            return index_name(table, columns, suffix)
    return name
