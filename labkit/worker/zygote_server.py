"""The zygote's in-sandbox side: a pre-imported parent that forks one confined worker per request.

It runs inside a bwrap sandbox confined exactly like a worker (the trusted side, which starts
it and asks it for workers, is labkit/sandbox/zygote.py), so it may import only what a worker
may: labkit.core and labkit.protocol, besides the worker itself.

Each forked worker is confined further before any student code runs:

- new user, mount, pid, network, ipc and uts namespaces, so concurrent workers cannot
  see, signal or talk to each other or to the zygote (pids outside a namespace cannot be
  named; each worker has its own empty network, so no shared loopback or abstract sockets);
- its own sized tmpfs on ``/tmp`` and on the scratch home, so no file outlives it;
- no capabilities, non-dumpable (not ptrace-able or readable through /proc by its peers),
  its own rlimits, and SIGKILL when its parent dies;
- on a root host, the trusted side moves it into its own pids cgroup before it starts.

The zygote never reads anything a worker can write; a worker never holds a descriptor of
the zygote (the listening socket and the control connection are closed before it runs).

Control protocol (AF_UNIX SOCK_SEQPACKET, one record per message):
client -> zygote   JSON request, with the worker's two pipe ends as SCM_RIGHTS, then two per
                   lane channel (labkit/core/lanes.py);
worker -> client   ``started`` (the kernel attaches its pid, in the client's namespace);
client -> worker   ``go`` once it sits in its cgroup;
zygote -> client   ``{"exit": code}`` when the worker is gone. Closing the connection kills it.
"""
from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import struct
import sys
from pathlib import Path

from labkit.core.lanes import MAX_LANES

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
HOME = "/scratch"

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def serve(listen_fd: int) -> None:
    """The zygote's loop: accept control connections, fork one confined worker per request."""
    _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(DUMPABLE)")
    _preload()
    listener = socket.socket(fileno=listen_fd)
    children: dict[int, socket.socket] = {}   # worker pid -> its control connection
    owners: dict[socket.socket, int] = {}     # connection -> worker pid (0: none yet, -1: gone)
    # SIGCHLD wakes the loop at once, so a finished worker is reported without delay.
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        poller = select.poll()
        poller.register(listener, select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        by_fd = {}
        for sock, pid in owners.items():
            # Once a worker exists, its connection carries the client's "go" to that worker:
            # the zygote only watches for the hang-up, never reads.
            poller.register(sock, select.POLLIN if pid == 0 else select.POLLRDHUP)
            by_fd[sock.fileno()] = sock
        for fd, events in poller.poll(1000):
            if fd == wake_r:
                while True:
                    try:
                        os.read(wake_r, 512)
                    except BlockingIOError:
                        break
                continue
            if fd == listener.fileno():
                conn, _ = listener.accept()
                owners[conn] = 0
                continue
            sock = by_fd[fd]
            if owners[sock] != 0 or not events & select.POLLIN:   # a hang-up, not a request
                _hang_up(sock, owners, children)
                continue
            _answer(sock, listener, owners, children)
        _reap(children, owners)


def _preload() -> None:
    """The imports every worker needs, paid once here (core.settings.HEAVY_IMPORTS and the
    worker's own); heap_freeze last, so the workers' collections skip the preloaded heap."""
    import importlib
    from labkit.core.settings import HEAVY_IMPORTS, THREADS
    for name in HEAVY_IMPORTS:
        importlib.import_module(name)
    import torch
    torch.set_num_threads(THREADS)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  (font cache loaded once, here)
    import labkit.worker.heap_freeze  # noqa: F401


def _answer(sock: socket.socket, listener: socket.socket, owners: dict[socket.socket, int],
            children: dict[int, socket.socket]) -> None:
    """One control request: its two pipe ends, then a forked, confined worker."""
    try:
        message, fds, _, _ = socket.recv_fds(sock, 65536, 2 + 2 * MAX_LANES)
    except OSError:
        message, fds = b"", []
    if not message or len(fds) < 2 or len(fds) % 2:
        for fd in fds:
            os.close(fd)
        _hang_up(sock, owners, children)
        return
    pid = os.fork()
    if pid == 0:
        try:
            _become_worker(json.loads(message), fds, sock, listener, list(owners))
        except Exception:
            # The trusted side sees only the exit code; the reason goes to the zygote's
            # log (its stderr), which the fallback warning quotes.
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(70)
    for fd in fds:
        os.close(fd)
    owners[sock] = pid
    children[pid] = sock


def _hang_up(sock: socket.socket, owners: dict[socket.socket, int], children: dict[int, socket.socket]) -> None:
    """The client is done (or gone): its worker, if still running, goes too."""
    pid = owners.pop(sock, 0)
    if pid > 0:
        kill_quietly(pid)
    sock.close()


def _reap(children: dict[int, socket.socket], owners: dict[socket.socket, int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock = children.pop(pid, None)
        if sock is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        try:
            sock.send(json.dumps({"exit": code}).encode())
        except OSError:
            pass
        if sock in owners:
            owners[sock] = -1   # finished; the client closes the connection
        else:
            sock.close()


def kill_quietly(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _become_worker(request: dict, fds: list[int], conn: socket.socket, listener: socket.socket,
                   others: list[socket.socket]) -> None:
    """Child of the zygote (never returns): confine, fork the worker as pid 1, wait for it."""
    os.setsid()   # its own process group: the client's killpg reaches this worker only
    _check(_libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "prctl(PDEATHSIG)")
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    listener.close()
    for sock in others:
        if sock is not conn:
            sock.close()
    conn.send(b"started")              # the client learns our pid from the credentials
    if conn.recv(16) != b"go":
        os._exit(71)
    conn.close()
    limits = request["limits"]
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
                         | CLONE_NEWUTS), "unshare")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{os.getuid()} {os.getuid()} 1")
    Path("/proc/self/gid_map").write_text(f"{os.getgid()} {os.getgid()} 1")
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount private")
    size = f"size={int(limits['file_bytes'])},mode=1777".encode()
    for target in ("/tmp", HOME):
        _fresh_tmpfs(target, size)
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):   # die the same way, so the client reports the signal
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(status))
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    _run_worker(request, fds, limits)


