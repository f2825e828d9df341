"""Part `model` (6.1.5): Klasyfikator."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from .grader import grader_weights, reference_model, require_callable
from labkit.grading.checks import TensorData, call_text, expect_close, expect_tensor, fail, tr
from labkit.core.i18n import language
from labkit.protocol.codec import Handle
from labkit.core.assignment import current
from reference.lab06.model import n_parameters
from .strategies import architectures

pytestmark = pytest.mark.part("model")

TOL = current().params.tol
DEFAULT_SHAPES = [(4, 2), (4,), (2, 4), (2,), (1, 2), (1,)]


def build(sub, *args, **kwargs) -> tuple[Handle, dict, str]:
    what = call_text("Klasyfikator", *args, **kwargs)
    model = sub.call("Klasyfikator", *args, **kwargs).value
    if not isinstance(model, Handle):
        fail("{what}: oczekiwano modelu nn.Module, otrzymano {got}.", "{what}: expected an nn.Module, got {got}.",
             what=what, got=type(model).__name__)
    info = sub.op("describe", model)
    if "torch.nn.modules.module.Module" not in info["mro"]:
        fail("{what}: Klasyfikator powinien dziedziczyć po nn.Module.",
             "{what}: Klasyfikator should subclass nn.Module.", what=what)
    return model, info, what


def inputs(seed: int, batch: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-3, 3, size=(batch, 2)).astype(np.float32)


def reference_outputs(hidden, activation: str, weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """What a correct Klasyfikator(hidden, activation) outputs for x with the grader's weights:
    the reference's forward pass in eval mode, in this (trusted) process."""
    ref = reference_model(hidden, activation, weights)
    ref.eval()
    with torch.no_grad():
        return ref(torch.tensor(x)).numpy()


def test_klasyfikator_is_an_nn_module_class(submission):
    require_callable(submission, "Klasyfikator", kind="class")
    build(submission)


def test_default_model_has_25_parameters_in_layer_order(submission):
    _, info, what = build(submission)
    shapes = [tuple(s) for s in info["param_shapes"]]
    if shapes != DEFAULT_SHAPES:
        fail("{what}: oczekiwano parametrów o kształtach {exp} (sieć 2-4-2-1), otrzymano {got}.",
             "{what}: expected parameter shapes {exp} (a 2-4-2-1 net), got {got}.",
             what=what, exp=DEFAULT_SHAPES, got=shapes)
    if sum(int(np.prod(s)) for s in shapes) != 25:
        fail("{what}: domyślny model powinien mieć 25 parametrów.", "{what}: the default model should have 25 "
             "parameters.", what=what)


@given(arch=architectures(), batch=st.integers(min_value=1, max_value=64))
def test_output_has_shape_b1_strictly_inside_0_1(submission, arch, batch):
    hidden, activation = arch
    model, _, what = build(submission, hidden, activation)
    out = submission.op("forward_raw", model, inputs(batch, batch))
    values = expect_tensor(out, f"{what}(x) dla x o kształcie ({batch}, 2)", shape=(batch, 1), dtype="float32")
    if not np.all((values > 0) & (values < 1)):
        fail("{what}(x): wyjście to prawdopodobieństwa, powinny leżeć w (0, 1); otrzymano zakres [{lo:.3g}, {hi:.3g}]. "
             "Czy ostatnią warstwą jest Sigmoid?",
             "{what}(x): outputs are probabilities and should lie in (0, 1); got the range [{lo:.3g}, {hi:.3g}]. "
             "Is the last layer a Sigmoid?", what=what, lo=float(values.min()), hi=float(values.max()))


