"""How many CPUs this process may really use: affinity and cgroup CPU quotas, not the core count.

A container or a systemd slice with ``cpu.max`` (cgroup v2) or ``cpu.cfs_quota_us``
(cgroup v1) of half a CPU still shows every core in ``os.cpu_count()``; grading with one
job per visible core there would put several single-threaded graders on half a CPU.
"""
from __future__ import annotations

import math
import os
from pathlib import Path


def _affinity() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _mounts() -> list[tuple[str, Path, set[str]]]:
    """(fstype, mount point, options) of every cgroup mount, from /proc/self/mountinfo."""
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((tail[0], Path(fields[4]), set(tail[2].split(","))))
    return found


def _own_paths() -> tuple[str | None, str | None]:
    """This process's cgroup path in the v1 cpu hierarchy and in the v2 one."""
    v1 = v2 = None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if number == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v1, v2


def _walk_up(mount: Path, path: str):
    """The cgroup's folder and each ancestor's, up to the mount (a parent's quota binds too)."""
    folder = mount / path.lstrip("/")
    while True:
        yield folder
        if folder == mount or mount not in folder.parents:
            return
        folder = folder.parent


def quota_cpus() -> float | None:
    """The tightest CPU quota over this process's cgroups and their ancestors (None: unlimited)."""
    v1_path, v2_path = _own_paths()
    limits: list[float] = []
    for fstype, mount, options in _mounts():
        if fstype == "cgroup" and "cpu" in options and v1_path is not None:
            for folder in _walk_up(mount, v1_path):
                try:
                    quota = int((folder / "cpu.cfs_quota_us").read_text())
                    period = int((folder / "cpu.cfs_period_us").read_text())
                except (OSError, ValueError):
                    continue
                if quota > 0 and period > 0:
                    limits.append(quota / period)
        elif fstype == "cgroup2" and v2_path is not None:
            for folder in _walk_up(mount, v2_path):
                try:
                    quota, period = (folder / "cpu.max").read_text().split()
                except (OSError, ValueError):
                    continue
                if quota != "max" and int(period) > 0:
                    limits.append(int(quota) / int(period))
    return min(limits) if limits else None


def usable_cpus() -> float:
    """CPUs this process can keep busy: its affinity, capped by any cgroup quota."""
    quota = quota_cpus()
    return min(float(_affinity()), quota) if quota is not None else float(_affinity())


def default_jobs(cpus_per_job: float) -> int:
    """Submissions to grade at once so that their processes fit the usable CPUs.

    ``cpus_per_job``: CPUs one grading keeps busy, its trusted grader and its worker
    together (see PIPELINE_CPUS in labkit/runner/parallel.py, measured by bench/slow_machine.py).
    """
    return max(1, math.floor(usable_cpus() / cpus_per_job + 1e-9))
