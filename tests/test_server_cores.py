"""Index builds on a server that shares this machine's cores: no parallel workers beyond the cores left over."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from wizard.data_copy import post_load, statements
from wizard.data_copy.model import CopyOptions
from wizard.data_copy.run import migrate
from wizard.plan.planner import build_plan
from wizard.target.connection import ConnectionSpec
from wizard.target.server_cores import build_workers, on_this_machine, server_is_local


@pytest.fixture
def local_server(pg_server):  # type: ignore[no-untyped-def]
    if pg_server.pgdata is None:
        pytest.skip("the tests' server is given by DSN: it may run on another machine")
    return pg_server


def test_the_built_in_server_is_found_on_this_machine(local_server, pg_conn) -> None:  # type: ignore[no-untyped-def]
    assert on_this_machine(pg_conn)
    pid = pg_conn.info.backend_pid
    assert server_is_local("127.0.0.1", pid) and server_is_local("localhost", pid)
    assert server_is_local("/var/run/postgresql", pid)


def test_a_loopback_port_to_no_local_backend_is_not_local(local_server, pg_conn) -> None:  # type: ignore[no-untyped-def]
    """ssh -L or a container's port: the address is loopback but the backend is no process of this machine."""
    assert not server_is_local("db.example.com", pg_conn.info.backend_pid)
    assert not server_is_local("10.1.2.3", pg_conn.info.backend_pid)
    assert not server_is_local("127.0.0.1", os.getpid())  # a process here, but not PostgreSQL
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid is free now
    assert not server_is_local("127.0.0.1", gone.pid)


def test_workers_left_for_each_build(local_server, pg_conn) -> None:  # type: ignore[no-untyped-def]
    with pg_conn.cursor() as cur:
        cur.execute("SET max_parallel_maintenance_workers = 2")
    assert build_workers(pg_conn, jobs=2, cores=2) == 0  # two builds side by side fill two cores
    assert build_workers(pg_conn, jobs=2, cores=4) == 1
    assert build_workers(pg_conn, jobs=1, cores=2) == 1
    assert build_workers(pg_conn, jobs=2, cores=16) is None  # never more than the server allows
    with pg_conn.cursor() as cur:
        cur.execute("SET max_parallel_maintenance_workers = 0")
    assert build_workers(pg_conn, jobs=2, cores=2) is None  # already as low


def test_post_load_builds_without_spare_workers_on_a_busy_local_machine(  # type: ignore[no-untyped-def]
        local_server, tmp_path: Path, pg_db: ConnectionSpec, monkeypatch) -> None:
    path = tmp_path / "app.db"
    src = sqlite3.connect(path)
    src.executescript("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX a_v ON a(v);"
                      "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id));")
    src.executemany("INSERT INTO a VALUES (?, ?)", [(i, f"v{i}") for i in range(1, 50)])
    src.executemany("INSERT INTO b VALUES (?, ?)", [(i, i) for i in range(1, 50)])
    src.commit()
    src.close()
    seen: list[str] = []  # the setting on the connections that build keys and indexes
    real_apply = statements.apply

    def apply(conn, statements):  # type: ignore[no-untyped-def]
        if any(st.kind in ("pk", "index") for st in statements):
            with conn.cursor() as cur:
                cur.execute("SHOW max_parallel_maintenance_workers")
                seen.append(cur.fetchone()[0])
        return real_apply(conn, statements)

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(post_load, "apply", apply)
    result = migrate(build_plan(path), pg_db, CopyOptions(jobs=2))
    assert result.failed_statements == []
    assert seen and set(seen) == {"0"}, seen
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:  # the setting was the post-load connections' own, not the database's
        cur.execute("SHOW max_parallel_maintenance_workers")
        assert cur.fetchone()[0] == "2"
    conn.close()
