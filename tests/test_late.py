"""Late work (labkit/term/late.py): the penalty per started day, deadlines from ``[term] due``,
extensions from extensions.toml, and the step that feeds them to nbgrader's own
AssignLatePenalties, run against a real (temporary) nbgrader gradebook."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import nbformat

import pytest

from labkit.term import late
from labkit.core.assignment import load
from labkit.nbgrader_ext.late_penalties import LatePenalties
from labkit.nbgrader_ext.per_day_penalty import PerDayPenalty
from labkit.term.late import LateError

MINIMAL = Path(__file__).parent / "minimal_course"
DUE = dt.datetime(2026, 11, 20, 22, 59)          # 2026-11-20T23:59:00+01:00 in naive UTC, as nbgrader keeps it
DAY = 86400.0


# --------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize("seconds, days, points", [
    (0.0, 0, 0.0),                 # on time
    (-5.0, 0, 0.0),                # early
    (1.0, 1, 1.0),                 # 1 s late is a started day: 10% of 10 points
    (DAY, 1, 1.0),                 # exactly 24 h is still the first day
    (DAY + 1, 2, 2.0),             # one second more starts the second
    (3.5 * DAY, 4, 4.0),           # 3.5 days: four started days
    (5 * DAY, 5, 5.0),             # at the cap
    (30 * DAY, 30, 5.0),           # capped at 50%
])
def test_penalty_per_started_day_capped(seconds, days, points):
    assert late.started_days(seconds) == days
    assert late.penalty_points(seconds, 10.0) == points


def test_penalty_shares_are_configurable_and_exact():
    assert late.penalty_points(3 * DAY, 2.0, per_day=0.25, cap=0.6) == 1.2   # 3 x 25% capped at 60%
    assert late.penalty_points(3 * DAY, 1.0) == 0.3                           # not 0.30000000000000004
    assert late.penalty_points(2 * DAY, 10.0, per_day=0.0) == 0.0


def test_plugin_rejects_a_share_outside_0_1():
    with pytest.raises(Exception, match="share of the points"):
        PerDayPenalty(per_day=1.5)


# --------------------------------------------------------------------------- deadline and extensions


@pytest.fixture
def course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    shutil.copytree(MINIMAL, root)
    (root / "grader_tests" / "other").mkdir()
    (root / "grader_tests" / "other" / "assignment.toml").write_text('[assignment]\nbase = "mini"\n')
    shutil.copytree(root / "source" / "mini", root / "source" / "other")
    (root / "source" / "other" / "mini.ipynb").rename(root / "source" / "other" / "other.ipynb")
    return root


def _term(root: Path, text: str, assignment: str = "mini") -> None:
    path = root / "grader_tests" / assignment / "assignment.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[term]\n" + text + "\n", encoding="utf-8")


def _extensions(root: Path, text: str) -> None:
    (root / "extensions.toml").write_text(text, encoding="utf-8")


def test_deadline_is_read_as_utc_and_inherited_by_a_twin(course):
    assert late.deadline("mini", course) is None
    before = load("mini", course).digest()
    _term(course, "due = 2026-11-20T23:59:00+01:00")
    assert late.deadline("mini", course) == DUE
    assert late.deadline("other", course) == DUE                  # base = "mini"
    assert load("mini", course).digest() == before                # a deadline is not in the cache key
    _term(course, 'due = "2026-12-01T12:00:00+00:00"', "other")
    assert late.deadline("other", course) == dt.datetime(2026, 12, 1, 12, 0)


@pytest.mark.parametrize("text, message", [
    ("due = 2026-11-20T23:59:00", "no UTC offset"),
    ('due = "tomorrow"', "not a date and time"),
    ("deadline = 2026-11-20T23:59:00+01:00", "unknown keys in \\[term\\]"),
])
def test_a_bad_deadline_is_an_error_naming_it(course, text, message):
    _term(course, text)
    with pytest.raises(LateError, match=message):
        late.deadline("mini", course)


def test_extension_moves_the_deadline_for_its_student_only(course):
    _extensions(course, """
[[extension]]
student = "carol"
assignment = "mini"
until = 2026-11-23T23:59:00+01:00
reason = "sick note"

[[extension]]
student = "bob"
assignment = "mini"
days = 2
reason = "family"

