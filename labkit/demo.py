"""The main job: a demo class through the whole nbgrader round trip, then a score table.

generate_assignment -> a few submissions in submitted/ -> autograde -> generate_feedback
-> export (grades.csv, grades_parts.csv, TA report) -> a per-student, per-part table.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from labkit.settings import ASSIGNMENT_ID, CONCLUSIONS_GRADE_ID, PARTS, REPO_ROOT
from labkit.submissions import build_submission, solution_sources

# Two plausible mistakes, each in one part: the demo shows that they cost only that part.
HALF_CIRCLE = solution_sources()["data_solution"].replace(
    "np.linspace(0, 2 * np.pi, n_inner, endpoint=False)", "np.linspace(0, np.pi, n_inner)").replace(
    "np.linspace(0, 2 * np.pi, n_outer, endpoint=False)", "np.linspace(0, np.pi, n_outer)")
NO_ZERO_GRAD = "\n".join(line for line in solution_sources()["training_solution"].splitlines()
                         if "zero_grad" not in line)

DEMO_STUDENTS: dict[str, dict | None] = {
    "ala_reference": {},            # the reference solution filled in
    "bartek_untouched": None,       # the release as handed out
    "celina_half_circle": {"data_solution": HALF_CIRCLE},
    "darek_no_zero_grad": {"training_solution": NO_ZERO_GRAD},
}


def nbgrader(*args: str, course: Path) -> None:
    """Run an nbgrader command in the course directory with this venv's tools on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course, env=env, check=True)


def write_submissions(course: Path) -> list[str]:
    for student, replacements in DEMO_STUDENTS.items():
        dest = course / "submitted" / student / ASSIGNMENT_ID / f"{ASSIGNMENT_ID}.ipynb"
        if dest.parent.exists():
            shutil.rmtree(dest.parent)
        build_submission(dest, replacements or {}, filled=replacements is not None)
    return list(DEMO_STUDENTS)


def part_table(course: Path) -> list[dict]:
    """Per-student, per-part scores read back from nbgrader's gradebook."""
    from nbgrader.api import Gradebook
    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in gb.students:
            try:
                submission = gb.find_submission(ASSIGNMENT_ID, student.id)
            except Exception:
                continue
            row = {"student": student.id, **{p: 0.0 for p in PARTS}, "manual": 0.0, "total": 0.0}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    part = grade.name.split("_", 1)[0]
                    key = "manual" if grade.name == CONCLUSIONS_GRADE_ID else part
                    if key in row:
                        row[key] += grade.score or 0.0
            row["total"] = sum(row[p] for p in PARTS) + row["manual"]
            rows.append(row)
    return sorted(rows, key=lambda r: r["student"])


def print_table(rows: list[dict]) -> None:
    header = f"{'student':22}" + "".join(f"{p:>12}" for p in PARTS) + f"{'manual':>8}{'total':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['student']:22}" + "".join(f"{row[p]:12.2f}" for p in PARTS)
              + f"{row['manual']:8.2f}{row['total']:8.2f}")


def run_demo(*, course: Path = REPO_ROOT) -> list[dict]:
    """The whole round trip in ``course`` (the repository root by default)."""
    nbgrader("generate_assignment", ASSIGNMENT_ID, "--force", course=course)
    write_submissions(course)
    nbgrader("autograde", ASSIGNMENT_ID, "--force", course=course)
    nbgrader("generate_feedback", ASSIGNMENT_ID, "--force", course=course)
    # nbgrader's grades.csv unchanged, plus grades_parts.csv and the TA report (reports/lab06_report.html).
    nbgrader("export", "--exporter=labkit.export.ReportExporter", course=course)
    rows = part_table(course)
    print_table(rows)
    print(f"\nTA report: {course / 'reports' / f'{ASSIGNMENT_ID}_report.html'}")
    return rows
