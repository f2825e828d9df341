"""Speed of grading a class: stock serial nbgrader vs the kit, in the same run.

    .venv/bin/python bench/bench_speed.py [--n 40] [--jobs 2] [--skip-stock]

Generates a class of N submissions (correct styles, typical mistakes, a hanging and a
hostile one, cycled from the test corpus) and grades it four ways, each in its own
temporary course directory:

1. stock    - nbgrader autograde with nbgrader's own Execute (a kernel per notebook,
              the public asserts in-kernel, no hidden checks), serially;
2. serial   - nbgrader autograde with the kit's checks, one submission at a time, no cache;
3. fast     - nbgrader autograde with the kit's defaults (one grader per core, prefetch);
4. regrade  - the fast path again on the unchanged class (verdict cache).

It prints wall times and ratios, the median per submission, peak memory of any one
grading process, and the floor: each notebook run once on one thread (as the worker
timed it) plus the hidden checks alone (the grader's session minus the notebook run).
Grades of `serial` and `fast` must be identical; `stock` has no hidden checks, so its
scores differ by design and are not compared.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import corpus  # noqa: E402  (tests/corpus.py: the grader's fixture submissions)
from labkit.demo import part_table  # noqa: E402
from labkit.settings import ASSIGNMENT_ID  # noqa: E402
from labkit.submissions import build_submission, solution_sources  # noqa: E402

HANG = "while True:\n    pass\n"
HOSTILE = ("import torch, numpy\ntorch.allclose = lambda *a, **k: True\nnumpy.allclose = torch.allclose\n"
           "for _ in range(20000):\n    print('spam ' * 20)\n")

STOCK_CONFIG = """
import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
c = get_config()
c.CourseDirectory.course_id = "bench"
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_assignments = [dict(name={assignment!r})]
c.Execute.timeout = 120
"""


def make_class(folder: Path, n: int) -> list[tuple[str, Path]]:
    """N notebooks: corpus cases in turn, with one hanging and one hostile notebook per 20."""
    names = sorted(corpus.CASES)
    made = []
    for i in range(n):
        student = f"s{i:03d}"
        dest = folder / f"{student}.ipynb"
        if i % 20 == 7:
            build_submission(dest, {"experiments_solution_results": HANG + solution_sources()["experiments_solution_results"]})
            student += "_hang"
        elif i % 20 == 13:
            build_submission(dest, {"training_solution_optimizer": solution_sources()["training_solution_optimizer"] + "\n" + HOSTILE})
            student += "_hostile"
        else:
            case = names[i % len(names)]
            shutil.copy(corpus.build(case, folder / "built"), dest)
            student += f"_{case}"
        made.append((student, dest))
    return made


def make_course(root: Path, klass: list[tuple[str, Path]], *, stock: bool) -> Path:
    shutil.copytree(REPO / "source", root / "source")
    if stock:
        (root / "nbgrader_config.py").write_text(STOCK_CONFIG.format(root=str(root), assignment=ASSIGNMENT_ID))
    else:
        shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    nbgrader(root, "generate_assignment", ASSIGNMENT_ID, "--force")
    for student, notebook in klass:
        dest = root / "submitted" / student / ASSIGNMENT_ID / f"{ASSIGNMENT_ID}.ipynb"
        dest.parent.mkdir(parents=True)
        shutil.copy(notebook, dest)
    return root


def nbgrader(root: Path, *args: str) -> float:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               OMP_NUM_THREADS="1")
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=root, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def results_of(root: Path) -> list[dict]:
    folder = root / "reports" / "results" / ASSIGNMENT_ID
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="submissions in the class (default 40)")
    parser.add_argument("--jobs", type=int, default=0, help="graders at once on the fast path (0: one per core)")
    parser.add_argument("--skip-stock", action="store_true", help="skip stock nbgrader (saves a few minutes)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        tmp = Path(tmp)
        klass = make_class(tmp / "class", args.n)
        times = {}
        if not args.skip_stock:
            stock = make_course(tmp / "stock", klass, stock=True)
            times["stock"] = nbgrader(stock, "autograde", ASSIGNMENT_ID, "--force")
        serial = make_course(tmp / "serial", klass, stock=False)
        times["serial"] = nbgrader(serial, "autograde", ASSIGNMENT_ID, "--force", "--GradeInWorker.jobs=1",
                                   "--GradeInWorker.prefetch=False", "--GradeInWorker.cache_dir=")
        fast = make_course(tmp / "fast", klass, stock=False)
        jobs = [f"--GradeInWorker.jobs={args.jobs}"] if args.jobs else []
        times["fast"] = nbgrader(fast, "autograde", ASSIGNMENT_ID, "--force", *jobs)
        times["regrade"] = nbgrader(fast, "autograde", ASSIGNMENT_ID, "--force", *jobs)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        same = part_table(serial) == part_table(fast)
        runs = results_of(serial)
        floor = sum(r["timings"].get("notebook_seconds") or 0 for r in runs)
        checks = sum((r["timings"].get("session_seconds") or 0) - (r["timings"].get("notebook_seconds") or 0)
                     for r in runs)
        per_submission = [r["timings"].get("grade_seconds") or 0 for r in runs]
        worker_peak = max((r["timings"].get("worker_peak_mib") or 0 for r in runs), default=0)

    n = args.n
    print(f"class: {n} submissions, {os.cpu_count()} cores, fast path jobs={args.jobs or 'one per core'}")
    for name, seconds in times.items():
        print(f"  {name:8} {seconds:8.1f} s   ({seconds / n:5.2f} s per submission)")
    print(f"  floor    {floor:8.1f} s   (each notebook once on one thread)")
    print(f"  checks   {checks:8.1f} s   (hidden checks alone, serial sum)")
    print(f"median grading per submission (serial path): {statistics.median(per_submission):.2f} s")
    print(f"peak memory: worker {worker_peak:.0f} MiB, any one grading process {peak_mib:.0f} MiB")
    print("ratios:")
    if "stock" in times:
        print(f"  stock serial / fast           = {times['stock'] / times['fast']:.2f}x")
    print(f"  kit serial / fast             = {times['serial'] / times['fast']:.2f}x   (goal >= 2)")
    print(f"  fast / (floor + checks)       = {times['fast'] / (floor + checks):.2f}    (goal <= 0.6)")
    print(f"  regrade / fast                = {times['regrade'] / times['fast']:.3f}   (goal < 0.1)")
    print(f"grades identical on serial and fast paths: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
