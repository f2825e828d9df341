"""pytest plug-in that turns an assignment's hidden checks into a SubmissionResult.

A check is a test marked with its part, ``@pytest.mark.part("data")`` (usually once per
module, as ``pytestmark``), and optionally its weight inside the part,
``@pytest.mark.weight(2)`` (default 1). Both sit on the check itself, so renaming or
moving a test cannot lose them; a check without a part, or with a part the notebook does
not have, stops collection with an error naming it. Only messages written for students
travel into results (CheckFailed and the worker's failure types, labkit/grading/check_messages.py);
any other exception becomes a neutral "internal grader error", so hidden test code and hidden
values never reach feedback. An assignment with lanes is graded by one process per lane, each
on its own copy of the worker (labkit/grading/lanes.py). The plug-in also loads the ``grading`` hypothesis profile: derandomized,
no database, no deadline.

A *diagnosis* is a test marked ``@pytest.mark.diagnosis`` next to its part's checks. It runs
after them, usually only when one of them failed, replays the student's code against
known-mistake variants of the reference under the checks' own seeds and tolerances, and
reports an exact match with the ``diagnosis`` fixture. It never scores: its findings go to
``SubmissionResult.diagnoses`` and, where a check's message blamed a cause the diagnosis rules
out, replace that message.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from labkit.core import assignment as assignments
from labkit.grading import lanes
from labkit.grading.check_messages import message_for, unwrap
from labkit.grading.checks import tr
from labkit.grading.client import Submission
from labkit.core.results import CheckResult, CheckStatus, SubmissionResult, empty_parts, status_of

_CREDIT = pytest.StashKey[tuple]()
_RESULTS = pytest.StashKey[dict]()
_SUBMISSION = pytest.StashKey[Submission]()
_ARTIFACTS = pytest.StashKey[dict]()
_FINISHED = pytest.StashKey[set]()
_DIAGNOSES = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labkit")
    group.addoption("--submission", default=None,
                    help="notebook to grade, 'reference' for the reference solution "
                         "(or 'kernel', used by labkit.grading.inkernel)")
    group.addoption("--results-json", default=None, help="write the SubmissionResult here")
    group.addoption("--assignment", default=None, help="the assignment to grade (default: LABKIT_ASSIGNMENT)")
    group.addoption("--course-root", default=None, help="its course root (default: LABKIT_COURSE_ROOT, else .)")
    group.addoption("--part", default=None, help="run only this part's checks (labkit.grading.inkernel)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "part(name): the part of the assignment a hidden check grades")
    config.addinivalue_line("markers", "weight(w): relative weight of a hidden check inside its part (default 1)")
    config.addinivalue_line("markers", "diagnosis: names a likely mistake of its part; never scores")
    config.stash[_RESULTS] = {}
    config.stash[_DIAGNOSES] = []
    config.stash[_ARTIFACTS] = {}
    config.stash[_FINISHED] = set()
    if config.getoption("--submission", default=None) is None:
        return   # not a grading session (the kit's own tests load this plug-in too)
    assignment = assignments.load(config.getoption("--assignment"), config.getoption("--course-root"))
    assignments.activate(assignment)
    assignment.install_reference()   # before the checks are collected: they import reference.<id>
    from hypothesis import settings
    register_grading_profile(assignment.hypothesis_examples)
    settings.load_profile("grading")


def register_grading_profile(max_examples: int) -> None:
    """Register hypothesis's ``grading`` profile for ``max_examples`` examples per property.

    Derandomized, no example database, no deadline: the same submission meets the same
    examples on every regrade, and a slow machine never turns into a failed check.
    No explain phase: it only annotates hypothesis's own report, which students never see
    (checks speak through their messages), yet it re-ran a failing check ~100 times over the
    worker pipe: 4/5 of the grader's CPU on an untouched notebook. Shrinking stays, so a
    message still quotes the smallest failing example.
    """
    from hypothesis import settings
    settings.register_profile("grading", max_examples=max_examples, **_grading_guarantees())


def _grading_guarantees() -> dict:
    """What every property of a grading session runs with, whatever else it sets."""
    from hypothesis import HealthCheck, Phase
    return {"derandomize": True, "database": None, "deadline": None, "print_blob": False,
            "phases": (Phase.explicit, Phase.generate, Phase.target, Phase.shrink),
            "suppress_health_check": list(HealthCheck)}


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every check states a part the notebook has; ``--part`` keeps one part's checks."""
    if config.getoption("--submission", default=None) is None:
        return
    parts = assignments.current().part_ids
    for item in items:
        marker = item.get_closest_marker("part")
        if marker is None or not marker.args:
            raise pytest.UsageError(f"{item.nodeid}: a hidden check needs @pytest.mark.part(<part>)")
        if marker.args[0] not in parts:
            raise pytest.UsageError(f"{item.nodeid}: part {marker.args[0]!r} is not an autograded part of "
                                    f"the notebook ({', '.join(parts)})")
    _pin_grading_settings(items)
    only = config.getoption("--part")
    if only:
        keep = [item for item in items if part_of(item) == only]
        config.hook.pytest_deselected(items=[item for item in items if part_of(item) != only])
        items[:] = keep