def _fresh_tmpfs(target: str, options: bytes) -> None:
    """An empty tmpfs on ``target`` that keeps the read-only binds below it.

    bwrap binds the interpreter and the kit where they are; in a checkout under /tmp those
    binds sit below /tmp, and a plain tmpfs on /tmp would hide them. They are cloned first
    (open_tree) and moved back onto the new tmpfs (move_mount), still read-only.
    """
    keep = []
    for point in _mount_points_below(target):
        fd = _libc.syscall(428, -100, point.encode(), 1 | 0x8000)   # open_tree(CLONE | AT_RECURSIVE)
        if fd < 0:
            raise OSError(ctypes.get_errno(), f"open_tree {point}")
        keep.append((point, fd))
    _check(_libc.mount(b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options), "mount tmpfs")
    for point, fd in keep:
        os.makedirs(point, exist_ok=True)
        # move_mount(fd, "", AT_FDCWD, point, MOVE_MOUNT_F_EMPTY_PATH)
        _check(_libc.syscall(429, fd, b"", -100, point.encode(), 0x4), f"move_mount {point}")
        os.close(fd)


def _mount_points_below(top: str) -> list[str]:
    """Outermost mount points strictly below ``top`` (from mountinfo, octal escapes decoded)."""
    points = set()
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(top.rstrip("/") + "/"):
                points.add(point)
    return sorted(p for p in points if not any(p.startswith(q + "/") for q in points))


def _run_worker(request: dict, fds: list[int], limits: dict) -> None:
    """pid 1 of the new namespace: last confinements, then the ordinary worker loop."""
    # Its own session: kill(0) or killpg from student code must not reach the parent, whose
    # death (PDEATHSIG) would end the worker; the client kills the parent, and that ends us.
    os.setsid()
    _check(_libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "prctl(PDEATHSIG)")
    # A private /proc would list only this namespace, but the kernel refuses it here (bwrap's
    # /proc has covered entries), so /proc is hidden: no peer worker is even listed. Pids
    # outside this namespace cannot be named, signalled or traced in any case.
    if _libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) != 0:
        _check(_libc.mount(b"tmpfs", b"/proc", b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | 1,  # MS_RDONLY
                           b"size=4k,mode=555"), "hide /proc")
    _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(DUMPABLE)")
    _drop_capabilities()
    from labkit.worker.rlimits import set_rlimits
    set_rlimits(limits, request.get("nproc") or None)   # nproc only where no pids cgroup bounds it
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in request["env"].items()})
    os.environ["LABKIT_PIDNS"] = "1"
    os.chdir(HOME)
    Path(os.environ.get("MPLCONFIGDIR", f"{HOME}/.mpl")).mkdir(parents=True, exist_ok=True)
    os.dup2(fds[0], 0)
    os.dup2(fds[1], 1)
    os.close(fds[0])
    os.close(fds[1])
    lanes = fds[2:]
    os.environ["LABKIT_LANE_FDS"] = ";".join(f"{lanes[i]},{lanes[i + 1]}" for i in range(0, len(lanes), 2))
    from labkit.worker import server as worker
    worker.main()
    os._exit(0)


# capset(2)'s number on each architecture (asm/unistd*.h): 91 only on the generic table of
# aarch64 and riscv64; on 32-bit x86 and ARM, 91 is munmap.
SYS_CAPSET = {"x86_64": 126, "aarch64": 91, "riscv64": 91, "i386": 185, "i686": 185, "armv7l": 185,
              "armv6l": 185, "ppc64le": 184, "s390x": 185}


def _drop_capabilities() -> None:
    """capset(2) with empty sets: root of the new user namespace keeps nothing."""
    machine = os.uname().machine
    if machine not in SYS_CAPSET:
        raise OSError(f"capset: the syscall number on {machine} is not known to the kit; "
                      "the zygote refuses to run a worker with its capabilities")
    header = struct.pack("Ii", 0x20080522, 0)         # _LINUX_CAPABILITY_VERSION_3, this thread
    data = ctypes.create_string_buffer(24)              # two empty __user_cap_data_struct
    _check(_libc.syscall(SYS_CAPSET[machine], ctypes.c_char_p(header), data), "capset")


def main() -> None:
    """Entry point inside bwrap (started by labkit/sandbox/zygote.py)."""
    serve(int(os.environ.pop("LABKIT_ZYGOTE_FD")))
