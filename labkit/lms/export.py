"""From nbgrader's gradebook back to Moodle or Canvas: what both have in common (each student's
grade, penalty and comment); labkit/lms/moodle_export.py and labkit/lms/canvas_export.py write
each LMS's files.

``labkit lms-export <id> --moodle-worksheet W.csv`` (or ``--canvas-gradebook G.csv``) reads
the scores of nbgrader's gradebook (``gradebook.db``: the parts, manual grades, TA overrides
and the late penalty nbgrader applied) and the collector's hand-in manifest
(``reports/<id>_handin.json``), and writes under ``reports/``:

* Moodle: ``<id>_moodle_worksheet.csv``, the downloaded grading worksheet with only the
  ``Grade`` and ``Feedback comments`` fields changed (same columns, encoding, BOM, quoting,
  line endings; labkit/lms/csv_file.py), ready for "Upload grading worksheet"; and
  ``<id>_moodle_feedback.zip``, each student's nbgrader feedback HTML in the participant's
  folder of the download, ready for "Upload multiple feedback files in a zip".
* Canvas: ``<id>_canvas_grades.csv`` (Student, ID, SIS User ID, SIS Login ID, Section and the
  assignment's column) for the gradebook's "Import"; ``<id>_canvas_feedback.zip`` in the
  download's naming for "Re-Upload Submissions"; ``<id>_canvas_feedback/`` with one file per
  student named to be attached by hand; ``<id>_canvas_comments.csv`` (Canvas's import takes
  no comments).
* Both: ``<id>_lms_parts.csv``, per-part scores, penalty, final and LMS grade per student
  (labkit/term/scores.py's writer).

Every student of the manifest gets a row: no hand-in, or no notebook, is 0 with a comment
saying so, unless the LMS file already holds a grade for them (given by hand: kept, reported).
A hand-in the gradebook does not have (autograde not run, or failed) is left ungraded in the
LMS file and reported, never given a number it did not earn.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from labkit.term import scores
from labkit.core.assignment import Assignment
from labkit.core.i18n import language_for, number, tr
from labkit.term.handin import HandinStatus, load_manifest

PENALTY, FINAL, LMS_GRADE = "late_penalty", "final", "lms_grade"
NOTHING = ("missing", "no_notebook", "draft")   # statuses that score 0 without a gradebook entry


class ExportError(Exception):
    """What the LMS files or the course lack, said so that a TA can fix it."""


class GradeStatus(StrEnum):
    """What the LMS gets for one entry: a hand-in's status, or whether its notebook was graded."""

    GRADED = "graded"
    NOT_GRADED = "not_graded"        # collected but no grade (yet), or the collector failed on it
    MISSING = HandinStatus.MISSING.value
    NO_NOTEBOOK = HandinStatus.NO_NOTEBOOK.value
    DRAFT = HandinStatus.DRAFT.value
    ERROR = HandinStatus.ERROR.value
    COLLECTED = HandinStatus.COLLECTED.value
    LEFT_OUT = HandinStatus.LEFT_OUT.value


@dataclass
class StudentGrade:
    """One LMS entry's result, ready for its LMS."""

    lms_id: str
    student_id: str
    name: str
    status: GradeStatus
    parts: dict[str, float | None] = field(default_factory=dict)
    raw: float = 0.0                          # points before the late penalty
    penalty: float = 0.0
    final: float = 0.0
    hours_late: float = 0.0
    flags: list[str] = field(default_factory=list)
    graded_file: str = ""
    prefix: str = ""
    attachment_id: str = ""
    folders: bool = True
    feedback: Path | None = None


@dataclass
class ExportResult:
    lms: str
    files: list[Path]
    grades: list[StudentGrade]
    untouched: list[str] = field(default_factory=list)   # LMS rows left as they were, and why
    warnings: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)    # LMS rows that are not students (Canvas's Test Student)
    language: str = ""                                  # the LMS file's interface language


# --------------------------------------------------------------------------- grades


def class_grades(*, course: Path, assignment: Assignment, gradebook=None) -> list[StudentGrade]:
    """Every hand-in of the manifest with its gradebook scores and late penalty."""
    course = Path(course)
    manifest = load_manifest(course, assignment.id)
    if manifest is None:
        raise ExportError(f"no hand-in manifest reports/{assignment.id}_handin.json: collect the LMS "
                          f"download first (nbgrader zip_collect {assignment.id} --force)")
    if gradebook is None:
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            return _grades(manifest, course, assignment, gb)
    return _grades(manifest, course, assignment, gradebook)


