"""The worker-process runner the copy and verify share: it works under a full-screen UI, and errors arrive whole."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wizard.data_copy.model import CopyError
from wizard.workers import Link, run_jobs, start_processes

REPO = Path(__file__).resolve().parent.parent


def _square(n: int, link: Link) -> int:
    link.report(("seen", n))
    return n * n


def _fail(n: int, link: Link) -> int:
    raise CopyError("orders", "42", "total", f"value {n} out of range")


def test_jobs_run_in_processes_and_report() -> None:
    seen: list[object] = []
    assert run_jobs(_square, [1, 2, 3, 4], workers=2, processes=True, on_message=seen.append) == [1, 4, 9, 16]
    assert sorted(seen) == [("seen", 1), ("seen", 2), ("seen", 3), ("seen", 4)]  # type: ignore[type-var]


def _pid(n: int, link: Link) -> int:
    return os.getpid()


def test_processes_started_ahead_do_the_jobs_and_end_with_them() -> None:
    """migrate starts its workers before the snapshot; the jobs must run in exactly those processes, which are
    already up (and have imported the job's module) before the jobs come, and are gone afterwards."""
    pool = start_processes(2, __name__)
    ahead = set(pool.executor._processes)  # type: ignore[attr-defined]
    assert len(ahead) == 2
    pids = run_jobs(_pid, list(range(6)), workers=2, processes=True, started=pool)
    assert set(pids) <= ahead
    assert not any(map(_alive, ahead))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_an_error_with_its_own_arguments_arrives_whole() -> None:
    with pytest.raises(CopyError) as exc:
        run_jobs(_fail, [7], workers=2, processes=True)
    err = exc.value
    assert (err.table, err.key, err.column) == ("orders", "42", "total") and "value 7" in err.pg_message
    assert err.hint and "--on-error skip" in err.hint


def test_processes_start_while_stderr_has_no_descriptor() -> None:
    """Under the wizard, sys.stderr is Textual's capture object (fileno() is -1); a fresh interpreter makes sure
    multiprocessing's helper process is not running yet."""
    script = textwrap.dedent("""
        import sys
        from tests.test_workers import _square
        from wizard.workers import run_jobs

        class Capture:
            def write(self, text): return len(text)
            def flush(self): pass
            def fileno(self): return -1

        if __name__ == "__main__":
            sys.stderr = Capture()
            print(run_jobs(_square, [2, 3], workers=2, processes=True))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[4, 9]"
