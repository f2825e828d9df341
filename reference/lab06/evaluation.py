"""6.1.5-6.1.6: predictions, accuracy, confusion matrix and the loss over a dataset."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix


def predict(model, X: torch.Tensor) -> np.ndarray:
    """Labels 0/1: probability of class 1 above 0.5."""
    model.eval()
    with torch.no_grad():
        proba = model(X)
    return (proba > 0.5).flatten().numpy().astype(np.int64)


def evaluate(model, X: torch.Tensor, y) -> tuple[float, np.ndarray]:
    """Accuracy and the 2x2 confusion matrix, computed with scikit-learn."""
    y_true = np.asarray(y).astype(np.int64)
    y_pred = predict(model, X)
    accuracy = float(accuracy_score(y_true, y_pred))
    confusion = confusion_matrix(y_true, y_pred, labels=[0, 1])
    return accuracy, confusion


def dataset_loss(model, X: torch.Tensor, y: torch.Tensor, loss_fn) -> float:
    """Mean of loss_fn over the whole dataset, in eval mode and without gradients."""
    model.eval()
    with torch.no_grad():
        proba = model(X)
        return float(loss_fn(proba, y.reshape(-1, 1)))
