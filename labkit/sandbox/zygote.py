"""Worker start-up paid once per grading run: the trusted side of the zygote.

Starting a worker costs about 2.4 s of CPU (interpreter, torch, scikit-learn, matplotlib),
more than a third of a typical notebook. The zygote is one bwrap sandbox, confined exactly
like a worker, that imports all of that once and then forks a worker per request.

Here: starting the zygote sandbox, asking it for workers over its control socket, and moving
each worker into its pids cgroup before it may start. What runs inside the sandbox (the fork
loop, each worker's further confinement, the control protocol) is labkit/worker/zygote_server.py.
"""
from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
from pathlib import Path

from labkit.worker.rlimits import RLIMIT_FIELDS
from labkit.worker.zygote_server import HOME, kill_quietly  # noqa: F401  (HOME: the workers' home, for callers)

class ZygoteUnavailable(RuntimeError):
    """The zygote could not start a worker; the caller starts one directly instead."""


class Zygote:
    """A running zygote sandbox and the socket path its clients connect to."""

    def __init__(self, *, limits) -> None:
        from labkit.sandbox import launch as sandbox
        self.folder = Path(tempfile.mkdtemp(prefix="labkit-zygote-"))
        os.chmod(self.folder, 0o700)   # only the trusted side may ask for workers
        self.address = str(self.folder / "zygote.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(self.address)
        listener.listen(64)
        self.launch = sandbox.launch(sandbox.plan("required"), scratch=self.folder / "scratch",
                                     limits=limits, generation=0, entry="worker.zygote_server")
        self.launch.env["LABKIT_ZYGOTE_FD"] = str(listener.fileno())
        with open(self.folder / "zygote.log", "wb") as log:
            self.proc = subprocess.Popen(
                self.launch.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                env=self.launch.env, cwd=self.launch.cwd, preexec_fn=self.launch.preexec_fn,
                pass_fds=(listener.fileno(),))
        listener.close()
        ready, _, _ = select.select([self.proc.stdout], [], [], 120)
        if not ready or self.proc.stdout.readline() != b"ready\n":
            self.close()
            raise ZygoteUnavailable("zygote did not start: " + self.log_tail())

    def log_tail(self) -> str:
        try:
            return (self.folder / "zygote.log").read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        from labkit.sandbox import launch as sandbox
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.kill()
        self.proc.wait()
        for path in self.launch.cleanup_paths:
            sandbox.remove_cgroup(path)
        import shutil
        shutil.rmtree(self.folder, ignore_errors=True)


# One zygote per set of limits: a zygote confines itself with the limits it starts with, and a
# worker it forks cannot raise a hard limit above them (an earlier, smaller set made later
# workers fail with exit 70 and start cold).
_SHARED: dict[tuple, Zygote] = {}
_SHARED_LOCK = threading.Lock()


def _limits_key(limits) -> tuple:
    return tuple(getattr(limits, k) for k in RLIMIT_FIELDS)


def log_tail(address: str) -> str:
    """The end of the log of this process's zygote at ``address`` ("" for another zygote)."""
    for shared in list(_SHARED.values()):
        if shared.address == address:
            return shared.log_tail()[-600:]
    return ""


def shared_address(limits) -> str | None:
    """This process's zygote for ``limits`` (started on first use), or None where there can be none.

    bwrap dies with the *thread* that started it (PR_SET_PDEATHSIG), so callers start
    it from a thread that outlives the batch (grade_many does, before its pool).
    """
    from labkit.sandbox import launch as sandbox
    key = _limits_key(limits)
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        if shared is not None and not shared.alive():
            shared.close()
            del _SHARED[key]
            shared = None
        if shared is None:
            from labkit.core.settings import load_settings
            try:
                if sandbox.plan(load_settings().sandbox).kind != "bwrap":
                    return None
            except sandbox.SandboxUnavailable:
                return None
            try:
                shared = _SHARED[key] = Zygote(limits=limits)
            except (ZygoteUnavailable, OSError) as exc:
                import logging
                logging.getLogger("labkit.sandbox.zygote").warning("labkit: no zygote (%s); workers start cold", exc)
                return None
            if len(_SHARED) == 1:
                atexit.register(_close_shared)
        return shared.address


def _close_shared() -> None:
    while _SHARED:
        _SHARED.popitem()[1].close()


class ZygoteChild:
    """A worker forked by the zygote, with the parts of Popen the client uses."""

    def __init__(self, address: str, *, env: dict[str, str], limits, cgroup: Path | None,
                 nproc: int | None = None, timeout: float = 30.0, lane_fds: list[int] = ()) -> None:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        conn.settimeout(timeout)
        child_in, to_child = os.pipe()
        from_child, child_out = os.pipe()
        try:
            conn.connect(address)
            request = {"env": env, "nproc": nproc,
                       "limits": {k: getattr(limits, k) for k in RLIMIT_FIELDS}}
            socket.send_fds(conn, [json.dumps(request).encode()], [child_in, child_out, *lane_fds])
            os.close(child_in)
            os.close(child_out)
            for fd in lane_fds:   # the worker has its own copies now
                os.close(fd)
            lane_fds = ()
            child_in = child_out = -1
            message, ancillary, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(12))
            creds = [data for level, kind, data in ancillary
                     if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS]
            if message != b"started" or not creds:
                raise ZygoteUnavailable(f"unexpected reply {message[:40]!r}")
            self.pid = struct.unpack("3i", creds[0][:12])[0]   # in our pid namespace
            if cgroup is not None:
                (cgroup / "cgroup.procs").write_text(str(self.pid))
            conn.send(b"go")
        except (OSError, ValueError, ZygoteUnavailable) as exc:
            conn.close()
            for fd in (child_in, child_out, to_child, from_child, *lane_fds):
                if fd >= 0:
                    os.close(fd)
            raise ZygoteUnavailable(str(exc)) from None
        self.conn = conn
        self.stdin = os.fdopen(to_child, "wb")
        self.stdout = os.fdopen(from_child, "rb", buffering=0)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._read_exit(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        if self.returncode is None:
            self._read_exit(30.0 if timeout is None else timeout)
        return self.returncode

    def _read_exit(self, timeout: float) -> None:
        try:
            ready, _, _ = select.select([self.conn], [], [], timeout)
            if not ready:
                return
            message = self.conn.recv(256)
        except OSError:
            message = b""
        if not message:
            self.returncode = -signal.SIGKILL   # the zygote itself is gone
            return
        try:
            self.returncode = int(json.loads(message)["exit"])
        except (ValueError, KeyError, TypeError):
            self.returncode = -1

    def kill(self) -> None:
        kill_quietly(self.pid)

    def close(self) -> None:
        self.conn.close()