def _pin_grading_settings(items: list[pytest.Item]) -> None:
    """Every property runs under the ``grading`` profile, whenever its module was imported.

    hypothesis fixes a property's settings when ``@given`` decorates it, i.e. at the module's
    first import. A process that imported the checks before a grading session loaded the
    profile (the kit's own tests collect them in-process; a kernel could import them) kept the
    default 200 ms deadline, and a busy machine then failed a correct check. A check that sets
    its own ``@settings`` keeps them, with the grading profile's guarantees on top.
    """
    from hypothesis import settings
    grading = settings.get_profile("grading")
    guarantees = _grading_guarantees()
    for item in items:
        function = getattr(item, "obj", None)
        inner = getattr(getattr(function, "hypothesis", None), "inner_test", None)
        if function is None or inner is None:
            continue
        own = getattr(inner, "_hypothesis_internal_use_settings", None)
        function._hypothesis_internal_use_settings = settings(own, **guarantees) if own is not None else grading


def part_of(item: pytest.Item) -> str | None:
    """The part a check grades, from its ``part`` marker."""
    marker = item.get_closest_marker("part")
    return str(marker.args[0]) if marker is not None and marker.args else None


def is_diagnosis(item: pytest.Item) -> bool:
    return item.get_closest_marker("diagnosis") is not None


def weight_of(item: pytest.Item) -> float:
    """A check's weight inside its part, from its ``weight`` marker (default 1)."""
    marker = item.get_closest_marker("weight")
    return float(marker.args[0]) if marker is not None and marker.args else 1.0


class Credit:
    """Lets a check award partial credit: ``credit.set(0.4, message)``."""

    def __init__(self, item: pytest.Item):
        self.item = item

    def set(self, fraction: float, message: str = "") -> None:
        self.item.stash[_CREDIT] = (min(1.0, max(0.0, float(fraction))), message)


@pytest.fixture
def credit(request: pytest.FixtureRequest) -> Credit:
    return Credit(request.node)


class Diagnosis:
    """What a diagnosis sees of its part's checks, and how it reports a mistake it matched."""

    def __init__(self, item: pytest.Item):
        self.item, self.part = item, part_of(item)

    @property
    def failed(self) -> set[str]:
        """Names of this part's checks that earned less than full credit so far."""
        return {c.name for c in self.item.config.stash[_RESULTS].values()
                if c.part == self.part and c.credit < 1.0}

    def name(self, find, message) -> None:
        """The usual diagnosis: when a check of the part failed, ``find()`` returns the id of
        the mistake it matched (or None) and ``message(id)`` its student-facing text."""
        if not self.failed:
            pytest.skip("nothing to explain")
        mistake = find()
        if mistake is not None:
            self.found(mistake, message(mistake))

    def found(self, mistake: str, message: str, *, explains: dict[str, tuple[str, str]] | None = None) -> None:
        """Record ``mistake`` (an id) with a student-facing ``message``. ``explains`` maps a
        check's name to (the cause its message names, the corrected text): if that check
        failed, the corrected text replaces the cause the diagnosis ruled out."""
        self.item.config.stash[_DIAGNOSES].append(
            {"part": self.part, "mistake": mistake, "message": message, "explains": dict(explains or {})})


