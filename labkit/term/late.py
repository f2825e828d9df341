"""Late work on nbgrader's own machinery: a deadline per assignment, extensions per student and
a penalty per started day.

nbgrader already knows how late a submission is: ``nbgrader submit`` writes ``timestamp.txt``
into the exchange, ``nbgrader collect`` copies it to ``submitted/<student>/<id>/``,
``nbgrader autograde`` stores it as the submission's timestamp, and the gradebook computes
``total_seconds_late = timestamp - (assignment.duedate + submission.extension)``. Its
``AssignLatePenalties`` step then asks a ``LateSubmissionPlugin`` for each notebook's penalty,
which the gradebook, ``grades.csv`` (``late_submission_penalty``, ``score``) and the students'
feedback all show. This module only says where the numbers come from:

* the deadline: ``[term] due = 2026-11-20T23:59:00+01:00`` in
  ``grader_tests/<id>/assignment.toml`` (never released; a twin inherits its base's);
* extensions: ``[[extension]]`` tables in ``<course>/extensions.toml`` (kept out of git);
* the penalty: ``PerDayPenalty``, by default 10% of the notebook's points per started day,
  at most 50% (``c.PerDayPenalty.per_day``, ``c.PerDayPenalty.cap``).

nbgrader's side is in labkit/nbgrader_ext/: ``PerDayPenalty`` (per_day_penalty.py) and
``LatePenalties`` (late_penalties.py), which takes ``AssignLatePenalties``' place in
``Autograde.autograde_preprocessors``: it writes the deadline and the student's extension into
the gradebook (so formgrader and the exports see the same ones), then lets nbgrader do the rest.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from nbgrader.utils import parse_utc

from labkit.core.assignment import AssignmentError, _chain, _read
from labkit.core.course_files import toml_entries

DAY = 86400.0
EXTENSIONS = "extensions.toml"
_TERM_KEYS = {"due"}
_EXTENSION_KEYS = {"student", "assignment", "until", "days", "reason"}


class LateError(ValueError):
    """A deadline or an extension the kit cannot apply; the message names the file and entry."""


# --------------------------------------------------------------------------- arithmetic


def started_days(seconds_late: float) -> int:
    """Days of lateness, every started day counting whole: 1 s late is one day, 24 h is one."""
    return 0 if seconds_late <= 0 else math.ceil(seconds_late / DAY)


# The course's default policy (nbgrader_config.py may set its own: c.PerDayPenalty.per_day / .cap).
PER_DAY = 0.10      # share of the points lost per started day late
CAP = 0.50          # largest share lost, however late


def penalty_fraction(seconds_late: float, per_day: float = PER_DAY, cap: float = CAP) -> float:
    """The share of the points lost: ``per_day`` per started day, at most ``cap``."""
    return min(cap, per_day * started_days(seconds_late))


def penalty_points(seconds_late: float, max_score: float, per_day: float = PER_DAY, cap: float = CAP) -> float:
    """The penalty in points (rounded like the grader's scores, so 3 x 10% is exactly 30%)."""
    return round(max_score * penalty_fraction(seconds_late, per_day, cap), 4)


# --------------------------------------------------------------------------- deadlines


def _utc(value: Any, where: str) -> _dt.datetime:
    """A TOML offset datetime (or a string with an offset) as naive UTC, nbgrader's convention.
    A local time without an offset is refused: the server's timezone must not decide a grade."""
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value)
        except ValueError:
            raise LateError(f"{where}: {value!r} is not a date and time "
                            f"(write e.g. 2026-11-20T23:59:00+01:00)") from None
    if not isinstance(value, _dt.datetime):
        raise LateError(f"{where}: {value!r} is not a date and time (write e.g. 2026-11-20T23:59:00+01:00)")
    if value.tzinfo is None:
        raise LateError(f"{where}: {value.isoformat()} has no UTC offset (write e.g. {value.isoformat()}+01:00)")
    return parse_utc(value)


def deadline(assignment_id: str, root: Path | str) -> _dt.datetime | None:
    """The assignment's deadline in naive UTC from ``[term] due`` of its description (or of the
    nearest base that sets one), or None when none is written."""
    try:
        chain = _chain(Path(root), assignment_id)
    except AssignmentError as exc:
        raise LateError(str(exc)) from None
    for path in chain:   # own description first, then its bases
        term = _read(path).get("term", {})
        if not isinstance(term, dict):
            raise LateError(f"{path}: `term` must be a table ([term])")
        unknown = set(term) - _TERM_KEYS
        if unknown:
            raise LateError(f"{path}: unknown keys in [term]: {sorted(unknown)}; known: {sorted(_TERM_KEYS)}")
        if "due" in term:
            return _utc(term["due"], f"{path} [term] due")
    return None


# --------------------------------------------------------------------------- extensions


@dataclass(frozen=True)
class Extension:
    """More time for one student on one assignment: a new deadline (``until``) or extra days."""

    student: str
    assignment: str
    reason: str
    until: _dt.datetime | None = None   # naive UTC
    days: float | None = None

    def delta(self, due: _dt.datetime) -> _dt.timedelta:
        """The extension as nbgrader stores it: added to the assignment's deadline ``due``."""
        if self.until is not None:
            if self.until <= due:
                raise LateError(f"extension of {self.student}/{self.assignment}: until {self.until} UTC is not "
                                f"after the deadline {due} UTC")
            return self.until - due
        return _dt.timedelta(days=float(self.days or 0.0))


