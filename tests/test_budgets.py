"""Budgets in CPU time (labkit/sandbox/worker_process.py ``Wait``, labkit/sandbox/cputime.py, labkit/grading/speed.py, labkit/runner/cpus.py).

The classification of a waiting request is tested on a fake clock and a fake meter, so
nothing here depends on how fast or how busy this machine is. Real processes are used
only where the kernel's accounting itself is the subject, and only CPU time is asserted.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import time

import pytest

from labkit.grading import client
from labkit.runner import cpus
from labkit.grading import speed
from labkit.sandbox import worker_process
from labkit.core.assignment import load
from labkit.sandbox.cputime import ProcessTree, Sample
from labkit.core.settings import REPO_ROOT, Limits
from labkit.sandbox.worker_process import Wait, WorkerTimeout

LAB06 = load("lab06", REPO_ROOT)
LIMITS = dataclasses.replace(Limits(), idle_seconds=60.0, overload_multiple=10.0)


class FakeMeter:
    """Samples scripted by the test: (cpu seconds, runnable) per reading."""

    def __init__(self):
        self.cpu, self.runnable = 0.0, True

    def sample(self) -> Sample:
        return Sample(self.cpu, self.runnable, True)


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(worker_process.time, "monotonic", lambda: now[0])
    return now


def run_until_expired(wait: Wait, meter: FakeMeter, clock, *, cpu_per_second: float, runnable: bool,
                      horizon: float = 10_000.0) -> tuple[WorkerTimeout | None, float]:
    """Advance the fake clock in poll steps; the timeout and the wall time it came at."""
    start = clock[0]
    while clock[0] - start < horizon:
        clock[0] += worker_process._POLL_SECONDS
        meter.cpu += cpu_per_second * worker_process._POLL_SECONDS
        meter.runnable = runnable
        timeout = wait.expired()
        if timeout is not None:
            return timeout, clock[0] - start
    return None, horizon


def test_a_computing_call_is_stopped_by_its_cpu_budget_whatever_the_host_speed(clock):
    """A full CPU or a quarter of one (a 4x slower or busy host): the same budget of CPU time."""
    for share in (1.0, 0.25):
        meter = FakeMeter()
        wait = Wait("f", 30.0, 30.0, LIMITS, meter)
        timeout, wall = run_until_expired(wait, meter, clock, cpu_per_second=share, runnable=True)
        assert timeout.kind == "cpu" and timeout.seconds == 30.0
        assert wall == pytest.approx(30.0 / share, abs=1.0)


def test_sleeping_code_is_stopped_as_idle_after_the_idle_budget(clock):
    meter = FakeMeter()
    wait = Wait("cell 3", 90.0, 90.0, LIMITS, meter)
    timeout, wall = run_until_expired(wait, meter, clock, cpu_per_second=0.0, runnable=False)
    assert timeout.kind == "idle" and wall == pytest.approx(LIMITS.idle_seconds, abs=1.0)


def test_starved_code_that_still_runs_is_not_idle_and_ends_as_overload_not_a_verdict(clock):
    """Runnable but given almost no CPU: the host's fault. Only the wall backstop stops it,
    as an overload (a transient failure that is graded again), never as a timeout."""
    meter = FakeMeter()
    wait = Wait("train", 120.0, 120.0, LIMITS, meter)
    timeout, wall = run_until_expired(wait, meter, clock, cpu_per_second=0.001, runnable=True)
    assert timeout.kind == "overload"
    assert wall == pytest.approx(LIMITS.overload_multiple * 120.0 + LIMITS.idle_seconds, abs=1.0)


def test_budgets_follow_the_measured_cpu_speed_and_never_tighten(tmp_path):
    nb = tmp_path / "nb.ipynb"
    import nbformat
    nbformat.write(nbformat.v4.new_notebook(), str(nb))
    slow = client.Submission(assignment=LAB06, notebook=nb,
                             machine=speed.MachineSpeed(cpu_factor=2.5, wall_factor=9.0))
    fast = client.Submission(assignment=LAB06, notebook=nb,
                             machine=speed.MachineSpeed(cpu_factor=0.5, wall_factor=0.5))
    assert slow._budget("f", 30.0).cpu_budget == pytest.approx(75.0)
    assert slow._budget("f", 30.0).stated == 30.0            # messages state the notebook's number
    assert fast._budget("f", 30.0).cpu_budget == pytest.approx(30.0)
    assert speed.MachineSpeed(cpu_factor=50).budget_scale == speed.MAX_FACTOR


def test_machine_speed_round_trips_through_the_environment(monkeypatch):
    measured = speed.MachineSpeed(1.25, 4.1, True)
    monkeypatch.setenv(speed.ENV, measured.to_env())
    speed.current.cache_clear()
    try:
        assert speed.current() == measured
        monkeypatch.setenv(speed.ENV, "fast")
        speed.current.cache_clear()
        with pytest.raises(ValueError, match=speed.ENV):
            speed.current()
    finally:
        speed.current.cache_clear()


def test_the_speed_workload_runs_in_a_preloaded_fork_or_where_forking_is_barred_a_fresh_interpreter(monkeypatch):
    """One measurement per run: forked from the graders' forkserver (torch already imported),
    or in a fresh interpreter from a daemonic process (a Dask worker may not fork)."""
    forked = speed.measure()
    assert forked.measured and forked.cpu_factor > 0 and forked.wall_factor > 0
    used = []
    monkeypatch.setattr(speed, "_may_fork", lambda: False)
    monkeypatch.setattr(speed, "_forked_workload", lambda: used.append("fork") or (0.1, 0.1))
    fresh = speed.measure()
    assert used == [] and fresh.measured and fresh.cpu_factor > 0


def test_the_process_tree_counts_children_that_already_exited():
    """A worker's DataLoader processes (or a student's fork) are charged to the worker."""
    script = textwrap.dedent("""
        import os, sys, time
        pid = os.fork()
        if pid == 0:
            end = time.process_time() + 0.4
            while time.process_time() < end:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
        sys.stdout.write("done\\n"); sys.stdout.flush()
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "done\n"
        assert ProcessTree(proc.pid).sample().cpu_seconds >= 0.35
    finally:
        proc.stdin.close()
        proc.wait()


def test_the_process_tree_reads_never_go_down():
    tree = ProcessTree(os.getpid())
    first = tree.sample().cpu_seconds
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert tree.sample().cpu_seconds >= first


def test_usable_cpus_is_capped_by_a_cgroup_quota(monkeypatch):
    monkeypatch.setattr(cpus, "quota_cpus", lambda: 0.5)
    assert cpus.usable_cpus() == 0.5 and cpus.default_jobs(1.0) == 1
    monkeypatch.setattr(cpus, "quota_cpus", lambda: None)
    monkeypatch.setattr(cpus, "_affinity", lambda: 8)
    assert cpus.default_jobs(1.0) == 8 and cpus.default_jobs(2.0) == 4
