"""Types chosen per relation: the columns that foreign keys join (transitively) get one type that every value of
every one of them fits, so each key can be created. Each column is first typed from its own data; a referenced
code column of text and a referencing one holding only numbers would otherwise become text and bigint, which
PostgreSQL refuses to join by a foreign key. Columns a view compares (`a.id = b.id`) join the same groups when
PostgreSQL could not compare their planned types (bytea with numeric, boolean with bigint); a number compared
with a text is left to the affinity rules, which compare it as text."""

from __future__ import annotations

from collections.abc import Sequence

from wizard.plan.affinity import COMPARE, Affinity, table_aliases
from wizard.plan.columns import switch_type
from wizard.plan.context import PlanContext
from wizard.plan.from_clause import depths, from_sources
from wizard.plan_model import ColumnPlan, TablePlan
from wizard.source.schema import SqliteSchema
from wizard.source.sql_tokens import Token, is_word, split_top_level, tokenize

Column = tuple[str, str]  # (table, column) source names

_NUMBERS = {"int", "float", "numeric", "bool"}
# Conversions PostgreSQL joins by a key whatever their length, precision or time zone.
_FAMILY = {"timestamptz": "timestamp", "date": "timestamp"}


def key_groups(schema: SqliteSchema, compared: Sequence[tuple[Column, Column]] = ()) -> list[list[Column]]:
    """The (table, column) source names that foreign keys (and the `compared` pairs) join, one group per connected
    set (two or more)."""
    tables = {t.name.lower(): t for t in schema.tables}
    parent: dict[Column, Column] = {}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for t in schema.tables:
        for fk in t.foreign_keys:
            ref = tables.get(fk.ref_table.lower())
            if ref is None or len(fk.from_columns) != len(fk.to_columns):
                continue
            ref_cols = {c.name.lower(): c.name for c in ref.columns}
            own_cols = {c.name.lower(): c.name for c in t.columns}
            for frm, to in zip(fk.from_columns, fk.to_columns, strict=True):
                if frm.lower() in own_cols and to.lower() in ref_cols:
                    a = (t.name, own_cols[frm.lower()])
                    b = (ref.name, ref_cols[to.lower()])
                    parent[find(a)] = find(b)
    for a, b in compared:
        parent[find(a)] = find(b)
    groups: dict[Column, list[Column]] = {}
    for x in parent:
        groups.setdefault(find(x), []).append(x)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def unify_key_types(ctx: PlanContext, tables: list[TablePlan]) -> None:
    """Give every group of joined columns one type: the widest the data of its columns needs, with a finding for
    each column that changes. A column the user typed with --type keeps it (and so sets the group's type)."""
    by_source = {t.source: t for t in tables}
    compared = view_comparisons(ctx.schema, tables)
    in_views = {c for pair in compared for c in pair}
    for group in key_groups(ctx.schema, [(a, b) for a, b in compared if not _comparable(
            by_source[a[0]].column(a[1]), by_source[b[0]].column(b[1]))]):
        cols = [(by_source[tn], by_source[tn].column(cn)) for tn, cn in group]
        if len({_family(c) for _, c in cols}) <= 1:
            continue
        overridden = [c for _, c in cols if c.override]
        pg_type, conversion = (overridden[0].pg_type, overridden[0].conversion) if overridden else _widest(
            [c for _, c in cols])
        planned = [(t, c, c.pg_type) for t, c in cols]
        joined_by = "foreign keys and views' comparisons join" if in_views & set(group) else "foreign keys join"
        for t, c in cols:
            if c.override or _family(c) == _FAMILY.get(conversion, conversion):
                continue
            was = c.pg_type
            switch_type(c, pg_type, conversion)
            c.identity = False
            ctx.find("key_type", "warning", t.source, c.source,
                     f"'{c.source}' was planned as {was}, but {joined_by} it to columns of other types: "
                     + ", ".join(f"{ot.source}.{oc.source} ({typ})" for ot, oc, typ in planned if oc is not c) + ".",
                     f"It becomes {pg_type}, which every value of the joined columns fits, so the foreign key "
                     f"can be created and the comparison made; override with --type {t.source}.{c.source}=TYPE.")


