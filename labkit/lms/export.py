"""From nbgrader's gradebook back to Moodle or Canvas: grades, a comment each, feedback files.

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

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from labkit.lms import csv_file as lms_csv
from labkit.term import scores
from labkit.core.assignment import Assignment, load
from labkit.term.handin import load_manifest
from labkit.lms.naming import CANVAS, MOODLE, canvas_slug, moodle_folder, safe_component
from labkit.lms.headers import CANVAS_GRADEBOOK, MOODLE_NO, MOODLE_WORKSHEET, resolve
from labkit.lms.roster import DEFAULT_TIMEZONE, canvas_name, is_test_student, parse_lms_time, participant_id

PENALTY, FINAL, LMS_GRADE = "late_penalty", "final", "lms_grade"
NOTHING = ("missing", "no_notebook", "draft")   # statuses that score 0 without a gradebook entry


class ExportError(Exception):
    """What the LMS files or the course lack, said so that a TA can fix it."""


@dataclass
class StudentGrade:
    """One LMS entry's result, ready for its LMS."""

    lms_id: str
    student_id: str
    name: str
    status: str                               # "graded", "missing", "no_notebook", "draft", "not_graded", "left_out"
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
        g = StudentGrade(lms_id=h["lms_id"], student_id=h["student_id"], name=h["name"], status=h["status"],
                         flags=list(h["flags"]), graded_file=h.get("graded_file", ""), prefix=h.get("prefix", ""),
                         attachment_id=h.get("attachment_id", ""), folders=h.get("folders", True),
                         parts=scores.empty_row(assignment))
        if h["status"] == "error":          # the collector failed on it: a TA's case, never a number
            g.status = "not_graded"
        if h["status"] == "collected":
            row = book.get(h["student_id"])
            if row is None:
                g.status = "not_graded"
                g.parts = {k: None for k in scores.score_keys(assignment)}
            else:
                g.status = "graded"
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


def _lang(assignment: Assignment) -> str:
    from labkit.core.settings import load_settings
    return load_settings().language or assignment.language


def _num(value: float, lang: str) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "pl" else text


_NOTHING_WHY = {
    "en": {"missing": "no notebook was handed in", "no_notebook": "no notebook (.ipynb) among the files handed in",
           "draft": "only a draft was saved, never submitted for grading"},
    "pl": {"missing": "nie oddano notebooka", "no_notebook": "wśród oddanych plików nie ma notebooka (.ipynb)",
           "draft": "zapisano tylko wersję roboczą, nieprzesłaną do oceny"},
}


def comment(g: StudentGrade, *, assignment: Assignment, lms_max: float) -> str:
    """The student's short comment: per-part points, late penalty, result, LMS grade, in the
    assignment's language. Only names of parts and numbers: nothing of the hidden checks."""
    lang = _lang(assignment)
    n = lambda v: _num(v, lang)   # noqa: E731
    top = assignment.max_points
    if g.status in NOTHING:
        if lang == "en":
            return f"{assignment.id}: {_NOTHING_WHY['en'][g.status]}: 0/{n(top)} points, grade 0/{n(lms_max)}."
        return f"{assignment.id}: {_NOTHING_WHY['pl'][g.status]}: 0/{n(top)} pkt, ocena 0/{n(lms_max)}."
    keys = [*assignment.part_ids, *((scores.MANUAL,) if assignment.manual else ())]
    maxima = scores.max_points(assignment)
    parts = ", ".join(f"{k} {n(g.parts.get(k) or 0.0)}/{n(maxima[k])}" for k in keys)
    grade = n(rescale(g.final, kit_max=top, lms_max=lms_max))
    late = f" ({n(g.hours_late)} h)" if g.penalty and g.hours_late else ""
    if lang == "en":
        text = (f"{assignment.id}: {parts}. Total {n(g.raw)}/{n(top)} points; late penalty −{n(g.penalty)}{late}; "
                f"result {n(g.final)}/{n(top)}, grade {grade}/{n(lms_max)}.")
        if "renamed" in g.flags or "several_notebooks" in g.flags:
            text += f" Graded file: “{g.graded_file}”."
        return text
    text = (f"{assignment.id}: {parts}. Razem {n(g.raw)}/{n(top)} pkt; kara za spóźnienie −{n(g.penalty)} pkt{late}; "
            f"wynik {n(g.final)}/{n(top)} pkt, ocena {grade}/{n(lms_max)}.")
    if "renamed" in g.flags or "several_notebooks" in g.flags:
        text += f" Oceniony plik: „{g.graded_file}”."
    return text


