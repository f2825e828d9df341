"""Part `training` (6.1.7-6.1.8): make_optimizer and train.

Every check trains a grader-owned network with the grader's loss, data and optimizer,
so only the student's loop is under test; the same run is repeated here with the
reference loop from the same weights and seeds.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

import reference.lab06 as reference
from .grader import params_of, passthrough_tolerance, require_callable, set_weights, torch_mlp
from labkit.grading.checks import expect_close, expect_number, fail, float_eps, number_eps, number_pair, tr
from labkit.grading.client import StudentError
from labkit.protocol.codec import Handle
from labkit.core.assignment import current
from labkit.grading.memo import reference_memo
from labkit.core.settings import load_settings

pytestmark = pytest.mark.part("training")

SETTINGS = current().params
LIMITS = load_settings().limits
TOL = SETTINGS.tol
SIZES = [2, 6, 4, 1]
# 257 samples in batches of 32 leave a last batch of one sample: a loop that squeezes
# the (b, 1) output to match targets breaks exactly there.
N_SAMPLES, BATCH = 257, 32


def training_data(seed: int, n: int = N_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    X, y = reference.make_rings(n, sd=0.2, seed=seed)
    return X.astype(np.float32), y.astype(np.float32)


def run_student(sub, sizes, weights, X, y, n_epochs: int, *, dropout: float | None = None,
                eval_first: bool = False, shuffle: bool = False, lr: float = 0.01):
    """Student's train on a grader model/loader/loss/Adam; returns (history, params, stdout)."""
    model = sub.op("mlp_dropout", sizes, dropout) if dropout else sub.op("mlp", sizes, "tanh")
    if weights is not None:
        sub.op("set_params", model, weights)
    if eval_first:
        sub.method(model, "eval")
    loader = sub.op("loader", X, y, BATCH, shuffle)
    loss_fn = sub.op("bce_loss")
    optimizer = sub.op("adam", model, lr)
    call = sub.call("train", model, loader, loss_fn, optimizer, n_epochs=n_epochs,
                    _timeout=LIMITS.train_call_seconds)
    return call.value, params_of(sub, model), call.stdout


@reference_memo
def run_reference(sizes, weights, X, y, n_epochs: int, *, dropout: float | None = None,
                  lr: float = 0.01, loop=None):
    """The same run with the reference loop (or ``loop``, a known-mistake variant of it), in
    this (trusted) process."""
    if dropout:
        model = torch_mlp(sizes, "relu")
        layers = list(model)
        layers.insert(len(layers) - 2, torch.nn.Dropout(dropout))
        model = torch.nn.Sequential(*layers)
    else:
        model = torch_mlp(sizes, "tanh")
    set_weights(model, weights)
    loader = DataLoader(TensorDataset(torch.tensor(X), torch.tensor(y)), batch_size=BATCH, shuffle=False)
    # The worker seeds torch right before calling train; Dropout masks must come from the same state.
    torch.manual_seed(current().seed)
    loop = loop or reference.train
    history = loop(model, loader, torch.nn.BCELoss(), torch.optim.Adam(model.parameters(), lr=lr), n_epochs)
    return history, [p.detach().numpy().copy() for p in model.parameters()]


def initial_weights(sizes, seed: int) -> list[np.ndarray]:
    torch.manual_seed(seed)
    return [p.detach().numpy().copy() for p in torch_mlp(sizes).parameters()]


def network_losses(sizes, weight_sets, X: np.ndarray, y: np.ndarray) -> list[float]:
    """BCE on (X, y) of the grader's own relu net ``sizes`` with each set of weights, here in
    the trusted process (the worker only reports the weights)."""
    local = torch_mlp(sizes, "relu")
    losses = []
    for weights in weight_sets:
        set_weights(local, weights)
        with torch.no_grad():
            losses.append(float(torch.nn.functional.binary_cross_entropy(
                local(torch.tensor(X)), torch.tensor(y).reshape(-1, 1))))
    return losses


