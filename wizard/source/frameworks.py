"""Which framework made an SQLite database, told by what it leaves there: the table where it records its schema
migrations. The app that reads the data after the move is built on it, so the plan names it (and `--framework`
overrides the guess: `none` for an app without one).
"""

from __future__ import annotations

from dataclasses import dataclass

from wizard.errors import InputError
from wizard.source.schema import SqliteSchema


@dataclass(frozen=True)
class Framework:
    key: str  # what --framework takes
    name: str  # as people call it
    evidence: str  # why the plan says so

    def describe(self) -> str:
        return f"{self.name} ({self.evidence})"


@dataclass(frozen=True)
class _Rule:
    key: str
    name: str
    tables: tuple[str, ...]  # all present (names compared without case)
    columns: tuple[str, ...] = ()  # of the first table, all present
    unless: tuple[str, ...] = ()  # none of these tables present


# First match wins: Rails and Ecto share schema_migrations, Active Record also keeps ar_internal_metadata.
_RULES = (
    _Rule("django", "Django", ("django_migrations",), ("app", "name", "applied")),
    _Rule("sqlalchemy", "SQLAlchemy", ("alembic_version",), ("version_num",)),
    _Rule("rails", "Ruby on Rails (Active Record)", ("schema_migrations", "ar_internal_metadata")),
    _Rule("ecto", "Phoenix (Ecto)", ("schema_migrations",), ("version", "inserted_at"),
          unless=("ar_internal_metadata",)),
    _Rule("prisma", "Prisma", ("_prisma_migrations",), ("migration_name",)),
    _Rule("laravel", "Laravel", ("migrations",), ("migration", "batch")),
    _Rule("knex", "Knex", ("knex_migrations",)),
    _Rule("sequelize", "Sequelize", ("SequelizeMeta",)),
    _Rule("diesel", "Diesel", ("__diesel_schema_migrations",)),
    _Rule("flyway", "Flyway", ("flyway_schema_history",)),
)
# (an SQLAlchemy app without Alembic, made by metadata.create_all, leaves nothing to tell: --framework sqlalchemy)
FRAMEWORKS = {r.key: r.name for r in _RULES}


def detect(schema: SqliteSchema) -> Framework | None:
    """The framework whose migration bookkeeping the database holds, or None."""
    tables = {t.name.lower(): t for t in schema.tables}
    for rule in _RULES:
        if not all(name.lower() in tables for name in rule.tables):
            continue
        if any(name.lower() in tables for name in rule.unless):
            continue
        first = tables[rule.tables[0].lower()]
        if not {c.lower() for c in rule.columns} <= {c.name.lower() for c in first.columns}:
            continue
        return Framework(rule.key, rule.name, f"its migrations are recorded in {first.name}")
    return None


def choose(schema: SqliteSchema, override: str | None) -> Framework | None:
    """The framework to plan for: `override` ("none", or one of FRAMEWORKS) when given, else what detect finds."""
    if override is None or override == "":
        return detect(schema)
    key = override.strip().lower()
    if key == "none":
        return None
    if key not in FRAMEWORKS:
        raise InputError(f"--framework '{override}' is not one this tool knows.", title="Unknown framework",
                         hint=f"Use one of: {', '.join(FRAMEWORKS)}, or none.")
    return Framework(key, FRAMEWORKS[key], "chosen with --framework")
