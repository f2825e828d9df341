"""Correct ``predict`` + ``evaluate`` cells (part loss). New styles go at the end (see data.py)."""
from __future__ import annotations

from .cells import variant

SKLEARN_BOOL = '''\
def predict(model, X):
    model.eval()
    with torch.no_grad():
        return (model(X) > 0.5).numpy()   # bool, kształt (N, 1)


def evaluate(model, X, y):
    y_pred = predict(model, X).ravel().astype(int)
    y_true = np.asarray(y).astype(int)
    return float(accuracy_score(y_true, y_pred)), confusion_matrix(y_true, y_pred, labels=[0, 1])
'''

TORCH_ACCURACY = '''\
def predict(model, X):
    model.eval()
    with torch.no_grad():
        return (model(X) > 0.5).long().flatten().numpy()


def evaluate(model, X, y):
    y_pred = predict(model, X)
    y_true = np.asarray(y).astype(int)
    # Dokładność policzona w PyTorchu (średnia trafień w float32), macierz pomyłek ze scikit-learn.
    trafienia = torch.tensor(y_pred == y_true, dtype=torch.float32)
    return trafienia.mean().item(), confusion_matrix(y_true, y_pred, labels=[0, 1])
'''

ROUND = '''\
def predict(model, X):
    model.eval()
    with torch.no_grad():
        wyjscie = model(X).squeeze(1)
    return torch.round(wyjscie).to(torch.int64).numpy()


def evaluate(model, X, y):
    przewidziane = predict(model, X)
    prawdziwe = np.array(y, dtype=np.int64)
    trafnosc = np.mean(przewidziane == prawdziwe)
    macierz = confusion_matrix(prawdziwe, przewidziane, labels=[0, 1])
    return float(trafnosc), macierz
'''

MANUAL_CONFUSION = '''\
def predict(model, X):
    model.train(False)
    with torch.inference_mode():
        p = model(X)
    etykiety = torch.where(p > 0.5, 1, 0)
    return etykiety.view(-1).numpy()


def evaluate(model, X, y):
    yp = predict(model, X)
    yt = np.asarray(y, dtype=int)
    cm = np.zeros((2, 2), dtype=np.int64)
    for prawda, przewid in zip(yt, yp):
        cm[prawda, przewid] += 1
    return cm.trace() / cm.sum(), cm
'''

BINCOUNT = '''\
def predict(model, X):
    model.eval()
    with torch.no_grad():
        return np.asarray(model(X).numpy().ravel() > 0.5, dtype=np.int64)


def evaluate(model, X, y):
    przewidywania = predict(model, X)
    cele = np.asarray(y).astype(np.int64)
    zliczenia = np.bincount(2 * cele + przewidywania, minlength=4).reshape(2, 2)
    return accuracy_score(cele, przewidywania), zliczenia
'''

HELPER = '''\
def _na_numpy(t):
    """Tensor -> płaska tablica NumPy (bez grafu obliczeń)."""
    return t.detach().cpu().numpy().reshape(-1)


def predict(model, X):
    model.eval()
    with torch.no_grad():
        prawdop = _na_numpy(model(X))
    return (prawdop > 0.5).astype(int)


def evaluate(model, X, y):
    y = np.asarray(y).astype(int)
    pred = predict(model, X)
    return float((pred == y).sum() / len(y)), confusion_matrix(y, pred, labels=[0, 1])
'''

LIST = '''\
def predict(model, X):
    model.eval()
    with torch.no_grad():
        wyniki = model(X).tolist()
    return np.array([1 if w[0] > 0.5 else 0 for w in wyniki])


def evaluate(model, X, y):
    etyk = predict(model, X)
    prawda = [int(v) for v in y]
    cm = confusion_matrix(prawda, etyk, labels=[0, 1])
    dokl = (cm[0, 0] + cm[1, 1]) / cm.sum()
    return float(dokl), cm
'''

# The accuracy left a 0-d float32 tensor (a torch scalar where the contract has a float).
TENSOR_ACCURACY = variant(TORCH_ACCURACY, "trafienia.mean().item()", "trafienia.mean()")

# np.mean in float32: an np.float32 scalar.
NUMPY_FLOAT32_ACCURACY = variant(variant(
    TORCH_ACCURACY, "w PyTorchu (średnia trafień w float32)", "w NumPy (średnia trafień w float32)"), "trafienia = torch.tensor(y_pred == y_true, dtype=torch.float32)\n    return trafienia.mean().item()",
    "trafienia = (y_pred == y_true).astype(np.float32)\n    return np.mean(trafienia)")

STYLES: dict[str, str] = {
    "sklearn, bool predictions": SKLEARN_BOOL,
    "float32 mean .item()": TORCH_ACCURACY,
    "round()": ROUND,
    "confusion matrix by hand": MANUAL_CONFUSION,
    "np.bincount": BINCOUNT,
    "a to-numpy helper": HELPER,
    "Python lists": LIST,
    "0-d float32 tensor": TENSOR_ACCURACY,
    "np.float32": NUMPY_FLOAT32_ACCURACY,
}
