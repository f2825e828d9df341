"""Grading many notebooks at once: a local pool or a Dask cluster, with a progress bar.

Each submission is graded by its own trusted subprocess (``grade_notebook``), so a pool
of threads is enough to keep one single-threaded grader per core busy. Results come back
to the caller's process, which alone writes the gradebook (SQLite takes one writer).
"""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from labkit.runner import cpus
from labkit.core import flags
from labkit.grading import speed
from labkit.core.assignment import Assignment
from labkit.grading.fingerprint import grader_fingerprint
from labkit.runner.cache import ResultCache, submission_key
from labkit.grading.grade import grade_notebook
from labkit.core.results import SubmissionResult

# CPUs one grading keeps busy: its trusted grader and its worker mostly take turns (the
# grader waits for each reply), so together they need about one CPU. Measured by
# bench/slow_machine.py --pipeline (grader + worker CPU seconds over wall seconds, jobs=1).
PIPELINE_CPUS = 1.0


def default_jobs() -> int:
    """One grading per usable CPU (affinity and cgroup quota), each grader single-threaded."""
    return cpus.default_jobs(PIPELINE_CPUS)


def grade_many(notebooks: list[Path], *, assignment: Assignment, jobs: int | None = None,
               scheduler: str | None = None, cache: ResultCache | None = None,
               progress: bool = True) -> dict[Path, SubmissionResult]:
    """Grade every notebook of ``assignment``; cached verdicts are reused, the rest run
    ``jobs`` at a time."""
    results: dict[Path, SubmissionResult] = {}
    fingerprint = grader_fingerprint(assignment)   # reads the assignment's files once per batch
    keys = {nb: submission_key(nb, assignment, fingerprint) for nb in notebooks}
    todo = []
    for nb in notebooks:
        hit = cache.get(keys[nb]) if cache else None
        if hit is not None:
            hit.timings["cached"] = True
            results[nb] = hit
        else:
            todo.append(nb)
    if todo and not scheduler:
        speed.current()   # measured once, before the pool, for every grader of this run
    bar = _progress(len(notebooks), initial=len(results), enabled=progress)
    failed = 0
    if scheduler:
        finished = _grade_on_dask(todo, scheduler, assignment)
    else:
        finished = _grade_locally(todo, jobs or default_jobs(), assignment)
    retry = []
    for nb, result in finished:
        results[nb] = result
        if cache:
            cache.put(keys[nb], result)
        if flags.TRANSIENT & set(result.flags):
            retry.append(nb)
        failed += bool(flags.FAILURE & set(result.flags))
        bar.set_postfix_str(f"failed={failed}")
        bar.update(1)
    bar.close()
    # A grader failure or an overloaded host is not the student's doing: grade those again,
    # one at a time so that this run's own load is gone. What still fails keeps its flag
    # (and stays out of the cache), so the report shows it and the next run retries it.
    for nb, result in (_grade_locally(retry, 1, assignment) if retry and not scheduler else ()):
        if cache:
            cache.put(keys[nb], result)
        result.flags = sorted(set(result.flags) | {"retried"})   # this run's note, not cached
        results[nb] = result
    return results


def _grade_locally(todo: list[Path], jobs: int, assignment: Assignment):
    if todo:
        from labkit.grading.grade import zygote_env
        zygote_env()   # started here, not in a pool thread whose exit would take it down
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_notebook, nb, assignment=assignment): nb for nb in todo}
        for future in as_completed(futures):
            yield futures[future], future.result()


def grade_bytes(content: bytes, name: str, assignment_id: str, course_root: str) -> str:
    """Grade a notebook given as bytes (for remote workers that share no notebook files;
    the course root, with its assignments' descriptions, is at ``course_root`` there too)."""
    import tempfile

    from labkit.core.assignment import load
    with tempfile.TemporaryDirectory(prefix="labkit-remote-") as tmp:
        path = Path(tmp) / "submission.ipynb"
        path.write_bytes(content)
        result = grade_notebook(path, assignment=load(assignment_id, course_root))
    result.notebook = name
    return result.to_json()


def _grade_on_dask(todo: list[Path], scheduler: str, assignment: Assignment):
    from dask.distributed import Client, as_completed as dask_completed
    with Client(scheduler) as client:
        futures = {client.submit(grade_bytes, nb.read_bytes(), str(nb), assignment.id, str(assignment.root),
                                 pure=False): nb for nb in todo}
        for future in dask_completed(list(futures)):
            yield futures[future], SubmissionResult.from_json(future.result())


class _NoBar:
    def set_postfix_str(self, *_):
        pass

    def update(self, *_):
        pass

    def close(self):
        pass


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc="labkit: grading", unit="nb", file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5)
