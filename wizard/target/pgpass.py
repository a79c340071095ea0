"""The standard libpq password file (`~/.pgpass`; `%APPDATA%\\postgresql\\pgpass.conf` on Windows; `PGPASSFILE` when
set): libpq-based drivers (psycopg2, psycopg 3, psql, asyncpg and most others) read a password from it when the
connection string has none, so an unchanged app connects with a `DATABASE_URL` that holds no password.

Format (https://www.postgresql.org/docs/current/libpq-pgpass.html): `host:port:database:user:password`, one entry
per line, `*` matching anything, `:` and `\\` escaped with a backslash, the first matching line wins. On POSIX libpq
ignores a file that the group or others may read, so it is written 0600.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wizard.errors import InputError
from wizard.platforms import current_platform
from wizard.target.connection import ConnectionSpec


def password_file(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """Where libpq looks for the password file on this platform (PGPASSFILE first)."""
    env = os.environ if environ is None else environ
    if env.get("PGPASSFILE"):
        return Path(env["PGPASSFILE"])
    if (platform or current_platform()) == "win32":
        appdata = env.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(appdata) / "postgresql" / "pgpass.conf"
    return Path(env.get("HOME") or Path.home()) / ".pgpass"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _fields(line: str) -> list[str]:
    """A line's fields, unescaped (libpq's reading: a backslash takes the next character as it is)."""
    out: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            cur.append(line[i + 1])
            i += 2
            continue
        if ch == ":" and len(out) < 4:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def entry_host(spec: ConnectionSpec) -> str:
    """The host field libpq compares: a Unix-socket directory connection matches `localhost`."""
    return "localhost" if spec.host.startswith("/") else spec.host


@dataclass(frozen=True)
class PasswordFileResult:
    path: Path
    action: str  # "added", "updated" or "unchanged"


def write_password(spec: ConnectionSpec, path: Path | None = None) -> PasswordFileResult:
    """Add or update the entry `host:port:*:user:password` for the spec's account (a role's password is the same in
    every database of a server, hence `*`). Older entries for the same host, port and user are replaced; the entry
    goes before any other line that would match this account first, the rest of the file stays as it was."""
    password = spec.password
    if not password:
        raise InputError(f"No password is known for {spec.account}, so none can go into the password file.",
                         title="No password", hint="Set PGPASSWORD or store it in the keyring, then retry.")
    if "\n" in password or "\r" in password:
        raise InputError("The password holds a line break, which the libpq password file cannot hold.",
                         title="Password not writable", hint="Keep it in the OS keyring instead.")
    path = path or password_file()
    host, port, user = entry_host(spec), str(spec.port), spec.user
    mine = ":".join(_escape(f) for f in (host, port, "*", user, password))
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    kept: list[str] = []
    at: int | None = None
    replaced = False
    for line in lines:
        f = _fields(line)
        if line.lstrip().startswith("#") or len(f) < 5:
            kept.append(line)
            continue
        if (f[0], f[1], f[3]) == (host, port, user):
            replaced = True
            if at is None:
                at = len(kept)
            continue  # an older entry of this account: replaced
        if at is None and all(a in ("*", b) for a, b in zip(f[:4], (host, port, "*", user), strict=True)):
            at = len(kept)  # a line that would answer for this account first (wildcards): ours goes before it
        kept.append(line)
    kept.insert(len(kept) if at is None else at, mine)
    if kept == lines:
        return PasswordFileResult(path, "unchanged")
    _write_private(path, "\n".join(kept) + "\n")
    return PasswordFileResult(path, "updated" if replaced else "added")


def _write_private(path: Path, text: str) -> None:
    """Replace the file in one step, readable by its owner only (libpq refuses it otherwise on POSIX)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pgpass-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            if sys.platform != "win32":
                os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise InputError(f"The password file {path} could not be written: {exc.strerror}.", title="File not written",
                         hint="Check the folder's permissions, or set PGPASSFILE to a file you may write.") from None
