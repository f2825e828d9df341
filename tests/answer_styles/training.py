"""Correct ``train`` cells (part training). New styles go at the end (see data.py)."""
from __future__ import annotations

from .cells import variant

SUM_OVER_LEN = '''\
def train(model, loader, loss_fn, optimizer, n_epochs=4):
    model.train()
    straty = []
    for epoka in range(n_epochs):
        suma = 0.0
        for x_batch, y_batch in loader:
            optimizer.zero_grad()
            proba = model(x_batch)
            loss = loss_fn(proba, y_batch.view(-1, 1))
            loss.backward()
            optimizer.step()
            suma += loss.item()
        straty.append(suma / len(loader))
        print(f"epoka {epoka + 1}: strata {straty[-1]:.4f}")
    return straty
'''

TENSOR_HISTORY = '''\
def train(model, loader, loss_fn, optimizer, n_epochs=4):
    model.train()
    straty = []
    for epoka in range(n_epochs):
        suma, ile = torch.zeros(()), 0
        for x_batch, y_batch in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x_batch), y_batch.reshape(-1, 1))
            loss.backward()
            optimizer.step()
            suma += loss.detach()   # sumujemy tensory; detach, żeby nie trzymać grafu obliczeń
            ile += 1
        straty.append(suma / ile)   # średnia epoki jako tensor 0-d (float32)
        print(f"epoka {epoka + 1}: strata {straty[-1]:.4f}")
    return straty
'''

NP_MEAN = '''\
def train(model, loader, loss_fn, optimizer, n_epochs=4):
    historia = []
    for _ in range(n_epochs):
        model.train()
        batche = []
        for xb, yb in loader:
            strata = loss_fn(model(xb).flatten(), yb)
            optimizer.zero_grad()
            strata.backward()
            optimizer.step()
            batche.append(strata.item())
        historia.append(float(np.mean(batche)))
    return historia
'''

EPOCH_HELPER = '''\
def _epoka(model, loader, loss_fn, optimizer):
    """Jedna epoka; zwraca średnią stratę batchy."""
    suma = 0.0
    for nr, (wejscie, cel) in enumerate(loader, start=1):
        optimizer.zero_grad()
        blad = loss_fn(model(wejscie), cel.unsqueeze(1))
        blad.backward()
        optimizer.step()
        suma += float(blad)
    return suma / nr


def train(model, loader, loss_fn, optimizer, n_epochs=4):
    model.train()
    return [_epoka(model, loader, loss_fn, optimizer) for _ in range(n_epochs)]
'''

WHILE = '''\
def train(model, loader, loss_fn, optimizer, n_epochs=4):
    wyniki = []
    model.train()
    epoka = 0
    while epoka < n_epochs:
        razem = 0.0
        for dane, etykiety in loader:
            model.zero_grad(set_to_none=True)
            wyjscie = model(dane)
            koszt = loss_fn(wyjscie[:, 0], etykiety)
            koszt.backward()
            optimizer.step()
            razem = razem + koszt.item()
        wyniki.append(razem / len(loader))
        epoka += 1
        print("epoka", epoka, "strata", round(wyniki[-1], 4))
    return wyniki
'''

STACK = '''\
def train(model, loader, loss_fn, optimizer, n_epochs=4):
    model.train()
    srednie = []
    for e in range(1, n_epochs + 1):
        kolejne = []
        for batch in loader:
            x, t = batch
            optimizer.zero_grad()
            l = loss_fn(model(x), t.reshape(len(t), 1))
            l.backward()
            optimizer.step()
            kolejne.append(l.detach())
        srednie.append(torch.stack(kolejne).mean().item())
        print(f"[{e}/{n_epochs}] loss={srednie[-1]:.5f}")
    return srednie
'''

CLOSURE = '''\
def train(model, loader, loss_fn, optimizer, n_epochs=4):
    def krok(xb, yb):
        optimizer.zero_grad()
        strata = loss_fn(model(xb), yb[:, None])
        strata.backward()
        optimizer.step()
        return strata.item()

    model.train()
    historia = []
    for epoka in range(n_epochs):
        straty = [krok(xb, yb) for xb, yb in loader]
        historia.append(sum(straty) / len(straty))
        if epoka % 2 == 0:
            print("po epoce", epoka + 1, ":", historia[-1])
    return historia
'''

# zero_grad after step: the gradients are zero before every backward all the same.
ZERO_GRAD_AT_END = variant(
    variant(SUM_OVER_LEN, "            optimizer.zero_grad()\n", ""),
    "            optimizer.step()\n",
    "            optimizer.step()\n            optimizer.zero_grad()\n")

FLATTEN_LOSS = variant(SUM_OVER_LEN, "loss_fn(proba, y_batch.view(-1, 1))", "loss_fn(proba.flatten(), y_batch)")

# zero_grad(set_to_none=False), unsqueezed targets, the epoch's loss summed as a float32 tensor.
KEEP_GRADS = '''\
def train(model, loader, loss_fn, optimizer, n_epochs=4):
    model.train()
    historia = []
    for _ in range(n_epochs):
        suma, ile = torch.zeros(()), 0
        for xb, yb in loader:
            optimizer.zero_grad(set_to_none=False)
            loss = loss_fn(model(xb), yb.unsqueeze(1))
            loss.backward()
            optimizer.step()
            suma = suma + loss.detach()
            ile += 1
        historia.append((suma / ile).item())
        print(historia[-1])
    return historia
'''

MODEL_ZERO_GRAD = '''\
def train(model, loader, loss_fn, optimizer, n_epochs=4):
    model.train()
    historia = []
    for _ in range(n_epochs):
        suma, ile = 0.0, 0
        for xb, yb in loader:
            model.zero_grad()   # zeruje te same gradienty co optimizer.zero_grad()
            loss = loss_fn(model(xb), yb.reshape(len(yb), 1))
            loss.backward()
            optimizer.step()
            suma += loss.item()
            ile += 1
        historia.append(suma / ile)
        print(historia[-1])
    return historia
'''

STYLES: dict[str, str] = {
    "sum / len(loader)": SUM_OVER_LEN,
    "0-d tensor history": TENSOR_HISTORY,
    "np.mean": NP_MEAN,
    "an epoch helper": EPOCH_HELPER,
    "while loop": WHILE,
    "torch.stack": STACK,
    "step(closure)": CLOSURE,
    "zero_grad at end": ZERO_GRAD_AT_END,
    "flatten loss": FLATTEN_LOSS,
    "set_to_none=False": KEEP_GRADS,
    "model.zero_grad()": MODEL_ZERO_GRAD,
}
