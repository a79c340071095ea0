"""Binary COPY: a table whose columns all have a binary form loads the very values the text format would load."""

from __future__ import annotations

import io

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_copy_fast_paths import _chunk, _col, chunks
from tests.test_data_copy import EDGE_ROWS
from wizard.convert.binary_copy import (
    HEADER,
    TRAILER,
    binary_field,
    binary_rows,
    binary_table,
    encode_binary,
    encode_rows,
)
from wizard.convert.text_copy import column_encoder
from wizard.convert.values import BadValue, converter
from wizard.data_copy.model import CopyOptions
from wizard.data_copy.run import migrate
from wizard.plan.planner import build_plan
from wizard.plan_model import TablePlan
from wizard.target.connection import ConnectionSpec
from wizard.verify.report import render_text
from wizard.verify.run import verify

BINARY_COLUMNS = [
    _col("timestamp", "timestamp"), _col("timestamptz", "timestamptz"), _col("bool", "boolean"),
    _col("float", "double precision"), _col("json", "jsonb"), _col("json", "json"), _col("text", "text"),
    _col("int", "bigint"), _col("int", "integer"), _col("int", "smallint"), _col("bytea", "bytea"),
]
_RANGE = {"integer": 2**31, "smallint": 2**15}

binary_chunks = st.one_of(chunks, _chunk(st.integers(-(2**16), 2**16)),
                          _chunk(st.text(alphabet=st.sampled_from("a\t\n\r\\é😀 N"), max_size=5)))


def _loads(col, v) -> bool:  # type: ignore[no-untyped-def]
    """Whether value v converts for col (a smaller integer type must also hold it; the text format leaves that
    check to PostgreSQL, which then fails the batch: such values fail either way)."""
    try:
        out = converter(col.conversion)(v)
    except BadValue:
        return False
    limit = _RANGE.get(col.pg_type)
    return not (limit and isinstance(out, int) and not -limit <= out < limit)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=binary_chunks)
def test_binary_fields_load_what_text_fields_load(chunk, pg_conn: psycopg2.extensions.connection) -> None:  # type: ignore[no-untyped-def]
    for col in BINARY_COLUMNS:
        good = [v for v in chunk if _loads(col, v)]
        if not good:
            continue
        field = binary_field(col)
        data, bad = encode_binary([field], [good])
        assert not bad, (col.pg_type, good)
        # the chunk's bulk path writes the bytes the value-by-value path writes
        assert data == b"".join(b"\x00\x01" + b"".join(field.one(v)) for v in good), (col.pg_type, good)
        text = "".join(column_encoder(col)(v) + "\n" for v in good)
        with pg_conn.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE tb (c {col.pg_type}); CREATE TEMP TABLE tt (c {col.pg_type})")
            cur.copy_expert("COPY tb FROM STDIN WITH (FORMAT binary)", io.BytesIO(HEADER + data + TRAILER))
            cur.copy_expert("COPY tt FROM STDIN", io.BytesIO(text.encode("utf-8")))
            cur.execute("SELECT (SELECT array_agg(c::text ORDER BY ctid) FROM tb), "
                        "(SELECT array_agg(c::text ORDER BY ctid) FROM tt)")
            from_binary, from_text = cur.fetchone()
        pg_conn.rollback()
        assert from_binary == from_text, (col.pg_type, good)


ROW_COLUMNS = [
    _col("int", "bigint", nullable=False), _col("text", "text"), _col("timestamp", "timestamp", nullable=False),
    _col("float", "double precision", nullable=False), _col("bool", "boolean", nullable=False),
    _col("int", "smallint", nullable=False), _col("bytea", "bytea"), _col("timestamptz", "timestamptz"),
]
row_values = {
    "bigint": st.integers(-(2**63), 2**63 - 1), "text": st.text(max_size=4), "timestamp": st.one_of(
        st.sampled_from(["2024-01-02 03:04:05", "1999-12-31T23:59:59.5", "2024-02-29", 1700000000, "2024-02-30"])),
    "double precision": st.floats(), "boolean": st.sampled_from([0, 1, "true", 2]),
    "smallint": st.integers(-(2**15) - 1, 2**15), "bytea": st.binary(max_size=3),
    "timestamptz": st.sampled_from(["2024-01-02T03:04:05Z", "2024-01-02 03:04:05+02", "2024-01-02"]),
}
table_chunks = st.integers(1, 30).flatmap(lambda n: st.tuples(*[
    st.lists(st.one_of(st.none(), row_values[c.pg_type]) if c.nullable else row_values[c.pg_type],
             min_size=n, max_size=n) for c in ROW_COLUMNS]))


@settings(max_examples=300, deadline=None)
@given(columns=table_chunks)
def test_rows_packed_by_struct_equal_the_field_by_field_tuples(columns) -> None:  # type: ignore[no-untyped-def]
    """A table's NOT NULL fixed-width columns go first and are packed per row with one struct; the tuples must be
    the bytes the field-by-field path writes for the same column order, and a row that cannot load must be
    named with its column in the table's order."""
    t = TablePlan("t", "t", ROW_COLUMNS, ["c"], "t_pkey", 0, False, ["rowid"])
    rows = binary_rows(t)
    assert rows.fixed == 5 and rows.order[:5] == [0, 2, 3, 4, 5]
    data, bad = encode_rows(rows, columns)
    expected, expected_bad = encode_binary(rows.fields, [columns[i] for i in rows.order])
    assert data == expected
    assert {r: rows.order[b.column] for r, b in expected_bad.items()} == {r: b.column for r, b in bad.items()}
    for r, b in bad.items():  # the named column is one that refuses that row's value
        with pytest.raises(BadValue):
            binary_field(ROW_COLUMNS[b.column]).one(columns[b.column][r])


