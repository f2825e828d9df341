"""TA decisions (labkit/term/overrides.py): the file, applying them, the command, and an end-to-end
run in which an override survives two `nbgrader autograde --force` (a cache hit and a miss)."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nbgrader_cli

from labkit.term import overrides
from labkit.core.assignment import load
from labkit.cli.main import main as cli
from labkit.nbgrader_ext.verdict_cells import report_text, verdict_outputs
from labkit.core.results import SubmissionResult
from labkit.core.settings import REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "report"
MINIMAL = Path(__file__).parent / "minimal_course"
LAB06 = load("lab06", REPO_ROOT)
TRICKY = 'pętla ma "zero_grad" \\ w środku\nlinia 2'


def _darek() -> SubmissionResult:
    return SubmissionResult.from_json((FIXTURES / "darek_no_zero_grad.json").read_text(encoding="utf-8"))


def _write(course: Path, text: str) -> None:
    (course / overrides.FILE).write_text(text, encoding="utf-8")


def _part_decision(**kw) -> overrides.Decision:
    fields = dict(assignment="lab06", student="darek", part="training", reason="zero_grad jest, w innej funkcji",
                  by="jkowalski", date="2026-11-30", points=3.5)
    fields.update(kw)
    return overrides.Decision(**fields)


# --------------------------------------------------------------------------- the file


def test_no_file_means_no_decisions(tmp_path):
    assert overrides.load(tmp_path) == []


@pytest.mark.parametrize("entry, complaint", [
    ('part = "training"\npoints = 1\nby = "x"', "`assignment` is required"),
    ('assignment = "lab06"\nstudent = "s"\npart = "training"\npoints = 1\nby = "x"', "`reason` is required"),
    ('assignment = "lab06"\nstudent = "s"\npart = "training"\nreason = "r"\nby = "x"', "needs `points`"),
    ('assignment = "lab06"\nstudent = "s"\npart = "training"\ncheck = "c"\npoints = 1\nreason = "r"\nby = "x"',
     "needs `credit`"),
    ('assignment = "lab06"\nstudent = "s"\npart = "training"\ncheck = "c"\ncredit = 1.5\nreason = "r"\nby = "x"',
     "needs `credit`"),
    ('assignment = "lab06"\nstudent = "s"\npart = "training"\ndecision = "rejected"\npoints = 2\nreason = "r"\nby = "x"',
     "changes no score"),
    ('assignment = "lab06"\nstudent = "s"\npart = "training"\npoints = "4"\nreason = "r"\nby = "x"',
     "must be a number"),
    ('assignment = "lab06"\nstudent = "s"\npart = "training"\npoints = 1\nreason = "r"\nby = "x"\nscore = 2',
     "unknown key(s) score"),
])
def test_a_malformed_decision_is_an_error_naming_it(tmp_path, entry, complaint):
    _write(tmp_path, overrides.HEADER + "\n[[decision]]\n" + entry + "\n")
    with pytest.raises(overrides.OverrideError, match="#1") as error:
        overrides.load(tmp_path)
    assert complaint in str(error.value)


def test_points_beyond_the_part_or_an_unknown_part_are_refused():
    with pytest.raises(overrides.OverrideError, match="within 0..4"):
        overrides.validate(_part_decision(points=9.0), LAB06)
    with pytest.raises(overrides.OverrideError, match="no part 'trening'"):
        overrides.validate(_part_decision(part="trening"), LAB06)


def test_add_writes_a_file_that_reads_back_with_every_character_intact(tmp_path):
    overrides.add(tmp_path, _part_decision(reason=TRICKY, request="Proszę o ponowne sprawdzenie"), LAB06)
    overrides.add(tmp_path, _part_decision(student="ewa", decision=overrides.REJECTED, points=None), LAB06)
    first, second = overrides.load(tmp_path)
    assert first.reason == TRICKY and first.points == 3.5 and first.request == "Proszę o ponowne sprawdzenie"
    assert second.student == "ewa" and not second.changes_score
    assert (tmp_path / overrides.FILE).read_text(encoding="utf-8").startswith(overrides.HEADER)


def test_add_refuses_a_bad_decision_and_leaves_the_file_as_it_was(tmp_path):
    overrides.add(tmp_path, _part_decision(), LAB06)
    before = (tmp_path / overrides.FILE).read_text(encoding="utf-8")
    with pytest.raises(overrides.OverrideError):
        overrides.add(tmp_path, _part_decision(check="test_x", credit=2.0, points=None), LAB06)
    assert (tmp_path / overrides.FILE).read_text(encoding="utf-8") == before


# --------------------------------------------------------------------------- applying them


def test_a_part_override_sets_the_parts_points_and_keeps_the_graded_ones():
    graded = _darek()
    before = graded.parts["training"].score
    out = overrides.apply(graded, [_part_decision()], LAB06)
    assert out.parts["training"].score == 3.5 and out.parts["training"].graded_score == before
    assert out.total == pytest.approx(graded.total - before + 3.5)
    assert "overridden" in out.flags and out.decisions[0]["graded"] == before and out.decisions[0]["now"] == 3.5
    # The cached verdict it was applied to is untouched.
    assert graded.parts["training"].score == before and not graded.decisions and "overridden" not in graded.flags


def test_a_check_override_changes_only_that_checks_credit():
    graded = _darek()
    name = "test_train_switches_the_model_to_train_mode"
    decision = _part_decision(check=name, credit=1.0, points=None)
    out = overrides.apply(graded, [decision], LAB06)
    check = next(c for c in out.parts["training"].checks if c.name == name)
    assert (check.credit, check.status, check.graded_credit) == (1.0, "passed", 0.0)
    weights = sum(c.weight for c in out.parts["training"].checks)
    gain = LAB06.points["training"] * check.weight / weights
    assert out.parts["training"].score == pytest.approx(graded.parts["training"].score + gain, abs=1e-4)
    assert out.parts["training"].graded_score == graded.parts["training"].score
    with pytest.raises(overrides.OverrideError, match="no check 'test_nope'"):
        overrides.apply(graded, [_part_decision(check="test_nope", credit=1.0, points=None)], LAB06)


def test_a_rejected_request_changes_nothing_but_is_recorded():
    graded = _darek()
    out = overrides.apply(graded, [_part_decision(decision=overrides.REJECTED, points=None)], LAB06)
    assert out.total == graded.total and out.flags[-1] == "regrade_answered"
    assert out.decisions[0]["decision"] == "rejected"


def test_applying_to_an_already_overridden_result_keeps_the_original_graded_value():
    graded = _darek()
    once = overrides.apply(graded, [_part_decision(points=3.0)], LAB06)
    twice = overrides.apply(once, [_part_decision(points=3.5)], LAB06)
    assert twice.parts["training"].score == 3.5 and twice.decisions[-1]["graded"] == graded.parts["training"].score


def test_the_result_json_keeps_the_override_through_a_round_trip():
    out = overrides.apply(_darek(), [_part_decision()], LAB06)
    back = SubmissionResult.from_json(out.to_json())
    assert back.parts["training"].score == 3.5 and back.decisions == out.decisions


def test_feedback_publishes_the_override_and_shows_the_reason_in_the_students_language():
    from nbgrader.utils import determine_grade
    out = overrides.apply(_darek(), [_part_decision(reason="pętla jest poprawna")], LAB06)
    text = report_text(out.parts["training"], out.decisions)
    assert "zmieniony przez prowadzącego" in text and "pętla jest poprawna" in text and "jkowalski" in text
    cell = {"cell_type": "code", "metadata": {"nbgrader": {"grade": True, "points": LAB06.points["training"]}},
            "outputs": verdict_outputs(out.parts["training"], "", out.decisions)}
    import nbformat
    assert determine_grade(nbformat.from_dict(cell))[0] == pytest.approx(3.5)
    zero = overrides.apply(_darek(), [_part_decision(points=0.0)], LAB06)
    cell["outputs"] = verdict_outputs(zero.parts["training"], "", zero.decisions)
    assert determine_grade(nbformat.from_dict(cell))[0] == 0


def test_the_command_records_and_lists_decisions(tmp_path, capsys):
    for folder in ("grader_tests", "source", "reference"):   # lab06 as the repository describes it
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "lab06").symlink_to(REPO_ROOT / folder / "lab06", target_is_directory=True)
    assert cli(["override", "lab06", "darek", "training", "--points", "3", "--reason", "ok", "--by", "TA",
                "--course", str(tmp_path)]) == 0
    assert "nbgrader autograde lab06 --force --student darek" in capsys.readouterr().out
    assert cli(["override", "lab06", "darek", "training", "--points", "30", "--reason", "x", "--by", "TA",
                "--course", str(tmp_path)]) == 2
    assert "within 0..4" in capsys.readouterr().err
    assert cli(["decisions", "--course", str(tmp_path)]) == 0
    assert "darek  training  points 3  by TA: ok" in capsys.readouterr().out
    # The README's spelling of the same command.
    listed = subprocess.run([sys.executable, "-m", "labkit", "decisions", "--course", str(tmp_path)],
                            capture_output=True, text=True, check=True)
    assert "darek  training  points 3  by TA: ok" in listed.stdout


# --------------------------------------------------------------------------- end to end


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    env.pop("LABKIT_ASSIGNMENT", None)
    return nbgrader_cli.nbgrader(list(args), cwd=course, env=env, check=True)


def _csv(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
def test_an_override_survives_two_regrades_in_gradebook_csvs_and_report(tmp_path):
    from labkit.term.submissions import build_submission, release_notebook
    course = tmp_path / "course"
    shutil.copytree(MINIMAL / "source", course / "source")
    shutil.copytree(MINIMAL / "grader_tests", course / "grader_tests")
    shutil.copy(REPO_ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    _nbgrader(course, "generate_assignment", "mini", "--force")
    mini = load("mini", course)
    wrong = "def weighted_mean(values, weights):\n    return float(sum(values) / len(values))\n"
    for student, replacement in (("alice", {}), ("bob", {"mean_solution": wrong})):
        build_submission(course / "submitted" / student / "mini" / "mini.ipynb", replacement, filled=True,
                         release=release_notebook(course, "mini"), source=mini.notebook)
    _nbgrader(course, "autograde", "mini", "--force")
    _nbgrader(course, "export", "--exporter=labkit.nbgrader_ext.exporter.ReportExporter")
    assert float(_scores(course)["bob"]["mean"]) == 0.0
    assert cli(["override", "mini", "bob", "mean", "--points", "1.5", "--reason", "weights were given as ints",
                "--by", "TA Nowak", "--request", "my answer is right for integer weights", "--course", str(course)]) == 0

    def regrade_and_read() -> dict:
        _nbgrader(course, "autograde", "mini", "--force")
        _nbgrader(course, "generate_feedback", "mini", "--force")
        _nbgrader(course, "export", "--exporter=labkit.nbgrader_ext.exporter.ReportExporter")
        return _scores(course)

    for cache in ("hit", "miss"):
        if cache == "miss":
            shutil.rmtree(course / ".labkit-cache")
        rows = regrade_and_read()
        assert float(rows["bob"]["mean"]) == 1.5 and float(rows["bob"]["total"]) == 1.5, cache
        assert float(rows["alice"]["mean"]) == 2.0, cache
        grades = {r["student_id"]: r for r in csv.DictReader(open(course / "grades.csv", newline=""))}
        assert float(grades["bob"]["raw_score"]) == 1.5, cache
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            assert gb.find_submission("mini", "bob").score == pytest.approx(1.5), cache
        report = (course / "reports" / "mini_report.html").read_text(encoding="utf-8")
        assert "weights were given as ints" in report and "TA Nowak" in report and "overridden" in report, cache
        feedback = (course / "feedback" / "bob" / "mini" / "mini.html").read_text(encoding="utf-8")
        assert "weights were given as ints" in feedback and "1.50" in feedback, cache
        result = SubmissionResult.load(course / "reports" / "results" / "mini" / "bob.json")
        assert result.parts["mean"].graded_score == 0.0 and result.parts["mean"].score == 1.5, cache


def _scores(course: Path) -> dict[str, dict]:
    return _csv(course / "grades_parts.csv")
