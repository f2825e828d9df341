"""labkit/grading/inkernel.py: the kit's checks inside the notebook's own process (stock-nbgrader mode).

The nbgrader round trip of this mode is in tests/test_roundtrip.py
(``test_stock_nbgrader_running_the_checks_in_kernel_agrees_with_the_kit``).
"""
from __future__ import annotations

import dataclasses

import pytest

import corpus
from labkit.core import assignment
from labkit.grading.inkernel import grade_part
from labkit.core.notebook import reference_cells
from labkit.core.settings import REPO_ROOT

LAB06 = assignment.load("lab06", REPO_ROOT)


@pytest.fixture(autouse=True)
def restore_active_assignment():
    """grade_part activates its assignment for the kernel it runs in; not for the next test."""
    before = assignment.active()
    yield
    assignment.activate(before)


# The reference's RESULTS over the corpus's cheap grid (tests/corpus.py): the lab's 24-run
# sweep cost 34 CPU s here, and more when the experiments part replayed its rows. The
# checks ask of RESULTS what they ask of any student's grid.
CHEAP_RESULTS = corpus.CHEAP_CELLS[corpus.GRID_CELL] + """
RESULTS = []
for factor, config in EXPERIMENT_GRID:
    outcome = run_experiment(config, seed=0)
    RESULTS.append({"factor": factor, "config": config, "seed": 0, "test_accuracy": outcome["test_accuracy"]})
"""


def cells() -> list:
    """The reference's cells, with the cheap RESULTS cell in place of the lab's sweep."""
    out = reference_cells(LAB06)
    [last] = [i for i, c in enumerate(out) if c.grade_id == "reference_notebook_results"]
    out[last] = dataclasses.replace(out[last], source=CHEAP_RESULTS)
    return out


@pytest.fixture(scope="module")
def reference_namespace() -> dict:
    namespace = {"__name__": "__main__"}
    for cell in cells():
        exec(compile(cell.source, f"<cell {cell.index}>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("part", LAB06.part_ids)
def test_reference_earns_every_point_in_kernel(reference_namespace, part, capsys):
    score = grade_part(part, reference_namespace, cells=cells(), assignment="lab06")
    assert score == pytest.approx(LAB06.points[part])
    # The score is published as the cell's value (sys.displayhook): nbgrader's partial credit.
    assert capsys.readouterr().out.strip().splitlines()[-1] == repr(score)


@pytest.mark.parametrize("assignment_id, missing", [("lab06", "Nie zdefiniowano"), ("lab06_en", "is not defined")])
def test_an_empty_notebook_earns_nothing_and_says_what_is_missing(capsys, monkeypatch, assignment_id, missing):
    """In the assignment's own language: lab06_en's kernel reads English verdicts."""
    monkeypatch.delenv("LABKIT_LANG", raising=False)
    assert grade_part("data", {"__name__": "__main__"}, cells=[], assignment=assignment_id) == 0
    out = capsys.readouterr().out
    assert "make_rings" in out and missing in out and "Traceback" not in out


def test_an_unknown_part_is_an_error_naming_the_parts():
    with pytest.raises(ValueError, match="lab06 has no part 'optimizer'.*data, loader"):
        grade_part("optimizer", {"__name__": "__main__"}, cells=[], assignment="lab06")


def _interrupting(real, at: int):
    """A KernelSubmission._request that raises KeyboardInterrupt at the ``at``-th request,
    in the trusted checks' own code, as nbgrader's cell timeout does."""
    count = 0

    def request(sub, message, what, timeout):
        nonlocal count
        count += 1
        if count == at:
            raise KeyboardInterrupt
        return real(sub, message, what, timeout)
    return request


@pytest.mark.parametrize("at", [1, 5])
def test_an_interrupted_part_publishes_zero_not_the_finished_checks_mean(reference_namespace, capsys,
                                                                        monkeypatch, at):
    """Regression: an interrupt used to end pytest early, and the part's score was the mean of
    the checks that had finished (all passing), i.e. full credit for an unfinished grading."""
    from labkit.grading import inkernel
    monkeypatch.setattr(inkernel.KernelSubmission, "_request", _interrupting(inkernel.KernelSubmission._request, at))
    with pytest.raises(KeyboardInterrupt):
        grade_part("training", reference_namespace, cells=cells(), assignment="lab06")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == repr(0.0)
    assert any("przerwano" in line for line in lines)


def test_an_interrupt_inside_student_code_stops_in_kernel_grading(reference_namespace, capsys):
    """nbgrader's interrupt lands in student code most of the time; the worker would report it
    as the student's exception, so one check would fail and the rest would run on."""
    namespace = dict(reference_namespace)

    def train(*args, **kwargs):
        raise KeyboardInterrupt

    namespace["train"] = train
    with pytest.raises(KeyboardInterrupt):
        grade_part("training", namespace, cells=cells(), assignment="lab06")
    assert capsys.readouterr().out.strip().splitlines()[-1] == repr(0.0)
