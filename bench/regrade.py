"""Determinism: regrade the test corpus K times from scratch and compare every check's credit.

    .venv/bin/python bench/regrade.py [--times 10] [--jobs 2]

No cache is used: each round grades every notebook again in fresh graders and workers.
Prints, per round, whether all credits equal those of round 1; exits 1 on any difference.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import corpus  # noqa: E402
from labkit.core.assignment import load  # noqa: E402
from labkit.runner.parallel import grade_many  # noqa: E402

LAB06 = load("lab06", REPO)   # the corpus is written against lab06's notebook


def credits(result) -> dict:
    return {(c.part, c.name): (c.credit, c.status) for p in result.parts.values() for c in p.checks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--times", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labkit-regrade-") as tmp:
        notebooks = sorted(corpus.build_all(Path(tmp)).values())
        first, differences = None, 0
        for round_number in range(1, args.times + 1):
            started = time.perf_counter()
            results = grade_many(notebooks, assignment=LAB06, jobs=args.jobs or None, cache=None, progress=False)
            seen = {nb.name: credits(r) for nb, r in results.items()}
            if first is None:
                first = seen
            changed = sorted(name for name in seen if seen[name] != first[name])
            differences += len(changed)
            print(f"round {round_number:2d}: {len(seen)} notebooks in {time.perf_counter() - started:6.1f} s, "
                  f"{'identical to round 1' if not changed else 'CHANGED: ' + ', '.join(changed)}", flush=True)
    print(f"{args.times} rounds, {differences} notebook-rounds differing from round 1")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
