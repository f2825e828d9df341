"""Stock-nbgrader mode: the same hidden checks, run inside the notebook's own kernel.

The source notebook's hidden test sections call ``grade_part``. The kit's
``GradeInWorker`` never executes autograder cells, so on the kit's path this code is inert.
Under plain ``nbgrader autograde`` (nbgrader's ``Execute``, no kit config) the line runs in the
student's kernel and awards the same partial credit as the kit would. That run is the
baseline of ``bench/bench_speed.py``, and a fallback for a course without the kit's config.

It is NOT safe, which is the point of the comparison: student code shares this process with
the checks and can rebind what they use. The kit's grades are the trusted ones.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from labkit.core import assignment as assignments
from labkit.core.assignment import Assignment
from labkit.core.results import CellStatus
from labkit.grading.client import CellRun, Submission
from labkit.protocol.codec import read_message, write_message
from labkit.protocol.messages import Reply, Request
from labkit.core.i18n import language
from labkit.core.notebook import CodeCell
from labkit.core.settings import THREADS, load_settings
from labkit.grading.speed import MachineSpeed

ACTIVE: "KernelSubmission | None" = None
_STATUS: dict[int, CellStatus] = {}   # IPython execution count -> ok | error | timeout, once hooked


class KernelSubmission(Submission):
    """The Submission interface over a namespace in this very process (no worker, no limits).

    Requests and replies still travel through the codec, so the checks see exactly the
    values they would get over the worker's pipe.
    """

    def __init__(self, namespace: dict[str, Any], cells: list[CodeCell], status: dict[int, str],
                 assignment: Assignment):
        # No budgets here: nbgrader's cell timeout is the only limit (MachineSpeed() scales nothing).
        self._init_state(assignment, settings=load_settings(), limits=assignment.limit_settings(),
                         plan=SimpleNamespace(kind="kernel"), cells=cells, machine=MachineSpeed())
        # What the worker would know: the cells run so far and how each ended. An interrupted
        # cell (nbgrader's timeout) is skipped like a timed-out cell on the kit's path.
        self.cell_runs = {i: CellRun(i, status=s) for i, s in status.items()}
        self.bad_cells = {i for i, s in status.items() if s == "timeout"}
        self.flags = {"in_kernel"}
        self.generation = 1
        self._namespace = namespace
        self._worker = None

    @property
    def proc(self):
        """No worker process: the kernel is the worker."""
        return None

    def start(self) -> None:
        from labkit.worker.server import Worker
        self._worker = Worker(self.generation, self.limits.output_bytes, 0, namespace=self._namespace)
        self._worker.load(self.assignment.id, self.assignment.helper_source(), language())

    def close(self) -> None:
        self._worker = None

    def _ensure_alive(self, what: str) -> None:
        if self._worker is None:
            self.start()

    def _request(self, request: Request, what: str, timeout: float) -> Reply:
        wire = _round_trip(request.to_wire())
        started = time.process_time()
        try:
            reply = self._worker.handle(wire)
        except Exception as exc:  # the worker's main loop turns these into replies too
            from labkit.worker.server import _describe_error
            reply = Reply(ok=False, error=_describe_error(exc), internal=True).to_wire()
        finally:
            self.last_cpu_seconds = time.process_time() - started
        if (reply.get("error") or {}).get("type") == "KeyboardInterrupt":
            # The worker treats an interrupt as the student's exception; here it is nbgrader
            # stopping the cell at its timeout, and grading must stop with it.
            raise KeyboardInterrupt(what)
        return Reply.from_wire(_round_trip(reply))


# A course of plain nbgrader at its default settings (Execute in a kernel, 30 s per cell):
# the baseline the kit is compared with. Only what nbgrader needs to find the course is set.
STOCK_CONFIG = """\
import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
c = get_config()
c.CourseDirectory.course_id = "stock"
c.CourseDirectory.root = {root!r}
"""


def write_stock_config(root: Path, *, cell_timeout: int | None = None) -> Path:
    """nbgrader_config.py for ``root`` as a stock-nbgrader course (no kit preprocessors).

    ``cell_timeout``: nbgrader's per-cell wall-time limit, when not its default (30 s).
    Stock nbgrader has only wall time, so a slow host interrupts cells that an idle one
    finishes (and an interrupted part scores 0, see ``grade_part``); a test that compares
    grades, not speed, sets a backstop far above any honest cell.
    """
    path = Path(root) / "nbgrader_config.py"
    # nbgrader 0.9 enters each assignment in the gradebook at generate_assignment.
    text = STOCK_CONFIG.format(root=str(Path(root).resolve()))
    if cell_timeout is not None:
        text += f"c.Execute.timeout = {int(cell_timeout)}\n"
    path.write_text(text)
    return path


def _round_trip(message: dict) -> dict:
    buffer = io.BytesIO()
    write_message(buffer, message)
    buffer.seek(0)
    return read_message(buffer, 1 << 30)


def _kernel_cells() -> tuple[list[CodeCell], dict[int, str]]:
    """The student's cells this kernel has run (IPython's ``In``), minus autograder cells.

    Statuses come from a ``post_run_cell`` hook that the first ``grade_part`` call installs:
    the experiments cells, the only ones whose status a check reads, run after it.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return [], {}
    shell = get_ipython()
    if shell is None:
        return [], {}
    if not getattr(shell, "_labkit_hooked", False):
        def record(result) -> None:
            error = result.error_in_exec or result.error_before_exec
            status = (CellStatus.OK if error is None else CellStatus.TIMEOUT if isinstance(error, KeyboardInterrupt)
                      else CellStatus.ERROR)
            if result.execution_count is not None:
                _STATUS[result.execution_count] = status
        shell.events.register("post_run_cell", record)
        shell._labkit_hooked = True
    history = shell.user_ns.get("In", [])
    cells = [CodeCell(i, src, None) for i, src in enumerate(history)
             if i > 0 and "labkit.grading.inkernel" not in src]
    indices = {c.index for c in cells}
    return cells, {i: s for i, s in _STATUS.items() if i in indices}


