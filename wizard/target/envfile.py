"""The app's `.env`: connection settings merged into the existing file with python-dotenv's `set_key`.

Unrelated keys, comments and order stay; the previous file is backed up; a diff can be previewed first. The
password goes where the caller says (PASSWORD_PLACES): the OS keyring (default), the standard libpq password file,
which an unchanged app's driver reads by itself, or the `.env` file itself, which is then made 0600.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dotenv import dotenv_values, set_key

from wizard.errors import InputError
from wizard.target.connection import ConnectionSpec
from wizard.target.credentials import SERVICE, keyring_status
from wizard.target.pgpass import PasswordFileResult, password_file, write_password

STYLES = ("url", "pg-vars", "both")

# Where the password goes, and whether an unchanged app finds it there.
PASSWORD_PLACES: dict[str, str] = {
    "keyring": "the OS keyring: an unchanged app does not find it there; it must read it from the keyring itself "
               "(one line of code) or be given PGPASSWORD",
    "file": "the libpq password file: an unchanged app whose driver is built on libpq (psycopg2, psycopg 3, psql; "
            "Django and SQLAlchemy with them) finds it there by itself",
    "inline": "the .env file itself (readable by you only): an unchanged app that reads DATABASE_URL or PG_PASSWORD "
              "finds it",
}


@dataclass
class EnvRequest:
    path: Path
    target: ConnectionSpec  # the app's account and database, with the password written where password_in says
    style: str = "url"
    password_in: str = "keyring"  # one of PASSWORD_PLACES
    envs: list[str] | None = None  # environments for PG_DATABASE_*; default: from the database name
    password_file: Path | None = None  # the libpq password file to write (default: where libpq looks for it)

    @property
    def inline_password(self) -> bool:
        return self.password_in == "inline"

    def environments(self) -> tuple[str, dict[str, str]]:
        """(ENVIRONMENT, {env: database}) from a name like app_dev; a name without an env suffix is dev's."""
        name = self.target.dbname
        known = self.envs or ["dev", "test", "prod"]
        for env in known:
            if name.endswith("_" + env):
                base = name[: -len(env) - 1]
                return env, {e: f"{base}_{e}" for e in known}
        return "dev", {e: (name if e == "dev" else f"{name}_{e}") for e in (self.envs or ["dev"])}


@dataclass
class EnvPlan:
    request: EnvRequest
    values: dict[str, str]  # in the order they are written
    comment: str | None  # where the password is, when it is not inline
    diff: str  # unified diff, the password masked
    gitignored: bool
    gitignore: Path  # the .gitignore that should cover the file
    password_file: Path | None  # the libpq password file the entry goes to (password_in "file")

    @property
    def app_note(self) -> str:
        """Where the password goes and whether the unchanged app will find it."""
        where = PASSWORD_PLACES[self.request.password_in]
        if self.password_file is not None:
            where = where.replace("the libpq password file", f"the libpq password file {self.password_file}")
        return f"The password goes into {where}."


@dataclass
class EnvResult:
    path: Path
    backup: Path | None
    changed: list[str] = field(default_factory=list)
    password_file: PasswordFileResult | None = None  # the entry written for password_in "file"


def keyring_comment(spec: ConnectionSpec) -> str:
    if not keyring_status().usable:
        return (f"# The PostgreSQL password of {spec.user} is not written here: give it to the app through "
                "PGPASSWORD or your secret store.")
    return (f"# The PostgreSQL password of {spec.user} is in the OS keyring; read it with: python -c \"import keyring; "
            f"print(keyring.get_password('{SERVICE}', '{spec.account}'))\"")


def password_file_comment(spec: ConnectionSpec, path: Path) -> str:
    return (f"# The PostgreSQL password of {spec.user} is in the libpq password file {path}; psycopg2, psycopg 3 "
            "and psql read it when DATABASE_URL has none.")


def env_values(req: EnvRequest) -> dict[str, str]:
    if req.style not in STYLES:
        raise InputError(f"Unknown .env style '{req.style}'.", title="Bad style",
                         hint=f"Use one of {', '.join(STYLES)}.")
    if req.password_in not in PASSWORD_PLACES:
        raise InputError(f"Unknown password place '{req.password_in}'.", title="Bad option",
                         hint=f"Use one of {', '.join(PASSWORD_PLACES)}.")
    spec = req.target
    password = spec.password if req.inline_password else None
    if req.password_in != "keyring" and not spec.password:
        where = "the .env file" if req.inline_password else "the password file"
        raise InputError(f"The password should go into {where}, but no password is known for {spec.account}.",
                         title="No password", hint="Give the connection its password (PGPASSWORD, the keyring, or "
                                                   "the wizard's Connection step), then write again.")
    if password and "\r" in password:
        raise InputError("The password holds a carriage return, which a .env file cannot keep exactly.",
                         title="Password not writable", hint="Keep it in the OS keyring instead.")
    out: dict[str, str] = {}
    if req.style in ("url", "both"):
        out["DATABASE_URL"] = spec.url(password=password, mask=False) if password else spec.with_password(None).url()
    if req.style in ("pg-vars", "both"):
        env, names = req.environments()
        out.update({"PG_HOST": spec.host, "PG_PORT": str(spec.port), "PG_USER": spec.user})
        if spec.sslmode != "prefer":
            out["PG_SSLMODE"] = spec.sslmode
        if password:
            out["PG_PASSWORD"] = password
        out.update({f"PG_DATABASE_{e.upper()}": n for e, n in names.items()})
        out["ENVIRONMENT"] = env
    return out


