"""Canvas's side of ``labkit lms-export``: the gradebook import, the re-upload zip, the comments."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from labkit.core.assignment import Assignment, load
from labkit.lms import csv_file as lms_csv
from labkit.lms import export as common
from labkit.lms.export import NOTHING, ExportError, ExportResult, GradeStatus, StudentGrade, comment, rescale, write_parts
from labkit.lms.export import parse_number
from labkit.lms.export import with_feedback
from labkit.lms.headers import CANVAS_GRADEBOOK, resolve
from labkit.lms.naming import CANVAS, canvas_slug, safe_component
from labkit.lms.roster import canvas_name, is_test_student


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
            possible, comma = parse_number(text), "," in text
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
    table = src.table
    grades = {g.lms_id: g for g in common.class_grades(course=course, assignment=assignment, gradebook=gradebook)}
    result = ExportResult(lms=CANVAS, files=[], grades=[g for g in grades.values() if g.status != GradeStatus.LEFT_OUT],
                          left_out=[f"{g.lms_id}: {g.name or 'Test Student'}: Canvas's Test Student, left out"
                                    for g in grades.values() if g.status == GradeStatus.LEFT_OUT])
    rows_out = _import_rows(src, grades, assignment, result)
    reports = course / "reports"
    grades_path = reports / f"{assignment.id}_canvas_grades.csv"
    _write_csv(grades_path, rows_out, delimiter=table.delimiter, bom=table.bom)
    result.files.append(grades_path)
    comments = reports / f"{assignment.id}_canvas_comments.csv"
    _write_csv(comments, [["Student", "ID", "student_id", "comment"],
                          *([g.name, g.lms_id, g.student_id, comment(g, assignment=assignment, lms_max=src.lms_max)]
                            for g in result.grades if g.status != GradeStatus.NOT_GRADED)], delimiter=table.delimiter,
               bom=table.bom)
    result.files.append(comments)
    result.files.extend(_canvas_feedback(result.grades, assignment, reports, result))
    result.files.append(write_parts(result.grades, assignment=assignment, lms_max=src.lms_max,
                                    path=reports / f"{assignment.id}_lms_parts.csv"))
    return result


def _import_rows(src: _CanvasFile, grades: dict[str, StudentGrade], assignment: Assignment,
                 result: ExportResult) -> list[list[str]]:
    """The import CSV's rows: the export's students in its order (the Test Student left out),
    then the students handed in but missing from the export, added by ID."""
    table, cols = src.table, src.cols
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
        if uid in seen or g.status == GradeStatus.LEFT_OUT:
            continue
        if not uid.isdigit():
            result.untouched.append(f"{uid} ({g.student_id}): anonymous grading: Canvas imports by user id only")
            continue
        if g.status == GradeStatus.NOT_GRADED:
            result.untouched.append(f"{uid} ({g.student_id}): handed in, not in the gradebook")
            continue
        # In the download but not in this export (enrolled later?): Canvas matches rows by ID.
        result.warnings.append(f"{uid} ({g.student_id}): not in the gradebook export; row added by ID")
        rows_out.append([g.name, uid, "", "", "", grade_of(g)])
    return rows_out


def _canvas_untouched(g: StudentGrade | None, kept: str, assignment: Assignment) -> str:
    """Why a row keeps what Canvas has ("" when the kit writes the grade)."""
    if g is None:
        return "no hand-in in the manifest"
    if g.status == GradeStatus.NOT_GRADED:
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
        for g in with_feedback(grades, result):
            slug = canvas_slug(g.name) or "student"
            target = folder / safe_component(f"{slug}_{g.lms_id}_{suffix}")
            target.write_bytes(g.feedback.read_bytes())
            if g.attachment_id and g.prefix:
                zf.write(g.feedback, f"{g.prefix}_{g.attachment_id}_{suffix}")
            else:
                result.warnings.append(f"{g.lms_id} ({g.student_id}): no attachment id in the download: "
                                       "attach the feedback file by hand")
    return [zip_path, folder]
