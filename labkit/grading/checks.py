"""Layered expectations for hidden checks, with "expected X, got Y" messages in Polish or English.

A check walks the layers in order (defined -> type -> shape -> dtype -> values) and
stops at the first one that fails, so the message names the most basic problem.
Messages name the student's function and the call, never the grader's code.
"""
from __future__ import annotations

from typing import Any, NoReturn

import numpy as np

from labkit.protocol.codec import Handle, TensorData
from labkit.core.i18n import tr


class CheckFailed(AssertionError):
    """A hidden check's verdict, with a message meant for the student."""


def fail(pl: str, en: str, **fmt: Any) -> NoReturn:
    raise CheckFailed(tr(pl, en, **fmt))


def describe(value: Any) -> str:
    """A short, neutral description of a value for 'got ...'."""
    if isinstance(value, TensorData):
        return f"Tensor dtype={value.dtype} shape={value.shape}"
    if isinstance(value, np.ndarray):
        return f"np.ndarray dtype={value.dtype} shape={value.shape}"
    if isinstance(value, Handle):
        return tr("obiekt {t}", "an object {t}", t=value.type)
    if isinstance(value, (list, tuple)):
        return tr("{t} o długości {n}", "{t} of length {n}", t=type(value).__name__, n=len(value))
    if isinstance(value, dict):
        return tr("dict z kluczami {k}", "dict with keys {k}", k=sorted(map(str, value)))
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


DEFAULT_NUMBER_ULPS = 8.0
_FLOAT32_EPS = float(np.finfo(np.float32).eps)
_TORCH_ONLY_EPS = {"bfloat16": 2.0 ** -7}   # float dtypes numpy does not know


def float_eps(dtype: Any = None) -> float:
    """The resolution of a float that arrived in ``dtype`` (None: a Python float).

    Its machine epsilon, but never finer than float32's: torch computes in float32 by
    default, so a float64 array or a Python float may rightly hold a float32 result
    (``X.double()``, ``loss.item()``). Integer and boolean dtypes are exact (0).
    """
    if dtype is None:
        name = "float64"
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:   # a torch dtype or its name: "torch.bfloat16", "bfloat16"
            name = str(dtype).removeprefix("torch.")
    if name in _TORCH_ONLY_EPS:
        return _TORCH_ONLY_EPS[name]
    try:
        kind = np.dtype(name).kind
    except TypeError:
        return _FLOAT32_EPS
    if kind != "f":
        return 0.0
    return max(float(np.finfo(np.dtype(name)).eps), _FLOAT32_EPS)


def number_eps(value: Any) -> float:
    """float_eps of the dtype a number came in: Python, numpy scalar, 0-d array or tensor
    (for a list or tuple of numbers, the coarsest of them)."""
    if isinstance(value, (list, tuple)):
        return max((number_eps(v) for v in value), default=0.0)
    if isinstance(value, TensorData):
        return float_eps(value.dtype)
    if isinstance(value, (np.ndarray, np.generic)):
        return float_eps(value.dtype)
    if isinstance(value, (bool, int)):
        return 0.0
    return float_eps(None)


def allowance(eps: float, value: Any) -> np.ndarray | float:
    """How far a correct result may sit from ``value`` because of its dtype alone: the
    assignment's ``params.tol.number_ulps`` (default 8) ulps of ``value``."""
    from labkit.core.assignment import active
    assignment = active()
    tol = assignment.params.get("tol") if assignment is not None else None
    return float((tol or {}).get("number_ulps", DEFAULT_NUMBER_ULPS)) * eps * np.abs(value)


def plain(value: Any) -> Any:
    """``value`` with numpy and torch numbers made Python numbers, inside lists, tuples and
    dicts too; arrays and tensors become (nested) lists. What the contract calls a number
    may be any of them (np.arange, np.logspace, ``tensor.mean()``)."""
    if isinstance(value, TensorData):
        value = value.array
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if value is None or isinstance(value, (bool, Handle)):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    return value


def number_pair(expected: float, got: float, digits: int = 4) -> tuple[str, str]:
    """Both numbers with the fewest significant digits (at least ``digits``) that tell them
    apart, so that "expected X, got Y" never shows two equal-looking numbers."""
    expected, got = float(expected), float(got)
    for d in range(digits, 18):
        a, b = f"{expected:.{d}g}", f"{got:.{d}g}"
        if a != b:
            return a, b
    return repr(expected), repr(got)


def as_array(value: Any) -> np.ndarray | None:
    if isinstance(value, TensorData):
        return value.array
    if isinstance(value, np.ndarray):
        return value
    return None


