"""Layered expectations for hidden checks, with "expected X, got Y" messages in Polish or English.

A check walks the layers in order (defined -> type -> shape -> dtype -> values) and
stops at the first one that fails, so the message names the most basic problem.
Messages name the student's function and the call, never the grader's code.
"""
from __future__ import annotations

from typing import Any, NoReturn

import numpy as np

from labkit.codec import Handle, TensorData
from labkit.settings import load_settings


class CheckFailed(AssertionError):
    """A hidden check's verdict, with a message meant for the student."""


def tr(pl: str, en: str, **fmt: Any) -> str:
    """The message in the configured language (LABKIT_LANG), formatted."""
    text = en if load_settings().language == "en" else pl
    return text.format(**fmt) if fmt else text


def fail(pl: str, en: str, **fmt: Any) -> NoReturn:
    raise CheckFailed(tr(pl, en, **fmt))


def describe(value: Any) -> str:
    """A short, neutral description of a value for 'got ...'."""
    if isinstance(value, TensorData):
        return f"Tensor dtype={value.dtype} shape={value.shape}"
    if isinstance(value, np.ndarray):
        return f"np.ndarray dtype={value.dtype} shape={value.shape}"
    if isinstance(value, Handle):
        return f"obiekt {value.type}" if load_settings().language == "pl" else f"an object {value.type}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} o długości {len(value)}" if load_settings().language == "pl" \
            else f"{type(value).__name__} of length {len(value)}"
    if isinstance(value, dict):
        return f"dict z kluczami {sorted(map(str, value))}" if load_settings().language == "pl" \
            else f"dict with keys {sorted(map(str, value))}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
                 rtol: float = 0.0) -> None:
    """Element-wise |actual - expected| <= atol + rtol*|expected|; message shows the worst element."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        fail("{what}: oczekiwano kształtu {exp}, otrzymano {got}.",
             "{what}: expected shape {exp}, got {got}.", what=what, exp=expected.shape, got=actual.shape)
    if not np.all(np.isfinite(actual)):
        fail("{what}: wynik zawiera NaN lub nieskończoność.", "{what}: the result contains NaN or inf.",
             what=what)
    error = np.abs(actual - expected)
    bound = atol + rtol * np.abs(expected)
    if np.any(error > bound):
        worst = np.unravel_index(np.argmax(error - bound), error.shape) if error.ndim else ()
        fail("{what}: oczekiwano {exp:.8g}, otrzymano {got:.8g} (pozycja {pos}, tolerancja {tol:.1e}).",
             "{what}: expected {exp:.8g}, got {got:.8g} (position {pos}, tolerance {tol:.1e}).",
             what=what, exp=float(expected[worst]), got=float(actual[worst]), pos=tuple(int(i) for i in worst),
             tol=float(bound[worst]))


def expect_equal(actual: Any, expected: Any, what: str) -> None:
    if actual != expected:
        fail("{what}: oczekiwano {exp}, otrzymano {got}.", "{what}: expected {exp}, got {got}.",
             what=what, exp=describe(expected), got=describe(actual))


def call_text(name: str, *args: Any, **kwargs: Any) -> str:
    """How a call reads in a message: make_rings(n=7, sd=0.0)."""
    def short(v: Any) -> str:
        if isinstance(v, (np.ndarray, TensorData, Handle)):
            return {np.ndarray: "X", TensorData: "X", Handle: "model"}.get(type(v), "...")
        return repr(v)
    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"
