"""The main job: a demo class through the whole nbgrader round trip, then a score table.

For every assignment of the course (or the ones asked for): generate_assignment -> the
assignment's demo students in submitted/ -> autograde -> generate_feedback; then one
export (grades.csv, grades_parts.csv, a TA report per assignment) and a per-student,
per-part table read back from the gradebook.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from labkit.term import scores
from labkit.core.assignment import Assignment, available, load
from labkit.term.submissions import build_submission, release_notebook


def nbgrader(*args: str, course: Path) -> None:
    """Run an nbgrader command in the course directory with this venv's tools on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course, env=env, check=True)


def demo_students(assignment: Assignment) -> dict[str, dict | None]:
    """The assignment's demo class (its ``demo`` file's ``students(assignment)``); without
    one, a single student who submits the reference solution."""
    if assignment.demo is None:
        return {"demo_reference": {}}
    spec = importlib.util.spec_from_file_location(f"labkit_demo_{assignment.id}", assignment.demo)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.students(assignment)


def write_submissions(course: Path, assignment: Assignment) -> list[str]:
    students = demo_students(assignment)
    for student, replacements in students.items():
        dest = course / "submitted" / student / assignment.id / f"{assignment.id}.ipynb"
        if dest.parent.exists():
            shutil.rmtree(dest.parent)
        build_submission(dest, replacements or {}, filled=replacements is not None,
                         release=release_notebook(course, assignment.id), source=assignment.notebook)
    return list(students)


def part_table(course: Path, assignment: Assignment) -> list[dict]:
    """Per-student, per-part scores read back from nbgrader's gradebook (labkit/term/scores.py)."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        rows = scores.gradebook_scores(gb, assignment)
    return [{"student": student, **row} for student, row in sorted(rows.items())]


def print_table(rows: list[dict], assignment: Assignment) -> None:
    keys = scores.score_keys(assignment)
    print(f"\n{assignment.id}")
    header = f"{'student':22}" + "".join(f"{k:>12}" for k in keys)
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['student']:22}" + "".join(
            f"{'pending':>12}" if row[k] is None else f"{row[k]:12.2f}" for k in keys))


def run_demo(*, course: Path, assignments: list[str] | None = None) -> dict[str, list[dict]]:
    """The whole round trip in ``course`` for ``assignments`` (default: every one described)."""
    course = Path(course).resolve()
    chosen = [load(a, course) for a in (assignments or available(course))]
    for assignment in chosen:
        nbgrader("generate_assignment", assignment.id, "--force", course=course)
        write_submissions(course, assignment)
        nbgrader("autograde", assignment.id, "--force", course=course)
        nbgrader("generate_feedback", assignment.id, "--force", course=course)
    # nbgrader's grades.csv unchanged, plus grades_parts.csv and reports/<id>_report.html.
    nbgrader("export", "--exporter=labkit.nbgrader_ext.exporter.ReportExporter", course=course)
    tables = {}
    for assignment in chosen:
        tables[assignment.id] = rows = part_table(course, assignment)
        print_table(rows, assignment)
        print(f"TA report: {course / 'reports' / f'{assignment.id}_report.html'}")
    return tables
