"""SQLite triggers of the common, clear patterns as PostgreSQL triggers; the rest stay manual work.

- Touch: `AFTER UPDATE ON t BEGIN UPDATE t SET updated_at = CURRENT_TIMESTAMP WHERE rowid = NEW.rowid; END` (or
  `WHERE id = NEW.id`, on INSERT too) sets columns of the row being written: in PostgreSQL a BEFORE trigger
  that sets them on NEW.
- Audit: `... BEGIN INSERT INTO log (...) VALUES (NEW.x, OLD.y, ...); END`: the same INSERT from a trigger
  function, at the same time (BEFORE or AFTER) for each row.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from wizard.plan.affinity import Affinity, affinity
from wizard.plan.expressions import translate
from wizard.plan.identifiers import derived_name
from wizard.plan.tables import column_resolver
from wizard.plan_model import TablePlan, TriggerPlan
from wizard.source.sql_tokens import Token, is_word, join, quote, split_top_level, tokenize

_NAME = r'(?:\[[^\]]+\]|"(?:[^"]|"")+"|`[^`]+`|[^\s(]+)'
_HEADER = re.compile(
    r"^\s*CREATE\s+(?:TEMP(?:ORARY)?\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>" + _NAME + r")\s+"
    r"(?P<time>BEFORE\s+|AFTER\s+|INSTEAD\s+OF\s+)?(?P<event>INSERT|DELETE|UPDATE(?:\s+OF\s+(?P<cols>[^()]+?))?)\s+"
    r"ON\s+(?P<table>" + _NAME + r")\s+(?:FOR\s+EACH\s+ROW\s+)?(?:WHEN\s+(?P<when>.+?)\s+)?"
    r"BEGIN\s+(?P<body>.+?)\s*;?\s*END\s*;?\s*$",
    re.IGNORECASE | re.DOTALL)
_ROWID = {"rowid", "oid", "_rowid_"}
_NOW_FORMAT = "to_char(CURRENT_TIMESTAMP AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"  # datetime('now')


def plan_trigger(name: str, sql: str, tables: dict[str, TablePlan],
                 resolve: Callable[[str], str | None]) -> TriggerPlan:
    """The trigger as PostgreSQL statements, or skipped with the reason it stays manual work."""
    m = _HEADER.match(sql)
    table = tables.get(_unquote(m["table"]).lower()) if m is not None else None

    def manual(reason: str) -> TriggerPlan:
        return TriggerPlan(name, table.source if table else m["table"] if m else "", name, sql, skipped=reason)

    if m is None:
        return manual("its form is not one of the patterns translated")
    if table is None:
        return manual("its table is not migrated")
    kinds = affinity([table])  # NEW.x and OLD.x are the table's columns: 0 and 1 compared with a boolean one
    time = (m["time"] or "BEFORE").split()[0].upper()
    if time == "INSTEAD":
        return manual("INSTEAD OF triggers (on views) are not translated")
    event = m["event"].split()[0].upper()
    body = [part for part in split_top_level(tokenize(m["body"]), ";") if any(t.kind != "ws" for t in part)]
    touched = [_touch(join(part), table, resolve, kinds) for part in body]
    if all(t is not None for t in touched) and event != "DELETE":
        lines = [line for t in touched if t is not None for line in t]
        time, result = "BEFORE", "NEW"
    elif not any(t is not None for t in touched):
        lines = []
        for part in body:
            sig = [i for i, t in enumerate(part) if t.kind != "ws"]
            if len(sig) < 3 or not is_word(part[sig[0]], "INSERT") or not is_word(part[sig[1]], "INTO"):
                return manual("its body does more than set columns of the row or insert rows into another table")
            into = part[sig[2]]  # quoted, so that `log(a, b)` is not read as a call of log()
            if into.value.lower() not in tables:
                return manual(f"it writes to {into.value}, which is not a migrated table")
            part = [*part[:sig[2]], Token("qident", quote(into.value), into.value), *part[sig[2] + 1:]]
            tr = translate(join(part), resolve, kinds=kinds)
            if tr.sql is None:
                return manual(f"its body {tr.reason}")
            lines.append(tr.sql + ";")
        result = "NULL" if time == "AFTER" else ("OLD" if event == "DELETE" else "NEW")
    else:
        return manual("its body mixes updates of the row and other work")
    when = None
    if m["when"]:
        tr = translate(m["when"], resolve, kinds=kinds)
        if tr.sql is None:
            return manual(f"its WHEN clause {tr.reason}")
        when = tr.sql
    of = ""
    if m["cols"]:
        own = column_resolver(table)  # the trigger's table's own columns, whatever other tables call theirs
        cols = [own(_unquote(c.strip())) for c in m["cols"].split(",")]
        if any(c is None for c in cols):
            return manual("it names a column the table does not have")
        of = " OF " + ", ".join(c for c in cols if c)
    target = _unquote(name)
    return TriggerPlan(name, table.source, target, sql, function=derived_name(target, suffix="fn"),
                       body="".join(f"  {line}\n" for line in [*lines, f"RETURN {result};"]),
                       timing=f"{time} {event}{of}", when=when)


def _touch(stmt: str, table: TablePlan, resolve: Callable[[str], str | None], kinds: Affinity) -> list[str] | None:
    """`UPDATE t SET col = expr, ... WHERE key = NEW.key` on the trigger's own row -> `NEW.col := expr;` lines."""
    m = re.match(r"^\s*UPDATE\s+(?:OR\s+\w+\s+)?(?P<t>\S+)\s+SET\s+(?P<set>.+?)\s+WHERE\s+(?P<where>.+?)\s*$", stmt,
                 re.IGNORECASE | re.DOTALL)
    if m is None or _unquote(m["t"]).lower() != table.source.lower():
        return None
    keys = {c.source.lower() for c in table.columns if c.target in table.primary_key} | _ROWID
    if table.identity_column is not None:
        keys.add(table.identity_column.source.lower())
    cond = [t for t in tokenize(m["where"]) if t.kind != "ws"]
    if len(cond) != 5 or cond[1].text not in ("=", "=="):
        return None
    left, right = (cond[0], cond[4]) if is_word(cond[2], "NEW") else (cond[4], cond[0])
    if not (is_word(cond[2], "NEW") or is_word(cond[0], "NEW")) or left.value.lower() not in keys \
            or right.value.lower() != left.value.lower():
        return None
    lines = []
    for assign in split_top_level(tokenize(m["set"]), ","):
        sig = [t for t in assign if t.kind != "ws"]
        if len(sig) < 3 or sig[1].text != "=" or resolve(sig[0].value) is None:
            return None
        col = next((c for c in table.columns if c.source.lower() == sig[0].value.lower()), None)
        expr = join(assign[assign.index(sig[1]) + 1:]).strip()
        tr = translate(expr, resolve, kinds=kinds)
        if col is None or tr.sql is None:
            return None
        value = tr.sql
        if value == "CURRENT_TIMESTAMP" and col.conversion == "text":
            value = _NOW_FORMAT  # the text SQLite's datetime('now') writes
        elif value == "CURRENT_TIMESTAMP" and col.conversion in ("int", "float", "numeric"):
            value = "EXTRACT(EPOCH FROM CURRENT_TIMESTAMP)"
        lines.append(f"NEW.{quote(col.target)} := {value};")
    return lines


def _unquote(name: str) -> str:
    toks = [t for t in tokenize(name) if t.kind != "ws"]
    return toks[0].value if len(toks) == 1 else name
