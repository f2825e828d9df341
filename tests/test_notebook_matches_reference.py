"""The source notebooks' solutions behave exactly like reference/lab06/, and their nbgrader
metadata is sound.

Every test runs on lab06 and on its English twin lab06_en (same contract, same checks, same
reference). The imports cell and every solution code cell of source/<id>/<id>.ipynb are executed
in-process into a fresh namespace, except the cell that runs the RESULTS sweep
(``experiments_solution_results``); that cell is exercised separately with a fake
``run_experiment`` so the test stays fast. Every function is then compared with its
reference counterpart under the same seeds: equal arrays, equal parameters, equal losses.
"""
from __future__ import annotations

import contextlib
import copy
import io

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

import reference.lab06 as R
from labkit.core.assignment import Assignment, load
from labkit.core.settings import REPO_ROOT

ASSIGNMENTS = ("lab06", "lab06_en")
LAB06 = load("lab06", REPO_ROOT)
IMPORTS_CELL = "imports"
SWEEP_CELL = "experiments_solution_results"
CONCLUSIONS_CELL = "experiments_conclusions"
HIDDEN_COMMENT = {
    "pl": ("# Ukryte testy tej części uruchamia sprawdzarka kursu (grader_tests/) poza procesem studenta.\n"
           "# Ta linia działa tylko w zwykłym `nbgrader autograde` bez konfiguracji kursu (tryb porównawczy,\n"
           "# niebezpieczny: testy w jądrze studenta); preprocesor kursu nie wykonuje komórek testów.\n"),
    "en": ("# The hidden tests of this part are run by the course grader (grader_tests/) outside the student's "
           "process.\n"
           "# This line only works under plain `nbgrader autograde` without the course configuration (comparison "
           "mode,\n"
           "# unsafe: the tests run in the student's kernel); the course preprocessor does not execute test cells.\n"),
}


def hidden_block(part: str, lab: Assignment) -> str:
    """The hidden section that opens each tests cell: inert for the kit, the in-kernel
    checks of this assignment under plain nbgrader (labkit/grading/inkernel.py)."""
    return ("### BEGIN HIDDEN TESTS\n" + HIDDEN_COMMENT[lab.language]
            + f"from labkit.grading.inkernel import grade_part; _labkit_score = grade_part({part!r}, globals(), "
              f"assignment={lab.id!r})\n"
            "### END HIDDEN TESTS\n")


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _gid(cell) -> str:
    return _meta(cell).get("grade_id", "")


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def lab(request) -> Assignment:
    return load(request.param, REPO_ROOT)


@pytest.fixture(scope="module")
def nb(lab):
    return nbformat.read(lab.notebook, as_version=4)


def _solution_code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and _meta(c).get("solution")]


@pytest.fixture(scope="module")
def ns(nb):
    """Namespace after the imports cell and all solution code cells except the sweep."""
    namespace: dict = {"__name__": "source_notebook"}
    executed = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        gid = _gid(cell)
        if gid == IMPORTS_CELL or (_meta(cell).get("solution") and gid != SWEEP_CELL):
            exec(compile(cell.source, f"<{gid}>", "exec"), namespace)
            executed.append(gid)
    assert executed[0] == IMPORTS_CELL
    assert SWEEP_CELL not in executed
    return namespace


# ------------------------------------------------------------------------------ data
@pytest.mark.parametrize("n, r1, r2, sd, seed", [
    (5000, 1.0, 2.0, 0.2, 0),
    (101, 1.0, 2.0, 0.2, 3),
    (7, 0.5, 3.0, 0.0, 11),
    (1, 1.0, 2.0, 0.2, 5),
    (2, 1.0, 2.0, 0.3, 6),
    (2001, 1.5, 2.5, 0.5, 1234),
])
def test_make_rings_equals_reference(ns, n, r1, r2, sd, seed):
    X, y = ns["make_rings"](n, r1=r1, r2=r2, sd=sd, seed=seed)
    Xr, yr = R.make_rings(n, r1=r1, r2=r2, sd=sd, seed=seed)
    assert X.dtype == Xr.dtype and y.dtype == yr.dtype
    assert np.array_equal(X, Xr)
    assert np.array_equal(y, yr)


