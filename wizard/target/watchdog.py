"""Dead-connection detection: a network that stalls (a laptop that slept, a VPN or Wi-Fi drop, a NAT timeout, a
proxy that stops forwarding) must end the work with a message, not leave it waiting forever.

Two layers. TCP keepalives and a TCP user timeout (libpq connection options) let the kernel give up on a peer that
stopped answering. They cannot see a middlebox that still acknowledges packets but forwards nothing, so every
blocking call on a connection (a statement, a COPY, a commit, a fetch) is also watched: once a call has shown no
progress for a third of the stall time (a COPY progresses with every chunk PostgreSQL takes), a second,
short-lived connection asks the server how that connection's backend is doing. A server that does not answer
within another third, or whose backend is gone or idle while the call still waits, means the call will never
return: its socket is shut down, the call fails at once, and the error says the connection stalled, all within
the stall time. A long index build is told apart
by its backend, which the server reports active. Each process (the copy's workers too) runs its own watchdog.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extensions

from wizard.target.stall_time import stall_seconds

_IDLE_STATES = ("idle", "idle in transaction", "idle in transaction (aborted)")


def tcp_options() -> dict[str, int]:
    """libpq's TCP options for the stall time: keepalives find a silent peer within it, and data left
    unacknowledged for that long closes the connection (libpq ignores both on a Unix socket)."""
    stall = stall_seconds()
    return {"keepalives": 1, "keepalives_idle": max(1, int(stall / 3)), "keepalives_interval": max(1, int(stall / 6)),
            "keepalives_count": 3, "tcp_user_timeout": int(stall * 1000)}


def server_keepalives(conn: Any) -> None:
    """Have the server probe this session's client the same way, so a session whose client vanished (and the
    locks it holds) ends within about the stall time instead of the system's default of hours. Best effort: a
    server or pooler that refuses the settings keeps its own."""
    options = tcp_options()
    settings = {"tcp_keepalives_idle": options["keepalives_idle"],
                "tcp_keepalives_interval": options["keepalives_interval"],
                "tcp_keepalives_count": options["keepalives_count"], "tcp_user_timeout": options["tcp_user_timeout"]}
    for name, value in settings.items():
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT set_config(%s, %s, false)", (name, str(value)))
        except psycopg2.Error:
            with contextlib.suppress(psycopg2.Error):
                conn.rollback()
    if not conn.autocommit:
        conn.commit()


@dataclass
class _Call:
    """A blocking call in progress on a watched connection."""

    conn: WatchedConnection
    last: float  # when it last made progress (monotonic)
    idle_probes: int = 0  # probes in a row that found its backend idle
    depth: int = 1


@dataclass
class _Watchdog:
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: dict[int, _Call] = field(default_factory=dict)
    thread: threading.Thread | None = None
    cut_at: float | None = None  # when a stalled connection was last shut down here

    def enter(self, conn: WatchedConnection) -> None:
        with self.lock:
            call = self.calls.get(id(conn))
            if call is not None:
                call.depth += 1
                return
            self.calls[id(conn)] = _Call(conn, time.monotonic())
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="connection-watchdog", daemon=True)
                self.thread.start()

    def leave(self, conn: WatchedConnection) -> None:
        with self.lock:
            call = self.calls.get(id(conn))
            if call is not None:
                call.depth -= 1
                if call.depth <= 0:
                    del self.calls[id(conn)]

    def touch(self, conn: WatchedConnection) -> None:
        call = self.calls.get(id(conn))
        if call is not None:
            call.last = time.monotonic()

    def _loop(self) -> None:
        while True:
            time.sleep(min(1.0, stall_seconds() / 8))
            third = stall_seconds() / 3
            now = time.monotonic()
            with self.lock:
                quiet = [c for c in self.calls.values() if now - c.last >= third]
            for call in quiet:
                verdict = _probe(call.conn, third)
                if verdict == "active":
                    call.last, call.idle_probes = time.monotonic(), 0
                    continue
                if verdict == "idle":
                    call.idle_probes += 1
                    call.last = time.monotonic()
                    if call.idle_probes < 2:
                        continue  # it may have answered just now: only an idle backend seen twice counts
                self.cut_at = time.monotonic()
                _shut_down(call.conn)


_watchdog = _Watchdog()


@contextlib.contextmanager
def watching(conn: WatchedConnection) -> Iterator[None]:
    """Watch a blocking call on `conn` for the length of the block."""
    _watchdog.enter(conn)
    try:
        yield
    finally:
        _watchdog.leave(conn)


def recent_stall(within_s: float = 30.0) -> float | None:
    """The stall time, when this process shut down a stalled connection in the last `within_s` seconds."""
    cut = _watchdog.cut_at
    return stall_seconds() if cut is not None and time.monotonic() - cut <= within_s else None


def _probe(conn: WatchedConnection, timeout_s: float) -> str:
    """'active', 'idle', 'gone' (the server has no such backend) or 'silent' (no answer within `timeout_s`)."""
    answer: list[str] = []
    probe: list[Any] = []

    def ask() -> None:
        try:
            c = psycopg2.connect(**{**conn.connect_kwargs, "connect_timeout": max(2, int(timeout_s)),
                                    "application_name": "pgmigrate-wizard watchdog"})
        except psycopg2.Error:
            return
        probe.append(c)
        try:
            with c.cursor() as cur:
                cur.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (conn.backend_pid,))
                row = cur.fetchone()
            answer.append("gone" if row is None else "idle" if row[0] in _IDLE_STATES else "active")
        except psycopg2.Error:
            pass
        finally:
            with contextlib.suppress(psycopg2.Error):
                c.close()

    asker = threading.Thread(target=ask, name="connection-probe", daemon=True)
    asker.start()
    asker.join(timeout_s)
    if asker.is_alive():
        for c in probe:  # stuck on the same stalled network: free its thread too
            _shut_down(c)
        return "silent"
    return answer[0] if answer else "silent"


def _shut_down(conn: Any) -> None:
    """Shut the connection's socket down, so the call blocked on it fails now (closing it from this thread would
    race with libpq's own use of the connection)."""
    with contextlib.suppress(OSError, ValueError, psycopg2.Error):
        sock = socket.socket(fileno=conn.fileno())
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.detach()  # the descriptor stays libpq's


