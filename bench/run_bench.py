"""Side-by-side benchmark: `migrate` as a user runs it (no saved plan: it profiles the data first), `migrate` with a
plan saved beforehand, the ingest limit (server-side COPY FROM files of the same data, plus the same indexes and
foreign keys) and pgloader when installed. Prints rows/s, MB/s, peak RSS and the ratios.

python bench/run_bench.py --rows 1000000 [--workdir DIR] [--repeat N]
The built-in local server is used (it reads the exported files server-side, so it must be on this machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg2 import sql  # noqa: E402

from bench.generate import generate  # noqa: E402
from wizard.convert.text_copy import column_encoder, encode_line  # noqa: E402
from wizard.data_copy.statements import apply  # noqa: E402
from wizard.plan import ddl  # noqa: E402
from wizard.plan.planner import build_plan  # noqa: E402
from wizard.plan_model import MigrationPlan, default_plan_path, save_plan  # noqa: E402
from wizard.target.connection import ConnectionSpec, connect  # noqa: E402
from wizard.target.resolve import ensure_database  # noqa: E402


def drop_db(admin: ConnectionSpec, name: str) -> None:
    conn = connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def fresh_db(admin: ConnectionSpec, name: str) -> ConnectionSpec:
    """An empty database, and a CHECKPOINT so that no timed run pays for the WAL of the one before."""
    conn = connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ensure_database(admin, name)
    with conn.cursor() as cur:
        cur.execute("CHECKPOINT")
    conn.close()
    return admin.with_dbname(name)


def _tree_rss(root: int) -> int:
    """Resident memory of `root` and all its descendants (Linux /proc), in bytes."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
        total += int(line.split()[1]) * 1024
    return total


def run_migrate(db: Path, spec: ConnectionSpec, jobs: int, plan_file: Path | None = None) -> tuple[float, int]:
    """Seconds, and the peak of the summed RSS of migrate and its worker processes (sampled every 100 ms). Without
    `plan_file` migrate finds no saved plan and profiles the data first, as a user's first run does."""
    env = {**os.environ, "PGPASSWORD": spec.password or "", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    url = ConnectionSpec(spec.host, spec.port, spec.user, spec.dbname, spec.sslmode).url(mask=False)
    saved = ["--plan-file", str(plan_file)] if plan_file else []
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "wizard", *saved, "migrate", str(db), "--target", url,
                             "--jobs", str(jobs)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.1)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"migrate failed with exit code {proc.returncode}")
    return elapsed, peak


def run_verify(db: Path, spec: ConnectionSpec, jobs: int) -> tuple[float, int]:
    env = {**os.environ, "PGPASSWORD": spec.password or "", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    url = ConnectionSpec(spec.host, spec.port, spec.user, spec.dbname, spec.sslmode).url(mask=False)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "wizard", "verify", str(db), "--target", url, "--jobs", str(jobs)],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, done.returncode


def export_files(db: Path, plan: MigrationPlan, folder: Path) -> tuple[dict[str, Path], int]:
    """COPY text files of the same converted data (outside the timer); returns files and their total bytes."""
    import sqlite3

    conn = sqlite3.connect(db)
    files, total = {}, 0
    for t in plan.included_tables:
        encs = [column_encoder(c) for c in t.columns]
        path = folder / f"{db.stem}.{t.target}.copy"  # one set per database: each size has its own
        if path.exists() and path.stat().st_mtime > db.stat().st_mtime:  # exported by an earlier run
            files[t.target] = path
            total += path.stat().st_size
            continue
        with open(path, "w", encoding="utf-8") as fh:
            cur = conn.execute(f'SELECT {", ".join(chr(34) + c.source + chr(34) for c in t.columns)} FROM "{t.source}"')
            while rows := cur.fetchmany(10_000):
                fh.write("".join(encode_line(encs, r) + "\n" for r in rows))
        os.chmod(path, 0o644)
        files[t.target] = path
        total += path.stat().st_size
    conn.close()
    return files, total


def run_reference(plan: MigrationPlan, spec: ConnectionSpec, files: dict[str, Path]) -> float:
    t0 = time.perf_counter()
    conn = connect(spec)
    apply(conn, ddl.phase1(plan))
    with conn.cursor() as cur:
        for t in plan.included_tables:
            cur.execute(f'COPY "public"."{t.target}" FROM %s', (str(files[t.target]),))
    apply(conn, ddl.phase2(plan))
    conn.commit()
    conn.close()
    return time.perf_counter() - t0


