"""lab06's helpers inside the worker: grader-owned objects and stand-ins for the contract.

This file is not imported by the grader: the engine sends its text to each worker, which
runs it as a module before any student code (labkit/worker/server.py, ``load``). Every ``op_*``
takes the worker's context first (namespace, cell compiler helpers). ``TAMPER_WATCH`` and
``warm_up`` are read once, at load. What runs here runs next to student code, so the
grader treats every answer as untrusted data.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

# Library functions lab06's contract leans on. If student code rebinds one of them the
# report flags the submission for a TA (verdicts never depend on them: they are computed
# in the grader's own process).
TAMPER_WATCH = (
    "numpy.linspace", "numpy.random.default_rng", "numpy.random.normal", "numpy.allclose",
    "numpy.mean", "numpy.cos", "numpy.sin", "numpy.zeros", "numpy.ones", "numpy.concatenate",
    "torch.manual_seed", "torch.tensor", "torch.allclose", "torch.no_grad", "torch.sigmoid",
    "torch.Tensor.backward", "torch.Tensor.item", "torch.Tensor.__gt__",
    "torch.nn.Module.__call__", "torch.nn.Module.parameters", "torch.nn.Module.train",
    "torch.nn.Module.eval", "torch.nn.Linear.forward", "torch.nn.BCELoss.forward",
    "torch.nn.functional.binary_cross_entropy", "torch.nn.functional.linear",
    "torch.optim.Adam.step", "torch.optim.Optimizer.zero_grad",
    "torch.utils.data.DataLoader.__iter__",
    "sklearn.metrics.accuracy_score", "sklearn.metrics.confusion_matrix",
    "random.seed", "time.perf_counter", "time.process_time",
)

# The same names as the reference's ACTIVATIONS (tests/test_assignments.py ties them).
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}


def warm_up() -> None:
    """Touch what torch patches lazily (the first optimizer rebinds torch.manual_seed and
    Optimizer.step), so the tamper baseline sees the library as student code will."""
    import sklearn.metrics  # noqa: F401
    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
    optimizer = torch.optim.Adam(model.parameters())
    for xb, yb in DataLoader(TensorDataset(torch.zeros(2, 2), torch.zeros(2)), batch_size=2, shuffle=True):
        optimizer.zero_grad()
        nn.BCELoss()(model(xb), yb.reshape(-1, 1)).backward()
        optimizer.step()


# -- grader-owned objects ---------------------------------------------------------------
def op_bce_loss(ctx):
    return nn.BCELoss()


def op_loader(ctx, X, y, batch_size: int, shuffle: bool = False):
    dataset = TensorDataset(torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def op_mlp(ctx, sizes, activation: str = "relu"):
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    layers[-1] = nn.Sigmoid()
    return nn.Sequential(*layers)


def op_mlp_dropout(ctx, sizes, p: float):
    """Like op_mlp with Dropout before the output layer: its outputs reveal train vs eval mode."""
    net = op_mlp(ctx, sizes, "relu")
    layers = list(net)
    layers.insert(len(layers) - 2, nn.Dropout(p))
    return nn.Sequential(*layers)


def op_adam(ctx, model, lr: float):
    return torch.optim.Adam(model.parameters(), lr=lr)


# -- stand-ins: run the student's experiment code with stand-in components --------------------
# They let the experiments part be graded on its own wiring even when another part is broken.
# They contain no solution logic: noise instead of rings, a one-layer model, a no-op train.


def _number(value):
    """numpy scalars and 0-d tensors as Python numbers, inside tuples and lists too: the log
    records the arguments a student passed on, whatever numeric type they carry."""
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return type(value)(_number(v) for v in value)
    return value


def _fakes(log: list):
    import inspect
    import itertools
    counter = itertools.count()

    def record(name, func, *args, **kwargs):
        bound = inspect.signature(func).bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = {k: _number(v) for k, v in bound.arguments.items()}
        log.append([name, {k: v for k, v in arguments.items()
                           if isinstance(v, (int, float, str, tuple, list, type(None)))}])

    def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
        record("make_rings", make_rings, n, r1, r2, sd, seed)
        X = np.random.default_rng(0).normal(size=(int(n), 2))
        return X, (np.arange(int(n)) >= int(n) // 2).astype(np.float64)

    def make_loader(X, y, batch_size=32, shuffle=True):
        record("make_loader", make_loader, None, None, batch_size, shuffle)
        dataset = TensorDataset(torch.tensor(np.asarray(X), dtype=torch.float32),
                                torch.tensor(np.asarray(y), dtype=torch.float32))
        return DataLoader(dataset, batch_size=int(batch_size), shuffle=False)

    class Klasyfikator(nn.Module):
        def __init__(self, hidden=(4, 2), activation="relu"):
            super().__init__()
            record("Klasyfikator", lambda hidden=(4, 2), activation="relu": None, hidden, activation)
            self.linear = nn.Linear(2, 1)

        def forward(self, x):
            return torch.sigmoid(self.linear(x))

    def make_optimizer(model, lr=0.01):
        record("make_optimizer", make_optimizer, None, lr)
        return torch.optim.SGD(model.parameters(), lr=lr)

    def train(model, loader, loss_fn, optimizer, n_epochs=4):
        record("train", train, None, None, None, None, n_epochs)
        return [0.5 - 0.01 * k for k in range(int(n_epochs))]

    def predict(model, X):
        record("predict", predict, None, None)
        return np.zeros(len(X), dtype=np.int64)

    def evaluate(model, X, y):
        accuracy = 0.5 + 1e-4 * next(counter)
        log.append(["evaluate", {"n": int(len(y)), "accuracy": accuracy}])
        return accuracy, np.array([[1, 0], [0, 1]])

    def dataset_loss(model, X, y, loss_fn):
        record("dataset_loss", dataset_loss, None, None, None, None)
        return 0.5

    return {"make_rings": make_rings, "make_loader": make_loader, "Klasyfikator": Klasyfikator,
            "make_optimizer": make_optimizer, "train": train, "predict": predict,
            "evaluate": evaluate, "dataset_loss": dataset_loss}


def _with_fakes(namespace: dict, body):
    """Run body(log, fakes) with the contract's components replaced by fakes; restore them after."""
    import torch as _torch
    log: list = []
    saved = dict(namespace)
    real_seed = _torch.manual_seed

    def manual_seed(seed):
        log.append(["torch.manual_seed", {"seed": int(seed)}])
        return real_seed(seed)

    fakes = _fakes(log)
    namespace.update(fakes)
    _torch.manual_seed = manual_seed
    try:
        value = body(log, fakes)
    finally:
        _torch.manual_seed = real_seed
        namespace.clear()
        namespace.update(saved)
    return value, log


