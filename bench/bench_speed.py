"""Speed of grading a class: stock serial nbgrader vs the kit, in the same run.

    .venv/bin/python bench/bench_speed.py [--n 40] [--jobs 2] [--skip-serial]

Generates a class of N distinct submissions (correct styles and typical mistakes cycled
from the test corpus, one hanging and one hostile notebook per 20; each carries its
student's name, so no two share a verdict-cache key) and grades it four ways, each in
its own temporary course directory:

1. stock    - plain `nbgrader autograde` at nbgrader's default settings (Execute, a kernel
              per notebook, 30 s cell timeout, serial). The source notebook's hidden test
              sections run the kit's own checks in the kernel (labkit/grading/inkernel.py);
2. serial   - the kit's GradeInWorker, one submission at a time, no prefetch, no cache;
3. fast     - the kit's defaults (one grader per core, prefetch, verdict cache);
4. regrade  - the fast path again on the unchanged class (verdict cache).

It prints wall times and ratios, the median per submission, peak memory of a worker
and of any one grading process, and the floor: each notebook run once on one thread
(worker start-up with its imports, plus the cells, as the serial path timed them) and
the hidden checks alone (each check's own duration, summed). Grades of the fast path are
compared with the stock and serial paths, part by part.
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
from labkit.core.assignment import load  # noqa: E402
from labkit.cli.demo import part_table  # noqa: E402
from labkit.grading.inkernel import write_stock_config  # noqa: E402
from labkit.term.submissions import build_submission, release_notebook, solution_sources  # noqa: E402

LAB06 = load("lab06", REPO)   # the corpus is written against lab06's notebook
ASSIGNMENT_ID = LAB06.id
PARTS = LAB06.part_ids

HANG = "while True:\n    pass\n"
HOSTILE = ("import torch, numpy\ntorch.allclose = lambda *a, **k: True\nnumpy.allclose = torch.allclose\n"
           "for _ in range(20000):\n    print('spam ' * 20)\n")



def make_class(folder: Path, n: int) -> list[tuple[str, Path]]:
    """N notebooks: corpus cases in turn, with one hanging and one hostile notebook per 20."""
    names = sorted(corpus.CASES)
    solutions = solution_sources(LAB06.notebook)
    files = {"release": release_notebook(REPO, ASSIGNMENT_ID), "source": LAB06.notebook}
    made = []
    for i in range(n):
        student = f"s{i:03d}"
        dest = folder / f"{student}.ipynb"
        if i % 20 == 7:
            build_submission(dest, {"experiments_solution_results": HANG + solutions["experiments_solution_results"]},
                             **files)
            student += "_hang"
        elif i % 20 == 13:
            build_submission(dest, {"training_solution_optimizer": solutions["training_solution_optimizer"] + "\n"
                                    + HOSTILE}, **files)
            student += "_hostile"
        else:
            case = names[i % len(names)]
            shutil.copy(corpus.build(case, folder / "built"), dest)
            student += f"_{case}"
        _sign(dest, student)
        made.append((student, dest))
    return made


def _sign(notebook: Path, student: str) -> None:
    """A comment with the student's name in the first answer cell: a class of distinct notebooks.

    An answer cell, because nbgrader restores locked cells: a comment there would make the
    autograded notebook differ from the submitted one (and miss the prefetched verdict).
    """
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = f"# {student}\n{source}"
            break
    notebook.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def make_course(root: Path, klass: list[tuple[str, Path]], *, stock: bool) -> Path:
    # The course root as the kit reads it (the stock path's in-kernel checks find their
    # description from the kernel's folder): notebooks, descriptions and checks, reference.
    for folder in ("source", "grader_tests", "reference"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    if stock:
        write_stock_config(root)
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


def differences(rows_a: list[dict], rows_b: list[dict]) -> list[str]:
    """Student/part cells whose scores differ between two gradebooks."""
    b = {row["student"]: row for row in rows_b}
    out = []
    for row in rows_a:
        other = b.get(row["student"], {})
        for part in PARTS:
            if abs(row[part] - other.get(part, -1.0)) > 1e-6:
                out.append(f"{row['student']}.{part}: {row[part]:g} vs {other.get(part, float('nan')):g}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="submissions in the class (default 40)")
    parser.add_argument("--jobs", type=int, default=0, help="graders at once on the fast path (0: one per core)")
    parser.add_argument("--skip-serial", action="store_true",
                        help="skip the kit's serial path (floor and checks then come from the fast path)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        tmp = Path(tmp)
        klass = make_class(tmp / "class", args.n)
        times = {}
        stock = make_course(tmp / "stock", klass, stock=True)
        times["stock"] = nbgrader(stock, "autograde", ASSIGNMENT_ID, "--force")
        if not args.skip_serial:
            serial = make_course(tmp / "serial", klass, stock=False)
            times["serial"] = nbgrader(serial, "autograde", ASSIGNMENT_ID, "--force", "--GradeInWorker.jobs=1",
                                       "--GradeInWorker.prefetch=False", "--GradeInWorker.cache_dir=")
        fast = make_course(tmp / "fast", klass, stock=False)
        jobs = [f"--GradeInWorker.jobs={args.jobs}"] if args.jobs else []
        times["fast"] = nbgrader(fast, "autograde", ASSIGNMENT_ID, "--force", *jobs)
        times["regrade"] = nbgrader(fast, "autograde", ASSIGNMENT_ID, "--force", *jobs)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        fast_rows = part_table(fast, LAB06)
        vs_stock = differences(fast_rows, part_table(stock, LAB06))
        vs_serial = [] if args.skip_serial else differences(fast_rows, part_table(serial, LAB06))
        runs = results_of(fast if args.skip_serial else serial)
        timing = [r["timings"] for r in runs]
        starts = sum(t.get("worker_start_seconds") or 0 for t in timing)
        floor = starts + sum(t.get("notebook_seconds") or 0 for t in timing)
        # Each check's own duration, summed: with lanes (labkit/core/lanes.py) checks run while
        # later cells still do, so the session's time after the cells no longer measures them.
        checks = sum(check.get("seconds") or 0 for r in runs for part in r["parts"].values()
                     for check in part["checks"])
        per_submission = [t.get("grade_seconds") or 0 for t in timing]
        worker_peak = max((t.get("worker_peak_mib") or 0 for t in timing), default=0)

    n = args.n
    print(f"class: {n} submissions, {os.cpu_count()} cores, fast path jobs={args.jobs or 'one per core'}")
    for name, seconds in times.items():
        print(f"  {name:8} {seconds:8.1f} s   ({seconds / n:5.2f} s per submission)")
    print(f"  floor    {floor:8.1f} s   (each notebook once on one thread: start-up {starts:.1f} s + cells)")
    print(f"  checks   {checks:8.1f} s   (hidden checks alone, serial sum)")
    source = "fast" if args.skip_serial else "serial"
    print(f"median grading per submission ({source} path): {statistics.median(per_submission):.2f} s")
    print(f"peak memory: worker {worker_peak:.0f} MiB, any one grading process {peak_mib:.0f} MiB")
    print("ratios:")
    print(f"  stock serial / fast           = {times['stock'] / times['fast']:.2f}x   (goal >= 2)")
    if "serial" in times:
        print(f"  kit serial / fast             = {times['serial'] / times['fast']:.2f}x")
    print(f"  fast / (floor + checks)       = {times['fast'] / (floor + checks):.2f}    (goal <= 0.6)")
    print(f"  regrade / fast                = {times['regrade'] / times['fast']:.3f}   (goal < 0.1)")
    print(f"grades, fast vs stock: {'identical' if not vs_stock else f'{len(vs_stock)} part scores differ'}")
    for line in vs_stock:
        print(f"    {line}")
    if not args.skip_serial:
        print(f"grades, fast vs kit serial: {'identical' if not vs_serial else f'{len(vs_serial)} differ'}")
        for line in vs_serial:
            print(f"    {line}")
    return 0 if not vs_serial else 1


if __name__ == "__main__":
    sys.exit(main())
