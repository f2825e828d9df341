"""End to end through nbgrader: generate, autograde, feedback, export, in a temporary course."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from labkit.demo import DEMO_STUDENTS, nbgrader, part_table, run_demo
from labkit.inkernel import write_stock_config
from labkit.settings import ASSIGNMENT_ID, CONCLUSIONS_POINTS, PART_POINTS, PARTS, REPO_ROOT

pytestmark = pytest.mark.slow

MISTAKE_PART = {"celina_half_circle": "data", "darek_no_zero_grad": "training"}
# Stock nbgrader is slow (a kernel and every check in it, per notebook; an untouched notebook
# alone takes a minute of failing property tests): one student covers full marks in five
# parts and partial credit in the sixth.
STOCK_STUDENTS = ("darek_no_zero_grad",)


def make_course(root: Path) -> Path:
    shutil.copytree(REPO_ROOT / "source", root / "source")
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> tuple[Path, dict]:
    root = make_course(tmp_path_factory.mktemp("course"))
    rows = run_demo(course=root)
    return root, {row["student"]: row for row in rows}


def test_committed_release_is_generated_from_source(tmp_path):
    root = make_course(tmp_path)
    nbgrader("generate_assignment", ASSIGNMENT_ID, "--force", course=root)
    fresh = json.loads((root / "release" / ASSIGNMENT_ID / f"{ASSIGNMENT_ID}.ipynb").read_text())
    committed = json.loads((REPO_ROOT / "release" / ASSIGNMENT_ID / f"{ASSIGNMENT_ID}.ipynb").read_text())
    assert fresh["cells"] == committed["cells"], "release/ is stale: run nbgrader generate_assignment lab06"


def test_reference_scores_full_marks_on_every_autograded_cell(course):
    _, rows = course
    for part in PARTS:
        assert rows["ala_reference"][part] == pytest.approx(PART_POINTS[part]), part


def test_untouched_release_scores_zero(course):
    _, rows = course
    assert all(rows["bartek_untouched"][part] == 0 for part in PARTS)


@pytest.fixture(scope="module")
def stock_rows(course, tmp_path_factory) -> dict:
    """The demo's submissions graded by plain nbgrader: the same checks, run in the kernel."""
    kit_root, _ = course
    root = tmp_path_factory.mktemp("stock")
    shutil.copytree(REPO_ROOT / "source", root / "source")
    write_stock_config(root, cell_timeout=3600)   # grades, not nbgrader's 30 s wall limit
    nbgrader("generate_assignment", ASSIGNMENT_ID, "--force", course=root)
    for student in STOCK_STUDENTS:
        shutil.copytree(kit_root / "submitted" / student, root / "submitted" / student)
    nbgrader("autograde", ASSIGNMENT_ID, "--force", course=root)
    return {row["student"]: row for row in part_table(root)}


def test_stock_nbgrader_running_the_checks_in_kernel_agrees_with_the_kit(course, stock_rows):
    """The bench's baseline (labkit/inkernel.py) awards exactly the kit's partial credit,
    also where a public assert fails after the hidden section (half circle, no zero_grad)."""
    _, rows = course
    assert sorted(stock_rows) == sorted(STOCK_STUDENTS)
    for student in STOCK_STUDENTS:
        for part in PARTS:
            assert stock_rows[student][part] == pytest.approx(rows[student][part], abs=1e-9), (student, part)


@pytest.mark.parametrize("student", sorted(MISTAKE_PART))
def test_each_demo_mistake_loses_points_only_in_its_part(course, student):
    _, rows = course
    for part in PARTS:
        if part == MISTAKE_PART[student]:
            assert rows[student][part] < PART_POINTS[part]
        else:
            assert rows[student][part] == pytest.approx(PART_POINTS[part]), (student, part)


def test_feedback_html_exists_and_hides_hidden_tests(course):
    root, _ = course
    for student in DEMO_STUDENTS:
        html = root / "feedback" / student / ASSIGNMENT_ID / f"{ASSIGNMENT_ID}.html"
        assert html.exists(), student
        text = html.read_text(encoding="utf-8")
        assert "grader_tests/test_" not in text and "def test_" not in text


def test_grades_csv_has_the_gradebook_numbers(course):
    root, rows = course
    with open(root / "grades.csv", newline="") as f:
        exported = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(exported) == set(DEMO_STUDENTS)
    for student, row in rows.items():
        assert float(exported[student]["raw_score"]) == pytest.approx(row["total"], abs=1e-3)
        assert float(exported[student]["max_score"]) == pytest.approx(sum(PART_POINTS.values()) + CONCLUSIONS_POINTS)
    assert part_table(root) == sorted(rows.values(), key=lambda r: r["student"])
    assert (root / "grades_parts.csv").exists()
    assert (root / "reports" / f"{ASSIGNMENT_ID}_report.html").exists()