[[extension]]
student = "dave"
assignment = "other"
days = 7
reason = "for the other assignment"
""")
    extensions = late.load_extensions(course, ["mini", "other"])
    submitted = DUE + dt.timedelta(days=3, hours=12)              # 3.5 days late without an extension
    carol = late.extension_for(extensions, "mini", "carol")
    assert carol.delta(DUE) == dt.timedelta(days=3)
    assert late.seconds_late(submitted, DUE, carol) == 12 * 3600  # one started day
    bob = late.extension_for(extensions, "mini", "bob")
    assert late.seconds_late(submitted, DUE, bob) == 1.5 * DAY    # two started days
    assert late.seconds_late(DUE, DUE, bob) == 0.0
    # dave's extension is for another assignment: on this one he is as late as anyone.
    assert late.extension_for(extensions, "mini", "dave") is None
    assert late.seconds_late(submitted, DUE, late.extension_for(extensions, "mini", "dave")) == 3.5 * DAY


def test_no_extensions_file_means_none(course):
    assert late.load_extensions(course) == []


@pytest.mark.parametrize("text, message", [
    ("[[extension]\nstudent = 'a'", "not valid TOML"),
    ("[[extension]]\nstudent = 'a'\nassignment = 'mini'\ndays = 1\n", "`reason` is required"),
    ("[[extension]]\nstudent = 'a'\nassignment = 'mini'\nreason = 'x'\n", "either `until`.*neither"),
    ("[[extension]]\nstudent = 'a'\nassignment = 'mini'\nreason = 'x'\ndays = 1\n"
     "until = 2026-11-21T00:00:00+01:00\n", "either `until`.*both"),
    ("[[extension]]\nstudent = 'a'\nassignment = 'mini'\nreason = 'x'\ndays = -1\n", "positive number"),
    ("[[extension]]\nstudent = 'a'\nassignment = 'mini'\nreason = 'x'\nuntil = 2026-11-21T00:00:00\n",
     "no UTC offset"),
    ("[[extension]]\nstudent = 'a'\nassignment = 'lab6'\nreason = 'x'\ndays = 1\n", "unknown assignment 'lab6'"),
    ("[[extension]]\nstudent = 'a'\nassignment = 'mini'\nreason = 'x'\ndays = 1\nhours = 3\n",
     "unknown key.*hours"),
    ("[[extension]]\nstudent = 'a'\nassignment = 'mini'\nreason = 'x'\ndays = 1\n" * 2, "two extensions for a/mini"),
    ("[extension]\nstudent = 'a'\n", "\\[\\[extension\\]\\] table"),
    ("[[decision]]\nstudent = 'a'\n", "only \\[\\[extension\\]\\] tables"),
])
def test_a_malformed_extensions_file_is_a_clear_error(course, text, message):
    _extensions(course, text)
    with pytest.raises(LateError, match=message) as caught:
        late.load_extensions(course, ["mini", "other"])
    assert "extensions.toml" in str(caught.value)


def test_an_extension_ending_before_the_deadline_is_refused(course):
    _extensions(course, "[[extension]]\nstudent = 'a'\nassignment = 'mini'\nreason = 'x'\n"
                        "until = 2026-11-19T00:00:00+01:00\n")
    extension, = late.load_extensions(course)
    with pytest.raises(LateError, match="not after the deadline"):
        extension.delta(DUE)


# --------------------------------------------------------------------------- nbgrader's gradebook


def _gradebook(course: Path, submitted: dict[str, dt.datetime]):
    """A gradebook as `nbgrader autograde` leaves it before AssignLatePenalties: the minimal
    assignment (one notebook, 2 points), each student's timestamp and full autograded points."""
    from nbgrader.api import Gradebook
    gb = Gradebook(f"sqlite:///{course / 'gradebook.db'}")
    gb.add_assignment("mini")
    gb.add_notebook("mini", "mini")
    gb.add_grade_cell("mean_tests", "mini", "mini", max_score=2.0, cell_type="code")
    for student, timestamp in submitted.items():
        gb.add_student(student)
        gb.add_submission("mini", student, timestamp=timestamp)
        grade = gb.find_grade("mean_tests", "mini", "mini", student)
        grade.auto_score = 2.0
    gb.db.commit()
    return gb


@pytest.fixture
def nbgrader_course(course, monkeypatch) -> Path:
    """nbgrader run at the course root. A new gradebook asks an ``alembic`` subprocess for the
    schema's version only to stamp it (seconds of start-up); these tests never migrate, so the
    stamp is a constant. tests/test_exchange.py creates its gradebook the real way."""
    monkeypatch.chdir(course)
    monkeypatch.setattr("nbgrader.api.get_alembic_version", lambda: "labkit-test")
    return course


def _assign_penalties(course: Path, students) -> None:
    for student in students:
        resources = {"nbgrader": {"notebook": "mini", "assignment": "mini", "student": student,
                                  "db_url": f"sqlite:///{course / 'gradebook.db'}"}}
        LatePenalties().preprocess(nbformat.v4.new_notebook(), resources)


def test_nbgrader_applies_deadline_extension_and_penalty(nbgrader_course):
    course = nbgrader_course
    _term(course, "due = 2026-11-20T23:59:00+01:00")
    _extensions(course, "[[extension]]\nstudent = 'bob'\nassignment = 'mini'\ndays = 4\nreason = 'sick'\n"
                        "[[extension]]\nstudent = 'carol'\nassignment = 'other'\ndays = 4\nreason = 'x'\n")
    submitted = {"alice": DUE - dt.timedelta(hours=1), "bob": DUE + dt.timedelta(days=3.5),
                 "carol": DUE + dt.timedelta(days=3.5)}
    gb = _gradebook(course, submitted)
    try:
        _assign_penalties(course, submitted)
        gb.db.expire_all()
        assert gb.find_assignment("mini").duedate == DUE                       # written from [term]
        found = late.lateness(gb, "mini")
        assert found["alice"].penalty == 0.0 and not found["alice"].late
        assert found["bob"].extension == dt.timedelta(days=4) and found["bob"].penalty == 0.0
        assert found["carol"].days == 4 and found["carol"].penalty == pytest.approx(0.8)   # 40% of 2
        assert gb.find_submission("mini", "carol").score == 2.0                # raw score kept beside it
        # Withdrawing bob's extension makes him late at the next autograde.
        _extensions(course, "")
        _assign_penalties(course, ["bob"])
        gb.db.expire_all()
        bob = late.lateness(gb, "mini")["bob"]
        assert bob.extension is None and bob.days == 4 and bob.penalty == pytest.approx(0.8)
    finally:
        gb.close()


def test_a_bad_extensions_file_stops_autograde_with_its_message(nbgrader_course):
    course = nbgrader_course
    _extensions(course, "[[extension]]\nstudent = 'bob'\nassignment = 'mini'\nreason = 'sick'\n")
    with pytest.raises(LateError, match="extensions.toml.*either `until`"):
        _assign_penalties(course, ["bob"])
