"""The app's `.env`: connection settings merged into the existing file with python-dotenv's `set_key`.

Unrelated keys, comments and order stay; the previous file is backed up; a diff can be previewed first. The
password stays in the OS keyring unless the caller asks for it inline, and then the file is made 0600.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from dotenv import dotenv_values, set_key

from wizard.errors import InputError
from wizard.target.connection import ConnectionSpec
from wizard.target.credentials import SERVICE, keyring_status

STYLES = ("url", "pg-vars", "both")


@dataclass
class EnvRequest:
    path: Path
    target: ConnectionSpec  # the app's account and database; its password is written only if inline_password
    style: str = "url"
    inline_password: bool = False
    envs: list[str] | None = None  # environments for PG_DATABASE_*; default: from the database name

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


@dataclass
class EnvResult:
    path: Path
    backup: Path | None
    changed: list[str] = field(default_factory=list)


def keyring_comment(spec: ConnectionSpec) -> str:
    if not keyring_status().usable:
        return (f"# The PostgreSQL password of {spec.user} is not written here: give it to the app through "
                "PGPASSWORD or your secret store.")
    return (f"# The PostgreSQL password of {spec.user} is in the OS keyring; read it with: python -c \"import keyring; "
            f"print(keyring.get_password('{SERVICE}', '{spec.account}'))\"")


def env_values(req: EnvRequest) -> dict[str, str]:
    if req.style not in STYLES:
        raise InputError(f"Unknown .env style '{req.style}'.", title="Bad style",
                         hint=f"Use one of {', '.join(STYLES)}.")
    spec = req.target
    password = spec.password if req.inline_password else None
    if req.inline_password and not password:
        raise InputError("--inline-password was asked for, but no password is known for "
                         f"{spec.account}.", title="No password", hint="Set PGPASSWORD or store it in the keyring.")
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


def _mask(text: str, password: str | None) -> str:
    if not password:
        return text
    return text.replace(quote(password, safe=""), "***").replace(password, "***")


def plan_env(req: EnvRequest) -> EnvPlan:
    """Everything `write_env` would do, with a diff to show (nothing is written)."""
    path = req.path
    _check_path(path)
    values = env_values(req)
    comment = None if req.inline_password else keyring_comment(req.target)
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
    return EnvPlan(req, values, comment, _mask(diff, req.target.password), covered, gitignore)


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
    return EnvResult(path, backup, changed)


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
