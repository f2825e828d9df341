"""Part `loader` (6.1.4): make_loader."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given

from .grader import require_callable
from labkit.grading.checks import TensorData, call_text, expect_tensor, fail, tr
from labkit.protocol.codec import Handle
from .strategies import loader_shapes

pytestmark = pytest.mark.part("loader")


def tagged_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows that identify themselves: X[i] = (i, -i/2), y[i] = i % 2, so order and pairing show."""
    i = np.arange(n, dtype=np.float64)
    return np.column_stack([i, -i / 2]), (i % 2)


def epoch_order(xs: list[np.ndarray]) -> np.ndarray:
    """The tagged rows' ids in the order an epoch's x_batches delivered them."""
    return np.rint(np.concatenate(xs)[:, 0]).astype(int)


def shuffled(orders: list[np.ndarray], n: int) -> bool:
    """shuffle=True as two epochs show it: the first is not the identity, the second differs."""
    return not (np.array_equal(orders[0], np.arange(n)) or np.array_equal(orders[0], orders[1]))


def epochs_of(sub, n: int, batch_size: int, shuffle: bool, epochs: int = 1):
    X, y = tagged_data(n)
    what = call_text("make_loader", "X", "y", batch_size=batch_size, shuffle=shuffle)
    loader = sub.call("make_loader", X, y, batch_size=batch_size, shuffle=shuffle).value
    if not isinstance(loader, Handle):
        fail("{what}: oczekiwano obiektu DataLoader, otrzymano {got}.",
             "{what}: expected a DataLoader, got {got}.", what=what, got=type(loader).__name__)
    info = sub.op("describe", loader)
    if "torch.utils.data.dataloader.DataLoader" not in info["mro"]:
        fail("{what}: oczekiwano torch.utils.data.DataLoader, otrzymano {got}.",
             "{what}: expected a torch.utils.data.DataLoader, got {got}.", what=what, got=info["type"])
    batches = sub.op("iterate", loader, epochs)
    out = []
    for epoch in batches:
        xs, ys = [], []
        for k, batch in enumerate(epoch):
            if len(batch) != 2:
                fail("{what}: partia {k} powinna być parą (x_batch, y_batch), ma {m} elementów.",
                     "{what}: batch {k} should be a pair (x_batch, y_batch), it has {m} items.",
                     what=what, k=k, m=len(batch))
            xb = expect_tensor(batch[0], f"{what}: x_batch", dtype="float32")
            yb = expect_tensor(batch[1], f"{what}: y_batch", dtype="float32")
            b = xb.shape[0] if xb.ndim else 0
            expect_tensor(batch[0], f"{what}: x_batch", shape=(b, 2))
            expect_tensor(batch[1], f"{what}: y_batch", shape=(b,))
            xs.append(xb)
            ys.append(yb)
        out.append((xs, ys))
    return out, what, info


def test_loader_wraps_a_tensor_dataset(submission):
    require_callable(submission, "make_loader")
    _, what, info = epochs_of(submission, 10, 4, False)
    if info.get("dataset_type") != "TensorDataset":
        fail("{what}: zbiór danych powinien być TensorDataset, otrzymano {got}.",
             "{what}: the dataset should be a TensorDataset, got {got}.", what=what, got=info.get("dataset_type"))


@given(shape=loader_shapes())
def test_batches_are_float32_with_shapes_b2_and_b(submission, shape):
    n, batch = shape
    epochs_of(submission, n, batch, True)


@given(shape=loader_shapes())
def test_number_of_batches_is_n_over_batch_size_rounded_up(submission, shape):
    n, batch = shape
    [(xs, _)], what, _ = epochs_of(submission, n, batch, True)
    if len(xs) != math.ceil(n / batch):
        fail("{what} dla n={n}: oczekiwano {exp} partii, otrzymano {got}.",
             "{what} for n={n}: expected {exp} batches, got {got}.", what=what, n=n,
             exp=math.ceil(n / batch), got=len(xs))
    sizes = [len(x) for x in xs]
    if any(s != batch for s in sizes[:-1]):
        fail("{what}: wszystkie partie poza ostatnią powinny mieć {b} próbek, otrzymano {got}.",
             "{what}: all batches but the last should hold {b} samples, got {got}.",
             what=what, b=batch, got=sizes[:8])


