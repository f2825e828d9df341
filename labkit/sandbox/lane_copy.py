"""The trusted side of a worker's lane copies (labkit/core/lanes.py): their channels, found, waited for.

A worker that grades in lanes gets one channel per lane when it starts (two pipes each, handed
over with its own). Once the notebook has run, each ``Fork`` request makes a copy of it that
answers on one of those channels (labkit/worker/server.py). The copy is a process of the same
sandbox, so the trusted side finds it by its pid in the worker's pid namespace (``NSpid`` in
/proc, read from the kernel, never taken from the worker's word), and meters, sweeps and kills
it apart from the worker and the other lanes.
"""
from __future__ import annotations

import os
import signal
import time

from labkit.sandbox.cputime import ProcessTree

__all__ = ["ForkedProc", "find_copy", "lane_pipes", "lane_spec", "ns_pid"]


def lane_pipes(lanes: int) -> tuple[list[int], list[tuple[int, int]]]:
    """``lanes`` channels: the worker's ends (requests in, replies out, per lane, flat, for
    pass_fds or SCM_RIGHTS) and the trusted side's (requests out, replies in)."""
    theirs, ours = [], []
    for _ in range(lanes):
        request_in, request_out = os.pipe()
        reply_in, reply_out = os.pipe()
        theirs += [request_in, reply_out]
        ours.append((request_out, reply_in))
    return theirs, ours


def lane_spec(fds: list[int]) -> str:
    """``LABKIT_LANE_FDS`` for a worker that keeps ``fds`` under the same numbers."""
    return ";".join(f"{fds[i]},{fds[i + 1]}" for i in range(0, len(fds), 2))


def ns_pid(pid: int) -> int | None:
    """``pid``'s pid in its innermost pid namespace (the last NSpid of /proc/<pid>/status)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def find_copy(meter: ProcessTree, inside: int) -> int | None:
    """The pid (here) of the worker's copy whose pid inside the sandbox is ``inside``: a process of
    the worker's own tree, so a worker that names another pid can only name its own processes."""
    for pid in meter.pids():
        if pid != meter.pid and ns_pid(pid) == inside:
            return pid
    return None


class ForkedProc:
    """A lane copy, with the parts of Popen the client uses. It is the worker's child, not
    ours: its exit status is read from /proc (the worker never reaps it while grading)."""

    def __init__(self, pid: int, requests: int, replies: int):
        self.pid = pid
        self.stdin = os.fdopen(requests, "wb")
        self.stdout = os.fdopen(replies, "rb", buffering=0)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                with open(f"/proc/{self.pid}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                self.returncode = -signal.SIGKILL   # gone (its sandbox ended)
                return self.returncode
            if fields[0] in (b"Z", b"X"):
                try:   # exit_code, field 52 of stat(5), in waitpid's format
                    self.returncode = os.waitstatus_to_exitcode(int(fields[49]))
                except (IndexError, ValueError):
                    self.returncode = -signal.SIGKILL
        return self.returncode

    def running(self) -> bool:
        """Alive and not stopped (a stopped copy never answers: it counts as ended)."""
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in (b"Z", b"X", b"T", b"t")

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = time.monotonic() + (5.0 if timeout is None else timeout)
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
