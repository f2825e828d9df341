"""Every flag a grading can raise, in one registry: its kind, whether it is transient (not a
verdict: not cached, graded again), whether it counts as a failure in the progress bar, and
what it tells a TA. Parallel grading, the cache and the report all read this table."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    """How the report colours a flag."""

    TIMEOUT = "timeout"
    CRASH = "crash"
    SANDBOX = "sandbox"
    TAMPER = "tamper"
    CHANGED = "changed"


@dataclass(frozen=True)
class Flag:
    name: str
    kind: Kind
    help: str
    failure: bool = False     # the submission could not be graded as it should (progress bar count)
    transient: bool = False   # the grader or the host failed, not the student: never cached, retried


_ALL = (
    Flag("call_timeout", Kind.TIMEOUT, "a call into student code ran out of time", failure=True),
    Flag("cell_timeout", Kind.TIMEOUT, "a notebook cell ran out of time", failure=True),
    Flag("notebook_timeout", Kind.TIMEOUT, "the whole notebook ran out of time", failure=True),
    Flag("grader_timeout", Kind.TIMEOUT, "the grader itself ran out of time", failure=True, transient=True),
    Flag("grader_overloaded", Kind.CRASH, "the host gave student code too little CPU to decide a budget: "
                                          "not a verdict, regrade (it is not cached)", failure=True, transient=True),
    Flag("slow_host", Kind.CHANGED, "the host was slow or busy (wall time far above CPU time); budgets are "
                                    "CPU time, so the grade is unaffected"),
    Flag("retried", Kind.CHANGED, "graded a second time after a grader failure or an overloaded host"),
    Flag("interrupted", Kind.TIMEOUT, "grading stopped before every check ran; unfinished checks scored 0"),
    Flag("in_kernel", Kind.SANDBOX, "graded in the student's kernel (stock nbgrader mode), not the worker"),
    Flag("no_process_limit", Kind.SANDBOX, "root without a pids cgroup: nothing bounded the process count"),
    Flag("cell_crash", Kind.CRASH, "the worker crashed while running a cell", failure=True),
    Flag("grader_error", Kind.CRASH, "the grader failed internally", failure=True, transient=True),
    Flag("invalid_notebook", Kind.CRASH, "the notebook could not be graded", failure=True),
    Flag("result_unreadable", Kind.CRASH, "the result JSON could not be read"),
    Flag("no_result", Kind.CRASH, "in the gradebook, but no result JSON"),
    Flag("gradebook_unreadable", Kind.CRASH, "gradebook.db could not be read: scores from the result JSONs, "
                                             "without manual grades or late penalties (see the log)"),
    Flag("sandbox_fallback", Kind.SANDBOX, "student code ran without the bwrap sandbox"),
    Flag("tamper", Kind.TAMPER, "student code modified grader-visible libraries"),
    Flag("changed", Kind.CHANGED, "scores differ from the previous report run"),
    Flag("overridden", Kind.CHANGED, "a TA overruled an autograded score (overrides.toml); it survives regrades"),
    Flag("regrade_answered", Kind.CHANGED, "a regrade request was answered without a change (overrides.toml)"),
)
FLAGS: dict[str, Flag] = {flag.name: flag for flag in _ALL}
FAILURE: frozenset[str] = frozenset(f.name for f in _ALL if f.failure)
TRANSIENT: frozenset[str] = frozenset(f.name for f in _ALL if f.transient)


def info(name: str) -> Flag:
    """The registry's entry; a flag it does not know is shown as-is, never dropped."""
    return FLAGS.get(name) or Flag(name, Kind.CRASH, "unknown flag")