def write_parts(grades: list[StudentGrade], *, assignment: Assignment, lms_max: float, path: Path) -> Path:
    """Per-part scores with penalty, final and LMS grade: the instructor's own copy."""
    keys = (*scores.score_keys(assignment), PENALTY, FINAL, LMS_GRADE)
    rows = []
    for g in grades:
        row = dict(g.parts)
        if g.status == "not_graded":
            row.update({PENALTY: None, FINAL: None, LMS_GRADE: None})
        else:
            row.update({PENALTY: g.penalty, FINAL: g.final,
                        LMS_GRADE: rescale(g.final, kit_max=assignment.max_points, lms_max=lms_max)})
        rows.append((assignment.id, g.student_id, row))
    return scores.write_csv(path, rows, keys)


# --------------------------------------------------------------------------- Moodle


def _float(text: str) -> float | None:
    text = (text or "").strip().replace("\u00a0", "").replace(" ", "")
    if not text or text == "-":
        return None
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


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
    grades = {g.lms_id: g for g in class_grades(course=course, assignment=assignment, gradebook=gradebook)}
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
    maxima = [m for r in table.rows if (m := _float(table.get(r, col))) is not None] if col is not None else []
    if not maxima:
        raise ExportError(f"no {cols.headers['max_grade']} in the worksheet: give --max-grade")
    return maxima[0]


def _moodle_untouched(table, row, cols, g: StudentGrade | None, assignment: Assignment) -> str:
    """Why this worksheet row keeps what Moodle has, or ""."""
    if g is None:
        return "not in the hand-in manifest (a roster from another worksheet?)"
    if g.status == "left_out":
        return "not a student (left out of the roster)"
    if cols["can_change"] is not None and table.get(row, cols["can_change"]).strip().casefold() in \
            {t.casefold() for t in MOODLE_NO}:
        return "Moodle says the grade cannot be changed"
    if g.status == "not_graded":
        return f"handed in, but not in the gradebook (run nbgrader autograde {assignment.id})"
    if g.status in NOTHING and _float(table.get(row, cols["grade"])) is not None:
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


def _with_feedback(grades: list[StudentGrade], result: ExportResult):
    """The students who have a feedback HTML; a graded one without it is a warning."""
    for g in grades:
        if g.feedback is not None:
            yield g
        elif g.status == "graded":
            result.warnings.append(f"{g.student_id}: no feedback HTML (run nbgrader generate_feedback)")


def _moodle_feedback_zip(grades: list[StudentGrade], assignment: Assignment, path: Path,
                         result: ExportResult) -> Path:
    """``<Full name>_<participant id>_assignsubmission_file/<id>.html`` per student: the
    download's own folder, which Moodle's feedback-zip import maps to the participant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for g in _with_feedback(grades, result):
            folder = g.prefix if g.prefix and g.folders else moodle_folder(g.name, g.lms_id)
            zf.write(g.feedback, f"{folder}/{assignment.id}.html")
    return path


# --------------------------------------------------------------------------- Canvas


def _canvas_column(headers: list[str], wanted: str | None, assignment_id: str) -> str | None:
    """The gradebook column of the assignment: the given header, ``(<id>)`` suffix or name,
    else the one named like the nbgrader assignment."""
    names = [wanted] if wanted else [assignment_id]
    for name in names:
        for h in headers:
            base, _, rest = h.rpartition(" (")
            if h == name or (rest.rstrip(")") == name and rest.endswith(")")) or (base and base.casefold() == name.casefold()):
                return h
    return None


@dataclass
class _CanvasFile:
    """Canvas's gradebook export as the import reads it: its columns, separator and numbers."""

    table: lms_csv.CsvTable
    cols: object
    header: str
    col_index: int | None
    lms_max: float
    comma: bool                 # decimal comma (a Polish, German... export)

    def number(self, value: float) -> str:
        text = f"{value:.2f}"
        return text.replace(".", ",") if self.comma else text


