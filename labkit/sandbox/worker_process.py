"""One confined worker process: launched, spoken to, metered, killed.

``WorkerProcess`` starts a worker either cold (bwrap, or rlimits only: labkit/sandbox/launch.py)
or forked from the run's zygote (labkit/sandbox/zygote.py), exchanges codec frames with it, and
charges every request to a budget in CPU seconds of the worker's process tree (read here
from the kernel, labkit/sandbox/cputime.py). Wall time only backs the budget up: see ``Wait``.
It knows nothing of notebooks or checks; labkit/grading/client.py drives it.
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
from pathlib import Path

from labkit.protocol import codec
from labkit.sandbox import launch as sandbox
from labkit.sandbox import zygote
from labkit.protocol.codec import ProtocolError
from labkit.sandbox.cputime import ProcessTree
from labkit.sandbox.lane_copy import ForkedProc, find_copy, ns_pid, lane_pipes, lane_spec
from labkit.core.settings import Limits, Settings

_POLL_SECONDS = 0.25   # how often a waiting request reads the worker's CPU time
_log = logging.getLogger(__name__)


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


class Wait:
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


class WorkerPipe:
    """The worker's side of the wire as the trusted side reads it: codec frames, each reply
    within its request's budget (``Wait``). Mixed into ``WorkerProcess``, whose ``proc``,
    ``limits`` and ``kill`` these use."""

    def start_wait(self) -> Wait:
        """Starting a worker runs the kit's imports, no student code: its own generous budget."""
        return Wait("worker start", self.limits.start_seconds, self.limits.start_seconds,
                    dataclasses.replace(self.limits, idle_seconds=self.limits.start_seconds), self.meter)

    def send(self, request: dict, what: str) -> None:
        try:
            self.proc.stdin.write(codec.frame(request))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, AttributeError):
            self.kill()
            raise WorkerCrashed(what, "before the request was sent") from None

    def read_reply(self, wait: Wait) -> dict:
        """The next frame, within ``wait``'s budget; the worker is killed on any violation."""
        try:
            length = codec.body_length(self._read_exactly(codec.HEADER_BYTES, wait), self.limits.message_bytes)
            return codec.parse_body(self._read_exactly(length, wait))
        except ProtocolError as exc:
            self.kill()
            raise ProtocolError(f"{wait.what}: {exc}") from None

    def _read_exactly(self, size: int, wait: Wait) -> bytes:
        fd = self.proc.stdout.fileno()
        while len(self._buffer) < size:
            ready, _, _ = select.select([fd], [], [], _POLL_SECONDS)
            if not ready:
                timeout = wait.expired()
                if timeout is not None:
                    self.kill()
                    raise timeout
                continue
            chunk = os.read(fd, max(size - len(self._buffer), 1 << 16))
            if not chunk:
                code = _exit_status(self.proc)
                self.kill()
                raise WorkerCrashed(wait.what, _describe_exit(code))
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class WorkerProcess(WorkerPipe):
    """A worker of one submission: started (cold or from the zygote), framed, killed."""

    def __init__(self, *, settings: Settings, limits: Limits, plan: sandbox.SandboxPlan,
                 scratch_root: Path | None = None, lanes: int = 0):
        self.settings, self.limits, self.plan = settings, limits, plan
        self.lanes = lanes                                  # lane channels each start hands over
        self.lane_ends: list[tuple[int, int] | None] = []   # ours, per lane, until its copy takes it
        self.copy = False                                   # a lane copy: swept by its own cgroup
        self.ready_pid = 0
        self.proc: subprocess.Popen | zygote.ZygoteChild | None = None
        self.meter: ProcessTree | None = None
        self.launch: sandbox.Launch | None = None
        self.flags: set[str] = set()
        self._buffer = b""
        self._scratch_root = scratch_root
        self._scratch: Path | None = None

    # -- lifecycle -------------------------------------------------------------------
    def spawn(self, generation: int) -> None:
        """A fresh worker (the previous one killed), ready for requests."""
        self.kill()
        self.copy = False   # a lane copy restarted is a worker of its own
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        self._scratch = Path(tempfile.mkdtemp(prefix="labkit-worker-", dir=self._scratch_root))
        os.chmod(self._scratch, 0o777)
        if self.plan.kind == "bwrap" and self.settings.zygote:
            address = os.environ.get("LABKIT_ZYGOTE_ADDRESS") or zygote.shared_address(self.limits)
            if address:
                try:
                    return self._spawn_from_zygote(address, generation)
                except zygote.ZygoteUnavailable as exc:
                    _log.warning("labkit: zygote could not start a worker (%s); starting one directly", exc)
        self._spawn_cold(generation)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        self.kill()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def _require_process_limit(self, bounded: bool) -> None:
        if bounded:
            return
        if self.settings.sandbox == "required":
            raise sandbox.SandboxUnavailable("running as root without a pids cgroup: no process limit")
        self.flags.add("no_process_limit")

    def _spawn_cold(self, generation: int) -> None:
        self.launch = sandbox.launch(self.plan, scratch=self._scratch, limits=self.limits, generation=generation)
        self._require_process_limit(self.launch.process_limit)
        # Start-up errors (before the worker silences fds 1-2) land in a log for the grader.
        log_path = self._scratch.parent / f"{self._scratch.name}.log"
        theirs, self.lane_ends = lane_pipes(self.lanes)
        env = {**self.launch.env, "LABKIT_LANE_FDS": lane_spec(theirs)} if theirs else self.launch.env
        try:
            with open(log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    self.launch.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=log, env=env, cwd=self.launch.cwd,
                    preexec_fn=self.launch.preexec_fn, close_fds=True, pass_fds=theirs)
        finally:
            for fd in theirs:
                os.close(fd)
        self.meter = ProcessTree(self.proc.pid, self.launch.cleanup_paths[0] if self.launch.cleanup_paths else None)
        self._buffer = b""
        try:
            ready = self.read_reply(self.start_wait())
        except WorkerCrashed as exc:
            tail = log_path.read_bytes()[-1500:]
            raise WorkerCrashed("worker start", f"{exc.detail}: {tail.decode(errors='replace')}") from None
        if not ready.get("ready"):
            raise WorkerCrashed("worker start", "no ready message")
        self.ready_pid = int(ready["ready"])   # the worker's pid as it sees itself

    def _spawn_from_zygote(self, address: str, generation: int) -> None:
        """A worker forked from the zygote: no interpreter or torch start-up (labkit/sandbox/zygote.py)."""
        cgroup = sandbox.make_pids_cgroup(self.limits.processes)
        env = sandbox.worker_env(self.limits, generation, zygote.HOME)
        bounded = cgroup is not None or os.geteuid() != 0
        self.launch = sandbox.Launch([], env, "", None, [cgroup] if cgroup else [], bounded)
        self._require_process_limit(bounded)
        nproc = None if cgroup is not None or os.geteuid() == 0 else self.limits.processes
        theirs, self.lane_ends = lane_pipes(self.lanes)
        try:
            self.proc = zygote.ZygoteChild(address, env=env, limits=self.limits, cgroup=cgroup, nproc=nproc,
                                           lane_fds=theirs)
        except zygote.ZygoteUnavailable:
            self._close_lanes()
            if cgroup is not None:
                sandbox.remove_cgroup(cgroup)
            self.launch = None
            raise
        self.meter = ProcessTree(self.proc.pid, cgroup)
        self._buffer = b""
        try:
            ready = self.read_reply(self.start_wait())
        except (WorkerCrashed, ProtocolError) as exc:
            # It died confining itself (a kernel without a needed feature): start cold instead.
            self.kill()
            tail = zygote.log_tail(address).strip()
            raise zygote.ZygoteUnavailable(f"worker did not start: {exc}" + (f"; zygote log: {tail}" if tail else "")) \
                from None
        if not ready.get("ready"):
            raise WorkerCrashed("worker start", "no ready message")
        self.ready_pid = int(ready["ready"])   # the worker's pid as it sees itself

    def forked(self, lane: int, ns_pid: int) -> "WorkerProcess":
        """The worker's copy on ``lane`` (``ns_pid``: its pid as the worker sees it) as a worker of
        its own: metered, swept, killed and restarted apart from this one and the other lanes."""
        ends = self.lane_ends[lane] if 0 <= lane < len(self.lane_ends) else None
        pid = find_copy(self.meter, ns_pid) if ends is not None and self.meter is not None else None
        if pid is None:
            raise WorkerCrashed("fork", "(the copy is not in the worker's sandbox)")
        cgroup = sandbox.make_pids_cgroup(self.limits.processes)
        if cgroup is not None:
            (cgroup / "cgroup.procs").write_text(str(pid))
        # The worker goes on with the notebook: none of the copy's CPU time is charged to its cells.
        self.meter.exclude = self.meter.exclude | {pid}
        twin = WorkerProcess(settings=self.settings, limits=self.limits, plan=self.plan,
                             scratch_root=self._scratch_root)
        twin.proc = ForkedProc(pid, *ends)
        twin.meter = ProcessTree(pid, cgroup)
        twin.launch = sandbox.Launch([], {}, "", None, [cgroup] if cgroup else [], True)
        twin.copy = True
        self.lane_ends[lane] = None
        return twin

    def _close_lanes(self) -> None:
        for ends in self.lane_ends:
            for fd in ends or ():
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.lane_ends = []

    def kill(self) -> None:
        """The worker and its whole process group, gone; its cgroup removed."""
        self._close_lanes()
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
            self.meter = None
        if self.launch is not None:
            for path in self.launch.cleanup_paths:
                sandbox.remove_cgroup(path)
            self.launch = None

    @property
    def has_copies(self) -> bool:
        """Lane copies were made of this worker: it no longer kills its own strays."""
        return bool(self.meter is not None and self.meter.exclude)

    def sweep_strays(self) -> None:
        """Without a pid namespace, strays that left the worker's session are found by cgroup;
        once lane copies exist, every stray of the worker is killed here, the worker's own
        process (and its sandbox's init) spared, the copies metered apart never seen.

        Killed strays stay listed as zombies until reaped, so only live ones are counted;
        passes repeat (for up to a second) until none is left, since a bomb re-forks.
        """
        cgroups = self.launch.cleanup_paths if self.launch else []
        if self.proc is None or not (cgroups or self.has_copies):
            return
        keep = {self.proc.pid}
        deadline = time.perf_counter() + 1.0
        while time.perf_counter() < deadline:
            try:
                members = ([int(p) for p in (cgroups[0] / "cgroup.procs").read_text().split()] if cgroups
                           else self.meter.pids())
            except OSError:
                return
            # the worker itself and its sandbox's init, whatever pid namespace it has
            keep |= {pid for pid in members if ns_pid(pid) in (1, self.ready_pid)}
            strays = [pid for pid in members if pid not in keep and pid not in self.meter.exclude
                      and _running(pid)]
            if not strays:
                return
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.001)


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
