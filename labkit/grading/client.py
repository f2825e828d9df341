"""The trusted side of the worker: start it confined, execute the notebook, make calls.

A ``Submission`` owns one worker process at a time. Every request has a budget in CPU
seconds of the worker's process tree, read here from the kernel's accounting
(labkit/sandbox/cputime.py) and scaled by the run's machine speed (labkit/grading/speed.py), so the
verdict does not depend on how fast or how busy the host is. Wall time only backs the
budget up (see ``Limits``). When a budget runs out, or the worker dies, the process group
is killed, the failure is reported to the caller, and the next call starts a fresh
worker that replays the notebook without the cells that hung or crashed it. A function
that hung once fails fast afterwards, so one infinite loop costs one timeout, not one
per check.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.sandbox import launch as sandbox
from labkit.grading import speed
from labkit.core.assignment import Assignment
from labkit.core.assignment import current as current_assignment
from labkit.protocol import messages as msg
from labkit.protocol.codec import Handle, ProtocolError, decode, encode
from labkit.core.i18n import language
from labkit.core.notebook import CodeCell, load_cells, reference_cells
from labkit.core.results import CellStatus
from labkit.core.settings import Limits, Settings, load_settings
from labkit.sandbox.worker_process import Wait, WorkerCrashed, WorkerFailure, WorkerProcess, WorkerTimeout

__all__ = ["Submission", "CallResult", "CellRun", "StudentError", "Missing", "GraderError", "WorkerFailure",
           "WorkerTimeout", "WorkerCrashed", "Wait"]


def known_ops(helper_source: str) -> frozenset[str]:
    """The op names a worker of this assignment answers: the engine's (labkit/worker/ops.py)
    and the assignment's worker-side helpers' ``op_<name>`` functions, read on the trusted side."""
    import ast
    from labkit.worker import ops as engine_ops
    names = {n[3:] for n in dir(engine_ops) if n.startswith("op_")}
    try:
        tree = ast.parse(helper_source or "")
    except SyntaxError:
        return frozenset(names)
    names |= {node.name[3:] for node in tree.body
              if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("op_")}
    return frozenset(names)


class StudentError(Exception):
    """Student code raised; carries the student's own traceback, nothing of the grader's."""

    def __init__(self, what: str, error: dict):
        self.what = what
        self.type = str(error.get("type", "Exception"))[:100]
        self.message = str(error.get("message", ""))[:2000]
        tb = error.get("traceback", [])
        self.traceback = [str(line)[:2000] for line in tb[-10:]] if isinstance(tb, list) else []
        super().__init__(f"{self.type}: {self.message}")


class GraderError(Exception):
    """The grader itself is wrong (a check asked for an op no worker has, a malformed request):
    found on the trusted side, so never the student's doing and never charged to them
    (labkit/grading/pytest_plugin.py leaves the check out of its part and flags the grading)."""


class Missing(Exception):
    """The notebook does not define a name the contract asks for."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(name)


@dataclass
class CallResult:
    value: Any
    stdout: str = ""
    stderr: str = ""
    cpu_seconds: float = 0.0     # of the worker's process tree, measured by the grader
    wall_seconds: float = 0.0


@dataclass
class CellRun:
    """What executing one notebook cell in the worker produced."""

    index: int
    outputs: list[dict] = field(default_factory=list)
    error: dict | None = None
    seconds: float = 0.0         # CPU seconds (a timeout: the budget that ran out)
    status: CellStatus = CellStatus.OK


