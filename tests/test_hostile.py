"""The hostile corpus and two honest students through ``nbgrader autograde``, in one batch.

One temporary course (a copy of source/, grader_tests/, reference/ and nbgrader_config.py),
one ``nbgrader autograde lab06`` over every submission of tests/hostile.py plus two honest
ones, then ``nbgrader generate_feedback``. The course's checks draw ``EXAMPLES`` hypothesis
examples per property, not the lab's 25. Student code runs under bubblewrap
(``LABKIT_SANDBOX=required``); limits are shrunk through ``LABKIT_LIMIT_*`` so that the
hangs cost seconds, not minutes. The assertions:

- the grader survived: every readable submission was autograded and has a gradebook
  submission, honest students got full marks;
- no attack scored above the reference, and each attacked part scored what the case expects;
- submitted/, source/, grader_tests/ and reference/ of the course, and grader_tests/,
  reference/, source/ of the repository are byte-for-byte unchanged; the gradebook holds sane
  numbers only;
- hidden test text never reaches a student's feedback or autograded outputs;
- nothing connected to the grader's localhost;
- every verdict records the run's measured speed and the CPU time it charged: honest
  notebooks a positive amount, hangs at least their (scaled) CPU budget.
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from listener import Listener

import corpus
import hostile
from labkit.sandbox import launch as sandbox
from labkit.core.assignment import load
from labkit.core.settings import REPO_ROOT

pytestmark = pytest.mark.slow

# Limits for the batch (operational settings, see labkit.core.settings.load_settings).
LIMITS_ENV = {
    # CPU s, times the run's budget scale. A hang costs its budget once per cell or call it
    # stops; the honest cells of the cheap notebook stay under 2 CPU s (the RESULTS sweep)
    # and its honest calls under 1 s, so there is margin for a busy machine's slower CPU.
    "LABKIT_LIMIT_CELL_SECONDS": "6",
    "LABKIT_LIMIT_CALL_SECONDS": "4",
    "LABKIT_LIMIT_MEMORY_BYTES": str(2 * 1024**3),
    "LABKIT_LIMIT_PROCESSES": "32",
    # No figures: about 2 CPU s of rendering per notebook, and no attack here needs them
    # (tests/test_roundtrip.py follows the figures into the autograded notebook and feedback).
    "LABKIT_LIMIT_IMAGES_PER_CELL": "0",
}
# Hypothesis examples per property in the batch's course (the lab has 25). The batch is about
# containment: every attacked part's mistake still fails at its first examples, and a grading
# costs about 8.5 CPU s instead of 14 (measured on the cheap reference).
EXAMPLES = 5
LAB06 = load("lab06", REPO_ROOT)
ASSIGNMENT_ID = LAB06.id
PARTS = LAB06.part_ids
NOTEBOOK = LAB06.notebook.name

def tree_digest(root: Path) -> dict[str, str]:
    """relative path -> sha256 (symlinks by their target), for every file under root."""
    digest = {}
    if not root.exists():
        return digest
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            digest[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            digest[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir():
            digest[rel] = "dir"
    return digest


@dataclass
class Batch:
    course: Path
    students: list[str]
    autograde: subprocess.CompletedProcess
    feedback: subprocess.CompletedProcess
    before: dict[str, dict]
    after: dict[str, dict]
    rows: dict[str, dict]
    connections: int
    results: dict[str, dict] = field(default_factory=dict)

    def errored_students(self, log: str) -> set[str]:
        return set(re.findall(r"error processing assignment '\w+' for student '([^']+)'", log))


def _nbgrader(args: list[str], course: Path, env: dict) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).parent / "nbgrader")
    return subprocess.run([exe, *args], cwd=course, env=env, capture_output=True, text=True, timeout=3600)


def _watched(course: Path) -> dict[str, dict]:
    return {
        "course/submitted": tree_digest(course / "submitted"),
        "course/source": tree_digest(course / "source"),
        "course/release": tree_digest(course / "release"),
        "course/grader_tests": tree_digest(course / "grader_tests"),
        "course/reference": tree_digest(course / "reference"),
        "repo/grader_tests": tree_digest(REPO_ROOT / "grader_tests"),
        "repo/reference": tree_digest(REPO_ROOT / "reference"),
        "repo/source": tree_digest(REPO_ROOT / "source"),
    }


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Batch:
    if sandbox.bwrap_path() is None or not sandbox._bwrap_works():
        pytest.skip("bubblewrap cannot run here: the hostile batch is only meaningful inside it")
    course = tmp_path_factory.mktemp("hostile-course")
    # A course root as the kit reads it: notebooks, the assignments' descriptions and checks,
    # the reference they name (all of it readable by the grader, none of it by a worker).
    for folder in ("source", "grader_tests", "reference"):
        shutil.copytree(REPO_ROOT / folder, course / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    corpus.cheapen_source(course / "source" / ASSIGNMENT_ID / NOTEBOOK)
    corpus.fewer_examples(course, ASSIGNMENT_ID, EXAMPLES)
    env = dict(os.environ)
    env.update(LIMITS_ENV)
    env.update({"LABKIT_SANDBOX": "required", "LABKIT_LANG": "pl",
                "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")})
    generated = _nbgrader(["generate_assignment", ASSIGNMENT_ID, "--force"], course, env)
    assert generated.returncode == 0, generated.stderr[-3000:]

    listener = Listener()
    students = []
    for name in hostile.HONEST:   # first: the extra_files case links to an honest notebook
        hostile.build_honest(name, course / "submitted" / name / ASSIGNMENT_ID, course=course, port=listener.port)
        students.append(name)
    for case in hostile.CASES:
        hostile.build(case, course / "submitted" / case.name / ASSIGNMENT_ID, course=course, port=listener.port)
        students.append(case.name)
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:   # the class roster
        for student in students:
            gb.update_or_create_student(student)

    before = _watched(course)
    autograde = _nbgrader(["autograde", ASSIGNMENT_ID, "--force"], course, env)
    feedback = _nbgrader(["generate_feedback", ASSIGNMENT_ID, "--force"], course, env)
    listener.close()
    after = _watched(course)
    (course / "autograde.log").write_text(autograde.stdout + autograde.stderr)
    (course / "feedback.log").write_text(feedback.stdout + feedback.stderr)

    from labkit.cli.demo import part_table
    rows = {row["student"]: row for row in part_table(course, load(ASSIGNMENT_ID, course))}
    result = Batch(course, students, autograde, feedback, before, after, rows, listener.connections)
    for student in students:
        path = course / "reports" / "results" / ASSIGNMENT_ID / f"{student}.json"
        if path.exists():
            result.results[student] = json.loads(path.read_text(encoding="utf-8"))
    print(f"\nhostile batch: {len(students)} submissions")
    return result


# --------------------------------------------------------------------------- the grader survived
def test_grader_survived_and_graded_every_readable_submission(batch):
    log = batch.autograde.stdout + batch.autograde.stderr
    # TolerantNotebookExporter and SafeOverwriteCells: nbgrader aborts no student.
    assert batch.errored_students(log) == set(), log[-5000:]
    for student in batch.students:
        case = hostile.BY_NAME.get(student)
        if case is not None and not case.notebook:
            continue
        autograded = batch.course / "autograded" / student / ASSIGNMENT_ID / NOTEBOOK
        assert autograded.exists(), student
        assert student in batch.results, f"no SubmissionResult kept for {student}"
        if case is None or not case.invalid:
            assert batch.results[student]["sandbox"] == "bwrap", student


def test_every_student_with_a_notebook_has_a_gradebook_submission(batch):
    for student in batch.students:
        case = hostile.BY_NAME.get(student)
        if case is not None and not case.gradebook_submission:
            # nbgrader skips a folder without the notebook: no submission, exported as 0.
            assert student not in batch.rows
            continue
        assert student in batch.rows, student


def test_autograde_exit_code_is_zero(batch):
    """Unreadable notebooks and deleted or duplicated grade cells no longer abort anyone."""
    assert batch.autograde.returncode == 0, (batch.autograde.stdout + batch.autograde.stderr)[-5000:]


@pytest.mark.parametrize("student", sorted(hostile.HONEST))
def test_honest_submissions_get_full_marks(batch, student):
    row = batch.rows[student]
    for part in PARTS:
        assert row[part] == pytest.approx(LAB06.points[part]), (student, part, batch.results[student]["parts"][part])


# --------------------------------------------------------------------------- attacks do not pay
@pytest.mark.parametrize("case", hostile.CASES, ids=[c.name for c in hostile.CASES])
def test_attacked_part_scores_what_the_case_expects(batch, case):
    row = batch.rows.get(case.name)
    if row is None:
        assert not case.gradebook_submission
        return
    for part in PARTS:
        score, top = row[part], LAB06.points[part]
        expected = case.expected(part)
        assert -1e-9 <= score <= top + 1e-9, (case.name, part, score)
        detail = batch.results.get(case.name, {}).get("parts", {}).get(part)
        if expected == "full":
            assert score == pytest.approx(top), (case.name, part, score, detail)
        elif expected == "lt":
            assert score < top - 1e-6, (case.name, part, score)
        elif expected == "zero":
            assert score == 0, (case.name, part, score)
    assert row["total"] <= LAB06.max_points + 1e-9


@pytest.mark.parametrize("case", [c for c in hostile.CASES if c.evidence], ids=lambda c: c.name)
def test_the_attack_really_ran_in_the_worker(batch, case):
    """Guards the corpus against vacuous passes: the attack's own report is in its outputs."""
    result = batch.results[case.name]
    kind, _, what = case.evidence.partition(":")
    if kind == "tamper":
        assert what in result["tamper"], result["tamper"]
    elif kind == "status":
        assert what in result["cell_status"].values(), result["cell_status"]
    else:
        text = json.dumps(result["cells"], ensure_ascii=False)
        assert case.evidence in text, (case.name, text[-2000:])