@pytest.fixture
def diagnosis(request: pytest.FixtureRequest) -> Diagnosis:
    return Diagnosis(request.node)


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> dict:
    """A dict the checks fill with data for the TA report (losses, RESULTS, boundary)."""
    return request.config.stash[_ARTIFACTS]


@pytest.fixture(scope="session")
def submission(request: pytest.FixtureRequest):
    """The student's notebook (or the reference) running in a confined worker."""
    lane = lanes.lane_of(request.config)
    if lane is not None:
        # The notebook ran already; this process grades its lane's copy. The copy stays until
        # the notebook's worker goes (a copy found ended then is graded again: lanes.start).
        yield lane.sub
        return
    target = request.config.getoption("--submission")
    if not target:
        pytest.exit("--submission PATH.ipynb (or 'reference') is required", returncode=4)
    if target == "kernel":  # stock-nbgrader mode, see labkit/grading/inkernel.py
        from labkit.grading import inkernel
        sub = inkernel.ACTIVE
        if sub is None:
            pytest.exit("--submission kernel is only for labkit.grading.inkernel.grade_part", returncode=4)
    else:
        sub = _new_submission(request.config)
    request.config.stash[_SUBMISSION] = sub
    sub.start()
    yield sub
    sub.close()


def _new_submission(config: pytest.Config) -> Submission:
    target = config.getoption("--submission")
    if target == "reference":
        return Submission(reference=True, assignment=assignments.current())
    return Submission(notebook=Path(target), assignment=assignments.current())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtestloop(session: pytest.Session):
    """With lanes, the notebook runs and its worker is copied before the first check."""
    lanes.start(session.config, _new_submission)
    lane = lanes.lane_of(session.config)
    if lane is not None:   # the notebook's cells, outputs and flags
        session.config.stash[_SUBMISSION] = lane.main if lane.main is not None else lane.sub
    yield


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    """Another lane's checks are that lane's grader's: not run, not reported here."""
    return None if lanes.owns(item.config, part_of(item)) else True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    part = part_of(item)
    if part is None:
        return
    results = item.config.stash[_RESULTS]
    if report.when == "call" or report.skipped or report.failed:
        item.config.stash[_FINISHED].add(item.nodeid)
    if is_diagnosis(item):
        # Best effort: a diagnosis that cannot run (the student's code raised) names nothing.
        report.outcome, report.longrepr = "passed", None
        return
    name = item.originalname if hasattr(item, "originalname") else item.name
    weight = weight_of(item)
    sub = item.config.stash.get(_SUBMISSION, None)
    if report.when == "setup" and report.failed:
        status, message = message_for(unwrap(call.excinfo.value), sub)
        results[item.nodeid] = CheckResult(part, name, weight, 0.0, status, message, call.duration)
    elif report.when == "call":
        if report.passed:
            fraction, message = item.stash.get(_CREDIT, (1.0, ""))
            status = status_of(fraction)
            results[item.nodeid] = CheckResult(part, name, weight, fraction, status, message, call.duration)
        elif report.failed:
            status, message = message_for(unwrap(call.excinfo.value), sub)
            results[item.nodeid] = CheckResult(part, name, weight, 0.0, status, message, call.duration)
        # Only our own messages reach results; keep pytest's report free of hidden code too.
        report.longrepr = f"{name}: {results[item.nodeid].status}" if not report.passed else None


def pytest_sessionfinish(session: pytest.Session) -> None:
    try:
        _write_results(session)
    finally:
        lanes.close(session.config)


