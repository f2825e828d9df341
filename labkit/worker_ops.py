"""Helpers the grader runs inside the worker, where the student's objects live.

They build grader-owned objects (a loss, an unshuffled loader, a small MLP, Adam) and
read or set state of student objects. They run next to student code, so their answers
are treated as untrusted data like any other reply.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}


def op_bce_loss():
    return nn.BCELoss()


def op_tensor(array, dtype: str = "float32"):
    return torch.tensor(np.asarray(array), dtype=getattr(torch, dtype))


def op_loader(X, y, batch_size: int, shuffle: bool = False):
    dataset = TensorDataset(torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def op_mlp(sizes, activation: str = "relu"):
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), _ACTIVATIONS[activation]()]
    layers[-1] = nn.Sigmoid()
    return nn.Sequential(*layers)


def op_adam(model, lr: float):
    return torch.optim.Adam(model.parameters(), lr=lr)


def op_get_params(model):
    return [p.detach().clone() for p in model.parameters()]


def op_set_params(model, arrays):
    params = list(model.parameters())
    if len(params) != len(arrays):
        raise ValueError(f"model has {len(params)} parameter tensors, grader sent {len(arrays)}")
    with torch.no_grad():
        for p, a in zip(params, arrays):
            value = torch.as_tensor(np.asarray(a), dtype=p.dtype)
            if tuple(p.shape) != tuple(value.shape):
                raise ValueError(f"shape {tuple(p.shape)} != {tuple(value.shape)}")
            p.copy_(value)
    return len(params)


def op_forward(model, X):
    """Probabilities in eval mode without gradients, as the contract's predict would use them."""
    model.eval()
    with torch.no_grad():
        return model(torch.as_tensor(np.asarray(X), dtype=torch.float32))


def op_forward_raw(model, X):
    """model(X) on a float32 tensor with no mode change (shape and dtype checks)."""
    return model(torch.as_tensor(np.asarray(X), dtype=torch.float32))


def op_iterate(loader, epochs: int = 1):
    out = []
    for _ in range(epochs):
        out.append([tuple(batch) if isinstance(batch, (list, tuple)) else (batch,) for batch in loader])
    return out


def op_describe(obj):
    """Types and small facts about an object the grader may not fetch whole."""
    info = {"type": type(obj).__name__, "module": type(obj).__module__,
            "mro": [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__][:12]}
    if isinstance(obj, nn.Module):
        info["training"] = bool(obj.training)
        info["param_shapes"] = [tuple(p.shape) for p in obj.parameters()]
        info["param_dtypes"] = [str(p.dtype).removeprefix("torch.") for p in obj.parameters()]
    if isinstance(obj, torch.optim.Optimizer):
        info["defaults"] = {k: v for k, v in obj.defaults.items() if isinstance(v, (int, float, bool))}
        info["group_sizes"] = [len(g["params"]) for g in obj.param_groups]
        info["lrs"] = [float(g["lr"]) for g in obj.param_groups]
    if isinstance(obj, DataLoader):
        info["batch_size"] = obj.batch_size
        info["dataset_type"] = type(obj.dataset).__name__
        info["dataset_len"] = len(obj.dataset)
        info["sampler"] = type(obj.sampler).__name__
    return info


def op_optimizer_covers(optimizer, model) -> bool:
    """Whether the optimizer's parameters are exactly the model's, by identity."""
    mine = [id(p) for g in optimizer.param_groups for p in g["params"]]
    return sorted(mine) == sorted(id(p) for p in model.parameters())


def op_count_params(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


# -- fakes: run the student's experiment code with stand-in components --------------------
# They let the experiments part be graded on its own wiring even when another part is broken.
# They contain no solution logic: noise instead of rings, a one-layer model, a no-op train.
NAMESPACE: dict = {}
CONTRACT = ("make_rings", "make_loader", "Klasyfikator", "predict", "evaluate", "dataset_loss",
            "make_optimizer", "train")


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


def _with_fakes(body):
    """Run body() with the contract's components replaced by fakes; restore them after."""
    import torch as _torch
    log: list = []
    saved = dict(NAMESPACE)
    real_seed = _torch.manual_seed

    def manual_seed(seed):
        log.append(["torch.manual_seed", {"seed": int(seed)}])
        return real_seed(seed)

    NAMESPACE.update(_fakes(log))
    _torch.manual_seed = manual_seed
    try:
        value = body(log)
    finally:
        _torch.manual_seed = real_seed
        NAMESPACE.clear()
        NAMESPACE.update(saved)
    return value, log


def op_spy_run_experiment(config, seed):
    """Call the student's run_experiment with fakes; return its result and the calls it made."""
    run = NAMESPACE["run_experiment"]
    value, log = _with_fakes(lambda log: run(config, seed=seed))
    return {"value": value, "calls": log}


def op_fake_exec(cells):
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

    from labkit.worker import CELL_FILENAME, _strip_magics

    def body(log):
        fakes = {name: NAMESPACE[name] for name in CONTRACT}
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
            NAMESPACE.update(fakes)
            latest = NAMESPACE.get("run_experiment")
            if callable(latest) and latest is not current["wrapper"]:
                current["wrapper"] = NAMESPACE["run_experiment"] = wrap(latest)

        NAMESPACE.pop("RESULTS", None)   # only the replay may build it
        install()
        failure = None
        for index, source, builds in cells:
            filename = CELL_FILENAME.format(index=index)
            try:
                tree = ast.parse(_strip_magics(source), filename=filename)
                for statement in tree.body:   # one at a time: a def of a contract name is undone at once
                    exec(compile(ast.Module([statement], type_ignores=[]), filename, "exec"), NAMESPACE)
                    install()
            except (Exception, SystemExit) as exc:   # not KeyboardInterrupt: an in-kernel time limit
                install()
                if builds and failure is None:
                    failure = exc
        results = NAMESPACE.get("RESULTS")
        if failure is not None and (results is None or isinstance(results, (list, tuple)) and not results):
            raise failure
        return {"results": results, "returned": returned}

    show = plt.show
    plt.show = lambda *args, **kwargs: plt.close("all")   # demo plots: no PNGs in a rebuild
    try:
        value, _ = _with_fakes(body)
    finally:
        plt.show = show
        plt.close("all")
    return value


def op_mlp_dropout(sizes, p: float):
    """Like op_mlp with Dropout before the output layer: its outputs reveal train vs eval mode."""
    net = op_mlp(sizes, "relu")
    layers = list(net)
    layers.insert(len(layers) - 2, nn.Dropout(p))
    return nn.Sequential(*layers)
