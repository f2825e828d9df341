"""Reference results shared by the graders of a course: computed once, read by every later grading.

A hidden check often compares the student's answer with the reference's answer to the
same question (the same seeds, the same hypothesis example), and every grading of a batch
asks the reference the same questions. ``@reference_memo`` keeps those answers on disk, in
the trusted course folder, so a batch of 40 notebooks trains the reference once, not 40 times.

It never changes a verdict:

- the key is the call's arguments (arrays by dtype, shape and bytes) under the grader's
  fingerprint (the assignment's files, the engine's code, package versions, settings), so a
  changed reference or check starts afresh;
- the function runs with the global RNGs (``random``, numpy, torch) seeded to a fixed value
  and restored afterwards, so its answer cannot depend on what ran before it and a hit
  leaves the grader's RNGs exactly as a miss does;
- a fresh answer is returned as it reads back from disk, so a hit and a miss return equal
  values of equal types;
- entries use the worker's pickle-free codec (labkit/protocol/codec.py): a tampered file can give
  wrong numbers, never run code; an unreadable one is recomputed.

``LABKIT_REFERENCE_MEMO=off`` turns it off; ``LABKIT_REFERENCE_MEMO=/some/folder`` moves it.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from labkit.protocol import codec

ENV = "LABKIT_REFERENCE_MEMO"
_RNG_SEED = 0
F = TypeVar("F", bound=Callable[..., Any])


@functools.lru_cache(maxsize=8)
def _fingerprint(assignment_id: str, root: str) -> str:
    from labkit.core.assignment import current
    from labkit.grading.fingerprint import grader_fingerprint
    return grader_fingerprint(current())


def folder() -> Path | None:
    """Where this grading's memo lives (None: off)."""
    setting = os.environ.get(ENV, "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    from labkit.core.assignment import current
    assignment = current()
    base = Path(setting) if setting else assignment.root / ".labkit-cache" / "reference-memo"
    return base / assignment.id / _fingerprint(assignment.id, str(assignment.root))[:32]


def _key(name: str, args: tuple, kwargs: dict) -> str:
    data = codec.encode([list(args), sorted(kwargs.items())])
    return hashlib.sha256((name + json.dumps(data, sort_keys=True)).encode()).hexdigest()


@contextlib.contextmanager
def isolated_rngs():
    """Global RNGs seeded to a fixed value inside, restored to their previous state after."""
    import torch
    from labkit.core.seeding import seed_torch
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(_RNG_SEED)
        np.random.seed(_RNG_SEED)
        seed_torch(_RNG_SEED)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def _read(path: Path) -> tuple[bool, Any]:
    try:
        return True, codec.decode(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, codec.ProtocolError):
        return False, None


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out)
    os.replace(tmp, path)   # atomic: a grader beside us reads the old state or the whole entry


def reference_memo(fn: F) -> F:
    """Memoize a trusted-side reference computation across the gradings of a course.

    ``fn`` must be a function of its arguments alone (it may seed and use the global RNGs;
    they are seeded before and restored after) and return data the codec carries: numbers,
    strings, arrays, tensors' values, lists, tuples and dicts of them. A call with an argument
    the codec cannot carry is computed every time, under the same RNG isolation.
    """
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        where = folder()
        try:
            path = where / f"{_key(name, args, kwargs)}.json" if where is not None else None
        except TypeError:   # an argument the codec cannot carry (a function): no memo for this call
            path = None
        if path is not None and path.exists():
            found, value = _read(path)
            if found:
                return value
        with isolated_rngs():
            data = codec.encode(fn(*args, **kwargs))
        if path is not None:
            with contextlib.suppress(OSError):
                _write(path, data)
        return codec.decode(data)

    return wrapper  # type: ignore[return-value]
