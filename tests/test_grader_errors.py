"""A grader bug is never charged to a student (labkit/grading/client.py GraderError,
labkit/core/results.py CheckStatus.GRADER_ERROR): a hidden check that asks the worker for an op nobody
defines is left out of its part, the student keeps their points, and the grading is flagged
``grader_error``, which the report shows and the cache never keeps."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labkit.core import flags
from labkit.core.assignment import load
from labkit.core.results import CheckResult, CheckStatus, PartResult
from labkit.grading.grade import grade_notebook
from labkit.term.submissions import build_submission

MINIMAL = Path(__file__).parent / "minimal_course"

BUGGY_CHECK = '''
import pytest

pytestmark = pytest.mark.part("mean")


@pytest.mark.weight(3)
def test_the_grader_asks_for_an_op_that_does_not_exist(submission):
    submission.op("no_such_op", [1.0, 2.0])
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("buggy-grader")
    shutil.copytree(MINIMAL / "source", root / "source")
    shutil.copytree(MINIMAL / "grader_tests", root / "grader_tests")
    (root / "grader_tests" / "mini" / "test_grader_bug.py").write_text(BUGGY_CHECK, encoding="utf-8")
    source = root / "source" / "mini" / "mini.ipynb"
    solved = build_submission(root / "solved.ipynb", {}, filled=True, release=source, source=source)
    return grade_notebook(solved, assignment=load("mini", root))


def test_the_student_keeps_their_points_when_the_grader_sends_an_unknown_op(graded):
    part = graded.parts["mean"]
    bug = next(c for c in part.checks if c.name == "test_the_grader_asks_for_an_op_that_does_not_exist")
    assert bug.status == CheckStatus.GRADER_ERROR and ("not yours" in bug.message or "nie Twój" in bug.message)
    assert part.score == part.max_points                         # a correct notebook keeps full marks
    assert all(c.credit == 1.0 for c in part.checks if c is not bug)


def test_the_grading_is_flagged_for_the_ta_and_never_cached(graded):
    assert "grader_error" in graded.flags
    assert "grader_error" in flags.TRANSIENT and flags.info("grader_error").failure


def test_a_grader_error_is_left_out_of_the_weighted_credit():
    checks = [CheckResult("p", "a", 1.0, 0.0, "failed"), CheckResult("p", "b", 5.0, 0.0, CheckStatus.GRADER_ERROR)]
    assert PartResult("p", 4.0, checks).score == 0.0             # the failed check still counts alone
    checks = [CheckResult("p", "a", 1.0, 1.0, "passed"), CheckResult("p", "b", 5.0, 0.0, CheckStatus.GRADER_ERROR)]
    assert PartResult("p", 4.0, checks).score == 4.0
    assert PartResult("p", 4.0, [CheckResult("p", "b", 1.0, 0.0, CheckStatus.GRADER_ERROR)]).score == 4.0
