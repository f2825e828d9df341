"""The untrusted side: runs a student's notebook code and answers calls over a pipe.

A worker starts in one of two ways, both confined (labkit/sandbox/launch.py): cold, as
``python -s -c <boot>`` that imports labkit alone from the kit and calls ``main()``
(labkit/sandbox/worker_process.py), or forked from the run's zygote, which has imported torch
already and calls ``main()`` in the child (labkit/sandbox/zygote.py). Its first request, before
any student code, is ``load``: the assignment's worker helpers, sent as text.
Everything here runs in the same process as student code, so nothing here is trusted:
the worker only executes and reports; every verdict is computed by the grader.
The protocol channel is a private copy of stdin/stdout; the real fds 0-2 point at
/dev/null so that prints and C-level writes cannot corrupt the stream.
"""
from __future__ import annotations

import ast
import builtins
import os
import random
import resource
import sys
import time
import traceback
import types
from typing import Any

from labkit.protocol.codec import Handle, read_message, write_message
from labkit.worker.outputs import _MAX_REPR, TRUNCATED, BoundedText, CellOutputs
from labkit.worker.strays import reap_own_group, reap_strays
from labkit.worker.tamper import ENGINE_WATCH, TamperWatch

CELL_FILENAME = "<komórka {index}>"


def cell_filename(index: int) -> str:
    """The filename a notebook cell's code is compiled under; tracebacks keep only these
    frames. Polish in every language: the grader matches on it, and students see a number."""
    return CELL_FILENAME.format(index=index)

class Worker:
    """State of one worker process: the student namespace, handles and captured outputs."""

    def __init__(self, generation: int, output_limit: int, images_per_cell: int,
                 namespace: dict[str, Any] | None = None):
        """``namespace``: serve an existing one (labkit/grading/inkernel.py), which keeps its own
        display hooks and gets no tamper baseline; None: a fresh worker's own."""
        self.generation = generation
        self.helpers: types.ModuleType | None = None   # the assignment's, once loaded
        self.truncated = TRUNCATED["pl"]
        self.served = namespace is not None
        self.pid = os.getpid()
        self.output_limit = output_limit
        self.images_per_cell = images_per_cell
        self.handles: dict[int, Any] = {}
        self.next_handle = 1
        self.outputs = CellOutputs(images_per_cell)
        self.lanes: list[tuple[int, int]] = []   # (requests in, replies out) per lane channel
        self.copies: set[int] = set()            # lane copies made (pids): never strays, never reaped
        if namespace is not None:
            self.namespace, self.watch = namespace, TamperWatch()
            return
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}
        self.watch = TamperWatch(ENGINE_WATCH)
        self.outputs.install(self.namespace)

    def load(self, name: str, source: str, language: str = "pl") -> None:
        """Take on an assignment: run its helpers' text as a module (ops, ``warm_up``,
        ``TAMPER_WATCH``). The client sends this before any student code, so the tamper
        baseline it takes is the libraries as the assignment's warm-up left them."""
        module = types.ModuleType(f"labkit_assignment_{name}")
        if source:
            exec(compile(source, f"<{name} worker helpers>", "exec"), module.__dict__)
        warm_up = getattr(module, "warm_up", None)
        if callable(warm_up) and not self.served:
            warm_up()
        self.helpers = module
        self.truncated = TRUNCATED.get(language, TRUNCATED["pl"])
        if not self.served:   # a served namespace (in-kernel mode) keeps no baseline
            self.watch = TamperWatch((*ENGINE_WATCH, *getattr(module, "TAMPER_WATCH", ())))

    # -- handles -------------------------------------------------------------------
    def make_handle(self, obj: Any) -> Handle:
        hid = self.next_handle
        self.next_handle += 1
        self.handles[hid] = obj
        name = type(obj).__name__
        dtype = getattr(obj, "dtype", None)
        if name == "ndarray" and dtype is not None:
            name = f"ndarray[{dtype}]"
        return Handle(hid, name, self.generation)

    def resolve(self, handle: Handle) -> Any:
        if handle.generation != self.generation or handle.id not in self.handles:
            raise LookupError(f"stale handle {handle}")
        return self.handles[handle.id]

    def tampered(self) -> list[str]:
        """Watched library functions student code rebound (labkit/worker/tamper.py)."""
        return self.watch.changed()

    # -- running code ----------------------------------------------------------------
    def _run(self, func, seed: int | None):
        """Call func with stdout/stderr captured and the grader's seeds set."""
        if seed is not None:
            _seed_everything(seed)
        stdout = BoundedText(self.output_limit, self.truncated)
        stderr = BoundedText(self.output_limit, self.truncated)
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = stdout, stderr
        error = None
        value = None
        try:
            value = func()
        except BaseException as exc:  # SystemExit and KeyboardInterrupt are the student's too
            error = _describe_error(exc)
        finally:
            if os.getpid() != self.pid:
                os._exit(0)  # a child forked by student code must never reach the protocol loop
            sys.stdout, sys.stderr = saved
        return value, error, stdout.getvalue(), stderr.getvalue()

    def exec_cell(self, index: int, source: str, seed: int) -> dict:
        self.outputs.items = []
        started = time.perf_counter()
        filename = cell_filename(index)
        code = _strip_magics(source)

        def run():
            tree = ast.parse(code, filename=filename, mode="exec")
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr) and not code.rstrip().endswith(";"):
                last = ast.Expression(tree.body.pop().value)
            exec(compile(tree, filename, "exec"), self.namespace)
            if last is not None:
                return eval(compile(last, filename, "eval"), self.namespace)
            return None

        value, error, out, err = self._run(run, seed)
        outputs = []
        if out:
            outputs.append({"output_type": "stream", "name": "stdout", "text": out})
        if err:
            outputs.append({"output_type": "stream", "name": "stderr", "text": err})
        if value is not None and error is None:
            self.outputs.add_result(value, "execute_result", index)
        self.outputs.flush_figures()
        outputs.extend(self.outputs.items)
        if error is not None:
            outputs.append({"output_type": "error", "ename": error["type"],
                            "evalue": error["message"], "traceback": error["traceback"]})
        return {"index": index, "outputs": outputs, "error": error,
                "seconds": time.perf_counter() - started}

    def op_function(self, name: str):
        """The grader helper ``op_<name>``: the assignment's own if it has one, else the
        engine's (labkit/worker/ops.py); None when neither has it."""
        from labkit.worker import ops as worker_ops
        return getattr(self.helpers, f"op_{name}", None) or getattr(worker_ops, f"op_{name}", None)

    def op(self, name: str, args: list) -> Any:
        """Run the grader helper ``op_<name>`` on already-decoded ``args`` (no seeding, no capture)."""
        from labkit.worker import ops as worker_ops
        func = self.op_function(name)
        if func is None:
            raise ValueError(f"unknown op {name}")
        return func(worker_ops.OpContext(self.namespace, cell_filename, _strip_magics), *args)

    def handle(self, wire: dict) -> dict:
        """One framed request, answered (labkit/worker/dispatch.py)."""
        from labkit.worker.dispatch import handle
        return handle(self, wire)


