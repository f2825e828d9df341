"""The exchange round trip of a JupyterHub course (docs/exchange.md), with late work, for the
minimal assignment (tests/minimal_course) under the course's own nbgrader_config.py.

The instructor generates and releases; a class of six, each with their own HOME and working
folder, fetches, edits and submits through a local exchange directory. Before the deadline alice
submits a wrong answer, filip the untouched notebook, and dawid a wrong answer that he replaces
after the deadline; bob (who has an extension in extensions.toml) and carol submit late; ewa is
on the roster and never submits. The instructor collects (the latest submission of each
student), autogrades, generates and releases feedback, and exports; every student who submitted
fetches their own feedback. No mocks: nbgrader's own commands, its exchange, its timestamps.

Each command is forked from a launcher that imported nbgrader once (tests/nbgrader_cli.py:
nbgrader's real app with the command's own argv, cwd and environment), because a fresh
``nbgrader`` process costs a few seconds of CPU to import. Set LABKIT_TEST_EXCHANGE_PROCESSES=1
to run every command as its own ``nbgrader`` process instead.
"""
from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import time
from pathlib import Path

import pytest

from exchange_course import COURSE_ID, Course

from labkit.term.late import lateness
from labkit.core.settings import REPO_ROOT
from labkit.term.submissions import build_submission, solution_sources

pytestmark = pytest.mark.slow
MINIMAL = Path(__file__).parent / "minimal_course"
SUBMITTERS = ("alice", "bob", "carol", "dawid", "filip")
ROSTER = (*SUBMITTERS, "ewa")           # ewa fetches and never submits
WRONG = '''def weighted_mean(values, weights):
    return float(sum(values) / len(values))   # forgets the weights
'''
EXTENSIONS = '''[[extension]]
student = "bob"
assignment = "mini"
days = 1
reason = "medical certificate"
'''


def _set_deadline(root: Path, due: dt.datetime) -> None:
    path = root / "grader_tests" / "mini" / "assignment.toml"
    path.write_text(path.read_text(encoding="utf-8") + f"\n[term]\ndue = {due.isoformat()}\n", encoding="utf-8")