class WorkerCalls:
    """What the checks ask of a notebook through its worker: its names and values, calls, ops.

    Mixed into ``Submission``, whose ``_request``, ``_ensure_alive``, ``limits``, ``seed``,
    ``generation``, ``ops``, ``hung`` and ``flags`` these use."""

    def names(self, only: str | None = None) -> dict[str, dict]:
        """The notebook's public globals: name -> kind, type and signature; ``only``: just that
        one (a check's "is it defined" layer asks once per example, for one name)."""
        return self._simple(msg.Names(None if only is None else str(only)), "names")

    def get(self, name: str, timeout: float | None = None) -> Any:
        """A global value of the notebook (RESULTS, BEST_CONFIG), as data or a handle."""
        return self._simple(msg.Get(name), name, timeout)

    def call(self, name: str, *args, _timeout: float | None = None, _seed: int | None = None,
             **kwargs) -> CallResult:
        """Call the notebook's global ``name`` under the grader's seed (``_seed``)."""
        return self._call(dict(name=name), name, args, kwargs, _timeout, _seed)

    def method(self, handle: Handle, method: str | None, *args, _timeout: float | None = None,
               _seed: int | None = None, **kwargs) -> CallResult:
        """Call a method of a worker object (or the object itself when method is None)."""
        what = f"{handle.type}.{method}" if method else handle.type
        return self._call(dict(handle=handle, method=method), what, args, kwargs, _timeout, _seed)

    def op(self, name: str, *args, timeout: float | None = None, seed: int | None = None,
           what: str | None = None) -> Any:
        """A grader helper from labkit.worker.ops, run next to the student's objects.

        ``what`` names the student code the helper drives, for messages (default: the op).
        """
        if name not in self.ops:
            raise GraderError(f"the grader asked for op {name!r}, which neither the engine nor the "
                              f"assignment defines (known: {', '.join(sorted(self.ops))})")
        request = msg.Op(name, encode(list(args)), self.seed if seed is None else seed)
        return self._simple(request, what or f"op {name}", timeout)

    def _simple(self, request: msg.Request, what: str, timeout: float | None = None) -> Any:
        self._check_handles(request)
        self._ensure_alive(what)
        reply = self._request(request, what, timeout or self.limits.call_seconds)
        return decode(self._value(reply, what))

    def _value(self, reply: msg.Reply, what: str) -> Any:
        """The reply's encoded value, or the exception that says why there is none."""
        if reply.missing:
            raise Missing(reply.missing)
        if reply.internal:
            # Written by the process that runs student code: evidence of a worker failure,
            # not proof of a grader bug, so it is a crash of that process, not a spared check.
            error = reply.error or {}
            raise WorkerCrashed(what, f"(the worker reported an internal failure: {error.get('type')}: "
                                      f"{str(error.get('message'))[:200]})")
        if not reply.ok:
            raise StudentError(what, reply.error or {})
        return reply.value

    def _call(self, target: dict, what: str, args, kwargs, timeout, seed) -> CallResult:
        if what in self.hung:
            raise WorkerTimeout(what, self.hung[what], earlier=True)
        request = msg.Call(args=encode(list(args)), kwargs=encode(dict(kwargs)),
                           seed=self.seed if seed is None else seed, **target)
        self._check_handles(request)
        self._ensure_alive(what)
        timeout = timeout or self.limits.call_seconds
        started = time.perf_counter()
        try:
            reply = self._request(request, what, timeout)
        except WorkerTimeout as exc:
            if exc.kind == "overload":
                self.flags.add("grader_overloaded")   # the host's fault: no fast-fail next time
            else:
                self.hung[what] = exc.seconds
                self.flags.add("call_timeout")
            raise
        wall = time.perf_counter() - started
        value = self._value(reply, what)
        return CallResult(decode(value), reply.stdout, reply.stderr, self.last_cpu_seconds, wall)

    def _check_handles(self, request: msg.Request) -> None:
        """Handles from a dead worker point at nothing; fail the check, not the worker."""
        if any(h.generation != self.generation for h in request.handles()):
            raise WorkerCrashed("handle", "object was lost when the worker restarted")


