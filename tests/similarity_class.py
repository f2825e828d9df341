"""A generated class for calibrating and testing labkit/insight/similarity.py ("who copied from whom").

``generate_class(dest, n_students=40)`` writes a class of nbgrader submissions of lab06:

- **independent** students: the release filled with one style per answer cell from
  ``STYLES`` (structurally different correct ways to write that cell: names, comments and
  strings do not make a style, copydetect normalizes them away). The style vectors are the
  lines of the affine plane over GF(7): student (a, b) uses style (a + b*x) mod 7 in design
  cell x = 0..6 and style b in cell 7. Two distinct lines meet in at most one point, so two
  independent students share a style in at most one cell, by construction
  (``check_design`` asserts it). Each also picks their own BEST_CONFIG numbers; the
  one-line cells (optimizer, dataset_loss) are the instructor's;
- **reference** students: the instructor's solution verbatim;
- **planted copies**: pairs and clusters of three, each copy made from another student's
  notebook by ``disguise``: local variables and helpers renamed consistently (never a
  contract name), comments removed/added, blank lines and spacing changed, string literals
  (print messages, docstrings) changed, independent function definitions reordered inside a
  cell, a helper moved to a new cell; one copy also rewrote one cell in another style.

Everything is derived from ``seed``: the same arguments give the same notebooks.
Above 49 independent students (the bench's 200) the extra ones get random style vectors,
which no longer satisfy the design; only the class of 40 is used for calibration.
"""
from __future__ import annotations

import ast
import builtins
import io
import itertools
import json
import random
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import corpus
from hostile import MODEL_MODULELIST
from labkit.term.submissions import solution_sources

# --------------------------------------------------------------------------- styles
# STYLES[grade_id][i]: whole-cell source of style i of that answer cell. The corpus's correct
# styles (tests/corpus.py) come first where they exist; none is the instructor's solution.
# Cells that start with given code in the release (LAB_CONFIG, header comments) keep it.
EXPERIMENTS_HEADER = '''\
# Ustawienia z laboratorium: punkt wyjścia każdego eksperymentu.
LAB_CONFIG = {"n": 5000, "sd": 0.2, "hidden": (4, 2), "activation": "relu",
              "lr": 0.01, "n_epochs": 4, "batch_size": 32}


'''
GRID_HEADER = "# Plan eksperymentów: lista par (czynnik, konfiguracja).\n"
RESULTS_HEADER = "# RESULTS: jeden wiersz na każde uruchomienie run_experiment.\n"
BEST_HEADER = "# BEST_CONFIG: słownik z tymi samymi kluczami co LAB_CONFIG, n = 5000 i sd = 0.2.\n"

# --------------------------------------------------------------------------- make_rings
RINGS_COMPLEX = '''\
def _okrag(promien, ile):
    """Punkty na okręgu jako liczby zespolone promien * e^(i*kąt)."""
    return promien * np.exp(2j * np.pi * np.arange(ile) / ile)


def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
    rng = np.random.default_rng(seed)
    ile_wew = n // 2
    z = np.concatenate([_okrag(r1, ile_wew), _okrag(r2, n - ile_wew)])
    z = z + rng.normal(0, sd, n) + 1j * rng.normal(0, sd, n)
    X = np.column_stack([z.real, z.imag])
    y = np.where(np.arange(n) < ile_wew, 0.0, 1.0)
    return X, y
'''

RINGS_LOOP = '''\
import math


def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
    gen = np.random.default_rng(seed)
    punkty, etykiety = [], []
    polowa = n // 2
    for i in range(n):
        if i < polowa:
            r, m, j, klasa = r1, polowa, i, 0.0
        else:
            r, m, j, klasa = r2, n - polowa, i - polowa, 1.0
        kat = 2 * math.pi * j / m
        punkty.append([r * math.cos(kat), r * math.sin(kat)])
        etykiety.append(klasa)
    X = np.array(punkty) + gen.normal(scale=sd, size=(n, 2))
    return X, np.array(etykiety)
'''

# --------------------------------------------------------------------------- make_loader
LOADER_FROM_NUMPY = '''\
def make_loader(X, y, batch_size=32, shuffle=True):
    Xt = torch.from_numpy(np.asarray(X, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
    return DataLoader(TensorDataset(Xt, yt), batch_size=batch_size, shuffle=shuffle)
'''

LOADER_AS_TENSOR = '''\
def make_loader(X, y, batch_size=32, shuffle=True):
    cechy = torch.as_tensor(X).float()
    cele = torch.as_tensor(y).float()
    return DataLoader(TensorDataset(cechy, cele), batch_size, shuffle)
'''

LOADER_FLOAT_TENSOR = '''\
def make_loader(X, y, batch_size=32, shuffle=True):
    pary = TensorDataset(torch.FloatTensor(np.array(X)), torch.FloatTensor(np.array(y)))
    ladowarka = DataLoader(pary, shuffle=shuffle, batch_size=batch_size)
    return ladowarka
'''

# --------------------------------------------------------------------------- model
# The hostile corpus's honest ModuleList style (hidden layers in a ModuleList, activation as a function).
MODEL_OUTPUT_LAYER = MODEL_MODULELIST