def _extension(entry: Any, where: str, known: Iterable[str] | None) -> Extension:
    if not isinstance(entry, dict):
        raise LateError(f"{where}: must be a table")
    unknown = set(entry) - _EXTENSION_KEYS
    if unknown:
        raise LateError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: "
                        f"{', '.join(sorted(_EXTENSION_KEYS))}")
    for key in ("student", "assignment", "reason"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise LateError(f"{where}: `{key}` is required (a non-empty string)")
    if known is not None and entry["assignment"] not in set(known):
        raise LateError(f"{where}: unknown assignment {entry['assignment']!r}; described are: "
                        f"{', '.join(sorted(known)) or 'none'}")
    if ("until" in entry) == ("days" in entry):
        raise LateError(f"{where}: give either `until` (a new deadline) or `days` (extra days), not "
                        f"{'both' if 'until' in entry else 'neither'}")
    days = entry.get("days")
    if days is not None and (isinstance(days, bool) or not isinstance(days, (int, float)) or days <= 0):
        raise LateError(f"{where}: `days` must be a positive number, not {days!r}")
    until = _utc(entry["until"], f"{where} until") if "until" in entry else None
    return Extension(student=entry["student"].strip(), assignment=entry["assignment"].strip(),
                     reason=entry["reason"].strip(), until=until, days=None if days is None else float(days))


def load_extensions(root: Path | str, known: Iterable[str] | None = None) -> list[Extension]:
    """Every ``[[extension]]`` of ``<root>/extensions.toml`` (none without the file). ``known``:
    the course's assignment ids, so that a misspelt one is an error rather than no extension."""
    path = Path(root) / EXTENSIONS
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LateError(f"{path}: not valid TOML: {exc}") from None
    entries = toml_entries(text, table="extension", where=str(path), error=LateError)
    known = None if known is None else list(known)
    found = [_extension(entry, f"{path} [[extension]] #{i}", known) for i, entry in enumerate(entries, 1)]
    seen: set[tuple[str, str]] = set()
    for e in found:
        if (e.student, e.assignment) in seen:   # which one would win is not obvious: refuse both
            raise LateError(f"{path}: two extensions for {e.student}/{e.assignment}; keep one")
        seen.add((e.student, e.assignment))
    return found


def extension_for(extensions: Iterable[Extension], assignment: str, student: str) -> Extension | None:
    return next((e for e in extensions if e.assignment == assignment and e.student == student), None)


def seconds_late(timestamp: _dt.datetime, due: _dt.datetime | None, extension: Extension | None = None) -> float:
    """How late a submission is, as nbgrader's gradebook computes it (extension included)."""
    if due is None:
        return 0.0
    end = due + (extension.delta(due) if extension is not None else _dt.timedelta(0))
    return max(0.0, (timestamp - end).total_seconds())


# --------------------------------------------------------------------------- nbgrader


# --------------------------------------------------------------------------- reading it back


@dataclass(frozen=True)
class Lateness:
    """A submission's lateness as the gradebook has it, for the report and the exports."""

    timestamp: _dt.datetime | None      # naive UTC, from the exchange's timestamp.txt
    deadline: _dt.datetime | None       # the student's own: the assignment's plus any extension
    extension: _dt.timedelta | None
    seconds_late: float
    penalty: float                      # points, summed over the notebooks

    @property
    def days(self) -> int:
        return started_days(self.seconds_late)

    @property
    def late(self) -> bool:
        return self.seconds_late > 0

    @property
    def extension_text(self) -> str:
        """The extension for a reader: "2 d 12 h", "" when there is none."""
        if not self.extension:
            return ""
        hours = round(self.extension.total_seconds() / 3600)
        return " ".join(f"{n} {unit}" for n, unit in ((hours // 24, "d"), (hours % 24, "h")) if n) or "0 h"


def lateness(gradebook, assignment_id: str) -> dict[str, Lateness]:
    """student -> Lateness for every submission of ``assignment_id`` in an open Gradebook."""
    from nbgrader.api import MissingEntry
    try:
        assignment = gradebook.find_assignment(assignment_id)
    except MissingEntry:
        return {}
    return {s.student.id: Lateness(timestamp=s.timestamp, deadline=s.duedate, extension=s.extension,
                                   seconds_late=float(s.total_seconds_late or 0.0),
                                   penalty=round(float(s.late_submission_penalty or 0.0), 4))
            for s in assignment.submissions}


CSV_KEYS = ("late_submission_penalty", "score")   # nbgrader's grades.csv names them so


def with_penalty(row: dict[str, float | None], late: Lateness | None) -> dict[str, float | None]:
    """A per-part row (labkit/term/scores.py) with the late penalty and the score after it, as
    nbgrader's grades.csv computes them (``score = max(0, total - penalty)``)."""
    penalty = late.penalty if late is not None else 0.0
    total = float(row.get("total") or 0.0)
    return {**row, CSV_KEYS[0]: penalty, CSV_KEYS[1]: round(max(0.0, total - penalty), 4)}
