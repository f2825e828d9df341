"""The class as the report sees it: each student's result JSON, gradebook scores, lateness and flags."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.core.assignment import Assignment
from labkit.core.flags import FLAGS
from labkit.core.results import SubmissionResult
from labkit.term import scores

if TYPE_CHECKING:
    from labkit.term.late import Lateness

CHANGE_TOLERANCE = 5e-5            # scores are rounded to 4 decimals by the grader
FLAG_ORDER = list(FLAGS)

@dataclass
class StudentEntry:
    """What the report knows about one student."""

    student: str
    anchor: str
    result: SubmissionResult | None = None
    load_error: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)
    source: str = "results"                                   # "gradebook", "results" or "none"
    flags: list[str] = field(default_factory=list)
    changes: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    late: Lateness | None = None                              # from the gradebook (labkit/term/late.py)


def load_results(results_dir: Path) -> dict[str, tuple[SubmissionResult | None, str]]:
    """student -> (result, error message); an unreadable JSON keeps the student with its error."""
    out: dict[str, tuple[SubmissionResult | None, str]] = {}
    if not results_dir.is_dir():
        return out
    for path in sorted(results_dir.glob("*.json")):
        try:
            out[path.stem] = (SubmissionResult.load(path), "")
        except Exception as exc:  # a truncated or foreign file must not sink the whole report
            out[path.stem] = (None, f"{type(exc).__name__}: {exc}")
    return out


class GradebookUnreadable(Exception):
    """gradebook.db exists but cannot be read."""


def _gradebook_scores(course: Path, assignment: Assignment, gradebook, read=None) -> dict[str, Any]:
    read = read or (lambda gb: scores.gradebook_scores(gb, assignment))
    if gradebook is not None:
        return read(gradebook)
    db = course / "gradebook.db"
    if not db.is_file():
        return {}
    from nbgrader.api import Gradebook
    try:
        with Gradebook(f"sqlite:///{db}") as gb:
            return read(gb)
    except Exception as exc:
        raise GradebookUnreadable(f"{db}: {type(exc).__name__}: {exc}") from exc


def _anchor(student: str, used: set[str]) -> str:
    base = "student-" + (re.sub(r"[^A-Za-z0-9_-]", "_", student)[:60] or "x")
    anchor, i = base, 1
    while anchor in used:
        i += 1
        anchor = f"{base}-{i}"
    used.add(anchor)
    return anchor


def _differs(old, new) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    try:
        return abs(float(old) - float(new)) > CHANGE_TOLERANCE
    except (TypeError, ValueError):
        return True


def _result_flags(result: SubmissionResult | None, error: str) -> list[str]:
    if result is None:
        return ["result_unreadable" if error else "no_result"]
    found = [str(f) for f in result.flags]
    if result.tamper and "tamper" not in found:
        found.append("tamper")
    if result.invalid and "invalid_notebook" not in found:
        found.append("invalid_notebook")
    return found


def collect(course: Path, assignment: Assignment, gradebook=None,
            previous: dict[str, dict] | None = None) -> list[StudentEntry]:
    """Every student with a result JSON or a gradebook submission, with scores and flags."""
    results = load_results(course / "reports" / "results" / assignment.id)
    from labkit.term.late import lateness
    try:
        book = _gradebook_scores(course, assignment, gradebook)
        lates = _gradebook_scores(course, assignment, gradebook, lambda gb: lateness(gb, assignment.id))
        unreadable = False
    except GradebookUnreadable as exc:
        # The result JSONs still make a report, but without manual grades and late penalties:
        # every student is flagged, and the log says why.
        logging.getLogger(__name__).error("the report is built without the gradebook: %s", exc)
        book, lates, unreadable = {}, {}, True
    keys = scores.score_keys(assignment)
    used: set[str] = set()
    entries = []
    for student in sorted(set(results) | set(book)):
        entry = StudentEntry(student=student, anchor=_anchor(student, used))
        entry.result, entry.load_error = results.get(student, (None, ""))
        entry.late = lates.get(student)
        if student in book:
            entry.scores, entry.source = dict(book[student]), "gradebook"
        elif entry.result is not None:
            entry.scores, entry.source = scores.result_scores(entry.result, assignment), "results"
        else:
            entry.scores, entry.source = {k: None for k in keys}, "none"
        found = _result_flags(entry.result, entry.load_error) + (["gradebook_unreadable"] if unreadable else [])
        old = (previous or {}).get(student)
        if old is not None:
            entry.changes = {k: (old.get(k), entry.scores.get(k)) for k in keys
                             if _differs(old.get(k), entry.scores.get(k))}
            if entry.changes:
                found.append("changed")
        known = [f for f in FLAG_ORDER if f in found]
        entry.flags = known + sorted(set(found) - set(known))
        entries.append(entry)
    return entries
