"""Processes student code left behind: reaped after every request, so none outlives it."""
from __future__ import annotations

import os
import time

# Up to about 5 s of 1 ms pauses: a killed stray's exit ends long before that.
STRAY_PASSES = 5000
STRAY_PAUSE = 0.001


def reap_strays() -> None:
    """Kill processes that student code forked and left running.

    DataLoader workers and the like end with their call; anything still alive after a
    request is a runaway (a fork bomb's survivors) and would compete with the grader.
    In bwrap's pid namespace that is every process but its init and us, even ones that
    called setsid, and ``kill(-1)`` reaches them all at once; without a namespace, the
    processes of our session. Passes repeat until none is left, since a bomb re-forks.

    A killed process stays listed until its exit finishes, and tearing down a forked copy of
    a torch process can take tens of milliseconds on a busy host, so passes pause briefly
    rather than spin: a fixed pass count once gave up while a killed child was still exiting.
    The bound is a backstop for a process that cannot die, never a grade.
    """
    if os.getpid() == 1:
        _reap_as_init()
        return
    own_namespace = os.environ.get("LABKIT_PIDNS") == "1"
    for attempt in range(STRAY_PASSES):
        strays = _strays(own_namespace)
        if not strays:
            break
        if attempt:
            time.sleep(STRAY_PAUSE)
        if own_namespace:
            try:
                os.kill(-1, 9)   # in a pid namespace: everyone but init and the caller
            except OSError:
                pass
        for pid in strays:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        _collect_children()


def _collect_children() -> None:
    """waitpid every child that has already exited (killed strays end up as our zombies)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _reap_as_init() -> None:
    """As init of a pid namespace (a zygote's worker) every other process is a stray, and
    ``kill(-1)`` reaches exactly those; it fails with ESRCH once none is left (no /proc scan)."""
    for _ in range(1000):
        try:
            os.kill(-1, 9)
        except ProcessLookupError:
            return
        except OSError:
            pass
        _collect_children()
        time.sleep(0.001)


def _strays(own_namespace: bool) -> list[int]:
    me, session = os.getpid(), os.getsid(0)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me or (own_namespace and entry == "1"):
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z" and int(fields[1]) != me:
                continue                     # someone else's zombie: nothing to kill
            if own_namespace or int(fields[3]) == session:   # after comm: state ppid pgrp session
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found



def reap_own_group() -> None:
    """Once lane copies exist (labkit/core/lanes.py): collect only the zombies of this process
    group, never a copy (each copy leads a group of its own), so no copy's CPU time lands in
    ours. Killing strays is the trusted side's then (labkit/sandbox/worker_process.py
    ``sweep_strays``): ``kill(-1)`` would end the copies too, and /proc is hidden in here."""
    while True:
        try:
            if os.waitid(os.P_PGID, os.getpgrp(), os.WEXITED | os.WNOHANG) is None:
                return
        except ChildProcessError:
            return
