"""A row PostgreSQL refuses: named (table, key, column, message) with --on-error fail, or set aside with its
reason (--on-error skip): the failed batch is loaded again by halves and single bad rows go to the rejects.
"""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path
from typing import Any

import psycopg2

from wizard.convert.text_copy import BadField, FieldEncoder, encode_line
from wizard.data_copy.batches import BatchReader, RowShape, batch_full, next_fetch
from wizard.data_copy.model import CopyError, Run
from wizard.data_copy.state import connect_mid_run
from wizard.plan_model import TablePlan
from wizard.source.sqlite_file import FIRST_CHUNK_ROWS


def key_text(key: tuple[Any, ...]) -> str:
    return ", ".join(repr(k) for k in key) if len(key) > 1 else repr(key[0])


def copy_error(t: TablePlan, reader: BatchReader, exc: psycopg2.Error) -> CopyError:
    diag = getattr(exc, "diag", None)
    context = getattr(diag, "context", None) or ""
    message = (getattr(diag, "message_primary", None) or str(exc)).strip()
    key: Any = "?"
    column = None
    # the COPY's own line of the context (a JSON error adds one of its own first: "JSON data, line 1: ...")
    copy_lines = [line for line in context.splitlines() if line.startswith("COPY ")]
    m = re.search(r", line (\d+)(?:, column ([^:]+))?", copy_lines[-1]) if copy_lines else None
    if m:
        line = int(m.group(1))
        found = reader.key_of_line(line)
        if found is not None:
            key = key_text(found)
        if m.group(2):
            target = m.group(2).strip()
            column = next((c.source for c in t.columns if c.target == target), target)
    return CopyError(t.source, key, column, message)


def reject_record(t: TablePlan, key: tuple[Any, ...], values: tuple[Any, ...], column: str | None,
            reason: str) -> dict[str, Any]:
    return {"table": t.source, "key": [_jsonable(k) for k in key], "column": column, "reason": reason,
            "row": {c.source: _jsonable(v) for c, v in zip(t.columns, values, strict=False)}}


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return str(v)
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return v


def isolate(conn: Any, src: sqlite3.Connection, t: TablePlan, query: str, params: tuple[Any, ...],
             encoders: list[FieldEncoder], shape: RowShape,
             copy_text: str) -> tuple[int, tuple[Any, ...] | None, list[dict[str, Any]], bool]:
    """--on-error skip: load a failed batch by halves inside savepoints; single bad rows go to the rejects.

    The batch is read again, up to its LIMIT or about a batch's byte budget of text (it is held in memory).
    Returns its row count, its last key (None for an empty batch), the rejected rows, and whether it ended at that
    budget."""
    cur = src.execute(query, params)
    rejects: list[dict[str, Any]] = []
    good: list[tuple[tuple[Any, ...], str]] = []  # (row, its encoded COPY line)
    ones = [e.one for e in encoders]
    count, size, cut, fetch = 0, 0, False, FIRST_CHUNK_ROWS
    last: tuple[Any, ...] | None = None
    while chunk := cur.fetchmany(fetch):
        nbytes = 0
        for row in chunk:
            try:
                line = encode_line(ones, shape.values(row)) + "\n"
            except BadField as exc:
                rejects.append(reject_record(t, shape.key(row), shape.values(row), t.columns[exc.column].source,
                                             str(exc)))
                continue
            good.append((row, line))
            nbytes += len(line)
        count, last, size = count + len(chunk), chunk[-1], size + nbytes
        if batch_full(size):
            cut = True
            break
        fetch = next_fetch(len(chunk), nbytes, size)

    def load(chunk: list[tuple[tuple[Any, ...], str]]) -> None:
        if not chunk:
            return
        text = "".join(line for _row, line in chunk)
        with conn.cursor() as cur:
            cur.execute("SAVEPOINT pgmw_part")
            try:
                cur.copy_expert(copy_text, io.BytesIO(text.encode("utf-8")))
                cur.execute("RELEASE SAVEPOINT pgmw_part")
                return
            except psycopg2.Error as exc:
                cur.execute("ROLLBACK TO SAVEPOINT pgmw_part")
                if len(chunk) == 1:
                    msg = (getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)).strip()
                    row = chunk[0][0]
                    rejects.append(reject_record(t, shape.key(row), shape.values(row), None, msg))
                    return
        mid = len(chunk) // 2
        load(chunk[:mid])
        load(chunk[mid:])

    load(good)
    return count, (shape.key(last) if last is not None else None), rejects, cut


def write_rejects(run: Run) -> dict[str, str]:
    """Write each table's rejects file (JSON lines) from the rows recorded in the target: complete and without
    repeats, also after a resume. Returns the files written, by source table."""
    folder = run.options.rejects_dir or Path(run.plan.source_path).absolute().parent / "pgmigrate-rejects"
    files: dict[str, str] = {}
    conn = connect_mid_run(run.spec, "writing the rejects files")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT DISTINCT table_name FROM pgmigrate.rejects")
            names = {r[0] for r in cur.fetchall()}
        for t in run.plan.included_tables:
            if t.target not in names:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{t.target}.jsonl"
            with conn.cursor(name="pgmigrate_rejects") as cur, open(path, "w", encoding="utf-8") as fh:
                cur.itersize = 1000  # streamed: a table may have many
                cur.execute("SELECT record FROM pgmigrate.rejects WHERE table_name = %s ORDER BY part, id",
                            (t.target,))
                for (record,) in cur:
                    fh.write(record + "\n")
            files[t.source] = str(path)
        conn.commit()
    finally:
        conn.close()
    return files
