"""Whether PostgreSQL runs on this machine, and then how many parallel workers its index builds should use.

PostgreSQL builds a big index with parallel workers (max_parallel_maintenance_workers, 2 by default). The
post-load phase already builds on `jobs` connections side by side. When the server shares this machine's cores
and those connections already keep them all busy, the extra workers only take turns on the same cores: on 2
cores the post-load took 6-12% longer with them. A remote server's cores are unknown here, so its setting is
kept as it is.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Any


def on_this_machine(conn: Any) -> bool:
    """Whether the server behind psycopg2 connection `conn` runs on this machine (see server_is_local)."""
    return server_is_local(conn.info.host or "", conn.info.backend_pid)


def server_is_local(host: str, backend_pid: int) -> bool:
    """Whether a server reached at `host`, serving us from process `backend_pid`, runs on this machine: reached
    through a Unix socket or a loopback address, and that process is a PostgreSQL one here. A loopback port may
    be a tunnel to another machine (ssh -L) or a container's forwarded port, so the address alone does not
    decide."""
    if not (host.startswith("/") or host.lower() == "localhost" or _loopback(host)):
        return False
    return _postgres_process(backend_pid)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _postgres_process(pid: int) -> bool:
    """Whether process `pid` of this machine is a PostgreSQL backend (as far as the platform tells safely)."""
    if sys.platform.startswith("linux"):
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip().startswith("postgres")
        except OSError:
            return False
    if os.name == "posix":  # macOS and the BSDs: signal 0 checks that the process exists, and sends nothing
        try:
            os.kill(pid, 0)
        except PermissionError:  # it exists, under another user (the server's)
            return True
        except OSError:
            return False
        return True
    return False  # Windows: os.kill would end the process; the server's own setting stays


def build_workers(conn: Any, jobs: int, cores: int | None = None) -> int | None:
    """The max_parallel_maintenance_workers for `jobs` connections building side by side on `conn`'s server, or
    None to keep the server's setting (a remote server, or one whose setting is already as low)."""
    if not on_this_machine(conn):
        return None
    cores = cores or os.cpu_count() or 1
    spare = max(0, cores // max(jobs, 1) - 1)  # each build's leader is one of the `jobs` connections
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('max_parallel_maintenance_workers')::int")
        current = int(cur.fetchone()[0])
    return spare if spare < current else None
