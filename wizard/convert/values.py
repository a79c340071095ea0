"""Value conversion from SQLite storage classes to PostgreSQL types, shared by profiling, copy and verification.

Each column of a plan has a `conversion` kind. `converter(kind, ...)` returns a function turning an SQLite value
into the Python value PostgreSQL will hold (or raising BadValue with a reason). The copy formats those values as
COPY text; verification canonicalises them and compares against what PostgreSQL returns.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

Converter = Callable[[Any], Any]

if TYPE_CHECKING:
    from wizard.plan_model import ColumnPlan

CONVERSIONS = ("int", "float", "numeric", "bool", "timestamp", "timestamptz", "date", "time", "json", "bytea",
               "text")

_TS = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*$")
_TRUE = frozenset({"1", "t", "true", "y", "yes", "on"})
_FALSE = frozenset({"0", "f", "false", "n", "no", "off"})
_EPOCH = datetime(1970, 1, 1)
_JULIAN_EPOCH = 2440587.5  # julian day number of 1970-01-01T00:00Z
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INTEGER_MAX = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": INT64_MAX}  # PostgreSQL's integer types


_FAST_ISO = sys.version_info >= (3, 11)  # fromisoformat reads 'T' or ' ', fractions, Z and offsets since 3.11


class BadValue(ValueError):
    """A value that cannot become the column's PostgreSQL type; the message says why."""


@functools.lru_cache(maxsize=1024)  # profiling asks about one value several times (timestamp, timestamptz, offset)
def parse_timestamp(text: str) -> tuple[datetime, bool]:
    """Parse the ISO-8601 forms SQLite apps store; returns (value, has_offset). Raises BadValue."""
    m = _TS.match(text)
    if not m:
        raise BadValue(f"'{_short(text)}' is not an ISO-8601 date/time")
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    if _FAST_ISO and len(mo) == 2 and len(d) == 2 and (hh is None or len(hh) == 2) and tz != "z" \
            and (frac is None or len(frac) <= 6) and "," not in text:
        try:  # the common, well-formed case in C; anything unusual takes the general path below
            fast = datetime.fromisoformat(text.strip())
            return fast, fast.tzinfo is not None
        except ValueError:
            pass
    micro = int((frac or "0").ljust(6, "0")[:6])
    if frac and len(frac) > 6 and int(frac[6]) >= 5:
        micro += 1  # PostgreSQL rounds to microseconds; do the same so both sides agree
    try:
        value = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
        value += timedelta(microseconds=micro)
    except ValueError as exc:
        raise BadValue(f"'{_short(text)}' is not a valid date/time ({exc})") from None
    if tz:
        if tz in ("Z", "z"):
            off = timedelta(0)
        else:
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            off = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        return value.replace(tzinfo=timezone(off)), True
    return value, False


def epoch_to_datetime(v: float, unit: str) -> datetime:
    seconds = v / 1000.0 if unit == "ms" else float(v)
    if isinstance(v, int) and unit == "ms":
        return _EPOCH + timedelta(milliseconds=v)
    if isinstance(v, int):
        return _EPOCH + timedelta(seconds=v)
    return _EPOCH + timedelta(microseconds=round(seconds * 1_000_000))


def julian_to_datetime(v: float) -> datetime:
    return _EPOCH + timedelta(microseconds=round((v - _JULIAN_EPOCH) * 86400 * 1_000_000))


def guess_epoch_unit(max_abs: float) -> str:
    """Seconds until 5138 AD fit below 1e11; anything above is taken as milliseconds."""
    return "ms" if max_abs >= 1e11 else "s"


def is_julian_day(v: float) -> bool:
    return 1_000_000 <= v <= 5_373_484  # 0-2 BC .. 9999 AD


def _short(v: object, limit: int = 40) -> str:
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _fix_text(text: str, text_fix: str | None) -> str:
    if text_fix == "replace":
        # text read with surrogateescape (invalid UTF-8 bytes kept as lone surrogates) is decoded the plan's way
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if "\x00" in text:
        if text_fix in ("strip_nul", "replace"):
            text = text.replace("\x00", "")
        else:
            raise BadValue("contains a NUL byte, which PostgreSQL text cannot hold")
    return text