MODEL_PARAMETERS = '''\
class Klasyfikator(nn.Module):
    def __init__(self, hidden=(4, 2), activation="relu"):
        super().__init__()
        self.nazwa_aktywacji = activation
        self.ile = 0
        wej = 2
        for wyj in list(hidden) + [1]:
            warstwa = nn.Linear(wej, wyj)   # tylko dla domyślnej inicjalizacji PyTorcha
            self.register_parameter(f"w{self.ile}", nn.Parameter(warstwa.weight.detach().clone()))
            self.register_parameter(f"b{self.ile}", nn.Parameter(warstwa.bias.detach().clone()))
            self.ile += 1
            wej = wyj

    def aktywuj(self, z):
        if self.nazwa_aktywacji == "relu":
            return torch.clamp(z, min=0)
        if self.nazwa_aktywacji == "tanh":
            return torch.tanh(z)
        if self.nazwa_aktywacji == "sigmoid":
            return 1 / (1 + torch.exp(-z))
        return torch.where(z > 0, z, 0.01 * z)

    def forward(self, x):
        for i in range(self.ile):
            x = x @ getattr(self, f"w{i}").T + getattr(self, f"b{i}")
            x = torch.sigmoid(x) if i == self.ile - 1 else self.aktywuj(x)
        return x
'''

MODEL_ORDERED_DICT = '''\
from collections import OrderedDict


class Klasyfikator(nn.Module):
    def __init__(self, hidden=(4, 2), activation="relu"):
        super().__init__()
        klasa_aktywacji = dict(relu=nn.ReLU, tanh=nn.Tanh, sigmoid=nn.Sigmoid,
                               leaky_relu=nn.LeakyReLU)[activation]
        kroki = OrderedDict()
        rozmiary = (2,) + tuple(hidden)
        for nr in range(len(hidden)):
            kroki[f"liniowa{nr}"] = nn.Linear(rozmiary[nr], rozmiary[nr + 1])
            kroki[f"aktywacja{nr}"] = klasa_aktywacji()
        kroki["wyjscie"] = nn.Linear(rozmiary[-1], 1)
        kroki["sigmoida"] = nn.Sigmoid()
        self.siec = nn.Sequential(kroki)

    def forward(self, x):
        return self.siec(x)
'''

MODEL_ADD_MODULE = '''\
import torch.nn.functional as F


class Klasyfikator(nn.Module):
    def __init__(self, hidden=(4, 2), activation="relu"):
        super().__init__()
        self.aktywacja = getattr(F, activation) if activation != "sigmoid" else torch.sigmoid
        self.liczba = 0
        poprzedni = 2
        for szer in hidden:
            self.add_module(f"ukryta_{self.liczba}", nn.Linear(poprzedni, szer))
            self.liczba += 1
            poprzedni = szer
        self.koncowa = nn.Linear(poprzedni, 1)

    def forward(self, x):
        h = x
        for nr in range(self.liczba):
            h = self.aktywacja(getattr(self, f"ukryta_{nr}")(h))
        return torch.sigmoid(self.koncowa(h))
'''

# --------------------------------------------------------------------------- predict / evaluate
PREDICT_ROUND = '''\
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

PREDICT_MANUAL_CONFUSION = '''\
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

PREDICT_BINCOUNT = '''\
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

PREDICT_HELPER = '''\
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

PREDICT_LIST = '''\
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

# --------------------------------------------------------------------------- train
TRAIN_NP_MEAN = '''\
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

TRAIN_EPOCH_HELPER = '''\
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

TRAIN_WHILE = '''\
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

TRAIN_STACK = '''\
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

TRAIN_CLOSURE = '''\
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

# --------------------------------------------------------------------------- run_experiment
EXP_INLINE = EXPERIMENTS_HEADER + '''\
def run_experiment(config, seed=0):
    torch.manual_seed(seed)
    Xtr, ytr = make_rings(n=config["n"], sd=config["sd"], seed=seed)
    Xte, yte = make_rings(n=2000, sd=config["sd"], seed=seed + 1)
    siec = Klasyfikator(hidden=tuple(config["hidden"]), activation=config["activation"])
    opt = make_optimizer(siec, lr=config["lr"])
    przebieg = train(siec, make_loader(Xtr, ytr, batch_size=config["batch_size"]), nn.BCELoss(), opt,
                     n_epochs=config["n_epochs"])
    acc, _ = evaluate(siec, torch.tensor(Xte, dtype=torch.float32), yte)
    return {"losses": przebieg, "test_accuracy": acc}
'''

EXP_BUILD_HELPER = EXPERIMENTS_HEADER + '''\
def _zbuduj(config):
    """Model i optymalizator dla danej konfiguracji."""
    model = Klasyfikator(tuple(config["hidden"]), config["activation"])
    return model, make_optimizer(model, config["lr"])


def run_experiment(config, seed=0):
    torch.manual_seed(seed)
    model, optymalizator = _zbuduj(config)
    dane = make_rings(config["n"], sd=config["sd"], seed=seed)
    straty = train(model, make_loader(*dane, batch_size=config["batch_size"]), nn.BCELoss(),
                   optymalizator, config["n_epochs"])
    test = make_rings(2000, sd=config["sd"], seed=seed + 1)
    return {"losses": straty, "test_accuracy": evaluate(model, torch.tensor(test[0]).float(), test[1])[0]}
'''

