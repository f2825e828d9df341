"""TA decisions that outlive every regrade: score overrides and answered regrade requests.

One file per course, ``<course>/overrides.toml``, which a TA edits by hand or through
``python -m labkit override``. Each ``[[decision]]`` names a student's part (or one hidden
check of it), the TA, the date and the reason, and either

- ``points`` (a part's new score, 0..its points) or ``credit`` (a check's new credit, 0..1):
  an accepted override; or
- ``decision = "rejected"``: a regrade request answered without a change.

``GradeInWorker`` applies the decisions after every grading, whether the verdict came from the
cache or from the worker, so ``nbgrader autograde --force`` never undoes them. The overridden
score is what the autograder cell publishes, so nbgrader's gradebook, its grades CSV, the
per-part CSV and the report all carry it; the result JSON keeps the graded value beside it, and
the student's feedback shows the decision with its reason.
"""
from __future__ import annotations

import copy
import datetime as _dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from labkit.core.assignment import Assignment
from labkit.core.course_files import toml_entries
from labkit.core.results import SubmissionResult, status_of

FILE = "overrides.toml"
ACCEPTED, REJECTED = "accepted", "rejected"
FLAG_OVERRIDDEN, FLAG_ANSWERED = "overridden", "regrade_answered"
_KEYS = {"assignment", "student", "part", "check", "points", "credit", "decision", "reason", "by", "date",
         "request"}
HEADER = """\
# TA decisions on autograded scores (labkit/term/overrides.py; README: "Overrides and regrade requests").
# Every [[decision]] survives each later `nbgrader autograde --force`. Accepted: `points` for a
# whole part (0..its points) or `check` + `credit` (0..1) for one hidden check. Answered without a
# change: decision = "rejected". `reason` and `by` are required; the student sees the reason.
"""


class OverrideError(ValueError):
    """A decision the kit cannot apply: named with its position in the file, never skipped."""


@dataclass(frozen=True)
class Decision:
    """One TA decision about one student's part or check."""

    assignment: str
    student: str
    part: str
    reason: str
    by: str
    date: str
    decision: str = ACCEPTED
    check: str = ""
    points: float | None = None
    credit: float | None = None
    request: str = ""                # the student's regrade request, if the decision answers one

    @property
    def changes_score(self) -> bool:
        return self.decision == ACCEPTED


