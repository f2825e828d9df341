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
import base64
import builtins
import io
import os
import random
import resource
import sys
import time
import traceback
import types
from typing import Any

from labkit.protocol import messages as msg
from labkit.protocol.codec import Handle, ProtocolError, decode, encode, read_message, write_message

CELL_FILENAME = "<komórka {index}>"


def cell_filename(index: int) -> str:
    """The filename a notebook cell's code is compiled under; tracebacks keep only these
    frames. Polish in every language: the grader matches on it, and students see a number."""
    return CELL_FILENAME.format(index=index)
_MAX_REPR = 4000

# Builtins any contract leans on; an assignment's helpers add its own libraries' functions
# (``TAMPER_WATCH`` in its worker_helpers file). If student code rebinds one of them the
# report flags the submission for a TA (verdicts never depend on them: they are computed
# in the grader's own process).
ENGINE_WATCH = (
    "builtins.print", "builtins.len", "builtins.sum", "builtins.isinstance", "builtins.abs",
    "builtins.round", "builtins.float", "builtins.__import__",
)
# The note that replaces output beyond the limit, in the assignment's language.
TRUNCATED = {"pl": "\n[... pominięto {n} znaków wyjścia ...]\n",
             "en": "\n[... {n} characters of output left out ...]\n"}


def _lookup(dotted: str) -> Any:
    module_name, _, rest = dotted.partition(".")
    obj = sys.modules.get(module_name) or __import__(module_name)
    parts = rest.split(".")
    # walk submodules first (numpy.random, torch.nn.functional, sklearn.metrics)
    prefix = module_name
    for i, part in enumerate(parts):
        prefix = f"{prefix}.{part}"
        try:
            obj = getattr(obj, part)
        except AttributeError:
            __import__(prefix)
            obj = sys.modules[prefix]
    return obj


class BoundedText(io.TextIOBase):
    """A stdout/stderr stand-in that keeps at most ``limit`` characters."""

    def __init__(self, limit: int, note: str = TRUNCATED["pl"]):
        self.limit = limit
        self.note = note
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def getvalue(self) -> str:
        value = "".join(self.parts)
        if self.dropped:
            value += self.note.format(n=self.dropped)
        return value


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
        self.cell_outputs: list[dict] = []
        if namespace is not None:
            self.namespace, self.baseline = namespace, {}
            return
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}
        self.baseline = self._snapshot(ENGINE_WATCH)
        self._install_display()

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
            self.baseline = self._snapshot((*ENGINE_WATCH, *getattr(module, "TAMPER_WATCH", ())))

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

    # -- tamper watch --------------------------------------------------------------
    def _snapshot(self, names: tuple[str, ...]) -> dict[str, int]:
        ids = {}
        for name in names:
            try:
                ids[name] = id(_lookup(name))
            except Exception:  # a missing optional library is not tampering
                continue
        return ids

    def tampered(self) -> list[str]:
        changed = []
        for name, ident in self.baseline.items():
            try:
                if id(_lookup(name)) != ident:
                    changed.append(name)
            except Exception:
                changed.append(name)
        return changed

    # -- display of outputs, as a notebook would show them ----------------------------
    def _install_display(self) -> None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        worker = self

        def show(*_args, **_kwargs):
            worker._flush_figures()

        plt.show = show

        def display(*objs, **_kwargs):
            for obj in objs:
                worker._add_result(obj, "display_data")

        self.namespace["display"] = display

    def _flush_figures(self) -> None:
        import matplotlib.pyplot as plt
        for number in plt.get_fignums():
            figure = plt.figure(number)
            if sum(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
                   for o in self.cell_outputs) < self.images_per_cell:
                buffer = io.BytesIO()
                try:
                    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
                    self.cell_outputs.append({
                        "output_type": "display_data", "metadata": {},
                        "data": {"image/png": base64.b64encode(buffer.getvalue()).decode(),
                                 "text/plain": f"<Figure {number}>"}})
                except Exception:  # a broken figure must not break the cell's other outputs
                    pass
        plt.close("all")

    def _add_result(self, value: Any, kind: str, count: int | None = None) -> None:
        try:
            text = repr(value)
        except Exception as exc:
            text = f"<repr failed: {type(exc).__name__}>"
        output = {"output_type": kind, "metadata": {}, "data": {"text/plain": text[:_MAX_REPR]}}
        if kind == "execute_result":
            output["execution_count"] = count
        self.cell_outputs.append(output)

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
        self.cell_outputs = []
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
            self._add_result(value, "execute_result", index)
        self._flush_figures()
        outputs.extend(self.cell_outputs)
        if error is not None:
            outputs.append({"output_type": "error", "ename": error["type"],
                            "evalue": error["message"], "traceback": error["traceback"]})
        return {"index": index, "outputs": outputs, "error": error,
                "seconds": time.perf_counter() - started}

    def call(self, request: msg.Call) -> dict:
        args = _materialize(decode(request.args, self.resolve))
        kwargs = _materialize(decode(request.kwargs, self.resolve))
        if request.name is not None:
            if request.name not in self.namespace:
                return {"ok": False, "missing": request.name}
            func = self.namespace[request.name]
        else:
            func = self.resolve(request.handle)
            if request.method:
                func = getattr(func, request.method)
        started = time.process_time()
        value, error, out, err = self._run(lambda: func(*args, **kwargs), request.seed)
        reply = {"ok": error is None, "stdout": out, "stderr": err,
                 "cpu_seconds": time.process_time() - started}
        if error is not None:
            reply["error"] = error
        else:
            reply["value"] = encode(value, self.make_handle)
        return reply

    def names(self, only: str | None = None) -> dict:
        import inspect
        out = {}
        if only is None:
            items = self.namespace.items()
        else:
            items = [(only, self.namespace[only])] if only in self.namespace else []
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

    def _op(self, request: msg.Op) -> dict:
        if self.op_function(request.name) is None:   # the grader's mistake, before any student code runs
            return {"ok": False, "internal": True, "error": {"type": "UnknownOp", "traceback": [],
                                                            "message": f"unknown op {request.name!r}"}}
        args = _materialize(decode(request.args, self.resolve))
        value, error, out, _ = self._run(lambda: self.op(request.name, args), request.seed)
        if error is not None:
            return {"ok": False, "error": error, "stdout": out}
        return {"ok": True, "value": encode(value, self.make_handle), "stdout": out}

    def handle(self, wire: dict) -> dict:
        """One framed request: parsed into its typed message and answered by its handler."""
        try:
            request = msg.parse_request(wire)
        except ProtocolError as exc:
            return {"ok": False, "internal": True, "error": {"type": "ProtocolError", "message": str(exc),
                                                            "traceback": []}}
        return self._handlers[type(request)](self, request)

    def _exec(self, request: msg.Exec) -> dict:
        return {"ok": True, "cell": self.exec_cell(request.index, request.source, request.seed)}

    def _getattr(self, request: msg.GetAttr) -> dict:
        return {"ok": True, "value": encode(getattr(self.resolve(request.handle), request.name), self.make_handle)}

    def _get(self, request: msg.Get) -> dict:
        if request.name not in self.namespace:
            return {"ok": False, "missing": request.name}
        return {"ok": True, "value": encode(self.namespace[request.name], self.make_handle)}

    def _names(self, request: msg.Names) -> dict:
        return {"ok": True, "value": encode(self.names(request.only))}

    def _load(self, request: msg.Load) -> dict:
        self.load(request.name, request.source, request.language)
        return {"ok": True, "value": sorted(self.baseline)}

    _handlers = {
        msg.Exec: _exec, msg.Call: lambda self, r: self.call(r), msg.GetAttr: _getattr, msg.Get: _get,
        msg.Names: _names, msg.Op: _op, msg.Load: _load,
        msg.Tamper: lambda self, r: {"ok": True, "value": self.tampered()},
        msg.Ping: lambda self, r: {"ok": True, "value": os.getpid()},
    }


