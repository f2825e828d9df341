"""labkit/core/assignment.py and labkit/core/settings.py: descriptions, inheritance, points from the
notebook, the checks' markers, and settings that refuse what they do not know."""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

import reference.lab06 as reference
from labkit.core.assignment import AssignmentError, Params, available, load, locate
from labkit.core.settings import REPO_ROOT, SettingsError, load_settings

MINIMAL = Path(__file__).parent / "minimal_course"


def test_the_course_describes_lab06_its_english_twin_and_nothing_else():
    assert available(REPO_ROOT) == ["lab06", "lab06_en"]


def test_lab06_parts_and_points_are_the_notebook_metadata():
    lab = load("lab06", REPO_ROOT)
    nb = json.loads(lab.notebook.read_text(encoding="utf-8"))
    graded = {c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"] for c in nb["cells"]
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    assert lab.points == {cell.removesuffix("_tests"): pts for cell, pts in graded.items() if cell.endswith("_tests")}
    assert [(m.cell, m.points) for m in lab.manual] == [("experiments_conclusions", 3.0)]
    assert lab.max_points == sum(graded.values())


def test_lab06_en_inherits_everything_but_its_language_and_notebook():
    lab, en = load("lab06", REPO_ROOT), load("lab06_en", REPO_ROOT)
    assert en.language == "en" and lab.language == "pl"
    assert en.notebook == REPO_ROOT / "source" / "lab06_en" / "lab06_en.ipynb"
    assert (en.checks, en.reference, en.worker_helpers, en.seed, en.params) == \
        (lab.checks, lab.reference, lab.worker_helpers, lab.seed, lab.params)
    assert en.parts == lab.parts and en.manual == lab.manual
    assert en.digest() != lab.digest()   # its own notebook and description are in its cache key


def test_unknown_assignment_names_the_ones_that_exist():
    with pytest.raises(AssignmentError, match="lab07.*lab06, lab06_en"):
        load("lab07", REPO_ROOT)


def _course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    shutil.copytree(MINIMAL, root)
    return root


def test_a_description_with_an_unknown_key_is_an_error(tmp_path):
    root = _course(tmp_path)
    path = root / "grader_tests" / "mini" / "assignment.toml"
    path.write_text(path.read_text().replace('checks = "."', 'checks = "."\nchecsk = "."'))
    with pytest.raises(AssignmentError, match="unknown keys.*checsk"):
        load("mini", root)


def test_a_base_chain_that_loops_is_an_error(tmp_path):
    root = _course(tmp_path)
    for a, b in (("x", "y"), ("y", "x")):
        (root / "grader_tests" / a).mkdir()
        (root / "grader_tests" / a / "assignment.toml").write_text(f'[assignment]\nbase = "{b}"\n')
        shutil.copytree(root / "source" / "mini", root / "source" / a)
        (root / "source" / a / "mini.ipynb").rename(root / "source" / a / f"{a}.ipynb")
    with pytest.raises(AssignmentError, match="loops"):
        load("x", root)


def test_an_autograder_cell_must_be_named_after_its_part(tmp_path):
    root = _course(tmp_path)
    path = root / "source" / "mini" / "mini.ipynb"
    path.write_text(path.read_text().replace('"mean_tests"', '"tests_of_mean"'))
    with pytest.raises(AssignmentError, match="must be named <part>_tests"):
        load("mini", root)


def test_locate_finds_the_course_root_from_inside_autograded(tmp_path, monkeypatch):
    root = _course(tmp_path)
    inside = root / "autograded" / "alice" / "mini"
    inside.mkdir(parents=True)
    monkeypatch.delenv("LABKIT_COURSE_ROOT", raising=False)
    assert locate("mini", inside) == root.resolve()


def test_params_are_read_only_with_attribute_access():
    params = load("lab06", REPO_ROOT).params
    assert params.tol.exact == 1e-9 and params.seeds.best_config == (101, 202, 303)
    with pytest.raises(AttributeError, match="no 'nope'"):
        params.tol.nope
    with pytest.raises(TypeError):
        params.tol._data["exact"] = 1.0   # a mappingproxy: nobody changes a threshold in flight
    assert isinstance(params, Params)


def _module_parts_and_weights(path: Path) -> tuple[str | None, dict[str, float]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    part, weights = None, {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets):
            part = node.value.args[0].value
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            weights[node.name] = 1.0
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and ast.unparse(deco.func) == "pytest.mark.weight":
                    weights[node.name] = float(deco.args[0].value)
    return part, weights


def test_every_lab06_check_module_states_a_part_of_the_notebook():
    lab = load("lab06", REPO_ROOT)
    found = {}
    for path in sorted(lab.checks.glob("test_*.py")):
        part, weights = _module_parts_and_weights(path)
        assert part in lab.part_ids, path
        found[part] = weights
    assert set(found) == set(lab.part_ids)
    # The weights that used to live in a name-keyed table now sit on the checks themselves.
    assert found["experiments"]["test_best_config_reaches_high_heldout_accuracy"] == 3.0
    assert found["training"]["test_train_lands_on_reference_parameters"] == 2.0


def test_worker_side_activations_are_the_references():
    source = load("lab06", REPO_ROOT).helper_source()
    tree = ast.parse(source)
    names = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                 and getattr(node.targets[0], "id", "") == "ACTIVATIONS")
    assert [k.value for k in names.keys] == list(reference.ACTIVATIONS)


@pytest.mark.parametrize("variable, value, words", [
    ("LABKIT_SANDBOX", "requried", "LABKIT_SANDBOX.*auto, required, off"),
    ("LABKIT_LANG", "de", "LABKIT_LANG.*pl, en"),
    ("LABKIT_ZYGOTE", "no", "LABKIT_ZYGOTE.*on, off"),
    ("LABKIT_LIMIT_CELL_SECONDS", "ninety", "LABKIT_LIMIT_CELL_SECONDS.*a number"),
    ("LABKIT_LIMIT_CELL_SECONDS", "-5", "positive"),
    ("LABKIT_LIMIT_CELL_SECONDS", "0", "expected a positive"),
    ("LABKIT_LIMIT_IMAGES_PER_CELL", "-1", "expected zero or a positive"),
    ("LABKIT_LIMIT_PROCESSES", "6.5", "whole number"),
    ("LABKIT_LIMIT_CELL_SECOND", "20", "not a limit.*LABKIT_LIMIT_CELL_SECONDS"),
])
def test_an_invalid_setting_is_an_error_naming_the_variable(monkeypatch, variable, value, words):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=words):
        load_settings()


def test_valid_settings_apply(monkeypatch):
    monkeypatch.setenv("LABKIT_SANDBOX", "required")
    monkeypatch.setenv("LABKIT_LANG", "en")
    monkeypatch.setenv("LABKIT_LIMIT_CELL_SECONDS", "20")
    monkeypatch.setenv("LABKIT_LIMIT_PROCESSES", "32")
    monkeypatch.setenv("LABKIT_LIMIT_IMAGES_PER_CELL", "0")
    settings = load_settings()
    assert (settings.sandbox, settings.language, settings.limits.cell_seconds, settings.limits.processes,
            settings.limits.images_per_cell) == ("required", "en", 20.0, 32, 0)


def test_language_is_the_assignments_unless_overridden(monkeypatch):
    from labkit.core import assignment
    from labkit.core import i18n
    monkeypatch.delenv("LABKIT_LANG", raising=False)
    try:
        assignment.activate(load("lab06_en", REPO_ROOT))
        assert i18n.tr("tak", "yes") == "yes"
        monkeypatch.setenv("LABKIT_LANG", "pl")
        assert i18n.tr("tak", "yes") == "tak"
    finally:
        assignment.activate(None)
