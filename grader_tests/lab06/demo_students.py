"""lab06's demo class for ``./kit demo``: the reference, an untouched release, and two
plausible mistakes that each cost only their own part. Loaded by labkit/cli/demo.py by path,
also for lab06_en (same contract, same solution code)."""
from __future__ import annotations

from labkit.term.submissions import solution_sources


def students(assignment) -> dict[str, dict[str, str] | None]:
    """student -> replaced solution cells ({}: the reference as it is; None: nothing filled in)."""
    solutions = solution_sources(assignment.notebook)
    half_circle = solutions["data_solution"].replace(
        "np.linspace(0, 2 * np.pi, n_inner, endpoint=False)", "np.linspace(0, np.pi, n_inner)").replace(
        "np.linspace(0, 2 * np.pi, n_outer, endpoint=False)", "np.linspace(0, np.pi, n_outer)")
    no_zero_grad = "\n".join(line for line in solutions["training_solution"].splitlines()
                             if "zero_grad" not in line)
    if half_circle == solutions["data_solution"] or no_zero_grad == solutions["training_solution"]:
        raise ValueError(f"{assignment.id}: the demo's mistakes no longer apply to the solution code")
    return {
        "ala_reference": {},
        "bartek_untouched": None,
        "celina_half_circle": {"data_solution": half_circle},
        "darek_no_zero_grad": {"training_solution": no_zero_grad},
    }
