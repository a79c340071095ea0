"""Typed errors that carry a human explanation and a next step, shared by the CLI and the TUI."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class WizardError(Exception):
    """An expected failure: shown to the user as a title, one sentence and a hint, never as a traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, title: str = "Error", hint: str = "", ui_hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.title = title
        self.hint = hint
        self.ui_hint = ui_hint  # the next step as the wizard's screens say it (no command-line flags), if it differs

    def __reduce__(self) -> tuple[object, ...]:
        # Rebuilt from its fields, not by calling __init__ again (subclasses take other arguments): an error
        # raised in a worker process arrives in the parent whole.
        return (_rebuild, (type(self), self.args, self.__dict__))

    def render(self) -> str:
        """The text printed by the CLI: the sentence, then the next step on its own line."""
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n  next step: {self.hint}"
        return text


class InputError(WizardError):
    """Bad input: a file that is not SQLite, a malformed DSN, an unreachable server (exit code 2)."""


class StepFailed(WizardError):
    """A step ran but its check failed: a verification mismatch, rejected rows (exit code 1)."""

    exit_code = EXIT_FAILED


class Cancelled(WizardError):
    """The user stopped the work; what was committed stays and a rerun resumes (exit code 130)."""

    exit_code = EXIT_INTERRUPTED


def _rebuild(cls: type[WizardError], args: tuple[object, ...], state: dict[str, object]) -> WizardError:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err