class _Progressing:
    """The file a COPY reads from, noting progress each time PostgreSQL takes the next piece."""

    def __init__(self, file: Any, conn: WatchedConnection) -> None:
        self._file = file
        self._conn = conn

    def read(self, size: int = -1) -> Any:
        _watchdog.touch(self._conn)
        return self._file.read(size)

    def readline(self, size: int = -1) -> Any:
        _watchdog.touch(self._conn)
        return self._file.readline(size)

    def write(self, data: Any) -> Any:
        _watchdog.touch(self._conn)
        return self._file.write(data)


class WatchedCursor(psycopg2.extensions.cursor):
    """A cursor whose calls that wait for the server are watched."""

    connection: WatchedConnection

    def execute(self, query: Any, vars: Any = None) -> None:  # noqa: A002 - psycopg2's own parameter name
        with watching(self.connection):
            super().execute(query, vars)

    def executemany(self, query: Any, vars_list: Any) -> None:
        with watching(self.connection):
            super().executemany(query, vars_list)

    def copy_expert(self, sql: Any, file: Any, size: int = 8192) -> None:
        with watching(self.connection):
            super().copy_expert(sql, _Progressing(file, self.connection), size)

    def fetchone(self) -> Any:
        if not self.name:
            return super().fetchone()  # the rows are here already
        with watching(self.connection):
            return super().fetchone()

    def fetchmany(self, size: int | None = None) -> Any:
        if not self.name:
            return super().fetchmany(size) if size is not None else super().fetchmany()
        with watching(self.connection):
            return super().fetchmany(size) if size is not None else super().fetchmany()

    def fetchall(self) -> Any:
        if not self.name:
            return super().fetchall()
        with watching(self.connection):
            return super().fetchall()

    def __iter__(self) -> Any:
        if not self.name:
            return super().__iter__()
        return self._named_rows()

    def _named_rows(self) -> Iterator[Any]:
        while rows := self.fetchmany(self.itersize):
            yield from rows


class WatchedConnection(psycopg2.extensions.connection):
    """A connection whose cursors, commits and rollbacks are watched for a stalled network."""

    connect_kwargs: dict[str, Any]
    backend_pid: int

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cursor_factory", WatchedCursor)
        return super().cursor(*args, **kwargs)

    def commit(self) -> None:
        with watching(self):
            super().commit()

    def rollback(self) -> None:
        with watching(self):
            super().rollback()
