"""GenerateFeedback: the page the student reads starts with the parts and their verdicts.

After nbgrader's ``GetGrades`` (scores and comments from the gradebook), this preprocessor
puts in ``resources["labkit_feedback"]`` what the kit's feedback template
(``templates/labkit_feedback``) shows at the top: one row per graded cell with its verdict,
a link that lands on the cell (``<a name>`` and ``id``), a written answer nobody graded yet as
"awaits a TA" (nbgrader's page says "Score: 0.0 / 3.0", which a student reads as a zero).

With ``instant`` (set by the grading service, labkit/service/), it also says which attempt
this is and when it was graded, and before the deadline it withholds what the description's
``[feedback]`` table withholds (labkit/term/feedback_policy.py): a part's score and messages,
or single checks. After the deadline, and in the batch feedback, everything is shown.
"""
from __future__ import annotations

import copy
import datetime as _dt
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Int, Unicode

from labkit.core.assignment import activate, load
from labkit.core.cells import grade_id, is_autograder_tests, nbgrader_meta
from labkit.core.i18n import tr
from labkit.core.results import PartResult, SubmissionResult
from labkit.nbgrader_ext.course_context import course_root
from labkit.nbgrader_ext.verdict_cells import verdict_outputs
from labkit.term import late
from labkit.term.feedback_policy import FeedbackPolicy, Visibility, before, feedback_policy

__all__ = ["FeedbackSummary"]