@pytest.fixture(scope="module")
def term(tmp_path_factory) -> dict:
    """The whole round trip, run once; the tests below read what it left behind."""
    c = Course(tmp_path_factory.mktemp("exchange"))
    shutil.copytree(MINIMAL / "source", c.root / "source")
    shutil.copytree(MINIMAL / "grader_tests", c.root / "grader_tests")
    shutil.copy(REPO_ROOT / "nbgrader_config.py", c.root / "nbgrader_config.py")
    (c.root / "extensions.toml").write_text(EXTENSIONS, encoding="utf-8")

    c.instructor("generate_assignment", "mini")
    c.instructor("release_assignment", "mini")
    for student in ROSTER:
        c.instructor("db", "student", "add", student)   # the class list, as from the university's system
        c.student(student, "fetch_assignment", "mini")
    # The students work on what they fetched: alice and dawid forget the weights, filip hands
    # in the notebook as fetched, bob and carol solve it.
    source = c.root / "source" / "mini" / "mini.ipynb"
    solution = solution_sources(source)["mean_solution"]
    for student in ("alice", "bob", "carol", "dawid"):
        fetched = c.home(student) / "mini" / "mini.ipynb"
        build_submission(fetched, {"mean_solution": WRONG if student in ("alice", "dawid") else solution},
                         filled=False, release=fetched, source=source)
    for student in ("alice", "dawid", "filip"):
        c.student(student, "submit", "mini")
    # The deadline passes: everything submitted from now on is late.
    due = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=1)
    _set_deadline(c.root, due)
    time.sleep(max(0.0, (due - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.05)
    fetched = c.home("dawid") / "mini" / "mini.ipynb"      # dawid fixes his answer, now late
    build_submission(fetched, {"mean_solution": solution}, filled=False, release=fetched, source=source)
    for student in ("bob", "carol", "dawid"):
        c.student(student, "submit", "mini")
    # One Unix user plays every student here; on a hub each owns their submission.
    c.instructor("collect", "mini", "--ExchangeCollect.check_owner=False")
    c.instructor("autograde", "mini")
    c.instructor("generate_feedback", "mini")
    c.instructor("release_feedback", "mini")
    for student in SUBMITTERS:
        c.student(student, "fetch_feedback", "mini")
    c.instructor("export", "--exporter=labkit.nbgrader_ext.exporter.ReportExporter")
    return {"course": c, "root": c.root, "due": due.replace(tzinfo=None)}


def _csv(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["student_id"]: row for row in csv.DictReader(fh)}


def _gradebook(root: Path):
    from nbgrader.api import Gradebook
    return Gradebook(f"sqlite:///{root / 'gradebook.db'}")


def test_exchange_holds_release_submissions_and_feedback(term):
    exchange = term["course"].exchange / COURSE_ID
    assert (exchange / "outbound" / "mini" / "mini.ipynb").is_file()
    inbound = sorted(p.name.split("+")[0] for p in (exchange / "inbound").iterdir())
    assert inbound == ["alice", "bob", "carol", "dawid", "dawid", "filip"]
    assert len(list((exchange / "feedback").glob("*.html"))) == len(SUBMITTERS)


def test_collect_copies_the_exchange_timestamp_of_the_latest_submission(term):
    exchange = term["course"].exchange / COURSE_ID / "inbound"
    for student in SUBMITTERS:
        sent = max(exchange.glob(f"{student}+mini+*"), key=lambda p: (p / "timestamp.txt").read_text())
        kept = term["root"] / "submitted" / student / "mini" / "timestamp.txt"
        assert kept.read_text() == (sent / "timestamp.txt").read_text() == sent.name.split("+")[2]
    assert not (term["root"] / "submitted" / "ewa").exists()


def test_gradebook_has_the_deadline_lateness_extension_and_penalty(term):
    with _gradebook(term["root"]) as gb:
        assert gb.find_assignment("mini").duedate == term["due"]     # from [term] due
        late = lateness(gb, "mini")
        scores = {s: gb.find_submission("mini", s).score for s in SUBMITTERS}
    assert scores == {"alice": 0.0, "bob": 2.0, "carol": 2.0, "dawid": 2.0, "filip": 0.0}
    assert not late["alice"].late and late["alice"].penalty == 0.0
    assert late["alice"].timestamp < term["due"] < late["bob"].timestamp < late["carol"].timestamp
    # bob is late against the deadline, but not against his extended one.
    assert late["bob"].extension == dt.timedelta(days=1) and not late["bob"].late and late["bob"].penalty == 0.0
    assert late["carol"].late and late["carol"].days == 1 and late["carol"].penalty == pytest.approx(0.2)
    # dawid's fixed notebook counts, and with it its late timestamp.
    assert late["dawid"].late and late["dawid"].days == 1 and late["dawid"].penalty == pytest.approx(0.2)
    assert not late["filip"].late and late["filip"].penalty == 0.0


def test_grades_csv_and_parts_csv_carry_the_penalty(term):
    grades = _csv(term["root"] / "grades.csv")             # nbgrader's own export, for the LMS
    assert {s: (float(r["raw_score"]), float(r["late_submission_penalty"]), float(r["score"]))
            for s, r in grades.items()} == {"alice": (0.0, 0.0, 0.0), "bob": (2.0, 0.0, 2.0),
                                            "carol": (2.0, 0.2, 1.8), "dawid": (2.0, 0.2, 1.8),
                                            "filip": (0.0, 0.0, 0.0), "ewa": (0.0, 0.0, 0.0)}
    parts = _csv(term["root"] / "grades_parts.csv")
    assert list(parts["carol"])[-4:] == ["manual", "total", "late_submission_penalty", "score"]
    assert (parts["carol"]["mean"], parts["carol"]["total"], parts["carol"]["late_submission_penalty"],
            parts["carol"]["score"]) == ("2.0", "2.0", "0.2", "1.8")
    assert (parts["bob"]["late_submission_penalty"], parts["bob"]["score"]) == ("0.0", "2.0")


def test_report_shows_lateness_and_the_penalty(term):
    html = (term["root"] / "reports" / "mini_report.html").read_text(encoding="utf-8")
    table = html.split('<table id="scores"')[1].split("</table>")[0]
    rows = dict(re.findall(r'<tr data-student="(\w+)"[^>]*>(.*?)</tr>', table, re.S))
    assert ">1 d, −0.20<" in rows["carol"] and "on time" in rows["alice"] and "on time" in rows["bob"]
    section = html.split('id="student-carol"')[1]
    assert "1 started day late" in section and "−0.20" in section and "→ 1.80" in section
    assert "(extension +1 d)" in html.split('id="student-bob"')[1]


def test_every_student_fetches_their_own_feedback(term):
    root, course = term["root"], term["course"]
    for student in SUBMITTERS:
        cache = next(course.home(student).rglob("nbgrader_cache"))    # $JUPYTER_DATA_DIR/nbgrader_cache
        timestamp = (root / "submitted" / student / "mini" / "timestamp.txt").read_text()
        assert [p for p in (cache / COURSE_ID).glob(f"{student}+mini+*") if p.name.split("+")[2] == timestamp]
        fetched = course.home(student) / "mini" / "feedback" / timestamp / "mini.html"
        assert fetched.read_bytes() == (root / "feedback" / student / "mini" / "mini.html").read_bytes(), student
    feedback = {s: next((course.home(s) / "mini" / "feedback").glob("*/mini.html")).read_text(encoding="utf-8")
                for s in SUBMITTERS}
    assert "test_weighted_mean_equals_the_weighted_sum_over_the_weights" in feedback["alice"]
    assert "Late penalty: −0.20 points" in feedback["carol"]
    assert "Late penalty" not in feedback["bob"] and "Late penalty" not in feedback["alice"]
    assert "Late penalty: −0.20 points" in feedback["dawid"]
    # Byte-equal to each student's own page above; carol's and dawid's are the same page (the
    # same answer, one started day late each), every other pair differs.
    assert feedback["carol"] == feedback["dawid"]
    assert len({feedback[s] for s in ("alice", "bob", "carol", "filip")}) == 4
    assert not (course.home("ewa") / "mini" / "feedback").exists()