class Submission(WorkerCalls):
    """A student's notebook (or the reference) loaded in a confined worker."""

    def __init__(self, *, notebook: Path | None = None, reference: bool = False,
                 assignment: Assignment | None = None,
                 settings: Settings | None = None, limits: Limits | None = None,
                 scratch_root: Path | None = None, machine: speed.MachineSpeed | None = None):
        if (notebook is None) == (not reference):
            raise ValueError("give exactly one of notebook= or reference=True")
        assignment = assignment or current_assignment()
        settings = settings or load_settings()
        # The reference travels the same path as a student: its sources become cells.
        cells = reference_cells(assignment) if reference else load_cells(Path(notebook))[1]
        self._init_state(assignment, settings=settings, limits=limits or assignment.limit_settings(),
                         plan=sandbox.plan(settings.sandbox), cells=cells, machine=machine or speed.current())
        self.notebook = notebook
        self.reference = reference
        lanes = len(assignment.lanes) if len(assignment.lanes) > 1 else 0
        self.worker = WorkerProcess(settings=self.settings, limits=self.limits, plan=self.plan,
                                    scratch_root=scratch_root, lanes=lanes)
        if self.plan.kind != "bwrap":
            self.flags.add("sandbox_fallback")

    def _init_state(self, assignment: Assignment, *, settings: Settings, limits: Limits, plan, cells: list[CodeCell],
                    machine: speed.MachineSpeed) -> None:
        """What every submission knows, whatever runs its code (a worker here, the kernel in
        labkit/grading/inkernel.py)."""
        self.assignment = assignment
        self.seed = assignment.seed
        self.settings = settings
        self.limits = limits
        self.plan = plan
        self.machine = machine
        self.cells = cells
        self.notebook: Path | None = None
        self.reference = False
        self.ops = known_ops(assignment.helper_source())
        self.cell_runs: dict[int, CellRun] = {}
        self.bad_cells: set[int] = set()
        self.hung: dict[str, float] = {}
        self.flags: set[str] = set()
        self.tamper: set[str] = set()
        self.generation = 0
        self.restarts = 0
        self.replay_upto: int | None = None   # a lane's copy replays only the cells its lane sees
        self.last_cpu_seconds = 0.0      # CPU time of the latest request's student code
        self.notebook_cpu_seconds = 0.0
        self.worker_cpu_seconds = 0.0    # every request's, for the report and bench/
        self.notebook_seconds = 0.0
        self.start_seconds = 0.0         # the first worker's start-up (interpreter, imports, sandbox)
        self.peak_rss_kib = 0

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> "Submission":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self, at_cell=None) -> None:
        """Start a worker and run the notebook once, recording each cell's outputs (``at_cell``:
        called with each cell's index before it runs: where lanes are copied, labkit/grading/lanes.py)."""
        started = time.perf_counter()
        self._spawn()
        self.start_seconds = time.perf_counter() - started
        started = time.perf_counter()
        run_cells(self, record=True, at_cell=at_cell)
        self.notebook_seconds = time.perf_counter() - started
        if self.notebook_seconds > 3 * self.notebook_cpu_seconds + 30:
            # Not a verdict (budgets are CPU time): tells a TA the host was slow or busy.
            self.flags.add("slow_host")

    def close(self) -> None:
        self.worker.close()

    def fork(self, lane: int) -> "Submission":
        """This submission as its worker stands now, copied onto lane ``lane``
        (labkit/core/lanes.py): the same cells, outputs and state, in a worker process of its own
        that is metered, restarted (the notebook replayed) and closed apart from this one."""
        wait = self._budget("fork", self.limits.start_seconds)
        self.worker.send(msg.Fork(lane).to_wire(), "fork")
        # No sweep after this request: the copy is in the worker's sandbox, and no stray.
        reply = msg.Reply.from_wire(self.worker.read_reply(wait))
        if not reply.ok:
            raise WorkerCrashed("fork", f"({(reply.error or {}).get('message', 'refused')})")
        return self._twin(self.worker.forked(lane, int(decode(reply.value))))

    def replayed(self, upto: int | None) -> "Submission":
        """This submission in a fresh worker of its own with the notebook replayed up to ``upto``
        (bad cells skipped): a lane's copy made again when the worker it came from died."""
        twin = self._twin(WorkerProcess(settings=self.settings, limits=self.limits, plan=self.plan))
        twin._restart("lane", upto=upto)
        return twin

    def _twin(self, worker: WorkerProcess) -> "Submission":
        twin = copy.copy(self)
        twin.worker = worker
        twin.cell_runs, twin.bad_cells, twin.hung = dict(self.cell_runs), set(self.bad_cells), dict(self.hung)
        twin.flags, twin.tamper = set(self.flags), set(self.tamper)
        twin.worker_cpu_seconds = 0.0
        twin.restarts = 0   # a lane's own budget of restarts: the notebook's run spent its own
        return twin

    @property
    def proc(self):
        """The running worker process (a Popen, or a ZygoteChild), if any."""
        return self.worker.proc

    def _spawn(self) -> None:
        """A fresh worker with the assignment's helpers loaded, before any student code."""
        self.generation += 1
        self.worker.spawn(self.generation)
        self.flags |= self.worker.flags
        request = msg.Load(self.assignment.id, self.assignment.helper_source(), language())
        reply = self._request(request, "worker start", self.limits.start_seconds)
        if not reply.ok:
            error = reply.error or {}
            raise WorkerCrashed("worker start", f"the assignment's worker helpers failed: "
                                                f"{error.get('type')}: {error.get('message')}")

    def _restart(self, reason: str, upto: int | None = None) -> None:
        """A fresh worker with the notebook replayed (cells before ``upto``), minus broken cells."""
        self.restarts += 1
        if self.restarts > self.limits.worker_restarts:
            raise WorkerCrashed(reason, "too many worker restarts")
        self._spawn()
        for cell in self.cells:
            if upto is not None and cell.index >= upto:
                break
            if cell.index not in self.bad_cells:
                self._request(msg.Exec(cell.index, cell.source, self.seed), f"cell {cell.index}",
                              self.limits.cell_seconds)

    def _ensure_alive(self, what: str) -> None:
        if not self.worker.alive():
            self._restart(what, upto=self.replay_upto)

    # -- transport ----------------------------------------------------------------------------
    def _budget(self, what: str, cpu_seconds: float) -> Wait:
        """A request's budget: the stated CPU seconds, scaled to this host's speed."""
        return Wait(what, cpu_seconds * self.machine.budget_scale, cpu_seconds, self.limits, self.worker.meter)

    def _request(self, request: msg.Request, what: str, cpu_seconds: float) -> msg.Reply:
        """Send ``request``; its reply, within ``cpu_seconds`` of the worker's CPU time."""
        wait = self._budget(what, cpu_seconds)
        self.worker.send(request.to_wire(), what)
        try:
            reply = msg.Reply.from_wire(self.worker.read_reply(wait))
        finally:   # a timed-out request is charged too
            self.last_cpu_seconds = wait.finish() if self.worker.meter is not None else wait.spent
            self.worker_cpu_seconds += self.last_cpu_seconds
        # Strays by cgroup without a pid namespace, for a lane copy (its own cgroup), and for a
        # worker that has copies (it cannot kill its strays without killing them too).
        if self.plan.kind != "bwrap" or self.worker.copy or self.worker.has_copies:
            self.worker.sweep_strays()
        if reply.maxrss_kib is not None:
            self.peak_rss_kib = max(self.peak_rss_kib, reply.maxrss_kib)
        if reply.tamper:
            self.tamper.update(reply.tamper)
            self.flags.add("tamper")
        return reply