def test_make_optimizer_returns_adam_over_the_models_parameters(submission):
    require_callable(submission, "make_optimizer")
    model = submission.op("mlp", SIZES, "tanh")
    for kwargs, lr in (({"lr": 0.05}, 0.05), ({}, 0.01)):
        what = "make_optimizer(model" + (", lr=0.05)" if kwargs else ")")
        optimizer = submission.call("make_optimizer", model, **kwargs).value
        if not isinstance(optimizer, Handle):
            fail("{what}: oczekiwano optymalizatora, otrzymano {got}.", "{what}: expected an optimizer, got {got}.",
                 what=what, got=type(optimizer).__name__)
        info = submission.op("describe", optimizer)
        if "torch.optim.adam.Adam" not in info["mro"]:
            fail("{what}: oczekiwano torch.optim.Adam, otrzymano {got}.", "{what}: expected torch.optim.Adam, got {got}.",
                 what=what, got=info["type"])
        # lr reaches Adam as the student passed it on: a float32 copy is still the same lr.
        if not info.get("lrs") or any(abs(x - lr) > passthrough_tolerance(float_eps(), lr) for x in info["lrs"]):
            fail("{what}: oczekiwano lr={exp}, otrzymano {got}.", "{what}: expected lr={exp}, got {got}.",
                 what=what, exp=lr, got=info.get("lrs"))
        if not submission.op("optimizer_covers", optimizer, model):
            fail("{what}: optymalizator powinien obejmować dokładnie parametry modelu.",
                 "{what}: the optimizer should cover exactly the model's parameters.", what=what)


@pytest.mark.weight(2)
@given(n_epochs=st.integers(min_value=1, max_value=2), seed=st.integers(min_value=0, max_value=1000))
def test_train_lands_on_reference_parameters(submission, n_epochs, seed):
    require_callable(submission, "train")
    weights = initial_weights(SIZES, seed)
    X, y = training_data(seed)
    _, got, _ = run_student(submission, SIZES, weights, X, y, n_epochs)
    _, expected = run_reference(SIZES, weights, X, y, n_epochs)
    what = tr("parametry po train(..., n_epochs={e}) (kolejność: zero_grad, forward, strata, backward, step)",
              "parameters after train(..., n_epochs={e}) (order: zero_grad, forward, loss, backward, step)",
              e=n_epochs)
    for g, e in zip(got, expected):
        expect_close(g, e, what, atol=TOL.train_params)


def test_train_returns_the_mean_batch_loss_of_each_epoch(submission):
    weights = initial_weights(SIZES, 11)
    X, y = training_data(11)
    history, _, _ = run_student(submission, SIZES, weights, X, y, 3)
    expected, _ = run_reference(SIZES, weights, X, y, 3)
    what = "train(..., n_epochs=3)"
    if not isinstance(history, (list, tuple)) or len(history) != 3:
        fail("{what}: oczekiwano listy 3 strat (po jednej na epokę), otrzymano {got}.",
             "{what}: expected a list of 3 losses (one per epoch), got {got}.", what=what,
             got=f"{type(history).__name__} {len(history) if isinstance(history, (list, tuple)) else ''}")
    values = [expect_number(v, f"{what}[{i}]") for i, v in enumerate(history)]
    expect_close(np.array(values), np.array(expected),
                 tr("{what}: średnia strat partii w epoce", "{what}: mean batch loss of the epoch", what=what),
                 rtol=TOL.train_params, eps=max(number_eps(v) for v in history))


def test_train_prints_each_epochs_loss(submission):
    weights = initial_weights(SIZES, 12)
    X, y = training_data(12, n=64)
    history, _, stdout = run_student(submission, SIZES, weights, X, y, 3)
    lines = [line for line in stdout.splitlines() if re.search(r"\d", line)]
    if len(lines) < 3:
        fail("train(..., n_epochs=3) powinno wypisać stratę każdej epoki; wypisano {k} linii z liczbami.",
             "train(..., n_epochs=3) should print each epoch's loss; it printed {k} lines with numbers.",
             k=len(lines))


