"""What a student sees of the hidden checks before the deadline, and how often: the
``[feedback]`` table of an assignment's description (docs/instant-feedback.md).

    [feedback]
    attempts_per_day = 5                 # graded attempts per student and day (0: no instant feedback)
    parts = "visible"                    # every part: visible | after_deadline | hidden
    [feedback.part]
    experiments = "after_deadline"       # this part's score and messages wait for the deadline
    [feedback.check]
    test_best_config_reaches_the_accuracy = "hidden"

Before the deadline a student's instant feedback shows each *visible* part's score with the
messages of its visible checks; an *after_deadline* part or check is named, with a note that
it is shown after the deadline; a *hidden* one is not mentioned. After the deadline everything
is shown, as in the batch feedback. The table is the instructor's, in the description that
students never see; it changes no verdict, so it is not part of the grader's fingerprint.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from labkit.core.assignment import AssignmentError, _chain, _read

_KEYS = {"attempts_per_day", "parts", "part", "check"}


class Visibility(StrEnum):
    VISIBLE = "visible"
    AFTER_DEADLINE = "after_deadline"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class FeedbackPolicy:
    attempts_per_day: int = 5
    parts: Visibility = Visibility.VISIBLE
    part: dict[str, Visibility] = field(default_factory=dict)
    check: dict[str, Visibility] = field(default_factory=dict)

    def of_part(self, part: str) -> Visibility:
        return self.part.get(part, self.parts)

    def of_check(self, part: str, check: str) -> Visibility:
        """A check is never shown more than its part."""
        own = self.check.get(check, Visibility.VISIBLE)
        order = list(Visibility)
        return max(own, self.of_part(part), key=order.index)


def _visibility(value: Any, where: str) -> Visibility:
    try:
        return Visibility(value)
    except ValueError:
        raise AssignmentError(f"{where} = {value!r}; allowed: {', '.join(v.value for v in Visibility)}") from None


def feedback_policy(assignment_id: str, root: Path | str, parts: tuple[str, ...] = (),
                    checks: tuple[str, ...] | None = None) -> FeedbackPolicy:
    """The policy of ``[feedback]`` in the description (or its nearest base that has one).
    Unknown keys, values, parts and (when ``checks`` is given) check names are errors."""
    for path in _chain(Path(root), assignment_id):
        table = _read(path).get("feedback")
        if table is None:
            continue
        if not isinstance(table, dict):
            raise AssignmentError(f"{path}: `feedback` must be a table ([feedback])")
        unknown = set(table) - _KEYS
        if unknown:
            raise AssignmentError(f"{path}: unknown keys in [feedback]: {sorted(unknown)}; known: {sorted(_KEYS)}")
        attempts = table.get("attempts_per_day", 5)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
            raise AssignmentError(f"{path}: [feedback] attempts_per_day = {attempts!r}; a whole number >= 0")
        part = {k: _visibility(v, f"{path}: [feedback.part] {k}") for k, v in table.get("part", {}).items()}
        check = {k: _visibility(v, f"{path}: [feedback.check] {k}") for k, v in table.get("check", {}).items()}
        if parts and set(part) - set(parts):
            raise AssignmentError(f"{path}: [feedback.part] names no part of the notebook: "
                                  f"{sorted(set(part) - set(parts))}; parts: {', '.join(parts)}")
        if checks is not None and set(check) - set(checks):
            raise AssignmentError(f"{path}: [feedback.check] names no check: {sorted(set(check) - set(checks))}")
        return FeedbackPolicy(attempts, _visibility(table.get("parts", "visible"), f"{path}: [feedback] parts"),
                              part, check)
    return FeedbackPolicy()


def before(deadline: _dt.datetime | None, when: _dt.datetime) -> bool:
    """Whether ``when`` (naive UTC) is before the deadline; no deadline: always before."""
    return deadline is None or when <= deadline