def run_cells(sub: "Submission", record: bool, at_cell=None) -> None:
    """Each of ``sub``'s cells within its CPU budget, and all of them within the notebook's; a cell
    that hangs or crashes the worker is skipped on every replay."""
    for cell in sub.cells:
        if at_cell is not None:
            at_cell(cell.index)
        if cell.index in sub.bad_cells:
            if record:
                sub.cell_runs[cell.index] = CellRun(cell.index, status=CellStatus.SKIPPED)
            continue
        remaining = sub.limits.notebook_seconds - sub.notebook_cpu_seconds
        if remaining <= 0:
            sub.bad_cells.add(cell.index)
            sub.flags.add("notebook_timeout")
            if record:
                sub.cell_runs[cell.index] = CellRun(cell.index, status=CellStatus.TIMEOUT)
            continue
        what = f"cell {cell.index}"
        budget = min(remaining, sub.limits.cell_seconds)
        try:
            reply = sub._request(msg.Exec(cell.index, cell.source, sub.seed), what, budget)
        except WorkerTimeout as exc:
            sub.bad_cells.add(cell.index)
            sub.notebook_cpu_seconds += sub.last_cpu_seconds
            status = CellStatus.OVERLOADED if exc.kind == "overload" else CellStatus.TIMEOUT
            sub.flags.add("grader_overloaded" if exc.kind == "overload" else "cell_timeout")
            if record:
                sub.cell_runs[cell.index] = CellRun(
                    cell.index, status=status, seconds=exc.seconds,
                    error={"type": "Timeout", "kind": exc.kind, "message": str(exc), "traceback": []})
            sub._restart(what, upto=cell.index)
            continue
        except (WorkerCrashed, ProtocolError) as exc:
            sub.bad_cells.add(cell.index)
            sub.flags.add("cell_crash")
            if record:
                sub.cell_runs[cell.index] = CellRun(cell.index, status=CellStatus.CRASHED,
                                                     error={"type": "WorkerCrashed",
                                                            "message": str(exc), "traceback": []})
            sub._restart(what, upto=cell.index)
            continue
        sub.notebook_cpu_seconds += sub.last_cpu_seconds
        if record:
            run = reply.cell or {}
            outputs = run.get("outputs", [])
            error = run.get("error")
            sub.cell_runs[cell.index] = CellRun(
                cell.index, outputs if isinstance(outputs, list) else [],
                error if isinstance(error, dict) else None,
                round(sub.last_cpu_seconds, 3), "error" if error else "ok")
