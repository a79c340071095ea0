"""Best-effort translation of SQLite expressions (defaults, CHECKs, index predicates, views) to PostgreSQL.

Identifiers are re-quoted to their PostgreSQL names; a few SQLite spellings are rewritten; anything using a
function PostgreSQL lacks is refused with a reason, so the caller reports it instead of emitting broken DDL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wizard.source.sql_tokens import Token, is_word, tokenize

# Functions with the same name and meaning in PostgreSQL.
_SAME = {"lower", "upper", "length", "abs", "coalesce", "nullif", "trim", "ltrim", "rtrim", "replace", "substr",
         "round", "max", "min", "sum", "count", "avg", "cast", "exists", "in", "like", "between", "case", "when",
         "then", "else", "end", "and", "or", "not", "is", "null", "distinct", "group_concat"}
_RENAME = {"ifnull": "coalesce", "substring": "substr"}
_NOW = {"current_timestamp": "CURRENT_TIMESTAMP", "current_date": "CURRENT_DATE", "current_time": "CURRENT_TIME"}
_KEYWORDS = {
    "select", "from", "where", "group", "by", "order", "having", "limit", "offset", "as", "on", "join", "left",
    "right", "inner", "outer", "cross", "union", "all", "except", "intersect", "asc", "desc", "using", "natural",
    "and", "or", "not", "is", "null", "in", "like", "between", "case", "when", "then", "else", "end", "exists",
    "distinct", "cast", "true", "false", "escape", "collate", "with", "values", "integer", "text", "real", "int",
    "numeric", "varchar", "date", "time", "timestamp", "bigint", "boolean", "glob", "current_timestamp",
    "current_date", "current_time",
}


@dataclass(frozen=True)
class Translated:
    sql: str | None
    reason: str | None = None


def _sqlite_time_call(tokens: list[Token], i: int) -> tuple[str, int] | None:
    """datetime('now'), date('now'), strftime(fmt, 'now'), time('now') -> PostgreSQL's current value."""
    name = tokens[i].text.lower()
    if name not in ("datetime", "date", "time", "strftime", "julianday", "unixepoch"):
        return None
    j = i + 1
    while j < len(tokens) and tokens[j].kind == "ws":
        j += 1
    if j >= len(tokens) or tokens[j].text != "(":
        return None
    depth, k = 0, j
    args: list[Token] = []
    while k < len(tokens):
        t = tokens[k]
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
            if depth == 0:
                break
        args.append(t)
        k += 1
    strings = [t.value.strip("'").lower() for t in args if t.kind == "string"]
    if "now" not in strings or any(s not in ("now", "localtime", "utc") and not s.startswith("%") for s in strings):
        return None
    result = {"datetime": "CURRENT_TIMESTAMP", "date": "CURRENT_DATE", "time": "CURRENT_TIME",
              "strftime": "CURRENT_TIMESTAMP"}.get(name)
    if result is None:
        return None
    return result, k + 1


def translate(sql: str, resolve: Callable[[str], str | None], *, bool_columns: frozenset[str] = frozenset(),
              allow_unknown_functions: bool = False) -> Translated:
    """Translate an SQLite expression; `resolve` maps an identifier to its quoted PostgreSQL name (or None)."""
    tokens = tokenize(sql)
    as_bool, as_int = _boolean_literals(tokens, resolve, bool_columns)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        nxt = _next_sig(tokens, i)
        low = t.text.lower()
        if t.kind == "ident" and (call := _sqlite_time_call(tokens, i)):
            out.append(call[0])
            i = call[1]
            continue
        if t.kind == "ident" and nxt is not None and nxt.text == "(":
            if low in _RENAME:
                out.append(_RENAME[low])
            elif low in _SAME or allow_unknown_functions:
                out.append(t.text)
            else:
                return Translated(None, f"uses the SQLite function {t.text}(), which PostgreSQL does not have")
            i += 1
            continue
        if t.kind in ("ident", "qident"):
            if low in ("glob", "regexp", "match") and t.kind == "ident":
                return Translated(None, f"uses SQLite's {t.text.upper()} operator")
            target = resolve(t.value)
            if target is not None and not (t.kind == "ident" and low in _KEYWORDS and resolve(t.value) is None):
                out.append(f"({target})::int" if i in as_int else target)
            elif t.kind == "ident" and low in _NOW:
                out.append(_NOW[low])
            elif t.kind == "ident":
                out.append(t.text)
            elif t.text.startswith('"'):
                # SQLite treats an unknown double-quoted word as a string literal
                out.append("'" + t.value.replace("'", "''") + "'")
            else:
                return Translated(None, f"refers to {t.text}, which is not a known column or table")
            i += 1
            continue
        if i in as_bool:
            out.append(as_bool[i])
        elif t.kind == "op" and t.text == "==":
            out.append("=")
        elif t.kind == "blob":
            out.append("'\\x" + t.text[2:-1] + "'::bytea")
        elif is_word(t, "IS") and nxt is not None and not is_word(nxt, "NULL", "NOT", "TRUE", "FALSE", "DISTINCT"):
            out.append("IS NOT DISTINCT FROM")
        elif is_word(t, "NOT") and out and out[-1] == "IS NOT DISTINCT FROM":
            out[-1] = "IS DISTINCT FROM"
        else:
            out.append(t.text)
        i += 1
    text = "".join(out).strip()
    text = text.replace("IS NOT DISTINCT FROM NOT", "IS DISTINCT FROM")
    return Translated(text)