def _run_checks(spec, part: str):
    """pytest over ``part``'s checks in this very process, its noise kept off the cell's output;
    (exit code, SubmissionResult or None)."""
    import pytest
    from labkit.core.results import SubmissionResult
    with tempfile.TemporaryDirectory(prefix="labkit-inkernel-") as tmp:
        out = Path(tmp) / "result.json"
        noise = io.StringIO()
        # nbgrader zeroes a cell with any stderr output: keep pytest's and warnings' noise out.
        with contextlib.redirect_stdout(noise), contextlib.redirect_stderr(noise), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for path in reversed(spec.import_paths()):
                if path not in sys.path:
                    sys.path.insert(0, path)
            _forget_other_courses_checks(spec)
            code = pytest.main([str(spec.checks), "-q", "-p", "no:cacheprovider", "-p", "labkit.grading.pytest_plugin",
                                "--rootdir", str(spec.checks), "--assignment", spec.id,
                                "--course-root", str(spec.root), "--part", part,
                                "--submission", "kernel", "--results-json", str(out)])
        return code, (SubmissionResult.load(out) if out.exists() else None)


def _forget_other_courses_checks(spec) -> None:
    """Drop the checks' package (``grader_tests``, ``grader_tests.<id>``, its modules) where this
    process imported it from another course root: pytest would find the old modules under the
    same names and refuse them (their files are elsewhere)."""
    top = spec.checks_package.split(".")[0]
    root = str(spec.root.resolve()) + os.sep
    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        files = [getattr(sys.modules[name], "__file__", None) or "",
                 *getattr(sys.modules[name], "__path__", [])]
        if not any(str(Path(f).resolve()).startswith(root) for f in files if f):
            del sys.modules[name]


def grade_part(part: str, namespace: dict[str, Any] | None = None,
               cells: list[CodeCell] | None = None, *, assignment: str) -> float:
    """Run ``assignment``'s checks of ``part`` against ``namespace`` and publish the part's score.

    The score goes out as an ``execute_result`` right away (nbgrader's partial-credit
    convention reads the first one), so the public asserts that follow in the same cell
    do not change the grade, exactly as on the kit's path, where they never run.
    """
    global ACTIVE
    spec = assignments.load(assignment, assignments.locate(assignment))
    if part not in spec.part_ids:
        raise ValueError(f"{assignment} has no part {part!r} (parts: {', '.join(spec.part_ids)})")
    assignments.activate(spec)
    # This kernel runs student code: it neither reads nor writes the reference answers that
    # the kit's trusted graders share (labkit/grading/memo.py).
    from labkit.grading import memo
    memo_setting = os.environ.get(memo.ENV)
    os.environ[memo.ENV] = "off"
    namespace = namespace if namespace is not None else sys.modules["__main__"].__dict__
    status: dict[int, str] = {}
    if cells is None:
        cells, status = _kernel_cells()
    ACTIVE = KernelSubmission(namespace, cells, status, spec)
    import pytest
    import torch
    from labkit.grading.checks import tr
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)   # as in the kit's worker: the CPU-time budget assumes it
    try:
        code, result = _run_checks(spec, part)
    finally:
        ACTIVE = None
        if memo_setting is None:   # the caller's setting back (the kit's tests call this in-process)
            os.environ.pop(memo.ENV, None)
        else:
            os.environ[memo.ENV] = memo_setting
        torch.set_num_threads(threads)
    if code == pytest.ExitCode.INTERRUPTED or result is None or "interrupted" in result.flags:
        # nbgrader's cell timeout interrupts the kernel, and pytest swallows the interrupt:
        # what ran is not the whole part, so it earns nothing, and the cell shows why.
        print(tr("Sprawdzanie części {part} przerwano (limit czasu komórki): 0 punktów.",
                 "Grading of part {part} was interrupted (the cell's time limit): 0 points.", part=part))
        sys.displayhook(0.0)
        raise KeyboardInterrupt(f"grading of {part} interrupted")
    result = result.parts[part]
    for check in result.checks:
        if check.credit < 1.0:
            print(f"- {check.name}: {check.message}")
    score = result.score
    sys.displayhook(score)
    return score
