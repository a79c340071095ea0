"""Run planned DDL statements: in one transaction, each behind a savepoint, so an optional statement that fails
(a key the data breaks) is reported and the rest goes on."""

from __future__ import annotations

import psycopg2

from wizard.plan.ddl import Statement, StatementResult
from wizard.target.pg_errors import error_text, is_transient


def apply(conn: psycopg2.extensions.connection, statements: list[Statement]) -> list[StatementResult]:
    """Run statements in one transaction; an optional one that fails is rolled back to its savepoint and reported.

    The caller commits. A required statement's failure raises (after rollback to its savepoint)."""
    results = []
    with conn.cursor() as cur:
        for st in statements:
            cur.execute("SAVEPOINT pgmw_stmt")
            try:
                cur.execute(st.sql)
            except psycopg2.Error as exc:
                if is_transient(exc):  # the server stopped us, not the statement: the caller retries it all
                    raise
                cur.execute("ROLLBACK TO SAVEPOINT pgmw_stmt")
                message = error_text(exc)
                if not st.optional:
                    raise
                results.append(StatementResult(st, False, message))
                continue
            cur.execute("RELEASE SAVEPOINT pgmw_stmt")
            results.append(StatementResult(st, True))
    return results