def _write_results(session: pytest.Session) -> None:
    config = session.config
    out = config.getoption("--results-json", default=None)
    if not out:
        return
    assignment = assignments.current()
    parts = empty_parts(assignment)
    only = config.getoption("--part")
    if only:
        parts = {only: parts[only]}
    lane = lanes.lane_of(config)
    if lane is not None and lane.index >= 0:
        parts = {p: parts[p] for p in parts if p in lane.parts}
    for check in config.stash[_RESULTS].values():
        parts[check.part].checks.append(check)
    interrupted = session.shouldstop or session.exitstatus == pytest.ExitCode.INTERRUPTED
    for item in _unfinished(session):
        # A check that never finished earns nothing: averaging only the finished ones would
        # hand out full marks when the failing checks were the ones cut off (nbgrader's cell
        # timeout interrupting the in-kernel mode did exactly that).
        name = getattr(item, "originalname", item.name)
        parts[part_of(item)].checks.append(CheckResult(
            part_of(item), name, weight_of(item), 0.0, "timeout",
            tr("Sprawdzanie przerwano, zanim ten test się zakończył (limit czasu).",
               "Grading was interrupted before this check finished (a time limit).")))
        interrupted = True
    sub: Submission | None = config.stash.get(_SUBMISSION, None)
    target = config.getoption("--submission")
    result = SubmissionResult(notebook=str(target), parts=parts, assignment=assignment.id)
    if interrupted:
        result.flags.append("interrupted")
    if sub is not None:
        if lane is None or lane.index < 0:   # a lane's grader leaves the cells to the merging one
            result.cells = {str(i): run.outputs for i, run in sub.cell_runs.items()}
            result.cell_status = {str(i): run.status for i, run in sub.cell_runs.items()}
        graded = list({id(g): g for g in (sub, lane.sub if lane else None) if g is not None}.values())
        result.flags = sorted(set(result.flags).union(*(g.flags for g in graded)))
        result.tamper = sorted(set().union(*(g.tamper for g in graded)))
        result.sandbox = sub.plan.kind
        machine = getattr(sub, "machine", None)
        if machine is not None:
            result.machine = {"cpu_factor": machine.cpu_factor, "wall_factor": machine.wall_factor,
                              "budget_scale": machine.budget_scale, "measured": machine.measured}
        result.timings = {"notebook_seconds": round(sub.notebook_seconds, 3),
                          "notebook_cpu_seconds": round(sub.notebook_cpu_seconds, 3),
                          "worker_cpu_seconds": round(sum(g.worker_cpu_seconds for g in graded), 3),
                          "worker_start_seconds": round(getattr(sub, "start_seconds", 0.0), 3),
                          "worker_restarts": max(g.restarts for g in graded),
                          "worker_peak_mib": round(max(g.peak_rss_kib for g in graded) / 1024, 1)}
    result.artifacts = config.stash[_ARTIFACTS]
    result.diagnoses = _apply_diagnoses(parts, config.stash[_DIAGNOSES])
    lanes.merge_children(config, result, out)
    if any(c.status == CheckStatus.GRADER_ERROR for part in result.parts.values() for c in part.checks):
        result.flags.append("grader_error")   # transient: not cached, graded again once fixed
    for part in result.parts.values():
        if not part.checks:
            part.checks.append(CheckResult(part.part, "checks_collected", 1.0, 0.0, CheckStatus.ERROR,
                                           tr("Brak wyników sprawdzarki dla tej części.",
                                              "No grader results for this part.")))
            result.flags.append("grader_error")
    result.flags = sorted(set(result.flags))
    result.timings["session_seconds"] = round(time.time() - session.config._labkit_started, 3) \
        if hasattr(session.config, "_labkit_started") else None
    result.timings["grader_cpu_seconds"] = round(time.process_time(), 3)
    Path(lanes.results_path(config, out)).write_text(result.to_json(), encoding="utf-8")


def _apply_diagnoses(parts: dict, found: list[dict]) -> list[dict]:
    """Replace the messages of failed checks that a diagnosis explains; the findings, once each."""
    unique = list({(d["part"], d["mistake"]): d for d in found}.values())
    for d in unique:
        for check in parts[d["part"]].checks if d["part"] in parts else []:
            if check.name in d["explains"] and check.credit < 1.0:
                wrong, corrected = d["explains"][check.name]
                check.message = (check.message.replace(wrong, corrected) if wrong and wrong in check.message
                                 else f"{check.message}\n{corrected}".strip())
    return [{k: v for k, v in d.items() if k != "explains"} | {"explains": sorted(d["explains"])} for d in unique]


def _unfinished(session: pytest.Session) -> list[pytest.Item]:
    """Collected checks with no result: the session was interrupted before they ended."""
    done = session.config.stash[_FINISHED]
    return [item for item in getattr(session, "items", []) if part_of(item) and not is_diagnosis(item)
            and item.nodeid not in done and lanes.owns(session.config, part_of(item))]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    lanes.exit_if_lane(config)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config._labkit_started = time.time()
