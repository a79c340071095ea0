"""SQLite's affinity rules applied to an expression, against the columns' planned PostgreSQL types.

SQLite converts one side of a comparison to the other's kind (a number compared with a TEXT column is compared as
text; a text compared with a numeric column as a number when it reads as one), and its text functions and LIKE
take a number's text. PostgreSQL refuses `varchar = integer`, `bigint = text` and `length(bigint)`; these rules
say which literal to write as text and which column reference to give as its text instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from wizard.plan_model import TablePlan
from wizard.source.sql_tokens import Token, is_word

_NUMBER_KINDS = ("int", "float", "numeric")  # their text in PostgreSQL is the text SQLite gives them
# Functions of text: SQLite applies them to a number's text, PostgreSQL needs the argument cast.
_TEXT_FUNCS = {"length", "lower", "upper", "trim", "ltrim", "rtrim", "substr", "substring", "replace", "instr"}
# Words a grouping parenthesis may follow (`WHERE ((t.col)) = 0`); after any other word it opens a call.
_GROUPING_WORDS = ("WHERE", "ON", "AND", "OR", "NOT", "WHEN", "THEN", "ELSE", "SELECT", "HAVING", "IN", "BY", "AS",
                   "CASE", "BETWEEN", "IS", "LIKE", "SET", "VALUES", "RETURN")
_ARITHMETIC = ("+", "-", "*", "/", "%")
COMPARE = ("=", "==", "!=", "<>", "<", ">", "<=", ">=")
_NUMBER_PREFIX = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NUMERIC_TEXT = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
# Words after a table's name that are not its alias.
NOT_ALIAS = {"on", "where", "join", "left", "right", "inner", "outer", "cross", "natural", "group", "order",
              "limit", "union", "except", "intersect", "using", "having", "window", "as", "full"}


def _kind(conversion: str) -> str:
    return "text" if conversion == "text" else "number" if conversion in _NUMBER_KINDS else "other"


@dataclass(frozen=True)
class Affinity:
    """The planned conversions of the columns, by lower-case source name: bare (each conversion some table plans
    for that name) and per table. One place for what an expression needs to know of the planned types."""

    columns: dict[str, frozenset[str]] = field(default_factory=dict)
    tables: dict[str, dict[str, str]] = field(default_factory=dict)

    def kind(self, column: str, table: str | None = None) -> str | None:
        """The planned kind of a column ("text", "number" or "other"); a bare name that tables plan as different
        kinds has none."""
        if table is not None and (cols := self.tables.get(table)) is not None:
            conversion = cols.get(column)
            return None if conversion is None else _kind(conversion)
        kinds = {_kind(c) for c in self.columns.get(column, ())}
        return next(iter(kinds)) if len(kinds) == 1 else None

    @property
    def bool_columns(self) -> frozenset[str]:
        """The names that became boolean in every table that has them."""
        return frozenset(n for n, conversions in self.columns.items() if conversions == {"bool"})


def affinity(tables: Iterable[TablePlan]) -> Affinity:
    """The Affinity of these tables' columns."""
    per_table: dict[str, dict[str, str]] = {}
    conversions: dict[str, set[str]] = {}
    for t in tables:
        cols = per_table.setdefault(t.source.lower(), {})
        for c in t.columns:
            cols[c.source.lower()] = c.conversion
            conversions.setdefault(c.source.lower(), set()).add(c.conversion)
    return Affinity({n: frozenset(k) for n, k in conversions.items()}, per_table)


@dataclass
class Rewrites:
    literals: dict[int, str] = field(default_factory=dict)
    """Token index -> what to write instead ("" drops the token): numbers compared with text become strings."""
    text_casts: dict[int, int] = field(default_factory=dict)
    """A column reference to give as its text: the index of its first token (its table's name, if qualified) ->
    the index of its last."""
    number_reads: dict[int, int] = field(default_factory=dict)
    """A text column used in arithmetic, to read as SQLite reads a text as a number: the index of its first token
    -> the index of its last."""
    text_arithmetic: list[str] = field(default_factory=list)
    """The text columns used in arithmetic, as written, with the operator: `Employees.FirstName (+)`."""
    refusal: str | None = None
    """Why PostgreSQL cannot have the expression at all."""