def view_comparisons(schema: SqliteSchema, tables: list[TablePlan]) -> list[tuple[Column, Column]]:
    """The pairs of table columns the views compare as `t.a = u.b` (tables or their aliases), or put in one
    column of a UNION (its branches' columns at one position)."""
    known = {t.source.lower(): (t.source, {c.source.lower(): c.source for c in t.columns}) for t in tables}
    kinds = Affinity(tables={name: {} for name in known})
    out: list[tuple[Column, Column]] = []
    for view in schema.views:
        toks = [t for t in tokenize(view.sql) if t.kind != "ws"]
        aliases = table_aliases(toks, kinds)
        for k, t in enumerate(toks):
            if t.text in COMPARE and (a := _qualified(toks, k - 3, aliases, known)) and \
                    (b := _qualified(toks, k + 1, aliases, known)) and a != b:
                out.append((a, b))
        out += _union_columns(view.sql, known)
    return out


def _qualified(toks: list[Token], k: int, aliases: dict[str, str],
               known: dict[str, tuple[str, dict[str, str]]]) -> Column | None:
    """The table column that `t.c` starting at toks[k] names (whitespace left out of toks)."""
    if k < 0 or k + 2 >= len(toks) or toks[k + 1].text != "." or \
            any(toks[j].kind not in ("ident", "qident") for j in (k, k + 2)):
        return None
    table = known.get(aliases.get(toks[k].value.lower(), toks[k].value.lower()))
    name = table[1].get(toks[k + 2].value.lower()) if table else None
    return (table[0], name) if table and name else None


def _union_columns(sql: str, known: dict[str, tuple[str, dict[str, str]]]) -> list[tuple[Column, Column]]:
    """The pairs of table columns at one position of consecutive branches of a view's top-level UNION."""
    toks = tokenize(sql)
    depth = depths(toks)
    selects = [j for j, t in enumerate(toks) if is_word(t, "SELECT") and depth[j] == 0]
    if len(selects) < 2:
        return []
    branches: list[list[Column | None]] = []
    for n, s in enumerate(selects):
        end = selects[n + 1] if n + 1 < len(selects) else len(toks)
        sig = [j for j in range(s, end) if depth[j] == 0 and toks[j].kind != "ws"]
        frm = next((m for m, j in enumerate(sig) if is_word(toks[j], "FROM")), None)
        if frm is None:
            return []
        sources = from_sources(toks, sig[frm:])
        by_alias = {q.lower(): t.lower() for t, q in sources}
        items: list[Column | None] = []
        for part in split_top_level(toks[s + 1:sig[frm]]):
            words = [t for t in part if t.kind != "ws"]
            if len(words) >= 3 and is_word(words[-2], "AS"):
                words = words[:-2]
            items.append(_source_column(words, by_alias, known))
        branches.append(items)
    pairs: list[tuple[Column, Column]] = []
    for first, second in zip(branches, branches[1:], strict=False):
        if len(first) == len(second):
            pairs += [(a, b) for a, b in zip(first, second, strict=True) if a and b and a != b]
    return pairs


def _source_column(words: list[Token], by_alias: dict[str, str],
                   known: dict[str, tuple[str, dict[str, str]]]) -> Column | None:
    """The table column a select item names (`t.c`, or `c` of the one source that has it)."""
    if len(words) == 3 and words[1].text == ".":
        table = known.get(by_alias.get(words[0].value.lower(), ""))
        name = table[1].get(words[2].value.lower()) if table else None
        return (table[0], name) if table and name else None
    if len(words) == 1 and words[0].kind in ("ident", "qident"):
        holders = [known[t] for t in by_alias.values() if t in known and words[0].value.lower() in known[t][1]]
        if len(holders) == 1:
            return holders[0][0], holders[0][1][words[0].value.lower()]
    return None


def _comparable(a: ColumnPlan, b: ColumnPlan) -> bool:
    """Whether PostgreSQL compares the two planned types (a number with a text is compared as text)."""
    fa, fb = _family(a), _family(b)
    numbers = {"int", "float", "numeric"}
    return fa == fb or {fa, fb} <= numbers or ("text" in (fa, fb) and (fa in numbers or fb in numbers))


def _family(c: ColumnPlan) -> str:
    return _FAMILY.get(c.conversion, c.conversion)


def _widest(cols: list[ColumnPlan]) -> tuple[str, str]:
    kinds = {c.conversion for c in cols}
    if kinds <= _NUMBERS:
        if kinds <= {"int", "bool"}:
            return "bigint", "int"
        return "numeric", "numeric"  # holds every integer and every double's decimal text exactly
    if "bytea" in kinds:
        return "bytea", "bytea"
    return "text", "text"
