"""Grading one notebook on several cores: its lanes (labkit/core/lanes.py), side by side.

Inside the trusted grader (a pytest session, labkit/grading/pytest_plugin.py), before the first
check: the notebook runs in its worker, and as the run passes a lane's boundary (``boundaries``)
the worker is copied for that lane (``Fork``) and a grader process is forked for it. Every lane's
grader runs the same collected checks but only its lane's parts, on its lane's copy, while the
notebook's later cells still run; the process that ran the notebook waits for the lanes and
merges their parts into the one SubmissionResult. Student code still runs only in the sandbox:
the graders are trusted processes, forked before any check ran.

Nothing here depends on timing: each lane starts from the same copy of the notebook, whether
the lanes run at once (an idle machine) or one after another (a busy one), and a lane whose
copy died with its worker is made again and graded again from its start.
"""
from __future__ import annotations

import ctypes
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from labkit.core import assignment as assignments
from labkit.core.results import SubmissionResult

__all__ = ["Lane", "boundaries", "lane_of", "start", "owns", "results_path", "merge_children", "close",
           "exit_if_lane"]

_LANE = pytest.StashKey["Lane"]()


@dataclass
class Lane:
    """This grader process's lane: its index (-1: the process that runs the notebook and merges),
    its parts and its copy of the notebook's worker."""

    index: int
    parts: frozenset[str]
    sub: object                                  # a labkit.grading.client.Submission
    main: object = None                          # the worker the copies were made from
    copies: list = field(default_factory=list)
    children: list[tuple[int, int]] = field(default_factory=list)   # (pid, lane) of the lanes' graders


class _InLane(Exception):
    """Raised in a lane's freshly forked grader, out of the notebook's run, into its checks."""


def lane_of(config: pytest.Config) -> Lane | None:
    return config.stash.get(_LANE, None)


def _wanted(config: pytest.Config) -> tuple[tuple[str, ...], ...]:
    target = config.getoption("--submission", default=None)
    if target in (None, "kernel") or config.getoption("--part", default=None) or config.option.collectonly:
        return ()
    plan = assignments.current().lanes
    return plan if len(plan) > 1 else ()


def boundaries(sub, plan: tuple[tuple[str, ...], ...]) -> list[int | None]:
    """Per lane, the first notebook cell its checks must not see (None: they see every cell).

    A part's checks see the notebook up to its own autograder cell and the cells after it up to
    the next answer cell: what a kernel has run when nbgrader's hidden tests run in that cell,
    demonstrations included. A lane sees up to its last part's boundary; the reference, which
    has no autograder cells, is seen whole."""
    if getattr(sub, "notebook", None) is None:
        return [None] * len(plan)
    from labkit.core.cells import nbgrader_meta
    from labkit.core.notebook import read_notebook
    cells = read_notebook(Path(sub.notebook))["cells"]
    assignment = sub.assignment
    bound: dict[str, int | None] = {}
    for part in assignment.parts:
        at = next((i for i, c in enumerate(cells) if nbgrader_meta(c).get("grade_id") == part.cell), None)
        after = [i for i, c in enumerate(cells) if at is not None and i > at and nbgrader_meta(c).get("solution")]
        bound[part.id] = after[0] if after else None
    return [None if any(bound[p] is None for p in lane) else max(bound[p] for p in lane) for lane in plan]


