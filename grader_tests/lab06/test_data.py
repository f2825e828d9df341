"""Part `data` (6.1.3): make_rings."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference.lab06 as reference
from .grader import require_callable
from labkit.grading.checks import call_text, expect_ndarray, fail, float_eps, number_pair, tr
from labkit.core.assignment import current
from labkit.grading.memo import reference_memo
from .strategies import ring_radii, ring_sizes, statistical_ring_params

pytestmark = pytest.mark.part("data")

TOL = current().params.tol


def rings(sub, *args, _seed=None, **kwargs) -> tuple[np.ndarray, np.ndarray, str]:
    """Call the student's make_rings and check the layers type -> shape -> dtype."""
    what = call_text("make_rings", *args, **kwargs)
    result = sub.call("make_rings", *args, _seed=_seed, **kwargs).value
    if not isinstance(result, tuple) or len(result) != 2:
        if not (isinstance(result, list) and len(result) == 2):
            fail("{what}: oczekiwano pary (X, y), otrzymano {got}.", "{what}: expected a pair (X, y), got {got}.",
                 what=what, got=type(result).__name__)
    X, y = result
    n = kwargs.get("n", args[0] if args else 5000)
    X = expect_ndarray(X, f"{what} → X", shape=(n, 2), kind="f")
    y = expect_ndarray(y, f"{what} → y", shape=(n,), kind="fiub")
    return X, y, what


def class_stats(X: np.ndarray, y: np.ndarray, label: int, r: float) -> dict:
    # float64 whatever X's dtype: the statistics judge the points, not float32 summation.
    pts = np.asarray(X[y == label], dtype=np.float64)
    radius = np.hypot(pts[:, 0], pts[:, 1])
    angle = np.arctan2(pts[:, 1], pts[:, 0])
    return {"mean_radius": radius.mean(), "spread": (radius - r).std(),
            "mean_cos": np.cos(angle).mean(), "mean_sin": np.sin(angle).mean()}


@lru_cache(maxsize=256)
@reference_memo
def expected_stats(n: int, r1: float, r2: float, sd: float) -> tuple[dict, dict]:
    """The same statistics for the reference at a large n: noise biases the radius, and both
    sides estimate the same biased quantity."""
    X, y = reference.make_rings(200_000, r1, r2, sd, seed=12345)
    return class_stats(X, y, 0, r1), class_stats(X, y, 1, r2)


def test_make_rings_is_defined(submission):
    require_callable(submission, "make_rings")
    X, y, _ = rings(submission, seed=1)
    if X.shape != (5000, 2):
        fail("make_rings(): domyślne n to 5000.", "make_rings(): the default n is 5000.")


@given(n=ring_sizes())
def test_shapes_and_label_values(submission, n):
    X, y, what = rings(submission, n, seed=3)
    if not np.all(np.isin(y, (0.0, 1.0))):
        fail("{what} → y: oczekiwano wartości 0.0 i 1.0, otrzymano {got}.",
             "{what} → y: expected values 0.0 and 1.0, got {got}.", what=what,
             got=sorted(set(np.unique(y).tolist()))[:6])
    if not np.all(np.isfinite(X)):
        fail("{what} → X zawiera NaN lub nieskończoność.", "{what} → X contains NaN or inf.", what=what)