def train_mode_hint() -> str:
    """The cause this check names; a diagnosis that rules it out replaces it (below)."""
    return tr("(train powinno wywołać model.train())", "(train should call model.train())")


def test_train_switches_the_model_to_train_mode(submission):
    sizes = [2, 8, 1]
    weights = initial_weights(sizes, 13)
    X, y = training_data(13)
    _, got, _ = run_student(submission, sizes, weights, X, y, 1, dropout=0.5, eval_first=True)
    _, expected = run_reference(sizes, weights, X, y, 1, dropout=0.5)
    for g, e in zip(got, expected):
        expect_close(g, e, tr("parametry po train() modelu z Dropout podanego w trybie eval {hint}",
                              "parameters after train() of a Dropout model given in eval mode {hint}",
                              hint=train_mode_hint()), atol=TOL.train_params)


def loss_before_and_after(submission, *, init_seed: int = 14) -> list[float]:
    """The BCE of a grader 2-16-16-1 relu net (initial weights from ``init_seed``) before and
    after the student's train runs 10 epochs on 1000 shuffled points; bench/calibrate.py
    varies the seeds."""
    sizes = [2, 16, 16, 1]
    X, y = training_data(14, n=1000)
    model = submission.op("mlp", sizes, "relu", seed=init_seed)
    before = params_of(submission, model)
    loader = submission.op("loader", X, y, BATCH, True)
    optimizer = submission.op("adam", model, 0.01)
    submission.call("train", model, loader, submission.op("bce_loss"), optimizer, n_epochs=10,
                    _timeout=LIMITS.train_call_seconds)
    after = params_of(submission, model)
    return network_losses(sizes, (before, after), X, y)


def test_loss_halves_on_a_grader_2_16_16_1_network(submission):
    losses = loss_before_and_after(submission)
    if not losses[1] < TOL.loss_drop * losses[0]:
        limit, got = number_pair(TOL.loss_drop * losses[0], losses[1], digits=3)
        fail("train(...) na sieci 2-16-16-1 przez 10 epok: strata powinna spaść poniżej {limit} (połowa wartości "
             "początkowej {b:.4g}), otrzymano {a}.",
             "train(...) on a 2-16-16-1 net for 10 epochs: the loss should fall below {limit} (half of its initial "
             "{b:.4g}), got {a}.", limit=limit, b=losses[0], a=got)


# --------------------------------------------------------------------------- diagnosis
# Known mistakes of the loop, as variants of the reference loop. A student whose loop lands
# exactly (within the checks' own tolerance) on one variant's parameters and losses, on both
# of the checks' runs, is told which mistake it looks like. It never changes the score.

MISTAKES = ("no_zero_grad", "no_step", "last_batch_loss", "no_model_train")


def variant_train(mistake: str):
    """The reference loop with one known mistake."""
    def loop(model, loader, loss_fn, optimizer, n_epochs: int = 4) -> list[float]:
        if mistake != "no_model_train":
            model.train()
        history = []
        for _ in range(n_epochs):
            total, batches, last = 0.0, 0, 0.0
            for x_batch, y_batch in loader:
                if mistake != "no_zero_grad":
                    optimizer.zero_grad()
                loss = loss_fn(model(x_batch), y_batch.reshape(-1, 1))
                loss.backward()
                if mistake != "no_step":
                    optimizer.step()
                total, batches, last = total + loss.item(), batches + 1, loss.item()
            history.append(last if mistake == "last_batch_loss" else total / batches)
        return history
    return loop


