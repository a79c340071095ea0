"""What an SQLite file holds: tables, columns, keys, indexes, foreign keys, views and triggers, read from its PRAGMAs
and from the CREATE statements kept in sqlite_master.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from wizard.source.create_sql import ParsedColumn, parse_create_index, parse_create_table
from wizard.source.sql_tokens import quote
from wizard.source.sqlite_file import db_error, open_readonly


@dataclass
class SqliteColumn:
    """One column as SQLite knows it."""

    name: str
    declared_type: str
    notnull: bool
    default: str | None  # the DEFAULT clause as SQL text
    pk_position: int  # 1-based position in the primary key, 0 when not part of it
    hidden: int  # table_xinfo: 0 normal, 1 hidden (virtual tables), 2 generated VIRTUAL, 3 generated STORED
    collation: str | None = None
    generated_expr: str | None = None
    checks: list[str] = field(default_factory=list)

    @property
    def generated(self) -> bool:
        return self.hidden in (2, 3)


@dataclass
class IndexPart:
    column: str | None  # None for an expression
    expression: str | None
    collation: str | None
    descending: bool


@dataclass
class SqliteIndex:
    name: str
    unique: bool
    origin: str  # "c" CREATE INDEX, "u" UNIQUE constraint, "pk" PRIMARY KEY
    parts: list[IndexPart]
    where: str | None
    sql: str | None


@dataclass
class SqliteForeignKey:
    ref_table: str
    from_columns: list[str]
    to_columns: list[str]  # empty in SQLite means "the referenced table's primary key"; resolved on read
    on_update: str
    on_delete: str
    deferred: bool = False  # DEFERRABLE INITIALLY DEFERRED: SQLite checks it at commit


@dataclass
class SqliteTable:
    name: str
    columns: list[SqliteColumn]
    primary_key: list[str]
    without_rowid: bool
    strict: bool
    autoincrement: bool
    rowid_alias: str | None  # the INTEGER PRIMARY KEY column, which is the rowid
    indexes: list[SqliteIndex]
    foreign_keys: list[SqliteForeignKey]
    checks: list[str]  # table-level CHECK expressions
    sql: str
    row_count: int = 0
    check_names: dict[str, str] = field(default_factory=dict)  # a table-level CHECK's text -> its given name
    unique_names: dict[tuple[str, ...], str] = field(default_factory=dict)  # UNIQUE constraint columns -> name


@dataclass
class SqliteObject:
    """A view, trigger or virtual table: name and its SQL."""

    name: str
    table: str
    sql: str


@dataclass
class SqliteSchema:
    path: str
    size_bytes: int
    tables: list[SqliteTable]
    views: list[SqliteObject]
    triggers: list[SqliteObject]
    virtual_tables: list[SqliteObject]
    sequences: dict[str, int]  # sqlite_sequence: table -> last AUTOINCREMENT value handed out

    def table(self, name: str) -> SqliteTable:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)


def read_schema(path: Path | str, *, count_rows: bool = True) -> SqliteSchema:
    conn = open_readonly(path, leave_no_files=True)
    try:
        return _read_schema(conn, Path(path), count_rows)
    except sqlite3.DatabaseError as exc:
        raise db_error(Path(path), exc) from None
    finally:
        conn.close()


def _read_schema(conn: sqlite3.Connection, path: Path, count_rows: bool) -> SqliteSchema:
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).fetchall()
    virtual = [SqliteObject(n, t, s) for ty, n, t, s in rows
               if ty == "table" and s and s.upper().lstrip().startswith("CREATE VIRTUAL")]
    shadow_prefixes = tuple(v.name + "_" for v in virtual)
    tables = []
    for ty, name, _tbl, sql in rows:
        if ty != "table" or not sql or sql.upper().lstrip().startswith("CREATE VIRTUAL"):
            continue
        if shadow_prefixes and name.startswith(shadow_prefixes) and _is_shadow(conn, name):
            continue  # FTS/R-tree shadow tables are rebuilt by their virtual table, not data of the app
        tables.append(_read_table(conn, name, sql, count_rows))
    views = [SqliteObject(n, t, s) for ty, n, t, s in rows if ty == "view"]
    triggers = [SqliteObject(n, t, s) for ty, n, t, s in rows if ty == "trigger"]
    sequences: dict[str, int] = {}
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'").fetchone():
        sequences = {n: int(s) for n, s in conn.execute("SELECT name, seq FROM sqlite_sequence") if s is not None}
    return SqliteSchema(path=str(path), size_bytes=os.path.getsize(path), tables=tables, views=views,
                        triggers=triggers, virtual_tables=virtual, sequences=sequences)


def _is_shadow(conn: sqlite3.Connection, name: str) -> bool:
    try:
        return any(r[1] == name and r[2] == "shadow" for r in conn.execute("PRAGMA table_list"))
    except sqlite3.DatabaseError:  # PRAGMA table_list needs SQLite 3.37; guess from the name
        return True


def _read_table(conn: sqlite3.Connection, name: str, sql: str, count_rows: bool) -> SqliteTable:
    parsed = parse_create_table(sql)
    cols = []
    for _cid, cname, ctype, notnull, default, pk, hidden in conn.execute(f"PRAGMA table_xinfo({quote(name)})"):
        info = parsed.columns.get(cname.lower(), ParsedColumn())
        cols.append(SqliteColumn(name=cname, declared_type=ctype or "", notnull=bool(notnull), default=default,
                                 pk_position=int(pk), hidden=int(hidden), collation=info.collation,
                                 generated_expr=info.generated, checks=info.checks))
    pk = [c.name for c in sorted((c for c in cols if c.pk_position), key=lambda c: c.pk_position)]
    rowid_alias = None
    if not parsed.without_rowid and len(pk) == 1:
        col = next(c for c in cols if c.name == pk[0])
        # Only the exact type name INTEGER makes a rowid alias; a DESC primary key does not (SQLite quirk).
        if col.declared_type.upper() == "INTEGER" and not parsed.pk_desc:
            rowid_alias = col.name
    indexes = _read_indexes(conn, name)
    fks = _read_foreign_keys(conn, name)
    for fk in fks:
        fk.deferred = tuple(c.lower() for c in fk.from_columns) in parsed.deferred_fks
    count = conn.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0] if count_rows else 0
    return SqliteTable(name=name, columns=cols, primary_key=pk, without_rowid=parsed.without_rowid,
                       strict=parsed.strict, autoincrement=parsed.autoincrement, rowid_alias=rowid_alias,
                       indexes=indexes, foreign_keys=fks, checks=parsed.checks, sql=sql, row_count=int(count),
                       check_names=parsed.check_names, unique_names=parsed.unique_names)


def _read_indexes(conn: sqlite3.Connection, table: str) -> list[SqliteIndex]:
    out = []
    for _seq, iname, unique, origin, partial in conn.execute(f"PRAGMA index_list({quote(table)})"):
        sql_row = conn.execute("SELECT sql FROM sqlite_master WHERE type='index' AND name=?", (iname,)).fetchone()
        isql = sql_row[0] if sql_row else None
        parsed = parse_create_index(isql) if isql else None
        parts = []
        exprs = list(parsed.expressions) if parsed else []
        for row in conn.execute(f"PRAGMA index_xinfo({quote(iname)})"):
            _seqno, cid, cname, desc, coll, key = row
            if not key:
                continue
            expression = None
            if cid == -2:
                expression = exprs.pop(0) if exprs else None
            elif exprs and parsed and cname is not None:
                exprs.pop(0)
            parts.append(IndexPart(column=cname if cid >= 0 else None, expression=expression,
                                   collation=None if (coll or "BINARY").upper() == "BINARY" else coll,
                                   descending=bool(desc)))
        out.append(SqliteIndex(name=iname, unique=bool(unique), origin=origin, parts=parts,
                               where=parsed.where if (parsed and partial) else None, sql=isql))
    return out


def _read_foreign_keys(conn: sqlite3.Connection, table: str) -> list[SqliteForeignKey]:
    groups: dict[int, SqliteForeignKey] = {}
    for fid, _seq, ref, frm, to, on_update, on_delete, _match in conn.execute(
            f"PRAGMA foreign_key_list({quote(table)})"):
        fk = groups.setdefault(fid, SqliteForeignKey(ref, [], [], on_update, on_delete))
        fk.from_columns.append(frm)
        if to is not None:
            fk.to_columns.append(to)
    result = []
    for fk in groups.values():
        if not fk.to_columns:  # "REFERENCES parent" without columns means parent's primary key
            ref_pk = [r[1] for r in sorted((r for r in conn.execute(f"PRAGMA table_info({quote(fk.ref_table)})")
                                            if r[5]), key=lambda r: r[5])]
            fk.to_columns = ref_pk
        result.append(fk)
    return result
