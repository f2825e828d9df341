"""Grade one notebook: run the hidden tests in a trusted subprocess, return a SubmissionResult.

The subprocess is ``pytest grader_tests --submission NB --results-json OUT``; it never runs
student code itself (its worker does). Running it out of process keeps each grading
independent (fresh pytest, fresh hypothesis state) and lets callers grade in parallel.
A grader that dies or hangs still yields a result row: every part zero, with the reason.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labkit.notebook import InvalidNotebook, load_cells
from labkit.results import SubmissionResult, failed_submission
from labkit.settings import REPO_ROOT, load_settings

GRADER_TESTS = REPO_ROOT / "grader_tests"


def grader_env() -> dict[str, str]:
    """The trusted grader's environment: one thread, no user site, the kit importable."""
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg",
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(GRADER_TESTS)])
    return env


def grade_notebook(notebook: Path | str, *, timeout: float | None = None) -> SubmissionResult:
    """Run every hidden check against ``notebook`` (a path, or "reference")."""
    settings = load_settings()
    label = str(notebook)
    if notebook != "reference":
        try:
            load_cells(Path(notebook))
        except InvalidNotebook as exc:
            return failed_submission(label, str(exc), "invalid_notebook")
    timeout = timeout or settings.limits.notebook_seconds * 2 + 600
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "pytest", str(GRADER_TESTS), "-q", "-p", "no:cacheprovider",
               "--no-header", "-o", "console_output_style=classic", f"--rootdir={GRADER_TESTS}",
               "--submission", str(Path(notebook).resolve()) if notebook != "reference" else "reference",
               "--results-json", str(out)]
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=grader_env(), capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return failed_submission(label, f"grader timed out after {timeout:.0f} s", "grader_timeout")
        if not out.exists():
            # The grader's own output may quote hidden test code: TAs see it, students do not.
            result = failed_submission(label, f"grader exited with code {proc.returncode}", "grader_error")
            result.grader_log = (proc.stdout[-4000:] + proc.stderr[-4000:]).strip()
            return result
        result = SubmissionResult.load(out)
    result.notebook = label
    result.timings["grade_seconds"] = round(time.perf_counter() - started, 3)
    return result