EXP_UNPACK = EXPERIMENTS_HEADER + '''\
def run_experiment(config, seed=0):
    n, sd, hidden = config["n"], config["sd"], config["hidden"]
    activation, lr = config["activation"], config["lr"]
    n_epochs, batch_size = config["n_epochs"], config["batch_size"]
    torch.manual_seed(seed)
    X, y = make_rings(n, sd=sd, seed=seed)
    model = Klasyfikator(tuple(hidden), activation)
    losses = train(model, make_loader(X, y, batch_size), nn.BCELoss(), make_optimizer(model, lr), n_epochs)
    X_test, y_test = make_rings(2000, sd=sd, seed=seed + 1)
    accuracy = evaluate(model, torch.from_numpy(X_test).float(), y_test)[0]
    return dict(losses=losses, test_accuracy=accuracy)
'''

EXP_MERGED = EXPERIMENTS_HEADER + '''\
def run_experiment(config, seed=0):
    ust = {**LAB_CONFIG, **config}
    torch.manual_seed(seed)
    dane_uczace = make_rings(ust["n"], sd=ust["sd"], seed=seed)
    dane_testowe = make_rings(2000, sd=ust["sd"], seed=seed + 1)
    ladowarka = make_loader(*dane_uczace, batch_size=ust["batch_size"])
    klasyf = Klasyfikator(tuple(ust["hidden"]), ust["activation"])
    optim = make_optimizer(klasyf, lr=ust["lr"])
    krzywa = train(klasyf, ladowarka, nn.BCELoss(), optim, n_epochs=ust["n_epochs"])
    X_test = torch.tensor(dane_testowe[0], dtype=torch.float32)
    dokladnosc, macierz = evaluate(klasyf, X_test, dane_testowe[1])
    return {"losses": krzywa, "test_accuracy": float(dokladnosc)}
'''

EXP_POSITIONAL = EXPERIMENTS_HEADER + '''\
def run_experiment(config, seed=0):
    torch.manual_seed(seed)
    np.random.seed(seed)
    c = config
    zbior = make_loader(*make_rings(c["n"], 1.0, 2.0, c["sd"], seed), c["batch_size"])
    m = Klasyfikator(hidden=tuple(c["hidden"]), activation=c["activation"])
    straty = train(m, zbior, nn.BCELoss(), torch.optim.Adam(m.parameters(), lr=c["lr"]), c["n_epochs"])
    Xt, yt = make_rings(2000, 1.0, 2.0, c["sd"], seed + 1)
    with torch.no_grad():
        trafnosc = evaluate(m, torch.as_tensor(Xt, dtype=torch.float32), yt)[0]
    return {"test_accuracy": trafnosc, "losses": straty}
'''

EXP_TEST_HELPER = EXPERIMENTS_HEADER + '''\
def _dokladnosc_testowa(model, sd, seed):
    """Dokładność na świeżych 2000 punktach z innego ziarna niż trening."""
    X_test, y_test = make_rings(2000, sd=sd, seed=seed)
    return evaluate(model, torch.tensor(X_test, dtype=torch.float32), y_test)[0]


def run_experiment(config, seed=0):
    torch.manual_seed(seed)
    X, y = make_rings(config["n"], sd=config["sd"], seed=seed)
    model = Klasyfikator(tuple(config["hidden"]), config["activation"])
    historia = train(model, make_loader(X, y, config["batch_size"], True), nn.BCELoss(),
                     make_optimizer(model, config["lr"]), n_epochs=config["n_epochs"])
    return {"losses": historia, "test_accuracy": _dokladnosc_testowa(model, config["sd"], seed + 1)}
'''

EXP_CHECKED = EXPERIMENTS_HEADER + '''\
def run_experiment(config, seed=0):
    wymagane = ("n", "sd", "hidden", "activation", "lr", "n_epochs", "batch_size")
    brak = [k for k in wymagane if k not in config]
    if brak:
        raise KeyError(f"brak kluczy {brak}")
    torch.manual_seed(seed)
    X_tr, y_tr = make_rings(config["n"], sd=config["sd"], seed=seed)
    net = Klasyfikator(tuple(config["hidden"]), config["activation"])
    hist = train(net, make_loader(X_tr, y_tr, batch_size=config["batch_size"], shuffle=True),
                 nn.BCELoss(), make_optimizer(net, lr=config["lr"]), n_epochs=config["n_epochs"])
    X_te, y_te = make_rings(2000, sd=config["sd"], seed=seed + 1)
    wynik = evaluate(net, torch.tensor(X_te).float(), y_te)
    return {"losses": hist, "test_accuracy": float(wynik[0])}
'''

# --------------------------------------------------------------------------- EXPERIMENT_GRID
GRID_LOOPS = GRID_HEADER + '''\
EXPERIMENT_GRID = []
for h in (2, 8, 24):
    EXPERIMENT_GRID.append(("hidden_size", {**LAB_CONFIG, "hidden": (h, h)}))
for warstwy in (1, 2, 3):
    EXPERIMENT_GRID.append(("n_layers", {**LAB_CONFIG, "hidden": (8,) * warstwy}))
for a in ("relu", "tanh", "leaky_relu"):
    EXPERIMENT_GRID.append(("activation", {**LAB_CONFIG, "activation": a}))
for lr in (0.003, 0.01, 0.05):
    EXPERIMENT_GRID.append(("lr", {**LAB_CONFIG, "lr": lr}))
for e in (1, 3, 6):
    EXPERIMENT_GRID.append(("n_epochs", {**LAB_CONFIG, "n_epochs": e}))
for b in (8, 32, 128):
    EXPERIMENT_GRID.append(("batch_size", {**LAB_CONFIG, "batch_size": b}))
for n in (300, 1000, 3000):
    EXPERIMENT_GRID.append(("n", {**LAB_CONFIG, "n": n}))
for sd in (0.05, 0.25, 0.45):
    EXPERIMENT_GRID.append(("sd", {**LAB_CONFIG, "sd": sd}))
'''

