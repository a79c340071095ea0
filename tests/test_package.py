"""The package as a user gets it: built as a wheel and an sdist (`python -m build`), installed from the wheel with
pipx as the README says, into a PEP 668-protected Python when the machine has one (Debian's /usr/bin/python3),
then `pgmigrate-wizard --help` and the demo run from that install, not from this checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _protected_python() -> str:
    """A Python that refuses `pip install` outside a virtual environment (PEP 668), else this one."""
    for candidate in ("/usr/bin/python3",):
        if not Path(candidate).exists():
            continue
        stdlib = subprocess.run([candidate, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                                capture_output=True, text=True, check=False).stdout.strip()
        if stdlib and (Path(stdlib) / "EXTERNALLY-MANAGED").exists():
            return candidate
    return sys.executable


@pytest.fixture(scope="module")
def dist() -> Iterator[Path]:
    out = Path(tempfile.mkdtemp(prefix="pgmw-dist-"))
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    yield out
    shutil.rmtree(out, ignore_errors=True)


def test_wheel_and_sdist_hold_what_runs(dist: Path) -> None:
    wheel = next(dist.glob("pgmigrate_wizard-*.whl"))
    sdist = next(dist.glob("pgmigrate_wizard-*.tar.gz"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("wizard/cli/main.py", "wizard/demo.py", "wizard/py.typed", "screens/wizard.tcss",
                   "wizard/data_copy/run.py", "screens/app.py"):
        assert needed in names, f"{needed} missing from the wheel"
    assert not any(n.startswith("tests/") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "pgmigrate-wizard = wizard.cli.main:main" in zipfile.ZipFile(wheel).read(entry).decode()
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    for needed in ("pyproject.toml", "README.md", "wizard/cli/main.py", "screens/wizard.tcss"):
        assert needed in members, f"{needed} missing from the sdist"


def test_pipx_install_of_the_wheel_runs_the_demo(dist: Path) -> None:
    python = _protected_python()
    if python != sys.executable:  # the point: pip itself refuses this Python outside a venv
        refused = subprocess.run([python, "-m", "pip", "install", "--dry-run", "six"], capture_output=True,
                                 text=True, check=False)
        assert refused.returncode != 0 and "externally-managed-environment" in refused.stdout + refused.stderr
    # outside $HOME and world-readable: as root the built-in server runs as another user that must reach it
    home = Path(tempfile.mkdtemp(prefix="pgmw-home-"))
    os.chmod(home, 0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "VIRTUAL_ENV", "PYTHON", "XDG_"))}
    bin_dir = home / ".local" / "bin"
    env.update(HOME=str(home), PIPX_HOME=str(home / ".local" / "pipx"), PIPX_BIN_DIR=str(bin_dir),
               PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    pipx = [sys.executable, "-m", "pipx"]
    try:
        wheel = next(dist.glob("pgmigrate_wizard-*.whl"))
        done = subprocess.run([*pipx, "install", "--python", python, str(wheel)], capture_output=True, text=True,
                              env=env, timeout=900, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        program = shutil.which("pgmigrate-wizard", path=str(bin_dir))
        assert program is not None, f"pipx put no pgmigrate-wizard into {bin_dir}"
        venv_python = Path(program).resolve().parent / "python"
        where = subprocess.run([str(venv_python), "-c", "import wizard; print(wizard.__file__)"],
                               capture_output=True, text=True, env=env, cwd=home, check=True).stdout
        assert str(REPO) not in where and "pipx" in where  # the installed copy, not this checkout

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([program, *args], capture_output=True, text=True, env=env, cwd=home, timeout=600,
                                  check=False)

        helped = run("--help")
        assert helped.returncode == 0 and "migrate" in helped.stdout and "make-demo" in helped.stdout
        assert run("make-demo", "demo.db").returncode == 0
        migrated = run("migrate", "demo.db", "--target", "local")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert "snapshot:" in migrated.stdout
        verified = run("verify", "demo.db", "--target", "local")
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        _stop_servers(home, env)
        shutil.rmtree(home, ignore_errors=True)


def _stop_servers(home: Path, env: dict[str, str]) -> None:
    """Stop the built-in server the demo started under this home (its data is under the user data folder)."""
    for pgdata in home.rglob("PG_VERSION"):
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                        "from wizard.target.local_server import stop_local_server; "
                        "stop_local_server(Path(sys.argv[1]), mode='immediate')", str(pgdata.parent)],
                       cwd=REPO, env={**env, "PATH": os.environ.get("PATH", "")}, check=False, capture_output=True,
                       timeout=120)