def start(config: pytest.Config, make: Callable[[pytest.Config], object]) -> None:
    """Run the notebook, copying its worker for each lane as the run passes the lane's boundary
    and forking that lane's grader at once: a lane's checks run while later cells still do.
    A lane whose copy the rest of the run ended (its worker died, or a later cell signalled it)
    is made again from a replay and graded again from its start, so when that happened never
    shows in a verdict.
    A worker that cannot start, or a notebook that brings it down too often, leaves the session
    as it was: the ``submission`` fixture meets the same failure and reports it as every grading
    does."""
    plan = _wanted(config)
    if not plan:
        return
    main = make(config)
    bounds = boundaries(main, plan)
    launched: dict[int, tuple[int, int]] = {}    # lane -> (its grader's pid, worker generation copied)
    copies: list = [None] * len(plan)
    watched: dict = {}                           # lane -> its copy's process, as this process sees it

    def launch(k: int, twin) -> None:
        twin.replay_upto = bounds[k]   # a copy that dies is replayed up to its lane's boundary only
        copies[k] = twin
        watched[k] = twin.worker.proc
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            config.stash[_LANE] = Lane(k, frozenset(plan[k]), twin)
            raise _InLane
        # Its grader owns the copy now: this process only removes what is left at the end.
        _let_go([twin], keep=-1)
        twin.worker.proc = None
        launched[k] = (pid, main.generation)

    def at_cell(index: int) -> None:
        for k, bound in enumerate(bounds):
            if k not in launched and bound is not None and index >= bound:
                launch(k, main.fork(k))

    try:
        main.start(at_cell=at_cell)
        # A copy taken during the run that is stopped now, or ended otherwise than by its lane's
        # end (its grader closes the channel and the copy exits 0), was ended by the run: its
        # worker died (a cell crashed or hung it) or a later cell signalled it (the copies share
        # the worker's sandbox). Its lane is graded again, from its start, on a replay.
        redo = sorted(k for k, (_, generation) in launched.items()
                      if generation != main.generation or _ended_by_the_run(watched[k]))
        for k in range(len(plan)):
            if k not in launched:
                launch(k, main.fork(k))
        for k in redo:
            _end(launched[k][0])
            Path(f"{config.getoption('--results-json')}.lane{k}").unlink(missing_ok=True)
            launch(k, main.replayed(bounds[k]))
    except _InLane:
        return
    except Exception:
        # The worker could not start, or the notebook brought it down more often than it may be
        # restarted: the session grades in one lane, as without lanes, and meets the same failure
        # in the ``submission`` fixture (a notebook's doing, so the same on every regrade).
        for k, (pid, _) in launched.items():
            _end(pid)
            Path(f"{config.getoption('--results-json')}.lane{k}").unlink(missing_ok=True)
        main.close()
        return
    config.stash[_LANE] = Lane(-1, frozenset(), None, main, copies, [(pid, k) for k, (pid, _) in launched.items()])


def _ended_by_the_run(copy) -> bool:
    if copy.running():
        return False
    return copy.poll() != 0


def _end(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass


def _die_with_parent() -> None:
    """A lane's grader ends with the first one (a grading timeout kills only that one)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)   # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        os._exit(1)


def _let_go(copies: list, keep: int) -> None:
    """Close this process's ends of the other lanes' channels (their graders hold their own)."""
    for k, twin in enumerate(copies):
        if k != keep and twin.worker.proc is not None:
            for stream in (twin.worker.proc.stdin, twin.worker.proc.stdout, getattr(twin.worker.proc, "conn", None)):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass


def owns(config: pytest.Config, part: str | None) -> bool:
    """Whether this grader process runs the checks of ``part``."""
    lane = lane_of(config)
    return lane is None or part in lane.parts


def results_path(config: pytest.Config, out: str) -> str:
    """Where this process writes its results: the merging one the whole, a lane its parts."""
    lane = lane_of(config)
    return out if lane is None or lane.index < 0 else f"{out}.lane{lane.index}"


def merge_children(config: pytest.Config, result: SubmissionResult, out: str) -> None:
    """Wait for the other lanes' graders and take their parts, flags and findings into ``result``.
    A lane whose grader left no results keeps its parts empty (a grader error, graded again)."""
    lane = lane_of(config)
    if lane is None or lane.index >= 0:
        return
    for pid, k in lane.children:
        os.waitpid(pid, 0)
        path = Path(f"{out}.lane{k}")
        if not path.exists():
            continue
        other = SubmissionResult.load(path)
        path.unlink()
        for part_id, part in other.parts.items():
            result.parts[part_id] = part
        result.flags = sorted(set(result.flags) | set(other.flags))
        result.tamper = sorted(set(result.tamper) | set(other.tamper))
        result.diagnoses += other.diagnoses
        result.artifacts.update(other.artifacts)
        result.timings["worker_cpu_seconds"] = round(result.timings.get("worker_cpu_seconds", 0)
                                                     + other.timings.get("worker_cpu_seconds", 0), 3)
        result.timings["worker_restarts"] = max(result.timings.get("worker_restarts", 0),
                                                other.timings.get("worker_restarts", 0))


def exit_if_lane(config: pytest.Config) -> None:
    """A lane's grader ends here, its results written: it never runs its parent's exit handlers
    (they would stop the zygote that the parent and the other lanes still use)."""
    lane = lane_of(config)
    if lane is not None and lane.index >= 0:
        import sys
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def close(config: pytest.Config) -> None:
    """The merging grader, once every lane is done: every copy and the worker, gone."""
    lane = lane_of(config)
    if lane is None or lane.index >= 0:
        return
    for twin in lane.copies:
        if twin is not None:
            twin.close()
    lane.main.close()