GRID_TABLE = GRID_HEADER + '''\
CZYNNIKI = [
    ("hidden_size", "hidden", [(4, 4), (12, 12), (20, 20)]),
    ("n_layers", "hidden", [(6,), (6, 6), (6, 6, 6)]),
    ("activation", "activation", ["tanh", "relu", "sigmoid"]),
    ("lr", "lr", [0.0005, 0.005, 0.05]),
    ("n_epochs", "n_epochs", [2, 3, 5]),
    ("batch_size", "batch_size", [32, 100, 500]),
    ("n", "n", [250, 750, 2500]),
    ("sd", "sd", [0.15, 0.35, 0.6]),
]
EXPERIMENT_GRID = [(nazwa, dict(LAB_CONFIG, **{klucz: w}))
                   for nazwa, klucz, wartosci in CZYNNIKI for w in wartosci]
'''

GRID_GENERATOR = GRID_HEADER + '''\
def _plan():
    """Po trzy wartości każdego czynnika, reszta jak w LAB_CONFIG."""
    yield from (("hidden_size", {"hidden": (k, k)}) for k in (3, 6, 12))
    yield from (("n_layers", {"hidden": (10,) * k}) for k in (1, 2, 4))
    yield from (("activation", {"activation": a}) for a in ("relu", "tanh", "leaky_relu"))
    yield from (("lr", {"lr": 10.0 ** p}) for p in (-3, -2, -1))
    yield from (("n_epochs", {"n_epochs": k}) for k in (1, 2, 4))
    yield from (("batch_size", {"batch_size": 2 ** p}) for p in (4, 6, 8))
    yield from (("n", {"n": k}) for k in (400, 1200, 3600))
    yield from (("sd", {"sd": s}) for s in (0.1, 0.2, 0.4))


EXPERIMENT_GRID = [(czynnik, {**LAB_CONFIG, **zmiana}) for czynnik, zmiana in _plan()]
'''

GRID_LITERAL = GRID_HEADER + '''\
L = LAB_CONFIG
EXPERIMENT_GRID = [
    ("hidden_size", dict(L, hidden=(2, 2))), ("hidden_size", dict(L, hidden=(10, 10))),
    ("hidden_size", dict(L, hidden=(30, 30))),
    ("n_layers", dict(L, hidden=(5,))), ("n_layers", dict(L, hidden=(5, 5))),
    ("n_layers", dict(L, hidden=(5, 5, 5))),
    ("activation", dict(L, activation="relu")), ("activation", dict(L, activation="tanh")),
    ("activation", dict(L, activation="sigmoid")),
    ("lr", dict(L, lr=0.002)), ("lr", dict(L, lr=0.02)), ("lr", dict(L, lr=0.2)),
    ("n_epochs", dict(L, n_epochs=3)), ("n_epochs", dict(L, n_epochs=5)), ("n_epochs", dict(L, n_epochs=7)),
    ("batch_size", dict(L, batch_size=10)), ("batch_size", dict(L, batch_size=50)),
    ("batch_size", dict(L, batch_size=250)),
    ("n", dict(L, n=600)), ("n", dict(L, n=1800)), ("n", dict(L, n=5400)),
    ("sd", dict(L, sd=0.12)), ("sd", dict(L, sd=0.24)), ("sd", dict(L, sd=0.48)),
]
'''

GRID_DEEPCOPY = GRID_HEADER + '''\
import copy

_ZAKRESY = {
    "hidden_size": ("hidden", [(2, 4), (8, 16), (32, 64)]),
    "n_layers": ("hidden", [(16,), (16, 8), (16, 8, 4)]),
    "activation": ("activation", ["leaky_relu", "sigmoid", "tanh"]),
    "lr": ("lr", [0.0003, 0.003, 0.03]),
    "n_epochs": ("n_epochs", [4, 8, 16]),
    "batch_size": ("batch_size", [4, 16, 1024]),
    "n": ("n", [100, 1000, 10000]),
    "sd": ("sd", [0.01, 0.3, 0.7]),
}
EXPERIMENT_GRID = []
for _czynnik, (_klucz, _wartosci) in _ZAKRESY.items():
    for _w in _wartosci:
        _cfg = copy.deepcopy(LAB_CONFIG)
        _cfg[_klucz] = _w
        EXPERIMENT_GRID.append((_czynnik, _cfg))
'''

# --------------------------------------------------------------------------- RESULTS
RESULTS_LOOP = RESULTS_HEADER + '''\
import contextlib
import io

RESULTS = []
for czynnik, konfiguracja in EXPERIMENT_GRID:
    bufor = io.StringIO()
    with contextlib.redirect_stdout(bufor):
        wynik = run_experiment(konfiguracja, seed=0)
    RESULTS.append({"factor": czynnik, "config": konfiguracja, "seed": 0,
                    "test_accuracy": wynik["test_accuracy"]})
'''

