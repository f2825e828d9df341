"""Moodle's side of ``labkit lms-export``: the grading worksheet filled in, the feedback zip."""
from __future__ import annotations

import zipfile
from pathlib import Path

from labkit.core.assignment import Assignment, load
from labkit.lms import csv_file as lms_csv
from labkit.lms import export as common
from labkit.lms.export import NOTHING, ExportError, ExportResult, GradeStatus, StudentGrade, comment, rescale, write_parts
from labkit.lms.export import parse_number
from labkit.lms.export import with_feedback
from labkit.lms.headers import MOODLE_NO, MOODLE_WORKSHEET, resolve
from labkit.lms.naming import MOODLE, moodle_folder
from labkit.lms.roster import DEFAULT_TIMEZONE, parse_lms_time, participant_id


def export_moodle(*, course: Path, assignment_id: str, worksheet: Path, max_grade: float | None = None,
                  columns: dict[str, str] | None = None, gradebook=None,
                  timezone: str = DEFAULT_TIMEZONE) -> ExportResult:
    """The filled-in worksheet, the feedback zip and the parts CSV (see the module doc).

    ``timezone``: the zone in which the worksheet shows its times (the downloading teacher's
    Moodle time zone); ``Last modified (grade)`` is written back as the same instant in ISO 8601
    with its offset, which PHP's ``strtotime`` reads in any interface language (docs/lms.md)."""
    course = Path(course)
    assignment = load(assignment_id, course)
    table = lms_csv.load(worksheet)
    cols = resolve(table.columns, MOODLE_WORKSHEET, overrides=columns, required=("identifier", "grade"),
                   what=str(worksheet))
    grades = {g.lms_id: g for g in common.class_grades(course=course, assignment=assignment, gradebook=gradebook)}
    result = ExportResult(lms=MOODLE, files=[], grades=list(grades.values()), language=cols.language)
    if cols["feedback"] is None:
        result.warnings.append(f"NO COMMENTS WRITTEN: the worksheet has no column {cols.headers['feedback']} "
                               "(feedback comments off in the assignment, or a renamed column: --column "
                               "feedback=HEADER); grades only")
    if cols["graded"] is None:
        result.warnings.append(f"no column {cols.headers['graded']}: Moodle's upload will refuse this worksheet")
    lms_max = _moodle_max(table, cols, max_grade)
    # Moodle shows (and reads back, unformat_float) grades with the interface's decimal separator.
    comma = cols.language == "pl" or any("," in table.get(r, cols["max_grade"]) for r in table.rows)
    seen = set()
    for n, row in enumerate(table.rows, 2):
        raw_id = table.get(row, cols["identifier"]).strip()
        if not raw_id:
            continue
        pid = participant_id(raw_id)
        seen.add(pid)
        _readable_grade_time(table, row, cols, timezone, f"{worksheet.name}:{n}", result)
        g = grades.get(pid)
        why = _moodle_untouched(table, row, cols, g, assignment)
        if why:
            result.untouched.append(f"{raw_id}{f' ({g.student_id})' if g else ''}: {why}")
            continue
        value = f"{rescale(g.final, kit_max=assignment.max_points, lms_max=lms_max):.2f}"
        table.set(row, cols["grade"], value.replace(".", ",") if comma else value)
        if cols["feedback"] is not None:
            table.set(row, cols["feedback"], comment(g, assignment=assignment, lms_max=lms_max))
    for pid, g in grades.items():
        if pid not in seen:
            result.untouched.append(f"participant {pid} ({g.student_id}): in the download, not in the worksheet "
                                    "(download the worksheet again)")
    reports = course / "reports"
    result.files.append(table.write(reports / f"{assignment.id}_moodle_worksheet.csv"))
    result.files.append(_moodle_feedback_zip(result.grades, assignment, reports / f"{assignment.id}_moodle_feedback.zip",
                                             result))
    result.files.append(write_parts(result.grades, assignment=assignment, lms_max=lms_max,
                                    path=reports / f"{assignment.id}_lms_parts.csv"))
    return result


def _moodle_max(table, cols, max_grade: float | None) -> float:
    if max_grade is not None:
        return max_grade
    col = cols["max_grade"]
    maxima = [m for r in table.rows if (m := parse_number(table.get(r, col))) is not None] if col is not None else []
    if not maxima:
        raise ExportError(f"no {cols.headers['max_grade']} in the worksheet: give --max-grade")
    return maxima[0]


def _moodle_untouched(table, row, cols, g: StudentGrade | None, assignment: Assignment) -> str:
    """Why this worksheet row keeps what Moodle has, or ""."""
    if g is None:
        return "not in the hand-in manifest (a roster from another worksheet?)"
    if g.status == GradeStatus.LEFT_OUT:
        return "not a student (left out of the roster)"
    if cols["can_change"] is not None and table.get(row, cols["can_change"]).strip().casefold() in \
            {t.casefold() for t in MOODLE_NO}:
        return "Moodle says the grade cannot be changed"
    if g.status == GradeStatus.NOT_GRADED:
        return f"handed in, but not in the gradebook (run nbgrader autograde {assignment.id})"
    if g.status in NOTHING and parse_number(table.get(row, cols["grade"])) is not None:
        # Nothing came through the download, but Moodle holds a grade (given by hand?): kept.
        return f"nothing handed in, Moodle already has the grade {table.get(row, cols['grade'])!r}"
    return ""


def _readable_grade_time(table, row, cols, timezone: str, where: str, result: ExportResult) -> None:
    """``Last modified (grade)`` as ISO 8601 with its offset.

    Moodle's upload reads this field with PHP's ``strtotime()`` and skips a row whose grade in
    Moodle is more than 60 s newer (importgradeslib.php ``next()``, locallib.php
    ``process_import_grades()``). ``strtotime`` reads no Polish date ("wtorek, 11 marca 2025,
    09:15") and reads an English one in the server's zone, not the teacher's; it returns false,
    i.e. 0, and every graded row is skipped. The same instant in ISO 8601 keeps the check's
    meaning in every language. "-" (never graded) stays."""
    col = cols["graded"]
    if col is None:
        return
    text = table.get(row, col)
    try:
        when = parse_lms_time(text, timezone)
    except ValueError:
        result.warnings.append(f"{where}: cannot read {cols.headers['graded']} {text!r}: left as it is "
                               "(Moodle may skip this row on upload)")
        return
    if when is not None:
        table.set(row, col, when.isoformat())


def _moodle_feedback_zip(grades: list[StudentGrade], assignment: Assignment, path: Path,
                         result: ExportResult) -> Path:
    """``<Full name>_<participant id>_assignsubmission_file/<id>.html`` per student: the
    download's own folder, which Moodle's feedback-zip import maps to the participant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for g in with_feedback(grades, result):
            folder = g.prefix if g.prefix and g.folders else moodle_folder(g.name, g.lms_id)
            zf.write(g.feedback, f"{folder}/{assignment.id}.html")
    return path
