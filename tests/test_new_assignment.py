"""docs/new-assignment.md, followed step by step for a minimal assignment shaped nothing like
lab06 (tests/minimal_course/: one part, one function, one check), through the same engine
and the course's own nbgrader_config.py: generate, autograde, feedback, export, report.

An audit hook in every Python process of the run (nbgrader, the graders) records any
import of a lab06 module and any file opened under lab06's folders: the minimal
assignment's path must touch none of them.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.core.assignment import load
from labkit.core.settings import REPO_ROOT
from labkit.term.submissions import build_submission, release_notebook

pytestmark = pytest.mark.slow
MINIMAL = Path(__file__).parent / "minimal_course"
LAB06_PATHS = [str(REPO_ROOT / "grader_tests" / "lab06"), str(REPO_ROOT / "reference" / "lab06"),
               str(REPO_ROOT / "source" / "lab06")]
AUDIT_HOOK = '''
import os, sys
_LOG = os.environ.get("LABKIT_TEST_LAB06_LOG")
_PATHS = tuple(p for p in os.environ.get("LABKIT_TEST_LAB06_PATHS", "").split(os.pathsep) if p)
def _hook(event, args):
    if not _LOG:
        return
    hit = None
    if event == "import" and "lab06" in str(args[0]):
        hit = f"import {args[0]}"
    elif event == "open" and isinstance(args[0], str) and args[0].startswith(_PATHS):
        hit = f"open {args[0]}"
    if hit:
        with open(_LOG, "a") as f:
            f.write(f"{os.getpid()} {hit}\\n")
sys.addaudithook(_hook)
if _LOG:   # proof that the hook is active in this process
    with open(_LOG + ".procs", "a") as f:
        f.write(f"{os.getpid()} {' '.join(sys.argv)[:200]}\\n")
'''
WRONG = '''def weighted_mean(values, weights):
    return float(sum(values) / len(values))   # forgets the weights
'''


def nbgrader(course: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).parent / "nbgrader"
    return subprocess.run([str(tool), *args], cwd=course, env=env, capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    """Steps 1-6 of docs/new-assignment.md for the minimal assignment, run once."""
    root = tmp_path_factory.mktemp("course")
    # 1. Write the notebook: source/mini/mini.ipynb, with its nbgrader metadata.
    shutil.copytree(MINIMAL / "source", root / "source")
    # 2. Describe it: grader_tests/mini/assignment.toml; 3. Write the checks: grader_tests/mini/test_mean.py,
    # in a package (grader_tests/__init__.py and grader_tests/mini/__init__.py).
    shutil.copytree(MINIMAL / "grader_tests", root / "grader_tests")
    assert {p.relative_to(root).as_posix() for p in (root / "grader_tests").rglob("__init__.py")} == \
        {"grader_tests/__init__.py", "grader_tests/mini/__init__.py"}
    # 4. and 5. are optional (worker-side helpers; report blocks and a demo class): none here.
    # The course's configuration, unchanged: the same file grades lab06, lab06_en and this.
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    hook = root.parent / "audit"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(AUDIT_HOOK)
    log = root.parent / "lab06.log"
    env = {**os.environ, "PYTHONPATH": str(hook), "LABKIT_TEST_LAB06_LOG": str(log),
           "LABKIT_TEST_LAB06_PATHS": os.pathsep.join(LAB06_PATHS),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    env.pop("LABKIT_ASSIGNMENT", None)
    # 6. Release, grade, return.
    nbgrader(root, env, "generate_assignment", "mini", "--force")
    assignment = load("mini", root)
    release = release_notebook(root, "mini")
    for student, replacement, filled in (("alice", {}, True), ("bob", {"mean_solution": WRONG}, True),
                                         ("carol", {}, False)):
        build_submission(root / "submitted" / student / "mini" / "mini.ipynb", replacement, filled=filled,
                         release=release, source=assignment.notebook)
    autograde = nbgrader(root, env, "autograde", "mini", "--force")
    nbgrader(root, env, "generate_feedback", "mini", "--force")
    nbgrader(root, env, "export", "--exporter=labkit.nbgrader_ext.exporter.ReportExporter")
    return {"root": root, "log": log, "autograde": autograde, "assignment": assignment}


def _scores(root: Path) -> dict[str, dict]:
    with open(root / "grades_parts.csv", newline="", encoding="utf-8") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def test_parts_and_points_come_from_the_notebook(course):
    assignment = course["assignment"]
    assert assignment.points == {"mean": 2.0} and assignment.language == "en" and assignment.manual == ()
    assert (assignment.worker_helpers, assignment.report_sections, assignment.demo) == (None, None, None)  # 4, 5


def test_release_has_english_stubs_and_no_hidden_section(course):
    text = release_notebook(course["root"], "mini").read_text(encoding="utf-8")
    assert "YOUR CODE HERE" in text and "TUTAJ" not in text
    assert "HIDDEN TESTS" not in text and "total = sum(weights)" not in text


def test_correct_wrong_and_untouched_get_their_grades(course):
    scores = _scores(course["root"])
    assert list(scores["alice"])[:5] == ["assignment", "student_id", "mean", "manual", "total"]
    assert float(scores["alice"]["mean"]) == pytest.approx(2.0)
    assert float(scores["bob"]["mean"]) == 0.0
    assert float(scores["carol"]["mean"]) == 0.0


def test_feedback_shows_verdicts_in_english_and_no_hidden_section(course):
    html = (course["root"] / "feedback" / "bob" / "mini" / "mini.html").read_text(encoding="utf-8")
    assert "HIDDEN TESTS" not in html and "hidden checks run in the course" not in html
    assert "expected" in html and "test_weighted_mean_equals_the_weighted_sum_over_the_weights" in html
    assert "oczekiwano" not in html


def test_report_and_results_know_only_this_assignment(course):
    root = course["root"]
    report = (root / "reports" / "mini_report.html").read_text(encoding="utf-8")
    assert "alice" in report and "BEST_CONFIG" not in report and "RESULTS" not in report
    result = json.loads((root / "reports" / "results" / "mini" / "alice.json").read_text(encoding="utf-8"))
    assert result["assignment"] == "mini" and list(result["parts"]) == ["mean"]


def test_nothing_of_lab06_is_imported_or_opened(course):
    log = course["log"]
    watched = Path(f"{log}.procs").read_text().splitlines()
    # The hook ran in nbgrader's processes and in the graders forked for the submissions.
    assert any("autograde" in line for line in watched) and len(watched) >= 4, watched
    assert not log.exists(), log.read_text()
