"""Best-effort translation of SQLite expressions (defaults, CHECKs, index predicates, views) to PostgreSQL.

Identifiers are re-quoted to their PostgreSQL names; a few SQLite spellings are rewritten; anything using a
function PostgreSQL lacks is refused with a reason, so the caller reports it instead of emitting broken DDL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wizard.plan.affinity import Affinity, affinity_rewrites, table_aliases
from wizard.source.sql_tokens import Token, is_word, tokenize

# Functions with the same name and meaning in PostgreSQL.
_SAME = {"lower", "upper", "length", "abs", "coalesce", "nullif", "trim", "ltrim", "rtrim", "replace", "substr",
         "round", "max", "min", "sum", "count", "avg", "cast", "exists", "in", "like", "between", "case", "when",
         "then", "else", "end", "and", "or", "not", "is", "null", "distinct", "array_agg"}
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
    text_arithmetic: tuple[str, ...] = ()
    """The text columns it computes with, which it reads as SQLite does (see affinity.text_arithmetic_note)."""


# SQLite reads a text as the number its text starts with (`'12abc' + 1` is 13, a word is 0, NULL stays NULL).
_NUMBER_PREFIX = r"'^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?'"


def _read_as_number(ref: str) -> str:
    return (f"(CASE WHEN {ref} IS NULL THEN NULL ELSE coalesce(substring(({ref})::text from {_NUMBER_PREFIX})"
            "::numeric, 0) END)")


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
              "strftime": "CURRENT_TIMESTAMP",
              "julianday": "(EXTRACT(EPOCH FROM CURRENT_TIMESTAMP) / 86400.0 + 2440587.5)"}.get(name)
    if result is None:
        return None
    return result, k + 1


# PostgreSQL reserves these words, SQLite does not: used as a table alias they must be quoted (`user."name"`).
_PG_RESERVED = {"user", "current_user", "session_user", "current_role", "current_catalog", "current_schema",
                "analyse", "analyze", "array", "asymmetric", "both", "do", "fetch", "grant", "lateral", "leading",
                "localtime", "localtimestamp", "only", "placing", "returning", "symmetric", "trailing", "variadic",
                "window", "authorization", "binary", "freeze", "verbose", "concurrently", "similar", "tablesample"}
# Clause words that a parenthesis may follow without making them a function call.
_CLAUSES = {"where", "on", "from", "select", "having", "as", "by", "join", "union", "all", "values", "then", "else",
            "when", "and", "or", "not", "using", "with", "set", "except", "intersect"}
_CASTS = {"datetime": "timestamp", "date": "date"}


def _call_parts(tokens: list[Token], i: int) -> tuple[int, list[int], int] | None:
    """The call at i: the index of its "(", of its top-level commas, and of its ")" (None when unclosed)."""
    j = i + 1
    while j < len(tokens) and tokens[j].kind == "ws":
        j += 1
    if j >= len(tokens) or tokens[j].text != "(":
        return None
    depth = 0
    commas: list[int] = []
    for k in range(j, len(tokens)):
        text = tokens[k].text
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
            if depth == 0:
                return j, commas, k
        elif text == "," and depth == 1:
            commas.append(k)
    return None


def _single_argument(tokens: list[Token], i: int) -> int | None:
    """The index of the ")" closing the call at i, when the call has exactly one argument (no top-level comma)."""
    parts = _call_parts(tokens, i)
    if parts is None or parts[1] or not any(t.kind != "ws" for t in tokens[parts[0] + 1:parts[2]]):
        return None
    return parts[2]


def _group_concat(tokens: list[Token], i: int, out: list[str], closers: dict[int, str]) -> int | None:
    """group_concat(x [, sep]) -> string_agg(CAST(x AS text), sep or ','): where to go on (None: not such a call)."""
    parts = _call_parts(tokens, i)
    if parts is None or len(parts[1]) > 1:
        return None
    opening, commas, closing = parts
    out.append("string_agg(")
    j = opening + 1
    while j < closing and tokens[j].kind == "ws":
        j += 1
    if is_word(tokens[j], "DISTINCT"):
        out.append("DISTINCT ")
        opening = j
    out.append("CAST(")
    if commas:
        closers[commas[0]] = " AS text),"
    else:
        closers[closing] = " AS text), ',')"
    return opening + 1


def _defined_names(tokens: list[Token], aliases: dict[str, str]) -> set[str]:
    """Names the statement itself defines (lower case): column aliases after AS, and its tables' aliases."""
    sig = [t for t in tokens if t.kind != "ws"]
    names = {b.value.lower() for a, b in zip(sig, sig[1:], strict=False) if is_word(a, "AS")
             and b.kind in ("ident", "qident")}
    return names | set(aliases)


