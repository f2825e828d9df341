"""Correct ``Klasyfikator`` cells (part model). New styles go at the end (see data.py)."""
from __future__ import annotations

from .cells import variant

SEQUENTIAL = '''\
class Klasyfikator(nn.Module):
    def __init__(self, hidden=(4, 2), activation="relu"):
        super().__init__()
        aktywacje = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}
        warstwy = []
        wejscie = 2
        for h in hidden:
            warstwy.append(nn.Linear(wejscie, h))
            warstwy.append(aktywacje[activation]())
            wejscie = h
        warstwy.append(nn.Linear(wejscie, 1))
        warstwy.append(nn.Sigmoid())
        self.model = nn.Sequential(*warstwy)

    def forward(self, x):
        return self.model(x)
'''

MODULE_LIST = '''\
class Klasyfikator(nn.Module):
    def __init__(self, hidden=(4, 2), activation="relu"):
        super().__init__()
        rozmiary = [2, *hidden, 1]
        self.warstwy = nn.ModuleList([nn.Linear(a, b) for a, b in zip(rozmiary[:-1], rozmiary[1:])])
        self.f = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                  "leaky_relu": nn.functional.leaky_relu}[activation]

    def forward(self, x):
        for warstwa in self.warstwy[:-1]:
            x = self.f(warstwa(x))
        return torch.sigmoid(self.warstwy[-1](x))
'''

NAMED_LAYERS = '''\
class Klasyfikator(nn.Module):
    def __init__(self, hidden=(4, 2), activation="relu"):
        super().__init__()
        self.ile = len(hidden) + 1
        wejscie = 2
        for i, h in enumerate([*hidden, 1], start=1):
            setattr(self, f"fc{i}", nn.Linear(wejscie, h))   # fc1, fc2, ..., fc{ile}
            wejscie = h
        if activation == "relu":
            self.akt = nn.ReLU()
        elif activation == "tanh":
            self.akt = nn.Tanh()
        elif activation == "sigmoid":
            self.akt = nn.Sigmoid()
        elif activation == "leaky_relu":
            self.akt = nn.LeakyReLU()
        else:
            raise ValueError(activation)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        for i in range(1, self.ile):
            x = self.akt(getattr(self, f"fc{i}")(x))
        return self.sigmoid(getattr(self, f"fc{self.ile}")(x))
'''

OUTPUT_LAYER = '''\
class Klasyfikator(nn.Module):
    """Warstwy ukryte w nn.ModuleList, aktywacja funkcyjnie."""

    def __init__(self, hidden=(4, 2), activation="relu"):
        super().__init__()
        funkcje = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                   "leaky_relu": nn.functional.leaky_relu}
        if activation not in funkcje:
            raise ValueError(f"nieznana aktywacja {activation!r}")
        self.aktywacja = funkcje[activation]
        rozmiary = [2, *hidden]
        self.ukryte = nn.ModuleList(nn.Linear(a, b) for a, b in zip(rozmiary, rozmiary[1:]))
        self.wyjscie = nn.Linear(rozmiary[-1], 1)

    def forward(self, x):
        for warstwa in self.ukryte:
            x = self.aktywacja(warstwa(x))
        return torch.sigmoid(self.wyjscie(x))
'''

PARAMETERS = '''\
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

ORDERED_DICT = '''\
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

ADD_MODULE = '''\
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

# Explicit parameters, x @ W.T + b and hand-written activations (registered in Linear's order).
MANUAL = '''\
class Klasyfikator(nn.Module):
    def __init__(self, hidden=(4, 2), activation="relu"):
        super().__init__()
        rozmiary = [2, *hidden, 1]
        self.ile = len(rozmiary) - 1
        for i, (a, b) in enumerate(zip(rozmiary, rozmiary[1:])):
            self.register_parameter(f"w{i}", nn.Parameter(torch.randn(b, a) * 0.1))
            self.register_parameter(f"b{i}", nn.Parameter(torch.zeros(b)))
        self.activation = activation

    def aktywacja(self, z):
        if self.activation == "relu":
            return torch.clamp(z, min=0)
        if self.activation == "tanh":
            return torch.tanh(z)
        if self.activation == "sigmoid":
            return 1 / (1 + torch.exp(-z))
        return torch.where(z >= 0, z, 0.01 * z)

    def forward(self, x):
        for i in range(self.ile):
            x = x @ getattr(self, f"w{i}").T + getattr(self, f"b{i}")
            x = self.aktywacja(x) if i < self.ile - 1 else 1 / (1 + torch.exp(-x))
        return x
'''

# tanh written out as (e^z - e^-z) / (e^z + e^-z): correct, but it loses float32 precision near
# z = 0 (cancellation), the sloppiest correct style we know of. Compared on tanh only.
HAND_TANH = variant(MANUAL, "            return torch.tanh(z)\n",
                    "            return (torch.exp(z) - torch.exp(-z)) / (torch.exp(z) + torch.exp(-z))\n")

STYLES: dict[str, str] = {
    "nn.Sequential": SEQUENTIAL,
    "ModuleList + torch.*": MODULE_LIST,
    "named layers fc1, fc2, ...": NAMED_LAYERS,
    "ModuleList + an output layer": OUTPUT_LAYER,
    "nn.Parameter weights": PARAMETERS,
    "OrderedDict": ORDERED_DICT,
    "add_module + F.*": ADD_MODULE,
    "manual x@W.T+b, hand-written acts": MANUAL,
    "hand-written tanh formula": HAND_TANH,
}
# The activations each style is measured on by the calibration, where not all of them.
ONLY_ON: dict[str, tuple[str, ...]] = {"hand-written tanh formula": ("tanh",)}