def _check_path(path: Path) -> None:
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a .env file.", title="Not a file",
                         hint="Pass the file's path, e.g. --path ./.env.")
    if not path.parent.is_dir():
        raise InputError(f"The folder {path.parent} does not exist.", title="No such folder",
                         hint="Create it or pick another --path.")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{path} is read-only.", title="File not writable",
                         hint="Make it writable (chmod u+w) or pick another --path.")


def _apply(path: Path, values: dict[str, str], comment: str | None) -> list[str]:
    """Merge into `path` with python-dotenv; returns the keys whose value changed."""
    before = dotenv_values(path, interpolate=False) if path.exists() else {}
    if comment is not None:
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        if comment not in existing.splitlines():
            # a comment is not a key: dotenv has no call for it, so it goes on its own line before our keys
            sep = "" if not existing or existing.endswith("\n") else "\n"
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"{sep}{comment}\n")
    changed = []
    for key, value in values.items():
        if before.get(key) != value:
            set_key(path, key, value, quote_mode="always", follow_symlinks=True)
            changed.append(key)
    return changed


_URL_SECRET = re.compile(r"(://[^:/@\s'\"]*:)([^@\s'\"]+)(@)")
_SECRET_KEY = re.compile(r"^([+\- ]?\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*PASSWORD[A-Za-z0-9_]*\s*=\s*)(.+)$")


def _mask(text: str) -> str:
    """The diff as shown: a password in a URL, and any *PASSWORD* setting's value, read `***`. Masked by where a
    password stands, not by searching its text: a user or database named like the password stays readable, and
    an older password already in the file is masked as well."""
    lines = []
    for line in text.splitlines(keepends=True):
        end = "\n" if line.endswith("\n") else ""
        body = _URL_SECRET.sub(r"\1***\3", line.rstrip("\n"))
        m = _SECRET_KEY.match(body)
        lines.append((f"{m.group(1)}'***'" if m and not m.group(2).startswith("#") else body) + end)
    return "".join(lines)


def plan_env(req: EnvRequest) -> EnvPlan:
    """Everything `write_env` would do, with a diff to show (nothing is written)."""
    path = req.path
    _check_path(path)
    values = env_values(req)
    pgpass = (req.password_file or password_file()) if req.password_in == "file" else None
    comment = None if req.inline_password else password_file_comment(req.target, pgpass) if pgpass \
        else keyring_comment(req.target)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / ".env"
        if path.exists():
            shutil.copyfile(path, trial)
        _apply(trial, values, comment)
        new = trial.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"{path} (now)", tofile=f"{path} (after)"))
    covered, gitignore = gitignore_status(path)
    return EnvPlan(req, values, comment, _mask(diff), covered, gitignore, pgpass)


def write_env(plan: EnvPlan) -> EnvResult:
    req = plan.request
    path = req.path
    _check_path(path)
    backup = None
    if path.exists():
        backup = path.with_name(f"{path.name}.bak-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}")
        shutil.copy2(path, backup)  # keeps the mode, so a 0600 file's backup is 0600 too
    try:
        if req.inline_password and not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        changed = _apply(path, plan.values, plan.comment)
        if req.inline_password and os.name == "posix":
            os.chmod(path, 0o600)  # a password inside: owner only, whatever the file's mode was
    except OSError as exc:
        raise InputError(f"{path} could not be written: {exc.strerror}.", title="File not written",
                         hint=f"The previous file is kept{' in ' + str(backup) if backup else ''}.") from None
    entry = write_password(req.target, plan.password_file) if plan.password_file is not None else None
    return EnvResult(path, backup, changed, entry)


# -- .gitignore --------------------------------------------------------------------------------------------------

def _project_root(path: Path) -> Path:
    start = path.resolve().parent
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _matches(pattern: str, rel: str) -> bool:
    pat = pattern.rstrip("/")
    if "/" in pat.lstrip("/"):
        return fnmatch.fnmatchcase(rel, pat.lstrip("/"))
    if pat.startswith("/"):
        return fnmatch.fnmatchcase(rel, pat[1:])
    return any(fnmatch.fnmatchcase(part, pat) for part in rel.split("/"))


def gitignore_status(path: Path) -> tuple[bool, Path]:
    """Whether the project's .gitignore files ignore `path` (last matching pattern wins, `!` re-includes), and
    the .gitignore to add it to."""
    root = _project_root(path)
    target = path.resolve()
    ignored = False
    folders = [root, *[p for p in reversed(target.parents) if root in p.parents]]
    for folder in folders:
        gi = folder / ".gitignore"
        if not gi.is_file():
            continue
        rel = target.relative_to(folder).as_posix()
        for line in gi.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if _matches(line[1:] if negate else line, rel):
                ignored = not negate
    return ignored, root / ".gitignore"


def add_to_gitignore(path: Path) -> Path:
    """Add the .env file to the project's .gitignore (created when missing); returns that .gitignore."""
    covered, gi = gitignore_status(path)
    if covered:
        return gi
    rel = path.resolve().relative_to(gi.parent).as_posix()
    existing = gi.read_text(encoding="utf-8") if gi.exists() else ""
    sep = "" if not existing or existing.endswith("\n") else "\n"
    with open(gi, "a", encoding="utf-8") as fh:
        fh.write(f"{sep}/{rel}\n")
    return gi
