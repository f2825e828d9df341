"""Grade the same notebooks on this machine as it is, under a CPU quota, and beside a CPU hog.

The grade must be a property of the submission alone. This harness makes a slow machine
out of this one: a cgroup CPU quota (``cpu.cfs_quota_us`` on cgroup v1, ``cpu.max`` on v2;
root only) of, say, half a CPU, 4x less than this 2-core machine, and a second run with one
busy-loop process per core competing for the CPUs. Each run grades in a fresh process
(its own zygote, forkserver and speed measurement, all inside the quota) with the kit's
defaults, and the harness prints every grade that differs (there must be none), the
wall-time ratio to the unthrottled run and the speed factors each run measured.

    python bench/slow_machine.py                       # the demo's four students and the corpus
    python bench/slow_machine.py --set demo --cpus 0.5 # just the demo's students
    python bench/slow_machine.py --set demo --assignment lab06_en   # the English twin's demo
    python bench/slow_machine.py --pipeline            # CPUs one grading keeps busy (PIPELINE_CPUS)
    python bench/slow_machine.py --cpus 0.5 --run ./kit test   # any command on the slow machine

tests/test_grader_corpus.py grades one partial-credit corpus case under the quota with it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

from labkit.runner import cpus  # noqa: E402

PERIOD_US = 100_000


class QuotaUnavailable(RuntimeError):
    """This host cannot make a CPU-quota cgroup (not root, or no cpu controller)."""


def _cpu_hierarchy() -> tuple[str, Path, str]:
    """(version, mount point, this process's cgroup path) of a hierarchy with the cpu controller."""
    v1_path, v2_path = cpus._own_paths()
    for fstype, mount, options in cpus._mounts():
        if fstype == "cgroup" and "cpu" in options and v1_path is not None:
            return "v1", mount, v1_path
    for fstype, mount, _ in cpus._mounts():
        if fstype == "cgroup2" and v2_path is not None:
            try:
                if "cpu" in (mount / "cgroup.controllers").read_text().split():
                    return "v2", mount, v2_path
            except OSError:
                continue
    raise QuotaUnavailable("no cgroup hierarchy with the cpu controller")


@contextlib.contextmanager
def cpu_quota(cpus_allowed: float) -> Iterator[Path]:
    """A new cgroup below this process's own (so an outer quota still binds), capped at
    ``cpus_allowed`` CPUs; removed afterwards. Yields the folder to put processes in."""
    if os.geteuid() != 0:
        raise QuotaUnavailable("a CPU quota cgroup needs root")
    version, mount, own = _cpu_hierarchy()
    parent = mount / own.lstrip("/")
    folder = parent / f"labkit-slow-{os.getpid()}-{time.monotonic_ns()}"
    quota = max(1000, int(cpus_allowed * PERIOD_US))
    try:
        folder.mkdir()
        if version == "v1":
            (folder / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (folder / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            with contextlib.suppress(OSError):
                (parent / "cgroup.subtree_control").write_text("+cpu")
            (folder / "cpu.max").write_text(f"{quota} {PERIOD_US}")
    except OSError as exc:
        with contextlib.suppress(OSError):
            folder.rmdir()
        raise QuotaUnavailable(f"cannot set a CPU quota: {exc}") from None
    try:
        yield folder
    finally:
        _empty(folder, parent)


def _empty(folder: Path, parent: Path) -> None:
    """Move leftovers back to the parent, then remove the cgroup."""
    for _ in range(50):
        try:
            pids = (folder / "cgroup.procs").read_text().split()
        except OSError:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
        if not pids:
            break
        time.sleep(0.1)
    # A killed task can stay charged to the group for a moment after cgroup.procs reads
    # empty (rmdir: EBUSY); a long --run left its cgroup behind that way.
    for _ in range(50):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)


@contextlib.contextmanager
def cpu_hog(processes: int) -> Iterator[None]:
    """``processes`` busy loops at normal priority, competing with the grading for the CPUs."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True:\n    pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@dataclass
class Run:
    """One grading of the set: grades per notebook and part, and what the run measured."""

    label: str
    grades: dict[str, dict[str, float]] = field(default_factory=dict)
    credits: dict[str, list] = field(default_factory=dict)   # notebook -> [part, check, credit, status]
    flags: dict[str, list[str]] = field(default_factory=dict)
    machine: dict = field(default_factory=dict)
    usable_cpus: float = 0.0
    jobs: int = 0
    wall_seconds: float = 0.0
    grader_cpu_seconds: float = 0.0
    worker_cpu_seconds: float = 0.0
    session_seconds: float = 0.0


def grade_set(notebooks: list[Path], *, label: str, cgroup: Path | None = None,
              jobs: int | None = None, assignment: str = "lab06") -> Run:
    """Grade ``notebooks`` of ``assignment`` in a fresh child process (inside ``cgroup`` when given)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LABKIT_SPEED", "LABKIT_ZYGOTE_ADDRESS")}   # measured and started afresh inside
    with tempfile.TemporaryDirectory(prefix="labkit-slow-") as tmp:
        out = Path(tmp) / "run.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", str(out), "--assignment", assignment,
                *(["--jobs", str(jobs)] if jobs else []), *map(str, notebooks)]

        def join() -> None:
            if cgroup is not None:
                (cgroup / "cgroup.procs").write_text(str(os.getpid()))

        started = time.perf_counter()
        subprocess.run(argv, env=env, preexec_fn=join, check=True, cwd=REPO_ROOT)
        wall = time.perf_counter() - started
        run = Run(label=label, **json.loads(out.read_text()))
    run.wall_seconds = wall
    return run


def _child(out: Path, notebooks: list[Path], jobs: int | None, assignment: str) -> None:
    """Inside the (possibly throttled) child: grade with the kit's defaults, write a Run."""
    from labkit.grading import speed
    from labkit.core.assignment import load
    from labkit.runner.parallel import default_jobs, grade_many
    results = grade_many(notebooks, assignment=load(assignment, REPO_ROOT), jobs=jobs, cache=None, progress=False)
    timings = [r.timings for r in results.values()]
    data = {
        "grades": {nb.stem: {p: r.score for p, r in res.parts.items()} for nb, res in results.items()},
        "credits": {nb.stem: check_credits(res) for nb, res in results.items()},
        "flags": {nb.stem: sorted(res.flags) for nb, res in results.items()},
        "machine": {**speed.current().__dict__, "budget_scale": speed.current().budget_scale},
        "usable_cpus": cpus.usable_cpus(),
        "jobs": jobs or default_jobs(),
        "grader_cpu_seconds": sum(t.get("grader_cpu_seconds") or 0 for t in timings),
        "worker_cpu_seconds": sum(t.get("worker_cpu_seconds") or 0 for t in timings),
        "session_seconds": sum(t.get("session_seconds") or 0 for t in timings),
    }
    out.write_text(json.dumps(data))


def check_credits(result) -> list[list]:
    """Every check's (part, name, credit, status), sorted: what "identical grades" compares."""
    return sorted([c.part, c.name, c.credit, c.status] for part in result.parts.values() for c in part.checks)


def build_set(name: str, dest: Path, assignment: str = "lab06") -> list[Path]:
    """The notebooks of a named set: ``demo`` (the assignment's demo students), ``corpus``
    (every fixture case; lab06 only), ``quick`` (two correct styles and two mistakes), or
    both (``all``)."""
    from corpus import CASES, build
    from labkit.core.assignment import load
    from labkit.cli.demo import demo_students
    from labkit.term.submissions import build_submission, release_notebook
    lab = load(assignment, REPO_ROOT)
    if name != "demo" and lab.id != "lab06":
        raise SystemExit(f"--set {name}: the corpus is written against lab06's notebook; use --set demo")
    paths: list[Path] = []
    if name in ("demo", "all"):
        for student, replacements in demo_students(lab).items():
            path = dest / f"demo_{student}.ipynb"
            build_submission(path, replacements or {}, filled=replacements is not None,
                             release=release_notebook(REPO_ROOT, lab.id), source=lab.notebook)
            paths.append(path)
    if name in ("corpus", "all"):
        paths += [build(case, dest) for case in CASES]
    if name == "quick":
        paths += [build(case, dest) for case in QUICK]
    return paths


# Two correct styles and two mistakes in different parts: enough to see a grade move.
QUICK = ("correct_sequential", "correct_torch_random", "missing_sigmoid", "no_zero_grad")


def differences(base: Run, other: Run) -> list[str]:
    """Every (notebook, part) whose grade differs between two runs, and every notebook whose
    checks earned different credit (exact equality: the same seeds give the same numbers)."""
    out = []
    for nb, parts in base.grades.items():
        for part, score in parts.items():
            got = other.grades.get(nb, {}).get(part)
            if got != score:
                out.append(f"{nb}/{part}: {score} unthrottled, {got} {other.label}")
        if base.credits.get(nb) != other.credits.get(nb):
            out.append(f"{nb}: per-check credits differ ({other.label})")
    return out


def describe(run: Run, base: Run) -> str:
    m = run.machine
    return (f"{run.label:24} wall {run.wall_seconds:7.1f} s  x{run.wall_seconds / base.wall_seconds:5.2f}  "
            f"usable CPUs {run.usable_cpus:4.2f}  jobs {run.jobs}  speed: cpu x{m.get('cpu_factor', 0):.2f} "
            f"wall x{m.get('wall_factor', 0):.2f} (budgets x{m.get('budget_scale', 0):.2f})")


def pipeline(run: Run) -> str:
    """CPUs one grading keeps busy: its grader's and worker's CPU over its wall time."""
    if not run.session_seconds:
        return "pipeline: no timings"
    busy = (run.grader_cpu_seconds + run.worker_cpu_seconds) / run.session_seconds
    return (f"pipeline ({run.label}): grader {run.grader_cpu_seconds:.1f} s + worker "
            f"{run.worker_cpu_seconds:.1f} s CPU over {run.session_seconds:.1f} s of gradings "
            f"= {busy:.2f} CPUs per grading")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="all", choices=("demo", "corpus", "quick", "all"))
    parser.add_argument("--assignment", default="lab06", help="the assignment graded (default lab06)")
    parser.add_argument("--cpus", type=float, default=0.5, help="the quota, in CPUs (default 0.5)")
    parser.add_argument("--no-hog", action="store_true", help="skip the run beside a CPU hog")
    parser.add_argument("--pipeline", action="store_true", help="one run with jobs=1: CPUs per grading")
    parser.add_argument("--run", nargs=argparse.REMAINDER, help="run this command under the quota, then exit")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("notebooks", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.notebooks, args.jobs, args.assignment)
        return 0
    if args.run:
        with cpu_quota(args.cpus) as cgroup:
            started = time.perf_counter()
            code = subprocess.run(args.run, preexec_fn=lambda: (cgroup / "cgroup.procs").write_text(
                str(os.getpid()))).returncode
        print(f"slow_machine: {' '.join(args.run)!r} under {args.cpus:g} CPU: exit {code}, "
              f"{time.perf_counter() - started:.0f} s wall", flush=True)
        return code

    with tempfile.TemporaryDirectory(prefix="labkit-slow-set-") as tmp:
        notebooks = build_set(args.set, Path(tmp), args.assignment)
        print(f"{len(notebooks)} notebooks ({args.set}); this host: {cpus.usable_cpus():.2f} usable CPUs", flush=True)
        if args.pipeline:
            run = grade_set(notebooks, label="jobs=1", jobs=1, assignment=args.assignment)
            print(pipeline(run))
            return 0
        base = grade_set(notebooks, label="unthrottled", assignment=args.assignment)
        print(describe(base, base), flush=True)
        runs = []
        with cpu_quota(args.cpus) as cgroup:
            runs.append(grade_set(notebooks, label=f"quota {args.cpus:g} CPU", cgroup=cgroup,
                                  assignment=args.assignment))
        print(describe(runs[-1], base), flush=True)
        if not args.no_hog:
            with cpu_hog(os.cpu_count() or 1):
                runs.append(grade_set(notebooks, label=f"beside {os.cpu_count()} hogs", assignment=args.assignment))
            print(describe(runs[-1], base), flush=True)
        print(pipeline(base))
        bad = [d for run in runs for d in differences(base, run)]
        flagged = {f"{run.label}: {nb}": f for run in runs for nb, f in run.flags.items()
                   if set(f) & {"grader_overloaded", "grader_error", "grader_timeout"}}
        print(f"grades: {'identical in every run' if not bad else f'{len(bad)} differ'} "
              f"({len(base.grades)} notebooks x {len(next(iter(base.grades.values()), {}))} parts)")
        for line in bad:
            print("  DIFFERS", line)
        for key, f in flagged.items():
            print("  FLAGGED", key, f)
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
