"""Correct ``make_loader`` cells (part loader). New styles go at the end (see data.py)."""
from __future__ import annotations

TENSOR_DTYPE = '''\
def make_loader(X, y, batch_size=32, shuffle=True):
    X_t = torch.tensor(X, dtype=torch.float32)
    y_t = torch.tensor(y, dtype=torch.float32)
    zbior = TensorDataset(X_t, y_t)
    return DataLoader(zbior, batch_size=batch_size, shuffle=shuffle)
'''

FROM_NUMPY = '''\
def make_loader(X, y, batch_size=32, shuffle=True):
    Xt = torch.from_numpy(np.asarray(X, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
    return DataLoader(TensorDataset(Xt, yt), batch_size=batch_size, shuffle=shuffle)
'''

AS_TENSOR = '''\
def make_loader(X, y, batch_size=32, shuffle=True):
    cechy = torch.as_tensor(X).float()
    cele = torch.as_tensor(y).float()
    return DataLoader(TensorDataset(cechy, cele), batch_size, shuffle)
'''

FLOAT_TENSOR = '''\
def make_loader(X, y, batch_size=32, shuffle=True):
    pary = TensorDataset(torch.FloatTensor(np.array(X)), torch.FloatTensor(np.array(y)))
    ladowarka = DataLoader(pary, shuffle=shuffle, batch_size=batch_size)
    return ladowarka
'''

STYLES: dict[str, str] = {
    "torch.tensor(dtype=float32)": TENSOR_DTYPE,
    "torch.from_numpy": FROM_NUMPY,
    "torch.as_tensor().float()": AS_TENSOR,
    "torch.FloatTensor": FLOAT_TENSOR,
}
