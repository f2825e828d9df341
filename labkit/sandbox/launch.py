"""How a worker process is confined: bubblewrap where the host has it, rlimits otherwise.

With bwrap the worker gets fresh user, pid, network, ipc and uts namespaces, a
read-only view of the interpreter and of ``labkit`` only, and one writable scratch
directory (a tmpfs of bounded size, like /tmp). ``grader_tests/``, ``reference/``, ``source/``, the gradebook and the
submissions are simply not mounted. Resource limits (address space, CPU time, file
size, open files) are rlimits inherited through bwrap; the number of processes is
bounded by a pids cgroup when the grader may create one, or RLIMIT_NPROC otherwise.
Without bwrap the same rlimits apply to a plain subprocess and a loud warning is
logged and shown in the report: that path stops hangs, memory and fork bombs but not
file-system reads or signals to processes of the same user.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from labkit.core.settings import REPO_ROOT, Limits
from labkit.worker.rlimits import set_rlimits

# What of labkit/ a sandbox sees: the worker and what it may import (import-linter's contract
# "the worker imports only the protocol and the core" keeps this list sufficient).
UNTRUSTED_SIDE = ("__init__.py", "core", "protocol", "worker")


def _hide_trusted_side(kit: Path) -> list[str]:
    """bwrap arguments that leave only ``UNTRUSTED_SIDE`` of the read-only kit visible: every
    other package becomes an empty read-only tmpfs, every other file /dev/null."""
    argv: list[str] = []
    for path in sorted(kit.iterdir()):
        if path.name in UNTRUSTED_SIDE or path.name == "__pycache__":
            continue
        if path.is_dir():
            argv += ["--size", "4096", "--tmpfs", str(path), "--remount-ro", str(path)]
        else:
            argv += ["--ro-bind", "/dev/null", str(path)]
    return argv

log = logging.getLogger("labkit.sandbox.launch")
PIDS_CGROUP_ROOT = Path("/sys/fs/cgroup/pids")
FALLBACK_WARNING = (
    "bubblewrap (bwrap) is not available: student code runs in a plain subprocess with "
    "rlimits only. It cannot read-protect the hidden tests or stop signals to the grader. "
    "Install bwrap (Debian: apt-get install bubblewrap) or set LABKIT_SANDBOX=required."
)


class SandboxUnavailable(RuntimeError):
    """The settings require a sandbox that this host cannot provide."""


@dataclass(frozen=True)
class SandboxPlan:
    """Which confinement a worker gets on this host (``plan()`` logs why when it is not bwrap)."""

    kind: str                      # "bwrap" or "rlimit"


@dataclass
class Launch:
    """Everything subprocess.Popen needs to start one confined worker."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    preexec_fn: object
    cleanup_paths: list[Path] = field(default_factory=list)
    process_limit: bool = True     # False: root without a pids cgroup, nothing bounds a fork bomb


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def plan(policy: str) -> SandboxPlan:
    """Choose the confinement for ``policy`` ("auto", "required" or "off")."""
    if policy == "off":
        return SandboxPlan("rlimit")
    if bwrap_path() and _bwrap_works():
        return SandboxPlan("bwrap")
    if policy == "required":
        raise SandboxUnavailable("LABKIT_SANDBOX=required but bwrap is missing or cannot create namespaces")
    log.warning(FALLBACK_WARNING)
    return SandboxPlan("rlimit")


_BWRAP_OK: bool | None = None