RESULTS_STARMAP = RESULTS_HEADER + '''\
import itertools


def _wiersz_wyniku(czynnik, config, ziarno=0):
    """Słownik z wynikiem jednego eksperymentu."""
    wynik = run_experiment(config, seed=ziarno)
    return dict(factor=czynnik, config=config, seed=ziarno, test_accuracy=wynik["test_accuracy"])


RESULTS = list(itertools.starmap(_wiersz_wyniku, EXPERIMENT_GRID))
'''

RESULTS_DEVNULL = RESULTS_HEADER + '''\
import os
import sys

RESULTS = []
_stdout = sys.stdout
sys.stdout = open(os.devnull, "w")
try:
    for i, (czynnik, cfg) in enumerate(EXPERIMENT_GRID):
        RESULTS.append({"factor": czynnik, "config": cfg, "seed": 0,
                        "test_accuracy": run_experiment(cfg)["test_accuracy"]})
finally:
    sys.stdout.close()
    sys.stdout = _stdout
print("gotowe:", len(RESULTS), "eksperymentów")
'''

RESULTS_MAP = RESULTS_HEADER + '''\
RESULTS = list(map(lambda para: {"factor": para[0], "config": para[1], "seed": 0,
                                 "test_accuracy": run_experiment(para[1], 0)["test_accuracy"]},
                   EXPERIMENT_GRID))
'''

RESULTS_ZIP = RESULTS_HEADER + '''\
plan = list(EXPERIMENT_GRID)
dokladnosci = []
for _, konf in plan:
    dokladnosci.append(run_experiment(konf, seed=0)["test_accuracy"])
    print(".", end="")
RESULTS = [{"factor": f, "config": k, "seed": 0, "test_accuracy": a}
           for (f, k), a in zip(plan, dokladnosci)]
'''

RESULTS_TIMED = RESULTS_HEADER + '''\
import contextlib
import io
import time

t0 = time.time()
RESULTS = []
with contextlib.redirect_stdout(io.StringIO()):
    for nr, (czynnik, ustawienia) in enumerate(EXPERIMENT_GRID):
        out = run_experiment(ustawienia, seed=0)
        RESULTS.append(dict(factor=czynnik, config=ustawienia, seed=0,
                            test_accuracy=float(out["test_accuracy"])))
print(f"{len(RESULTS)} eksperymentów w {time.time() - t0:.1f} s")
'''

RESULTS_COUNTED = RESULTS_HEADER + '''\
RESULTS = []
_licznik = {}
for czynnik, config in EXPERIMENT_GRID:
    _licznik[czynnik] = _licznik.get(czynnik, 0) + 1
    rekord = {"factor": czynnik, "config": dict(config), "seed": 0}
    rekord["test_accuracy"] = run_experiment(rekord["config"], seed=rekord["seed"])["test_accuracy"]
    RESULTS.append(rekord)
assert all(v == 3 for v in _licznik.values()), _licznik
'''

# --------------------------------------------------------------------------- the table
STYLES: dict[str, list[str]] = {
    "data_solution": [corpus.RINGS_LEGACY, corpus.RINGS_TORCH, corpus.RINGS_TORCH_FLOAT32,
                      corpus.RINGS_NUMPY_FLOAT32, corpus.RINGS_FLOAT32_POINTS, RINGS_COMPLEX, RINGS_LOOP],
    "loader_solution": [corpus.LOADER, LOADER_FROM_NUMPY, LOADER_AS_TENSOR, LOADER_FLOAT_TENSOR],
    "model_solution": [corpus.MODEL_SEQUENTIAL, corpus.MODEL_MODULELIST, corpus.MODEL_NAMED,
                       MODEL_OUTPUT_LAYER, MODEL_PARAMETERS, MODEL_ORDERED_DICT, MODEL_ADD_MODULE],
    "loss_solution": [corpus.PREDICT_BOOL, corpus.PREDICT_TORCH_ACCURACY, PREDICT_ROUND,
                      PREDICT_MANUAL_CONFUSION, PREDICT_BINCOUNT, PREDICT_HELPER, PREDICT_LIST],
    "training_solution": [corpus.TRAIN, corpus.TRAIN_TENSOR_HISTORY, TRAIN_NP_MEAN, TRAIN_EPOCH_HELPER,
                          TRAIN_WHILE, TRAIN_STACK, TRAIN_CLOSURE],
    "experiments_solution": [EXP_INLINE, EXP_BUILD_HELPER, EXP_UNPACK, EXP_MERGED, EXP_POSITIONAL,
                             EXP_TEST_HELPER, EXP_CHECKED],
    "experiments_solution_grid": [corpus.CHEAP_GRID, GRID_LOOPS, GRID_TABLE, corpus.NUMPY_GRID,
                                  GRID_GENERATOR, GRID_LITERAL, GRID_DEEPCOPY],
    "experiments_solution_results": [RESULTS_LOOP, RESULTS_STARMAP, RESULTS_DEVNULL, RESULTS_MAP,
                                     RESULTS_ZIP, RESULTS_TIMED, RESULTS_COUNTED],
}

DESIGN_CELLS = tuple(STYLES)          # 8 design cells: x = 0..6 and the point at infinity
Q = 7                                 # the field GF(7): 49 lines, 7 styles per cell

# --------------------------------------------------------------------------- paths
REPO_ROOT = Path(__file__).resolve().parents[1]
RELEASE = REPO_ROOT / "release" / "lab06" / "lab06.ipynb"
SOURCE = REPO_ROOT / "source" / "lab06" / "lab06.ipynb"
_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

