"""nbgrader export plugin: nbgrader's grades.csv, a per-part CSV beside it, and the TA report.

    nbgrader export --exporter=labkit.nbgrader_ext.exporter.ReportExporter [--to grades.csv]

* ``grades.csv`` (or ``--to``) is written by nbgrader's own ``CsvExportPlugin``, unchanged,
  so the LMS import keeps working.
* ``<stem>_parts.csv`` beside it (``grades_parts.csv`` by default): one row per student and
  assignment with the per-part scores, the manual conclusions grade, the total, and like
  grades.csv the late penalty and the score after it (labkit/term/late.py).
* ``build_report`` for every exported assignment: ``<course>/reports/<assignment>_report.html``
  (plus the report's own ``<assignment>_parts.csv`` and score snapshot).

The course root is ``ReportExporter.course_root`` if configured, else the running nbgrader
app's ``CourseDirectory.root``, else the current directory (where nbgrader runs).
"""
from __future__ import annotations

from pathlib import Path

from nbgrader.plugins import CsvExportPlugin
from traitlets import Bool, Unicode

from labkit.nbgrader_ext.course_context import course_root
from labkit.term import late
from labkit.term import scores
from labkit.core.assignment import AssignmentError, load
from labkit.insight.report import build_report


class ReportExporter(CsvExportPlugin):
    """grades.csv exactly as nbgrader writes it, plus a per-part CSV and the HTML report."""

    course_root = Unicode("", help="Course root for the report (default: CourseDirectory.root, "
                                   "else the current directory).").tag(config=True)
    report = Bool(True, help="Also write the HTML report of each exported assignment.").tag(config=True)

    def _course(self) -> Path:
        if self.course_root:
            return Path(self.course_root)
        return course_root(self)

    def _assignments(self, gradebook) -> list[str]:
        wanted = [str(a) for a in self.assignment]
        return [a.name for a in gradebook.assignments if not wanted or a.name in wanted]

    def parts_csv_path(self) -> Path:
        dest = Path(self.to or "grades.csv")
        return dest.with_name(f"{dest.stem}_parts.csv")

    def write_parts_csv(self, gradebook, path: Path) -> Path:
        """One row per student and assignment; the columns are every exported assignment's
        parts (in notebook order, first seen first), then manual, total, the late penalty and
        the score after it."""
        students = [str(s) for s in self.student]
        rows, keys = [], []
        for assignment_id in self._assignments(gradebook):
            try:
                assignment = load(assignment_id, self._course())
            except AssignmentError as exc:   # in the gradebook, but not a kit assignment
                self.log.warning("No per-part scores for %s: %s", assignment_id, exc)
                continue
            keys += [k for k in scores.score_keys(assignment) if k not in keys]
            by_student = scores.gradebook_scores(gradebook, assignment)
            lates = late.lateness(gradebook, assignment_id)
            for student in gradebook.students:
                if students and student.id not in students:
                    continue
                # Like grades.csv: a student without a submission is listed with zeros.
                row = by_student.get(student.id, scores.empty_row(assignment))
                rows.append((assignment_id, student.id, late.with_penalty(row, lates.get(student.id))))
        keys = [k for k in keys if k not in (scores.MANUAL, scores.TOTAL)] + [scores.MANUAL, scores.TOTAL]
        keys += late.CSV_KEYS   # after the raw total, as in grades.csv: the penalty and the score after it
        return scores.write_csv(path, rows, tuple(keys))

    def export(self, gradebook) -> None:
        super().export(gradebook)
        parts = self.write_parts_csv(gradebook, self.parts_csv_path())
        self.log.info("Exported per-part scores to %s", parts)
        if not self.report:
            return
        course = self._course()
        for assignment in self._assignments(gradebook):
            try:
                path = build_report(course=course, assignment=assignment, gradebook=gradebook)
            except Exception:  # the grades are exported already; a report failure must say so, not hide them
                self.log.exception("Could not build the report of %s", assignment)
                continue
            self.log.info("Wrote the report of %s to %s", assignment, path)
