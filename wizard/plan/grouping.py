"""SQLite's bare columns in a grouped SELECT, for PostgreSQL.

SQLite lets a grouped SELECT name a column that is neither grouped nor aggregated, and takes its value from one
row of the group; PostgreSQL refuses that ("must appear in the GROUP BY clause"). Each such column becomes
`(array_agg(col))[1]`: one row's value of the group, as in SQLite, for any type (min() has none for boolean or
bytea, and any_value() needs PostgreSQL 16). Works on the translated (PostgreSQL) text of a view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from wizard.plan.from_clause import depths, from_sources
from wizard.source.sql_tokens import Token, is_word, quote, tokenize

_CLAUSE_END = ("HAVING", "ORDER", "LIMIT", "WINDOW", "OFFSET")
_SET_OPS = ("UNION", "EXCEPT", "INTERSECT")
_AGGREGATES = {"count", "sum", "min", "max", "avg", "total", "group_concat", "string_agg", "array_agg", "bool_or",
               "bool_and", "every"}
_LITERAL_WORDS = ("NULL", "TRUE", "FALSE", "CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME")


@dataclass(frozen=True)
class _GroupedSelect:
    """Token positions of one grouped SELECT: the SELECT, its FROM, its GROUP, the end of its GROUP BY list, and
    its significant tokens outside parentheses."""

    select: int
    level: int
    frm: int
    grp: int
    stop: int
    at_level: list[int]


def _grouped_selects(toks: list[Token], depth: list[int]) -> Iterator[_GroupedSelect]:
    for s, t in enumerate(toks):
        if not is_word(t, "SELECT"):
            continue
        level = depth[s]
        end = next((j for j in range(s + 1, len(toks)) if depth[j] < level
                    or (depth[j] == level and is_word(toks[j], *_SET_OPS))), len(toks))
        at_level = [j for j in range(s + 1, end) if depth[j] == level and toks[j].kind != "ws"]
        frm = next((j for j in at_level if is_word(toks[j], "FROM")), None)
        grp = next((j for j in at_level if is_word(toks[j], "GROUP")), None)
        if frm is None or grp is None or grp < frm:
            continue
        stop = next((j for j in at_level if j > grp and is_word(toks[j], *_CLAUSE_END)), end)
        yield _GroupedSelect(s, level, frm, grp, stop, at_level)


def expand_grouped_stars(sql: str, columns: Callable[[str], list[str] | None]) -> str:
    """The (SQLite) SQL with the `*` and `t.*` of each grouped SELECT written as its columns, so that each can be
    aggregated on its own; `columns` gives a table's or view's columns (None: unknown, the star is kept). A star
    over a subquery or a USING/NATURAL join is kept."""
    toks = tokenize(sql)
    depth = depths(toks)
    instead: dict[int, str] = {}
    for g in _grouped_selects(toks, depth):
        clause = [j for j in g.at_level if g.frm <= j < g.grp]
        if any(is_word(toks[j], "USING", "NATURAL") for j in clause):
            continue
        sources = from_sources(toks, clause)
        for part in _split(toks, depth, g.level, g.select + 1, g.frm):
            sig = [j for j in part if toks[j].kind != "ws"]
            if len(sig) == 1 and toks[sig[0]].text == "*":
                picked = sources
                at = sig[0]
            elif len(sig) == 3 and toks[sig[2]].text == "*" and toks[sig[1]].text == ".":
                picked = [src for src in sources if src[1].lower() == toks[sig[0]].value.lower()]
                at = sig[0]
            else:
                continue
            listed = [(q, columns(table)) for table, q in picked]
            if not picked or any(cols is None for _, cols in listed):
                continue
            instead[at] = ", ".join(f"{quote(q)}.{quote(c)}" for q, cols in listed for c in cols or [])
            for j in sig[1:]:
                instead[j] = ""
    if not instead:
        return sql
    return "".join(instead.get(j, t.text) for j, t in enumerate(toks))


def aggregate_bare_columns(sql: str) -> tuple[str, list[str]]:
    """The SQL with each bare column of a grouped SELECT aggregated, and the columns so changed (as written)."""
    toks = tokenize(sql)
    depth = depths(toks)
    before: dict[int, str] = {}
    after: dict[int, str] = {}
    changed: list[str] = []
    for g in _grouped_selects(toks, depth):
        level, at_level, grp, stop = g.level, g.at_level, g.grp, g.stop
        by = next((j for j in at_level if j > grp), grp)
        grouped = {n for part in _split(toks, depth, level, by + 1, stop) if (n := _ref(part, toks))}
        grouped_names = {n[1] for n in grouped}
        for part in _split(toks, depth, level, g.select + 1, g.frm):
            sig = [j for j in part if toks[j].kind != "ws"]
            if sig and is_word(toks[sig[0]], "DISTINCT", "ALL"):
                sig = sig[1:]
            alias = None
            if len(sig) >= 3 and is_word(toks[sig[-2]], "AS"):
                alias, sig = toks[sig[-1]], sig[:-2]
            elif len(sig) in (2, 4) and toks[sig[-1]].kind in ("ident", "qident"):
                alias, sig = toks[sig[-1]], sig[:-1]  # `col alias`, `t.col alias`
            ref = _ref(sig, toks)
            name = ref[1] if ref else None
            # `users.id` is grouped by `users.id` or `id`, not by `products.id`; a bare `id` by any of them
            is_grouped = ref is not None and (ref in grouped or (None, ref[1]) in grouped or
                                              (ref[0] is None and ref[1] in grouped_names))
            if is_grouped or (alias is not None and (None, alias.value.lower()) in grouped) or not sig:
                continue
            if name is None and not _bare_expression(sig, toks):
                continue
            before[sig[0]] = "(array_agg("
            after[sig[-1]] = "))[1]" + ("" if alias is not None or name is None else " AS " + toks[sig[-1]].text)
            changed.append("".join(toks[j].text for j in sig))
    if not changed:
        return sql, []
    return "".join(before.get(j, "") + t.text + after.get(j, "") for j, t in enumerate(toks)), changed


def _bare_expression(sig: list[int], toks: list[Token]) -> bool:
    """Whether a select item is an expression of columns outside any aggregate (`a.x > a.y`)."""
    words = [toks[j] for j in sig]
    if any(t.text == "*" and (i == 0 or words[i - 1].text == ".") for i, t in enumerate(words)):
        return False
    calls = {words[i].value.lower() for i in range(len(words) - 1) if words[i + 1].text == "("}
    if calls & _AGGREGATES or any(is_word(t, "SELECT") for t in words):
        return False
    return any(t.kind in ("ident", "qident") and not is_word(t, *_LITERAL_WORDS) and t.value.lower() not in calls
               for t in words)


def _split(toks: list[Token], depth: list[int], level: int, start: int, stop: int) -> list[list[int]]:
    """The token indexes from start to stop split at the commas of this level."""
    parts: list[list[int]] = [[]]
    for j in range(start, stop):
        if toks[j].text == "," and depth[j] == level:
            parts.append([])
        else:
            parts[-1].append(j)
    return parts


def _ref(part: list[int], toks: list[Token]) -> tuple[str | None, str] | None:
    """(qualifier or None, column name), lower case, when the tokens are only a column reference (`col` or
    `t.col`)."""
    sig = [toks[j] for j in part if toks[j].kind != "ws"]
    if len(sig) == 1 and sig[0].kind in ("ident", "qident") and not is_word(sig[0], *_LITERAL_WORDS):
        return None, sig[0].value.lower()
    if len(sig) == 3 and sig[1].text == "." and sig[0].kind in ("ident", "qident") and \
            sig[2].kind in ("ident", "qident"):
        return sig[0].value.lower(), sig[2].value.lower()
    return None
