"""The typed messages of the wire: one dataclass per request, one reply, the ops as an enum.

The trusted grader builds requests here and the worker parses them here; both send them
with one framing (labkit/protocol/codec.py: length-prefixed JSON, values encoded by
``codec.encode``). A reply comes from the worker, a process that runs student code, so
``Reply.from_wire`` checks every field's type and trusts nothing it says about itself: in
particular a worker's claim that an error was internal is evidence for the TA, never a
reason to spare a check (labkit/grading/client.py decides that on the trusted side).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from labkit.protocol.codec import Handle, ProtocolError, handles_in


class Kind(str, Enum):
    """What a request asks the worker to do."""

    LOAD = "load"          # the assignment's worker-side helpers, before any student code
    EXEC = "exec"          # one notebook cell
    CALL = "call"          # a notebook global, or a method of a worker object
    GETATTR = "getattr"    # an attribute of a worker object
    GET = "get"            # a notebook global's value
    NAMES = "names"        # the notebook's public globals
    OP = "op"              # a grader helper that runs next to the student's objects
    TAMPER = "tamper"      # what student code changed in grader-visible libraries
    PING = "ping"
    FORK = "fork"          # a copy of the worker as it stands, served on a lane channel


@dataclass(frozen=True)
class Request:
    """A request; ``to_wire`` is the dict the codec frames."""

    kind: ClassVar[Kind]

    def to_wire(self) -> dict:
        return {"kind": self.kind.value, **self._fields()}

    def _fields(self) -> dict:
        return {}

    def handles(self) -> list[Handle]:
        """The worker objects this request refers to (a restarted worker no longer has them)."""
        return handles_in(self._fields())


@dataclass(frozen=True)
class Load(Request):
    kind: ClassVar[Kind] = Kind.LOAD
    name: str
    source: str
    language: str = "pl"

    def _fields(self) -> dict:
        return {"name": self.name, "source": self.source, "language": self.language}


@dataclass(frozen=True)
class Exec(Request):
    kind: ClassVar[Kind] = Kind.EXEC
    index: int
    source: str
    seed: int

    def _fields(self) -> dict:
        return {"index": self.index, "source": self.source, "seed": self.seed}


@dataclass(frozen=True)
class Call(Request):
    """Call a notebook global (``name``) or a worker object (``handle``, optionally its ``method``);
    ``args`` and ``kwargs`` are already codec-encoded."""

    kind: ClassVar[Kind] = Kind.CALL
    args: list
    kwargs: dict
    seed: int
    name: str | None = None
    handle: Handle | None = None
    method: str | None = None

    def __post_init__(self):
        if (self.name is None) == (self.handle is None):
            raise ValueError("a call targets exactly one of a global name or a handle")

    def _fields(self) -> dict:
        if self.name is not None:
            target: dict = {"global": self.name}
        else:
            target = {"handle": self.handle.id, "gen": self.handle.generation}
            if self.method:
                target["method"] = self.method
        return {"target": target, "args": self.args, "kwargs": self.kwargs, "seed": self.seed}

    def handles(self) -> list[Handle]:
        return [*([self.handle] if self.handle is not None else []), *handles_in([self.args, self.kwargs])]


@dataclass(frozen=True)
class GetAttr(Request):
    kind: ClassVar[Kind] = Kind.GETATTR
    handle: Handle
    name: str

    def _fields(self) -> dict:
        return {"handle": self.handle.id, "gen": self.handle.generation, "name": self.name}

    def handles(self) -> list[Handle]:
        return [self.handle]


@dataclass(frozen=True)
class Get(Request):
    kind: ClassVar[Kind] = Kind.GET
    name: str

    def _fields(self) -> dict:
        return {"name": self.name}


@dataclass(frozen=True)
class Names(Request):
    kind: ClassVar[Kind] = Kind.NAMES
    only: str | None = None

    def _fields(self) -> dict:
        return {} if self.only is None else {"only": self.only}


@dataclass(frozen=True)
class Op(Request):
    """A grader helper ``op_<name>`` (the assignment's, else the engine's); ``args`` encoded."""

    kind: ClassVar[Kind] = Kind.OP
    name: str
    args: list
    seed: int

    def _fields(self) -> dict:
        return {"name": self.name, "args": self.args, "seed": self.seed}


@dataclass(frozen=True)
class Tamper(Request):
    kind: ClassVar[Kind] = Kind.TAMPER


@dataclass(frozen=True)
class Ping(Request):
    kind: ClassVar[Kind] = Kind.PING


@dataclass(frozen=True)
class Fork(Request):
    """Copy the worker (its notebook state) into a process that answers on lane channel
    ``lane``, handed over when the worker started; the reply's value is the copy's pid as the
    worker sees it (labkit/grading/lanes.py)."""

    kind: ClassVar[Kind] = Kind.FORK
    lane: int

    def _fields(self) -> dict:
        return {"lane": self.lane}


_BY_KIND: dict[str, type[Request]] = {cls.kind.value: cls for cls in
                                      (Load, Exec, Call, GetAttr, Get, Names, Op, Tamper, Ping, Fork)}


def parse_request(wire: dict) -> Request:
    """The worker's side: a framed dict back into its request; ProtocolError if it is none."""
    cls = _BY_KIND.get(wire.get("kind"))
    if cls is None:
        raise ProtocolError(f"unknown request {wire.get('kind')!r}")
    try:
        if cls is Call:
            target = wire["target"]
            handle = (Handle(int(target["handle"]), "", int(target.get("gen", 0))) if "handle" in target else None)
            return Call(args=list(wire.get("args", [])), kwargs=dict(wire.get("kwargs", {"$map": []})),
                        seed=int(wire.get("seed", 0)), name=target.get("global"), handle=handle,
                        method=target.get("method"))
        if cls is GetAttr:
            return GetAttr(Handle(int(wire["handle"]), "", int(wire.get("gen", 0))), str(wire["name"]))
        if cls is Exec:
            return Exec(int(wire["index"]), str(wire["source"]), int(wire.get("seed", 0)))
        if cls is Op:
            return Op(str(wire["name"]), list(wire.get("args", [])), int(wire.get("seed", 0)))
        if cls is Load:
            return Load(str(wire["name"]), str(wire.get("source", "")), str(wire.get("language", "pl")))
        if cls is Get:
            return Get(str(wire["name"]))
        if cls is Fork:
            return Fork(int(wire["lane"]))
        if cls is Names:
            only = wire.get("only")
            return Names(None if only is None else str(only))
        return cls()
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed {cls.kind.value} request: {exc}") from None