def translate(sql: str, resolve: Callable[[str], str | None], *, kinds: Affinity | None = None,
              allow_unknown_functions: bool = False) -> Translated:
    """Translate an SQLite expression; `resolve` maps an identifier to its quoted PostgreSQL name (or None).

    SQLite's affinity rules, for the columns' planned types (`kinds`): a number compared with a column planned
    as text is compared as text (`status = 1` -> `status = '1'`); a column planned as a number (or date,
    boolean...) given to a text function or LIKE is given as its text (`length(code)` -> `length((code)::text)`);
    0 and 1 compared with a column planned as boolean become false and true."""
    kinds = kinds or Affinity()
    tokens = tokenize(sql)
    as_bool, as_int = _boolean_literals(tokens, resolve, kinds.bool_columns)
    aliases = table_aliases(tokens, kinds)
    rewrites = affinity_rewrites(tokens, resolve, kinds, aliases)
    if rewrites.refusal is not None:
        return Translated(None, rewrites.refusal)
    quoted = rewrites.literals
    cast_ends = {end: start for start, end in rewrites.text_casts.items()}
    read_ends = {end: start for start, end in rewrites.number_reads.items()}
    read_marks: dict[int, int] = {}  # a number read's first token -> where its reference starts in out
    names = _defined_names(tokens, aliases)
    closers: dict[int, str] = {}  # the closing parenthesis or comma of a rewritten call -> what ends it
    out: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if i in rewrites.text_casts:
            out.append("(")  # closed by ")::text" after the reference's last token
        if i in rewrites.number_reads:
            read_marks[i] = len(out)
        nxt = _next_sig(tokens, i)
        low = t.text.lower()
        if t.kind == "ident" and (call := _sqlite_time_call(tokens, i)):
            out.append(call[0])
            i = call[1]
            continue
        if t.kind == "ident" and nxt is not None and nxt.text == "(" and low in _CLAUSES:
            out.append(t.text)  # WHERE (((a))) is a clause, not a call
            i += 1
            continue
        if t.kind == "ident" and low in _CASTS and (close := _single_argument(tokens, i)) is not None:
            # datetime(x) / date(x) of a value: SQLite's text of that moment; compared, the moment itself
            out.append("CAST")
            closers[close] = f" AS {_CASTS[low]})"
            i += 1
            continue
        if i in closers:
            out.append(closers[i])
            i += 1
            continue
        if t.kind == "ident" and low == "group_concat" and (go_on := _group_concat(tokens, i, out, closers)):
            i = go_on
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
        if is_word(t, "NOT") and nxt is not None and is_word(nxt, "NULL") and _after_operand(out):
            out.append("IS NOT")  # SQLite's postfix `x NOT NULL`
            i += 1
            continue
        if is_word(t, "NOTNULL", "ISNULL"):
            out.append("IS NOT NULL" if low == "notnull" else "IS NULL")
            i += 1
            continue
        if t.kind in ("ident", "qident"):
            if low in ("glob", "regexp", "match") and t.kind == "ident":
                return Translated(None, f"uses SQLite's {t.text.upper()} operator")
            target = resolve(t.value)
            if target is not None and not (t.kind == "ident" and low in _KEYWORDS and resolve(t.value) is None):
                out.append(f"({target})::int" if i in as_int else target)
                if i in cast_ends:
                    out.append(")::text")
                if i in read_ends:
                    mark = read_marks[read_ends[i]]
                    out[mark:] = [_read_as_number("".join(out[mark:]))]
            elif t.kind == "ident" and low in _NOW:
                out.append(_NOW[low])
            elif t.kind == "ident" and low in _PG_RESERVED and (low in names or (nxt is not None and nxt.text == ".")):
                out.append(f'"{low}"')  # SQLite folds an unquoted alias's case, so the quoted one is lower case
            elif t.kind == "ident":
                out.append(t.text)
            elif t.value.lower() in names:  # an alias the statement defines: SQLite ignores its case
                out.append('"' + t.value.lower().replace('"', '""') + '"')
            elif t.text.startswith('"'):
                # SQLite treats an unknown double-quoted word as a string literal
                out.append("'" + t.value.replace("'", "''") + "'")
            else:
                return Translated(None, f"refers to {t.text}, which is not a known column or table")
            i += 1
            continue
        if i in as_bool:
            out.append(as_bool[i])
        elif i in quoted:
            out.append(quoted[i])
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
    return Translated(text, text_arithmetic=tuple(rewrites.text_arithmetic))


_EQ = ("=", "==", "!=", "<>")


def _after_operand(out: list[str]) -> bool:
    """Whether the last thing written is an operand (a name, literal or closing parenthesis), so that a NOT NULL
    that follows is SQLite's postfix test, not a prefix NOT."""
    words = [w.strip() for w in out if w.strip()]
    if not words or words[-1].upper() in _KEYWORD_UPPER:
        return False
    return words[-1][-1] in "\"')]" or words[-1][-1].isalnum() or words[-1][-1] == "_"


_KEYWORD_UPPER = {w.upper() for w in _KEYWORDS} | {"IS", "NOT", "AND", "OR"}


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
