"""Reference solution of Laboratorium 6, written as the lab reads.

It is the oracle of the hidden grader: every value a hidden check expects is
computed here, in the trusted process, under the same seeds as the student's code.
"""
from .data import make_loader, make_rings
from .evaluation import dataset_loss, evaluate, predict
from .experiments import BEST_CONFIG, FACTORS, LAB_CONFIG, experiment_grid, run_experiment
from .model import ACTIVATIONS, Klasyfikator
from .training import make_optimizer, train

__all__ = [
    "make_rings", "make_loader", "Klasyfikator", "predict", "evaluate", "dataset_loss",
    "make_optimizer", "train", "run_experiment", "experiment_grid", "LAB_CONFIG", "BEST_CONFIG",
    "FACTORS", "ACTIVATIONS",
]
