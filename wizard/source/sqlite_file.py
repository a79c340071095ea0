"""Open an SQLite file read-only and describe everything in it: tables, columns, keys, indexes, views, triggers."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wizard.errors import InputError
from wizard.plan.expressions import quote
from wizard.source.sql_tokens import Token, is_word, join, paren_body, significant, split_top_level, strip_ws, tokenize

SQLITE_MAGIC = b"SQLite format 3\x00"


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


ROWID_NAMES = ("rowid", "_rowid_", "oid")  # the names a rowid table's rowid answers to


def rowid_name(columns: Iterable[str]) -> str | None:
    """The name a rowid table's rowid answers to, given its column names; None when columns take all three."""
    taken = {c.lower() for c in columns}
    return next((n for n in ROWID_NAMES if n not in taken), None)


def rowid_ranges(conn: sqlite3.Connection, table: str, rowid: str, parts: int) -> list[tuple[int | None, int | None]]:
    """Rowid ranges (lo, hi] splitting the table's rowids into `parts` equal spans; open at both ends, so every
    row is in exactly one. `rowid` is the name the rowid answers to in this table."""
    # two queries: SQLite answers a lone min() or max() from the b-tree's ends, but scans the table for both
    lo = conn.execute(f"SELECT min({rowid}) FROM {quote(table)}").fetchone()[0]
    hi = conn.execute(f"SELECT max({rowid}) FROM {quote(table)}").fetchone()[0]
    if lo is None:
        return [(None, None)]
    bounds = sorted({lo - 1 + (hi - lo + 1) * i // parts for i in range(1, parts)})
    edges: list[int | None] = [None, *bounds, None]
    return list(zip(edges[:-1], edges[1:], strict=True))


def fk_violation_counts(conn: sqlite3.Connection, table: str, keys: int) -> dict[int, int]:
    """The rows of `table` breaking each of its `keys` foreign keys (by their index in PRAGMA foreign_key_list's
    reverse order, which is declaration order), from PRAGMA foreign_key_check: SQLite does not enforce them
    unless asked. A key that cannot be checked (its parent table or column is missing) counts nothing."""
    counts: dict[int, int] = {}
    try:
        rows = conn.execute(f"PRAGMA foreign_key_check({quote(table)})").fetchall()
    except sqlite3.DatabaseError:
        return counts
    for _tbl, _rowid, _parent, fkid in rows:
        idx = keys - 1 - int(fkid) if fkid is not None else 0
        idx = idx if 0 <= idx < keys else 0
        counts[idx] = counts.get(idx, 0) + 1
    return counts


@contextlib.contextmanager
def text_factory(conn: sqlite3.Connection, factory: Any) -> Iterator[None]:
    """Read text with `factory` for a while (invalid UTF-8 must not abort a read that only looks)."""
    old = conn.text_factory
    conn.text_factory = factory
    try:
        yield
    finally:
        conn.text_factory = old


def escaped_text(data: bytes) -> str:
    """TEXT as str, invalid UTF-8 bytes kept as surrogates: a converter then decodes them the plan's way."""
    return data.decode("utf-8", "surrogateescape")


FIRST_CHUNK_ROWS = 1  # a reader's first chunk: one row, until it knows how big rows are (one may be 100 MB)


def next_chunk_rows(rows: int, nbytes: int, *, most: int, budget: int) -> int:
    """How many rows to fetch next, after a chunk of `rows` rows that made `nbytes` bytes: at most `most`, at most
    four times as many, and about `budget` bytes' worth. Rows of big values (attachments, documents) then come a
    few at a time, so memory stays bounded whatever the row size."""
    return max(1, min(most, 4 * rows, int(budget * rows / (nbytes + rows))))


def open_readonly(path: Path | str) -> sqlite3.Connection:
    """Open an SQLite file without any chance of writing to it; bad input becomes an InputError."""
    p = Path(path)
    hint = "Pick the application's database file (often *.db, *.sqlite or *.sqlite3)."
    if not p.exists():
        raise InputError(f"{p} does not exist.", title="No such file", hint=hint)
    if p.is_dir():
        raise InputError(f"{p} is a folder, not an SQLite file.", title="Not a file", hint=hint)
    try:
        with open(p, "rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise InputError(f"{p} cannot be read: {exc.strerror}.", title="Unreadable file",
                         hint="Check the file's permissions, or copy it somewhere readable.") from None
    if not head:
        raise InputError(f"{p} is empty (0 bytes): there is no database in it.", title="Empty file", hint=hint)
    if not head.startswith(SQLITE_MAGIC):
        raise InputError(f"{p} is not an SQLite database (its header is not 'SQLite format 3').",
                         title="Not an SQLite file", hint=hint)
    uri = p.absolute().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = 1")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise _db_error(p, exc) from None
    return conn


def _db_error(p: Path, exc: sqlite3.Error) -> InputError:
    msg = str(exc)
    if "locked" in msg or "busy" in msg:
        return InputError(f"{p} is locked by another program.", title="Database locked",
                          hint="Close the application using it (or wait for its write to finish), then retry.")
    if "malformed" in msg or "not a database" in msg or "corrupt" in msg:
        return InputError(f"{p} is damaged: SQLite says '{msg}'.", title="Corrupt database",
                          hint="Restore a backup, or try 'sqlite3 FILE .recover > dump.sql' to salvage it.")
    return InputError(f"{p} could not be opened: {msg}.", title="Cannot open database",
                      hint="Check the file is a complete SQLite database and readable.")


def read_schema(path: Path | str, *, count_rows: bool = True) -> SqliteSchema:
    conn = open_readonly(path)
    try:
        return _read_schema(conn, Path(path), count_rows)
    except sqlite3.DatabaseError as exc:
        raise _db_error(Path(path), exc) from None
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
        info = parsed.columns.get(cname.lower(), _ParsedColumn())
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
    count = conn.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0] if count_rows else 0
    return SqliteTable(name=name, columns=cols, primary_key=pk, without_rowid=parsed.without_rowid,
                       strict=parsed.strict, autoincrement=parsed.autoincrement, rowid_alias=rowid_alias,
                       indexes=indexes, foreign_keys=fks, checks=parsed.checks, sql=sql, row_count=int(count))


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


@dataclass
class _ParsedColumn:
    collation: str | None = None
    generated: str | None = None
    checks: list[str] = field(default_factory=list)


@dataclass
class _ParsedTable:
    columns: dict[str, _ParsedColumn]
    checks: list[str]
    without_rowid: bool
    strict: bool
    autoincrement: bool
    pk_desc: bool


_CONSTRAINT_STARTS = ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN")


def parse_create_table(sql: str) -> _ParsedTable:
    """Read what PRAGMAs do not tell from a CREATE TABLE statement."""
    tokens = tokenize(sql)
    open_at = next((i for i, t in enumerate(tokens) if t.kind == "op" and t.text == "("), None)
    result = _ParsedTable({}, [], False, False, False, False)
    if open_at is None:
        return result
    body, after = paren_body(tokens, open_at)
    options = [t.text.upper() for t in significant(tokens[after:]) if t.kind == "ident"]
    result.without_rowid = "ROWID" in options and "WITHOUT" in options
    result.strict = "STRICT" in options
    for part in split_top_level(body):
        sig = significant(part)
        if not sig:
            continue
        if is_word(sig[0], *_CONSTRAINT_STARTS):
            result.checks.extend(_checks_in(part))
            continue
        col = _ParsedColumn(checks=_checks_in(part))
        for i, t in enumerate(sig):
            if is_word(t, "COLLATE") and i + 1 < len(sig):
                col.collation = sig[i + 1].value
            if is_word(t, "AUTOINCREMENT"):
                result.autoincrement = True
            if is_word(t, "PRIMARY") and i + 2 < len(sig) and is_word(sig[i + 2], "DESC"):
                result.pk_desc = True
            if is_word(t, "AS") and i + 1 < len(sig) and sig[i + 1].text == "(":
                start = part.index(sig[i + 1])
                inner, _ = paren_body(part, start)
                col.generated = join(inner)
        result.columns[sig[0].value.lower()] = col
    return result


def _checks_in(part: list[Token]) -> list[str]:
    out = []
    for i, t in enumerate(part):
        if is_word(t, "CHECK"):
            j = i + 1
            while j < len(part) and part[j].kind == "ws":
                j += 1
            if j < len(part) and part[j].text == "(":
                inner, _ = paren_body(part, j)
                out.append(join(inner))
    return out


@dataclass
class _ParsedIndex:
    expressions: list[str | None]  # per key part: the SQL text, None for a plain column
    where: str | None


def parse_create_index(sql: str) -> _ParsedIndex:
    tokens = tokenize(sql)
    open_at = next((i for i, t in enumerate(tokens) if t.kind == "op" and t.text == "("), None)
    if open_at is None:
        return _ParsedIndex([], None)
    body, after = paren_body(tokens, open_at)
    exprs: list[str | None] = []
    for part in split_top_level(body):
        sig = significant(part)
        # strip trailing COLLATE x / ASC / DESC
        while sig and (is_word(sig[-1], "ASC", "DESC")):
            sig = sig[:-1]
        if len(sig) >= 2 and is_word(sig[-2], "COLLATE"):
            sig = sig[:-2]
        if len(sig) == 1 and sig[0].kind in ("ident", "qident"):
            exprs.append(None)
        else:
            exprs.append(join(strip_ws(part[: part.index(sig[-1]) + 1])) if sig else None)
    rest = tokens[after:]
    where = None
    for i, t in enumerate(rest):
        if is_word(t, "WHERE"):
            where = join(rest[i + 1:]).rstrip(";").strip()
            break
    return _ParsedIndex(exprs, where)