def run_pgloader(db: Path, admin: ConnectionSpec, plan: MigrationPlan) -> tuple[float, int]:
    """Seconds, and the rows pgloader loaded into the plan's tables (it may stop early, or skip rows it rejects:
    a run that loaded fewer rows than the source has is no time to compare with)."""
    target = fresh_db(admin, "bench_pgl")
    url = target.url(mask=False)  # pgloader takes the password only inside its URL
    t0 = time.perf_counter()
    subprocess.run(["pgloader", str(db), url], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    conn = connect(target)
    loaded = 0
    with conn.cursor() as cur:
        for t in plan.included_tables:
            cur.execute("SELECT schemaname FROM pg_tables WHERE tablename = %s", (t.target,))
            found = cur.fetchone()
            if found:
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(found[0], t.target)))
                loaded += cur.fetchone()[0]
    conn.close()
    drop_db(admin, "bench_pgl")
    return elapsed, loaded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeat", type=int, default=1, help="rounds of reference, migrate and pgloader, one after "
                    "the other; the ratios are then the medians of the rounds' own ratios (this machine is noisy)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pgmw-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)
    db = work / f"bench-{args.rows}.db"
    if not db.exists():
        generate(db, args.rows)
    default_plan_path(db).unlink(missing_ok=True)  # the headline run finds no saved plan, as a user's first run
    # What the saved-plan run is given with --plan-file, and the reference's tables: made anew by this code every
    # time (a plan kept from an earlier version would time that version's choices).
    plan_file = work / f"bench-{args.rows}.plan.json"
    plan = build_plan(db)
    save_plan(plan, plan_file)
    from wizard.target.local_server import start_local_server

    server = start_local_server(work / "pg")
    admin = server.spec()
    files, nbytes = export_files(db, plan, work)
    mb = nbytes / 1e6
    has_pgloader = shutil.which("pgloader") is not None
    print(f"rows: {args.rows:,}   SQLite file: {db.stat().st_size / 1e6:.0f} MB   COPY text: {mb:.0f} MB")
    print(f"{'method':<28}{'seconds':>9}{'rows/s':>12}{'MB/s':>8}{'x limit':>9}")

    def line(name: str, seconds: float, ref: float, extra: str = "") -> None:
        print(f"{name:<28}{seconds:>9.2f}{args.rows / seconds:>12,.0f}{mb / seconds:>8.1f}{seconds / ref:>9.2f}{extra}")

    ratios, saved_ratios, vs_pgl, peaks = [], [], [], []
    for round_no in range(1, args.repeat + 1):
        if args.repeat > 1:
            print(f"-- round {round_no} of {args.repeat}")
        for backup in work.glob("*.pgmigrate-backup-*"):
            backup.unlink()  # the snapshots of earlier rounds
        ref = run_reference(plan, fresh_db(admin, "bench_ref"), files)
        drop_db(admin, "bench_ref")  # or its autovacuum would run during the next timed run
        saved, saved_rss = run_migrate(db, fresh_db(admin, "bench_mig"), args.jobs, plan_file)
        drop_db(admin, "bench_mig")
        mig, rss = run_migrate(db, fresh_db(admin, "bench_mig"), args.jobs)
        ratios.append(mig / ref)
        saved_ratios.append(saved / ref)
        peaks += [rss, saved_rss]
        line("COPY-from-file reference", ref, ref)
        line("migrate (no saved plan)", mig, ref)
        line("migrate (plan saved before)", saved, ref)
        print(f"peak RSS, all processes together: {rss / 1e6:.0f} MB (no saved plan), {saved_rss / 1e6:.0f} MB "
              "(plan saved before)")
        if round_no == args.repeat:
            ver, code = run_verify(db, admin.with_dbname("bench_mig"), args.jobs)
            line("pgmigrate-wizard verify", ver, ref,
                 f"   ({'verified' if code == 0 else f'exit {code}'}; {ver / mig:.2f}x the copy's time)")
        drop_db(admin, "bench_mig")
        if has_pgloader:
            pgl, loaded = run_pgloader(db, admin, plan)
            total = sum(t.row_count for t in plan.included_tables)
            if loaded != total:
                print(f"pgloader: loaded {loaded:,} of {total:,} rows in {pgl:.2f} s; not compared")
                continue
            vs_pgl.append(pgl / mig)
            line("pgloader", pgl, ref)
            print(f"pgloader took {pgl / mig:.2f}x the time of migrate (no saved plan)")
    if not has_pgloader:
        print("pgloader: not installed (apt-get install pgloader to compare)")
    if args.repeat > 1:
        print(f"-- {args.repeat} rounds: migrate (no saved plan) / reference median {statistics.median(ratios):.2f} "
              f"({', '.join(f'{r:.2f}' for r in ratios)}); with a saved plan "
              f"{statistics.median(saved_ratios):.2f} ({', '.join(f'{r:.2f}' for r in saved_ratios)})"
              + (f"; pgloader took {statistics.median(vs_pgl):.2f}x its time (median) "
                 f"({', '.join(f'{r:.2f}' for r in vs_pgl)})" if vs_pgl else "")
              + f"; peak RSS {min(peaks) / 1e6:.0f}-{max(peaks) / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