@dataclass
class Reply:
    """The worker's answer. ``value`` is codec-encoded; ``error`` is student code's exception
    (type, message, traceback); ``missing`` names a global the notebook lacks."""

    ok: bool
    value: Any = None
    error: dict | None = None
    missing: str | None = None
    internal: bool = False        # the worker says the worker itself failed (evidence, not proof)
    stdout: str = ""
    stderr: str = ""
    cpu_seconds: float = 0.0
    cell: dict | None = None
    tamper: list[str] = field(default_factory=list)
    maxrss_kib: int | None = None
    ready: int | None = None

    def to_wire(self) -> dict:
        wire = {"ok": self.ok}
        for name in ("value", "error", "missing", "cell", "maxrss_kib", "ready"):
            if getattr(self, name) is not None:
                wire[name] = getattr(self, name)
        if self.internal:
            wire["internal"] = True
        if self.stdout:
            wire["stdout"] = self.stdout
        if self.stderr:
            wire["stderr"] = self.stderr
        if self.cpu_seconds:
            wire["cpu_seconds"] = self.cpu_seconds
        wire["tamper"] = list(self.tamper)
        return wire

    @classmethod
    def from_wire(cls, wire: dict) -> "Reply":
        """A reply as the trusted side reads it: every field of the type it must have, bounded."""
        def text(name: str, limit: int = 100_000) -> str:
            value = wire.get(name, "")
            return value[:limit] if isinstance(value, str) else ""

        error = wire.get("error")
        cell = wire.get("cell")
        tamper = wire.get("tamper")
        rss = wire.get("maxrss_kib")
        ready = wire.get("ready")
        missing = wire.get("missing")
        cpu = wire.get("cpu_seconds")
        return cls(ok=wire.get("ok") is True, value=wire.get("value"),
                   error=error if isinstance(error, dict) else None,
                   missing=str(missing)[:200] if missing else None,
                   internal=wire.get("internal") is True,
                   stdout=text("stdout"), stderr=text("stderr"),
                   cpu_seconds=float(cpu) if isinstance(cpu, (int, float)) and not isinstance(cpu, bool) else 0.0,
                   cell=cell if isinstance(cell, dict) else None,
                   tamper=[str(t)[:100] for t in tamper[:50]] if isinstance(tamper, list) else [],
                   maxrss_kib=rss if isinstance(rss, int) and not isinstance(rss, bool) else None,
                   ready=ready if isinstance(ready, int) and not isinstance(ready, bool) else None)
