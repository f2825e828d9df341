"""Numbers across dtypes: tolerances that follow the dtype, messages that show the difference,
and the stand-in rebuild of RESULTS that sees what the notebook defined before those cells.

Fast unit tests (no worker, no sandbox); the end-to-end proof is the corpus
(tests/corpus.py: correct_float32_*, correct_numpy_sweep).
"""
from __future__ import annotations

import ast
import sys

import numpy as np
import pytest
import torch

from labkit.core import assignment
from labkit.grading.checks import (
    CheckFailed, TensorData, expect_close, float_eps, number_eps, number_pair, plain,
)
from labkit.core.settings import REPO_ROOT
from labkit.worker.server import Worker

LAB06 = assignment.load("lab06", REPO_ROOT)
TOL = LAB06.params.tol

# lab06's checks read their assignment when imported, as in a grader (labkit/grading/pytest_plugin.py
# activates it); activated only for the import, so no other test grades lab06 by accident.
sys.path[:0] = [p for p in LAB06.import_paths() if p not in sys.path]
_before = assignment.active()
assignment.activate(LAB06)
try:
    from grader_tests.lab06.test_data import radius_tolerance  # noqa: E402
    from grader_tests.lab06.test_experiments import best_as_python, same_accuracy, uses_results  # noqa: E402
finally:
    assignment.activate(_before)

EPS32 = float(np.finfo(np.float32).eps)


# -- tolerances follow the dtype --------------------------------------------------------------

@pytest.mark.parametrize("dtype, eps", [
    (np.float64, EPS32), (np.float32, EPS32), (np.float16, float(np.finfo(np.float16).eps)),
    ("float32", EPS32), ("bfloat16", 2.0 ** -7), (None, EPS32), (np.int64, 0.0), ("bool", 0.0),
])
def test_float_eps_is_the_dtypes_but_never_finer_than_float32(dtype, eps):
    assert float_eps(dtype) == eps


def test_number_eps_reads_the_dtype_a_number_came_in():
    assert number_eps(0.5) == EPS32 and number_eps(3) == 0.0 and number_eps(np.int64(3)) == 0.0
    assert number_eps(np.float16(0.5)) == float(np.finfo(np.float16).eps)
    assert number_eps(TensorData(np.array(0.5, np.float32), "float32")) == EPS32
    assert number_eps([0.5, np.float16(0.5), 1]) == float(np.finfo(np.float16).eps)


