"""End to end in a real terminal: the installed `pgmigrate-wizard` runs in tmux, keys are typed as a person would,
the screen is read with capture-pane, and the database is checked afterwards."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2

from wizard.target.connection import ConnectionSpec

REPO = Path(__file__).resolve().parent.parent


class Terminal:
    def __init__(self, command: str, cwd: Path, env: dict[str, str]) -> None:
        self.socket = f"pgmw-{uuid.uuid4().hex[:8]}"
        self.session = "wizard"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        script = f"cd {shlex.quote(str(cwd))} && env {exports} {command}; echo EXITED:$?; sleep 60"
        self._tmux("new-session", "-d", "-s", self.session, "-x", "100", "-y", "30", script)

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        return done.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-t", self.session, "-p")

    def keys(self, *keys: str) -> None:
        for k in keys:
            self._tmux("send-keys", "-t", self.session, k)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", text)
        time.sleep(0.3)

    def wait_for(self, *texts: str, timeout: float = 30) -> str:
        """Wait until every one of `texts` is on the screen at once (a step's title is painted before its content,
        which may still be loading in a worker)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{texts!r} did not all appear; the screen shows:\n{self.screen()}")

    def enter_url(self, url: str) -> None:
        """Type `url` into the URL field, where the Connection step starts. A step just shown ignores typing for a
        moment (keys meant for the step before it), so this waits like a person would, and types it again (after
        clearing the field) until the URL is seen in its field."""
        for _ in range(3):
            time.sleep(0.5)
            self.keys("C-u")
            self.type(url)
            try:
                self.wait_for(url[-20:], timeout=5)
                return
            except AssertionError:
                continue
        self.wait_for(url[-20:], timeout=1)

    def press_until(self, key: str, *texts: str, tries: int = 3, each: float = 10) -> str:
        """Press `key` until every one of `texts` shows. A key pressed while a step is still being shown can land
        on the step before it, so a press that changed nothing within `each` seconds is repeated."""
        for _ in range(tries - 1):
            self.keys(key)
            try:
                return self.wait_for(*texts, timeout=each)
            except AssertionError:
                continue
        self.keys(key)
        return self.wait_for(*texts, timeout=each)

    def close(self) -> None:
        self._tmux("kill-server")


def test_wizard_in_a_real_terminal(tmp_path: Path, pg_db: ConnectionSpec) -> None:
    assert shutil.which("tmux"), "tmux is needed for this test (.ci/run installs it)"
    program = Path(sys.executable).parent / "pgmigrate-wizard"
    assert program.exists(), f"the console script is not installed: {program}"
    subprocess.run([sys.executable, "-m", "wizard", "make-demo", "demo.db"], cwd=tmp_path,
                   check=True, capture_output=True)
    env = {"TERM": "xterm-256color", "PGPASSWORD": pg_db.password or "", "PATH": os.environ.get("PATH", ""),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "HOME": str(tmp_path)}
    term = Terminal(f"{shlex.quote(str(program))} demo.db", tmp_path, env)
    url = ConnectionSpec(pg_db.host, pg_db.port, pg_db.user, pg_db.dbname, "disable").url()
    try:
        term.wait_for("is a readable SQLite database")
        term.press_until("C-n", "2. Connection: where PostgreSQL is", "Test connection")
        term.enter_url(url)
        screen = term.press_until("C-t", "Connected.")
        assert "PostgreSQL 1" in screen and (pg_db.password or "@@") not in screen
        term.press_until("C-n", "3. Databases: one per")
        # no new databases: the data goes to the connection's database; the DDL preview is there
        term.press_until("C-n", "4. Schema: tables", "users", "-- pgmigrate-wizard DDL")
        term.press_until("C-n", "5. .env: the app")
        term.press_until("C-n", "6. Copy: the data")
        term.press_until("C-t", "Copied 248 rows", each=30)
        term.press_until("C-n", "7. Verify: did every")
        screen = term.press_until("C-t", "Verified: every row arrived", each=30)
        assert "✗" not in screen
        term.press_until("C-n", "EXITED:0")  # Finish
    finally:
        term.close()
    conn = psycopg2.connect(**pg_db.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM posts), (SELECT count(*) FROM tags)")
        assert cur.fetchone() == (50, 85, 78)
    conn.close()
    state = (tmp_path / "demo.db.pgmigrate.json").read_text()
    assert '"step": "verify"' in state and (pg_db.password or "@@") not in state