def test_a_value_out_of_the_columns_range_is_refused_not_wrapped() -> None:
    field = binary_field(_col("int", "integer"))
    data, bad = encode_binary([field], [[1, 2**31, -(2**31)]])
    assert list(bad) == [1] and "out of range for integer" in str(bad[1])
    assert data == b"\x00\x01\x00\x00\x00\x04\x00\x00\x00\x01" + b"\x00\x01\x00\x00\x00\x04\x80\x00\x00\x00"


BINARY_SCRIPT = """
CREATE TABLE edge (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    t TEXT, n INTEGER, r REAL, b BLOB, flag BOOLEAN, at DATETIME, atz DATETIME, js JSON
);
"""


def test_a_table_of_binary_columns_copies_and_verifies_clean(make_sqlite, pg_db: ConnectionSpec) -> None:  # type: ignore[no-untyped-def]
    """The edge values (every storage class a column can hold, epoch times, offsets, ±Inf, BLOBs, unicode) go
    through binary COPY, in several batches, and verify finds each equal to its source."""
    rows = [r[:9] if r[0] != 4 else (4, "x y", *r[2:9]) for r in EDGE_ROWS]  # no NUL: that takes a text fix
    rows += [(i, f"row\t{i}\n", i * 7, i / 3, bytes([i % 256]) * (i % 5), i % 2,
              f"2024-03-{i % 28 + 1:02d} 10:00:{i % 60:02d}", f"2024-03-01T10:00:00+0{i % 10}:00", f'{{"i": {i}}}')
             for i in range(10, 200)]
    path = make_sqlite(BINARY_SCRIPT, {"edge": rows})
    plan = build_plan(path)
    assert binary_table(plan.table("edge"))
    result = migrate(plan, pg_db, CopyOptions(jobs=2, batch_size=16))
    assert (result.tables[0].rows, result.tables[0].rejected) == (len(rows), 0)
    report = verify(plan, pg_db, jobs=1)
    assert report.ok, render_text(report)
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT t, n, r, b::bytea = %s, flag, at::text, atz = '2024-01-02T03:04:05Z' FROM edge "
                    "WHERE id = 3", (bytes(range(256)),))
        assert cur.fetchone() == ("tab\there\nnewline\\back \\N \u00e9\u4e2d\U0001F600", 2**63 - 1, float("inf"),
                                  True, True, "2024-01-02 03:04:05.123456", False)
        cur.execute("SELECT at::text, atz::text FROM edge WHERE id = 4")  # Unix seconds; an offset kept as UTC
        assert cur.fetchone() == ("2023-11-14 22:13:20", "2024-06-01 05:30:00+00")
    conn.close()


@pytest.mark.parametrize("script", ["CREATE TABLE m (id INTEGER PRIMARY KEY, price NUMERIC(10,2));",
                                    "CREATE TABLE m (id INTEGER PRIMARY KEY, code VARCHAR(3));",
                                    "CREATE TABLE m (id INTEGER PRIMARY KEY, d DATE);"])
def test_tables_with_other_columns_keep_the_text_format(make_sqlite, script: str) -> None:  # type: ignore[no-untyped-def]
    assert not binary_table(build_plan(make_sqlite(script)).table("m"))


@pytest.mark.parametrize(("n_type", "binary"), [("INTEGER", True), ("NUMERIC(10,2)", False)])
def test_a_value_postgresql_rejects_names_its_row_and_column(make_sqlite, pg_db, tmp_path, n_type: str,  # type: ignore[no-untyped-def]
                                                              binary: bool) -> None:
    """JSON that turns invalid after the plan was made (the app kept writing) reaches PostgreSQL, which refuses it:
    the error names the row and column in either format (PostgreSQL counts binary tuples as lines, and its JSON
    error brings a 'line 1' of its own), and --on-error skip sets the row aside and loads the rest."""
    import json
    import sqlite3

    from wizard.data_copy.model import CopyError
    from wizard.data_copy.state import reset_target

    path = make_sqlite(f"CREATE TABLE j (id INTEGER PRIMARY KEY, doc JSON, n {n_type});",
                       {"j": [(i, f'{{"i": {i}}}', i) for i in range(1, 31)]})
    plan = build_plan(path)
    assert binary_table(plan.table("j")) is binary
    conn = sqlite3.connect(path)
    conn.execute("UPDATE j SET doc = '{\"i\": 23' WHERE id = 23")
    conn.commit()
    conn.close()
    with pytest.raises(CopyError) as exc:
        migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=10))
    assert (exc.value.table, exc.value.key, exc.value.column) == ("j", "23", "doc")
    assert "json" in exc.value.pg_message.lower()
    reset_target(plan, pg_db)
    result = migrate(plan, pg_db, CopyOptions(jobs=1, batch_size=10, on_error="skip", rejects_dir=tmp_path / "rej"))
    assert (result.tables[0].rows, result.tables[0].rejected) == (29, 1)
    (reject,) = [json.loads(line) for line in (tmp_path / "rej" / "j.jsonl").read_text().splitlines()]
    assert reject["key"] == [23] and reject["row"]["doc"] == '{"i": 23'
