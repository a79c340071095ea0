"""A `docker-compose.postgres.yml` for users who prefer PostgreSQL in Docker to the built-in server.

The password is never written into the file: Compose takes it from the POSTGRES_PASSWORD environment variable and
refuses to start without it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from wizard.errors import InputError

DEFAULT_FILE = "docker-compose.postgres.yml"


def compose_text(*, dbname: str = "app_dev", user: str = "app", port: int = 5432, image: str = "postgres:18") -> str:
    for label, value in (("database", dbname), ("user", user)):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", value):
            raise InputError(f"'{value}' is not a usable {label} name for the Compose file.", title="Bad name",
                             hint="Use letters, digits and _ (start with a letter).")
    return f"""\
# PostgreSQL for development. Start it with:
#   POSTGRES_PASSWORD='choose-one' docker compose -f {DEFAULT_FILE} up -d
# The password comes from the environment (never from this file); the data lives in the named volume.
services:
  postgres:
    image: {image}
    restart: unless-stopped
    environment:
      POSTGRES_DB: {dbname}
      POSTGRES_USER: {user}
      POSTGRES_PASSWORD: ${{POSTGRES_PASSWORD:?set POSTGRES_PASSWORD before starting}}
    ports:
      - "127.0.0.1:{port}:5432"
    volumes:
      - pgdata:/var/lib/postgresql
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U {user} -d {dbname}"]
      interval: 5s
      timeout: 3s
      retries: 10

volumes:
  pgdata:
"""


def write_compose(path: Path, text: str, *, overwrite: bool = False) -> str:
    """Write the file; returns the command that starts the server."""
    if path.is_dir():
        raise InputError(f"{path} is a folder.", title="Not a file", hint="Pass a file path for the Compose file.")
    if path.exists() and not overwrite:
        raise InputError(f"{path} exists already.", title="File exists",
                         hint="Pass --force to replace it, or another --path.")
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"{path} could not be written: {exc.strerror}.", title="File not written",
                         hint="Pick a writable folder.") from None
    return f"POSTGRES_PASSWORD='choose-one' docker compose -f {path} up -d --wait"
