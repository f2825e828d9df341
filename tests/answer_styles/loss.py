"""Correct ``dataset_loss`` cells (part loss)."""
from __future__ import annotations

ITEM = '''\
def dataset_loss(model, X, y, loss_fn):
    model.eval()
    with torch.no_grad():
        p = model(X)
        strata = loss_fn(p, y.reshape(-1, 1))
    return strata.item()
'''

FLATTEN = '''\
def dataset_loss(model, X, y, loss_fn):
    model.eval()
    with torch.no_grad():
        return float(loss_fn(model(X).flatten(), y))
'''

# The mean over the whole set computed batch by batch, weighted by each batch's size.
BATCHED_MEAN = '''\
def dataset_loss(model, X, y, loss_fn):
    model.eval()
    suma = 0.0
    with torch.no_grad():
        for i in range(0, len(X), 64):
            xb, yb = X[i:i + 64], y[i:i + 64]
            suma += float(loss_fn(model(xb), yb.reshape(-1, 1))) * len(xb)
    return suma / len(X)
'''

# The 0-d float32 tensor itself (the contract says float; a torch scalar is one).
TENSOR_0D = '''\
def dataset_loss(model, X, y, loss_fn):
    model.eval()
    with torch.no_grad():
        return loss_fn(model(X), y.reshape(-1, 1))
'''

NUMPY_FLOAT32 = '''\
def dataset_loss(model, X, y, loss_fn):
    model.eval()
    with torch.no_grad():
        return loss_fn(model(X), y.reshape(-1, 1)).numpy()[()]   # skalar np.float32
'''

STYLES: dict[str, str] = {
    ".item()": ITEM,
    "flatten": FLATTEN,
    "batched mean": BATCHED_MEAN,
    "0-d tensor": TENSOR_0D,
    "np.float32": NUMPY_FLOAT32,
}
