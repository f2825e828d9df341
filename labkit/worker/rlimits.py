"""The worker's resource limits, applied to the calling process: by the trusted side's
pre-exec hook of a cold worker (labkit/sandbox/launch.py) and by the zygote's forked worker
(labkit/worker/zygote_server.py) alike."""
from __future__ import annotations

import resource

from labkit.core.settings import Limits

RLIMIT_FIELDS = ("memory_bytes", "cpu_seconds", "file_bytes")   # what set_rlimits reads of Limits


def set_rlimits(limits: Limits | dict, nproc: int | None) -> None:
    """The worker's resource limits, applied to the calling process (cold launch and zygote
    alike): address space, CPU seconds, file size, no core dumps, 256 descriptors, and the
    process count where no pids cgroup bounds it."""
    get = limits.get if isinstance(limits, dict) else lambda name: getattr(limits, name)
    memory, cpu, size = (int(get(name)) for name in RLIMIT_FIELDS)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    if nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (int(nproc), int(nproc)))
