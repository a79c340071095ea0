"""Which operating system's behaviour the tool follows: the real one, or one that PGMIGRATE_SIMULATE_PLATFORM names
(`win32`, `darwin`, `linux`), so the Windows and macOS paths (no Unix sockets, the password file's location) run in
the test suite on any machine. Only choices the tool makes are simulated; what the OS itself does (file modes,
process start) stays real."""

from __future__ import annotations

import os
import sys

SIMULATE_ENV = "PGMIGRATE_SIMULATE_PLATFORM"
PLATFORMS = ("linux", "darwin", "win32")


def current_platform() -> str:
    """`sys.platform`'s name for the OS whose behaviour applies: `win32`, `darwin` or `linux` (or another)."""
    simulated = os.environ.get(SIMULATE_ENV, "").strip().lower()
    return simulated if simulated in PLATFORMS else sys.platform


def unix_sockets() -> bool:
    """Whether the built-in server also listens on a Unix socket (not on Windows: TCP only)."""
    return current_platform() != "win32"


def executable_suffix() -> str:
    """The suffix of the PostgreSQL programs' file names: `.exe` on Windows (the real OS's, they run here)."""
    return ".exe" if sys.platform == "win32" else ""
