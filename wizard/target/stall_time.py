"""How long a connection may make no progress, its server silent, before it counts as stalled (target.watchdog).

Apart from the watchdog so that the command line can show and parse it without loading psycopg2 at start-up."""

from __future__ import annotations

import os

DEFAULT_STALL_S = 60.0
STALL_ENV = "PGMIGRATE_STALL_TIMEOUT"  # seconds; how the wizard (which has no options) is told another stall time


def default_stall_seconds() -> float:
    """The stall time when none is given: PGMIGRATE_STALL_TIMEOUT, else 60 s."""
    try:
        return max(1.0, float(os.environ.get(STALL_ENV, "") or DEFAULT_STALL_S))
    except ValueError:
        return DEFAULT_STALL_S


_settings = {"stall_s": default_stall_seconds()}


def configure(stall_s: float) -> None:
    """This process's stall time: each process (a worker too) configures its own."""
    _settings["stall_s"] = max(1.0, float(stall_s))


def stall_seconds() -> float:
    return _settings["stall_s"]