def expect_ndarray(value: Any, what: str, *, shape: tuple | None = None, kind: str | None = None) -> np.ndarray:
    """value must be a numpy array (not a tensor, not a list) of the given shape and dtype kind."""
    if not isinstance(value, np.ndarray):
        fail("{what}: oczekiwano np.ndarray, otrzymano {got}.",
             "{what}: expected an np.ndarray, got {got}.", what=what, got=describe(value))
    _expect_shape_kind(value, what, shape, kind)
    return value


def expect_tensor(value: Any, what: str, *, shape: tuple | None = None, dtype: str | None = None) -> np.ndarray:
    """value must be a torch tensor of the given shape and dtype; returns its values."""
    if not isinstance(value, TensorData):
        fail("{what}: oczekiwano tensora torch, otrzymano {got}.",
             "{what}: expected a torch tensor, got {got}.", what=what, got=describe(value))
    if shape is not None and value.shape != tuple(shape):
        fail("{what}: oczekiwano kształtu {exp}, otrzymano {got}.",
             "{what}: expected shape {exp}, got {got}.", what=what, exp=tuple(shape), got=value.shape)
    if dtype is not None and value.dtype != dtype:
        fail("{what}: oczekiwano typu torch.{exp}, otrzymano torch.{got}.",
             "{what}: expected dtype torch.{exp}, got torch.{got}.", what=what, exp=dtype, got=value.dtype)
    return value.array


def _expect_shape_kind(array: np.ndarray, what: str, shape: tuple | None, kind: str | None) -> None:
    if shape is not None and tuple(array.shape) != tuple(shape):
        fail("{what}: oczekiwano kształtu {exp}, otrzymano {got}.",
             "{what}: expected shape {exp}, got {got}.", what=what, exp=tuple(shape), got=tuple(array.shape))
    if kind is not None and array.dtype.kind not in kind:
        names = {"f": "zmiennoprzecinkowego", "i": "całkowitego", "u": "całkowitego", "b": "logicznego"}
        fail("{what}: oczekiwano typu {exp}, otrzymano dtype={got}.",
             "{what}: expected a dtype of kind {kind}, got dtype={got}.", what=what,
             exp=" lub ".join(names.get(k, k) for k in kind), kind=kind, got=array.dtype)


def expect_number(value: Any, what: str) -> float:
    """A Python or numpy real number (or a 0-d array/tensor), returned as float."""
    array = as_array(value)
    if array is not None and array.size == 1 and array.ndim <= 1:
        value = array.reshape(()).item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        fail("{what}: oczekiwano liczby, otrzymano {got}.", "{what}: expected a number, got {got}.",
             what=what, got=describe(value))
    return float(value)


def expect_close(actual: np.ndarray, expected: np.ndarray, what: str, *, atol: float = 0.0,
                 rtol: float = 0.0, eps: float = 0.0) -> None:
    """Element-wise |actual - expected| <= atol + rtol*|expected|, widened to the dtype allowance
    number_ulps*eps*|expected| where that is larger; the message shows the worst element."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        fail("{what}: oczekiwano kształtu {exp}, otrzymano {got}.",
             "{what}: expected shape {exp}, got {got}.", what=what, exp=expected.shape, got=actual.shape)
    if not np.all(np.isfinite(actual)):
        fail("{what}: wynik zawiera NaN lub nieskończoność.", "{what}: the result contains NaN or inf.",
             what=what)
    error = np.abs(actual - expected)
    bound = np.maximum(atol + rtol * np.abs(expected), allowance(eps, expected))
    if np.any(error > bound):
        worst = np.unravel_index(np.argmax(error - bound), error.shape) if error.ndim else ()
        exp, got = number_pair(expected[worst], actual[worst])
        fail("{what}: oczekiwano {exp}, otrzymano {got} (pozycja {pos}, różnica {diff:.2g}, tolerancja {tol:.2g}).",
             "{what}: expected {exp}, got {got} (position {pos}, difference {diff:.2g}, tolerance {tol:.2g}).",
             what=what, exp=exp, got=got, pos=tuple(int(i) for i in worst), diff=float(error[worst]),
             tol=float(bound[worst]))


def call_text(name: str, *args: Any, **kwargs: Any) -> str:
    """How a call reads in a message: make_rings(n=7, sd=0.0)."""
    def short(v: Any) -> str:
        if isinstance(v, (np.ndarray, TensorData, Handle)):
            return {np.ndarray: "X", TensorData: "X", Handle: "model"}.get(type(v), "...")
        return repr(v)
    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"
