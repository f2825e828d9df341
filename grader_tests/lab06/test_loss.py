"""Part `loss` (6.1.5-6.1.6): predict, evaluate, dataset_loss.

The model in these checks is the grader's own (a small net with Dropout), so a mistake
in Klasyfikator cannot cost points here, and eval mode shows in the numbers: in train
mode Dropout would change them.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix

import reference.lab06 as reference
from .grader import grader_weights, require_callable
from labkit.grading.checks import TensorData, expect_close, expect_ndarray, expect_number, fail, number_eps, tr
from labkit.core.assignment import current

pytestmark = pytest.mark.part("loss")

TOL = current().params.tol
HIDDEN = (8,)


def grader_net(seed: int) -> tuple[list[np.ndarray], torch.nn.Module]:
    """The grader's weights for the 2-8-1 net, and its copy in this process (eval mode, so the
    worker's Dropout, off in eval mode, has no counterpart here)."""
    weights = grader_weights(HIDDEN, seed, scale=1.0)
    local = reference.Klasyfikator(HIDDEN, "relu")
    with torch.no_grad():
        for p, w in zip(local.parameters(), weights):
            p.copy_(torch.as_tensor(w))
    local.eval()
    return weights, local


def grader_model(sub, seed: int):
    """A 2-8-1 net with Dropout before the output, in the worker and in this process."""
    weights, local = grader_net(seed)
    handle = sub.op("mlp_dropout", [2, *HIDDEN, 1], 0.5)
    sub.op("set_params", handle, weights)
    return handle, local


def data(seed: int, n: int = 400) -> tuple[TensorData, TensorData, np.ndarray, np.ndarray]:
    X, y = reference.make_rings(n, sd=0.3, seed=seed)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    return TensorData(X32, "float32"), TensorData(y32, "float32"), X32, y32


def grader_labels(local, X32: np.ndarray) -> np.ndarray:
    """The labels a correct predict gives: p > 0.5 of the grader's own copy of the model."""
    with torch.no_grad():
        return (local(torch.tensor(X32)) > 0.5).numpy().reshape(-1).astype(np.int64)


def grader_probabilities(local, X32: np.ndarray) -> np.ndarray:
    """The grader's copy of the model on X, as float64 probabilities."""
    with torch.no_grad():
        return local(torch.tensor(X32)).numpy().reshape(-1).astype(np.float64)


def grader_bce(p: np.ndarray, y: np.ndarray) -> np.floating:
    """Binary cross-entropy written out from its definition (mean over the samples), in
    float64; logs clamped at -100 as BCELoss documents."""
    with np.errstate(divide="ignore"):
        log_p, log_q = np.maximum(np.log(p), -100), np.maximum(np.log(1 - p), -100)
    return -np.mean(y * log_p + (1 - y) * log_q)


def grader_evaluation(local, X32: np.ndarray, y32: np.ndarray) -> tuple[np.floating, np.ndarray]:
    """What a correct evaluate returns: the accuracy of the grader's labels, and the confusion
    matrix (rows: true classes, columns: predicted)."""
    y_pred = grader_labels(local, X32)
    y_true = y32.astype(np.int64)
    return np.mean(y_pred == y_true), confusion_matrix(y_true, y_pred, labels=[0, 1])


def labels_from(value, what: str, n: int) -> np.ndarray:
    array = expect_ndarray(value, what, kind="fiub")
    if array.shape not in ((n,), (n, 1)):
        fail("{what}: oczekiwano kształtu ({n},), otrzymano {got}.", "{what}: expected shape ({n},), got {got}.",
             what=what, n=n, got=array.shape)
    array = array.reshape(n)
    if not np.all(np.isin(array, (0, 1))):
        fail("{what}: oczekiwano etykiet 0/1, otrzymano wartości {got}.", "{what}: expected 0/1 labels, got {got}.",
             what=what, got=sorted(set(np.unique(array).tolist()))[:6])
    return array.astype(np.int64)


@pytest.mark.weight(2)
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_dataset_loss_equals_grader_binary_cross_entropy(submission, seed):
    require_callable(submission, "dataset_loss")
    handle, local = grader_model(submission, seed)
    X, y, X32, y32 = data(seed)
    loss_fn = submission.op("bce_loss")
    what = "dataset_loss(model, X, y, nn.BCELoss())"
    value = submission.call("dataset_loss", handle, X, y, loss_fn).value
    got = expect_number(value, what)
    expected = grader_bce(grader_probabilities(local, X32), y32)
    expect_close(np.array(got), np.array(expected), what, rtol=TOL.loss_rel, eps=number_eps(value))