def _decision(entry: dict, where: str) -> Decision:
    unknown = set(entry) - _KEYS
    if unknown:
        raise OverrideError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_KEYS))}")
    for key in ("assignment", "student", "part", "reason", "by"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise OverrideError(f"{where}: `{key}` is required (a non-empty string)")
    decision = entry.get("decision", ACCEPTED)
    if decision not in (ACCEPTED, REJECTED):
        raise OverrideError(f"{where}: decision must be {ACCEPTED!r} or {REJECTED!r}, not {decision!r}")
    check = entry.get("check", "")
    points, credit = entry.get("points"), entry.get("credit")
    for key, value in (("points", points), ("credit", credit)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise OverrideError(f"{where}: `{key}` must be a number, not {value!r}")
    if decision == REJECTED:
        if points is not None or credit is not None:
            raise OverrideError(f"{where}: a rejected request changes no score; drop `points`/`credit`")
    elif check:
        if credit is None or points is not None or not 0.0 <= credit <= 1.0:
            raise OverrideError(f"{where}: a check's override needs `credit` between 0 and 1 (and no `points`)")
    elif points is None or credit is not None or points < 0:
        raise OverrideError(f"{where}: a part's override needs `points` (0..the part's points, no `credit`)")
    date = entry.get("date", "")
    return Decision(assignment=entry["assignment"], student=entry["student"], part=entry["part"],
                    reason=entry["reason"].strip(), by=entry["by"].strip(), date=str(date), decision=decision,
                    check=check, points=None if points is None else float(points),
                    credit=None if credit is None else float(credit), request=str(entry.get("request", "")))


def load(course: Path | str) -> list[Decision]:
    """Every decision of the course, in file order; no file: none."""
    path = Path(course) / FILE
    return load_text(path.read_text(encoding="utf-8"), str(path)) if path.is_file() else []


def load_text(text: str, where: str = FILE) -> list[Decision]:
    """The decisions in a file's text (``add`` validates a file this way before writing it)."""
    entries = toml_entries(text, table="decision", where=where, error=OverrideError)
    return [_decision(entry, f"{where} [[decision]] #{i}") for i, entry in enumerate(entries, 1)]


def validate(decision: Decision, assignment: Assignment) -> None:
    """The decision fits the assignment: its part exists and the points are within it."""
    if decision.part not in assignment.points:
        raise OverrideError(f"{decision.student}/{decision.assignment}: no part {decision.part!r}; "
                            f"parts: {', '.join(assignment.part_ids)}")
    top = assignment.points[decision.part]
    if decision.points is not None and not 0.0 <= decision.points <= top:
        raise OverrideError(f"{decision.student}/{decision.part}: points must be within 0..{top:g}, "
                            f"not {decision.points:g}")


def for_submission(decisions: list[Decision], assignment: str, student: str) -> list[Decision]:
    return [d for d in decisions if d.assignment == assignment and d.student == student]


def apply(result: SubmissionResult, decisions: list[Decision], assignment: Assignment) -> SubmissionResult:
    """A copy of ``result`` with the decisions in it (``result`` may be a cached object).

    Check overrides come first, then part overrides, so a part's points are final; later
    entries for the same target win, as a TA's later decision should.
    """
    if not decisions:
        return result
    out = copy.deepcopy(result)
    ordered = sorted(decisions, key=lambda d: 0 if d.check else 1)
    for d in ordered:
        validate(d, assignment)
        part = out.parts.get(d.part)
        if part is None:
            raise OverrideError(f"{d.student}/{d.part}: the result has no such part")
        record = {"decision": d.decision, "reason": d.reason, "by": d.by, "date": d.date,
                  "request": d.request, "part": d.part, "check": d.check}
        if d.changes_score and d.check:
            check = next((c for c in part.checks if c.name == d.check), None)
            if check is None:
                raise OverrideError(f"{d.student}/{d.part}: no check {d.check!r}; checks: "
                                    f"{', '.join(c.name for c in part.checks)}")
            graded = check.override.get("graded_credit", check.credit)
            graded_status = check.override.get("graded_status", check.status)
            check.credit = d.credit
            check.status = status_of(d.credit)
            check.override = {**record, "credit": d.credit, "graded_credit": graded, "graded_status": graded_status}
            record.update(graded=graded, now=d.credit)
        elif d.changes_score:
            graded = part.override.get("graded_points", part.score)
            part.override = {**record, "points": d.points, "graded_points": graded}
            record.update(graded=graded, now=d.points)
        out.decisions.append(record)
    flags = [FLAG_OVERRIDDEN] if any(d.changes_score for d in decisions) else []
    flags += [FLAG_ANSWERED] if any(not d.changes_score for d in decisions) else []
    out.flags = [*out.flags, *(f for f in flags if f not in out.flags)]
    return out


def _toml(value) -> str:
    # JSON's string escapes (\" \\ \n \uXXXX) are all valid in TOML basic strings.
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def add(course: Path | str, decision: Decision, assignment: Assignment) -> Path:
    """Append ``decision`` to the course's file (created with its header), after validating it
    against the assignment and re-reading the whole file, so a bad entry is never written."""
    validate(decision, assignment)
    path = Path(course) / FILE
    entry = {k: v for k, v in asdict(decision).items() if v not in (None, "")}
    entry.setdefault("date", _dt.date.today().isoformat())
    lines = ["", "[[decision]]", *(f"{key} = {_toml(value)}" for key, value in entry.items())]
    before = path.read_text(encoding="utf-8") if path.is_file() else HEADER
    text = before.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    load_text(text, str(path))   # the whole file still reads, or nothing is written
    fresh = path.with_name(f".{FILE}.new")
    fresh.write_text(text, encoding="utf-8")
    fresh.replace(path)          # atomic: a crash never leaves half a file
    return path

