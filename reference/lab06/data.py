"""6.1.3-6.1.4: two noisy rings, and a DataLoader over them."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset


def make_rings(n: int = 5000, r1: float = 1.0, r2: float = 2.0, sd: float = 0.2,
               seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inner ring (radius r1, label 0) in the first n // 2 rows, outer ring (r2, label 1) after."""
    rng = np.random.default_rng(seed)
    n_inner = n // 2
    n_outer = n - n_inner
    t_inner = np.linspace(0, 2 * np.pi, n_inner, endpoint=False)
    t_outer = np.linspace(0, 2 * np.pi, n_outer, endpoint=False)
    radius = np.concatenate([np.full(n_inner, r1), np.full(n_outer, r2)])
    t = np.concatenate([t_inner, t_outer])
    X = np.column_stack([radius * np.cos(t), radius * np.sin(t)])
    X = X + rng.normal(0.0, sd, size=(n, 2))
    y = np.concatenate([np.zeros(n_inner), np.ones(n_outer)])
    return X, y


def make_loader(X: np.ndarray, y: np.ndarray, batch_size: int = 32,
                shuffle: bool = True) -> DataLoader:
    """Wrap float32 tensors of X (n, 2) and y (n,) in a TensorDataset and a DataLoader."""
    data = torch.tensor(X, dtype=torch.float32)
    labels = torch.tensor(y, dtype=torch.float32)
    return DataLoader(TensorDataset(data, labels), batch_size=batch_size, shuffle=shuffle)
