"""The copy's fast paths send some values as written; PostgreSQL must read each as exactly the value the converter
(the slow path, which verify compares against) produces."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wizard.convert.text_copy import column_encoder, encode_columns, field_encoder, format_value
from wizard.convert.values import BadValue, converter
from wizard.plan_model import ColumnPlan


def _col(conversion: str, pg_type: str, **kw) -> ColumnPlan:  # type: ignore[no-untyped-def]
    return ColumnPlan(source="c", target="c", declared_type="", pg_type=pg_type, conversion=conversion, **kw)


COLUMNS = [
    _col("timestamp", "timestamp"), _col("timestamptz", "timestamptz"), _col("numeric", "numeric"),
    _col("numeric", "numeric(12,2)", precision=12, scale=2), _col("bool", "boolean"),
    _col("float", "double precision"), _col("json", "jsonb"), _col("text", "text"), _col("int", "bigint"),
]

stamps = st.builds(
    lambda dt, sep, frac, tz: dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + frac + tz,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31) - timedelta(days=1)),
    st.sampled_from(["T", " "]), st.sampled_from(["", ".5", ".123456", ".1234567", ".500", ".000", ".010"]),
    st.sampled_from(["", "Z", "+02:00", "-0530", "+14"]))
values = st.one_of(
    stamps, st.sampled_from(["2024-02-29", "2024-01-01 24:00:00", "0000-01-01 00:00:00", "1999-12-31 23:59",
                             "2024-02-30 10:00", "0999-01-01T00:00", "2024-13-01", "10:00:00.50", "23:59"]),
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.sampled_from(["12.5", "-0.005", "99999999999.99", "1e3", "007", "-00.50", "-0.0", "0012.5000", "100.",
                     "0.000"]),
    st.sampled_from(['{"b": 1, "a": [1.0, 1e2]}', "[]", "0", "1", "true", "tab\there", "x\\y", "NaN",
                     '{"a": Infinity}', " [1] "]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
def test_fast_path_equals_the_converter(value, pg_conn: psycopg2.extensions.connection) -> None:  # type: ignore[no-untyped-def]
    for col in COLUMNS:
        conv = converter(col.conversion, precision=col.precision, scale=col.scale)
        try:
            slow = format_value(conv(value))
        except BadValue:
            continue  # the converter refuses it: the fast path must not matter (the value fails either way)
        fast = column_encoder(col)(value)
        if fast == slow:
            continue
        with pg_conn.cursor() as cur:
            cast = "jsonb" if col.pg_type == "jsonb" else col.pg_type
            cur.execute(f"SELECT %s::{cast} = %s::{cast}", (_unescape(fast), _unescape(slow)))
            assert cur.fetchone() == (True,), (col.pg_type, value, fast, slow)
        pg_conn.rollback()


def _unescape(field: str) -> str:
    """A COPY text field back to the literal (only the escapes format_value writes)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 1 < len(field):
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(field[i + 1], field[i + 1]))
            i += 2
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _chunk(values: st.SearchStrategy) -> st.SearchStrategy:  # type: ignore[type-arg]
    return st.lists(st.one_of(st.none(), values), min_size=1, max_size=40)


chunks = st.one_of(
    _chunk(stamps), _chunk(st.integers(-(2**63), 2**63 - 1)), _chunk(st.floats(allow_nan=True, allow_infinity=True)),
    _chunk(st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str)), _chunk(st.sampled_from([0, 1])),
    _chunk(st.binary(max_size=6)), _chunk(st.text(max_size=6)), _chunk(st.sampled_from(['{"a": 1}', " ", "[]"])),
    _chunk(values), st.lists(st.one_of(st.none(), values, st.binary(max_size=4), st.text(max_size=4)), max_size=40),
)
CHUNK_COLUMNS = [*COLUMNS, _col("bytea", "bytea"), _col("numeric", "numeric(5,0)", precision=5, scale=0),
                 _col("numeric", "numeric(4,3)", precision=4, scale=3), _col("text", "varchar(3)", length=3)]