def table_aliases(tokens: list[Token], kinds: Affinity) -> dict[str, str]:
    """Alias (lower case) -> the table or view it names: `FROM customer AS cu`, `JOIN address a`, and after a
    comma `FROM a x, b y` (there only for a known table: a select list's `a, b c` is no table)."""
    sig = [t for t in tokens if t.kind != "ws"]
    out: dict[str, str] = {}
    for k in range(len(sig) - 1):
        if not (is_word(sig[k], "FROM", "JOIN") or sig[k].text == ","):
            continue
        table = sig[k + 1]
        if table.kind not in ("ident", "qident") or (sig[k].text == "," and table.value.lower() not in kinds.tables):
            continue
        j = k + 2
        if j < len(sig) and is_word(sig[j], "AS"):
            j += 1
        if j < len(sig) and sig[j].kind in ("ident", "qident") and sig[j].value.lower() not in NOT_ALIAS:
            out[sig[j].value.lower()] = table.value.lower()
    return out


def affinity_rewrites(tokens: list[Token], resolve: Callable[[str], str | None], kinds: Affinity,
                      aliases: dict[str, str]) -> Rewrites:
    """What SQLite's affinity rules change in this expression, for the planned kinds of its columns (`aliases`:
    the expression's table_aliases)."""
    rw = Rewrites()
    if not kinds.columns and not kinds.tables:
        return rw
    sig = [i for i, t in enumerate(tokens) if t.kind != "ws"]

    def ref(k: int) -> tuple[int, str] | None:
        """The column reference whose column name is at sig[k]: (its first sig position, its planned kind)."""
        t = tokens[sig[k]]
        if t.kind not in ("ident", "qident") or resolve(t.value) is None:
            return None
        if k + 1 < len(sig) and tokens[sig[k + 1]].text == ".":
            return None  # a table's name, not the column
        if k >= 2 and tokens[sig[k - 1]].text == ".":
            qualifier = tokens[sig[k - 2]].value.lower()
            if qualifier in ("new", "old") and qualifier not in aliases and qualifier not in kinds.tables:
                return None  # a trigger's NEW.x and OLD.x: SQLite gives them no affinity, compared as stored
            kind = kinds.kind(t.value.lower(), aliases.get(qualifier, qualifier))
            return (k - 2, kind) if kind else None
        kind = kinds.kind(t.value.lower())
        return (k, kind) if kind else None

    def number(k: int) -> tuple[int, str] | None:
        """The number literal starting at sig[k] (a sign may come first): (its last sig position, its text)."""
        if not 0 <= k < len(sig):
            return None
        t = tokens[sig[k]]
        if t.kind == "number":
            return k, t.text
        if t.text in ("-", "+") and k + 1 < len(sig) and tokens[sig[k + 1]].kind == "number":
            return k + 1, t.text + tokens[sig[k + 1]].text
        return None

    def to_text(start: int, end: int, text: str) -> None:
        rw.literals[sig[start]] = "'" + text.lstrip("+") + "'"
        for k in range(start + 1, end + 1):
            rw.literals[sig[k]] = ""

    def cast(start: int, end: int) -> None:
        rw.text_casts[sig[start]] = sig[end]

    for k in range(len(sig)):
        t = tokens[sig[k]]
        if t.kind == "string" and _in_arithmetic(tokens, sig, k):
            rw.literals[sig[k]] = _sqlite_number(t.value[1:-1].replace("''", "'"))
        found = ref(k)
        if found is None:
            continue
        start, kind = found
        after = k + 1 + _closing(tokens, sig, start, k)  # `((t.col))=0`: the parentheses hold only the column
        op = tokens[sig[after]] if after < len(sig) else None
        compared = op is not None and op.text in COMPARE
        other = _ref_at(after + 1, sig, tokens, ref) if compared else None
        nxt = tokens[sig[k + 1]] if k + 1 < len(sig) else None
        before = tokens[sig[start - 1]].text if start > 0 else ""
        arithmetic = op.text if op is not None and op.text in _ARITHMETIC else before if before in _ARITHMETIC else ""
        if kind == "text" and arithmetic:
            name = "".join(tokens[sig[j]].text for j in range(start, k + 1))
            rw.number_reads[sig[start]] = sig[k]
            rw.text_arithmetic.append(f"{name} ({arithmetic})")
        if kind == "text":
            if compared and (num := number(after + 1)) is not None:
                to_text(after + 1, num[0], num[1])
            prev = tokens[sig[start - 1]] if start > 0 else None
            if prev is not None and prev.text in COMPARE and start >= 2 and tokens[sig[start - 2]].kind == "number" \
                    and not (start >= 3 and tokens[sig[start - 3]].text in ("-", "+")):
                to_text(start - 2, start - 2, tokens[sig[start - 2]].text)
            if nxt is not None and is_word(nxt, "IN") and k + 2 < len(sig) and tokens[sig[k + 2]].text == "(":
                j = k + 3
                while j < len(sig) and tokens[sig[j]].text != ")":
                    if (num := number(j)) is not None:
                        to_text(j, num[0], num[1])
                        j = num[0]
                    elif tokens[sig[j]].text != ",":
                        break  # a subquery or an expression: left as it is
                    j += 1
            if other is not None and other[2] == "number":
                cast(other[0], other[1])  # `text_col = number_col`: compared as text
        elif kind == "number":
            func = tokens[sig[start - 2]] if start >= 2 and tokens[sig[start - 1]].text == "(" else None
            fname = func.text.lower() if func is not None and func.kind == "ident" else ""
            if fname in _TEXT_FUNCS or (nxt is not None and is_word(nxt, "LIKE")):
                cast(start, k)
            elif fname in ("ifnull", "coalesce") and nxt is not None and nxt.text == "," and k + 2 < len(sig) and \
                    tokens[sig[k + 2]].kind == "string" and not _NUMERIC_TEXT.match(tokens[sig[k + 2]].value[1:-1]):
                cast(start, k)  # ifnull(number, ''): the column's text, as SQLite returns either kind
            elif compared and after + 1 < len(sig) and tokens[sig[after + 1]].kind == "string" and \
                    not _NUMERIC_TEXT.match(tokens[sig[after + 1]].value[1:-1]):
                cast(start, k)  # a number never equals a text that does not read as one: compared as text
            elif other is not None and other[2] == "text":
                cast(start, k)
        elif kind == "other" and nxt is not None and is_word(nxt, "LIKE"):
            cast(start, k)
    return rw


