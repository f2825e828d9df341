"""Instant feedback's speed (`labkit serve`) against the batch fast path, in the same run.

    .venv/bin/python bench/bench_service.py [--n 10] [--rush 40]

1. **idle latency**: N distinct lab06 submissions (the corpus's correct styles and typical
   mistakes, each signed with its student's name), submitted one at a time with
   `nbgrader submit` to a running service; the time from `submit` returning to the feedback
   page in the exchange (what `nbgrader fetch_feedback` fetches). p50 and p95.
2. **batch**: the same N notebooks collected into a fresh course and graded by
   `nbgrader autograde` (the kit's fast path): its wall time per submission.
3. **deadline rush**: R students submit within 60 s; the drain (first submit to last feedback
   released) against `nbgrader autograde` of the same R notebooks, and the longest wait.

The ratios are against the batch measured in the same run, so a slow or busy machine moves both
sides; no test times anything.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

import corpus  # noqa: E402
from bench_speed import _sign  # noqa: E402  (a comment with the student's name in an answer cell)
from exchange_course import COURSE_ID, Course  # noqa: E402
from labkit.service.service import ready_path  # noqa: E402

ASSIGNMENT = "lab06"


def make_course(base: Path) -> Course:
    base.mkdir(parents=True)
    c = Course(base)
    for folder in ("source", "grader_tests", "reference"):
        shutil.copytree(REPO / folder, c.root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    config = (REPO / "nbgrader_config.py").read_text(encoding="utf-8")
    # One Unix user plays every student here (as in tests/test_exchange.py).
    (c.root / "nbgrader_config.py").write_text(config + "\nc.ExchangeCollect.check_owner = False\n")
    c.instructor("generate_assignment", ASSIGNMENT)
    c.instructor("release_assignment", ASSIGNMENT)
    return c


def notebooks(folder: Path, n: int) -> list[tuple[str, Path]]:
    """N distinct submissions: corpus cases in turn, each signed with its student's name."""
    names = sorted(corpus.CASES)
    made = []
    for i in range(n):
        case = names[i % len(names)]
        student = f"s{i:03d}"
        dest = folder / f"{student}.ipynb"
        shutil.copy(corpus.build(case, folder / "built"), dest)
        _sign(dest, student)
        made.append((student, dest))
    return made


def submit(c: Course, student: str, notebook: Path) -> None:
    if not (c.home(student) / ASSIGNMENT).exists():
        c.student(student, "fetch_assignment", ASSIGNMENT)
    shutil.copy(notebook, c.home(student) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    c.student(student, "submit", ASSIGNMENT)


def released(c: Course) -> int:
    return len(list((c.exchange / COURSE_ID / "feedback").glob("*.html")))


def serve(c: Course) -> subprocess.Popen:
    """`labkit serve`, once it is warm (its ready file names its pid): students arrive later."""
    proc = subprocess.Popen([str(Path(sys.executable).parent / "labkit"), "serve", "--course", str(c.root),
                             "--exchange", str(c.exchange), "--rescan", "1"], cwd=c.root,
                            env={**c.env, "HOME": str(c.root.parent)}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=open(c.root.parent / "serve.log", "ab"))
    ready = ready_path(c.root)
    while not (ready.exists() and ready.read_text().strip() == str(proc.pid)):
        if proc.poll() is not None:
            raise RuntimeError(f"labkit serve exited: see {c.root.parent / 'serve.log'}")
        time.sleep(0.1)
    return proc


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(120)


def batch(base: Path, klass: list[tuple[str, Path]]) -> float:
    """`nbgrader autograde` of the class collected into a fresh course (the fast path)."""
    c = make_course(base)
    for student, notebook in klass:
        dest = c.root / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        dest.parent.mkdir(parents=True)
        shutil.copy(notebook, dest)
    started = time.perf_counter()
    c.instructor("autograde", ASSIGNMENT, "--force")
    return time.perf_counter() - started


def wait_for(count: int, c: Course, proc: subprocess.Popen) -> None:
    while released(c) < count:
        if proc.poll() is not None:
            raise RuntimeError(f"labkit serve exited: see {c.root.parent / 'serve.log'}")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10, help="submissions for the idle latency (default 10)")
    parser.add_argument("--rush", type=int, default=40, help="students in the deadline rush (0: skip)")
    args = parser.parse_args()
    from labkit.grading import speed
    machine = speed.current()   # the kit's own workload, against its baseline (>1: slower)
    print(f"machine: cpu factor {machine.cpu_factor:.2f}, wall factor {machine.wall_factor:.2f} "
          f"(labkit/grading/speed.py; 1.00 is the baseline host)")
    with tempfile.TemporaryDirectory(prefix="labkit-bench-service-") as tmp:
        tmp = Path(tmp)
        klass = notebooks(tmp / "class", max(args.n, args.rush))
        idle = klass[:args.n]
        c = make_course(tmp / "idle")
        proc = serve(c)
        latencies = []
        try:
            for student, notebook in idle:
                submit(c, student, notebook)
                started = time.perf_counter()
                wait_for(len(latencies) + 1, c, proc)
                latencies.append(time.perf_counter() - started)
        finally:
            stop(proc)
        per_batch = batch(tmp / "idle-batch", idle) / len(idle)
        p50 = statistics.median(latencies)
        p95 = sorted(latencies)[max(0, round(0.95 * len(latencies)) - 1)]
        print(f"idle: {len(idle)} submissions, one at a time")
        print(f"  latency p50 {p50:6.1f} s, p95 {p95:6.1f} s, each: {' '.join(f'{x:.1f}' for x in latencies)}")
        print(f"  batch fast path {per_batch:6.1f} s per submission (nbgrader autograde of the same {len(idle)})")
        print(f"  p50 / batch = {p50 / per_batch:.2f}x (goal <= 1.3), p95 / batch = {p95 / per_batch:.2f}x (goal <= 2)")
        if args.rush:
            rush = klass[:args.rush]
            c = make_course(tmp / "rush")
            proc = serve(c)
            try:
                started = time.perf_counter()
                sent = {}
                for i, (student, notebook) in enumerate(rush):   # spread over 60 s
                    time.sleep(max(0.0, started + 60.0 * i / len(rush) - time.perf_counter()))
                    submit(c, student, notebook)
                    sent[student] = time.time()          # the journal's clock
                wait_for(len(rush), c, proc)
                drain = time.perf_counter() - started
            finally:
                stop(proc)
            with sqlite3.connect(c.root / ".labkit-service" / "journal.sqlite") as db:
                done = dict(db.execute("SELECT student, MAX(finished) FROM entries WHERE state = 'released' "
                                       "GROUP BY student").fetchall())
            longest = max(done[s] - sent[s] for s in done)
            whole = batch(tmp / "rush-batch", rush)
            print(f"rush: {len(rush)} students within 60 s")
            print(f"  drain {drain:6.1f} s, nbgrader autograde of the same {len(rush)}: {whole:6.1f} s, "
                  f"drain / autograde = {drain / whole:.2f}x (goal <= 1.1); longest wait {longest:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