# --------------------------------------------------------------------------- nothing else changed
@pytest.mark.parametrize("tree", ["course/submitted", "course/source", "course/release", "course/grader_tests",
                                  "course/reference", "repo/grader_tests", "repo/reference", "repo/source"])
def test_no_file_outside_the_sandbox_changed(batch, tree):
    before, after = batch.before[tree], batch.after[tree]
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert changed == [], f"{tree}: {changed[:20]}"


def test_gradebook_is_consistent(batch):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{batch.course / 'gradebook.db'}") as gb:
        assert {s.id for s in gb.students} == set(batch.students)
        assignment = gb.find_assignment(ASSIGNMENT_ID)
        cells = {c.name: c.max_score for nb in assignment.notebooks for c in nb.grade_cells}
        for part in LAB06.parts:
            assert cells[part.cell] == part.points
        for submission in assignment.submissions:
            for grade in submission.notebooks[0].grades:
                score = grade.score or 0.0
                assert 0 <= score <= grade.max_score, (submission.student.id, grade.name, score)
    assert set(batch.rows) == {s for s in batch.students
                              if hostile.BY_NAME.get(s) is None or hostile.BY_NAME[s].gradebook_submission}


def test_nothing_connected_to_the_graders_localhost(batch):
    assert batch.connections == 0


