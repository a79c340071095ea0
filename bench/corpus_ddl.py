"""How much of each corpus database's translated schema PostgreSQL accepts, and whether its views agree with SQLite.

For every readable SQLite file of ../shared/corpus: the plan is built, its data migrated into a fresh database,
and then every statement reported: the failures of the post-load (views included), the views that load, and for
each view that loads whether it returns the same rows as in SQLite (compared as canonical text). Also checks that
the whole DDL script (`plan`'s output) runs without an error in one go, as `psql -f` would.

    python bench/corpus_ddl.py [--dsn postgresql://...] [--only NAME] [--rows]

Without --dsn a throwaway built-in server is started.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import sys
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg2
from psycopg2 import sql

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import CORPUS, corpus_files  # noqa: E402
from wizard.data_copy.model import CopyOptions  # noqa: E402
from wizard.data_copy.run import migrate  # noqa: E402
from wizard.plan import ddl  # noqa: E402
from wizard.plan.planner import build_plan  # noqa: E402
from wizard.target.connection import ConnectionSpec, parse_dsn  # noqa: E402

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}:\d{2})?$")


def _first_difference(want: list[tuple[str, ...]], got: list[tuple[str, ...]]) -> str:
    """The columns of the first row that differs, as `#position: SQLite value / PostgreSQL value`."""
    for a, b in zip(want, got, strict=False):
        if a != b:
            cells = [f"#{n}: {x[:30]!r} / {y[:30]!r}" for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y]
            return "; first difference " + ", ".join(cells[:3])
    return ""


def _canon(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (float, Decimal)):
        # sums of doubles: SQLite adds binary floats, PostgreSQL numeric exactly; the same to 10 digits
        return f"{float(value):.10g}"
    if isinstance(value, (bytes, memoryview)):  # a BLOB loaded into a text column compares as its text
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.hex()
    text = str(value)
    if _DATE.match(text):  # '2016-07-04' in SQLite is the same moment as timestamp '2016-07-04 00:00:00'
        text = text.replace("T", " ").removesuffix(" 00:00:00")
    return text


def _rows(rows: list[tuple[object, ...]]) -> list[tuple[str, ...]]:
    return sorted(tuple(_canon(v) for v in r) for r in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsn", help="a superuser DSN (default: a throwaway built-in server)")
    ap.add_argument("--only", help="only files whose path contains this")
    ap.add_argument("--rows", action="store_true", help="compare each loaded view's rows with SQLite's")
    args = ap.parse_args()
    base = None
    if args.dsn:
        admin = parse_dsn(args.dsn)
    else:
        from wizard.target.local_server import start_local_server

        base = Path(tempfile.mkdtemp(prefix="pgmw-corpus-"))
        admin = start_local_server(base / "data").spec()
    totals = {"files": 0, "views": 0, "views_ok": 0, "views_same": 0, "other_failed": 0, "script_failed": 0}
    try:
        for path in corpus_files():
            if args.only and args.only not in str(path):
                continue
            _one(path, admin, args.rows, totals)
    finally:
        if base is not None:
            from wizard.target.local_server import stop_local_server

            stop_local_server(base / "data", mode="immediate")
            shutil.rmtree(base, ignore_errors=True)
    print("\n" + ", ".join(f"{k}={v}" for k, v in totals.items()))
    return 0


def _fresh(admin: ConnectionSpec) -> ConnectionSpec:
    name = f"c_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(**admin.connect_kwargs())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name)))
    conn.close()
    return admin.with_dbname(name)


def _drop(admin: ConnectionSpec, spec: ConnectionSpec) -> None:
    conn = psycopg2.connect(**admin.connect_kwargs())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(spec.dbname)))
    conn.close()


def _one(path: Path, admin: ConnectionSpec, compare_rows: bool, totals: dict[str, int]) -> None:
    rel = path.relative_to(CORPUS)
    totals["files"] += 1
    plan = build_plan(path)
    # the script in one go, on an empty database (what `psql -f` of plan's output does)
    spec = _fresh(admin)
    try:
        conn = psycopg2.connect(**spec.connect_kwargs())
        try:
            script = ddl.render_script(plan)
            if any(line.strip() and not line.lstrip().startswith("--") for line in script.splitlines()):
                with conn.cursor() as cur:
                    cur.execute(script)
            conn.commit()
        except psycopg2.Error as exc:
            totals["script_failed"] += 1
            print(f"{rel}: SCRIPT FAILS: {str(exc).splitlines()[0]}")
        finally:
            conn.close()
    finally:
        _drop(admin, spec)
    if not plan.included_tables:
        return
    # the migration, with its data
    spec = _fresh(admin)
    try:
        with tempfile.TemporaryDirectory() as snapshots:  # never beside the corpus's files
            result = migrate(plan, spec, CopyOptions(jobs=1, backup_dir=Path(snapshots)))
            failed = {(r.statement.kind, r.statement.name): r.error for r in result.failed_statements}
        for (kind, name), error in failed.items():
            if kind != "view":
                totals["other_failed"] += 1
                print(f"{rel}: {kind} {name}: {error}")
        for v in plan.views:
            totals["views"] += 1
            if v.sql is None:
                print(f"{rel}: view {v.source}: not translated: {v.skipped}")
                continue
            if ("view", v.target) in failed:
                print(f"{rel}: view {v.source}: {failed[('view', v.target)]}")
                continue
            totals["views_ok"] += 1
            if compare_rows:
                lite = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                pg = psycopg2.connect(**spec.connect_kwargs())
                try:
                    want = _rows(lite.execute(f'SELECT * FROM "{v.source}"').fetchall())
                    with pg.cursor() as cur:
                        cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(v.target)))
                        got = _rows(cur.fetchall())
                    if want == got:
                        totals["views_same"] += 1
                    else:
                        print(f"{rel}: view {v.source}: rows differ ({len(want)} in SQLite, {len(got)} here)"
                              + _first_difference(want, got))
                except (sqlite3.Error, psycopg2.Error) as exc:
                    print(f"{rel}: view {v.source}: reading failed: {str(exc).splitlines()[0]}")
                finally:
                    lite.close()
                    pg.close()
    finally:
        _drop(admin, spec)


if __name__ == "__main__":
    sys.exit(main())
