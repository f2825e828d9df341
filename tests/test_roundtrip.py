"""End to end through nbgrader: generate, autograde, feedback, export, in a temporary course.

The course holds every assignment of the repository (lab06 and its English twin lab06_en),
each described by its own files; ``labkit.cli.demo.run_demo`` takes both through the round trip.
lab06's reference student is the suite's one full-size path (the lab's 24-run sweep,
BEST_CONFIG and demonstration cells as written); lab06's mistake student (a data mistake)
runs the corpus's cheap grid and BEST_CONFIG (tests/corpus.py). lab06_en, with the same
contract and checks, has the whole demo class, both mistakes included, on the cheap grid,
BEST_CONFIG and demonstration cell throughout, and draws 8 hypothesis examples per property,
not 25, as does the stock-nbgrader baseline.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

import corpus
import nbgrader_cli
from labkit.core.assignment import available, load
from labkit.cli.demo import demo_students, part_table, run_demo
from labkit.grading.inkernel import write_stock_config
from labkit.core.settings import REPO_ROOT
from labkit.term.submissions import release_notebook

pytestmark = pytest.mark.slow

ASSIGNMENTS = ("lab06", "lab06_en")
MISTAKE_PART = {"celina_half_circle": "data", "darek_no_zero_grad": "training"}
# Stock nbgrader is slow (a kernel and every check in it, per notebook; an untouched notebook
# alone takes a minute of failing property tests): one student covers full marks in five
# parts and partial credit in the sixth.
STOCK_STUDENTS = ("darek_no_zero_grad",)
STOCK_ASSIGNMENT = "lab06_en"
CHEAP = ("lab06_en",)   # the assignments whose source gets the corpus's cheap cells
# ... and fewer hypothesis examples per property (lab06 keeps the lab's 25). lab06_en has
# lab06's checks, which the corpus grades at the real count; here it shows the English path.
CHEAP_EXAMPLES = 8
FULL_SIZE_STUDENTS = ("ala_reference",)   # of lab06: the others fill in the cheap grid and BEST_CONFIG
# lab06's demonstration cells run in full for every student (16 CPU s each): lab06 keeps one
# mistake (and the language test's student), lab06_en has both, and the corpus grades the
# training mistake in lab06 at the lab's own settings.
LEFT_OUT = {"lab06": ("darek_no_zero_grad",)}
# What a student's feedback must never show: the hidden section of a tests cell, the checks.
HIDDEN = ("BEGIN HIDDEN TESTS", "grade_part(", "grader_tests/", "def test_")


def nbgrader(*args: str, course: Path) -> None:
    """A command the demo does not run itself (tests/nbgrader_cli.py); the demo's own are the
    nbgrader executable's, as a user types them."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = nbgrader_cli.nbgrader(list(args), cwd=course, env=env)
    assert done.returncode == 0, f"nbgrader {' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"


