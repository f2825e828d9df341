"""6.1.7-6.1.8: Adam and the training loop."""
from __future__ import annotations

import torch


def make_optimizer(model, lr: float = 0.01) -> torch.optim.Optimizer:
    """Adam over all of the model's parameters."""
    return torch.optim.Adam(model.parameters(), lr=lr)


def train(model, loader, loss_fn, optimizer, n_epochs: int = 4) -> list[float]:
    """Train in place; return the mean batch loss of each epoch."""
    model.train()
    history = []
    for epoch in range(n_epochs):
        total, batches = 0.0, 0
        for x_batch, y_batch in loader:
            optimizer.zero_grad()
            proba = model(x_batch)
            loss = loss_fn(proba, y_batch.reshape(-1, 1))
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        history.append(total / batches)
        print(f"Epoka {epoch + 1}/{n_epochs}, strata: {history[-1]:.4f}")
    return history