# Names of the assignment's contract: never renamed by a copier (the grader calls them).
CONTRACT = frozenset({
    "make_rings", "make_loader", "Klasyfikator", "predict", "evaluate", "dataset_loss",
    "make_optimizer", "train", "run_experiment", "LAB_CONFIG", "EXPERIMENT_GRID", "RESULTS",
    "BEST_CONFIG", "forward", "self",
})


def reference_cells() -> dict[str, str]:
    """grade_id -> the instructor's solution cell, BEGIN/END SOLUTION lines removed."""
    return {gid: "".join(line for line in src.splitlines(keepends=True) if line.strip() not in _MARKERS)
            for gid, src in solution_sources(SOURCE).items()}


# --------------------------------------------------------------------------- the design
def design_line(a: int, b: int) -> tuple[int, ...]:
    """Style index per design cell of line (a, b): a + b*x at x = 0..6, then b at infinity."""
    return tuple((a + b * x) % Q for x in range(Q)) + (b,)


def shared_styles(u: tuple[int | None, ...], v: tuple[int | None, ...]) -> int:
    """Cells where two style vectors use the same non-reference style (None = reference)."""
    return sum(1 for s, t in zip(u, v) if s is not None and s == t)


def style_vector(line: tuple[int, ...]) -> tuple[int | None, ...]:
    """Indices past a cell's style list mean "the instructor's code" (None)."""
    return tuple(i if i < len(STYLES[cell]) else None for i, cell in zip(line, DESIGN_CELLS))


def check_design(vectors: list[tuple[int | None, ...]]) -> None:
    for u, v in itertools.combinations(vectors, 2):
        assert shared_styles(u, v) <= 1, (u, v)


def best_config(i: int) -> str:
    """Student i's own BEST_CONFIG numbers (every student tunes their own)."""
    hidden = (12 + 2 * i,) if i % 2 else (10 + i, 4 + i % 7)
    activation = ("tanh", "relu", "leaky_relu")[i % 3]
    lr = round(0.004 + 0.0013 * i, 4)
    return (BEST_HEADER + f"# moje ustawienia nr {i}\n"
            f'BEST_CONFIG = {{"n": 5000, "sd": 0.2, "hidden": {hidden!r}, "activation": "{activation}",\n'
            f'               "lr": {lr}, "n_epochs": {6 + i % 9}, "batch_size": {(16, 24, 32, 48, 64)[i % 5]}}}\n')


# --------------------------------------------------------------------------- students
@dataclass
class Student:
    name: str
    kind: str                                   # "independent", "reference" or "copy"
    cells: dict[str, str]                       # solution grade_id -> source
    added: list[str] = field(default_factory=list)   # added code cells, before the first answer
    styles: tuple[int | None, ...] = ()         # independent: style per design cell
    copy_of: str | None = None
    notes: list[str] = field(default_factory=list)   # what the copier changed


@dataclass
class GeneratedClass:
    students: dict[str, Student]
    notebooks: dict[str, Path]
    groups: list[list[str]]                     # planted copy groups (sorted names)
    release: Path = RELEASE
    reference: Path = SOURCE

    @property
    def planted_pairs(self) -> set[tuple[str, str]]:
        return {(a, b) for g in self.groups for a, b in itertools.combinations(sorted(g), 2)}

    def of_kind(self, kind: str) -> list[str]:
        return sorted(n for n, s in self.students.items() if s.kind == kind)


def independent_cells(styles: tuple[int | None, ...], i: int) -> dict[str, str]:
    cells = reference_cells()
    for cell, index in zip(DESIGN_CELLS, styles):
        if index is not None:
            cells[cell] = STYLES[cell][index]
    cells["experiments_solution_best"] = best_config(i)
    return cells


def write_notebook(dest: Path, cells: dict[str, str], added: list[str] = ()) -> Path:
    """The release notebook with its solution cells replaced and added cells inserted."""
    nb = json.loads(RELEASE.read_text(encoding="utf-8"))
    first = None
    for index, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if cell["cell_type"] == "code" and meta.get("solution") and gid in cells:
            first = index if first is None else first
            cell["source"] = cells[gid]
            cell["outputs"], cell["execution_count"] = [], None
    for source in reversed(list(added)):
        nb["cells"].insert(first, {"cell_type": "code", "execution_count": None, "metadata": {},
                                   "outputs": [], "source": source})
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return dest