def op_spy_run_experiment(ctx, config, seed):
    """Call the student's run_experiment with fakes; return its result and the calls it made."""
    run = ctx.namespace["run_experiment"]
    value, log = _with_fakes(ctx.namespace, lambda log, fakes: run(config, seed=seed))
    return {"value": value, "calls": log}


def op_fake_exec(ctx, cells):
    """Rebuild RESULTS with fakes, recording every run_experiment call and what it returned.

    ``cells`` are ``[index, source, builds]``, the notebook's cells in order up to the last one
    that uses RESULTS (the grader chose them). They are replayed in the student's namespace,
    so the rebuild sees what the notebook defined before those cells (helpers, constants,
    imports, a grid that a generator already consumed), not the namespace the notebook ended
    with. The contract's components stay fakes even where a replayed cell defines them, and
    run_experiment is whichever the student defined last, wrapped to record its calls.
    Errors are skipped, since a stand-in may upset a demo cell and the live namespace still
    holds what that cell defined, unless a cell that builds RESULTS failed and no rows exist:
    then that error is the answer.
    """
    import ast

    import matplotlib.pyplot as plt

    namespace = ctx.namespace

    def body(log, fakes):
        returned = []
        current = {"wrapper": None}

        def wrap(real):
            def run_experiment(config, seed=0):
                value = real(config, seed=seed)
                returned.append({"config": dict(config), "seed": seed,
                                 "test_accuracy": value.get("test_accuracy") if isinstance(value, dict) else None})
                return value
            return run_experiment

        def install():
            """Fakes back in place and the latest run_experiment wrapped, after every statement."""
            namespace.update(fakes)
            latest = namespace.get("run_experiment")
            if callable(latest) and latest is not current["wrapper"]:
                current["wrapper"] = namespace["run_experiment"] = wrap(latest)

        namespace.pop("RESULTS", None)   # only the replay may build it
        install()
        failure = None
        for index, source, builds in cells:
            filename = ctx.cell_filename(index)
            try:
                tree = ast.parse(ctx.strip_magics(source), filename=filename)
                for statement in tree.body:   # one at a time: a def of a contract name is undone at once
                    exec(compile(ast.Module([statement], type_ignores=[]), filename, "exec"), namespace)
                    install()
            except (Exception, SystemExit) as exc:   # not KeyboardInterrupt: an in-kernel time limit
                install()
                if builds and failure is None:
                    failure = exc
        results = namespace.get("RESULTS")
        if failure is not None and (results is None or isinstance(results, (list, tuple)) and not results):
            raise failure
        return {"results": results, "returned": returned}

    from matplotlib.figure import Figure

    # Demo plots draw nothing RESULTS depends on: no PNGs and no layout passes in a rebuild
    # (tight_layout measured every label's text, ~0.9 CPU s of the lab's two demo figures).
    saved = plt.show, plt.tight_layout, Figure.tight_layout
    plt.show = lambda *args, **kwargs: plt.close("all")
    plt.tight_layout = lambda *args, **kwargs: None
    Figure.tight_layout = lambda self, *args, **kwargs: None
    try:
        value, _ = _with_fakes(namespace, body)
    finally:
        plt.show, plt.tight_layout, Figure.tight_layout = saved
        plt.close("all")
    return value
