"""The target type each corpus column is planned as, to compare two versions of the planner.

    python bench/corpus_types.py --out types.json              # plan every readable corpus file, write its types
    python bench/corpus_types.py --compare before.json after.json   # the columns whose type differs
    python bench/corpus_types.py --sample 20000 --out sampled.json  # as `migrate` without a saved plan plans

Also prints, with --out, the seconds each file's plan took in total.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import CORPUS, corpus_files  # noqa: E402
from wizard.plan.planner import build_plan  # noqa: E402
from wizard.source.profile_jobs import Sample  # noqa: E402


def planned_types(sample: int | None = None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for path in corpus_files():
        plan = build_plan(path, sample=Sample(sample) if sample else None)
        out[str(path.relative_to(CORPUS))] = {f"{t.source}.{c.source}": c.pg_type for t in plan.tables
                                              for c in t.columns}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="write the planned types of every corpus column here")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    ap.add_argument("--sample", type=int, help="plan big tables from this many rows each")
    args = ap.parse_args()
    if args.out:
        start = time.perf_counter()
        types = planned_types(args.sample)
        args.out.write_text(json.dumps(types, indent=1, sort_keys=True))
        print(f"{len(types)} files, {sum(len(v) for v in types.values())} columns, "
              f"{time.perf_counter() - start:.1f} s")
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        differ = 0
        for file in sorted(set(before) | set(after)):
            a, b = before.get(file, {}), after.get(file, {})
            for col in sorted(set(a) | set(b)):
                if a.get(col) != b.get(col):
                    differ += 1
                    print(f"{file}: {col}: {a.get(col)} -> {b.get(col)}")
        print(f"{differ} column(s) differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
