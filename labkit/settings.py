"""The one place for every number the grade depends on.

Timeouts, seeds, tolerances, points and budgets live here so that the notebook,
the hidden tests, the calibration script and the report all read the same values.
Environment variables prefixed ``LABKIT_`` override a few operational settings
(language, sandbox policy, parallelism); the grading numbers themselves are not
overridable, so that every regrade sees the same thresholds.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT_ID = "lab06"
COURSE_ID = "sieci-neuronowe-lab06"

# Part ids, in notebook order. Every autograded cell's grade_id starts with one of these.
PARTS: tuple[str, ...] = ("data", "loader", "model", "loss", "training", "experiments")

# Points per part (autograded) plus the manually graded conclusions cell.
PART_POINTS: dict[str, float] = {
    "data": 3.0,
    "loader": 2.0,
    "model": 3.0,
    "loss": 3.0,
    "training": 4.0,
    "experiments": 5.0,
}
CONCLUSIONS_POINTS = 3.0
CONCLUSIONS_GRADE_ID = "experiments_conclusions"


def tests_cell_id(part: str) -> str:
    """grade_id of the autograder cell that carries a part's verdict."""
    return f"{part}_tests"


@dataclass(frozen=True)
class Seeds:
    """Seeds owned by the grader; student code never chooses them."""

    base: int = 20240601          # seeds torch/numpy/random before every call into student code
    hypothesis: int = 0           # unused by derandomized hypothesis, kept for the record
    experiment_rows: int = 7      # picks which RESULTS rows get re-run
    best_config: tuple[int, ...] = (101, 202, 303)
    heldout: int = 9_999          # held-out points for BEST_CONFIG; labels stay in the trusted process


@dataclass(frozen=True)
class Tolerances:
    """Thresholds, each calibrated by bench/calibrate.py (see docs/calibration.md)."""

    radius_mean: float = 0.05     # |mean radius of a class - r| (statistical, n >= STAT_N)
    radius_spread: float = 0.03   # |std of radius - sd| (statistical, n >= STAT_N)
    angle_mean: float = 0.06      # |mean cos|, |mean sin| per class
    stat_n: int = 8000            # smallest n the statistical checks use (docs/calibration.md)
    exact: float = 1e-9           # sd = 0 gives exact radii: absolute floor of the tolerance below
    # sd = 0: |radius - r| <= exact_ulps * eps * r, eps of X's dtype but never finer than float32's
    # (torch computes in float32; a float64 X may hold float32 positions). Correct styles: <= 1.5.
    exact_ulps: float = 32.0
    # A returned number (float32 scalar or tensor, Python float from .item()) may miss its exact
    # value by number_ulps * eps * |value| on top of a check's own tolerance, eps as for exact_ulps.
    number_ulps: float = 8.0
    accuracy: float = 1e-12       # evaluate's accuracy vs the grader's count (+ number_ulps)
    passthrough: float = 1e-12    # a value passed on unchanged: lr into Adam, evaluate's accuracy
                                  # into test_accuracy (+ number_ulps)
    forward: float = 1e-6         # forward pass vs reference, same weights
    loss_rel: float = 1e-5        # dataset_loss vs grader's BCE, relative
    train_params: float = 1e-5    # parameters after student train vs reference train
    loss_drop: float = 0.5        # grader 2-16-16-1 net: final epoch loss < 0.5 * initial loss
    rerun_accuracy: float = 1e-9  # RESULTS rows re-run through run_experiment (+ number_ulps)


@dataclass(frozen=True)
class Budget:
    """The BEST_CONFIG budget, stated in the notebook next to BEST_CONFIG."""

    max_epochs: int = 30
    max_parameters: int = 2_000
    max_train_seconds: float = 20.0   # on one thread, measured by the grader
    min_batch_size: int = 8
    full_credit_accuracy: float = 0.97
    zero_credit_accuracy: float = 0.90
    heldout_points: int = 10_000


@dataclass(frozen=True)
class Limits:
    """Resources for one submission's worker.

    The budgets that can change a grade (``*_seconds`` of the notebook, a cell, a call) are
    CPU seconds of the worker and every process it starts, measured by the grader from the
    kernel's accounting (labkit/cputime.py), and scaled by the run's measured machine speed
    (labkit/speed.py). A slow or busy host therefore grades exactly like an idle one. Wall
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
    images_per_cell: int = 4
    worker_restarts: int = 3          # notebook re-executions after a crash or a timeout


@dataclass(frozen=True)
class Settings:
    """All grading settings; construct with ``load_settings()``."""

    language: str = "pl"
    sandbox: str = "auto"             # "auto" (bwrap if present, loud fallback), "required", "off"
    zygote: bool = True               # fork bwrap workers from a pre-imported zygote (LABKIT_ZYGOTE=off)
    seeds: Seeds = field(default_factory=Seeds)
    tol: Tolerances = field(default_factory=Tolerances)
    budget: Budget = field(default_factory=Budget)
    limits: Limits = field(default_factory=Limits)
    hypothesis_examples: int = 25
    torch_threads: int = 1


# Relative weight of each hidden check inside its part (default 1). A part's points are
# shared among its checks in proportion to these weights.
CHECK_WEIGHTS: dict[str, float] = {
    "test_best_config_reaches_high_heldout_accuracy": 3.0,
    "test_train_lands_on_reference_parameters": 2.0,
    "test_forward_matches_reference_with_grader_weights": 2.0,
    "test_dataset_loss_equals_grader_binary_cross_entropy": 2.0,
    "test_results_come_from_run_experiment": 2.0,
}

LAB_DEFAULTS: dict[str, object] = {
    "n": 5000,
    "sd": 0.2,
    "hidden": (4, 2),
    "activation": "relu",
    "lr": 0.01,
    "n_epochs": 4,
    "batch_size": 32,
}
CONFIG_KEYS: tuple[str, ...] = tuple(LAB_DEFAULTS)
FACTORS: tuple[str, ...] = (
    "hidden_size", "n_layers", "activation", "lr", "n_epochs", "batch_size", "n", "sd",
)
ACTIVATIONS: tuple[str, ...] = ("relu", "tanh", "sigmoid", "leaky_relu")


def _limits_from_env() -> Limits:
    """Limits with ``LABKIT_LIMIT_<FIELD>`` overrides (e.g. LABKIT_LIMIT_CELL_SECONDS=20)."""
    import dataclasses
    changes = {}
    for f in dataclasses.fields(Limits):
        raw = os.environ.get(f"LABKIT_LIMIT_{f.name.upper()}")
        if raw:
            changes[f.name] = type(f.default)(float(raw)) if f.type in ("int", int) else float(raw)
    return dataclasses.replace(Limits(), **changes)


def load_settings() -> Settings:
    """Settings with the operational ``LABKIT_*`` environment overrides applied.

    Limits (time, memory, output) are operational and may be overridden per host with
    ``LABKIT_LIMIT_<FIELD>``; seeds, tolerances, points and the budget may not.
    """
    language = os.environ.get("LABKIT_LANG", "pl")
    if language not in ("pl", "en"):
        language = "pl"
    sandbox = os.environ.get("LABKIT_SANDBOX", "auto")
    if sandbox not in ("auto", "required", "off"):
        sandbox = "auto"
    zygote = os.environ.get("LABKIT_ZYGOTE", "on") != "off"
    return Settings(language=language, sandbox=sandbox, zygote=zygote, limits=_limits_from_env())
