"""Which PostgreSQL errors mean "the server stopped us" (retry later, resume) rather than "this data is bad"."""

from __future__ import annotations

import psycopg2

from wizard.errors import StepFailed
from wizard.target.stall_time import stall_seconds
from wizard.target.watchdog import recent_stall

# SQLSTATE classes: 08 connection, 53 insufficient resources, 54 program limits hit by settings, 57 operator
# intervention (statement_timeout, pg_terminate_backend, shutdown), 58 system errors; and single codes for
# lock_timeout, serialization failures and deadlocks.
_CLASSES = ("08", "53", "57", "58")
_CODES = ("55P03", "40001", "40P01")


def is_transient(exc: BaseException) -> bool:
    code = getattr(exc, "pgcode", None) or ""
    if not code:  # no SQLSTATE: the connection itself failed (closed, reset, server gone)
        return isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError))
    return code[:2] in _CLASSES or code in _CODES


def error_text(exc: BaseException) -> str:
    """PostgreSQL's message with its detail, which names the key a unique index or constraint tripped on."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary:
        return first_line(exc)
    detail = getattr(diag, "message_detail", None)
    return f"{primary.strip()}: {detail.strip()}" if detail else primary.strip()


def first_line(exc: BaseException) -> str:
    text = (getattr(exc, "pgerror", None) or str(exc) or "").strip()
    return text.splitlines()[0] if text else "the connection was closed"


class TargetStopped(StepFailed):
    """The target server stopped the work (connection lost, timeout, lock, resources); a rerun resumes."""

    def __init__(self, doing: str, exc: BaseException) -> None:
        stalled = recent_stall()
        if stalled is None and getattr(exc, "kind", None) == "timeout":  # a new connection got no answer either
            stalled = stall_seconds()
        if stalled is not None:  # this process shut the connection down: the network stopped answering
            super().__init__(f"The connection to the target server stalled while {doing}: the server did not answer "
                             f"for {stalled:.0f} s.",
                             title="Connection stalled",
                             hint="Check the network (Wi-Fi, VPN, a laptop that slept) and that the server is up, "
                                  "then run migrate again: it resumes from the last committed batch.",
                             ui_hint="Check the network (Wi-Fi, VPN, a laptop that slept) and that the server is up, "
                                     "then press Resume: it continues from the last committed batch.")
            return
        super().__init__(f"The target server stopped the migration while {doing}: {first_line(exc)}.",
                         title="Target stopped",
                         hint="Fix the cause (is the server up? a statement_timeout or a lock held by another "
                              "session?), then run migrate again: it resumes from the last committed batch.",
                         ui_hint="Fix the cause (is the server up? a statement_timeout or a lock held by another "
                                 "session?), then press Resume: it continues from the last committed batch.")