# --------------------------------------------------------------------------- nothing leaked
def _output_text(notebook: Path) -> str:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            parts.append(json.dumps(out, ensure_ascii=False))
            parts.append("".join(out.get("text", "")) if isinstance(out.get("text"), (str, list)) else "")
            for value in out.get("data", {}).values():
                parts.append("".join(value) if isinstance(value, list) else str(value))
            parts.append("\n".join(out.get("traceback", [])))
    return "\n".join(parts)


def test_hidden_tests_never_reach_feedback_or_autograded_outputs(batch):
    markers = hostile.hidden_markers()
    assert len(markers) > 100
    leaks = []
    for student in batch.students:
        texts = {}
        autograded = batch.course / "autograded" / student / ASSIGNMENT_ID / NOTEBOOK
        if autograded.exists():
            texts["autograded outputs"] = _output_text(autograded)
        for path in (batch.course / "feedback" / student).rglob("*.html"):
            texts[f"feedback {path.name}"] = html.unescape(path.read_text(encoding="utf-8", errors="replace"))
        for where, text in texts.items():
            if hostile.BREACH in text and where == "autograded outputs":
                leaks.append((student, where, "breach marker"))
            found = [m for m in markers if m in text]
            if found:
                leaks.append((student, where, found[:3]))
    assert leaks == []


def test_symlinked_extra_files_do_not_carry_hidden_tests_into_feedback(batch):
    markers = hostile.hidden_markers()
    leaked = []
    for tree in ("autograded", "feedback"):
        for path in (batch.course / tree / "extra_files").rglob("*"):
            if path.is_file() and path.suffix != ".ipynb":
                text = path.read_text(encoding="utf-8", errors="replace")
                if any(m in text for m in markers):
                    leaked.append(str(path.relative_to(batch.course)))
    assert leaked == []


def test_output_flood_is_bounded_in_the_autograded_notebook(batch):
    notebook = batch.course / "autograded" / "output_flood" / ASSIGNMENT_ID / NOTEBOOK
    honest = batch.course / "autograded" / "honest_reference" / ASSIGNMENT_ID / NOTEBOOK
    assert notebook.stat().st_size < honest.stat().st_size + 2 * 1024**2


def test_every_result_records_the_runs_machine_speed_and_cpu_time(batch):
    """Budgets are CPU seconds scaled by the run's measured speed: each verdict carries both,
    so a TA can tell a slow run from a slow student, and one run has one speed factor. The CPU
    time is what the grader charged, read from the kernel's accounting (no wall time here):
    an honest notebook costs some (and all its requests together at least that), and a cell
    that hangs is charged at least the CPU budget it ran out of."""
    machines = {json.dumps(r.get("machine"), sort_keys=True) for r in batch.results.values() if r.get("machine")}
    assert len(machines) == 1, machines
    machine = json.loads(machines.pop())
    assert machine["measured"] and machine["cpu_factor"] > 0 and machine["budget_scale"] >= 1
    graded = {student: result for student, result in batch.results.items() if not result.get("invalid")}
    assert set(hostile.HONEST) <= set(graded)
    for student, result in graded.items():
        assert result["timings"]["notebook_cpu_seconds"] >= 0, (student, result["timings"])
    for student in hostile.HONEST:
        timings = graded[student]["timings"]
        assert timings["worker_cpu_seconds"] >= timings["notebook_cpu_seconds"] > 0, (student, timings)
    # hang_top_level loops at the top level of a cell: that cell alone ran out of the cell budget.
    cell_budget = float(LIMITS_ENV["LABKIT_LIMIT_CELL_SECONDS"]) * machine["budget_scale"]
    hung = graded["hang_top_level"]
    assert "timeout" in hung["cell_status"].values()
    assert hung["timings"]["notebook_cpu_seconds"] >= cell_budget, (hung["timings"], cell_budget)
