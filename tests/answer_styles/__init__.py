"""Every correct way we know to write lab06's answer cells, other than the instructor's, as the
whole-cell source a student would type. One place for them, used by:

- tests/corpus.py, which grades a selection of them and expects full marks (and builds its
  mistakes as ``variant``s of them);
- bench/calibrate.py, which measures every threshold on each style of the checked functions;
- tests/similarity_class.py, which fills independent students' notebooks with them.

One module per answer cell, each with a ``STYLES`` dict (name -> cell source) in a fixed order.
"""
from . import data, evaluation, experiments, loader, loss, model, training
from .cells import define, given_code, notebook_namespace, variant

# grade_id of the answer cell -> its styles
BY_CELL: dict[str, dict[str, str]] = {
    "data_solution": data.STYLES,
    "loader_solution": loader.STYLES,
    "model_solution": model.STYLES,
    "loss_solution": evaluation.STYLES,
    "loss_solution_dataset_loss": loss.STYLES,
    "training_solution": training.STYLES,
    "experiments_solution": experiments.RUN,
    "experiments_solution_grid": experiments.GRID,
    "experiments_solution_results": experiments.RESULTS,
    "experiments_solution_best": experiments.BEST,
}

__all__ = ["BY_CELL", "data", "define", "evaluation", "experiments", "given_code", "loader", "loss", "model",
           "notebook_namespace", "training", "variant"]
