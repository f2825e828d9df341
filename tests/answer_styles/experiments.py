"""Correct cells of the closing task (part experiments): ``run_experiment``, the grid, RESULTS and
BEST_CONFIG. Each dict's order matters (see data.py); a cell that starts with given code in the
notebook (LAB_CONFIG, a header comment) starts with it here too, read from the notebook.
"""
from __future__ import annotations

from .cells import given_code

GIVEN = {grade_id: given_code(grade_id) for grade_id in
         ("experiments_solution", "experiments_solution_grid", "experiments_solution_results")}

RUN_INLINE = GIVEN["experiments_solution"] + '''\
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

RUN_BUILD_HELPER = GIVEN["experiments_solution"] + '''\
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

RUN_UNPACK = GIVEN["experiments_solution"] + '''\
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

RUN_MERGED = GIVEN["experiments_solution"] + '''\
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

RUN_POSITIONAL = GIVEN["experiments_solution"] + '''\
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

RUN_TEST_HELPER = GIVEN["experiments_solution"] + '''\
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

RUN_CHECKED = GIVEN["experiments_solution"] + '''\
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

GRID_CHEAP = '''\
# Plan eksperymentów: mniejsze n i mniej epok, żeby całość liczyła się kilka sekund.
CHANGES = {
    "hidden_size": [{"hidden": (2, 2)}, {"hidden": (8, 8)}, {"hidden": (16, 16)}],
    "n_layers": [{"hidden": (8,)}, {"hidden": (8, 8)}, {"hidden": (8, 8, 8)}],
    "activation": [{"activation": "relu"}, {"activation": "tanh"}, {"activation": "leaky_relu"}],
    "lr": [{"lr": 0.001}, {"lr": 0.01}, {"lr": 0.1}],
    "n_epochs": [{"n_epochs": 1}, {"n_epochs": 2}, {"n_epochs": 3}],
    "batch_size": [{"batch_size": 16}, {"batch_size": 64}, {"batch_size": 256}],
    "n": [{"n": 100}, {"n": 200}, {"n": 400}],
    "sd": [{"sd": 0.1}, {"sd": 0.3}, {"sd": 0.5}],
}
BAZA = {**LAB_CONFIG, "n": 200, "n_epochs": 1}
EXPERIMENT_GRID = [(czynnik, {**BAZA, **zmiana})
                   for czynnik, zmiany in CHANGES.items() for zmiana in zmiany]
'''

GRID_LOOPS = GIVEN["experiments_solution_grid"] + '''\
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

GRID_TABLE = GIVEN["experiments_solution_grid"] + '''\
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

GRID_NUMPY = '''\
# Plan eksperymentów z zakresów NumPy; mniejsze n i mniej epok, żeby przegląd trwał kilka sekund.
import contextlib
import io

import numpy as _np

BAZA = {**LAB_CONFIG, "n": 200, "n_epochs": 1}


def _warianty(klucz, wartosci):
    """Konfiguracje z BAZA, w których zmienia się tylko `klucz`."""
    return [{**BAZA, klucz: w} for w in wartosci]


def _wiersz(czynnik, config):
    """Jeden wiersz RESULTS: run_experiment bez wypisywania strat kolejnych epok."""
    with contextlib.redirect_stdout(io.StringIO()):
        wynik = run_experiment(config, seed=0)
    return {"factor": czynnik, "config": config, "seed": 0, "test_accuracy": wynik["test_accuracy"]}


PLAN = {
    "hidden_size": _warianty("hidden", [(w, w) for w in _np.arange(2, 17, 7)]),        # 2, 9, 16 (np.int64)
    "n_layers": _warianty("hidden", [(8,) * k for k in range(1, 4)]),
    "activation": _warianty("activation", ["relu", "tanh", "leaky_relu"]),
    "lr": _warianty("lr", _np.logspace(-3, -1, 3)),                                     # np.float64
    "n_epochs": _warianty("n_epochs", _np.arange(1, 4)),                                # np.int64
    "batch_size": _warianty("batch_size", [int(b) for b in 2 ** _np.arange(4, 9, 2)]),  # DataLoader chce int
    "n": _warianty("n", _np.arange(100, 401, 150)),                                     # np.int64
    "sd": _warianty("sd", _np.linspace(0.1, 0.5, 3)),                                   # np.float64
}
# Generator par (czynnik, konfiguracja): przegląd przechodzi przez niego jeden raz.
EXPERIMENT_GRID = ((czynnik, config) for czynnik, configi in PLAN.items() for config in configi)
'''

GRID_GENERATOR = GIVEN["experiments_solution_grid"] + '''\
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

GRID_LITERAL = GIVEN["experiments_solution_grid"] + '''\
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

GRID_DEEPCOPY = GIVEN["experiments_solution_grid"] + '''\
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

