"""The trusted side of the worker: start it confined, execute the notebook, make calls.

A ``Submission`` owns one worker process at a time. Every request has a budget in CPU
seconds of the worker's process tree, read here from the kernel's accounting
(labkit/cputime.py) and scaled by the run's machine speed (labkit/speed.py), so the
verdict does not depend on how fast or how busy the host is. Wall time only backs the
budget up (see ``Limits``). When a budget runs out, or the worker dies, the process group
is killed, the failure is reported to the caller, and the next call starts a fresh
worker that replays the notebook without the cells that hung or crashed it. A function
that hung once fails fast afterwards, so one infinite loop costs one timeout, not one
per check.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import sandbox, speed, zygote
from labkit.assignment import Assignment
from labkit.assignment import current as current_assignment
from labkit.codec import Handle, ProtocolError, decode, encode
from labkit.cputime import ProcessTree
from labkit.i18n import language
from labkit.notebook import CodeCell, load_cells, reference_cells
from labkit.settings import Limits, Settings, load_settings

_HEADER_BYTES = 8
_POLL_SECONDS = 0.25   # how often a waiting request reads the worker's CPU time
_log = logging.getLogger("labkit.client")


class WorkerFailure(Exception):
    """A call did not produce an answer from the student's code."""


class WorkerTimeout(WorkerFailure):
    """A budget ran out. ``kind``: "cpu" (computed past its CPU budget), "idle" (waited
    ``seconds`` of wall time without computing) or "overload" (the host gave the worker
    too little CPU to decide: not the student's doing, graded again)."""

    def __init__(self, what: str, seconds: float, earlier: bool = False, kind: str = "cpu"):
        self.what, self.seconds, self.earlier, self.kind = what, seconds, earlier, kind
        super().__init__(f"{what}: {kind} budget of {seconds:.0f} s exhausted")


class WorkerCrashed(WorkerFailure):
    def __init__(self, what: str, detail: str = ""):
        self.what, self.detail = what, detail
        super().__init__(f"{what}: worker died {detail}".strip())


class StudentError(Exception):
    """Student code raised; carries the student's own traceback, nothing of the grader's."""

    def __init__(self, what: str, error: dict):
        self.what = what
        self.type = str(error.get("type", "Exception"))[:100]
        self.message = str(error.get("message", ""))[:2000]
        tb = error.get("traceback", [])
        self.traceback = [str(line)[:2000] for line in tb[-10:]] if isinstance(tb, list) else []
        super().__init__(f"{self.type}: {self.message}")


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


class _Wait:
    """One request's budget, checked while its reply is awaited."""

    def __init__(self, what: str, cpu_budget: float, stated: float, limits: Limits,
                 meter: ProcessTree | None):
        self.what, self.cpu_budget, self.stated, self.meter = what, cpu_budget, stated, meter
        self.idle = limits.idle_seconds
        self.wall = limits.overload_multiple * cpu_budget + limits.idle_seconds
        self.started = self.progress_at = time.monotonic()
        self.cpu0 = self.last = meter.sample().cpu_seconds if meter else 0.0

    @property
    def spent(self) -> float:
        """CPU seconds the worker spent on this request, as of the latest reading."""
        return self.last - self.cpu0

    def finish(self) -> float:
        """A last reading once the reply is in; the CPU seconds spent."""
        if self.meter is not None:
            self.last = self.meter.sample().cpu_seconds
        return self.spent

    def expired(self) -> WorkerTimeout | None:
        """The budget that ran out, if one did."""
        now = time.monotonic()
        if self.meter is not None:
            sample = self.meter.sample()
            if sample.cpu_seconds - self.cpu0 > self.cpu_budget:
                self.last = sample.cpu_seconds
                return WorkerTimeout(self.what, self.stated, kind="cpu")
            if sample.cpu_seconds > self.last or sample.runnable:
                self.progress_at = now
            elif now - self.progress_at > self.idle:
                return WorkerTimeout(self.what, self.idle, kind="idle")
            self.last = sample.cpu_seconds
        if now - self.started > self.wall:
            return WorkerTimeout(self.what, self.wall, kind="overload")
        return None