def _rings_float32(n: int, r1: float, r2: float) -> np.ndarray:
    """sd = 0 rings the way torch computes them: float32 angles, radii and products."""
    t = torch.cat([torch.linspace(0, 2 * torch.pi, n // 2 + 1)[:-1],
                   torch.linspace(0, 2 * torch.pi, n - n // 2 + 1)[:-1]])
    r = torch.cat([torch.full((n // 2,), r1), torch.full((n - n // 2,), r2)])
    return torch.stack([r * torch.cos(t), r * torch.sin(t)], dim=1).numpy()


@pytest.mark.parametrize("as_float64", [False, True], ids=["float32 X", "float32 points in float64 X"])
def test_sd0_radius_tolerance_admits_float32_rings(as_float64):
    rng = np.random.default_rng(1)
    for _ in range(200):
        n, r1 = int(rng.integers(2, 302)), round(float(rng.uniform(0.5, 3)), 3)
        r2 = round(r1 + float(rng.uniform(0.5, 3)), 3)
        X = _rings_float32(n, r1, r2)
        X = X.astype(np.float64) if as_float64 else X
        radius = np.hypot(X[:, 0].astype(np.float64), X[:, 1].astype(np.float64))
        expected = np.where(np.arange(n) < n // 2, r1, r2)
        assert np.all(np.abs(radius - expected) <= radius_tolerance(X.dtype, expected))


def test_sd0_radius_tolerance_still_catches_noise_that_ignores_sd():
    """`sd = sd or 0.2` (sd=0 falls back to noise) and a radius off by a rounding of r."""
    expected = np.full(100, 2.188)
    noisy = expected + np.random.default_rng(0).normal(0, 0.2, 100)
    assert np.any(np.abs(noisy - expected) > radius_tolerance(np.dtype(np.float64), expected))
    assert np.all(np.abs(2.19 - expected) > radius_tolerance(np.dtype(np.float32), expected))


# -- messages show the difference they complain about ---------------------------------------

@pytest.mark.parametrize("a, b", [(2.188, 2.1880002), (0.5, 0.5 + 1e-12), (0.06, 0.0601), (1e-9, 2e-9)])
def test_number_pair_tells_the_numbers_apart(a, b):
    x, y = number_pair(a, b)
    assert x != y and float(x) == pytest.approx(a, rel=1e-12) and float(y) == pytest.approx(b, rel=1e-12)


def test_expect_close_message_shows_digits_that_differ():
    with pytest.raises(CheckFailed) as info:
        expect_close(np.array(0.5 + 3e-10), np.array(0.5), "acc", atol=1e-12)
    message = str(info.value)
    assert "0.5000000003" in message and "0.5," in message


def test_expect_close_widens_to_the_dtype_allowance_only():
    acc = float(np.float32(0.7175))          # a float32 mean, handed over as a Python float
    expect_close(np.array(acc), np.array(0.7175), "acc", atol=TOL.accuracy, eps=EPS32)
    with pytest.raises(CheckFailed):          # one sample of 400 off is still wrong
        expect_close(np.array(0.7175 + 1 / 400), np.array(0.7175), "acc", atol=TOL.accuracy, eps=EPS32)


# -- numbers in containers: plain(), BEST_CONFIG, accuracies ---------------------------------

def test_plain_turns_numpy_and_torch_numbers_into_python_ones():
    value = {"hidden": (np.int64(8), np.int64(8)), "lr": np.float64(0.01), "n": np.int64(400),
             "h": np.array([4, 2]), "acc": TensorData(np.array(0.5, np.float32), "float32"),
             np.str_("k"): [np.float32(0.25), np.bool_(True)]}
    out = plain(value)
    assert out == {"hidden": (8, 8), "lr": 0.01, "n": 400, "h": [4, 2], "acc": 0.5, "k": [0.25, True]}
    assert type(out["n"]) is int and type(out["hidden"][0]) is int and type(out["k"][1]) is bool


def test_best_config_from_numpy_ranges_is_a_python_config():
    raw = {"n": np.int64(5000), "sd": np.float32(0.2), "hidden": (np.int64(32),), "activation": "tanh",
           "lr": np.logspace(-3, -1, 5)[3], "n_epochs": np.arange(1, 9)[3], "batch_size": 32}
    best = best_as_python(raw)
    assert best["sd"] == 0.2 and best["hidden"] == (32,) and best["n_epochs"] == 4
    assert all(type(best[k]) is int for k in ("n", "n_epochs", "batch_size")) and type(best["lr"]) is float
    assert best_as_python({**raw, "sd": 0.21})["sd"] == 0.21


def test_same_accuracy_allows_the_coarser_dtype_and_nothing_more():
    tol = TOL.rerun_accuracy
    assert same_accuracy(np.float32(0.7175), 0.7175, tol)
    assert same_accuracy(TensorData(np.array(0.7175, np.float32), "float32"), 0.7175, tol)
    assert not same_accuracy(0.7175, 0.7180, tol)
    assert not same_accuracy(0.5, None, tol)


# -- which cells build RESULTS ---------------------------------------------------------------

@pytest.mark.parametrize("source, mentions, builds", [
    ("RESULTS = []", True, True),
    ("RESULTS.append(row)", True, True),
    ("RESULTS[0] = row", True, True),
    ("RESULTS += rows", True, True),
    ("del RESULTS", True, True),
    ("def f():\n    global RESULTS\n    RESULTS = []", True, True),
    ("print(len(RESULTS))", True, False),
    ("import pandas as pd\npd.DataFrame(RESULTS)", True, False),
    ("BEST = max(RESULTS, key=lambda r: r['test_accuracy'])", True, False),
    ("x = 'RESULTS'", False, False),
])
def test_uses_results_tells_builders_from_readers(source, mentions, builds):
    assert uses_results(ast.parse(source)) == (mentions, builds)


# -- the stand-in rebuild sees what the notebook defined before the RESULTS cells --------------

CONTRACT_CELL = '''
def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
    raise AssertionError("the rebuild must use the stand-in make_rings")

def run_experiment(config, seed=0):
    X, y = make_rings(config["n"], sd=config["sd"], seed=seed)
    acc, _ = evaluate(None, X, y)
    return {"losses": [], "test_accuracy": acc}
'''
GRID_CELL = '''
import numpy as _np

def _wiersz(czynnik, config):
    return {"factor": czynnik, "config": config, "seed": 0,
            "test_accuracy": run_experiment(config, seed=0)["test_accuracy"]}

EXPERIMENT_GRID = (("n", {"n": n, "sd": 0.2}) for n in _np.arange(100, 301, 100))
'''
RESULTS_CELL = '''
RESULTS = [_wiersz(czynnik, config) for czynnik, config in EXPERIMENT_GRID]
del _np, _wiersz   # porządki
'''


def _live_namespace() -> dict:
    """The namespace as the notebook left it: the grid generator consumed, the helpers deleted."""
    namespace = {"__name__": "__main__", "np": np, "RESULTS": ["from the notebook"], "EXPERIMENT_GRID": iter(())}
    exec(CONTRACT_CELL, namespace)
    return namespace


class LiveWorker:
    """A worker serving the notebook's live namespace, with lab06's helpers loaded as a real
    worker loads them (their text, sent by the client); ops run with the worker's OpContext."""

    def __init__(self, namespace: dict):
        self.worker = Worker(1, 64 * 1024, 0, namespace=namespace)
        self.worker.load(LAB06.id, LAB06.helper_source())
        self.namespace = namespace

    def op(self, name: str, *args):
        return self.worker.op(name, list(args))

    def fake_exec(self, cells):
        return self.op("fake_exec", cells)


@pytest.fixture
def live() -> LiveWorker:
    return LiveWorker(_live_namespace())


def test_rebuild_replays_earlier_cells_with_stand_ins(live):
    out = live.fake_exec([[1, CONTRACT_CELL, False], [2, GRID_CELL, False], [3, RESULTS_CELL, True]])
    rows, returned = out["results"], out["returned"]
    assert [plain(r["config"]["n"]) for r in rows] == [100, 200, 300]
    assert [r["test_accuracy"] for r in rows] == [r["test_accuracy"] for r in returned]
    assert live.namespace["RESULTS"] == ["from the notebook"] and "_np" not in live.namespace   # restored


def test_rebuild_skips_a_failing_reader_but_not_a_failing_builder(live):
    reader = "import pandas_that_is_not_installed\nprint(RESULTS)"
    out = live.fake_exec([[1, CONTRACT_CELL, False], [2, GRID_CELL, False], [3, RESULTS_CELL, True],
                          [4, reader, False]])
    assert len(out["results"]) == 3
    with pytest.raises(NameError):   # no grid: no rows, and the builder's own error is the answer
        live.fake_exec([[1, CONTRACT_CELL, False], [3, RESULTS_CELL, True]])


def test_rebuild_keeps_rows_built_before_a_later_error_in_the_same_cell(live):
    table = RESULTS_CELL + "import pandas_that_is_not_installed\n"
    out = live.fake_exec([[1, CONTRACT_CELL, False], [2, GRID_CELL, False], [3, table, True]])
    assert len(out["results"]) == 3


def test_rebuild_records_numpy_arguments_of_the_stand_ins(live):
    out = live.op("spy_run_experiment", {"n": np.int64(321), "sd": np.float64(0.17)}, np.int64(5))
    rings = [args for name, args in out["calls"] if name == "make_rings"]
    assert rings and rings[0]["n"] == 321 and rings[0]["seed"] == 5
