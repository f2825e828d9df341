"""Per-part scores: the one reader of nbgrader's gradebook and the one per-part CSV writer.

A row maps each autograded part of the assignment, ``manual`` and ``total`` to points.
``manual`` is None while any manually graded cell still waits for a TA (nbgrader's
``needs_manual_grade`` with no manual score yet); the total then counts what is graded so
far. A part missing from a submission scores 0.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable

from labkit.core.assignment import Assignment

MANUAL, TOTAL = "manual", "total"


def score_keys(assignment: Assignment) -> tuple[str, ...]:
    """The columns of a row: the parts in notebook order, then manual and total."""
    return (*assignment.part_ids, MANUAL, TOTAL)


def max_points(assignment: Assignment) -> dict[str, float]:
    return {**assignment.points, MANUAL: assignment.manual_points, TOTAL: assignment.max_points}


def empty_row(assignment: Assignment) -> dict[str, float | None]:
    """A student without a submission: zeros, like nbgrader's grades.csv."""
    return {**{p: 0.0 for p in assignment.part_ids}, MANUAL: 0.0, TOTAL: 0.0}


def gradebook_scores(gradebook, assignment: Assignment) -> dict[str, dict[str, float | None]]:
    """student -> row, for every submission of ``assignment`` in an open nbgrader Gradebook."""
    from nbgrader.api import MissingEntry
    try:
        gradebook.find_assignment(assignment.id)
    except MissingEntry:
        return {}
    manual_cells = {m.cell for m in assignment.manual}
    rows: dict[str, dict[str, float | None]] = {}
    for student in gradebook.students:
        try:
            submission = gradebook.find_submission(assignment.id, student.id)
        except MissingEntry:
            continue
        row: dict[str, float | None] = {p: 0.0 for p in assignment.part_ids}
        manual = 0.0
        pending = False
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.name in manual_cells:
                    if grade.needs_manual_grade and grade.manual_score is None:
                        pending = True
                    manual = (manual or 0.0) + float(grade.score or 0.0)
                    continue
                part = assignment.part_of_cell(grade.name)
                if part is not None:
                    row[part] = float(row[part] or 0.0) + float(grade.score or 0.0)
        row[MANUAL] = None if pending else manual
        row = {k: (round(v, 4) if v is not None else None) for k, v in row.items()}
        row[TOTAL] = round(sum(row[p] or 0.0 for p in assignment.part_ids) + (row[MANUAL] or 0.0), 4)
        rows[student.id] = row
    return rows


def result_scores(result, assignment: Assignment) -> dict[str, float | None]:
    """A row from a SubmissionResult alone (no gradebook): manual unknown."""
    row: dict[str, float | None] = {}
    for p in assignment.part_ids:
        part = result.parts.get(p)
        row[p] = round(part.score, 4) if part is not None else 0.0
    row[MANUAL] = None
    row[TOTAL] = round(sum(row[p] or 0.0 for p in assignment.part_ids), 4)
    return row


def write_csv(path: Path, rows: Iterable[tuple[str, str, dict]], keys: tuple[str, ...]) -> Path:
    """``assignment, student_id, <keys>`` per row; None (a pending manual grade) is empty."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["assignment", "student_id", *keys])
        for assignment_id, student, row in rows:
            writer.writerow([assignment_id, student,
                             *("" if row.get(k) is None else round(float(row[k]), 4) for k in keys)])
    return path