def text_arithmetic_note(columns: Iterable[str]) -> str:
    """What a user is told of an expression computing with text columns."""
    cols = list(columns)
    return (f"computes with the text column{'s' if len(cols) > 1 else ''} {', '.join(cols)}, which SQLite reads "
            f"as the number {'their' if len(cols) > 1 else 'its'} text starts with (0 for a word)")


def _in_arithmetic(tokens: list[Token], sig: list[int], k: int) -> bool:
    """Whether the token at sig[k] is an operand of + - * / % (not `count(*)` nor `t.*`)."""
    before = tokens[sig[k - 1]].text if k > 0 else ""
    after = tokens[sig[k + 1]].text if k + 1 < len(sig) else ""
    return before in _ARITHMETIC or after in _ARITHMETIC


def _sqlite_number(text: str) -> str:
    """A string literal used in arithmetic, as SQLite reads it: the number its text starts with, else 0."""
    m = _NUMBER_PREFIX.match(text)
    number = m.group(0).strip().lstrip("+") if m else "0"
    return f"({number})" if number.startswith("-") else number  # `a-'-5'` must not become the comment `a--5`


def _ref_at(k: int, sig: list[int], tokens: list[Token],
            ref: Callable[[int], tuple[int, str] | None]) -> tuple[int, int, str] | None:
    """The column reference starting at sig[k] (maybe `table.col`): (first, last sig position, kind)."""
    if k >= len(sig):
        return None
    last = k + 2 if k + 2 < len(sig) and tokens[sig[k + 1]].text == "." else k
    found = ref(last)
    if found is None or found[0] != k:
        return None
    return k, last, found[1]


def _closing(tokens: list[Token], sig: list[int], start: int, k: int) -> int:
    """How many ")" follow the column at sig[k] that close "(" opened right before it (or its `table.`) to group
    it: a call's parenthesis (`length(code)`) makes what follows compare with the call, not the column."""
    opened = 0
    while start - 1 - opened >= 0 and tokens[sig[start - 1 - opened]].text == "(":
        if start - 2 - opened >= 0 and tokens[sig[start - 2 - opened]].kind in ("ident", "qident") and \
                not is_word(tokens[sig[start - 2 - opened]], *_GROUPING_WORDS):
            break
        opened += 1
    closed = 0
    while closed < opened and k + 1 + closed < len(sig) and tokens[sig[k + 1 + closed]].text == ")":
        closed += 1
    return closed
