"""The PostgreSQL conventions of the framework that made the database: the types, key columns and names the
framework itself creates there, so the unchanged app finds what it expects. Each choice is a finding naming the
convention; `--type` overrides any of them (the override is applied before this module is asked).

What the SQLite schema cannot tell (a DurationField is bigint like a BigIntegerField; Django writes a DecimalField
as plain decimal) stays generic and is told with --type.
"""

from __future__ import annotations

import re

from wizard.convert.values import INTEGER_MAX
from wizard.plan.context import PlanContext
from wizard.plan.type_mapping import Mapping
from wizard.plan_model import ColumnPlan
from wizard.source.profile import ColumnProfile
from wizard.source.schema import SqliteColumn, SqliteTable

_DJANGO_IP = re.compile(r"^char\s*\(\s*39\s*\)$", re.IGNORECASE)
_UUID32 = re.compile(r"^char\s*\(\s*32\s*\)$", re.IGNORECASE)
# The models of Django's own apps keep AutoField (integer) keys whatever the project's DEFAULT_AUTO_FIELD (their
# many-to-many tables, like the project's own, follow the setting)
_DJANGO_CONTRIB = {"auth_permission", "auth_group", "auth_user", "django_content_type", "django_admin_log",
                   "django_site", "django_flatpage", "django_redirect"}

# Django writes a DateTimeField as datetime on SQLite and, with USE_TZ = True (its default, and in every project
# template since 1.4), stores UTC without an offset there; on PostgreSQL the field is timestamp with time zone and
# comes back aware. The values are read as UTC.
_DJANGO_DATETIME = ("'{column}' is a Django DateTimeField (datetime, UTC without an offset when USE_TZ = True).",
                    "It becomes timestamptz, as Django creates the field on PostgreSQL, each value read as UTC; a "
                    "project with USE_TZ = False keeps timestamp (--type {table}.{column}=timestamp).")


def uses_uuid(ctx: PlanContext, c: SqliteColumn) -> bool:
    """Django (UUIDField) and SQLAlchemy (Uuid) write a UUID as char(32) on SQLite (32 hex digits) and as uuid on
    PostgreSQL, where their queries compare with a uuid: a char(32) column of such a database is planned as uuid
    (text if a value is not one)."""
    return ctx.framework in ("django", "sqlalchemy") and bool(_UUID32.match(c.declared_type.strip()))


def _integer_name(declared: str) -> str | None:
    """integer, smallint or bigint when that is the declared type (Django adds "unsigned" to its positive
    fields), else None."""
    name = " ".join(declared.lower().replace("unsigned", "").split())
    return name if name in INTEGER_MAX else None


def column_mapping(ctx: PlanContext, t: SqliteTable, c: SqliteColumn, p: ColumnProfile) -> Mapping | None:
    """The framework's own type for a column, or None to map it the generic way."""
    if not ctx.framework:
        return None
    if c.name == t.rowid_alias:
        return _key_mapping(ctx, t, c, p)
    if uses_uuid(ctx, c):
        return Mapping("uuid", "uuid")
    if ctx.framework == "django" and _DJANGO_IP.match(c.declared_type.strip()):
        return Mapping("inet", "inet")  # GenericIPAddressField: Django binds inet on PostgreSQL
    if ctx.framework == "django" and c.declared_type.strip().lower() == "datetime":
        return Mapping("timestamptz", "timestamptz")  # see _DJANGO_DATETIME
    if ctx.framework == "sqlalchemy" and c.declared_type.strip().upper() == "JSON":
        return Mapping("json", "json")  # SQLAlchemy's JSON is json on PostgreSQL (JSONB is a type of its own)
    if ctx.framework in ("django", "sqlalchemy"):
        name = _integer_name(c.declared_type)
        if name and p.max_abs_integer <= INTEGER_MAX[name]:
            return Mapping(name, "int")  # IntegerField / Integer are integer there, as declared here
    return None


def _key_mapping(ctx: PlanContext, t: SqliteTable, c: SqliteColumn, p: ColumnProfile) -> Mapping | None:
    width = _key_width(ctx, t, c)[0]
    if width == "integer" and p.max_abs_integer > INTEGER_MAX["integer"]:
        width = "bigint"
    return Mapping(width, "int") if width else None