@given(seed=st.integers(min_value=0, max_value=10_000))
def test_predict_thresholds_probabilities_at_one_half(submission, seed):
    require_callable(submission, "predict")
    handle, local = grader_model(submission, seed)
    X, _, X32, _ = data(seed)
    what = "predict(model, X)"
    got = labels_from(submission.call("predict", handle, X).value, what, len(X32))
    expected = grader_labels(local, X32)
    wrong = np.flatnonzero(got != expected)
    if wrong.size:
        fail("{what}: {k} z {n} etykiet różni się od progu p > 0.5 (w trybie eval), np. próbka {i}: "
             "oczekiwano {exp}, otrzymano {got}.",
             "{what}: {k} of {n} labels differ from the threshold p > 0.5 (in eval mode), e.g. sample {i}: "
             "expected {exp}, got {got}.", what=what, k=wrong.size, n=len(got), i=int(wrong[0]),
             exp=int(expected[wrong[0]]), got=int(got[wrong[0]]))


def test_predict_at_exactly_one_half_is_label_0(submission):
    handle = submission.op("mlp", [2, 1], "relu")
    submission.op("set_params", handle, [np.zeros((1, 2), np.float32), np.zeros(1, np.float32)])
    X = TensorData(np.ones((5, 2), np.float32), "float32")
    got = labels_from(submission.call("predict", handle, X).value, "predict(model, X)", 5)
    if got.any():
        fail("predict(model, X): dla p = 0.5 dokładnie etykieta to 0 (próg p > 0.5), otrzymano 1.",
             "predict(model, X): p = 0.5 exactly gives label 0 (threshold p > 0.5), got 1.")


@given(seed=st.integers(min_value=0, max_value=10_000))
def test_evaluate_matches_grader_accuracy_and_confusion_matrix(submission, seed):
    require_callable(submission, "evaluate")
    handle, local = grader_model(submission, seed)
    X, _, X32, y32 = data(seed)
    what = "evaluate(model, X, y)"
    result = submission.call("evaluate", handle, X, y32.astype(np.float64)).value
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail("{what}: oczekiwano pary (accuracy, confusion).", "{what}: expected a pair (accuracy, confusion).",
             what=what)
    accuracy = expect_number(result[0], f"{what} → accuracy")   # float, np.float32/64 or a 0-d tensor
    confusion = expect_ndarray(result[1], f"{what} → confusion", shape=(2, 2), kind="iuf")
    expected_accuracy, expected = grader_evaluation(local, X32, y32)
    expect_close(np.array(accuracy), np.array(expected_accuracy), f"{what} → accuracy",
                 atol=TOL.accuracy, eps=number_eps(result[0]))
    if not np.array_equal(confusion, expected):
        fail("{what} → confusion: oczekiwano {exp} (wiersze: prawdziwe klasy, kolumny: przewidziane), "
             "otrzymano {got}.",
             "{what} → confusion: expected {exp} (rows: true classes, columns: predicted), got {got}.",
             what=what, exp=expected.tolist(), got=confusion.tolist())


# --------------------------------------------------------------------------- diagnosis
# Known mistakes of dataset_loss as variants of the grader's own binary cross-entropy, on the
# check's model and data: an exact match (the check's tolerance) names the mistake, never scores.

def loss_variants(p: np.ndarray, y: np.ndarray) -> dict[str, np.floating]:
    mean = grader_bce(p, y)
    return {"sum_instead_of_mean": mean * len(y), "labels_swapped_in_loss": grader_bce(p, 1 - y)}


@pytest.mark.diagnosis
def test_diagnose_a_known_dataset_loss_mistake(submission, diagnosis):
    if "test_dataset_loss_equals_grader_binary_cross_entropy" not in diagnosis.failed:
        pytest.skip("nothing to explain")
    handle, local = grader_model(submission, 0)
    X, y, X32, y32 = data(0)
    value = submission.call("dataset_loss", handle, X, y, submission.op("bce_loss")).value
    try:
        got = float(value)
    except (TypeError, ValueError):
        return
    messages = {
        "sum_instead_of_mean": tr("Wygląda na sumę strat zamiast średniej: wynik jest {n} razy większy od średniej "
                                  "BCE.", "Looks like a sum of losses instead of their mean: the result is {n} times "
                                  "the mean BCE.", n=len(y32)),
        "labels_swapped_in_loss": tr("Wygląda na zamienione argumenty lub etykiety (1 - y) w wywołaniu straty.",
                                     "Looks like swapped arguments or labels (1 - y) in the loss call."),
    }
    for mistake, expected in loss_variants(grader_probabilities(local, X32), y32).items():
        if abs(got - float(expected)) <= TOL.loss_rel * abs(float(expected)):
            diagnosis.found(mistake, messages[mistake])
            return
