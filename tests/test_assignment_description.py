"""The assignment's description is complete and strict (labkit/core/assignment.py): its own CPU
budgets over the engine's defaults, a reference anywhere it says, and every misspelt table or
key an error that names it."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labkit.core.assignment import AssignmentError, load
from labkit.core.settings import Limits
from minimal import describe, minimal_course



@pytest.fixture
def course(tmp_path) -> Path:
    return minimal_course(tmp_path)


def test_an_assignment_sets_its_own_cpu_budgets_over_the_engines(course, monkeypatch):
    monkeypatch.delenv("LABKIT_LIMIT_CELL_SECONDS", raising=False)
    describe(course, "\n[limits]\ncell_seconds = 240\nnotebook_seconds = 900\n")
    limits = load("mini", course).limit_settings()
    assert (limits.cell_seconds, limits.notebook_seconds) == (240.0, 900.0)
    assert limits.call_seconds == Limits().call_seconds                  # the engine's default stays
    monkeypatch.setenv("LABKIT_LIMIT_CELL_SECONDS", "30")               # the host's explicit override wins
    assert load("mini", course).limit_settings().cell_seconds == 30.0


@pytest.mark.parametrize("text, named", [
    ("\n[limits]\ncell_secnds = 10\n", "cell_secnds"),
    ("\n[limits]\nmemory_bytes = 10\n", "memory_bytes"),                 # the host's, not the assignment's
    ("\n[limits]\ncell_seconds = -1\n", "cell_seconds"),
    ("\n[parms.tol]\nx = 1\n", "parms"),
    ("\n[terms]\ndue = 2026-01-01T00:00:00+01:00\n", "terms"),
])
def test_a_misspelt_table_or_key_is_an_error_that_names_it(course, text, named):
    describe(course, text)
    with pytest.raises(AssignmentError, match=named):
        load("mini", course)


def test_a_reference_outside_reference_id_is_what_the_checks_import(course, tmp_path):
    import sys
    solutions = tmp_path / "elsewhere" / "solutions"
    solutions.mkdir(parents=True)
    (solutions / "__init__.py").write_text("ANSWER = 42\n", encoding="utf-8")
    toml = course / "grader_tests" / "mini" / "assignment.toml"
    text = toml.read_text(encoding="utf-8").replace("[assignment]\n", '[assignment]\nreference = "../../elsewhere/solutions"\n', 1)
    toml.write_text(text, encoding="utf-8")
    assignment = load("mini", course)
    assert assignment.reference == solutions.resolve()
    saved = {name: sys.modules.get(name) for name in ("reference", "reference.mini")}
    try:   # a grader child's sys.modules is its own; this test's must come back as it was
        assignment.install_reference()
        import reference.mini   # noqa: PLC0415  (how a check imports it)
        assert reference.mini.ANSWER == 42
    finally:
        if saved["reference"] is not None and saved["reference.mini"] is None:
            vars(saved["reference"]).pop("mini", None)
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def test_a_reference_that_is_no_package_is_refused_at_load(course, tmp_path):
    (tmp_path / "loose").mkdir()
    toml = course / "grader_tests" / "mini" / "assignment.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("[assignment]\n", '[assignment]\nreference = "../../loose"\n', 1),
                    encoding="utf-8")
    with pytest.raises(AssignmentError, match="not a package"):
        load("mini", course)


def test_checks_outside_a_package_are_an_error_that_says_what_to_create(course):
    (course / "grader_tests" / "mini" / "__init__.py").unlink()
    with pytest.raises(AssignmentError, match=r"no __init__\.py"):
        load("mini", course)


def test_two_assignments_helpers_of_one_name_stay_apart(course, monkeypatch):
    """Each assignment's checks import their helpers relative to their own package, so lab A's
    grader.py never stands in for lab B's in a process that has loaded both."""
    import importlib
    import sys
    shutil.copytree(course / "source" / "mini", course / "source" / "mini2")
    (course / "source" / "mini2" / "mini.ipynb").rename(course / "source" / "mini2" / "mini2.ipynb")
    shutil.copytree(course / "grader_tests" / "mini", course / "grader_tests" / "mini2")
    for assignment_id in ("mini", "mini2"):
        (course / "grader_tests" / assignment_id / "grader.py").write_text(f"OWNER = {assignment_id!r}\n")
    first, second = load("mini", course), load("mini2", course)
    assert (first.checks_package, second.checks_package) == ("grader_tests.mini", "grader_tests.mini2")
    assert first.import_paths() == second.import_paths() == [str(course)]
    monkeypatch.syspath_prepend(str(course))
    for name in [m for m in sys.modules if m == "grader_tests" or m.startswith("grader_tests.")]:
        monkeypatch.delitem(sys.modules, name)
    owners = [importlib.import_module(f"{a.checks_package}.grader").OWNER for a in (first, second)]
    assert owners == ["mini", "mini2"]
