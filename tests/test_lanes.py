"""labkit/core/lanes.py and labkit/grading/lanes.py: one notebook graded on several cores.

lab06 has two lanes: its first five parts, copied once the training section has run (while
the experiments still run), and the experiments, copied after the last cell. The tests grade a
copy of the course with that plan written out, and one with the plan removed (one lane).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus import build
from labkit.core.assignment import AssignmentError, load
from labkit.core.lanes import MAX_LANES, parse_lanes
from labkit.core.settings import REPO_ROOT
from labkit.grading.grade import grade_notebook
from labkit.grading.lanes import boundaries

PARTS = ("data", "loader", "model")
PLAN = '[["data", "loader", "model", "loss", "training"], ["experiments"]]'


def _course(root: Path, plan: str | None) -> Path:
    """The course's lab06 with ``lanes = plan`` (None: no lanes, one lane)."""
    import re
    import shutil
    for folder in ("source", "grader_tests", "reference"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    toml = root / "grader_tests" / "lab06" / "assignment.toml"
    text = re.sub(r"(?m)^lanes = .*\n", "", toml.read_text(encoding="utf-8"))
    if plan is not None:
        text = text.replace('checks = "."', f'checks = "."\nlanes = {plan}')
    toml.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def lab06(tmp_path_factory):
    laned = load("lab06", _course(tmp_path_factory.mktemp("laned"), PLAN))
    assert laned.lanes == load("lab06", REPO_ROOT).lanes   # the plan the course grades with
    return laned


@pytest.mark.parametrize("value, problem", [
    ([["data"], ["model"]], "in no lane: ['loader']"),
    ([["data", "loader"], ["loader", "model"]], "in two lanes: ['loader']"),
    ([["data", "loader", "model", "dane"]], "not parts of the notebook: ['dane']"),
    ([["data", "loader", "model"], []], "expected a list of non-empty lists"),
    ("data", "expected a list of non-empty lists"),
    ([[p] for p in PARTS] * 3, f"at most {MAX_LANES}"),
])
def test_a_lane_plan_that_misses_repeats_or_misnames_a_part_is_an_error_naming_it(value, problem):
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_lanes(value, PARTS, "x.toml: [assignment]")


def test_without_a_plan_every_part_is_in_one_lane():
    assert parse_lanes(None, PARTS, "x") == ()
    assert parse_lanes([["model"], ["data", "loader"]], PARTS, "x") == (("model",), ("data", "loader"))


def test_the_description_names_a_bad_plan(tmp_path):
    from minimal import describe, minimal_course
    root = minimal_course(tmp_path)
    toml = root / "grader_tests" / "mini" / "assignment.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('checks = "."', 'checks = "."\nlanes = [["nope"]]'),
                    encoding="utf-8")
    with pytest.raises(AssignmentError, match="not parts of the notebook"):
        load("mini", root)
    assert describe   # the helper the other tests use to add tables


def test_a_lane_sees_the_notebook_up_to_the_answer_cell_after_its_last_parts_tests(lab06):
    class Sub:
        notebook, assignment = lab06.notebook, lab06
    cells = json.loads(lab06.notebook.read_text(encoding="utf-8"))["cells"]
    first, last = boundaries(Sub(), lab06.lanes)
    ids = [(c.get("metadata", {}).get("nbgrader") or {}).get("grade_id") for c in cells]
    assert ids[first] == "experiments_solution"
    assert last is None or all(c["cell_type"] != "code" for c in cells[last:])   # the written answers
    assert ids.index("training_tests") < ids.index("demo_after_training") < first   # its demos included


def _with_cell(notebook: Path, after: str, source: str) -> Path:
    """``notebook`` with a code cell inserted after the cell ``after`` (by grade_id)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    at = next(i for i, c in enumerate(nb["cells"])
              if (c.get("metadata", {}).get("nbgrader") or {}).get("grade_id") == after)
    nb["cells"].insert(at + 1, {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                "source": source})
    out = notebook.with_name(f"{notebook.stem}-changed.ipynb")
    out.write_text(json.dumps(nb), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def correct(tmp_path_factory, lab06):
    path = build("correct_sequential", tmp_path_factory.mktemp("lanes"))
    return path, grade_notebook(path, assignment=lab06)


def _points(result, parts) -> dict[str, float]:
    return {p: result.parts[p].score for p in parts}


def test_a_correct_notebook_gets_full_marks_in_every_lane(correct, lab06):
    _, result = correct
    assert result.total == sum(lab06.points.values()) and not {"grader_error", "interrupted"} & set(result.flags)
    assert all(result.parts[p].checks for p in lab06.part_ids)
    one_lane = grade_notebook(correct[0], assignment=load("lab06", _course(correct[0].parent / "one", None)))
    assert _points(result, lab06.part_ids) == _points(one_lane, lab06.part_ids)


def test_a_later_cell_cannot_change_what_an_earlier_lane_grades(correct, lab06):
    path, before = correct
    broken = _with_cell(path, "experiments_solution_best",
                        "def make_rings(*args, **kwargs):\n    raise RuntimeError('x')\n\nBEST_CONFIG = {'x': 1}\n")
    after = grade_notebook(broken, assignment=lab06)
    early = lab06.lanes[0]
    assert _points(after, early) == _points(before, early)   # its copy was taken before the cell
    assert after.parts["experiments"].score < before.parts["experiments"].score   # the last lane sees it


def test_a_cell_that_kills_the_worker_after_a_lane_was_copied_grades_that_lane_again(correct, lab06):
    path, before = correct
    # The first lane's copy is taken just before this cell; its checks take seconds, so the
    # worker's death ends the copy in the middle of them: the lane is graded again from a replay.
    killing = _with_cell(path, "experiments_solution", "import os\nos._exit(3)\n")
    after = grade_notebook(killing, assignment=lab06)
    assert _points(after, lab06.part_ids) == _points(before, lab06.part_ids)
    assert "cell_crash" in after.flags and after.timings["worker_restarts"] >= 1
    assert not {"grader_error", "interrupted"} & set(after.flags)


def test_a_notebook_that_brings_its_worker_down_too_often_grades_as_in_one_lane(correct, lab06):
    path, _ = correct
    crashing = path
    for _ in range(4):   # one more crash than the worker may be restarted after (Limits.worker_restarts)
        crashing = _with_cell(crashing, "experiments_solution", "import os\nos._exit(3)\n")
    laned = grade_notebook(crashing, assignment=lab06)
    one_lane = grade_notebook(crashing, assignment=load("lab06", _course(path.parent / "one-crash", None)))
    assert _points(laned, lab06.part_ids) == _points(one_lane, lab06.part_ids)
    assert "grader_error" not in laned.flags
