"""Correct ``make_rings`` cells (part data), as students write them.

Order matters: tests/similarity_class.py's design takes the first seven, so a new style goes at
the end. ``OUTSIDE_HINT`` holds styles that are correct for one reading of the task only.
"""
from __future__ import annotations

LEGACY = '''\
def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
    np.random.seed(seed)   # seed=None: ziarno z entropii systemu
    n1 = n // 2
    n2 = n - n1
    t1 = np.linspace(0, 2 * np.pi, n1, endpoint=False)
    t2 = np.linspace(0, 2 * np.pi, n2, endpoint=False)
    wew = np.column_stack([r1 * np.cos(t1), r1 * np.sin(t1)])
    zew = np.column_stack([r2 * np.cos(t2), r2 * np.sin(t2)])
    X = np.vstack([wew, zew]) + np.random.normal(0, sd, (n, 2))
    y = np.array([0.0] * n1 + [1.0] * n2)
    return X, y
'''

TORCH_GENERATOR = '''\
def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    n1 = n // 2
    n2 = n - n1
    t = np.concatenate([np.linspace(0, 2 * np.pi, n1, endpoint=False),
                        np.linspace(0, 2 * np.pi, n2, endpoint=False)])
    r = np.concatenate([np.full(n1, r1), np.full(n2, r2)])
    szum = sd * torch.randn(n, 2, generator=g, dtype=torch.float64).numpy()
    X = np.column_stack([r * np.cos(t), r * np.sin(t)]) + szum
    y = (np.arange(n) >= n1).astype(float)
    return X, y
'''

TORCH_FLOAT32 = '''\
def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    n1 = n // 2
    n2 = n - n1
    # Wszystko w PyTorchu, w jego domyślnym float32; linspace z m + 1 kątów bez ostatniego (2*pi == 0).
    t = torch.cat([torch.linspace(0, 2 * torch.pi, n1 + 1)[:-1], torch.linspace(0, 2 * torch.pi, n2 + 1)[:-1]])
    r = torch.cat([torch.full((n1,), r1), torch.full((n2,), r2)])
    X = torch.stack([r * torch.cos(t), r * torch.sin(t)], dim=1)
    X = X + sd * torch.randn(n, 2, generator=g)
    y = torch.cat([torch.zeros(n1), torch.ones(n2)])
    return X.numpy(), y.numpy()   # tablice float32
'''

NUMPY_FLOAT32 = '''\
def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
    rng = np.random.default_rng(seed)
    n1 = n // 2
    n2 = n - n1
    # float32 wystarczy: i tak zamienimy dane na tensory float32.
    t = np.concatenate([np.linspace(0, 2 * np.pi, n1, endpoint=False),
                        np.linspace(0, 2 * np.pi, n2, endpoint=False)]).astype(np.float32)
    r = np.concatenate([np.full(n1, r1), np.full(n2, r2)]).astype(np.float32)
    X = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    X += rng.normal(0, sd, size=(n, 2)).astype(np.float32)
    y = np.concatenate([np.zeros(n1), np.ones(n2)]).astype(np.float32)
    return X, y
'''

FLOAT32_POINTS = '''\
def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
    rng = np.random.default_rng(seed)
    n1 = n // 2
    n2 = n - n1
    t1 = torch.linspace(0, 2 * torch.pi, n1 + 1)[:-1]   # bez kąta 2*pi (to ten sam punkt co 0)
    t2 = torch.linspace(0, 2 * torch.pi, n2 + 1)[:-1]
    okregi = torch.cat([r1 * torch.stack([torch.cos(t1), torch.sin(t1)], dim=1),
                        r2 * torch.stack([torch.cos(t2), torch.sin(t2)], dim=1)])
    X = okregi.numpy() + rng.normal(0, sd, size=(n, 2))   # punkty w float32, szum NumPy: wynik float64
    y = np.r_[np.zeros(n1), np.ones(n2)]
    return X, y
'''

COMPLEX = '''\
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

LOOP = '''\
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

DEFAULT_RNG = '''\
def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
    rng = np.random.default_rng(seed)
    n1 = n // 2
    n2 = n - n1
    t1 = np.linspace(0, 2 * np.pi, n1, endpoint=False)
    t2 = np.linspace(0, 2 * np.pi, n2, endpoint=False)
    wew = np.column_stack([r1 * np.cos(t1), r1 * np.sin(t1)])
    zew = np.column_stack([r2 * np.cos(t2), r2 * np.sin(t2)])
    X = np.vstack([wew, zew]) + rng.normal(0, sd, size=(n, 2))
    y = np.concatenate([np.zeros(n1), np.ones(n2)])
    return X, y
'''

# np.linspace with its endpoint: angle 0 and 2*pi are one point, drawn twice per ring.
ENDPOINT = '''\
def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
    rng = np.random.default_rng(seed)
    n1, n2 = n // 2, n - n // 2
    t1, t2 = np.linspace(0, 2 * np.pi, n1), np.linspace(0, 2 * np.pi, n2)
    X = np.vstack([np.c_[r1 * np.cos(t1), r1 * np.sin(t1)], np.c_[r2 * np.cos(t2), r2 * np.sin(t2)]])
    X = X + rng.normal(0, sd, (n, 2))
    return X, np.r_[np.zeros(n1), np.ones(n2)]
'''

# Angles drawn uniformly at random: one reading of "kąty rozłożone równomiernie".
UNIFORM_ANGLES = '''\
def make_rings(n=5000, r1=1.0, r2=2.0, sd=0.2, seed=None):
    rng = np.random.default_rng(seed)
    n1 = n // 2
    kat = rng.uniform(0, 2 * np.pi, n)   # losowe kąty zamiast równych odstępów
    r = np.r_[np.full(n1, r1), np.full(n - n1, r2)]
    X = np.column_stack([r * np.cos(kat), r * np.sin(kat)]) + rng.normal(0, sd, (n, 2))
    return X, np.r_[np.zeros(n1), np.ones(n - n1)]
'''

STYLES: dict[str, str] = {
    "legacy np.random": LEGACY,
    "torch.Generator": TORCH_GENERATOR,
    "torch float32": TORCH_FLOAT32,
    "numpy float32": NUMPY_FLOAT32,
    "float32 points, float64 X": FLOAT32_POINTS,
    "complex numbers": COMPLEX,
    "a loop over points": LOOP,
    "default_rng": DEFAULT_RNG,
    "linspace+endpoint": ENDPOINT,
}
OUTSIDE_HINT: dict[str, str] = {"uniform random angles": UNIFORM_ANGLES}
