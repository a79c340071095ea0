"""The rows behind differing checksums: missing, extra, or changed (with the columns and both values),
in the order of their keys, values cut for the report.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import Any

from wizard.convert.values import float_text
from wizard.plan_model import TablePlan
from wizard.verify.results import ColumnDiff, Difference
from wizard.verify.scan import SideResult, key_indexes

_SHOW = 80  # characters of a value shown in a report


def _natural(key: tuple[Any, ...]) -> tuple[tuple[int, int, str], ...]:
    """Order keys as a person reads them: 9 before 10."""
    out = []
    for v in key:
        s = "" if v is None else str(v)
        digits = s.lstrip("-")
        out.append((0, int(s), "") if digits.isdigit() and len(digits) < 30 else (1, 0, s))
    return tuple(out)


def _show(v: Any) -> str | None:
    """A canonical value as a report shows it: t/f, bytes in hex, times in ISO 8601, numbers in plain digits."""
    if v is None:
        return None
    if isinstance(v, bool):
        text = "t" if v else "f"
    elif isinstance(v, (bytes, bytearray)):
        text = bytes(v).hex()
    elif isinstance(v, (dt.datetime, dt.date, dt.time)):
        text = v.isoformat()
    elif isinstance(v, Decimal):
        text = format(v, "f") if v.is_finite() else str(v)
    elif isinstance(v, float):
        text = float_text(v)
    else:
        text = str(v)
    return text if len(text) <= _SHOW else text[:_SHOW] + f"… ({len(text)} chars)"


def differing_rows(t: TablePlan, src: SideResult, dst: SideResult) -> list[Difference]:
    names = [c.target for c in t.columns]
    keys = key_indexes(t)
    key_names = [names[i] for i in keys] if keys else names
    out: list[Difference] = []
    if keys:
        s_rows = dict(src.kept)
        d_rows = dict(dst.kept)
        for k in sorted(s_rows.keys() | d_rows.keys(), key=_natural):
            a, b = s_rows.get(k), d_rows.get(k)
            key = {n: _show(v) for n, v in zip(key_names, k, strict=True)}
            if b is None:
                out.append(Difference("missing", key))
            elif a is None:
                out.append(Difference("extra", key))
            elif a != b:
                out.append(Difference("changed", key, [ColumnDiff(n, _show(x), _show(y))
                                                       for n, x, y in zip(names, a, b, strict=True) if x != y]))
    else:
        s_count = Counter(row for _, row in src.kept)
        d_count = Counter(row for _, row in dst.kept)
        for row in sorted(s_count.keys() | d_count.keys(), key=_natural):
            n = s_count[row] - d_count[row]
            if n:
                out.append(Difference("missing" if n > 0 else "extra",
                                      {c: _show(v) for c, v in zip(names, row, strict=True)}, count=abs(n)))
    return out