def test_make_rings_defaults_and_fresh_randomness(ns):
    X, y = ns["make_rings"](seed=42)
    Xr, yr = R.make_rings(seed=42)
    assert np.array_equal(X, Xr) and np.array_equal(y, yr)
    A, _ = ns["make_rings"](n=50)
    B, _ = ns["make_rings"](n=50)
    assert A.shape == (50, 2) and not np.array_equal(A, B)


# ---------------------------------------------------------------------------- loader
def _batches(loader):
    return [(xb.clone(), yb.clone()) for xb, yb in loader]


def _assert_same_batches(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert xa.dtype == xb.dtype == torch.float32 and ya.dtype == yb.dtype == torch.float32
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.parametrize("batch_size", [1, 7, 32, 64])
def test_make_loader_without_shuffle_equals_reference(ns, batch_size):
    X, y = R.make_rings(101, seed=1)
    _assert_same_batches(_batches(ns["make_loader"](X, y, batch_size=batch_size, shuffle=False)),
                         _batches(R.make_loader(X, y, batch_size=batch_size, shuffle=False)))


@pytest.mark.parametrize("k, batch_size", [(0, 32), (1, 16), (7, 50)])
def test_make_loader_with_shuffle_equals_reference(ns, k, batch_size):
    X, y = R.make_rings(300, seed=2)
    torch.manual_seed(k)
    mine = ns["make_loader"](X, y, batch_size=batch_size, shuffle=True)
    epochs_mine = [_batches(mine), _batches(mine)]
    torch.manual_seed(k)
    ref = R.make_loader(X, y, batch_size=batch_size, shuffle=True)
    epochs_ref = [_batches(ref), _batches(ref)]
    for a, b in zip(epochs_mine, epochs_ref):
        _assert_same_batches(a, b)


def test_make_loader_defaults(ns):
    X, y = R.make_rings(100, seed=3)
    loader = ns["make_loader"](X, y)
    assert loader.batch_size == 32
    assert isinstance(loader.sampler, torch.utils.data.RandomSampler)


# ----------------------------------------------------------------------------- model
@pytest.mark.parametrize("hidden", [(4, 2), (), (8,), (16, 16), (3, 5, 2)])
@pytest.mark.parametrize("activation", tuple(R.ACTIVATIONS))
def test_klasyfikator_equals_reference(ns, hidden, activation):
    torch.manual_seed(17)
    mine = ns["Klasyfikator"](hidden, activation)
    torch.manual_seed(17)
    ref = R.Klasyfikator(hidden, activation)
    pm, pr = list(mine.parameters()), list(ref.parameters())
    assert [p.shape for p in pm] == [p.shape for p in pr]
    assert all(torch.equal(a, b) for a, b in zip(pm, pr))
    x = torch.randn(33, 2)
    out = mine(x)
    assert out.shape == (33, 1) and out.dtype == torch.float32
    assert torch.equal(out, ref(x))


def test_klasyfikator_defaults(ns):
    torch.manual_seed(0)
    mine = ns["Klasyfikator"]()
    torch.manual_seed(0)
    ref = R.Klasyfikator()
    assert sum(p.numel() for p in mine.parameters()) == 25
    assert all(torch.equal(a, b) for a, b in zip(mine.parameters(), ref.parameters()))
    assert str(mine) == str(ref)


def test_klasyfikator_rejects_unknown_activation(ns):
    with pytest.raises(ValueError):
        ns["Klasyfikator"]((4,), "softsign")


# ------------------------------------------------------------------------------ loss
def _models():
    models = []
    for seed, hidden, act in [(0, (4, 2), "relu"), (1, (4, 2), "relu"), (5, (8, 8), "tanh"),
                              (3, (), "relu")]:
        torch.manual_seed(seed)
        models.append(R.Klasyfikator(hidden, act))
    constant = R.Klasyfikator((), "relu")          # output exactly 0.5 everywhere
    with torch.no_grad():
        for p in constant.parameters():
            p.zero_()
    models.append(constant)
    return models


@pytest.mark.parametrize("index", range(5))
def test_predict_evaluate_dataset_loss_equal_reference(ns, index):
    model = _models()[index]
    X, y = R.make_rings(500, sd=0.3, seed=index)
    Xt = torch.tensor(X, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32)

    model.train()
    p_mine = ns["predict"](model, Xt)
    assert not model.training
    p_ref = R.predict(model, Xt)
    assert isinstance(p_mine, np.ndarray) and p_mine.dtype == p_ref.dtype
    assert np.array_equal(p_mine, p_ref)

    for labels in (y, yt):
        acc, cm = ns["evaluate"](model, Xt, labels)
        acc_r, cm_r = R.evaluate(model, Xt, labels)
        assert type(acc) is float and acc == acc_r
        assert isinstance(cm, np.ndarray) and cm.shape == (2, 2) and np.array_equal(cm, cm_r)

    model.train()
    loss = ns["dataset_loss"](model, Xt, yt, nn.BCELoss())
    assert not model.training
    assert type(loss) is float and loss == R.dataset_loss(model, Xt, yt, nn.BCELoss())


# -------------------------------------------------------------------------- training
@pytest.mark.parametrize("lr", [0.01, 0.1, 0.001])
def test_make_optimizer_equals_reference(ns, lr):
    model = R.Klasyfikator()
    mine = ns["make_optimizer"](model, lr=lr)
    ref = R.make_optimizer(model, lr=lr)
    assert type(mine) is torch.optim.Adam
    assert mine.param_groups[0]["lr"] == lr
    assert [p for g in mine.param_groups for p in g["params"]] == list(model.parameters())
    assert {k: v for k, v in mine.defaults.items()} == {k: v for k, v in ref.defaults.items()}
    assert ns["make_optimizer"](model).param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize("seed, hidden, activation, batch_size, n_epochs", [
    (0, (4, 2), "relu", 32, 3),
    (1, (4, 2), "relu", 16, 2),
    (2, (8, 8), "tanh", 64, 2),
    (3, (), "relu", 50, 1),
])
def test_train_equals_reference(ns, capsys, seed, hidden, activation, batch_size, n_epochs):
    X, y = R.make_rings(600, seed=seed)
    torch.manual_seed(seed)
    model_mine = R.Klasyfikator(hidden, activation)
    model_ref = copy.deepcopy(model_mine)
    loader_mine = ns["make_loader"](X, y, batch_size=batch_size)
    loader_ref = R.make_loader(X, y, batch_size=batch_size)

    torch.manual_seed(100 + seed)
    hist_mine = ns["train"](model_mine, loader_mine, nn.BCELoss(),
                            ns["make_optimizer"](model_mine, lr=0.01), n_epochs=n_epochs)
    printed = capsys.readouterr().out
    torch.manual_seed(100 + seed)
    hist_ref = R.train(model_ref, loader_ref, nn.BCELoss(),
                       R.make_optimizer(model_ref, lr=0.01), n_epochs=n_epochs)
    capsys.readouterr()

    assert isinstance(hist_mine, list) and len(hist_mine) == n_epochs
    assert hist_mine == hist_ref
    assert model_mine.training
    assert all(torch.equal(a, b) for a, b in zip(model_mine.parameters(), model_ref.parameters()))
    assert len([line for line in printed.splitlines() if line.strip()]) == n_epochs


# ----------------------------------------------------------------------- experiments
@pytest.mark.parametrize("config, seed", [
    ({"n": 400, "sd": 0.2, "hidden": (4, 2), "activation": "relu", "lr": 0.01, "n_epochs": 2,
      "batch_size": 32}, 0),
    ({"n": 400, "sd": 0.3, "hidden": [8], "activation": "tanh", "lr": 0.05, "n_epochs": 2,
      "batch_size": 16}, 7),
])
def test_run_experiment_equals_reference(ns, config, seed):
    mine = _quiet(ns["run_experiment"], config, seed=seed)
    ref = _quiet(R.run_experiment, config, seed=seed)
    assert set(mine) == {"losses", "test_accuracy"}
    assert type(mine["test_accuracy"]) is float
    assert mine == ref


def test_configs_equal_reference(ns):
    assert ns["LAB_CONFIG"] == R.LAB_CONFIG
    assert ns["BEST_CONFIG"] == R.BEST_CONFIG
    assert ns["EXPERIMENT_GRID"] == R.experiment_grid()
    assert len(ns["EXPERIMENT_GRID"]) == 24


def test_results_cell_runs_the_grid_with_seed_zero(nb, ns):
    """The skipped sweep cell, run with a fake run_experiment: one row per grid config, seed 0."""
    (sweep,) = [c for c in nb.cells if _gid(c) == SWEEP_CELL]
    calls = []

    def fake_run_experiment(config, seed=0):
        calls.append((dict(config), seed))
        return {"losses": [0.5], "test_accuracy": 0.25 + len(calls) / 100}

    namespace = dict(ns)
    namespace["run_experiment"] = fake_run_experiment
    exec(compile(sweep.source, f"<{SWEEP_CELL}>", "exec"), namespace)
    grid = R.experiment_grid()
    assert calls == [(config, 0) for _, config in grid]
    assert namespace["RESULTS"] == [
        {"factor": factor, "config": config, "seed": 0, "test_accuracy": 0.25 + (i + 1) / 100}
        for i, (factor, config) in enumerate(grid)
    ]


# -------------------------------------------------------------------- nbgrader metadata
def test_one_tests_cell_per_part_with_the_assignments_points(nb, lab):
    # Parts and points are this metadata (labkit/core/assignment.py reads them); the twin grades
    # out of lab06's parts and points, in lab06's order.
    assert lab.part_ids == LAB06.part_ids and lab.points == LAB06.points
    for part in lab.part_ids:
        cells = [c for c in nb.cells if _gid(c) == f"{part}_tests"]
        assert len(cells) == 1, part
        (cell,) = cells
        meta = _meta(cell)
        assert cell.cell_type == "code"
        assert meta["grade"] is True and meta["solution"] is False and meta["locked"] is True
        assert meta["points"] == lab.points[part]
        assert cell.source.startswith(hidden_block(part, lab))
    autograder = [c for c in nb.cells
                  if c.cell_type == "code" and _meta(c).get("grade") and not _meta(c).get("solution")]
    assert [_gid(c) for c in autograder] == [p.cell for p in lab.parts]


def test_graded_and_solution_cells_belong_to_parts(nb, lab):
    for cell in nb.cells:
        meta = _meta(cell)
        if meta.get("grade") or meta.get("solution"):
            assert any(_gid(cell).startswith(part) for part in lab.part_ids), _gid(cell)


def test_conclusions_cell(nb, lab):
    assert [m.cell for m in lab.manual] == [CONCLUSIONS_CELL]
    cells = [c for c in nb.cells if _gid(c) == CONCLUSIONS_CELL]
    assert len(cells) == 1
    (cell,) = cells
    meta = _meta(cell)
    assert cell.cell_type == "markdown"
    assert meta["grade"] is True and meta["solution"] is True and meta["locked"] is False
    assert meta["points"] == lab.manual_points == LAB06.manual_points
    assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source


def test_total_points(nb, lab):
    total = sum(_meta(c).get("points", 0) for c in nb.cells if _meta(c).get("grade"))
    assert total == lab.max_points == sum(lab.points.values()) + lab.manual_points


def test_ids_unique_and_cells_well_formed(nb):
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids))
    gids = [_gid(c) for c in nb.cells if _meta(c)]
    assert all(gids) and len(gids) == len(set(gids))
    for cell in nb.cells:
        meta = _meta(cell)
        if not meta:
            continue
        assert meta["schema_version"] == 3 and meta["task"] is False
        if meta["solution"] and cell.cell_type == "code":
            assert meta == {"grade": False, "solution": True, "locked": False, "task": False,
                            "schema_version": 3, "grade_id": _gid(cell)}
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        if not meta["grade"] and not meta["solution"]:
            assert meta["locked"] is True
            assert "reference" not in cell.source


def test_imports_cell_uses_one_thread(nb):
    (cell,) = [c for c in nb.cells if _gid(c) == IMPORTS_CELL]
    assert "torch.set_num_threads(1)" in cell.source
