"""A full run with recognisable passwords; every output, file, process argument and the server log is scanned."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from psycopg2 import sql

from tests.conftest import drop_test_objects
from wizard.target.connection import ConnectionSpec

ADMIN_PW = "Adm1n-Tr4cer-Zq9"
APP_PW = "App-Tr4cer-Kx7"
SECRETS = (ADMIN_PW, APP_PW)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tracer_role(pg_server):  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]
    role, app = f"tracer_{tag}", f"tracer_app_{tag}"
    conn = pg_server.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(ADMIN_PW)))
    conn.close()
    yield role, app, tag
    drop_test_objects(pg_server, tag, (app, role))


def _cmdlines() -> list[str]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                continue
    return out


def _run(args: list[str], cwd: Path, env: dict[str, str], outputs: list[str], cmdlines: list[str]) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "wizard", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:  # sample every process's arguments while it runs (workers included)
        if os.path.isdir("/proc"):
            cmdlines.extend(_cmdlines())
        time.sleep(0.05)
    out, err = proc.communicate()
    outputs += [out, err]
    return proc.returncode


def test_passwords_never_leak(tmp_path: Path, pg_server, tracer_role) -> None:  # type: ignore[no-untyped-def]
    role, app, tag = tracer_role
    host, port = pg_server.admin.host, pg_server.admin.port
    server = ConnectionSpec(host, port, role, "postgres", "disable").url()
    target = ConnectionSpec(host, port, role, f"sec_{tag}_dev", "disable").url()
    env = {"PATH": os.environ.get("PATH", ""), "PGPASSWORD": ADMIN_PW, "PGMIGRATE_APP_PASSWORD": APP_PW,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "wizard", "make-demo", "demo.db"], cwd=tmp_path, check=True,
                   capture_output=True)
    outputs: list[str] = []
    cmdlines: list[str] = []
    steps = [
        (["inspect", "demo.db"], 0),
        (["plan", "demo.db", "--save"], 0),
        (["create-databases", "--server", server, "--base-name", f"sec_{tag}", "--app-role", app], 0),
        (["migrate", "demo.db", "--target", target, "--jobs", "2"], 0),
        (["verify", "demo.db", "--target", target, "--report", "report.md"], 0),
        (["verify", "demo.db", "--target", target, "--report", "report.json", "--json", "--jobs", "2"], 0),
        (["env-file", "--target", target, "--style", "both"], 0),
        (["--debug", "migrate", "demo.db", "--target", target.replace("_dev", "_nope")], 2),  # traceback shown
    ]
    for args, expected in steps:
        code = _run(args, tmp_path, env, outputs, cmdlines)
        assert code == expected, (args, outputs[-1])
    wrong = {**env, "PGPASSWORD": ADMIN_PW + "-wrong"}
    assert _run(["--debug", "verify", "demo.db", "--target", target], tmp_path, wrong, outputs, cmdlines) == 2
    assert "Traceback" in "".join(outputs)  # --debug really printed tracebacks, and they were scanned too

    leaks = []
    for text in outputs:
        leaks += [f"output: {s}" for s in SECRETS if s in text] + [f"output: {s}-wrong" for s in SECRETS
                                                                   if s + "-wrong" in text]
    leaks += [f"process arguments: {s}" for line in cmdlines for s in SECRETS if s in line]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"demo.db.pgmigrate.json", "report.md", "report.json", ".env"} <= {p.name for p in files}
    for path in files:
        data = path.read_bytes()
        leaks += [f"file {path.name}: {s}" for s in SECRETS if s.encode() in data]
    if pg_server.pgdata is not None:  # the server only ever saw the app role's SCRAM verifier
        log = (pg_server.pgdata / "log").read_bytes()
        leaks += [f"server log: {s}" for s in SECRETS if s.encode() in log]
    assert leaks == []
