"""Property: for random table shapes and values, the plan's DDL loads and every value fits its column's mapped
type (the plan's conversion accepts it) or the plan carries a finding for that column."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import psycopg2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wizard.convert.values import BadValue, converter
from wizard.data_copy.statements import apply
from wizard.plan import ddl
from wizard.plan.planner import build_plan
from wizard.target.connection import ConnectionSpec

DECLARED = ["INTEGER", "INT", "BIGINT", "REAL", "DOUBLE", "NUMERIC(8,2)", "NUMERIC", "DECIMAL", "VARCHAR(6)",
            "TEXT", "BOOLEAN", "DATETIME", "DATE", "JSON", "BLOB", "", "CHAR(2)", "FLOAT", "TIMESTAMP"]

values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 2**31, 1700000000, 1627303906122]),
    st.floats(allow_nan=False, width=64),
    st.text(max_size=12),
    st.sampled_from(["", "2024-01-02 03:04:05", "2024-01-02T03:04:05Z", "2024-02-30", "true", "{\"a\": 1}", "[1]",
                     "12.50", "x\x00y", "NaN"]),
    st.binary(max_size=8),
)

tables = st.lists(
    st.tuples(st.sampled_from(DECLARED), st.lists(values, min_size=0, max_size=6)),
    min_size=1, max_size=5,
)


def _build(spec: list[tuple[str, list[object]]], path: Path) -> None:
    conn = sqlite3.connect(path)
    cols = ", ".join(f'"c{i}" {decl}' for i, (decl, _) in enumerate(spec))
    conn.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, {cols})")
    rows = max(len(v) for _, v in spec)
    for r in range(rows):
        vals = [v[r] if r < len(v) else None for _, v in spec]
        conn.execute(f"INSERT INTO t VALUES (NULL, {', '.join('?' * len(vals))})", vals)
    conn.commit()
    conn.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=tables)
def test_random_tables_plan_load_and_fit(spec: list[tuple[str, list[object]]], pg_db: ConnectionSpec) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.db"
        _build(spec, path)
        plan = build_plan(path)
        conn = psycopg2.connect(**pg_db.connect_kwargs())
        try:
            with conn.cursor() as cur:
                cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            apply(conn, ddl.phase1(plan))
            results = apply(conn, ddl.phase2(plan))
            conn.commit()
        finally:
            conn.close()
        assert [r.error for r in results if not r.ok] == []
        flagged = {f.column for f in plan.findings}
        src = sqlite3.connect(path)
        src.text_factory = bytes
        t = plan.table("t")
        for col in t.columns:
            convert = converter(col.conversion, text_fix=col.text_fix, epoch_unit=col.epoch_unit,
                                empty_to_null=col.empty_to_null, max_length=col.length, precision=col.precision,
                                scale=col.scale)
            for (raw,) in src.execute(f'SELECT "{col.source}" FROM t'):
                value = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) and col.source != "id" \
                    and _is_text(src, col.source, raw) else raw
                try:
                    convert(value)
                except BadValue:
                    assert col.source in flagged, f"{col.source} ({col.declared_type} -> {col.pg_type}): {raw!r}"
        src.close()


def _is_text(conn: sqlite3.Connection, column: str, raw: bytes) -> bool:
    row = conn.execute(f'SELECT typeof("{column}") FROM t WHERE "{column}" = ? LIMIT 1', (raw,)).fetchone()
    return bool(row and row[0] == b"text" or (row and row[0] == "text"))