def _read_canvas(gradebook_csv: Path, column: str | None, points: float | None, assignment_id: str,
                 columns: dict[str, str] | None) -> _CanvasFile:
    table = lms_csv.load(gradebook_csv)
    cols = resolve(table.columns, CANVAS_GRADEBOOK, overrides=columns, required=("id",), what=str(gradebook_csv))
    header = _canvas_column(table.columns, column, assignment_id)
    if header is None and not column:
        raise ExportError(f"no gradebook column for {assignment_id!r} in {gradebook_csv}; give --canvas-column "
                          f"(an existing header such as 'Lab 6 (12345)', or a new name to create the assignment)")
    header = header or column
    col_index = table.columns.index(header) if header in table.columns else None
    possible, comma = None, False
    for row in table.rows:
        # Canvas writes "    Points Possible" in the first column (its importer looks for the words).
        if "points possible" in table.get(row, 0).casefold() and col_index is not None:
            text = table.get(row, col_index)
            possible, comma = _float(text), "," in text
    lms_max = points if points is not None else possible
    if lms_max is None:
        raise ExportError(f"no 'Points Possible' for {header!r} in the export: give --points")
    return _CanvasFile(table, cols, header, col_index, lms_max, comma)


def export_canvas(*, course: Path, assignment_id: str, gradebook_csv: Path, column: str | None = None,
                  points: float | None = None, columns: dict[str, str] | None = None,
                  gradebook=None) -> ExportResult:
    """The gradebook-import CSV, the re-upload zip, per-student feedback files, comments and parts CSV.

    The import CSV keeps the export's separator, decimal mark and byte-order mark (Canvas's
    importer reads ``,`` or ``;`` and either decimal mark: lib/gradebook_importer.rb) and always
    has a ``Student`` column, which every Canvas accepts; Canvas's Test Student is left out."""
    course = Path(course)
    assignment = load(assignment_id, course)
    src = _read_canvas(gradebook_csv, column, points, assignment.id, columns)
    table, cols = src.table, src.cols
    grades = {g.lms_id: g for g in class_grades(course=course, assignment=assignment, gradebook=gradebook)}
    result = ExportResult(lms=CANVAS, files=[], grades=[g for g in grades.values() if g.status != "left_out"],
                          left_out=[f"{g.lms_id}: {g.name or 'Test Student'}: Canvas's Test Student, left out"
                                    for g in grades.values() if g.status == "left_out"])
    grade_of = lambda g: src.number(rescale(g.final, kit_max=assignment.max_points, lms_max=src.lms_max))  # noqa: E731
    rows_out: list[list[str]] = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", src.header],
                                 ["Points Possible", "", "", "", "", src.number(src.lms_max)]]
    seen = set()
    for row in table.rows:
        uid = table.get(row, cols["id"]).strip()
        if not uid.isdigit():
            continue
        seen.add(uid)
        name = canvas_name(table, row, cols)
        sis, login = table.get(row, cols["sis_user_id"]), table.get(row, cols["sis_login_id"])
        if is_test_student(name, sis, login):
            result.left_out.append(f"{uid} ({name}): Canvas's Test Student: no row in the import")
            continue
        base = [name, uid, sis, login, table.get(row, cols["section"])]
        kept = table.get(row, src.col_index).strip() if src.col_index is not None else ""
        why = _canvas_untouched(grades.get(uid), kept, assignment)
        if why:
            if grades.get(uid) is not None:
                result.untouched.append(f"{uid} ({grades[uid].student_id}): {why}")
            rows_out.append([*base, kept])
            continue
        rows_out.append([*base, grade_of(grades[uid])])
    for uid, g in grades.items():
        if uid in seen or g.status == "left_out":
            continue
        if not uid.isdigit():
            result.untouched.append(f"{uid} ({g.student_id}): anonymous grading: Canvas imports by user id only")
            continue
        if g.status == "not_graded":
            result.untouched.append(f"{uid} ({g.student_id}): handed in, not in the gradebook")
            continue
        # In the download but not in this export (enrolled later?): Canvas matches rows by ID.
        result.warnings.append(f"{uid} ({g.student_id}): not in the gradebook export; row added by ID")
        rows_out.append([g.name, uid, "", "", "", grade_of(g)])
    reports = course / "reports"
    grades_path = reports / f"{assignment.id}_canvas_grades.csv"
    _write_csv(grades_path, rows_out, delimiter=table.delimiter, bom=table.bom)
    result.files.append(grades_path)
    comments = reports / f"{assignment.id}_canvas_comments.csv"
    _write_csv(comments, [["Student", "ID", "student_id", "comment"],
                          *([g.name, g.lms_id, g.student_id, comment(g, assignment=assignment, lms_max=src.lms_max)]
                            for g in result.grades if g.status != "not_graded")], delimiter=table.delimiter,
               bom=table.bom)
    result.files.append(comments)
    result.files.extend(_canvas_feedback(result.grades, assignment, reports, result))
    result.files.append(write_parts(result.grades, assignment=assignment, lms_max=src.lms_max,
                                    path=reports / f"{assignment.id}_lms_parts.csv"))
    return result


