"""A small tokenizer for SQLite SQL text, enough to split definitions and re-quote identifiers.

SQLite's PRAGMAs do not expose CHECK constraints, partial-index predicates, index expressions, collations or
AUTOINCREMENT, so those are read from the CREATE statements kept in sqlite_master.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    kind: str  # "ident" (bare word), "qident" (quoted identifier), "string", "number", "blob", "op", "ws"
    text: str  # the token exactly as written
    value: str  # identifiers unquoted; other kinds same as text


def quote(name: str) -> str:
    """Quote an identifier the way psycopg2.sql.Identifier does (doubling embedded quotes)."""
    return '"' + name.replace('"', '""') + '"'


def tokenize(sql: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            j = i
            while j < n and sql[j].isspace():
                j += 1
            out.append(Token("ws", sql[i:j], " "))
            i = j
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(Token("ws", sql[i:j], " "))
            i = j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(Token("ws", sql[i:j], " "))
            i = j
        elif c in "'\"`":
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            text = sql[i:j + 1]
            inner = text[1:-1].replace(c * 2, c)
            if c == "'":
                out.append(Token("string", text, text))
            else:
                out.append(Token("qident", text, inner))
            i = j + 1
        elif c == "[":
            j = sql.find("]", i)
            j = n - 1 if j < 0 else j
            out.append(Token("qident", sql[i:j + 1], sql[i + 1:j]))
            i = j + 1
        elif c in "xX" and i + 1 < n and sql[i + 1] == "'":
            j = sql.find("'", i + 2)
            j = n - 1 if j < 0 else j
            out.append(Token("blob", sql[i:j + 1], sql[i:j + 1]))
            i = j + 1
        elif c.isdigit() or (c == "." and i + 1 < n and sql[i + 1].isdigit()):
            j = i
            while j < n and (sql[j].isalnum() or sql[j] == "." or
                             (sql[j] in "+-" and sql[j - 1] in "eE" and not sql[i:j].lower().startswith("0x"))):
                j += 1
            out.append(Token("number", sql[i:j], sql[i:j]))
            i = j
        elif c.isalpha() or c == "_" or ord(c) > 127:
            j = i
            while j < n and (sql[j].isalnum() or sql[j] in "_$" or ord(sql[j]) > 127):
                j += 1
            out.append(Token("ident", sql[i:j], sql[i:j]))
            i = j
        else:
            two = sql[i:i + 2]
            if two in ("<=", ">=", "<>", "!=", "==", "||", "<<", ">>"):
                out.append(Token("op", two, two))
                i += 2
            else:
                out.append(Token("op", c, c))
                i += 1
    return out


def split_top_level(tokens: list[Token], sep: str = ",") -> list[list[Token]]:
    """Split tokens on `sep` outside parentheses; whitespace at the ends of each part is dropped."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for t in tokens:
        if t.kind == "op" and t.text == "(":
            depth += 1
        elif t.kind == "op" and t.text == ")":
            depth -= 1
        if depth == 0 and t.kind == "op" and t.text == sep:
            parts.append([])
            continue
        parts[-1].append(t)
    return [strip_ws(p) for p in parts if strip_ws(p)]


def strip_ws(tokens: list[Token]) -> list[Token]:
    start, end = 0, len(tokens)
    while start < end and tokens[start].kind == "ws":
        start += 1
    while end > start and tokens[end - 1].kind == "ws":
        end -= 1
    return tokens[start:end]


def significant(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.kind != "ws"]


def paren_body(tokens: list[Token], start: int) -> tuple[list[Token], int]:
    """Tokens inside the parenthesis opening at `start`, and the index just past its closing one."""
    depth = 0
    for i in range(start, len(tokens)):
        t = tokens[i]
        if t.kind == "op" and t.text == "(":
            depth += 1
        elif t.kind == "op" and t.text == ")":
            depth -= 1
            if depth == 0:
                return tokens[start + 1:i], i + 1
    return tokens[start + 1:], len(tokens)


def is_word(t: Token, *words: str) -> bool:
    return t.kind == "ident" and t.text.upper() in words


def join(tokens: list[Token]) -> str:
    return "".join(t.text for t in tokens).strip()