def _seed_everything(seed: int) -> None:
    import numpy as np
    from labkit.core.seeding import seed_torch
    random.seed(seed)
    np.random.seed(seed % 2**32)
    # Not torch.manual_seed: see labkit/core/seeding.py. A student's rebinding of torch.manual_seed
    # does not reach this either.
    seed_torch(seed)


def _strip_magics(source: str) -> str:
    """IPython magics and shell escapes have no meaning outside a kernel; keep line numbers."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[: len(line) - len(stripped)] + "pass  # " + stripped
        lines.append(line)
    return "\n".join(lines)


def _describe_error(exc: BaseException) -> dict:
    """Type, message and the student's own frames (library and worker frames are noise,
    and would show the grading host's paths)."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if f.filename.startswith("<komórka")]
    lines = traceback.format_list(mine[-8:])
    try:
        message = str(exc)
    except Exception:
        message = "<message unavailable>"
    lines.append(f"{type(exc).__name__}: {message[:_MAX_REPR]}")
    return {"type": type(exc).__name__, "message": message[:_MAX_REPR], "traceback": lines}


def main() -> None:
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdin = open(os.devnull)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    generation = int(os.environ.get("LABKIT_GENERATION", "0"))
    output_limit = int(os.environ.get("LABKIT_OUTPUT_LIMIT", "262144"))
    images = int(os.environ.get("LABKIT_IMAGES_PER_CELL", "4"))

    import torch
    from labkit.core.settings import THREADS
    torch.set_num_threads(THREADS)
    import warnings
    warnings.simplefilter("default")
    worker = Worker(generation, output_limit, images)
    worker.lanes = _lane_channels(os.environ.pop("LABKIT_LANE_FDS", ""))
    write_message(proto_out, {"ok": True, "ready": os.getpid()})
    while True:
        try:
            request = read_message(proto_in, 1 << 30)
        except EOFError:
            return
        if worker.copies:   # killed strays' zombies hold pids a fork would need
            reap_own_group()
        try:
            reply = worker.handle(request)
        except BaseException as exc:
            reply = {"ok": False, "error": _describe_error(exc), "internal": True}
        if "become_lane" in reply:   # the lane's copy: from here on it answers on its own channel
            proto_in, proto_out = _become_lane(worker, int(reply["become_lane"]), proto_in, proto_out)
            continue
        if worker.copies:
            reap_own_group()
        else:
            reap_strays()
        reply["tamper"] = worker.tampered()
        reply["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            write_message(proto_out, reply)
        except (TypeError, ValueError) as exc:
            write_message(proto_out, {"ok": False, "internal": True, "tamper": reply["tamper"],
                                      "error": {"type": "EncodeError", "message": str(exc)[:500],
                                                "traceback": []}})


def _lane_channels(spec: str) -> list[tuple[int, int]]:
    """``LABKIT_LANE_FDS``: "in,out;in,out", the lane channels the trusted side handed over."""
    return [(int(a), int(b)) for a, b in (pair.split(",") for pair in spec.split(";") if pair)]


def _become_lane(worker: Worker, lane: int, proto_in, proto_out):
    """In a fresh copy of the worker: its own session (killed alone), strays counted in it alone
    (never the sibling lanes, which share the pid namespace), and only its own channel open."""
    os.setsid()
    worker.pid = os.getpid()
    worker.copies = set()
    os.environ["LABKIT_PIDNS"] = "0"
    mine = worker.lanes[lane]
    for pair in worker.lanes:
        if pair != mine:
            for fd in pair:
                os.close(fd)
    worker.lanes = []
    proto_in.close()
    proto_out.close()
    return os.fdopen(mine[0], "rb", buffering=0), os.fdopen(mine[1], "wb")


if __name__ == "__main__":
    main()