@given(shape=loader_shapes())
def test_each_sample_exactly_once_per_epoch(submission, shape):
    n, batch = shape
    epochs, what, _ = epochs_of(submission, n, batch, True, epochs=2)
    X, y = tagged_data(n)
    for number, (xs, ys) in enumerate(epochs, start=1):
        seen_x = np.concatenate(xs) if xs else np.zeros((0, 2))
        seen_y = np.concatenate(ys) if ys else np.zeros(0)
        ids = np.rint(seen_x[:, 0]).astype(int)
        if sorted(ids.tolist()) != list(range(n)):
            fail("{what}: w epoce {e} każda z {n} próbek powinna wystąpić dokładnie raz; "
                 "otrzymano {m} próbek, {u} różnych.",
                 "{what}: in epoch {e} each of the {n} samples should appear exactly once; "
                 "got {m} samples, {u} distinct.", what=what, e=number, n=n, m=len(ids), u=len(set(ids.tolist())))
        if not (np.allclose(seen_x, X[ids]) and np.array_equal(seen_y, y[ids])):
            fail("{what}: etykiety y_batch nie odpowiadają wierszom x_batch.",
                 "{what}: y_batch labels do not match the rows of x_batch.", what=what)


def test_shuffle_false_keeps_order_and_true_shuffles(submission):
    n = 96
    [(xs, _)], what, _ = epochs_of(submission, n, 16, False)
    if not np.array_equal(epoch_order(xs), np.arange(n)):
        fail("{what}: przy shuffle=False kolejność próbek powinna zostać zachowana.",
             "{what}: with shuffle=False the order of samples should be kept.", what=what)
    epochs, what, info = epochs_of(submission, n, 16, True, epochs=2)
    orders = [epoch_order(xs) for xs, _ in epochs]
    if not shuffled(orders, n):
        fail("{what}: przy shuffle=True kolejność powinna być losowa i inna w każdej epoce.",
             "{what}: with shuffle=True the order should be random and differ between epochs.", what=what)


def test_default_batch_size_is_32_and_shuffles(submission):
    X, y = tagged_data(100)
    loader = submission.call("make_loader", X, y).value
    info = submission.op("describe", loader) if isinstance(loader, Handle) else {}
    if info.get("batch_size") != 32:
        fail("make_loader(X, y): domyślny batch_size to 32, otrzymano {got}.",
             "make_loader(X, y): the default batch_size is 32, got {got}.", got=info.get("batch_size"))
    if info.get("sampler") != "RandomSampler":
        fail("make_loader(X, y): domyślnie shuffle=True.", "make_loader(X, y): shuffle=True by default.")


# --------------------------------------------------------------------------- diagnosis
# Known mistakes of make_loader, read off the same tagged rows the checks use. Never scores.

def loader_mistake(sub) -> str | None:
    n = 96
    X, y = tagged_data(n)
    loader = sub.call("make_loader", X, y, batch_size=16, shuffle=True).value
    if not isinstance(loader, Handle):
        return None
    epochs = sub.op("iterate", loader, 2)
    batches = [batch for batch in epochs[0] if len(batch) == 2 and isinstance(batch[0], TensorData)]
    if not batches:
        return None
    if batches[0][0].dtype == "float64":
        return "float64_batches"
    orders = [epoch_order([b[0].array for b in epoch if len(b) == 2 and isinstance(b[0], TensorData)])
              for epoch in epochs]
    if all(np.array_equal(order, np.arange(n)) for order in orders):
        return "shuffle_ignored"
    return None


def loader_mistake_message(mistake: str) -> str:
    return {
        "float64_batches": tr("Wygląda na tensory utworzone bez dtype=torch.float32: numpy daje float64, a model "
                              "oczekuje float32.",
                              "Looks like tensors made without dtype=torch.float32: numpy gives float64, the model "
                              "expects float32."),
        "shuffle_ignored": tr("Wygląda na to, że argument shuffle nie trafia do DataLoader: przy shuffle=True "
                              "kolejność jest stała.",
                              "Looks like the shuffle argument never reaches the DataLoader: with shuffle=True the "
                              "order is fixed."),
    }[mistake]


@pytest.mark.diagnosis
def test_diagnose_a_known_make_loader_mistake(submission, diagnosis):
    diagnosis.name(lambda: loader_mistake(submission), loader_mistake_message)