@settings(max_examples=400, deadline=None)
@given(chunk=chunks)
def test_column_chunks_encode_exactly_like_single_values(chunk) -> None:  # type: ignore[no-untyped-def]
    """The copy encodes a chunk column by column, in bulk where it can: every field must be what the one-value
    encoder gives, and every value it refuses must be refused in the chunk too."""
    for col in CHUNK_COLUMNS:
        enc = field_encoder(col)
        lines, bad = encode_columns([enc], [chunk])
        assert len(lines) == len(chunk)
        for i, v in enumerate(chunk):
            try:
                expected = enc.one(v)
            except BadValue:
                assert i in bad and lines[i] == "", (col.pg_type, v)
                continue
            assert i not in bad and lines[i] == expected, (col.pg_type, v, lines[i], expected)


@settings(max_examples=400, deadline=None)
@given(value=st.one_of(values, st.none(), st.binary(max_size=4), st.just("x\x00y"), st.booleans()))
def test_verify_fast_paths_equal_the_slow_canonical_form(value) -> None:  # type: ignore[no-untyped-def]
    """verify's source side takes the copy's fast paths too; each must give the canonical form of the converted
    value, as the slow path does (a difference would be a false alarm or, worse, a missed one)."""
    from wizard.verify import canonical

    for col in CHUNK_COLUMNS:
        conv = converter(col.conversion, max_length=col.length, precision=col.precision, scale=col.scale)
        slow = canonical._guarded(conv, canonical.value_canon(col) or canonical._same, value)
        fast = canonical.source_canon(col)(value)
        assert canonical.row_hash((fast,)) == canonical.row_hash((slow,)), (col.pg_type, value, fast, slow)
        column = canonical.source_column_canon(col)((value, None, value))  # a chunk: the column-wide check
        assert canonical.row_hash(tuple(column)) == canonical.row_hash((slow, None, slow)), (col.pg_type, value)


TIME_COLUMNS = [*COLUMNS[:4], _col("numeric", "numeric(5,0)", precision=5, scale=0), _col("date", "date"),
                _col("time", "time")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.lists(st.one_of(st.none(), values), min_size=1, max_size=12))
def test_target_text_and_source_agree(chunk, pg_conn: psycopg2.extensions.connection) -> None:  # type: ignore[no-untyped-def]
    """verify reads times and numbers as PostgreSQL's text; the source side's canonical form of what the copy
    sends must be exactly that text, made canonical the same way."""
    from wizard.verify import canonical
    from wizard.verify.scan import _AS_TEXT

    psycopg2.extensions.register_type(_AS_TEXT, pg_conn)
    for col in TIME_COLUMNS:
        enc, conv = column_encoder(col), converter(col.conversion, precision=col.precision, scale=col.scale)
        loadable = []
        for v in chunk:
            try:
                conv(v)
                loadable.append(v)
            except BadValue:
                pass
        if not loadable:
            continue
        got, sent = [], []
        with pg_conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'")
            for v in loadable:
                field = enc(v)
                cur.execute("SAVEPOINT one")
                try:
                    cur.execute(f"SELECT %s::{col.pg_type}", (None if field == "\\N" else _unescape(field),))
                except psycopg2.DataError:  # refused by PostgreSQL: the copy rejects the row, verify sees it missing
                    cur.execute("ROLLBACK TO SAVEPOINT one")
                    continue
                got.append(cur.fetchone()[0])
                sent.append(v)
        pg_conn.rollback()
        loadable = sent
        target = canonical.target_column_canon(col)
        assert list(target(got) if target else got) == list(canonical.source_column_canon(col)(loadable)), \
            (col.pg_type, loadable, got)


def test_bulk_floats_and_mixed_width_lines() -> None:
    """Finite floats whose sum overflows still encode (per value); NaN/Infinity take PostgreSQL's spelling; a chunk
    of lines with one emoji is the same UTF-8 as the plain encoding of the joined lines."""
    from wizard.data_copy.batches import _utf8_lines

    enc = field_encoder(_col("float", "double precision"))
    big = [1.7976931348623157e308, 1.7976931348623157e308, -0.0]
    assert encode_columns([enc], [big])[0] == ["1.7976931348623157e+308", "1.7976931348623157e+308", "-0.0"]
    assert encode_columns([enc], [[1.5, float("nan"), float("-inf")]])[0] == ["1.5", "NaN", "-Infinity"]
    for lines in (["a\tb", "c"], ["plain", "emoji \U0001F600\té", "x"]):
        assert _utf8_lines(lines) == ("\n".join(lines) + "\n").encode("utf-8")