@dataclass
class CellRun:
    """What executing one notebook cell in the worker produced."""

    index: int
    outputs: list[dict] = field(default_factory=list)
    error: dict | None = None
    seconds: float = 0.0         # CPU seconds (a timeout: the budget that ran out)
    status: str = "ok"           # ok | error | timeout | overloaded | crashed | skipped


class Submission:
    """A student's notebook (or the reference) loaded in a confined worker."""

    def __init__(self, *, notebook: Path | None = None, reference: bool = False,
                 assignment: Assignment | None = None,
                 settings: Settings | None = None, limits: Limits | None = None,
                 scratch_root: Path | None = None, machine: speed.MachineSpeed | None = None):
        if (notebook is None) == (not reference):
            raise ValueError("give exactly one of notebook= or reference=True")
        self.assignment = assignment or current_assignment()
        self.seed = self.assignment.seed
        self.settings = settings or load_settings()
        self.limits = limits or self.settings.limits
        self.notebook = notebook
        self.reference = reference
        self.plan = sandbox.plan(self.settings.sandbox)
        self.machine = machine or speed.current()
        # The reference travels the same path as a student: its sources become cells.
        self.cells: list[CodeCell] = (reference_cells(self.assignment) if reference
                                      else load_cells(Path(notebook))[1])
        self.cell_runs: dict[int, CellRun] = {}
        self.bad_cells: set[int] = set()
        self.hung: dict[str, float] = {}
        self.flags: set[str] = set()
        self.tamper: set[str] = set()
        self.generation = 0
        self.restarts = 0
        self.proc: subprocess.Popen | None = None
        self._meter: ProcessTree | None = None
        self.last_cpu_seconds = 0.0  # CPU time of the latest request's student code
        self.notebook_cpu_seconds = 0.0
        self.worker_cpu_seconds = 0.0    # every request's, for the report and bench/
        self._buffer = b""
        self._launch: sandbox.Launch | None = None
        self._scratch_root = scratch_root
        self._scratch: Path | None = None
        self.notebook_seconds = 0.0
        self.start_seconds = 0.0     # the first worker's start-up (interpreter, imports, sandbox)
        self.peak_rss_kib = 0
        if self.plan.kind != "bwrap":
            self.flags.add("sandbox_fallback")

    # -- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> "Submission":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Start a worker and run the notebook once, recording each cell's outputs."""
        started = time.perf_counter()
        self._spawn()
        self.start_seconds = time.perf_counter() - started
        started = time.perf_counter()
        self._run_cells(record=True)
        self.notebook_seconds = time.perf_counter() - started
        if self.notebook_seconds > 3 * self.notebook_cpu_seconds + 30:
            # Not a verdict (budgets are CPU time): tells a TA the host was slow or busy.
            self.flags.add("slow_host")

    def close(self) -> None:
        self._kill()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _spawn(self) -> None:
        self._kill()
        self.generation += 1
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        self._scratch = Path(tempfile.mkdtemp(prefix="labkit-worker-", dir=self._scratch_root))
        os.chmod(self._scratch, 0o777)
        if self.plan.kind == "bwrap" and self.settings.zygote:
            address = os.environ.get("LABKIT_ZYGOTE_ADDRESS") or zygote.shared_address(self.limits)
            if address:
                try:
                    self._spawn_from_zygote(address)
                    return self._load_assignment()
                except zygote.ZygoteUnavailable as exc:
                    _log.warning("labkit: zygote could not start a worker (%s); starting one directly", exc)
        self._launch = sandbox.launch(self.plan, scratch=self._scratch, limits=self.limits,
                                      generation=self.generation)
        if not self._launch.process_limit:
            if self.settings.sandbox == "required":
                raise sandbox.SandboxUnavailable("running as root without a pids cgroup: no process limit")
            self.flags.add("no_process_limit")
        # Start-up errors (before the worker silences fds 1-2) land in a log for the grader.
        with open(self._scratch.parent / f"{self._scratch.name}.log", "wb") as log:
            self.proc = subprocess.Popen(
                self._launch.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, env=self._launch.env, cwd=self._launch.cwd,
                preexec_fn=self._launch.preexec_fn, close_fds=True)
        self._meter = ProcessTree(self.proc.pid, self._launch.cleanup_paths[0] if self._launch.cleanup_paths else None)
        self._buffer = b""
        try:
            ready = self._read_reply(self._start_wait())
        except WorkerCrashed as exc:
            tail = (self._scratch.parent / f"{self._scratch.name}.log").read_bytes()[-1500:]
            raise WorkerCrashed("worker start", f"{exc.detail}: {tail.decode(errors='replace')}") from None
        if not ready.get("ready"):
            raise WorkerCrashed("worker start", "no ready message")
        self._load_assignment()

    def _load_assignment(self) -> None:
        """Hand the fresh worker its assignment's helpers, before any student code runs."""
        request = {"kind": "load", "name": self.assignment.id, "source": self.assignment.helper_source(),
                   "language": language()}
        reply = self._request(request, "worker start", self.limits.start_seconds)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise WorkerCrashed("worker start", f"the assignment's worker helpers failed: "
                                                f"{error.get('type')}: {error.get('message')}")

    def _spawn_from_zygote(self, address: str) -> None:
        """A worker forked from the zygote: no interpreter or torch start-up (labkit/zygote.py)."""
        cgroup = sandbox.make_pids_cgroup(self.limits.processes)
        env = sandbox.worker_env(self.limits, self.generation, zygote.HOME)
        bounded = cgroup is not None or os.geteuid() != 0
        self._launch = sandbox.Launch([], env, "", None, [cgroup] if cgroup else [], bounded)
        if not bounded:
            if self.settings.sandbox == "required":
                raise sandbox.SandboxUnavailable("running as root without a pids cgroup: no process limit")
            self.flags.add("no_process_limit")
        nproc = None if cgroup is not None or os.geteuid() == 0 else self.limits.processes
        try:
            self.proc = zygote.ZygoteChild(address, env=env, limits=self.limits, cgroup=cgroup, nproc=nproc)
        except zygote.ZygoteUnavailable:
            if cgroup is not None:
                sandbox.remove_cgroup(cgroup)
            self._launch = None
            raise
        self._meter = ProcessTree(self.proc.pid, cgroup)
        self._buffer = b""
        try:
            ready = self._read_reply(self._start_wait())
        except (WorkerCrashed, ProtocolError) as exc:
            # It died confining itself (a kernel without a needed feature): start cold instead.
            self._kill()
            raise zygote.ZygoteUnavailable(f"worker did not start: {exc}") from None
        if not ready.get("ready"):
            raise WorkerCrashed("worker start", "no ready message")

    def _kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout, getattr(self.proc, "conn", None)):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
            self.proc = None
            self._meter = None
        if self._launch is not None:
            for path in self._launch.cleanup_paths:
                sandbox.remove_cgroup(path)
            self._launch = None

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
                self._request({"kind": "exec", "index": cell.index, "source": cell.source,
                               "seed": self.seed}, f"cell {cell.index}",
                              self.limits.cell_seconds)

    def _ensure_alive(self, what: str) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._restart(what)

    # -- notebook execution ----------------------------------------------------------------
    def _run_cells(self, record: bool) -> None:
        """Each cell within its CPU budget, and all of them within the notebook's."""
        for cell in self.cells:
            if cell.index in self.bad_cells:
                if record:
                    self.cell_runs[cell.index] = CellRun(cell.index, status="skipped")
                continue
            remaining = self.limits.notebook_seconds - self.notebook_cpu_seconds
            if remaining <= 0:
                self.bad_cells.add(cell.index)
                self.flags.add("notebook_timeout")
                if record:
                    self.cell_runs[cell.index] = CellRun(cell.index, status="timeout")
                continue
            what = f"cell {cell.index}"
            budget = min(remaining, self.limits.cell_seconds)
            try:
                reply = self._request({"kind": "exec", "index": cell.index, "source": cell.source,
                                       "seed": self.seed}, what, budget)
            except WorkerTimeout as exc:
                self.bad_cells.add(cell.index)
                self.notebook_cpu_seconds += self.last_cpu_seconds
                status = "overloaded" if exc.kind == "overload" else "timeout"
                self.flags.add("grader_overloaded" if exc.kind == "overload" else "cell_timeout")
                if record:
                    self.cell_runs[cell.index] = CellRun(
                        cell.index, status=status, seconds=exc.seconds,
                        error={"type": "Timeout", "kind": exc.kind, "message": str(exc), "traceback": []})
                self._restart(what, upto=cell.index)
                continue
            except (WorkerCrashed, ProtocolError) as exc:
                self.bad_cells.add(cell.index)
                self.flags.add("cell_crash")
                if record:
                    self.cell_runs[cell.index] = CellRun(cell.index, status="crashed",
                                                         error={"type": "WorkerCrashed",
                                                                "message": str(exc), "traceback": []})
                self._restart(what, upto=cell.index)
                continue
            self.notebook_cpu_seconds += self.last_cpu_seconds
            if record:
                run = reply.get("cell", {})
                outputs = run.get("outputs", [])
                error = run.get("error")
                self.cell_runs[cell.index] = CellRun(
                    cell.index, outputs if isinstance(outputs, list) else [],
                    error if isinstance(error, dict) else None,
                    round(self.last_cpu_seconds, 3), "error" if error else "ok")

    # -- calls --------------------------------------------------------------------------
    def names(self) -> dict[str, dict]:
        return self._simple({"kind": "names"}, "names")

    def get(self, name: str, timeout: float | None = None) -> Any:
        """A global value of the notebook (RESULTS, BEST_CONFIG), as data or a handle."""
        return self._simple({"kind": "get", "name": name}, name, timeout)

    def call(self, name: str, *args, _timeout: float | None = None, _seed: int | None = None,
             **kwargs) -> CallResult:
        """Call the notebook's global ``name`` under the grader's seed (``_seed``)."""
        return self._call({"global": name}, name, args, kwargs, _timeout, _seed)

    def method(self, handle: Handle, method: str | None, *args, _timeout: float | None = None,
               _seed: int | None = None, **kwargs) -> CallResult:
        """Call a method of a worker object (or the object itself when method is None)."""
        what = f"{handle.type}.{method}" if method else handle.type
        target = {"handle": handle.id, "gen": handle.generation}
        if method:
            target["method"] = method
        return self._call(target, what, args, kwargs, _timeout, _seed)

    def op(self, name: str, *args, timeout: float | None = None, seed: int | None = None,
           what: str | None = None) -> Any:
        """A grader helper from labkit.worker_ops, run next to the student's objects.

        ``what`` names the student code the helper drives, for messages (default: the op).
        """
        request = {"kind": "op", "name": name, "args": encode(list(args)),
                   "seed": self.seed if seed is None else seed}
        return self._simple(request, what or f"op {name}", timeout)

    def _simple(self, request: dict, what: str, timeout: float | None = None) -> Any:
        self._check_handles(request)
        self._ensure_alive(what)
        reply = self._request(request, what, timeout or self.limits.call_seconds)
        if reply.get("missing"):
            raise Missing(str(reply["missing"]))
        if not reply.get("ok"):
            raise StudentError(what, reply.get("error") or {})
        return decode(reply.get("value"))

    def _call(self, target: dict, what: str, args, kwargs, timeout, seed) -> CallResult:
        if what in self.hung:
            raise WorkerTimeout(what, self.hung[what], earlier=True)
        request = {"kind": "call", "target": target, "args": encode(list(args)),
                   "kwargs": encode(dict(kwargs)),
                   "seed": self.seed if seed is None else seed}
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
        if reply.get("missing"):
            raise Missing(str(reply["missing"]))
        if not reply.get("ok"):
            raise StudentError(what, reply.get("error") or {})
        return CallResult(decode(reply.get("value")), str(reply.get("stdout", ""))[:100_000],
                          str(reply.get("stderr", ""))[:100_000], self.last_cpu_seconds, wall)

    def _check_handles(self, request: dict) -> None:
        """Handles from a dead worker point at nothing; fail the check, not the worker."""
        def walk(node):
            if isinstance(node, dict):
                if "$handle" in node and node.get("gen") != self.generation:
                    raise WorkerCrashed("handle", "object was lost when the worker restarted")
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
        walk(request)
        target = request.get("target", {})
        if "handle" in target and target.get("gen") != self.generation:
            raise WorkerCrashed("handle", "object was lost when the worker restarted")

    # -- transport ----------------------------------------------------------------------------
    def _budget(self, what: str, cpu_seconds: float) -> _Wait:
        """A request's budget: the stated CPU seconds, scaled to this host's speed."""
        return _Wait(what, cpu_seconds * self.machine.budget_scale, cpu_seconds, self.limits, self._meter)

    def _start_wait(self) -> _Wait:
        """Starting a worker runs the kit's imports, no student code: its own generous budget."""
        return _Wait("worker start", self.limits.start_seconds, self.limits.start_seconds,
                     dataclasses.replace(self.limits, idle_seconds=self.limits.start_seconds), self._meter)

    def _request(self, request: dict, what: str, cpu_seconds: float) -> dict:
        """Send ``request``; its reply, within ``cpu_seconds`` of the worker's CPU time."""
        from labkit.codec import write_message
        wait = self._budget(what, cpu_seconds)
        try:
            write_message(self.proc.stdin, request)
        except (BrokenPipeError, OSError, AttributeError):
            self._kill()
            raise WorkerCrashed(what, "before the request was sent") from None
        try:
            reply = self._read_reply(wait)
        finally:
            self.last_cpu_seconds = wait.spent
        self.last_cpu_seconds = wait.finish()
        self.worker_cpu_seconds += self.last_cpu_seconds
        if self.plan.kind != "bwrap":
            self._sweep_cgroup()
        rss = reply.get("maxrss_kib")
        if isinstance(rss, int):
            self.peak_rss_kib = max(self.peak_rss_kib, rss)
        tamper = reply.get("tamper")
        if isinstance(tamper, list) and tamper:
            self.tamper.update(str(t)[:100] for t in tamper[:50])
            self.flags.add("tamper")
        return reply

    def _sweep_cgroup(self) -> None:
        """Without a pid namespace, strays that left the worker's session are found by cgroup.

        Killed strays stay listed as zombies until reaped, so only live ones are counted;
        passes repeat (for up to a second) until none is left, since a bomb re-forks.
        """
        cgroups = self._launch.cleanup_paths if self._launch else []
        if not cgroups or self.proc is None:
            return
        deadline = time.perf_counter() + 1.0
        while time.perf_counter() < deadline:
            try:
                members = [int(p) for p in (cgroups[0] / "cgroup.procs").read_text().split()]
            except OSError:
                return
            strays = [pid for pid in members if pid != self.proc.pid and _running(pid)]
            if not strays:
                return
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.001)

    def _read_reply(self, wait: _Wait) -> dict:
        what = wait.what
        header = self._read_exactly(_HEADER_BYTES, wait)
        length = int.from_bytes(header, "big")
        if length > self.limits.message_bytes:
            self._kill()
            raise ProtocolError(f"{what}: reply of {length} bytes exceeds the limit")
        body = self._read_exactly(length, wait)
        import json
        try:
            reply = json.loads(body)
        except ValueError:
            self._kill()
            raise ProtocolError(f"{what}: reply is not JSON") from None
        if not isinstance(reply, dict):
            self._kill()
            raise ProtocolError(f"{what}: reply is not an object")
        return reply

    def _read_exactly(self, size: int, wait: _Wait) -> bytes:
        fd = self.proc.stdout.fileno()
        while len(self._buffer) < size:
            ready, _, _ = select.select([fd], [], [], _POLL_SECONDS)
            if not ready:
                timeout = wait.expired()
                if timeout is not None:
                    self._kill()
                    raise timeout
                continue
            chunk = os.read(fd, max(size - len(self._buffer), 1 << 16))
            if not chunk:
                code = _exit_status(self.proc)
                self._kill()
                raise WorkerCrashed(wait.what, _describe_exit(code))
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _exit_status(proc) -> int | None:
    """The exit status of a worker whose channel just closed (it may take a moment to die)."""
    try:
        return proc.wait(1.0)
    except subprocess.TimeoutExpired:
        return proc.poll()


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "(closed its channel)"
    if code < 0:
        try:
            return f"(signal {signal.Signals(-code).name})"
        except ValueError:
            return f"(signal {-code})"
    return f"(exit code {code})"