def _bwrap_works() -> bool:
    """bwrap may exist yet fail (no user namespaces in a container); try it once."""
    global _BWRAP_OK
    if _BWRAP_OK is None:
        import subprocess
        try:
            result = subprocess.run(
                [bwrap_path(), "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                 "--proc", "/proc", "--dev", "/dev", "true"],
                capture_output=True, timeout=20)
            _BWRAP_OK = result.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _BWRAP_OK = False
    return _BWRAP_OK


def _readable_roots() -> list[Path]:
    """The interpreter, its standard library and site-packages: what a worker may read."""
    roots = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    roots.add(Path(sys.executable).resolve().parent.parent)
    return sorted(roots)


def _hidden_paths() -> list[Path]:
    """Trusted material that must not show through a readable root (a non-editable install)."""
    hidden = []
    for root in _readable_roots():
        for site in root.glob("lib/python*/site-packages"):
            for name in ("reference", "grader_tests"):
                if (site / name).exists():
                    hidden.append(site / name)
    return hidden


def worker_env(limits: Limits, generation: int, home: str) -> dict[str, str]:
    """A minimal environment: no inherited secrets, one thread, a private home."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "MPLCONFIGDIR": f"{home}/.mpl",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        "LANG": "C.UTF-8",
        "LABKIT_GENERATION": str(generation),
        "LABKIT_OUTPUT_LIMIT": str(limits.output_bytes),
        "LABKIT_IMAGES_PER_CELL": str(limits.images_per_cell),
    }


def make_pids_cgroup(limit: int) -> Path | None:
    """A pids cgroup capped at ``limit`` tasks, when the host lets us make one."""
    if not (PIDS_CGROUP_ROOT / "cgroup.procs").exists() or not os.access(PIDS_CGROUP_ROOT, os.W_OK):
        return None
    path = PIDS_CGROUP_ROOT / f"labkit-{uuid.uuid4().hex[:12]}"
    try:
        path.mkdir()
        (path / "pids.max").write_text(str(limit))
        return path
    except OSError:
        return None


def remove_cgroup(path: Path) -> None:
    """Kill what is left in a worker's cgroup and remove it."""
    import signal
    try:
        for pid in (path / "cgroup.procs").read_text().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        for _ in range(50):
            try:
                path.rmdir()
                return
            except OSError:
                import time
                time.sleep(0.02)
    except OSError:
        pass


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: a worker never outlives the grader that started it (Linux only)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _preexec(limits: Limits, cgroup: Path | None):
    """Runs in the child between fork and exec: join the cgroup, set rlimits, new session."""
    nproc = None if cgroup is not None or os.geteuid() == 0 else limits.processes

    def apply() -> None:
        os.setsid()
        _die_with_parent()
        if cgroup is not None:
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))
        set_rlimits(limits, nproc)

    return apply


def launch(plan_: SandboxPlan, *, scratch: Path, limits: Limits, generation: int,
           entry: str = "worker.server") -> Launch:
    """Command, environment and pre-exec hook that start ``labkit.<entry>.main()`` confined.

    ``entry`` is "worker.server" (one submission) or "sandbox.zygote" (labkit/sandbox/zygote.py: forks workers).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    # normpath, not resolve: the venv's own python path is what selects its site-packages.
    python = os.path.normpath(os.path.abspath(sys.executable))
    cgroup = make_pids_cgroup(limits.processes)
    cleanup = [cgroup] if cgroup else []
    # RLIMIT_NPROC does not bind root; without a pids cgroup nothing bounds the process count.
    bounded = cgroup is not None or os.geteuid() != 0
    if plan_.kind == "bwrap":
        home = "/scratch"
        argv = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session",
                "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL",
                "--proc", "/proc", "--dev", "/dev",
                # Sized tmpfs mounts: writes are bounded in total, not only per file (RLIMIT_FSIZE).
                "--size", str(limits.file_bytes), "--tmpfs", "/tmp"]
        for system_dir in ("/usr", "/bin", "/lib", "/lib64", "/etc"):
            if Path(system_dir).exists():
                argv += ["--ro-bind", system_dir, system_dir]
        for root in _readable_roots():
            argv += ["--ro-bind", str(root), str(root)]
        kit = REPO_ROOT / "labkit"
        argv += ["--ro-bind", str(kit), str(kit)] + _hide_trusted_side(kit)
        for hidden in _hidden_paths():
            argv += ["--tmpfs", str(hidden)]
        argv += ["--size", str(limits.file_bytes), "--tmpfs", home, "--chdir", home,
                 "--", python, "-s", "-c", _BOOT.format(kit_parent=str(kit.parent), entry=entry)]
        env = worker_env(limits, generation, home)
        env["LABKIT_PIDNS"] = "1"   # the worker may reap every process of its namespace but init
        return Launch(argv, env, str(scratch), _preexec(limits, cgroup), cleanup, bounded)
    env = worker_env(limits, generation, str(scratch))
    argv = [python, "-s", "-c", _BOOT.format(kit_parent=str((REPO_ROOT / "labkit").parent), entry=entry)]
    return Launch(argv, env, str(scratch), _preexec(limits, cgroup), cleanup, bounded)


# The worker must import labkit (and only labkit) from the kit, never the course root:
# putting the repository root on sys.path would expose reference/ and grader_tests/ to
# the fallback path and shadow-import a student's torch.py from the working directory.
_BOOT = (
    "import sys, importlib.util as u\n"
    "sys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
    "spec = u.spec_from_file_location('labkit', {kit_parent!r} + '/labkit/__init__.py',"
    " submodule_search_locations=[{kit_parent!r} + '/labkit'])\n"
    "m = u.module_from_spec(spec); sys.modules['labkit'] = m; spec.loader.exec_module(m)\n"
    "from labkit.{entry} import main; main()\n"
)
