"""Engine-side helpers the grader runs inside the worker, where the student's objects live.

They read or set state of student objects (parameters, modes, optimizers, loaders) for
any PyTorch assignment; an assignment's own helpers (stand-ins for its contract, grader-owned
models) come from its ``worker_helpers`` file instead (see labkit/worker/server.py, ``load``).
Every op takes the worker's ``OpContext`` first: no module globals. They run next to student
code, so their answers are treated as untrusted data like any other reply.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader


@dataclass
class OpContext:
    """What an op may use of the worker: the student's namespace and how cells are run."""

    namespace: dict[str, Any]
    cell_filename: Callable[[int], str]      # the filename a cell's code is compiled under
    strip_magics: Callable[[str], str]       # IPython magics made inert, line numbers kept


def op_get_params(ctx: OpContext, model):
    return [p.detach().clone() for p in model.parameters()]


def op_set_params(ctx: OpContext, model, arrays):
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


def op_forward(ctx: OpContext, model, X):
    """Outputs in eval mode without gradients, as a prediction would use them."""
    model.eval()
    with torch.no_grad():
        return model(torch.as_tensor(np.asarray(X), dtype=torch.float32))


def op_forward_raw(ctx: OpContext, model, X):
    """model(X) on a float32 tensor with no mode change (shape and dtype checks)."""
    return model(torch.as_tensor(np.asarray(X), dtype=torch.float32))


def op_iterate(ctx: OpContext, loader, epochs: int = 1):
    out = []
    for _ in range(epochs):
        out.append([tuple(batch) if isinstance(batch, (list, tuple)) else (batch,) for batch in loader])
    return out


def op_describe(ctx: OpContext, obj):
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


def op_optimizer_covers(ctx: OpContext, optimizer, model) -> bool:
    """Whether the optimizer's parameters are exactly the model's, by identity."""
    mine = [id(p) for g in optimizer.param_groups for p in g["params"]]
    return sorted(mine) == sorted(id(p) for p in model.parameters())