def _key_width(ctx: PlanContext, t: SqliteTable, c: SqliteColumn) -> tuple[str | None, str]:
    """The integer primary key's width, and why. Django writes AutoField and BigAutoField alike as integer on
    SQLite, but a key pointing at it is declared like the field (integer or bigint); a key nothing points at is
    an AutoField in Django's own apps and a BigAutoField otherwise (the DEFAULT_AUTO_FIELD of every project
    template since Django 3.2). SQLAlchemy's Integer key is a SERIAL (integer) on PostgreSQL."""
    if ctx.framework == "sqlalchemy":
        return ("integer" if _integer_name(c.declared_type) == "integer" else None), "declared"
    if ctx.framework != "django":
        return None, ""
    pointing = _pointing(ctx).get((t.name.lower(), c.name.lower()), set())
    if "bigint" in pointing:
        return "bigint", "pointed"
    if "integer" in pointing:
        return "integer", "pointed"
    if t.name in _DJANGO_CONTRIB:
        return "integer", "contrib"
    return _django_default(ctx), "default"


def _django_default(ctx: PlanContext) -> str:
    """The project's DEFAULT_AUTO_FIELD as its own tables show it: the width of the keys pointing at its
    models' keys (integer for AutoField, bigint for BigAutoField), bigint when nothing tells."""
    if "django_default" not in ctx.memo:
        keys = {(t.name.lower(), t.rowid_alias.lower()) for t in ctx.schema.tables
                if t.rowid_alias and t.name not in _DJANGO_CONTRIB}
        widths = set().union(*(w for key, w in _pointing(ctx).items() if key in keys))
        ctx.memo["django_default"] = "integer" if widths == {"integer"} else "bigint"
    return str(ctx.memo["django_default"])


def _pointing(ctx: PlanContext) -> dict[tuple[str, str], set[str | None]]:
    """(table, column) in lower case -> the integer widths of the single-column foreign keys pointing at it
    (None for a key of another type); worked out once per schema."""
    if "pointing" not in ctx.memo:
        out: dict[tuple[str, str], set[str | None]] = {}
        for t in ctx.schema.tables:
            declared = {c.name.lower(): c.declared_type for c in t.columns}
            for fk in t.foreign_keys:  # (its referenced columns resolved on read when SQLite left them out)
                if len(fk.from_columns) != 1 or len(fk.to_columns) != 1 or fk.from_columns[0].lower() not in declared:
                    continue
                out.setdefault((fk.ref_table.lower(), fk.to_columns[0].lower()), set()).add(
                    _integer_name(declared[fk.from_columns[0].lower()]))
        ctx.memo["pointing"] = out
    return ctx.memo["pointing"]  # type: ignore[return-value]


def key_style(ctx: PlanContext) -> str:
    """How the framework makes an integer key generate its values: Django (4.1 and later) with an identity
    column, SQLAlchemy with a serial; the generic plan uses an identity column."""
    return "serial" if ctx.framework == "sqlalchemy" else "identity"


def column_findings(ctx: PlanContext, t: SqliteTable, c: SqliteColumn, col: ColumnPlan) -> None:
    """A finding for each column whose type follows the framework's convention."""
    if col.override or not ctx.framework:
        return
    if col.conversion == "timestamptz" and ctx.framework == "django" \
            and c.declared_type.strip().lower() == "datetime":
        ctx.find("framework_type", "info", t.name, c.name, _DJANGO_DATETIME[0].format(column=c.name),
                 _DJANGO_DATETIME[1].format(table=t.name, column=c.name))
    if col.conversion == "inet" and ctx.framework == "django":
        ctx.find("framework_type", "info", t.name, c.name,
                 f"'{c.name}' is a Django GenericIPAddressField (char(39)).",
                 "It becomes inet, as Django creates the field on PostgreSQL; each value is the same address.")
    if col.conversion == "uuid" and uses_uuid(ctx, c):
        field_name = "UUIDField" if ctx.framework == "django" else "Uuid"
        name = "Django" if ctx.framework == "django" else "SQLAlchemy"
        ctx.find("framework_type", "info", t.name, c.name,
                 f"'{c.name}' holds {name} {field_name} values (char(32), 32 hex digits).",
                 f"It becomes uuid, as {name} creates the column on PostgreSQL; each value is the same UUID.")
    if col.identity and col.pg_type == "integer":
        how = "a SERIAL" if col.identity_kind == "serial" else "an integer identity column"
        ctx.find("framework_type", "info", t.name, c.name,
                 f"'{c.name}' is the table's integer key, {how} where {_NAMES[ctx.framework]} creates it on "
                 "PostgreSQL.", f"For a key that must grow past 2,147,483,647: --type {t.name}.{c.name}=bigint.")
    if col.identity and col.pg_type == "bigint" and _key_width(ctx, t, c)[1] == "default":
        ctx.find("framework_type", "info", t.name, c.name,
                 f"'{c.name}' is taken for a BigAutoField, the project's default key as far as its tables tell "
                 "(on SQLite an AutoField is integer too).",
                 f"For an AutoField: --type {t.name}.{c.name}=integer.")


_NAMES = {"django": "Django", "sqlalchemy": "SQLAlchemy"}