RESULTS_LOOP = GIVEN["experiments_solution_results"] + '''\
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

RESULTS_STARMAP = GIVEN["experiments_solution_results"] + '''\
import itertools


def _wiersz_wyniku(czynnik, config, ziarno=0):
    """Słownik z wynikiem jednego eksperymentu."""
    wynik = run_experiment(config, seed=ziarno)
    return dict(factor=czynnik, config=config, seed=ziarno, test_accuracy=wynik["test_accuracy"])


RESULTS = list(itertools.starmap(_wiersz_wyniku, EXPERIMENT_GRID))
'''

RESULTS_DEVNULL = GIVEN["experiments_solution_results"] + '''\
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

RESULTS_MAP = GIVEN["experiments_solution_results"] + '''\
RESULTS = list(map(lambda para: {"factor": para[0], "config": para[1], "seed": 0,
                                 "test_accuracy": run_experiment(para[1], 0)["test_accuracy"]},
                   EXPERIMENT_GRID))
'''

RESULTS_ZIP = GIVEN["experiments_solution_results"] + '''\
plan = list(EXPERIMENT_GRID)
dokladnosci = []
for _, konf in plan:
    dokladnosci.append(run_experiment(konf, seed=0)["test_accuracy"])
    print(".", end="")
RESULTS = [{"factor": f, "config": k, "seed": 0, "test_accuracy": a}
           for (f, k), a in zip(plan, dokladnosci)]
'''

RESULTS_TIMED = GIVEN["experiments_solution_results"] + '''\
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

RESULTS_COUNTED = GIVEN["experiments_solution_results"] + '''\
RESULTS = []
_licznik = {}
for czynnik, config in EXPERIMENT_GRID:
    _licznik[czynnik] = _licznik.get(czynnik, 0) + 1
    rekord = {"factor": czynnik, "config": dict(config), "seed": 0}
    rekord["test_accuracy"] = run_experiment(rekord["config"], seed=rekord["seed"])["test_accuracy"]
    RESULTS.append(rekord)
assert all(v == 3 for v in _licznik.values()), _licznik
'''

RESULTS_NUMPY = '''\
# RESULTS: jeden wiersz na każdą konfigurację z planu (pomocnik _wiersz jest w komórce z planem).
RESULTS = [_wiersz(czynnik, config) for czynnik, config in EXPERIMENT_GRID]
'''

# Measured with the reference pipeline over the grader's seeds (101, 202, 303) and 7 more:
# held-out accuracy 0.991-0.993 (full credit from 0.97), 0.25 CPU s a run (lr 0.03, batches
# of 32 for 4 epochs: 1.42 s). The check trains it three times in every grading of a cheap
# notebook. The lab's data (n=5000, sd=0.2) is part of the budget's contract.
BEST_CHEAP = '''\
# Jedna szeroka warstwa tanh uczy się szybko i niezawodnie: 129 parametrów, 3 epoki.
BEST_CONFIG = {"n": 5000, "sd": 0.2, "hidden": (32,), "activation": "tanh",
               "lr": 0.05, "n_epochs": 3, "batch_size": 64}
'''

BEST_NUMPY = '''\
# Szeroka warstwa tanh; liczby z tych samych zakresów NumPy co w przeglądzie (np.int64, np.float64).
BEST_CONFIG = {**BAZA, "n": 5000, "hidden": tuple(_np.full(1, 32)), "activation": "tanh",
               "lr": _np.logspace(-3, -1, 5)[3], "n_epochs": _np.arange(1, 9)[3], "batch_size": 32}
'''

RUN: dict[str, str] = {
    "inline": RUN_INLINE,
    "a build helper": RUN_BUILD_HELPER,
    "unpacked config": RUN_UNPACK,
    "merged with LAB_CONFIG": RUN_MERGED,
    "positional arguments": RUN_POSITIONAL,
    "a test-accuracy helper": RUN_TEST_HELPER,
    "checked keys": RUN_CHECKED,
}
GRID: dict[str, str] = {
    "small n, few epochs": GRID_CHEAP,
    "loops": GRID_LOOPS,
    "a table of factors": GRID_TABLE,
    "NumPy ranges, a generator": GRID_NUMPY,
    "a generator function": GRID_GENERATOR,
    "a literal list": GRID_LITERAL,
    "deepcopy": GRID_DEEPCOPY,
}
RESULTS: dict[str, str] = {
    "a loop": RESULTS_LOOP,
    "itertools.starmap": RESULTS_STARMAP,
    "stdout to devnull": RESULTS_DEVNULL,
    "map + lambda": RESULTS_MAP,
    "zip": RESULTS_ZIP,
    "timed": RESULTS_TIMED,
    "counted": RESULTS_COUNTED,
    "the grid cell's helper": RESULTS_NUMPY,
}
BEST: dict[str, str] = {
    "2-32-1 tanh, 4 epochs": BEST_CHEAP,
    "NumPy numbers": BEST_NUMPY,
}