def _grades(manifest: dict, course: Path, assignment: Assignment, gb) -> list[StudentGrade]:
    from nbgrader.api import MissingEntry
    book = scores.gradebook_scores(gb, assignment)
    out = []
    for h in manifest["handins"]:
        g = StudentGrade(lms_id=h["lms_id"], student_id=h["student_id"], name=h["name"], status=GradeStatus(h["status"]),
                         flags=list(h["flags"]), graded_file=h.get("graded_file", ""), prefix=h.get("prefix", ""),
                         attachment_id=h.get("attachment_id", ""), folders=h.get("folders", True),
                         parts=scores.empty_row(assignment))
        if h["status"] == HandinStatus.ERROR:      # the collector failed on it: a TA's case, never a number
            g.status = GradeStatus.NOT_GRADED
        if h["status"] == HandinStatus.COLLECTED:
            row = book.get(h["student_id"])
            if row is None:
                g.status = GradeStatus.NOT_GRADED
                g.parts = {k: None for k in scores.score_keys(assignment)}
            else:
                g.status = GradeStatus.GRADED
                g.parts = dict(row)
                g.raw = float(row[scores.TOTAL] or 0.0)
                try:
                    submission = gb.find_submission(assignment.id, h["student_id"])
                    g.penalty = float(submission.late_submission_penalty or 0.0)
                    g.hours_late = float(submission.total_seconds_late or 0.0) / 3600
                except MissingEntry:
                    pass
                g.final = max(0.0, g.raw - g.penalty)
                html = course / "feedback" / h["student_id"] / assignment.id / f"{assignment.id}.html"
                g.feedback = html if html.is_file() else None
        out.append(g)
    return out


def rescale(points: float, *, kit_max: float, lms_max: float) -> float:
    """The kit's points on the LMS's scale, to two decimals (Moodle shows two)."""
    return round(points / kit_max * lms_max, 2) if kit_max else 0.0


_NOTHING_WHY = {   # (Polish, English) of why a student with nothing graded gets 0
    "missing": ("nie oddano notebooka", "no notebook was handed in"),
    "no_notebook": ("wśród oddanych plików nie ma notebooka (.ipynb)", "no notebook (.ipynb) among the files handed in"),
    "draft": ("zapisano tylko wersję roboczą, nieprzesłaną do oceny", "only a draft was saved, never submitted for grading"),
}


def comment(g: StudentGrade, *, assignment: Assignment, lms_max: float) -> str:
    """The student's short comment: per-part points, late penalty, result, LMS grade, in the
    assignment's language. Only names of parts and numbers: nothing of the hidden checks."""
    lang = language_for(assignment)
    n = lambda v: number(v, lang)   # noqa: E731
    top = assignment.max_points
    if g.status in NOTHING:
        return tr("{id}: {why}: 0/{top} pkt, ocena 0/{max}.", "{id}: {why}: 0/{top} points, grade 0/{max}.",
                  lang=lang, id=assignment.id, why=tr(*_NOTHING_WHY[g.status], lang=lang), top=n(top), max=n(lms_max))
    keys = [*assignment.part_ids, *((scores.MANUAL,) if assignment.manual else ())]
    maxima = scores.max_points(assignment)
    parts = ", ".join(f"{k} {n(g.parts.get(k) or 0.0)}/{n(maxima[k])}" for k in keys)
    late = f" ({n(g.hours_late)} h)" if g.penalty and g.hours_late else ""
    text = tr("{id}: {parts}. Razem {raw}/{top} pkt; kara za spóźnienie −{penalty} pkt{late}; "
              "wynik {final}/{top} pkt, ocena {grade}/{max}.",
              "{id}: {parts}. Total {raw}/{top} points; late penalty −{penalty}{late}; "
              "result {final}/{top}, grade {grade}/{max}.",
              lang=lang, id=assignment.id, parts=parts, raw=n(g.raw), top=n(top), penalty=n(g.penalty), late=late,
              final=n(g.final), grade=n(rescale(g.final, kit_max=top, lms_max=lms_max)), max=n(lms_max))
    if "renamed" in g.flags or "several_notebooks" in g.flags:
        text += tr(" Oceniony plik: „{f}”.", " Graded file: “{f}”.", lang=lang, f=g.graded_file)
    return text


def write_parts(grades: list[StudentGrade], *, assignment: Assignment, lms_max: float, path: Path) -> Path:
    """Per-part scores with penalty, final and LMS grade: the instructor's own copy."""
    keys = (*scores.score_keys(assignment), PENALTY, FINAL, LMS_GRADE)
    rows = []
    for g in grades:
        row = dict(g.parts)
        if g.status == GradeStatus.NOT_GRADED:
            row.update({PENALTY: None, FINAL: None, LMS_GRADE: None})
        else:
            row.update({PENALTY: g.penalty, FINAL: g.final,
                        LMS_GRADE: rescale(g.final, kit_max=assignment.max_points, lms_max=lms_max)})
        rows.append((assignment.id, g.student_id, row))
    return scores.write_csv(path, rows, keys)


def parse_number(text: str) -> float | None:
    text = (text or "").strip().replace("\u00a0", "").replace(" ", "")
    if not text or text == "-":
        return None
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


def with_feedback(grades: list[StudentGrade], result: ExportResult):
    """The students who have a feedback HTML; a graded one without it is a warning."""
    for g in grades:
        if g.feedback is not None:
            yield g
        elif g.status == GradeStatus.GRADED:
            result.warnings.append(f"{g.student_id}: no feedback HTML (run nbgrader generate_feedback)")


def summary(result: ExportResult) -> str:
    """What a TA reads after the export."""
    counts: dict[str, int] = {}
    for g in result.grades:
        counts[g.status] = counts.get(g.status, 0) + 1
    lines = [f"{result.lms} ({result.language or 'en'} headers): "
             + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
             *(f"  wrote {p}" for p in result.files)]
    lines += [f"  left out: {u}" for u in result.left_out]
    lines += [f"  left as it was: {u}" for u in result.untouched]
    lines += [f"  warning: {w}" for w in result.warnings]
    return "\n".join(lines)
