"""How fast this grading host is, measured on a fixed workload at the start of a run.

The workload is one epoch of a tiny classifier on one thread, the kind of work a lab's
cells do. Two ratios against the kit's baseline machine come out of it:

- ``cpu_factor``: CPU seconds here / there. A slower processor needs more CPU time for the
  same work, so CPU budgets are multiplied by it (never below 1: a fast host does not
  tighten the budgets the notebook states).
- ``wall_factor``: wall seconds here / there. It also sees a CPU quota or a busy host;
  it decides nothing and is reported so that a TA can tell a slow run from a slow student.

The measurement runs in a child process (the caller may not want torch imported), forked
from the graders' preloaded forkserver, and is passed to the graders of a run through
``LABKIT_SPEED``, so one run has one factor.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from functools import lru_cache

ENV = "LABKIT_SPEED"
# The workload on the kit's baseline machine (2 cores, idle, one thread; minimum of
# REPEATS): re-measure with `python -m labkit.grading.speed --baseline` when the workload changes.
BASELINE_CPU_SECONDS = 0.170
BASELINE_WALL_SECONDS = 0.170
REPEATS = 3
MAX_FACTOR = 10.0   # a host 10x slower than the baseline is broken, not slow


@dataclass(frozen=True)
class MachineSpeed:
    """This host against the baseline: >1 means slower."""

    cpu_factor: float = 1.0
    wall_factor: float = 1.0
    measured: bool = False

    @property
    def budget_scale(self) -> float:
        """What CPU budgets are multiplied by."""
        return min(max(self.cpu_factor, 1.0), MAX_FACTOR)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> "MachineSpeed":
        data = json.loads(text)
        return cls(float(data["cpu_factor"]), float(data["wall_factor"]), bool(data.get("measured", True)))


def workload() -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one epoch of a 2-16-8-1 net on 5000 points, one thread.

    Minimum over REPEATS: the least disturbed run is the best estimate of the host's speed.
    """
    import torch
    from torch import nn
    from labkit.core.settings import THREADS
    torch.set_num_threads(THREADS)
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(5000, 2, generator=generator)
    y = (X.norm(dim=1) > 1.2).float().reshape(-1, 1)
    best_cpu = best_wall = float("inf")
    for _ in range(REPEATS):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        loss_fn = nn.BCELoss()
        cpu, wall = time.process_time(), time.perf_counter()
        model.train()
        for start in range(0, len(X), 32):
            optimizer.zero_grad()
            loss = loss_fn(model(X[start:start + 32]), y[start:start + 32])
            loss.backward()
            optimizer.step()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_cpu, best_wall


def measure() -> MachineSpeed:
    """Run the workload in a single-threaded child and compare with the baseline.

    The child is forked from the graders' forkserver (labkit/grading/forkserver.py), where torch and
    torch._dynamo are imported already: a fresh interpreter spent about 6 CPU s importing them
    for a 0.5 s workload, once per grading run. Where this process may not have children (a
    daemonic Dask worker) it is a fresh interpreter, as before.
    """
    try:
        cpu, wall = _forked_workload() if _may_fork() else _fresh_workload()
    except (subprocess.SubprocessError, ValueError, IndexError, OSError, EOFError, TimeoutError):
        return MachineSpeed()   # unmeasured: the stated budgets as they are, and the report says so
    return MachineSpeed(round(cpu / BASELINE_CPU_SECONDS, 3), round(wall / BASELINE_WALL_SECONDS, 3), True)


def _may_fork() -> bool:
    import multiprocessing
    return not multiprocessing.current_process().daemon


def _forked_workload(timeout: float = 600.0) -> tuple[float, float]:
    from labkit.grading import forkserver
    context = forkserver.context()
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=_workload_child, args=(writer,), daemon=False)
    with forkserver.hidden_main():
        child.start()
    writer.close()
    try:
        if not reader.poll(timeout):
            raise TimeoutError("the speed workload did not finish")
        cpu, wall = reader.recv()
    finally:
        reader.close()
        if child.is_alive():
            child.kill()
        child.join()
    return float(cpu), float(wall)


def _workload_child(writer) -> None:
    writer.send(workload())
    writer.close()


def _fresh_workload() -> tuple[float, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "labkit.grading.speed"], env=env, capture_output=True,
                         text=True, timeout=600, check=True).stdout
    cpu, wall = json.loads(out.strip().splitlines()[-1])
    return float(cpu), float(wall)


@lru_cache(maxsize=1)
def current() -> MachineSpeed:
    """This run's speed: from ``LABKIT_SPEED`` when the batch measured it, else measured now."""
    text = os.environ.get(ENV)
    if text:
        try:
            return MachineSpeed.from_env(text)
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{ENV} must be the JSON that labkit.grading.speed writes, got {text[:80]!r}") from None
    speed = measure()
    os.environ[ENV] = speed.to_env()   # graders started from here reuse it
    return speed


def main() -> None:
    cpu, wall = workload()
    if "--baseline" in sys.argv:
        print(f"BASELINE_CPU_SECONDS = {cpu:.3f}\nBASELINE_WALL_SECONDS = {wall:.3f}")
    print(json.dumps([cpu, wall]))


if __name__ == "__main__":
    main()