def make_course(root: Path) -> Path:
    """A course root as nbgrader and the kit see it: notebooks, descriptions with their checks,
    the reference they name, and the course's configuration."""
    for folder in ("source", "grader_tests", "reference"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


def cheapen(root: Path) -> Path:
    for assignment in CHEAP:
        corpus.cheapen_source(load(assignment, root).notebook, solutions=True)
        corpus.fewer_examples(root, assignment, CHEAP_EXAMPLES)
    return root


def cheapen_mistake_students(root: Path) -> Path:
    """The course's demo class (its copy of lab06's demo_students.py, which lab06_en inherits)
    without LEFT_OUT, and with the corpus's cheap grid and BEST_CONFIG in every filled
    submission but the full-size ones: the lab's sweep (replayed by the RESULTS rebuild) and
    BEST_CONFIG cost each mistake student about 50 CPU s (the module: 450 -> 352 CPU s)."""
    demo = root / "grader_tests" / "lab06" / "demo_students.py"
    demo.write_text(demo.read_text(encoding="utf-8") + textwrap.dedent(f'''

        _lab_students = students
        _CHEAP = {corpus.CHEAP_CELLS!r}
        _LEFT_OUT = {LEFT_OUT!r}


        def students(assignment):
            """(tests/test_roundtrip.py) the class above, mistake students on the cheap grid."""
            return {{name: cells if cells is None or name in {FULL_SIZE_STUDENTS!r} else {{**_CHEAP, **cells}}
                    for name, cells in _lab_students(assignment).items()
                    if name not in _LEFT_OUT.get(assignment.id, ())}}
        '''), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> tuple[Path, dict]:
    """(course root, {assignment: {student: row}}) after the demo's round trip."""
    root = cheapen_mistake_students(cheapen(make_course(tmp_path_factory.mktemp("course"))))
    assert available(root) == list(ASSIGNMENTS)
    tables = run_demo(course=root)
    return root, {a: {row["student"]: row for row in rows} for a, rows in tables.items()}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_is_generated_from_source(tmp_path, assignment):
    root = make_course(tmp_path)
    nbgrader("generate_assignment", assignment, "--force", course=root)
    fresh = json.loads(release_notebook(root, assignment).read_text())
    committed = json.loads(release_notebook(REPO_ROOT, assignment).read_text())
    assert fresh["cells"] == committed["cells"], f"release/ is stale: run nbgrader generate_assignment {assignment}"


def test_the_demo_grades_every_assignment_of_the_course(course):
    root, tables = course
    assert sorted(tables) == list(ASSIGNMENTS)
    for assignment, rows in tables.items():
        # The course's class: the repository's, less LEFT_OUT.
        expected = set(demo_students(load(assignment, REPO_ROOT))) - set(LEFT_OUT.get(assignment, ()))
        assert sorted(rows) == sorted(demo_students(load(assignment, root))) == sorted(expected), assignment


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_scores_full_marks_on_every_autograded_cell(course, assignment):
    _, tables = course
    lab = load(assignment, REPO_ROOT)
    for part in lab.part_ids:
        assert tables[assignment]["ala_reference"][part] == pytest.approx(lab.points[part]), part
    # The demo's students leave the conclusions cell as handed out: nbgrader scores an unchanged
    # answer cell 0 by itself, so nothing waits for a TA (a pending grade would read None).
    assert tables[assignment]["ala_reference"]["manual"] == 0.0


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_scores_zero(course, assignment):
    _, tables = course
    assert all(tables[assignment]["bartek_untouched"][part] == 0 for part in load(assignment, REPO_ROOT).part_ids)


@pytest.fixture(scope="module")
def stock_rows(course, tmp_path_factory) -> dict:
    """The demo's submissions graded by plain nbgrader: the same checks, run in the kernel."""
    kit_root, _ = course
    root = cheapen(make_course(tmp_path_factory.mktemp("stock")))
    root.joinpath("nbgrader_config.py").unlink()
    write_stock_config(root, cell_timeout=3600)   # grades, not nbgrader's 30 s
    nbgrader("generate_assignment", STOCK_ASSIGNMENT, "--force", course=root)
    for student in STOCK_STUDENTS:
        shutil.copytree(kit_root / "submitted" / student, root / "submitted" / student)
    nbgrader("autograde", STOCK_ASSIGNMENT, "--force", course=root)
    return {row["student"]: row for row in part_table(root, load(STOCK_ASSIGNMENT, root))}


def test_stock_nbgrader_running_the_checks_in_kernel_agrees_with_the_kit(course, stock_rows):
    """The bench's baseline (labkit/grading/inkernel.py) awards exactly the kit's partial credit,
    also where a public assert fails after the hidden section (half circle, no zero_grad)."""
    _, tables = course
    rows = tables[STOCK_ASSIGNMENT]
    assert sorted(stock_rows) == sorted(STOCK_STUDENTS)
    for student in STOCK_STUDENTS:
        for part in load(STOCK_ASSIGNMENT, REPO_ROOT).part_ids:
            assert stock_rows[student][part] == pytest.approx(rows[student][part], abs=1e-9), (student, part)


@pytest.mark.parametrize(("assignment", "student"), [(a, s) for a in ASSIGNMENTS for s in sorted(MISTAKE_PART)
                                                     if s not in LEFT_OUT.get(a, ())])
def test_each_demo_mistake_loses_points_only_in_its_part(course, assignment, student):
    _, tables = course
    lab = load(assignment, REPO_ROOT)
    row = tables[assignment][student]
    for part in lab.part_ids:
        if part == MISTAKE_PART[student]:
            assert row[part] < lab.points[part]
        else:
            assert row[part] == pytest.approx(lab.points[part]), (student, part)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_html_exists_and_hides_hidden_tests(course, assignment):
    root, tables = course
    for student in tables[assignment]:
        html = root / "feedback" / student / assignment / f"{assignment}.html"
        assert html.exists(), student
        text = html.read_text(encoding="utf-8")
        assert not [h for h in HIDDEN if h in text], (student, [h for h in HIDDEN if h in text])


def test_figures_reach_the_autograded_notebook_and_the_feedback(course):
    """The full-size student's plots, one per plt.show() of the notebook, as a kernel would
    leave them (the corpus and the hostile batch grade without figures)."""
    root, _ = course
    shows = sum("".join(c["source"]).count("plt.show()") for c in
                json.loads(load("lab06", root).notebook.read_text(encoding="utf-8"))["cells"])
    nb = json.loads((root / "autograded" / "ala_reference" / "lab06" / "lab06.ipynb").read_text(encoding="utf-8"))
    pngs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]
    html = (root / "feedback" / "ala_reference" / "lab06" / "lab06.html").read_text(encoding="utf-8")
    assert shows >= 4 and len(pngs) == shows
    assert html.count("data:image/png;base64,") == shows


def test_feedback_is_in_the_assignments_language(course):
    root, _ = course
    pl = (root / "feedback" / "celina_half_circle" / "lab06" / "lab06.html").read_text(encoding="utf-8")
    en = (root / "feedback" / "celina_half_circle" / "lab06_en" / "lab06_en.html").read_text(encoding="utf-8")
    # The verdicts nbgrader shows under each tests cell (labkit/nbgrader_ext/verdict_cells.py, report_text).
    assert "Część `data`:" in pl and "Part `data`:" in en and "Część `" not in en


def test_grades_csv_has_the_gradebook_numbers(course):
    root, tables = course
    with open(root / "grades.csv", newline="") as f:
        exported = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    # Every student of the gradebook under every assignment: LEFT_OUT submitted nothing to
    # lab06, and nbgrader lists such a student with zeros (so does grades_parts.csv).
    students = {s for rows in tables.values() for s in rows}
    assert set(exported) == {(a, s) for a in tables for s in students}
    absent = {(a, s) for a in tables for s in students if s not in tables[a]}
    assert absent == {(a, s) for a, left_out in LEFT_OUT.items() for s in left_out}
    for assignment, rows in tables.items():
        lab = load(assignment, REPO_ROOT)
        for student, row in rows.items():
            assert float(exported[assignment, student]["raw_score"]) == pytest.approx(row["total"], abs=1e-3)
            assert float(exported[assignment, student]["max_score"]) == pytest.approx(lab.max_points)
        assert part_table(root, lab) == sorted(rows.values(), key=lambda r: r["student"])
        assert (root / "reports" / f"{assignment}_report.html").exists()
    with open(root / "grades_parts.csv", newline="") as f:
        parts = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    assert set(parts) == set(exported)
    for assignment, rows in tables.items():
        for student, row in rows.items():
            assert float(parts[assignment, student]["total"]) == pytest.approx(row["total"], abs=1e-3)
    for key in absent:
        assert float(exported[key]["raw_score"]) == 0 and float(parts[key]["total"]) == 0, key
