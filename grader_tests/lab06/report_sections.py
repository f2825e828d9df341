"""lab06's part of the TA report: what each student's BEST_CONFIG and RESULTS look like.

Loaded by labkit/insight/report.py by path (``report_sections`` in assignment.toml); the markup is
report.html.j2 beside this file (block ``student_extra``). Per student, from the grader's
artifacts: the decision boundary of BEST_CONFIG over the reference rings, its loss curve,
the RESULTS rows' test accuracy per factor, and BEST_CONFIG with its held-out accuracies.

Artifacts come from student code: every figure is drawn through ``helpers.figure`` (a
malformed artifact becomes a "could not be drawn" note), and every student string that
reaches matplotlib goes through ``helpers.plain`` (no mathtext).
"""
from __future__ import annotations

import json
import math
import statistics
import sys
from types import ModuleType
from typing import Any

# Figures a submission may lack, as the TA reads them: (name, artifact key).
EXPECTED = (("decision boundary", "boundary"), ("loss curve", "best_losses"), ("RESULTS", "results"))


def student_context(result, helpers) -> dict[str, Any]:
    """What report.html.j2's ``student_extra`` shows for one graded submission."""
    a = result.artifacts if isinstance(result.artifacts, dict) else {}
    figures = []
    if a.get("boundary") is not None:
        figures.append(helpers.figure("Decision boundary of BEST_CONFIG over the rings", boundary_png,
                                      helpers, a["boundary"], a.get("best_config"), css="boundary"))
    if a.get("best_losses"):
        figures.append(helpers.figure("Loss per epoch of the student's train on BEST_CONFIG", losses_png,
                                      helpers, a["best_losses"], css="losses"))
    if a.get("results"):
        figures.append(helpers.figure("RESULTS per factor", results_png, helpers, a["results"],
                                      css="results-chart"))
    return {
        "figures": figures,
        "missing": [name for name, key in EXPECTED if not a.get(key)],
        "best_config": (json.dumps(a["best_config"], ensure_ascii=False)[:500]
                        if a.get("best_config") is not None else None),
        "accuracies": _accuracies(a.get("best_accuracies"), helpers),
        "reference_accuracy": (helpers.fmt(a["best_reference_accuracy"], 4)
                               if a.get("best_reference_accuracy") is not None else None),
    }


def _accuracies(value, helpers) -> str | None:
    """BEST_CONFIG's held-out accuracy per grader seed, as text."""
    if value is None:
        return None
    return ", ".join(helpers.fmt(v, 4) for v in value) if isinstance(value, list) else str(value)


def _reference(helpers) -> ModuleType:
    """``reference.lab06`` (rings, plots, FACTORS): its parent folder goes on sys.path, as in
    the trusted grader, since this file is loaded by path rather than imported."""
    root = str(helpers.assignment.reference.parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    import reference.lab06.plots   # not imported by the package itself
    return reference.lab06


def boundary_png(helpers, boundary, best_config: dict | None) -> str:
    import numpy as np
    ref = _reference(helpers)
    grid = np.asarray(boundary, dtype=float).ravel()
    steps = int(round(math.sqrt(grid.size)))
    if steps < 2 or steps * steps != grid.size or not np.all(np.isfinite(grid)):
        raise ValueError(f"boundary has {grid.size} values, not a finite square grid")
    sd = 0.2
    if isinstance(best_config, dict):
        try:
            sd = min(max(float(best_config.get("sd", 0.2)), 0.0), 1.0)
        except (TypeError, ValueError):
            pass
    X, y = ref.make_rings(n=600, sd=sd, seed=0)   # the reference rings, never the student's
    fig, ax = helpers.plt().subplots(figsize=(3.4, 3.4))
    ref.plots.plot_boundary(np.clip(grid, 0.0, 1.0), X, y, ax=ax, title="BEST_CONFIG: P(class 1)")
    return helpers.png(fig)


def losses_png(helpers, losses) -> str:
    ref = _reference(helpers)
    values = [float(v) for v in losses]
    if not values:
        raise ValueError("no losses")
    fig, ax = helpers.plt().subplots(figsize=(3.8, 3.0))
    ref.plots.plot_losses(values, ax=ax, title="BEST_CONFIG training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean BCE")
    if all(v > 0 and math.isfinite(v) for v in values) and max(values) / min(values) > 30:
        ax.set_yscale("log")
    return helpers.png(fig)


def factor_value(factor: str, config) -> str:
    """The value a RESULTS row varies: ``hidden`` as "16-16" for the two size factors."""
    if not isinstance(config, dict):
        return "?"
    if factor in ("hidden_size", "n_layers"):
        hidden = config.get("hidden")
        if isinstance(hidden, (list, tuple)):
            return "-".join(str(h) for h in hidden) or "()"
        return str(hidden)
    return str(config.get(factor, "?"))


def _accuracies_by_factor(rows) -> dict[str, dict[str, list[float]]]:
    """factor -> value -> test accuracies, skipping rows that are not usable."""
    by_factor: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        try:
            acc = float(row.get("test_accuracy"))
        except (TypeError, ValueError):
            continue
        if not math.isfinite(acc):
            continue
        factor = str(row.get("factor", "?"))
        by_factor.setdefault(factor, {}).setdefault(factor_value(factor, row.get("config")), []).append(acc)
    return by_factor


def results_png(helpers, rows) -> str:
    by_factor = _accuracies_by_factor(rows)
    if not by_factor:
        raise ValueError("no usable RESULTS rows")
    factors = _reference(helpers).FACTORS   # the lab's order; a student's own factors go last
    order = ([f for f in factors if f in by_factor] + sorted(f for f in by_factor if f not in factors))[:12]
    cols = 4
    nrows = int(math.ceil(len(order) / cols))
    fig, axes = helpers.plt().subplots(nrows, cols, figsize=(9.6, 2.2 * nrows), squeeze=False, sharey=True)
    for ax in axes.ravel()[len(order):]:
        ax.set_visible(False)
    for ax, factor in zip(axes.ravel(), order):
        values = list(by_factor[factor])[:8]
        xs = list(range(len(values)))
        for x, v in zip(xs, values):
            ax.plot([x] * len(by_factor[factor][v]), by_factor[factor][v], "o", color="#4c72b0", ms=4)
        ax.plot(xs, [statistics.fmean(by_factor[factor][v]) for v in values], "-", color="#4c72b0", alpha=0.6)
        ax.set_xticks(xs)
        ax.set_xticklabels([helpers.plain(v, 10) for v in values], fontsize=8)
        ax.set_title(helpers.plain(factor), fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy")
    fig.suptitle("RESULTS: test accuracy per factor", fontsize=10)
    fig.tight_layout()
    return helpers.png(fig)
