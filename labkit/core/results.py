"""Typed grading results: a check, a part, a submission. JSON in, JSON out."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from labkit.core.assignment import Assignment


class CheckStatus(StrEnum):
    """How one hidden check ended. A StrEnum: it is its own JSON string."""

    PASSED = "passed"
    PARTIAL = "partial"
    FAILED = "failed"                # the check's verdict: the student's answer is wrong
    ERROR = "error"                  # the student's code raised, or the notebook cannot be graded
    TIMEOUT = "timeout"              # the student's call used up its CPU budget
    OVERLOADED = "overloaded"        # the host was too busy to tell (flagged, regraded)
    CRASHED = "crashed"              # the process running the student's code died
    GRADER_ERROR = "grader_error"    # the grader's own failure, never charged (see _fraction)


class CellStatus(StrEnum):
    """How one notebook cell ran in the worker."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    OVERLOADED = "overloaded"
    CRASHED = "crashed"
    SKIPPED = "skipped"              # not run: it hung or crashed the worker before


# Cells whose code did not run to its end for a reason other than its own exception.
CELLS_CUT_SHORT = frozenset({CellStatus.TIMEOUT, CellStatus.OVERLOADED, CellStatus.CRASHED, CellStatus.SKIPPED})


def status_of(credit: float) -> CheckStatus:
    """A check's status from the credit it earned: the one rule the grader and TA overrides share."""
    return CheckStatus.PASSED if credit >= 1.0 else (CheckStatus.PARTIAL if credit > 0 else CheckStatus.FAILED)


@dataclass
class CheckResult:
    """One hidden check: its weight inside the part and the credit (0..1) it earned."""

    part: str
    name: str
    weight: float
    credit: float
    status: CheckStatus
    message: str = ""
    seconds: float = 0.0
    override: dict = field(default_factory=dict)   # a TA's decision (labkit/term/overrides.py); empty: none

    @property
    def graded_credit(self) -> float:
        """The credit the grader gave, before any TA override (what item analysis measures)."""
        return float(self.override.get("graded_credit", self.credit))


def _fraction(checks: list[CheckResult], credit) -> float:
    # A check the grader itself failed (labkit/grading/client.py, GraderError) is never charged to
    # the student: it is left out of its part's weighted credit, and a part whose every check was
    # left out keeps its points. The grading is flagged grader_error: not cached, graded again.
    counted = [c for c in checks if c.status != CheckStatus.GRADER_ERROR]
    if not counted:
        return 1.0 if checks else 0.0
    total = sum(c.weight for c in counted)
    return sum(c.weight * credit(c) for c in counted) / total if total else 0.0


@dataclass
class PartResult:
    """A part's checks; its score is the weighted credit scaled to the part's points."""

    part: str
    max_points: float
    checks: list[CheckResult] = field(default_factory=list)
    override: dict = field(default_factory=dict)   # a TA's points for the whole part; empty: none

    @property
    def fraction(self) -> float:
        return _fraction(self.checks, lambda c: c.credit)

    @property
    def score(self) -> float:
        """The part's points: a TA's override if there is one, else the checks' weighted credit."""
        if "points" in self.override:
            return round(float(self.override["points"]), 4)
        # Rounded so that float noise never shows up as 2.9999999 in a gradebook.
        return round(self.max_points * self.fraction, 4)

    @property
    def graded_score(self) -> float:
        """The points the grader gave, before any TA override."""
        return round(self.max_points * _fraction(self.checks, lambda c: c.graded_credit), 4)


@dataclass
class SubmissionResult:
    """Everything the grader learned about one notebook."""

    notebook: str
    parts: dict[str, PartResult]
    assignment: str = ""
    cells: dict[str, list] = field(default_factory=dict)       # cell index -> nbformat outputs
    cell_status: dict[str, CellStatus] = field(default_factory=dict)   # cell index -> how it ran
    flags: list[str] = field(default_factory=list)
    tamper: list[str] = field(default_factory=list)
    artifacts: dict = field(default_factory=dict)               # losses, RESULTS, boundary grid...
    timings: dict = field(default_factory=dict)
    invalid: str = ""                                           # why the notebook could not be graded
    sandbox: str = ""
    machine: dict = field(default_factory=dict)                 # labkit.grading.speed.MachineSpeed of the run
    grader_log: str = ""                                        # for TAs only, never in feedback
    decisions: list[dict] = field(default_factory=list)         # TA decisions applied (labkit/term/overrides.py)
    diagnoses: list[dict] = field(default_factory=list)         # likely mistakes named (never scored)

    @property
    def total(self) -> float:
        return round(sum(p.score for p in self.parts.values()), 4)

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, ensure_ascii=False, indent=1, default=_jsonable)

    @classmethod
    def from_json(cls, text: str) -> "SubmissionResult":
        data = json.loads(text)
        parts = {name: PartResult(p["part"], p["max_points"],
                                  [CheckResult(**{**c, "status": CheckStatus(c["status"])}) for c in p["checks"]],
                                  p.get("override") or {})
                 for name, p in data.pop("parts").items()}
        data["cell_status"] = {i: CellStatus(s) for i, s in (data.get("cell_status") or {}).items()}
        return cls(parts=parts, **data)

    @classmethod
    def load(cls, path: Path) -> "SubmissionResult":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def empty_parts(assignment: Assignment) -> dict[str, PartResult]:
    """The assignment's parts, in notebook order, with their points and no checks yet."""
    return {part.id: PartResult(part.id, part.points) for part in assignment.parts}


def failed_submission(notebook: str, reason: str, flag: str, assignment: Assignment) -> SubmissionResult:
    """A submission that could not be graded at all: every part scores zero, with the reason."""
    parts = empty_parts(assignment)
    for part in parts.values():
        part.checks.append(CheckResult(part.part, "submission_gradable", 1.0, 0.0, CheckStatus.ERROR, reason))
    return SubmissionResult(notebook=notebook, parts=parts, assignment=assignment.id, flags=[flag],
                            invalid=reason)


def _jsonable(value):
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)
