"""Plot helpers shared by the notebook's demo cells and the TA report."""
from __future__ import annotations

import numpy as np


def plot_data(X, y, ax=None, title: str = "Dane"):
    """Scatter of the rings coloured by label."""
    import matplotlib.pyplot as plt
    ax = ax or plt.gca()
    ax.scatter(X[:, 0], X[:, 1], c=y, s=4, alpha=0.5, cmap="coolwarm")
    ax.set_aspect("equal")
    ax.set_title(title)
    return ax


def boundary_grid(limit: float = 3.0, steps: int = 121) -> np.ndarray:
    """Points of a square grid (steps**2, 2) on which a decision boundary is drawn."""
    axis = np.linspace(-limit, limit, steps)
    xx, yy = np.meshgrid(axis, axis)
    return np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)


def plot_boundary(proba_on_grid: np.ndarray, X=None, y=None, ax=None, limit: float = 3.0,
                  title: str = "Granica decyzyjna"):
    """Filled contour of P(class 1) on boundary_grid(), with the 0.5 level and optional data."""
    import matplotlib.pyplot as plt
    ax = ax or plt.gca()
    steps = int(round(np.sqrt(proba_on_grid.size)))
    axis = np.linspace(-limit, limit, steps)
    zz = np.asarray(proba_on_grid, dtype=float).reshape(steps, steps)
    ax.contourf(axis, axis, zz, levels=np.linspace(0, 1, 11), cmap="coolwarm", alpha=0.6)
    ax.contour(axis, axis, zz, levels=[0.5], colors="k", linewidths=1)
    if X is not None:
        ax.scatter(X[:, 0], X[:, 1], c=y, s=2, alpha=0.4, cmap="coolwarm")
    ax.set_aspect("equal")
    ax.set_title(title)
    return ax


def plot_losses(losses, ax=None, title: str = "Strata w kolejnych epokach"):
    """Line plot of per-epoch mean losses."""
    import matplotlib.pyplot as plt
    ax = ax or plt.gca()
    ax.plot(range(1, len(losses) + 1), losses, marker="o")
    ax.set_xlabel("epoka")
    ax.set_ylabel("strata BCE")
    ax.set_title(title)
    return ax