def mistake_message(mistake: str) -> str:
    return {
        "no_zero_grad": tr("Wygląda na brak optimizer.zero_grad() przed backward(): gradienty sumują się między "
                           "partiami.",
                           "Looks like optimizer.zero_grad() is missing before backward(): gradients add up "
                           "across batches."),
        "no_step": tr("Wygląda na brak optimizer.step(): parametry modelu nie zmieniają się w trakcie treningu.",
                      "Looks like optimizer.step() is missing: the model's parameters never change."),
        "last_batch_loss": tr("Wygląda na to, że train zapisuje stratę ostatniej partii zamiast średniej strat "
                              "partii w epoce.",
                              "Looks like train records the last batch's loss instead of the mean batch loss of "
                              "the epoch."),
        "squeezed_shapes": tr("Wygląda na squeeze() wyjścia modelu przed stratą: działa, dopóki partia nie ma "
                              "jednej próbki (wtedy kształty (b,) i () się rozjeżdżają); użyj y_batch.view(-1, 1).",
                              "Looks like the model's output is squeezed before the loss: it works until a batch "
                              "holds one sample (then the shapes () and (b,) disagree); use y_batch.view(-1, 1)."),
        "no_model_train": tr("Wygląda na brak model.train() na początku train: model podany w trybie eval "
                             "trenuje bez Dropout.",
                             "Looks like model.train() is missing at the start of train: a model given in eval "
                             "mode trains without Dropout."),
    }[mistake]


def _matches(got_history, got_params, history, params) -> bool:
    try:
        values = np.array([float(v) for v in got_history], dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if values.shape != (len(history),) or len(got_params) != len(params):
        return False
    return (np.allclose(values, history, rtol=TOL.train_params, atol=0)
            and all(np.allclose(g, e, rtol=0, atol=TOL.train_params) for g, e in zip(got_params, params)))


@pytest.mark.diagnosis
def test_diagnose_a_known_loop_mistake(submission, diagnosis):
    """The checks' two runs (plain, and Dropout given in eval mode) replayed against each variant."""
    if not diagnosis.failed:
        pytest.skip("nothing to explain")
    weights, X, y = initial_weights(SIZES, 11), *training_data(11)
    drop_sizes = [2, 8, 1]
    drop_weights, Xd, yd = initial_weights(drop_sizes, 13), *training_data(13)
    try:
        plain = run_student(submission, SIZES, weights, X, y, 3)[:2]
    except StudentError:
        # Raises on the checks' data, whose last batch holds one sample: a loop that squeezes
        # the (b, 1) output to (b,) breaks exactly there. Without that batch it must be right.
        X_even, y_even = X[:N_SAMPLES - 1], y[:N_SAMPLES - 1]
        even = run_student(submission, SIZES, weights, X_even, y_even, 3)[:2]
        if _matches(*even, *run_reference(SIZES, weights, X_even, y_even, 3)):
            diagnosis.found("squeezed_shapes", mistake_message("squeezed_shapes"))
        return
    dropout = run_student(submission, drop_sizes, drop_weights, Xd, yd, 1, dropout=0.5, eval_first=True)[:2]
    runs = {"reference": reference.train, **{m: variant_train(m) for m in MISTAKES}}
    matched = []
    for name, loop in runs.items():
        expected_plain = run_reference(SIZES, weights, X, y, 3, loop=loop)
        expected_dropout = run_reference(drop_sizes, drop_weights, Xd, yd, 1, dropout=0.5, loop=loop)
        if _matches(*plain, *expected_plain) and _matches(*dropout, *expected_dropout):
            matched.append(name)
    if matched and "reference" not in matched:
        mistake = matched[0]
        explains = {}
        if mistake != "no_model_train":
            # Its check says "train should call model.train()": wrong here, the loop does.
            explains["test_train_switches_the_model_to_train_mode"] = (train_mode_hint(), tr(
                "(model.train() jest wywoływane; przyczyna leży gdzie indziej: {m})",
                "(model.train() is called; the cause lies elsewhere: {m})", m=mistake_message(mistake)))
        diagnosis.found(mistake, mistake_message(mistake), explains=explains)
