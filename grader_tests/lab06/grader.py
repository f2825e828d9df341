"""Trusted helpers for the hidden checks: reference computations and worker round trips."""
from __future__ import annotations

import numpy as np
import torch

import reference.lab06 as reference
from labkit.core.assignment import current
from labkit.grading.checks import fail
from labkit.protocol.codec import Handle


def reference_model(hidden, activation: str, weights: list[np.ndarray] | None = None):
    """The reference Klasyfikator, optionally with the given weights copied in by order."""
    model = reference.Klasyfikator(tuple(hidden), activation)
    if weights is not None:
        with torch.no_grad():
            for p, w in zip(model.parameters(), weights):
                p.copy_(torch.as_tensor(w))
    return model


def grader_weights(hidden, seed: int, scale: float = 0.8) -> list[np.ndarray]:
    """Weights for Klasyfikator(hidden) drawn from the grader's own generator."""
    rng = np.random.default_rng(seed)
    widths = [2, *hidden, 1]
    weights = []
    for a, b in zip(widths, widths[1:]):
        weights.append((rng.normal(0, scale, size=(b, a))).astype(np.float32))
        weights.append((rng.normal(0, scale, size=(b,))).astype(np.float32))
    return weights


def build_mlp(sub, sizes, activation="relu") -> Handle:
    """A grader-owned nn.Sequential in the worker (independent of the student's model)."""
    return sub.op("mlp", list(sizes), activation)


def torch_mlp(sizes, activation="relu") -> torch.nn.Sequential:
    """The same architecture as worker_side.op_mlp, in the trusted process."""
    acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(a, b), acts[activation]()]
    layers[-1] = torch.nn.Sigmoid()
    return torch.nn.Sequential(*layers)


def set_weights(model: torch.nn.Module, weights) -> None:
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.as_tensor(np.asarray(w)))


def params_of(sub, handle: Handle) -> list[np.ndarray]:
    return [t.array for t in sub.op("get_params", handle)]


def passthrough_tolerance(eps: float, value: float) -> float:
    """How far a number the contract passes on unchanged (lr into Adam, evaluate's accuracy into
    test_accuracy, train's losses) may move: ``tol.passthrough``, plus ``tol.number_ulps`` ulps of
    ``value`` at ``eps``, the resolution of the dtype it came in (bench/calibrate.py measures this)."""
    tol = current().params.tol
    return tol.passthrough + tol.number_ulps * eps * abs(value)


def require_callable(sub, name: str, kind: str = "function") -> None:
    """Layer 'defined': the name exists and is a function (or class)."""
    names = sub.names(only=name)
    if name not in names:
        fail("Nie zdefiniowano `{name}`.", "`{name}` is not defined.", name=name)
    if kind == "class" and names[name]["kind"] != "class":
        fail("`{name}` powinno być klasą, otrzymano {got}.", "`{name}` should be a class, got {got}.",
             name=name, got=names[name]["type"])
    if kind == "function" and names[name]["kind"] == "value":
        fail("`{name}` powinno być funkcją, otrzymano {got}.", "`{name}` should be a function, got {got}.",
             name=name, got=names[name]["type"])
