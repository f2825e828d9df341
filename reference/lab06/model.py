"""6.1.5: a small fully connected classifier ending in a sigmoid."""
from __future__ import annotations

from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
}


class Klasyfikator(nn.Module):
    """Linear(2, h1), activation, ..., Linear(h_last, 1), Sigmoid."""

    def __init__(self, hidden: tuple[int, ...] = (4, 2), activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        layers: list[nn.Module] = []
        width = 2
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        layers += [nn.Linear(width, 1), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def n_parameters(hidden: tuple[int, ...]) -> int:
    """Number of scalar parameters of Klasyfikator(hidden): weights plus biases."""
    widths = [2, *hidden, 1]
    return sum(a * b + b for a, b in zip(widths, widths[1:]))
