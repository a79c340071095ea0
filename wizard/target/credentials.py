"""Passwords: PGPASSWORD first, then the OS keyring (service `pgmigrate-wizard`, account `user@host:port`).

keyring is optional at run time: where no usable backend exists (headless Linux, CI) we say so once and keep the
password for this session only. We never fall back to a plaintext file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from wizard.target.connection import ConnectionSpec

SERVICE = "pgmigrate-wizard"
# Windows Credential Manager stores UTF-16 blobs of at most 2560 bytes.
MAX_PASSWORD_CHARS = 1200

_session_passwords: dict[str, str] = {}
_warned_no_keyring = False


@dataclass(frozen=True)
class KeyringStatus:
    """Whether an OS keyring can be used here, and which one (for the UI to state clearly)."""

    usable: bool
    backend: str
    explanation: str


def keyring_status() -> KeyringStatus:
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception as exc:  # a broken PYTHON_KEYRING_BACKEND raises ValueError/ImportError, not KeyringError
        return KeyringStatus(False, "none", f"The OS keyring could not be loaded ({exc}).")
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if name.startswith(("keyring.backends.fail", "keyring.backends.null")):
        return KeyringStatus(False, name, "No OS keyring is available here; passwords are kept for this session "
                                          "only and asked again next time.")
    if "plaintext" in name.lower() or name.startswith("keyrings.alt.file"):
        return KeyringStatus(False, name, "The only keyring here writes passwords to a plain file; it is not used.")
    return KeyringStatus(True, name, f"Passwords are stored in the OS keyring ({type(backend).__name__}).")


def save_password(spec: ConnectionSpec, password: str) -> KeyringStatus:
    """Remember a password: in the keyring when usable, else for this session only. Returns what happened."""
    global _warned_no_keyring
    _session_passwords[spec.account] = password
    status = keyring_status()
    if len(password) > MAX_PASSWORD_CHARS:
        return KeyringStatus(False, status.backend, "The password is too long for the OS keyring; kept for this "
                                                    "session only.")
    if not status.usable:
        _warned_no_keyring = True
        return status
    try:
        import keyring

        if keyring.get_password(SERVICE, spec.account) != password:  # macOS re-prompts on every write
            keyring.set_password(SERVICE, spec.account, password)
    except Exception as exc:  # locked keychain, refused write...
        return KeyringStatus(False, status.backend, f"The OS keyring refused the password ({type(exc).__name__}); "
                                                    "kept for this session only.")
    return status


def load_password(spec: ConnectionSpec) -> str | None:
    """The remembered password for this server account, or None."""
    if spec.account in _session_passwords:
        return _session_passwords[spec.account]
    if not keyring_status().usable:
        return None
    try:
        import keyring

        value = keyring.get_password(SERVICE, spec.account)
    except Exception:
        return None
    return value if isinstance(value, str) else None


def delete_password(spec: ConnectionSpec) -> None:
    """Forget a password (idempotent)."""
    _session_passwords.pop(spec.account, None)
    if not keyring_status().usable:
        return
    try:
        import keyring

        keyring.delete_password(SERVICE, spec.account)
    except Exception:  # PasswordDeleteError when absent: already forgotten
        pass


def resolve_password(spec: ConnectionSpec) -> ConnectionSpec:
    """Fill in the password: one given in the DSN, else PGPASSWORD, else the keyring; libpq may still use .pgpass."""
    if spec.password:
        return spec
    env = os.environ.get("PGPASSWORD")
    if env:
        return spec.with_password(env)
    return spec.with_password(load_password(spec))


def forget_session() -> None:
    """Drop passwords kept for this session (used by tests and on exit)."""
    _session_passwords.clear()