def decode_bytes(data: bytes, text_fix: str | None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if text_fix == "replace":
            return data.decode("utf-8", "replace")
        raise BadValue("is not valid UTF-8") from None


def converter(kind: str, *, text_fix: str | None = None, epoch_unit: str = "s", empty_to_null: bool = False,
              max_length: int | None = None, precision: int | None = None, scale: int | None = None) -> Converter:
    """The function turning one SQLite value into the PostgreSQL value of `kind` (None stays None)."""

    def as_text(v: Any) -> str:
        if isinstance(v, str):
            return _fix_text(v, text_fix)
        if isinstance(v, bytes):
            return _fix_text(decode_bytes(v, text_fix), text_fix)
        if isinstance(v, float):
            return float_text(v)
        return str(v)

    if kind == "text":
        def conv_text(v: Any) -> Any:
            if v is None:
                return None
            s = as_text(v)
            if max_length is not None and len(s) > max_length:
                raise BadValue(f"is {len(s)} characters, longer than varchar({max_length})")
            return s
        return conv_text

    if kind == "int":
        def conv_int(v: Any) -> Any:
            if v is None:
                return None
            if type(v) is int:
                return v
            if isinstance(v, float):
                if v.is_integer() and INT64_MIN <= v <= INT64_MAX:
                    return int(v)
                raise BadValue(f"{_short(v)} is not a whole number")
            s = as_text(v).strip()
            if s == "" and empty_to_null:
                return None
            try:
                n = int(s)
            except ValueError:
                raise BadValue(f"'{_short(s)}' is not a whole number") from None
            if not INT64_MIN <= n <= INT64_MAX:
                raise BadValue(f"{_short(s)} is outside bigint's range")
            return n
        return conv_int

    if kind == "float":
        def conv_float(v: Any) -> Any:
            if v is None:
                return None
            if isinstance(v, (int, float)):
                return float(v)
            s = as_text(v).strip()
            if s == "" and empty_to_null:
                return None
            try:
                return float(s)
            except ValueError:
                raise BadValue(f"'{_short(s)}' is not a number") from None
        return conv_float

    if kind == "numeric":
        limit = Decimal(10) ** (precision - (scale or 0)) if precision else None

        def conv_numeric(v: Any) -> Any:
            if v is None:
                return None
            if isinstance(v, float):
                if math.isnan(v) or math.isinf(v):
                    d = Decimal(str(v).replace("inf", "Infinity"))
                else:
                    d = Decimal(float_text(v))
            elif isinstance(v, int):
                d = Decimal(v)
            else:
                s = as_text(v).strip()
                if s == "" and empty_to_null:
                    return None
                try:
                    d = Decimal(s)
                except InvalidOperation:
                    raise BadValue(f"'{_short(s)}' is not a number") from None
            if precision is not None and d.is_infinite():  # PostgreSQL's numeric(p,s) holds NaN but no infinity
                raise BadValue(f"{d} does not fit numeric({precision},{scale or 0})")
            if limit is not None and d.is_finite():
                if precision is not None and d.adjusted() >= precision - (scale or 0):  # too large to quantize
                    raise BadValue(f"{d} does not fit numeric({precision},{scale or 0})")
                q = d.quantize(Decimal(1).scaleb(-(scale or 0))) if scale is not None else d
                if abs(q) >= limit:
                    raise BadValue(f"{d} does not fit numeric({precision},{scale or 0})")
                return q
            return d
        return conv_numeric

    if kind == "bool":
        def conv_bool(v: Any) -> Any:
            if v is None:
                return None
            if type(v) is int or isinstance(v, float):
                if v in (0, 1):
                    return bool(v)
                raise BadValue(f"{_short(v)} is not 0 or 1")
            s = as_text(v).strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            if s == "" and empty_to_null:
                return None
            raise BadValue(f"'{_short(s)}' is not a boolean")
        return conv_bool

    if kind in ("timestamp", "timestamptz", "date"):
        def conv_ts(v: Any) -> Any:
            if v is None:
                return None
            if type(v) is int or isinstance(v, float):
                if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
                    raise BadValue(f"{v} is not a date/time")
                try:
                    if isinstance(v, float) and is_julian_day(v):
                        dt = julian_to_datetime(v)
                    else:
                        dt = epoch_to_datetime(v, epoch_unit)
                except (OverflowError, ValueError):
                    raise BadValue(f"{v} is out of range as a Unix time ({epoch_unit})") from None
                aware = False
            else:
                s = as_text(v)
                if s.strip() == "" and empty_to_null:
                    return None
                dt, aware = parse_timestamp(s)
            if kind == "timestamptz":
                return dt if aware else dt.replace(tzinfo=timezone.utc)
            if kind == "date":
                if aware or dt.time() != time(0):
                    raise BadValue(f"'{_short(v)}' has a time of day; a date column would drop it")
                return dt.date()
            if aware:
                raise BadValue(f"'{_short(v)}' carries a UTC offset; timestamp (without time zone) would drop it")
            return dt
        return conv_ts

    if kind == "time":
        def conv_time(v: Any) -> Any:
            if v is None:
                return None
            m = _TIME.match(as_text(v))
            if not m:
                raise BadValue(f"'{_short(v)}' is not a time of day")
            hh, mi, ss, frac = m.groups()
            try:
                return time(int(hh), int(mi), int(ss or 0), int((frac or "0").ljust(6, "0")[:6]))
            except ValueError as exc:
                raise BadValue(f"'{_short(v)}' is not a valid time ({exc})") from None
        return conv_time

    if kind == "json":
        def conv_json(v: Any) -> Any:
            if v is None:
                return None
            s = as_text(v)
            if s.strip() == "" and empty_to_null:
                return None
            try:
                parsed = _JSON_DECODER.decode(s)
            except ValueError as exc:
                raise BadValue(f"is not valid JSON ({exc})") from None
            if "\\u0000" in s:
                raise BadValue("JSON holds \\u0000, which jsonb cannot store")
            return JsonValue(s, parsed)
        return conv_json

    if kind == "bytea":
        def conv_bytea(v: Any) -> Any:
            if v is None:
                return None
            if isinstance(v, bytes):
                return v
            if isinstance(v, str):
                return v.encode("utf-8", "surrogateescape")  # invalid UTF-8 read as text: its exact bytes
            return as_text(v).encode("utf-8")
        return conv_bytea

    if kind == "uuid":
        def conv_uuid(v: Any) -> Any:
            if v is None:
                return None
            if isinstance(v, bytes) and len(v) == 16:
                return str(uuid.UUID(bytes=v))  # a UUID stored as its 16 bytes
            if isinstance(v, str) and _UUID_TEXT.match(v):
                return str(uuid.UUID(v))  # 32 hex digits (Django on SQLite) or the dashed form: the same UUID
            raise BadValue("is not a UUID (32 hex digits, dashed or not, or 16 bytes)")
        return conv_uuid

    if kind == "interval":
        def conv_interval(v: Any) -> Any:
            if v is None:
                return None
            try:
                if type(v) is int:
                    return timedelta(microseconds=v)  # Django's DurationField: microseconds
                if isinstance(v, str) and _WHOLE.match(v):
                    return timedelta(microseconds=int(v))
                if isinstance(v, str):
                    dt, aware = parse_timestamp(v)  # SQLAlchemy's Interval: the epoch plus the duration
                    if not aware:
                        return dt - _EPOCH
            except (OverflowError, BadValue):
                pass
            raise BadValue("is not a duration (microseconds, or the epoch plus a duration)")
        return conv_interval

    if kind == "inet":
        def conv_inet(v: Any) -> Any:
            if v is None:
                return None
            try:
                return inet_text(as_text(v).strip())  # the same address (a network's /len stays)
            except ValueError:
                raise BadValue("is not an IP address") from None
        return conv_inet

    raise ValueError(f"unknown conversion {kind!r}")


_WHOLE = re.compile(r"^\s*-?\d+\s*\Z")
_UUID_TEXT = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                        r"[0-9a-fA-F]{12})\Z")


