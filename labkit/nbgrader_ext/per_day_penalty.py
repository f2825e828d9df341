"""nbgrader's late-submission plug-in with a penalty per started day (labkit/term/late.py says
where the deadline and the extensions come from)."""
from __future__ import annotations

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float, validate

from labkit.term.late import CAP, PER_DAY, penalty_points, started_days


class PerDayPenalty(LateSubmissionPlugin):
    """nbgrader's late-submission plugin with one more method, ``per_day`` (the default):
    ``per_day`` of the notebook's points for every started day late, at most ``cap`` of them.
    nbgrader then caps the penalty at the notebook's score, so a grade never goes below 0."""

    penalty_method = Enum(("none", "zero", "per_day"), default_value="per_day",
                          help="'per_day': per_day x started days, capped; 'none' and 'zero' as in "
                               "nbgrader's LateSubmissionPlugin.").tag(config=True)
    per_day = Float(PER_DAY, help="Share of the points lost per started day late.").tag(config=True)
    cap = Float(CAP, help="Largest share of the points lost, however late.").tag(config=True)

    @validate("per_day", "cap")
    def _share(self, proposal):
        if not 0.0 <= proposal["value"] <= 1.0:
            raise ValueError(f"{proposal['trait'].name} is a share of the points, 0..1; got {proposal['value']}")
        return proposal["value"]

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        if self.penalty_method != "per_day":
            return super().late_submission_penalty(student_id, score, total_seconds_late)
        penalty = penalty_points(total_seconds_late, self._max_score(student_id, score), self.per_day, self.cap)
        self.log.info("%s: %d started day(s) late, penalty %s", student_id, started_days(total_seconds_late), penalty)
        return penalty

    def _max_score(self, student_id: str, score: float) -> float:
        """The notebook's points, from the gradebook AssignLatePenalties has open (its plugin
        API passes only the score)."""
        parent = self.parent
        try:
            notebook = parent.gradebook.find_submission_notebook(parent.notebook_id, parent.assignment_id, student_id)
            return float(notebook.max_score)
        except Exception as exc:   # called outside AssignLatePenalties: the score is all there is
            # Not quiet: a share of the score is a smaller penalty than the policy states.
            self.log.error("%s: the notebook's points are unknown (%s: %s); the late penalty is a share of "
                           "the SCORE, not of the points, this time", student_id, type(exc).__name__, exc)
            return float(score)