_EQ = ("=", "==", "!=", "<>")


def _boolean_literals(tokens: list[Token], resolve: Callable[[str], str | None],
                      bool_columns: frozenset[str]) -> tuple[dict[int, str], set[int]]:
    """For columns that became boolean: 0/1 compared by equality become false/true; other numeric uses cast ::int."""
    if not bool_columns:
        return {}, set()
    sig = [i for i, t in enumerate(tokens) if t.kind != "ws"]
    as_bool: dict[int, str] = {}
    as_int: set[int] = set()

    def literal(k: int) -> str | None:
        if 0 <= k < len(sig) and tokens[sig[k]].kind == "number" and tokens[sig[k]].text in ("0", "1"):
            return "true" if tokens[sig[k]].text == "1" else "false"
        return None

    for k, i in enumerate(sig):
        t = tokens[i]
        if t.kind not in ("ident", "qident") or t.value.lower() not in bool_columns or resolve(t.value) is None:
            continue
        nxt = tokens[sig[k + 1]] if k + 1 < len(sig) else None
        prev = tokens[sig[k - 1]] if k > 0 else None
        if nxt is not None and (nxt.text in _EQ or is_word(nxt, "IS")):
            j = k + 2 if not (k + 2 < len(sig) and is_word(tokens[sig[k + 2]], "NOT")) else k + 3
            if (lit := literal(j)) is not None:
                as_bool[sig[j]] = lit
                continue
        if prev is not None and prev.text in _EQ and (lit := literal(k - 2)) is not None:
            as_bool[sig[k - 2]] = lit
            continue
        if nxt is not None and is_word(nxt, "IN") and k + 2 < len(sig) and tokens[sig[k + 2]].text == "(":
            j, ok, found = k + 3, True, {}
            while j < len(sig) and tokens[sig[j]].text != ")":
                if tokens[sig[j]].text != ",":
                    lit = literal(j)
                    if lit is None:
                        ok = False
                        break
                    found[sig[j]] = lit
                j += 1
            if ok:
                as_bool.update(found)
                continue
        after = tokens[sig[k + 2]] if k + 2 < len(sig) else None
        before = tokens[sig[k - 2]] if k >= 2 else None
        arith = ("<", ">", "<=", ">=", "+", "-", "*", "/", "%", *_EQ)
        if (nxt is not None and nxt.kind == "op" and nxt.text in arith and after is not None
                and after.kind == "number") or (prev is not None and prev.kind == "op" and prev.text in arith
                                                and before is not None and before.kind == "number"):
            as_int.add(i)
    return as_bool, as_int


def _next_sig(tokens: list[Token], i: int) -> Token | None:
    for t in tokens[i + 1:]:
        if t.kind != "ws":
            return t
    return None


def literal_value(sql: str) -> tuple[str, str] | None:
    """Classify a DEFAULT: ('null'|'number'|'string'|'now'|'bool', text) for simple literals, else None."""
    toks = [t for t in tokenize(sql) if t.kind != "ws"]
    while len(toks) >= 2 and toks[0].text == "(" and toks[-1].text == ")":
        toks = toks[1:-1]
    if len(toks) == 2 and toks[0].text in "+-" and toks[1].kind == "number":
        return "number", toks[0].text + toks[1].text
    if len(toks) != 1:
        call = _sqlite_time_call(toks, 0) if toks and toks[0].kind == "ident" else None
        if call is not None and call[1] >= len(toks):
            return "now", call[0]
        return None
    t = toks[0]
    low = t.text.lower()
    if t.kind == "number":
        return "number", t.text
    if t.kind == "string":
        return "string", t.value[1:-1].replace("''", "'")
    if t.kind == "qident":  # DEFAULT "0": SQLite reads it as a string
        return "string", t.value
    if low == "null":
        return "null", "NULL"
    if low in _NOW:
        return "now", _NOW[low]
    if low in ("true", "false"):
        return "bool", low
    if t.kind == "blob":
        return "blob", t.text[2:-1]
    return None