@given(n=ring_sizes())
def test_first_half_is_inner_ring_with_label_0(submission, n):
    X, y, what = rings(submission, n, seed=4)
    expected = np.r_[np.zeros(n // 2), np.ones(n - n // 2)]
    if not np.array_equal(y.astype(float), expected):
        fail("{what} → y: oczekiwano {a} zer, a potem {b} jedynek; otrzymano {za} zer w pierwszej części "
             "i {ob} jedynek w drugiej.",
             "{what} → y: expected {a} zeros then {b} ones; got {za} zeros in the first part and {ob} ones "
             "in the second.", what=what, a=n // 2, b=n - n // 2,
             za=int((y[: n // 2] == 0).sum()), ob=int((y[n // 2:] == 1).sum()))


@given(params=statistical_ring_params())
def test_class_mean_radius_matches_r1_and_r2(submission, params):
    X, y, what = rings(submission, **params, seed=5)
    inner_exp, outer_exp = expected_stats(**params)
    for label, radius, exp in ((0, params["r1"], inner_exp), (1, params["r2"], outer_exp)):
        got = class_stats(X, y, label, radius)["mean_radius"]
        if abs(got - exp["mean_radius"]) > TOL.radius_mean:
            fail("{what}: średni promień klasy {label} powinien wynosić ok. {exp:.3f} (r={r}), otrzymano {got:.3f}.",
                 "{what}: class {label} mean radius should be about {exp:.3f} (r={r}), got {got:.3f}.",
                 what=what, label=label, exp=exp["mean_radius"], r=radius, got=got)


@given(params=statistical_ring_params())
def test_radial_spread_matches_sd(submission, params):
    X, y, what = rings(submission, **params, seed=6)
    inner_exp, outer_exp = expected_stats(**params)
    for label, radius, exp in ((0, params["r1"], inner_exp), (1, params["r2"], outer_exp)):
        got = class_stats(X, y, label, radius)["spread"]
        if abs(got - exp["spread"]) > TOL.radius_spread:
            fail("{what}: rozrzut promienia klasy {label} powinien wynosić ok. {exp:.3f} (szum N(0, sd²), "
                 "sd={sd}), otrzymano {got:.3f}.",
                 "{what}: class {label} radial spread should be about {exp:.3f} (noise N(0, sd²), sd={sd}), "
                 "got {got:.3f}.", what=what, label=label, exp=exp["spread"], sd=params["sd"], got=got)


@given(params=statistical_ring_params())
def test_angles_cover_the_full_circle(submission, params):
    X, y, what = rings(submission, **params, seed=7)
    for label, radius in ((0, params["r1"]), (1, params["r2"])):
        stats = class_stats(X, y, label, radius)
        worst = max(abs(stats["mean_cos"]), abs(stats["mean_sin"]))
        if worst > TOL.angle_mean:
            tol, got = number_pair(TOL.angle_mean, worst, digits=2)
            fail("{what}: kąty klasy {label} nie obejmują całego okręgu: |średni cos|, |średni sin| powinny być "
                 "≤ {tol}, otrzymano {got}.",
                 "{what}: class {label} angles do not cover the whole circle: |mean cos|, |mean sin| should be "
                 "≤ {tol}, got {got}.", what=what, label=label, tol=tol, got=got)


def zero_sd_radii(X: np.ndarray, n: int, r1: float, r2: float) -> tuple[np.ndarray, np.ndarray]:
    """sd = 0: each point's radius and the radius of its ring (the first n // 2 points inner).
    Radii in float64 from the values X holds: float32 hypot would add its own rounding."""
    radius = np.hypot(X[:, 0].astype(np.float64), X[:, 1].astype(np.float64))
    expected = np.where(np.arange(n) < n // 2, r1, r2)
    return radius, expected


def radius_tolerance(dtype: np.dtype, radius: np.ndarray) -> np.ndarray:
    """sd = 0: how far a correct point may sit from its ring in X's dtype (float32 or float64)."""
    return np.maximum(TOL.exact, TOL.exact_ulps * float_eps(dtype) * radius)


@given(n=ring_sizes(low=2), radii=ring_radii())
def test_zero_sd_gives_exact_radii(submission, n, radii):
    r1, r2 = radii
    X, y, what = rings(submission, n, r1, r2, 0.0, seed=8)
    radius, expected = zero_sd_radii(X, n, r1, r2)
    tolerance = radius_tolerance(X.dtype, expected)
    excess = np.abs(radius - expected) - tolerance
    worst = int(np.argmax(excess))
    if excess[worst] > 0:
        exp, got = number_pair(expected[worst], radius[worst])
        fail("{what}: przy sd=0 punkt {i} powinien leżeć na promieniu {exp}, otrzymano {got} "
             "(różnica {diff:.2g}, tolerancja dla {dtype}: {tol:.2g}).",
             "{what}: with sd=0 point {i} should lie at radius {exp}, got {got} "
             "(difference {diff:.2g}, tolerance for {dtype}: {tol:.2g}).",
             what=what, i=worst, exp=exp, got=got, diff=abs(radius[worst] - expected[worst]),
             dtype=X.dtype, tol=tolerance[worst])


@given(seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_same_seed_gives_same_arrays(submission, seed):
    # Different grader seeds around the two calls: only the `seed` argument may decide the result.
    X1, y1, what = rings(submission, 300, seed=seed, _seed=1)
    X2, y2, _ = rings(submission, 300, seed=seed, _seed=2)
    if not (np.array_equal(X1, X2) and np.array_equal(y1, y2)):
        fail("{what}: dwa wywołania z tym samym seed dały różne tablice.",
             "{what}: two calls with the same seed gave different arrays.", what=what)
    X3, _, _ = rings(submission, 300, seed=seed + 1, _seed=1)
    if np.array_equal(X1, X3):
        fail("{what}: różne wartości seed dały identyczne tablice.",
             "{what}: different seeds gave identical arrays.", what=what)


def test_seed_none_gives_fresh_randomness(submission):
    X1, _, what = rings(submission, 300, seed=None, _seed=1)
    X2, _, _ = rings(submission, 300, seed=None, _seed=2)
    if np.array_equal(X1, X2):
        fail("{what}: seed=None powinno dawać za każdym razem nowe losowanie, otrzymano identyczne tablice.",
             "{what}: seed=None should draw fresh randomness, got identical arrays.", what=what)


# --------------------------------------------------------------------------- diagnosis
# Known mistakes of make_rings, recognised on deterministic inputs (sd = 0: no randomness at
# all) or on statistics whose variants sit many standard errors apart. Never scores.

DIAGNOSIS_N = 4000


def data_mistake_message(mistake: str) -> str:
    return {
        "swapped_labels": tr("Wygląda na zamienione etykiety: wewnętrzny pierścień ma etykietę 1, zewnętrzny 0.",
                             "Looks like swapped labels: the inner ring has label 1, the outer 0."),
        "half_circle": tr("Wygląda na kąty z przedziału [0, π) zamiast [0, 2π): punkty tworzą półokręgi.",
                          "Looks like angles in [0, π) instead of [0, 2π): the points form half circles."),
        "no_noise": tr("Wygląda na to, że szum nie jest dodawany: przy sd > 0 punkty leżą dokładnie na okręgach.",
                       "Looks like no noise is added: with sd > 0 the points lie exactly on the circles."),
        "variance_as_sd": tr("Wygląda na użycie sd**2 (wariancji) jako odchylenia standardowego szumu.",
                             "Looks like sd**2 (the variance) is used as the noise's standard deviation."),
    }[mistake]


def _radial_spread(X: np.ndarray, y: np.ndarray, r1: float, r2: float) -> float:
    pts = np.asarray(X, dtype=np.float64)
    radius = np.hypot(pts[:, 0], pts[:, 1])
    return float(np.std(radius - np.where(np.asarray(y) == 0, r1, r2)))


def data_mistake(sub) -> str | None:
    """The first known mistake the student's make_rings matches, or None."""
    X0, y0, _ = rings(sub, DIAGNOSIS_N, 1.0, 2.0, 0.0, seed=3)
    _, y_ref = reference.make_rings(DIAGNOSIS_N, 1.0, 2.0, 0.0, seed=3)
    if np.array_equal(np.asarray(y0, dtype=np.float64), 1 - y_ref):
        return "swapped_labels"
    angles = np.arctan2(np.asarray(X0[:, 1], np.float64), np.asarray(X0[:, 0], np.float64))
    if np.all(angles >= -1e-6) and np.all(angles <= np.pi + 1e-6):
        return "half_circle"
    sd = 0.5
    X, y, _ = rings(sub, DIAGNOSIS_N, 1.0, 2.0, sd, seed=3)
    radius = np.hypot(np.asarray(X[:, 0], np.float64), np.asarray(X[:, 1], np.float64))
    ring = np.where(np.asarray(y) == 0, 1.0, 2.0)
    if np.all(np.abs(radius - ring) <= radius_tolerance(X.dtype, ring)):
        return "no_noise"
    spread = _radial_spread(X, y, 1.0, 2.0)
    expected = {s: _radial_spread(*reference.make_rings(200_000, 1.0, 2.0, s, seed=12345), 1.0, 2.0)
                for s in (sd, sd ** 2)}
    # Standard error of the spread at n = 4000 is ~1%: 10% bands around each are far apart.
    if abs(spread - expected[sd ** 2]) <= 0.1 * expected[sd ** 2] and abs(spread - expected[sd]) > 0.3 * expected[sd]:
        return "variance_as_sd"
    return None


@pytest.mark.diagnosis
def test_diagnose_a_known_make_rings_mistake(submission, diagnosis):
    diagnosis.name(lambda: data_mistake(submission), data_mistake_message)