def generate_class(dest: Path, n_students: int = 40, seed: int = 0) -> GeneratedClass:
    """Write a class of n_students notebooks to dest/<name>.ipynb (see the module docstring)."""
    rng = random.Random(seed)
    n_pairs, n_clusters = max(4, n_students // 10), max(1, n_students // 40)
    n_reference = max(3, n_students // 15)
    n_independent = n_students - n_pairs - 2 * n_clusters - n_reference
    # Lines of the plane, those with the fewest instructor's cells first (the loader has only
    # 4 styles, so 3 of 7 loader indices are the instructor's loader).
    lines = sorted(((a, b) for a in range(Q) for b in range(Q)),
                   key=lambda ab: (style_vector(design_line(*ab)).count(None), ab[1], ab[0]))
    vectors = [style_vector(design_line(a, b)) for a, b in lines[:n_independent]]
    check_design(vectors)
    while len(vectors) < n_independent:   # bench sizes only: random, no design guarantee
        vectors.append(tuple(rng.randrange(len(STYLES[c])) for c in DESIGN_CELLS))

    specs: list[Student] = [Student("", "independent", independent_cells(v, i), styles=v)
                            for i, v in enumerate(vectors)]
    specs += [Student("", "reference", reference_cells()) for _ in range(n_reference)]
    sources = rng.sample(range(n_independent), n_pairs + n_clusters)
    chains: list[list[Student]] = []
    for k, src in enumerate(sources):
        chain = [specs[src]]
        for _ in range(1 if k < n_pairs else 2):      # a cluster of three: A -> B -> C
            copy = disguise(chain[-1], rng)
            if k == 0:                                # one copier also wrote a cell themselves
                _rewrite_one_cell(copy, chain[-1], rng)
            chain.append(copy)
        chains.append(chain)
        specs += chain[1:]
    order = list(range(len(specs)))
    rng.shuffle(order)                                # copies do not sit next to their source
    for number, index in enumerate(order, start=1):
        specs[index].name = f"s{number:03d}" if n_students >= 100 else f"s{number:02d}"
    for chain in chains:
        for source, copy in zip(chain, chain[1:]):
            copy.copy_of = source.name
    groups = sorted(sorted(s.name for s in chain) for chain in chains)
    students = {s.name: s for s in specs}
    dest = Path(dest)
    notebooks = {s.name: write_notebook(dest / f"{s.name}.ipynb", s.cells, s.added) for s in specs}
    return GeneratedClass(students, dict(sorted(notebooks.items())), groups)


def _rewrite_one_cell(copy: Student, source: Student, rng: random.Random) -> None:
    """The copier wrote one answer themselves, in another style than the source's."""
    cell = rng.choice([c for c in DESIGN_CELLS if c != "loader_solution"])
    own = source.styles[DESIGN_CELLS.index(cell)]
    choice = rng.choice([i for i in range(len(STYLES[cell])) if i != own])
    copy.cells[cell] = STYLES[cell][choice]
    styles = list(copy.styles)
    styles[DESIGN_CELLS.index(cell)] = choice
    copy.styles = tuple(styles)
    copy.notes.append(f"rewrote {cell} in style {choice}")


# --------------------------------------------------------------------------- the copier
_WORDS = ("wart", "tmp", "pom", "rzecz", "elem", "item", "val", "obj", "buf", "aux", "dane", "res")
_COMMENTS = ("# TODO sprawdzić", "# działa", "# krok pomocniczy", "# na podstawie wykładu",
             "# poprawione", "# ważne!", "# nie ruszać")
_DOCSTRINGS = ("Funkcja pomocnicza.", "Pomocnik.", "Zwraca wynik.", "Liczy to, co trzeba.")


def _chunks(source: str) -> tuple[list[ast.stmt], list[str]]:
    """Top-level statements and their source chunks (leading blank/comment lines included)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    chunks, prev = [], 0
    for node in tree.body:
        chunks.append("".join(lines[prev:node.end_lineno]))
        prev = node.end_lineno
    if chunks:
        chunks[-1] += "".join(lines[prev:])
    return tree.body, [c if c.endswith("\n") else c + "\n" for c in chunks]


def _is_def(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.ClassDef))


def reorder_definitions(source: str) -> str:
    """Reverse every run of two or more consecutive top-level def/class statements."""
    nodes, chunks = _chunks(source)
    out, i = [], 0
    while i < len(nodes):
        j = i
        while j < len(nodes) and _is_def(nodes[j]):
            j += 1
        if j - i >= 2:
            run = [c.strip("\n") + "\n" for c in chunks[i:j]]
            out.append("\n\n".join(reversed(run)) if i == 0 else "\n\n" + "\n\n".join(reversed(run)))
            i = j
        else:
            out.append(chunks[i])
            i += 1
    return "".join(out)


def _helpers(source: str) -> list[str]:
    nodes, _ = _chunks(source)
    return [n.name for n in nodes if isinstance(n, ast.FunctionDef) and n.name not in CONTRACT]


def move_helper(source: str, name: str) -> tuple[str, str]:
    """(source without the top-level function `name`, that function's code)."""
    nodes, chunks = _chunks(source)
    i = next(k for k, n in enumerate(nodes) if isinstance(n, ast.FunctionDef) and n.name == name)
    return "".join(chunks[:i] + chunks[i + 1:]), chunks[i].strip("\n") + "\n"


def _names(sources: list[str]) -> tuple[set[str], set[str]]:
    """(renameable local names, protected names) over a whole notebook."""
    names, protected = set(), set(CONTRACT)
    for source in sources:
        tree = ast.parse(source)
        methods = {id(f) for c in ast.walk(tree) if isinstance(c, ast.ClassDef)
                   for f in c.body if isinstance(f, ast.FunctionDef)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
                args = node.args
                arg_names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
                arg_names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
                contract = isinstance(node, ast.FunctionDef) and (node.name in CONTRACT or id(node) in methods)
                if contract:
                    # The contract's signatures (and methods called as attributes) stay as they are.
                    protected |= arg_names | {node.name}
                else:
                    names |= arg_names | ({node.name} if isinstance(node, ast.FunctionDef) else set())
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                protected |= {a.asname or a.name.split(".")[0] for a in node.names}
    return names - protected - set(dir(builtins)), protected


def _rename_map(names: set[str], taken: set[str], rng: random.Random) -> dict[str, str]:
    mapping, used = {}, set(taken) | names
    for name in sorted(names):
        while True:
            new = ("_" if name.startswith("_") else "") + f"{rng.choice(_WORDS)}{rng.randrange(100)}"
            if new not in used:
                break
        used.add(new)
        mapping[name] = new
    return mapping


def _quote_end(text: str) -> int:
    """Index just past a string token's prefix and opening quotes."""
    i = 0
    while text[i] not in "'\"":
        i += 1
    return i + (3 if text[i:i + 3] in ('"""', "'''") else 1)


def rewrite_tokens(source: str, mapping: dict[str, str], rng: random.Random) -> str:
    """Rename, re-comment, re-space and re-word one cell, keeping it valid Python."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def off(pos: tuple[int, int]) -> int:
        return starts[pos[0] - 1] + pos[1]

    skip = {tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
    toks = list(tokenize.generate_tokens(io.StringIO(source).readline))
    significant = [t for t in toks if t.type not in skip]
    nxt = {id(a): b for a, b in zip(significant, significant[1:])}
    edits: list[tuple[int, int, str]] = []
    stack: list[str] = []
    prev = prev2 = None
    for tok in toks:
        kind, text = tok.type, tok.string
        if kind == tokenize.COMMENT:
            edits.append((off(tok.start), off(tok.end), ""))
            continue
        if kind in skip:
            continue
        following = nxt.get(id(tok))
        if kind == tokenize.OP and text in "([{":
            role = "other"
            if text == "(" and prev is not None and prev.type == tokenize.NAME:
                role = ("print" if prev.string == "print" else
                        "def" if prev2 is not None and prev2.string == "def" else "call")
            stack.append(role)
        elif kind == tokenize.OP and text in ")]}":
            stack.pop()
        elif kind == tokenize.NAME and text in mapping:
            attribute = prev is not None and prev.string == "."
            keyword = (stack and stack[-1] in ("call", "print") and following is not None
                       and following.string == "=" and prev is not None and prev.string in "(,")
            if not attribute and not keyword:
                edits.append((off(tok.start), off(tok.end), mapping[text]))
        elif kind == tokenize.STRING:
            new = text
            if re.match(r"(?i)[rb]*f", text):
                new = re.sub(r"\{[^{}]*\}", lambda m: re.sub(
                    r"(?<![\w.!])(\w+)", lambda n: mapping.get(n.group(1), n.group(1)), m.group(0)), new)
            statement = prev is None or prev.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
            if statement and following is not None and following.type == tokenize.NEWLINE:
                new = f'"""{rng.choice(_DOCSTRINGS)}"""'          # a docstring, reworded
            elif "print" in stack:
                q = _quote_end(new)
                new = new[:q] + ">> " + new[q:]                   # a message, reworded
            if new != text:
                edits.append((off(tok.start), off(tok.end), new))
        elif kind == tokenize.OP and text == "=" and not stack and prev is not None and following is not None \
                and prev.end[0] == tok.start[0] == following.start[0] and rng.random() < 0.4:
            edits.append((off(prev.end), off(tok.start), ""))      # x=1 instead of x = 1
            edits.append((off(tok.end), off(following.start), ""))
        elif kind == tokenize.NEWLINE:
            if rng.random() < 0.2:
                edits.append((off(tok.start), off(tok.start), "  " + rng.choice(_COMMENTS)))
            if rng.random() < 0.15 and not stack:
                edits.append((off(tok.end), off(tok.end), "\n"))  # an extra blank line
        prev2, prev = prev, tok
    out = source
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:start] + new + out[end:]
    out = "\n".join(line.rstrip() for line in out.splitlines()) + "\n"
    return f"{rng.choice(_COMMENTS)}\n{out}"


def disguise(source: Student, rng: random.Random) -> Student:
    """A copy of `source`'s notebook, made to look different (see the module docstring)."""
    cells, added, notes = dict(source.cells), list(source.added), []
    for gid, code in cells.items():
        reordered = reorder_definitions(code)
        if reordered != code:
            cells[gid] = reordered
            notes.append(f"reordered definitions in {gid}")
    helpers = [(gid, name) for gid in DESIGN_CELLS for name in _helpers(cells[gid])]
    if helpers:
        gid, name = rng.choice(helpers)
        cells[gid], code = move_helper(cells[gid], name)
        added.append(code)
        notes.append(f"moved helper {name} from {gid} to an added cell")
    # Only the student's own cells are disguised; the one-line cells they share with the
    # instructor stay as they are (they carry no fingerprint anyway).
    own = [g for g in cells if g in DESIGN_CELLS or g == "experiments_solution_best"]
    names, protected = _names([cells[g] for g in cells] + added)
    mapping = _rename_map(names, protected, rng)
    for gid in own:
        cells[gid] = rewrite_tokens(cells[gid], mapping, rng)
    added = [rewrite_tokens(code, mapping, rng) for code in added]
    for code in list(cells.values()) + added:
        ast.parse(code)   # a copier hands in code that still runs
    notes.append(f"renamed {len(mapping)} names, rewrote comments, strings and spacing")
    return Student("", "copy", cells, added, styles=source.styles, notes=notes)


def style_students(dest: Path) -> dict[str, tuple[str, int, Path]]:
    """One notebook per (design cell, style): the instructor's code everywhere else."""
    out = {}
    for cell, styles in STYLES.items():
        for index, code in enumerate(styles):
            name = f"{cell}.{index}"
            out[name] = (cell, index, write_notebook(Path(dest) / f"{name}.ipynb", {**reference_cells(), cell: code}))
    return out
