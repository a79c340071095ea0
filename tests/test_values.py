"""The fast ISO-8601 path (datetime.fromisoformat) and the general parser agree on every form apps store."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wizard.convert import values

FORMS = ["2024-01-02 03:04:05", "2024-01-02T03:04:05.123456", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05+02:00",
         "2024-06-01T00:00:00-05:30", "1999-12-31", "2024-02-29 23:59:59.9999995", " 2024-01-01 10:00 ",
         "2024-01-01T10:00:00+02", "2024-01-01T10:00:00+0530", "2024-01-01T10:00:00.5", "2024-1-5 10:00",
         "2024-01-01 10:00:00 +02:00", "2024-01-01T10:00:00z", "2024-01-01 10:00:00,5", "2024-02-30",
         "2024-01-01T24:00:00", "0000-01-01", "2024-01-01T10:00:00.1234567Z", "20240101T100000", "2024-01-01T10"]


def _both(text: str) -> tuple[object, object]:
    out = []
    for fast in (True, False):
        values._FAST_ISO = fast
        values.parse_timestamp.cache_clear()
        try:
            dt, aware = values.parse_timestamp(text)
            out.append((dt, aware, dt.utcoffset()))
        except values.BadValue:
            out.append("bad")
    values._FAST_ISO = True
    values.parse_timestamp.cache_clear()
    return out[0], out[1]


@pytest.mark.parametrize("text", FORMS)
def test_fast_and_general_paths_agree(text: str) -> None:
    fast, general = _both(text)
    assert fast == general


@settings(max_examples=300, deadline=None)
@given(st.datetimes(), st.sampled_from(["T", " "]), st.sampled_from(["", "Z", "+02:00", "-0530", "+01"]),
       st.integers(0, 7))
def test_generated_timestamps_agree(dt, sep, tz, digits) -> None:  # type: ignore[no-untyped-def]
    text = dt.isoformat(sep=sep, timespec="seconds")
    if digits:
        text += "." + f"{dt.microsecond:06d}{dt.microsecond % 10}"[:digits]
    fast, general = _both(text + tz)
    assert fast == general


json_texts = st.one_of(
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                 | st.text(max_size=5), lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6).map(__import__("json").dumps),
    st.sampled_from(["NaN", "[Infinity]", "-Infinity", "\ufeff{}", "\ufeff", " 1 ", "[1,", "", "{'a': 1}", "01"]),
    st.text(max_size=6))


@settings(max_examples=300, deadline=None)
@given(text=json_texts)
def test_json_conversion_accepts_what_json_loads_accepts(text: str) -> None:
    """One decoder made once takes what json.loads (with NaN and Infinity refused) takes; a BOM is no JSON."""
    import json

    def refuse(name: str) -> None:
        raise ValueError(name)

    try:
        expected = ("ok", json.loads(text, parse_constant=refuse))
    except ValueError:
        expected = ("bad", None)
    conv = values.converter("json")
    try:
        got = conv(text)
        result = ("bad", None) if got is None else ("ok", got.parsed)  # "\\u0000" is refused on its own
    except values.BadValue:
        result = ("bad", None)
    if "\\u0000" not in text:
        assert result == expected
