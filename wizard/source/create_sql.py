"""What the PRAGMAs leave out, read from a CREATE TABLE or CREATE INDEX statement: CHECKs, collations,
AUTOINCREMENT, generated columns, deferred foreign keys, partial-index predicates and index expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wizard.source.sql_tokens import Token, is_word, join, paren_body, significant, split_top_level, strip_ws, tokenize


@dataclass
class ParsedColumn:
    collation: str | None = None
    generated: str | None = None
    checks: list[str] = field(default_factory=list)


@dataclass
class _ParsedTable:
    columns: dict[str, ParsedColumn]
    checks: list[str]
    without_rowid: bool
    strict: bool
    autoincrement: bool
    pk_desc: bool
    # the foreign keys checked at commit (DEFERRABLE INITIALLY DEFERRED), by their columns (lower case)
    deferred_fks: set[tuple[str, ...]] = field(default_factory=set)
    check_names: dict[str, str] = field(default_factory=dict)  # a CHECK's text -> its CONSTRAINT name
    # CONSTRAINT name UNIQUE (columns): its columns (lower case) -> the name (SQLite's own index is autoindex_N)
    unique_names: dict[tuple[str, ...], str] = field(default_factory=dict)


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
            found = _checks_in(part)
            result.checks.extend(found)
            if found and is_word(sig[0], "CONSTRAINT") and len(sig) > 2 and is_word(sig[2], "CHECK"):
                result.check_names[found[0]] = sig[1].value  # CONSTRAINT name CHECK (...), as an app names it
            if is_word(sig[0], "CONSTRAINT") and len(sig) > 3 and is_word(sig[2], "UNIQUE") and sig[3].text == "(":
                result.unique_names[_names_in(part, sig[3])] = sig[1].value
            foreign = next((i for i, t in enumerate(sig) if is_word(t, "FOREIGN")), None)
            if foreign is not None and _deferred(sig) and foreign + 2 < len(sig) and sig[foreign + 2].text == "(":
                result.deferred_fks.add(_names_in(part, sig[foreign + 2]))
            continue
        col = ParsedColumn(checks=_checks_in(part))
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
        if any(is_word(t, "REFERENCES") for t in sig) and _deferred(sig):
            result.deferred_fks.add((sig[0].value.lower(),))
    return result


def _names_in(part: list[Token], opening: Token) -> tuple[str, ...]:
    """The column names (lower case) in the parentheses that `opening`, a token of `part`, opens."""
    inner, _ = paren_body(part, next(i for i, t in enumerate(part) if t is opening))
    return tuple(t.value.lower() for t in significant(inner) if t.kind in ("ident", "qident"))


def _deferred(sig: list[Token]) -> bool:
    """A foreign key clause SQLite checks at commit: DEFERRABLE INITIALLY DEFERRED (NOT DEFERRABLE, a bare
    DEFERRABLE or INITIALLY IMMEDIATE check each statement)."""
    words = [t.text.upper() for t in sig if t.kind == "ident"]
    for i in range(len(words) - 2):
        if words[i:i + 3] == ["DEFERRABLE", "INITIALLY", "DEFERRED"] and (i == 0 or words[i - 1] != "NOT"):
            return True
    return False


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
            # up to the last significant token itself: an equal token (a ")" of an inner call) may come earlier
            end = max(i for i, t in enumerate(part) if t is sig[-1]) + 1 if sig else 0
            exprs.append(join(strip_ws(part[:end])) if sig else None)
    rest = tokens[after:]
    where = None
    for i, t in enumerate(rest):
        if is_word(t, "WHERE"):
            where = join(rest[i + 1:]).rstrip(";").strip()
            break
    return _ParsedIndex(exprs, where)
