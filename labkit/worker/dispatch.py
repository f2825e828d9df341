"""The worker's answers: each typed request (labkit/protocol/messages.py) to its handler."""
from __future__ import annotations

import os
import time
from typing import Any

from labkit.protocol import messages as msg
from labkit.protocol.codec import ProtocolError, decode, encode


def describe_names(namespace: dict, only: str | None = None) -> dict:
    """The notebook's public globals: name -> kind, type and signature (``only``: that one)."""
    import inspect
    out = {}
    if only is None:
        items = namespace.items()
    else:
        items = [(only, namespace[only])] if only in namespace else []
    for name, value in items:
        if name.startswith("_"):
            continue
        kind = "class" if inspect.isclass(value) else "function" if callable(value) else "value"
        try:
            signature = str(inspect.signature(value)) if callable(value) else ""
        except (TypeError, ValueError):
            signature = ""
        out[name] = {"kind": kind, "type": type(value).__name__, "signature": signature[:500]}
    return out


def _call(worker, request: msg.Call) -> dict:
    """A notebook global, or a method of a worker object, called under the grader's seed."""
    args = _materialize(decode(request.args, worker.resolve))
    kwargs = _materialize(decode(request.kwargs, worker.resolve))
    if request.name is not None:
        if request.name not in worker.namespace:
            return {"ok": False, "missing": request.name}
        func = worker.namespace[request.name]
    else:
        func = worker.resolve(request.handle)
        if request.method:
            func = getattr(func, request.method)
    started = time.process_time()
    value, error, out, err = worker._run(lambda: func(*args, **kwargs), request.seed)
    reply = {"ok": error is None, "stdout": out, "stderr": err,
             "cpu_seconds": time.process_time() - started}
    if error is not None:
        reply["error"] = error
    else:
        reply["value"] = encode(value, worker.make_handle)
    return reply


def _op(worker, request: msg.Op) -> dict:
    if worker.op_function(request.name) is None:   # the grader's mistake, before any student code runs
        return {"ok": False, "internal": True, "error": {"type": "UnknownOp", "traceback": [],
                                                        "message": f"unknown op {request.name!r}"}}
    args = _materialize(decode(request.args, worker.resolve))
    value, error, out, _ = worker._run(lambda: worker.op(request.name, args), request.seed)
    if error is not None:
        return {"ok": False, "error": error, "stdout": out}
    return {"ok": True, "value": encode(value, worker.make_handle), "stdout": out}


def handle(worker, wire: dict) -> dict:
    """One framed request: parsed into its typed message and answered by its handler."""
    try:
        request = msg.parse_request(wire)
    except ProtocolError as exc:
        return {"ok": False, "internal": True, "error": {"type": "ProtocolError", "message": str(exc),
                                                        "traceback": []}}
    return _HANDLERS[type(request)](worker, request)


def _exec(worker, request: msg.Exec) -> dict:
    return {"ok": True, "cell": worker.exec_cell(request.index, request.source, request.seed)}


def _getattr(worker, request: msg.GetAttr) -> dict:
    return {"ok": True, "value": encode(getattr(worker.resolve(request.handle), request.name), worker.make_handle)}


def _get(worker, request: msg.Get) -> dict:
    if request.name not in worker.namespace:
        return {"ok": False, "missing": request.name}
    return {"ok": True, "value": encode(worker.namespace[request.name], worker.make_handle)}


def _names(worker, request: msg.Names) -> dict:
    return {"ok": True, "value": encode(describe_names(worker.namespace, request.only))}


def _load(worker, request: msg.Load) -> dict:
    worker.load(request.name, request.source, request.language)
    return {"ok": True, "value": sorted(worker.watch.baseline)}


def _fork(worker, request: msg.Fork) -> dict:
    """A copy of this worker for a lane (labkit/core/lanes.py). The parent answers with the copy's
    pid; the copy answers nothing here and serves the lane's channel from now on (server.py)."""
    if not 0 <= request.lane < len(worker.lanes):
        return {"ok": False, "internal": True, "error": {"type": "NoLane", "traceback": [],
                                                        "message": f"no lane channel {request.lane}"}}
    pid = os.fork()
    if pid == 0:
        return {"become_lane": request.lane}
    worker.copies.add(pid)
    return {"ok": True, "value": pid}


_HANDLERS = {
    msg.Exec: _exec, msg.Call: _call, msg.GetAttr: _getattr, msg.Get: _get,
    msg.Names: _names, msg.Op: _op, msg.Load: _load,
    msg.Tamper: lambda worker, r: {"ok": True, "value": worker.tampered()},
    msg.Ping: lambda worker, r: {"ok": True, "value": os.getpid()},
    msg.Fork: _fork,
}


def _materialize(value: Any) -> Any:
    """Arguments arrive as TensorData; student code expects real torch tensors."""
    from labkit.protocol.codec import TensorData
    if isinstance(value, TensorData):
        import torch
        return torch.tensor(value.array, dtype=getattr(torch, value.dtype))
    if isinstance(value, list):
        return [_materialize(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_materialize(v) for v in value)
    if isinstance(value, dict):
        return {k: _materialize(v) for k, v in value.items()}
    return value