class FeedbackSummary(NbGraderPreprocessor):
    """The summary at the top of the feedback page, and what instant feedback withholds."""

    instant = Bool(False, help="Instant feedback before the deadline (the grading service sets it).").tag(config=True)
    attempt = Int(0, help="Which graded attempt of the student this is (instant feedback).").tag(config=True)
    graded_at = Unicode("", help="When it was graded, ISO 8601 UTC (instant feedback).").tag(config=True)
    results_dir = Unicode("", help="GradeInWorker's results_dir (default: its configured value, "
                                   "else <course>/reports/results).").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        root = course_root(self)
        assignment = load(info["assignment"], root)
        activate(assignment)   # the page in the assignment's language
        result = self._result(root, info["assignment"], info["student"])
        due = late.deadline(assignment.id, root) if self.instant else None
        withhold = self.instant and before(due, _dt.datetime.utcnow())
        policy = feedback_policy(assignment.id, root, assignment.part_ids) if withhold else FeedbackPolicy()
        awaiting, unanswered = self._manual_states(info)
        rows, withheld = [], False
        for cell in nb.cells:
            gid = grade_id(cell)
            meta = nbgrader_meta(cell)
            if not meta.get("grade") or not gid:
                continue
            if is_autograder_tests(cell):
                part = assignment.part_of_cell(gid)
                shown = policy.of_part(part)
                withheld |= shown is not Visibility.VISIBLE or any(
                    policy.of_check(part, c.name) is not Visibility.VISIBLE
                    for c in (result.parts[part].checks if result and part in result.parts else ()))
                if shown is Visibility.HIDDEN:
                    cell.outputs = []
                    meta["labkit_verdict"] = ""
                    continue
                if shown is Visibility.AFTER_DEADLINE:
                    cell.outputs = [_note(tr("Wynik tej części zobaczysz po terminie.",
                                             "You will see this part's result after the deadline."))]
                    meta["labkit_verdict"] = tr("po terminie", "after the deadline")
                    rows.append(_row(gid, _part_label(part), meta["labkit_verdict"], "withheld"))
                    continue
                if withhold and result and part in result.parts:
                    cell.outputs = verdict_outputs(_visible_checks(result.parts[part], policy), result.invalid)
                meta["labkit_verdict"] = _points(meta)
                rows.append(_row(gid, _part_label(part), meta["labkit_verdict"], _state(meta)))
            else:
                label = tr("Odpowiedź pisemna", "Written answer")
                if gid in awaiting:
                    verdict = tr("czeka na ocenę prowadzącego", "awaits a TA")
                    rows.append(_row(gid, label, verdict, "awaiting"))
                else:
                    verdict = _points(meta) + (tr(" (bez odpowiedzi)", " (not answered)") if gid in unanswered else "")
                    rows.append(_row(gid, label, verdict, _state(meta)))
                meta["labkit_verdict"] = verdict
        resources["labkit_feedback"] = self._page(resources, rows, withheld, due)
        return nb, resources

    def _page(self, resources, rows, withheld: bool, due: _dt.datetime | None) -> dict:
        info = resources["nbgrader"]
        notes = []
        if withheld:
            notes.append(tr("Część wyników prowadzący pokaże po terminie ({d} UTC).",
                            "Some results are shown after the deadline ({d} UTC).",
                            d=due.strftime("%Y-%m-%d %H:%M") if due else "?"))
        if any(r["state"] == "awaiting" for r in rows):
            notes.append(tr("Odpowiedzi pisemne oceni prowadzący; wynik może jeszcze wzrosnąć.",
                            "A TA grades the written answers; the score may still go up."))
        header = ""
        if self.instant:
            header = tr("Próba {n}, oceniona {t} UTC (sprawdzarka na bieżąco, przed terminem).",
                        "Attempt {n}, graded {t} UTC (instant feedback, before the deadline).",
                        n=self.attempt, t=self.graded_at.replace("T", " ")[:16])
        total = (tr("wynik {s:.2f} / {m:.2f} pkt", "score {s:.2f} / {m:.2f} points",
                    s=float(info.get("score") or 0.0), m=float(info.get("max_score") or 0.0))
                 if not withheld else tr("wyniki poniżej", "results below"))
        return {"rows": rows, "notes": notes, "header": header, "total": total,
                "late": tr("Kara za spóźnienie: −{p:.2f} pkt", "Late penalty: −{p:.2f} points",
                           p=float(info.get("late_penalty") or 0.0)),
                "written": tr("Odpowiedź pisemna", "Written answer"), "top": tr("do góry", "top"),
                "tests": tr("Testy części", "The part's tests"),
                "comments": tr("Komentarz:", "Comments:")}

    def _result(self, root: Path, assignment_id: str, student: str) -> SubmissionResult | None:
        folder = Path(self.results_dir or self.config.get("GradeInWorker", {}).get("results_dir")
                      or root / "reports" / "results")
        path = folder / assignment_id / f"{student}.json"
        return SubmissionResult.load(path) if path.is_file() else None

    @staticmethod
    def _manual_states(info: dict) -> tuple[set[str], set[str]]:
        """Grade ids of the manually graded cells nobody has graded yet, and of those left as
        released (nbgrader scores an unchanged answer 0 without a TA)."""
        waiting, unanswered = set(), set()
        with Gradebook(info["db_url"]) as gb:
            try:
                notebook = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
            except MissingEntry:
                return waiting, unanswered
            manual = {cell.name for cell in notebook.notebook.grade_cells if not cell.cell_type == "code"
                      or cell.name in {c.name for c in notebook.notebook.solution_cells}}
            for grade in notebook.grades:
                if grade.name not in manual or grade.manual_score is not None:
                    continue
                if grade.needs_manual_grade and grade.auto_score is None:
                    waiting.add(grade.name)
                elif grade.auto_score == 0:
                    unanswered.add(grade.name)
        return waiting, unanswered


def _visible_checks(part: PartResult, policy: FeedbackPolicy) -> PartResult:
    """The part as a student may read it before the deadline: hidden checks left out, the
    messages of after-deadline ones held back; the part's score stays the whole part's."""
    shown = copy.deepcopy(part)
    shown.override = {**shown.override, "points": part.score}
    shown.checks = []
    for check in part.checks:
        visibility = policy.of_check(part.part, check.name)
        if visibility is Visibility.HIDDEN:
            continue
        if visibility is Visibility.AFTER_DEADLINE:
            check = copy.copy(check)
            check.message = tr("(szczegóły po terminie)", "(details after the deadline)")
        shown.checks.append(check)
    return shown


def _row(anchor: str, label: str, verdict: str, state: str) -> dict:
    return {"anchor": anchor, "label": label, "verdict": verdict, "state": state}


def _part_label(part: str) -> str:
    return tr("Część {p}", "Part {p}", p=part)


def _points(meta: dict) -> str:
    return f"{float(meta.get('score') or 0.0):.2f} / {float(meta.get('points') or 0.0):.2f}"


def _state(meta: dict) -> str:
    score, points = float(meta.get("score") or 0.0), float(meta.get("points") or 0.0)
    return "full" if points and score >= points else ("partial" if score > 0 else "zero")


def _note(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text + "\n")
