"""The FROM clause of an SQLite SELECT: the tables and views it names, and its USING joins made valid for
PostgreSQL. Works on SQLite text, before translation, with the source's own column lists."""

from __future__ import annotations

from collections.abc import Callable

from wizard.plan.affinity import NOT_ALIAS
from wizard.source.sql_tokens import Token, is_word, quote, tokenize


def depths(toks: list[Token]) -> list[int]:
    """Each token's parenthesis depth (a parenthesis itself counts as outside)."""
    out: list[int] = []
    d = 0
    for t in toks:
        if t.text == ")":
            d -= 1
        out.append(d)
        if t.text == "(":
            d += 1
    return out


def from_sources(toks: list[Token], clause: list[int]) -> list[tuple[str, str]]:
    """The tables and views a FROM clause names (`clause`: its significant tokens outside parentheses, FROM
    first), in order: (name, the name that qualifies its columns). Empty when one of its sources is a subquery
    or a table function (its columns are not known here)."""
    out: list[tuple[str, str]] = []
    for n, j in enumerate(clause):
        if not (is_word(toks[j], "FROM", "JOIN") or toks[j].text == ","):
            continue
        if n + 1 >= len(clause) or toks[clause[n + 1]].kind not in ("ident", "qident"):
            return []
        name = toks[clause[n + 1]].value
        if n + 2 < len(clause) and toks[clause[n + 2]].text == "(":
            return []
        k = n + 2
        if k < len(clause) and is_word(toks[clause[k]], "AS"):
            k += 1
        alias = name
        if k < len(clause) and toks[clause[k]].kind in ("ident", "qident") and \
                toks[clause[k]].value.lower() not in NOT_ALIAS:
            alias = toks[clause[k]].value
        out.append((name, alias))
    return out


def using_as_on(sql: str, columns: Callable[[str], list[str] | None]) -> str:
    """The SQL with each `JOIN t USING (c, ...)` whose column more than one table on its left has written as
    `ON left.c = t.c AND ...`, `left` the left-most of them, as SQLite takes it (PostgreSQL refuses the USING:
    "common column name appears more than once in left table"). `columns` gives a table's or view's columns."""
    toks = tokenize(sql)
    depth = depths(toks)
    instead: dict[int, str] = {}
    for i, t in enumerate(toks):
        if not is_word(t, "USING"):
            continue
        level = depth[i]
        sig = [j for j in range(i) if depth[j] == level and toks[j].kind != "ws"]
        frm = next((n for n in range(len(sig) - 1, -1, -1) if is_word(toks[sig[n]], "FROM")), None)
        opening = next((j for j in range(i + 1, len(toks)) if toks[j].kind != "ws"), None)
        if frm is None or opening is None or toks[opening].text != "(":
            continue
        closing = next((j for j in range(opening + 1, len(toks)) if depth[j] == level and toks[j].text == ")"), None)
        sources = from_sources(toks, sig[frm:])
        if closing is None or len(sources) < 2:
            continue
        select = next((n for n in range(frm - 1, -1, -1) if is_word(toks[sig[n]], "SELECT")), 0)
        if any(toks[sig[n]].text == "*" and (is_word(toks[sig[n - 1]], "SELECT", "DISTINCT", "ALL") or
                                            toks[sig[n - 1]].text in (",", ".")) for n in range(select + 1, frm)):
            continue  # `SELECT *` lists a USING column once; ON would list it twice
        *left, (_, right) = sources
        known = {q: {c.lower() for c in columns(table) or []} for table, q in left}
        using = [toks[j].value for j in range(opening + 1, closing) if toks[j].kind in ("ident", "qident")]
        holders = {c: [q for _, q in left if c.lower() in known[q]] for c in using}
        if not using or any(not h for h in holders.values()) or all(len(h) < 2 for h in holders.values()):
            continue  # as PostgreSQL takes it (or as wrong there as here)
        instead[i] = "ON " + " AND ".join(f"{quote(holders[c][0])}.{quote(c)} = {quote(right)}.{quote(c)}"
                                          for c in using)
        for j in range(i + 1, closing + 1):
            instead[j] = ""
    if not instead:
        return sql
    return "".join(instead.get(j, t.text) for j, t in enumerate(toks))
