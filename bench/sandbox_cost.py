#!/usr/bin/env python
"""Wall-time cost of the bubblewrap sandbox per submission, against the rlimit fallback.

For the reference notebook (release + reference solutions + the cheap RESULTS grid of
tests/hostile.py) it measures, alternating the two modes within one run so that both see
the same machine load:

- ``worker``: ``Submission.start()`` (confined worker start-up + running every cell) and close;
- ``grade``:  ``labkit.grading.grade.grade_notebook`` (trusted pytest process, worker, every hidden check).

Each measurement runs in a fresh interpreter with ``LABKIT_SANDBOX`` set (``required`` for
bwrap, ``off`` for the fallback), so no state is shared between modes.

Usage::

    python bench/sandbox_cost.py                # 3 rounds of each mode
    python bench/sandbox_cost.py --rounds 5 --only worker
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODES = {"bwrap": "required", "fallback": "off"}


def _one(what: str, notebook: str) -> dict:
    """Runs in the child interpreter: one measurement, printed as JSON."""
    sys.path.insert(0, str(REPO_ROOT))
    from labkit.core.assignment import load
    from labkit.grading.client import Submission
    lab06 = load("lab06", REPO_ROOT)
    started = time.perf_counter()
    if what == "worker":
        sub = Submission(notebook=Path(notebook), assignment=lab06)
        sub._spawn()
        spawned = time.perf_counter()
        sub._run_cells(record=True)
        ran = time.perf_counter()
        statuses = sorted({run.status for run in sub.cell_runs.values()})
        sub.close()
        return {"total": time.perf_counter() - started, "spawn": spawned - started,
                "cells": ran - spawned, "statuses": statuses, "sandbox": sub.plan.kind}
    from labkit.grading.grade import grade_notebook
    result = grade_notebook(Path(notebook), assignment=lab06)
    return {"total": time.perf_counter() - started, "score": result.total, "sandbox": result.sandbox,
            "notebook_seconds": result.timings.get("notebook_seconds")}


def bare_launch(repeats: int = 20) -> dict[str, float]:
    """Median ms to start and finish ``/bin/true`` confined both ways: the set-up alone."""
    sys.path.insert(0, str(REPO_ROOT))
    from labkit.sandbox import launch as sandbox
    from labkit.core.settings import Limits
    out = {}
    with tempfile.TemporaryDirectory(prefix="sandbox-bare-") as tmp:
        for mode, policy in MODES.items():
            plan = sandbox.plan(policy)
            times = []
            for i in range(repeats):
                launch = sandbox.launch(plan, scratch=Path(tmp) / f"s{i}", limits=Limits(), generation=1)
                argv = launch.argv[:launch.argv.index("--") + 1] + ["/bin/true"] if "--" in launch.argv \
                    else ["/bin/true"]
                started = time.perf_counter()
                subprocess.run(argv, env=launch.env, cwd=launch.cwd, preexec_fn=launch.preexec_fn, check=True)
                times.append(time.perf_counter() - started)
                for path in launch.cleanup_paths:
                    sandbox.remove_cgroup(path)
            out[mode] = statistics.median(times) * 1000
    return out


def measure(what: str, mode: str, notebook: Path) -> dict:
    env = dict(os.environ, LABKIT_SANDBOX=MODES[mode], PYTHONDONTWRITEBYTECODE="1")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--one", what, str(notebook)], env=env,
                          capture_output=True, text=True, cwd=str(REPO_ROOT))
    if proc.returncode != 0:
        raise RuntimeError(f"{what}/{mode} failed:\n{proc.stderr[-3000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    data["process"] = time.perf_counter() - started
    return data


def build_reference(folder: Path) -> Path:
    sys.path.insert(0, str(REPO_ROOT))
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    import hostile
    return hostile.build_notebook(folder / "reference.ipynb", {}, course=folder, port=9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["worker", "grade"], default=None)
    parser.add_argument("--one", nargs=2, metavar=("WHAT", "NOTEBOOK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one(*args.one)))
        return 0
    bare = bare_launch()
    print(f"set-up alone (/bin/true): bwrap {bare['bwrap']:.1f} ms, fallback {bare['fallback']:.1f} ms")
    whats = [args.only] if args.only else ["worker", "grade"]
    samples: dict[tuple[str, str], list[dict]] = {(w, m): [] for w in whats for m in MODES}
    with tempfile.TemporaryDirectory(prefix="sandbox-cost-") as tmp:
        notebook = build_reference(Path(tmp))
        for rnd in range(args.rounds):
            for what in whats:
                order = list(MODES) if rnd % 2 == 0 else list(reversed(MODES))
                for mode in order:
                    sample = measure(what, mode, notebook)
                    samples[(what, mode)].append(sample)
                    print(f"round {rnd + 1} {what:6} {mode:8} {sample['total']:6.1f} s  "
                          + json.dumps({k: (round(v, 2) if isinstance(v, float) else v)
                                        for k, v in sample.items() if k != "total"}), flush=True)
    print()
    print("| measurement | bwrap median (s) | fallback median (s) | ratio bwrap / fallback |")
    print("|---|---|---|---|")
    for what in whats:
        for key in (["spawn", "cells", "total"] if what == "worker" else ["total"]):
            b = statistics.median(s[key] for s in samples[(what, "bwrap")])
            f = statistics.median(s[key] for s in samples[(what, "fallback")])
            label = {"spawn": "worker start", "cells": "notebook run", "total": f"{what} total"}[key]
            if what == "grade":
                label = "grade_notebook (start + run + hidden checks)"
            print(f"| {label} | {b:.2f} | {f:.2f} | {b / f:.3f} |")
    print(f"| set-up alone (`/bin/true`) | {bare['bwrap'] / 1000:.3f} | {bare['fallback'] / 1000:.3f} | "
          f"{bare['bwrap'] / bare['fallback']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