def _canvas_untouched(g: StudentGrade | None, kept: str, assignment: Assignment) -> str:
    """Why a row keeps what Canvas has ("" when the kit writes the grade)."""
    if g is None:
        return "no hand-in in the manifest"
    if g.status == "not_graded":
        return f"handed in, not in the gradebook (run nbgrader autograde {assignment.id})"
    if g.status in NOTHING and kept:
        # A grade given by hand, "EX" (excused) or "N/A" (not assigned): Canvas's, not the kit's.
        return f"nothing handed in, Canvas already has {kept!r}"
    return ""


def _write_csv(path: Path, rows: list[list[str]], *, delimiter: str = ",", bom: bool = False) -> None:
    """Ruby CSV's way, as Canvas writes and reads it: minimal quoting, LF line ends."""
    import csv
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        csv.writer(fh, delimiter=delimiter, lineterminator="\n").writerows(rows)


def _canvas_feedback(grades: list[StudentGrade], assignment: Assignment, reports: Path,
                     result: ExportResult) -> list[Path]:
    """The re-upload zip (``<name>_<user id>_<attachment id>_<id>_feedback.html``: Canvas takes
    the first two all-digit tokens as user and attachment) and one file per student for
    attaching by hand (``<name>_<user id>_<id>_feedback.html``)."""
    folder = reports / f"{assignment.id}_canvas_feedback"
    folder.mkdir(parents=True, exist_ok=True)
    zip_path = reports / f"{assignment.id}_canvas_feedback.zip"
    suffix = f"{assignment.id}_feedback.html"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for g in _with_feedback(grades, result):
            slug = canvas_slug(g.name) or "student"
            target = folder / safe_component(f"{slug}_{g.lms_id}_{suffix}")
            target.write_bytes(g.feedback.read_bytes())
            if g.attachment_id and g.prefix:
                zf.write(g.feedback, f"{g.prefix}_{g.attachment_id}_{suffix}")
            else:
                result.warnings.append(f"{g.lms_id} ({g.student_id}): no attachment id in the download: "
                                       "attach the feedback file by hand")
    return [zip_path, folder]


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