@given(arch=architectures())
def test_parameter_count_and_shapes_follow_hidden(submission, arch):
    hidden, activation = arch
    _, info, what = build(submission, hidden, activation)
    expected = [tuple(p.shape) for p in reference_model(hidden, activation).parameters()]
    shapes = [tuple(s) for s in info["param_shapes"]]
    count = sum(int(np.prod(s)) for s in shapes)
    if count != n_parameters(hidden):
        fail("{what}: oczekiwano {exp} parametrów, otrzymano {got}.", "{what}: expected {exp} parameters, got {got}.",
             what=what, exp=n_parameters(hidden), got=count)
    if shapes != expected:
        fail("{what}: parametry w kolejności warstw powinny mieć kształty {exp}, otrzymano {got}.",
             "{what}: parameters in layer order should have shapes {exp}, got {got}.",
             what=what, exp=expected, got=shapes)


@pytest.mark.weight(2)
@given(arch=architectures(), seed=st.integers(min_value=0, max_value=10_000))
def test_forward_matches_reference_with_grader_weights(submission, arch, seed):
    hidden, activation = arch
    model, info, what = build(submission, hidden, activation)
    weights = grader_weights(hidden, seed)
    if [tuple(s) for s in info["param_shapes"]] != [w.shape for w in weights]:
        fail("{what}: nie można wczytać wag (kształty parametrów niezgodne z kontraktem).",
             "{what}: cannot load weights (parameter shapes differ from the contract).", what=what)
    submission.op("set_params", model, weights)
    x = inputs(seed, 32)
    got = expect_tensor(submission.op("forward", model, x), f"{what}(x)", shape=(32, 1))
    expected = reference_outputs(hidden, activation, weights, x)
    expect_close(got, expected, f"{what}(x) przy wagach sprawdzarki" if language() == "pl"
                 else f"{what}(x) with the grader's weights", atol=TOL.forward)


def test_empty_hidden_is_logistic_regression(submission):
    _, info, what = build(submission, ())
    shapes = [tuple(s) for s in info["param_shapes"]]
    if shapes != [(1, 2), (1,)]:
        fail("{what}: oczekiwano regresji logistycznej z parametrami {exp}, otrzymano {got}.",
             "{what}: expected logistic regression with parameters {exp}, got {got}.",
             what=what, exp=[(1, 2), (1,)], got=shapes)


# --------------------------------------------------------------------------- diagnosis
# Known mistakes of Klasyfikator, on the checks' own weights and inputs. Never scores.

SEED_COMMENT_SHAPES = [(30, 2), (30,), (10, 30), (10,), (1, 10), (1,)]   # the seed's "30 and 10 neurons"


def model_mistake(sub) -> str | None:
    model, info, _ = build(sub)
    if [tuple(s) for s in info["param_shapes"]] == SEED_COMMENT_SHAPES:
        return "hidden_30_10"
    hidden, activation = (8,), "relu"
    model, info, _ = build(sub, hidden, activation)
    weights = grader_weights(hidden, 5)
    if [tuple(s) for s in info["param_shapes"]] != [w.shape for w in weights]:
        return None
    sub.op("set_params", model, weights)
    x = inputs(5, 32)
    got = sub.op("forward", model, x)
    if not isinstance(got, TensorData) or got.shape != (32, 1):
        return None
    p = reference_outputs(hidden, activation, weights, x).astype(np.float64)
    logits = np.log(p) - np.log1p(-p)
    if np.allclose(got.array.astype(np.float64), logits, rtol=1e-4, atol=10 * TOL.forward):
        return "missing_sigmoid"
    return None


def model_mistake_message(mistake: str) -> str:
    return {
        "hidden_30_10": tr("Wygląda na domyślne hidden=(30, 10) zamiast (4, 2) z treści zadania.",
                           "Looks like a default of hidden=(30, 10) instead of the task's (4, 2)."),
        "missing_sigmoid": tr("Wygląda na brak Sigmoid na wyjściu: model zwraca logity, a nie prawdopodobieństwa.",
                              "Looks like the output Sigmoid is missing: the model returns logits, not "
                              "probabilities."),
    }[mistake]


@pytest.mark.diagnosis
def test_diagnose_a_known_klasyfikator_mistake(submission, diagnosis):
    diagnosis.name(lambda: model_mistake(submission), model_mistake_message)
