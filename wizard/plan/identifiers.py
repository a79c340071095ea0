"""PostgreSQL names for SQLite identifiers: case folding, the 63-byte limit, and collisions.

PostgreSQL folds unquoted names to lower case, so by default every name becomes lower case: an application that
wrote `SELECT * FROM Users` keeps working. Names are always quoted in generated SQL (psycopg2.sql.Identifier).
"""

from __future__ import annotations

import hashlib

PG_MAX_IDENT_BYTES = 63


def _fit(name: str, limit: int = PG_MAX_IDENT_BYTES) -> str:
    data = name.encode("utf-8")
    if len(data) <= limit:
        return name
    digest = hashlib.sha1(data).hexdigest()[:6]
    keep = data[: limit - 7].decode("utf-8", "ignore")  # never cut a UTF-8 character in half
    return f"{keep}_{digest}"


class NameSpace:
    """Hands out unique PostgreSQL names within one namespace (a schema's relations, or a table's columns)."""

    def __init__(self, keep_case: bool) -> None:
        self.keep_case = keep_case
        self._taken: dict[str, str] = {}  # folded target name -> source name

    def _key(self, name: str) -> str:
        return name if self.keep_case else name.lower()

    def reserve(self, name: str) -> None:
        self._taken[self._key(name)] = name

    def assign(self, source: str) -> tuple[str, str | None]:
        """Target name for `source`, and a note when it had to change beyond case folding."""
        base = source if self.keep_case else source.lower()
        base = base.replace("\x00", "")
        candidate = _fit(base)
        note = None
        if candidate != base:
            note = f"'{source}' is longer than {PG_MAX_IDENT_BYTES} bytes; PostgreSQL would cut it, so it is " \
                   f"named '{candidate}'"
        n = 2
        while self._key(candidate) in self._taken:
            other = self._taken[self._key(candidate)]
            suffix = f"_{n}"
            candidate = _fit(base, PG_MAX_IDENT_BYTES - len(suffix)) + suffix
            note = f"'{source}' collides with '{other}' once folded/truncated for PostgreSQL; named '{candidate}'"
            n += 1
        self._taken[self._key(candidate)] = source
        return candidate, note


def derived_name(*parts: str, suffix: str) -> str:
    """A constraint or index name like PostgreSQL's own (`table_col_key`), fitted into 63 bytes."""
    return _fit("_".join(p for p in parts if p) + "_" + suffix)