def inet_text(v: str) -> str:
    """An address as one text, whoever wrote it (the copy's value and verify's reading of both sides): PostgreSQL
    prints a host address without /32 or /128, and an IPv4-mapped IPv6 address with its IPv4 part dotted."""
    iface = ipaddress.ip_interface(v)
    return str(iface.ip) if iface.network.prefixlen == iface.max_prefixlen else str(iface)


class JsonValue:
    """JSON text kept as written (for COPY) together with its parsed form (for comparison)."""

    __slots__ = ("parsed", "text")

    def __init__(self, text: str, parsed: Any) -> None:
        self.text = text
        self.parsed = parsed


def column_converter(col: ColumnPlan) -> Converter:
    """converter() for a planned column: its kind, text fix, epoch unit, length and numeric precision."""
    return converter(col.conversion, text_fix=col.text_fix, epoch_unit=col.epoch_unit,
                     empty_to_null=col.empty_to_null, max_length=col.length, precision=col.precision, scale=col.scale)


def reject_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# made once: json.loads with an option builds a new decoder on every call
_JSON_DECODER = json.JSONDecoder(parse_constant=reject_json_constant)


def float_text(v: float) -> str:
    """A double as PostgreSQL writes it (shortest round-trip form; NaN and Infinity spelled its way)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(v)
