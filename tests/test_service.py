"""The grading service end to end on a local exchange (labkit/service/): a student submits,
the service grades that one submission through nbgrader's own steps and releases its feedback,
and the student's own `nbgrader fetch_feedback` brings it home, with no instructor command in
between. One Unix user plays every student here (tests/exchange_course.py), so the course
config turns off collect's owner check, as tests/test_exchange.py does.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from browser import _wait   # a readiness wait, never a measurement
from exchange_course import Course
from labkit.service.journal import State
from labkit.service.service import Service, ServiceSettings
from labkit.term.submissions import build_submission, solution_sources
from minimal import describe, minimal_course

pytestmark = pytest.mark.slow
WRONG = '''def weighted_mean(values, weights):
    return float(sum(values) / len(values))   # forgets the weights
'''
OTHER_RIGHT = '''def weighted_mean(values, weights):
    return sum(v * w for v, w in zip(values, weights)) / sum(weights)
'''


def _course(base: Path, feedback: str = "") -> Course:
    c = Course(base)
    minimal_course(c.root, config=True)
    with open(c.root / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write("\nc.ExchangeCollect.check_owner = False\n")
    due = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7)).replace(microsecond=0)
    describe(c.root, f"\n[term]\ndue = {due.isoformat()}\n{feedback}")
    c.instructor("generate_assignment", "mini")
    c.instructor("release_assignment", "mini")
    return c


def _submit(c: Course, student: str, answer: str) -> None:
    fetched = c.home(student) / "mini" / "mini.ipynb"
    if not fetched.exists():
        c.student(student, "fetch_assignment", "mini")
    build_submission(fetched, {"mean_solution": answer}, filled=False, release=fetched,
                     source=c.root / "source" / "mini" / "mini.ipynb")
    c.student(student, "submit", "mini")


def _feedback(c: Course, student: str) -> list[str]:
    """The text of every feedback page the student has fetched, oldest first."""
    c.student(student, "fetch_feedback", "mini")
    pages = sorted((c.home(student) / "mini" / "feedback").glob("*/mini.html"))
    return [html.unescape(re.sub(r"<[^>]+>", "", p.read_text(encoding="utf-8"))) for p in pages]


@pytest.fixture(scope="module")
def service_course(tmp_path_factory):
    c = _course(tmp_path_factory.mktemp("service"), feedback="[feedback]\nattempts_per_day = 2\n")
    service = Service(ServiceSettings(root=c.root, exchange=c.exchange))
    yield c, service
    service.journal.close()


def test_a_student_fixes_a_mistake_from_instant_feedback(service_course):
    c, service = service_course
    _submit(c, "ala", WRONG)
    assert service.scan() == 1 and service.drain() == 1
    first = _feedback(c, "ala")
    assert len(first) == 1
    assert "Attempt 1" in first[0] and "Part mean: 0.00 / 2.00" in first[0]
    assert "test_weighted_mean_equals_the_weighted_sum_over_the_weights" in first[0]   # names the mistake
    _submit(c, "ala", OTHER_RIGHT)
    service.scan()
    service.drain()
    pages = _feedback(c, "ala")
    assert len(pages) == 2
    assert "Attempt 2" in pages[1] and "Part mean: 2.00 / 2.00" in pages[1]


def test_over_the_days_budget_a_submission_is_collected_and_gets_a_note(service_course):
    c, service = service_course
    _submit(c, "ala", solution_sources(c.root / "source" / "mini" / "mini.ipynb")["mean_solution"])
    service.scan()
    service.drain()
    rows = [r for r in service.journal.rows() if r["student"] == "ala"]
    assert [r["state"] for r in rows] == [State.RELEASED, State.RELEASED, State.OVER_BUDGET]
    assert "after the deadline" in rows[-1]["note"]
    pages = _feedback(c, "ala")
    assert len(pages) == 3 and "Attempt" not in pages[2] and "Part mean" not in pages[2]   # a note, no verdicts
    assert "All 2 of today's checks are used" in pages[2] and "counts for the grade as usual" in pages[2]
    inbound = max((c.exchange / "sieci-neuronowe" / "inbound").glob("ala+mini+*"))
    collected = c.root / "submitted" / "ala" / "mini" / "timestamp.txt"
    assert collected.read_text() == (inbound / "timestamp.txt").read_text()   # it counts for the grade


def test_a_link_in_inbound_is_moved_aside_where_no_collect_finds_it(service_course):
    c, service = service_course
    inbound = c.exchange / "sieci-neuronowe" / "inbound"
    link = inbound / "mallory+mini+2026-12-08 09:00:00.000000 UTC+x"
    link.symlink_to(c.root)                      # "my submission is the course, gradebook included"
    service.scan()
    assert not os.path.lexists(link) and (inbound / f".labkit-refused-{link.name}").is_symlink()
    row = next(r for r in service.journal.rows() if r["name"] == link.name)
    assert row["state"] == State.REFUSED and "not a folder" in row["note"]
    c.instructor("collect", "mini", "--ExchangeCollect.check_owner=False")    # the batch, later
    assert not (c.root / "submitted" / "mallory").exists()


def test_before_the_deadline_a_withheld_part_says_when_it_is_shown(tmp_path):
    (tmp_path / "withheld").mkdir()
    c = _course(tmp_path / "withheld", feedback='[feedback.part]\nmean = "after_deadline"\n')
    service = Service(ServiceSettings(root=c.root, exchange=c.exchange))
    _submit(c, "bartek", WRONG)
    service.scan()
    service.drain()
    service.journal.close()
    page = _feedback(c, "bartek")[0]
    assert "Part mean: after the deadline" in page and "shown after the deadline" in page
    assert "0.00 / 2.00" not in page and "0.0 / 2.0" not in page   # neither the score nor the verdict


def _states(root: Path) -> list[tuple[str, str, int]]:
    import sqlite3
    path = root / ".labkit-service" / "journal.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        try:
            return db.execute("SELECT student, state, crashes FROM entries ORDER BY student").fetchall()
        except sqlite3.OperationalError:   # the schema is being created
            return []


def _serve(c: Course) -> subprocess.Popen:
    return subprocess.Popen([str(Path(sys.executable).parent / "labkit"), "serve", "--course", str(c.root),
                             "--exchange", str(c.exchange), "--rescan", "1"],
                            cwd=c.root, env={**c.env, "HOME": str(c.root.parent)}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=open(c.root.parent / "serve.log", "ab"))


def test_after_kill_9_every_submission_gets_its_feedback_exactly_once(tmp_path):
    (tmp_path / "killed").mkdir()
    c = _course(tmp_path / "killed")
    students = ("ala", "bartek", "celina")
    # bartek's cell waits 3 s (within the idle budget), so on any machine the service is caught
    # mid-grading by a poll every 0.1 s.
    for student in students:
        _submit(c, student, OTHER_RIGHT if student != "bartek" else "import time\ntime.sleep(3)\n" + WRONG)
    first = _serve(c)
    try:
        _wait("a grading under way", lambda: any(s == State.GRADING for _, s, _ in _states(c.root)), 600, every=0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)     # the service and everything it started, mid-grading
        first.wait()
    killed = sum(1 for _, state, _ in _states(c.root) if state == State.GRADING)   # one per grader lane
    assert killed >= 1
    second = _serve(c)
    try:
        _wait("every entry done", lambda: len(_states(c.root)) == 3 and not any(
            s in (State.QUEUED, State.GRADING) for _, s, _ in _states(c.root)), 600, every=0.1)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(60)
    assert [s for _, s, _ in _states(c.root)] == [State.RELEASED] * 3, (c.root.parent / "serve.log").read_text()[-3000:]
    assert sum(crashes for _, _, crashes in _states(c.root)) == killed       # those killed mid-grading, once each
    assert len(list((c.exchange / "sieci-neuronowe" / "feedback").glob("*.html"))) == 3
    for student in students:
        pages = _feedback(c, student)
        assert len(pages) == 1 and "Attempt 1" in pages[0], student
    assert "Part mean: 0.00 / 2.00" in _feedback(c, "bartek")[0]


def test_a_collect_torn_by_a_kill_is_collected_again_whole(tmp_path):
    """kill -9 during nbgrader's collect leaves submitted/<student>/ half copied with its
    timestamp.txt, and collect never repairs it ("No newer submission to collect")."""
    (tmp_path / "torn").mkdir()
    c = _course(tmp_path / "torn")
    _submit(c, "dawid", OTHER_RIGHT)
    service = Service(ServiceSettings(root=c.root, exchange=c.exchange))
    service.scan()
    claim = service.journal.claim()                     # graded when the service died ...
    service.steps.collect("mini", "dawid")              # ... in the middle of its collect
    (c.root / "submitted" / "dawid" / "mini" / "submission_secret.txt").unlink()
    service.journal.close()
    restarted = Service(ServiceSettings(root=c.root, exchange=c.exchange))
    restarted.recover()
    assert restarted.drain() == 1
    row = next(r for r in restarted.journal.rows() if r["name"] == claim.name)
    assert (row["state"], row["crashes"]) == (State.RELEASED, 1)
    assert "Part mean: 2.00 / 2.00" in _feedback(c, "dawid")[0]
    restarted.journal.close()


def _scores(root: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {s.student.id: s.score for s in gb.find_assignment("mini").submissions}


def test_the_batch_after_the_deadline_gives_the_services_grades(tmp_path):
    (tmp_path / "final").mkdir()
    c = _course(tmp_path / "final")
    _submit(c, "ewa", WRONG)
    _submit(c, "filip", OTHER_RIGHT)
    service = Service(ServiceSettings(root=c.root, exchange=c.exchange))
    service.scan()
    service.drain()
    service.journal.close()
    graded = _scores(c.root)
    verdicts = {p.stem: json.loads(p.read_text())["parts"] for p in (c.root / "reports" / "results" / "mini").glob("*.json")}
    c.instructor("collect", "mini")
    c.instructor("autograde", "mini", "--force")
    assert graded == _scores(c.root) == {"ewa": 0.0, "filip": 2.0}
    assert {p.stem: json.loads(p.read_text())["parts"]
            for p in (c.root / "reports" / "results" / "mini").glob("*.json")} == verdicts


def test_with_a_dask_scheduler_the_service_grades_there(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    (tmp_path / "dask").mkdir()
    c = _course(tmp_path / "dask")
    _submit(c, "gosia", OTHER_RIGHT)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        config = c.root / "nbgrader_config.py"
        config.write_text(config.read_text(encoding="utf-8")
                          + f"\nc.GradeInWorker.scheduler = {cluster.scheduler_address!r}\n", encoding="utf-8")
        service = Service(ServiceSettings(root=c.root, exchange=c.exchange))
        service.scan()
        with distributed.Client(cluster.scheduler_address) as client, \
                distributed.get_task_stream(client) as stream:
            assert service.drain() == 1
        service.journal.close()
    assert [t["key"] for t in stream.data if str(t["key"]).startswith("grade_bytes")]   # graded on the cluster
    assert "Part mean: 2.00 / 2.00" in _feedback(c, "gosia")[0]
