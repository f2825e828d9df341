"""Grade one notebook: run the hidden tests in a trusted subprocess, return a SubmissionResult.

The subprocess is ``pytest grader_tests --submission NB --results-json OUT``; it never runs
student code itself (its worker does). Running it out of process keeps each grading
independent (fresh pytest, fresh hypothesis state) and lets callers grade in parallel.
A grader that dies or hangs still yields a result row: every part zero, with the reason.

The trusted subprocess is forked from a forkserver that has already imported torch,
numpy, scikit-learn, hypothesis and pytest (labkit/grading/forkserver.py), so each submission
pays for pytest's collection and its own checks, not for interpreter and library start-up.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

from labkit.grading import speed
from labkit.grading.forkserver import GRADER_PYTEST_ENV, context, grader_env, hidden_main
from labkit.core.assignment import Assignment
from labkit.core.i18n import tr
from labkit.core.notebook import InvalidNotebook, load_cells
from labkit.core.results import SubmissionResult, failed_submission
from labkit.core.settings import load_settings

def _run_pytest(args: list[str], cwd: str, log: str, env: dict[str, str], paths: list[str]) -> None:
    """Body of one grader child: fresh pytest session in a fresh fork, output to a log file."""
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(cwd)
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    import pytest
    code = pytest.main(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


def zygote_env() -> dict[str, str]:
    """Point grader children at this process's zygote, so no worker pays torch's start-up."""
    from labkit.sandbox import zygote
    settings = load_settings()
    if not settings.zygote or os.environ.get("LABKIT_ZYGOTE_ADDRESS"):
        return {}
    address = zygote.shared_address(settings.limits)
    return {"LABKIT_ZYGOTE_ADDRESS": address} if address else {}


def _run_grader(args: list[str], cwd: str, log: Path, timeout: float, assignment: Assignment) -> int | None:
    """Run pytest with ``args``; its exit code, or None after a timeout.

    Forked from the preloaded forkserver where we may have children; a daemonic process
    (a Dask worker) may not, so there the grader is a plain subprocess.
    """
    # One run, one speed factor: measured once here, handed to every grader.
    env = {**zygote_env(), speed.ENV: speed.current().to_env(), **GRADER_PYTEST_ENV, **assignment.env()}
    if multiprocessing.current_process().daemon:
        import subprocess
        with open(log, "wb") as out:
            try:
                return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, env={**grader_env(assignment), **env},
                                      stdout=out, stderr=subprocess.STDOUT, timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                return None
    child = context().Process(target=_run_pytest, args=(args, cwd, str(log), env, assignment.import_paths()),
                               daemon=False)
    with hidden_main():
        child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return child.exitcode


def grade_notebook(notebook: Path | str, *, assignment: Assignment,
                   timeout: float | None = None) -> SubmissionResult:
    """Run every hidden check of ``assignment`` against ``notebook`` (a path, or "reference")."""
    from labkit.core.assignment import activate
    activate(assignment)   # messages written here are in the assignment's language
    label = str(notebook)
    if notebook != "reference":
        try:
            load_cells(Path(notebook))
        except InvalidNotebook as exc:
            return failed_submission(label, str(exc), "invalid_notebook", assignment)
    # A backstop for a grader that hangs itself, never for student code (its budgets are CPU
    # time in the worker): as generous as the worst overload the budgets tolerate.
    limits = assignment.limit_settings()
    timeout = timeout or (limits.overload_multiple * (limits.notebook_seconds * 2 + 600)
                          * speed.current().budget_scale)
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as tmp:
        out = Path(tmp) / "result.json"
        log = Path(tmp) / "pytest.log"
        # no:unraisableexception: it runs two full gc.collect() as the session ends, and an
        # unraisable warning could not change a verdict anyway.
        args = [str(assignment.checks), "-q", "-p", "no:cacheprovider", "-p", "no:unraisableexception",
                "-p", "labkit.grading.pytest_plugin",
                # The checks raise CheckFailed with their own messages and never use a bare
                # assert, so pytest's assertion rewriting (~0.5 CPU s a grading) is skipped.
                "--no-header", "--tb=native", "--assert=plain", "-o", "console_output_style=classic", f"--rootdir={assignment.checks}",
                "--assignment", assignment.id, "--course-root", str(assignment.root),
                "--submission", str(Path(notebook).resolve()) if notebook != "reference" else "reference",
                "--results-json", str(out)]
        started = time.perf_counter()
        exitcode = _run_grader(args, tmp, log, timeout, assignment)
        if exitcode is None:
            return failed_submission(label, tr("sprawdzarka nie skończyła w {s:.0f} s", "the grader did not finish "
                                               "within {s:.0f} s", s=timeout), "grader_timeout", assignment)
        if not out.exists():
            # The grader's own output may quote hidden test code: TAs see it, students do not.
            result = failed_submission(label, tr("sprawdzarka zakończyła się kodem {c}", "the grader exited "
                                                 "with code {c}", c=exitcode), "grader_error", assignment)
            result.grader_log = log.read_text(errors="replace")[-8000:] if log.exists() else ""
            return result
        result = SubmissionResult.load(out)
    result.notebook = label
    result.timings["grade_seconds"] = round(time.perf_counter() - started, 3)
    return result