# Up to about 5 s of 1 ms pauses: a killed stray's exit ends long before that.
STRAY_PASSES = 5000
STRAY_PAUSE = 0.001


def _reap_strays() -> None:
    """Kill processes that student code forked and left running.

    DataLoader workers and the like end with their call; anything still alive after a
    request is a runaway (a fork bomb's survivors) and would compete with the grader.
    In bwrap's pid namespace that is every process but its init and us, even ones that
    called setsid, and ``kill(-1)`` reaches them all at once; without a namespace, the
    processes of our session. Passes repeat until none is left, since a bomb re-forks.

    A killed process stays listed until its exit finishes, and tearing down a forked copy of
    a torch process can take tens of milliseconds on a busy host, so passes pause briefly
    rather than spin: a fixed pass count once gave up while a killed child was still exiting.
    The bound is a backstop for a process that cannot die, never a grade.
    """
    if os.getpid() == 1:
        _reap_as_init()
        return
    own_namespace = os.environ.get("LABKIT_PIDNS") == "1"
    for attempt in range(STRAY_PASSES):
        strays = _strays(own_namespace)
        if not strays:
            break
        if attempt:
            time.sleep(STRAY_PAUSE)
        if own_namespace:
            try:
                os.kill(-1, 9)   # in a pid namespace: everyone but init and the caller
            except OSError:
                pass
        for pid in strays:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        _collect_children()


def _collect_children() -> None:
    """waitpid every child that has already exited (killed strays end up as our zombies)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _reap_as_init() -> None:
    """As init of a pid namespace (a zygote's worker) every other process is a stray, and
    ``kill(-1)`` reaches exactly those; it fails with ESRCH once none is left (no /proc scan)."""
    for _ in range(1000):
        try:
            os.kill(-1, 9)
        except ProcessLookupError:
            return
        except OSError:
            pass
        _collect_children()
        time.sleep(0.001)


def _strays(own_namespace: bool) -> list[int]:
    me, session = os.getpid(), os.getsid(0)
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me or (own_namespace and entry == "1"):
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z" and int(fields[1]) != me:
                continue                     # someone else's zombie: nothing to kill
            if own_namespace or int(fields[3]) == session:   # after comm: state ppid pgrp session
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


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
    write_message(proto_out, {"ok": True, "ready": os.getpid()})
    while True:
        try:
            request = read_message(proto_in, 1 << 30)
        except EOFError:
            return
        try:
            reply = worker.handle(request)
        except BaseException as exc:
            reply = {"ok": False, "error": _describe_error(exc), "internal": True}
        _reap_strays()
        reply["tamper"] = worker.tampered()
        reply["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            write_message(proto_out, reply)
        except (TypeError, ValueError) as exc:
            write_message(proto_out, {"ok": False, "internal": True, "tamper": reply["tamper"],
                                      "error": {"type": "EncodeError", "message": str(exc)[:500],
                                                "traceback": []}})


if __name__ == "__main__":
    main()
