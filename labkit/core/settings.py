"""The engine's settings: resource limits, language override, sandbox policy.

What an assignment grades with (parts, points, seed, tolerances, budget) lives in its own
description (labkit/core/assignment.py), so every regrade of it sees the same thresholds.
Environment variables override the operational settings here: ``LABKIT_LANG``,
``LABKIT_SANDBOX``, ``LABKIT_ZYGOTE`` and ``LABKIT_LIMIT_<FIELD>``. A value the kit does not
know is a ``SettingsError`` naming the variable and what it accepts.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
LANGUAGES: tuple[str, ...] = ("pl", "en")
SANDBOX_POLICIES: tuple[str, ...] = ("auto", "required", "off")
# Tiny torch models run several times faster on one thread; the worker, the trusted grader
# and the in-kernel mode all use this, and the CPU-time budgets assume it.
THREADS = 1
# The heavy libraries every grading process and every worker needs, imported once before they
# fork: by the trusted graders' forkserver (labkit/grading/forkserver.py) and by the sandboxed
# zygote (labkit/sandbox/zygote.py). torch._dynamo: torch.optim imports it on the first
# optimizer, ~2.5 CPU s that each fork would pay again.
HEAVY_IMPORTS: tuple[str, ...] = ("numpy", "torch", "torch._dynamo", "sklearn.metrics")


class SettingsError(ValueError):
    """A ``LABKIT_*`` setting has a value the kit does not know: an error, never a silent default."""


@dataclass(frozen=True)
class Limits:
    """Resources for one submission's worker.

    The budgets that can change a grade (``*_seconds`` of the notebook, a cell, a call) are
    CPU seconds of the worker and every process it starts, measured by the grader from the
    kernel's accounting (labkit/sandbox/cputime.py), and scaled by the run's measured machine speed
    (labkit/grading/speed.py). A slow or busy host therefore grades exactly like an idle one. Wall
    time only backs them up: a worker that computes nothing for ``idle_seconds`` (sleep,
    input, deadlock) is stopped, and one that got less than 1/``overload_multiple`` of a
    CPU is stopped as *grader overloaded*, a transient failure that is retried, never a verdict.
    """

    notebook_seconds: float = 300.0   # CPU time to execute the whole notebook once
    cell_seconds: float = 90.0        # CPU time of one notebook cell (stated in the notebook)
    call_seconds: float = 30.0        # default CPU time of one call into student code
    train_call_seconds: float = 120.0 # CPU time of a call that trains a model (BEST_CONFIG, run_experiment)
    idle_seconds: float = 60.0        # wall time a worker may wait without computing (stated in the notebook)
    overload_multiple: float = 10.0   # wall backstop: this many times the CPU budget, plus idle_seconds
    start_seconds: float = 120.0      # wall time for a worker to start (the kit's imports, no student code)
    cpu_seconds: int = 900            # RLIMIT_CPU of the worker
    memory_bytes: int = 3 * 1024**3   # RLIMIT_AS of the worker (torch needs ~1.5 GiB of address space)
    processes: int = 64               # RLIMIT_NPROC of the sandbox user
    output_bytes: int = 256 * 1024    # captured stdout/stderr per cell
    file_bytes: int = 64 * 1024**2    # RLIMIT_FSIZE in the scratch directory
    message_bytes: int = 64 * 1024**2 # largest message the trusted side accepts from a worker
    images_per_cell: int = 4          # figures kept per cell output; 0: none rendered at all
    worker_restarts: int = 3          # notebook re-executions after a crash or a timeout


@dataclass(frozen=True)
class Settings:
    """Engine-wide settings; construct with ``load_settings()``. What an assignment grades
    with (seed, tolerances, points, language) is in its own description (labkit/core/assignment.py)."""

    language: str | None = None       # LABKIT_LANG: overrides every assignment's language
    sandbox: str = "auto"             # "auto" (bwrap if present, loud fallback), "required", "off"
    zygote: bool = True               # fork bwrap workers from a pre-imported zygote (LABKIT_ZYGOTE=off)
    limits: Limits = field(default_factory=Limits)


def _choice(variable: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = os.environ.get(variable)
    if raw is None or raw == "":
        return default
    if raw not in allowed:
        raise SettingsError(f"{variable}={raw!r} is not a valid value; allowed: {', '.join(allowed)}")
    return raw


# Limits for which zero is a choice, not a mistake: no figures in the autograded notebooks
# (a large class's feedback stays small, and no CPU goes into rendering them).
_MAY_BE_ZERO = frozenset({"images_per_cell"})


# The budgets an assignment may set for itself ([limits] in its assignment.toml): what its
# notebook states to students. The rest of Limits is the host's (memory, processes, sizes).
ASSIGNMENT_LIMITS: tuple[str, ...] = ("notebook_seconds", "cell_seconds", "call_seconds", "train_call_seconds",
                                      "idle_seconds")


def limits_for(assignment_limits: Mapping[str, Any], where: str = "[limits]") -> Limits:
    """The engine's defaults, then the assignment's own budgets, then ``LABKIT_LIMIT_*`` (the
    host's explicit override wins). An unknown key or a value that is not a positive number is
    a ``SettingsError`` naming it."""
    import dataclasses
    changes: dict[str, float] = {}
    for name, value in assignment_limits.items():
        if name not in ASSIGNMENT_LIMITS:
            raise SettingsError(f"{where}: unknown key {name!r}; an assignment may set {', '.join(ASSIGNMENT_LIMITS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise SettingsError(f"{where}: {name} = {value!r}: expected a positive number of CPU seconds")
        changes[name] = float(value)
    return _limits_from_env(dataclasses.replace(Limits(), **changes))


def _limits_from_env(base: Limits | None = None) -> Limits:
    """Limits with ``LABKIT_LIMIT_<FIELD>`` overrides (e.g. LABKIT_LIMIT_CELL_SECONDS=20)."""
    import dataclasses
    fields = {f.name: f for f in dataclasses.fields(Limits)}
    changes: dict[str, float | int] = {}
    for variable, raw in os.environ.items():
        if not variable.startswith("LABKIT_LIMIT_"):
            continue
        name = variable.removeprefix("LABKIT_LIMIT_").lower()
        if name not in fields:
            raise SettingsError(f"{variable} is not a limit; known: "
                                + ", ".join(f"LABKIT_LIMIT_{n.upper()}" for n in fields))
        integer = isinstance(fields[name].default, int)
        try:
            value = float(raw)
            if integer and value != int(value):
                raise ValueError
        except ValueError:
            raise SettingsError(f"{variable}={raw!r}: expected {'a whole number' if integer else 'a number'}") from None
        if value == float("inf") or not (value > 0 or (value == 0 and name in _MAY_BE_ZERO)):
            allowed = "zero or a positive" if name in _MAY_BE_ZERO else "a positive"
            raise SettingsError(f"{variable}={raw!r}: expected {allowed}, finite number")
        changes[name] = int(value) if integer else value
    return dataclasses.replace(base or Limits(), **changes)


def load_settings() -> Settings:
    """Settings with the ``LABKIT_*`` environment overrides applied; invalid values raise.

    Limits (time, memory, output) are operational and may be overridden per host with
    ``LABKIT_LIMIT_<FIELD>``; an assignment's seed, tolerances, points and budget may not.
    """
    language = _choice("LABKIT_LANG", "", ("", *LANGUAGES)) or None
    sandbox = _choice("LABKIT_SANDBOX", "auto", SANDBOX_POLICIES)
    zygote = _choice("LABKIT_ZYGOTE", "on", ("on", "off")) == "on"
    return Settings(language=language, sandbox=sandbox, zygote=zygote, limits=_limits_from_env())
