"""labkit.grading.memo: reference answers shared across gradings must never change what a check sees."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from labkit.grading import memo
from labkit.core.assignment import activate, load
from labkit.core.settings import REPO_ROOT

CALLS: list[tuple] = []


@memo.reference_memo
def noisy_reference(n: int, X: np.ndarray, *, scale: float = 1.0) -> tuple:
    """Uses (and reseeds) every global RNG, as a reference training does."""
    CALLS.append((n, X.tobytes(), scale))
    torch.manual_seed(n)
    w = torch.randn(3)
    return ([float(x) for x in (X.sum() * scale, random.random(), np.random.rand())],
            {"w": w.numpy(), "n": np.float32(n)})


@pytest.fixture
def memo_dir(tmp_path, monkeypatch):
    activate(load("lab06", REPO_ROOT))
    monkeypatch.setenv(memo.ENV, str(tmp_path / "memo"))
    CALLS.clear()
    yield tmp_path / "memo"
    activate(None)


def _rng_states() -> tuple:
    return random.getstate(), np.random.get_state()[1].tobytes(), torch.random.get_rng_state().numpy().tobytes()


def test_a_hit_returns_what_the_miss_returned_with_the_same_types(memo_dir):
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    first = noisy_reference(4, X, scale=0.5)
    second = noisy_reference(4, X.copy(), scale=0.5)
    assert len(CALLS) == 1, "the second call must come from the memo"
    assert len(list(memo_dir.rglob("*.json"))) == 1
    assert repr(first) == repr(second)
    assert type(second[1]["n"]) is np.float32 and second[1]["w"].dtype == np.float32


def test_different_arguments_are_different_entries(memo_dir):
    X = np.zeros((2, 2), dtype=np.float32)
    noisy_reference(1, X)
    noisy_reference(1, X.astype(np.float64))     # same values, another dtype
    noisy_reference(1, X, scale=2.0)
    noisy_reference(2, X)
    assert len(CALLS) == 4


def test_the_answer_does_not_depend_on_the_rng_state_before_the_call(memo_dir, monkeypatch):
    X = np.ones((2, 2), dtype=np.float32)
    monkeypatch.setenv(memo.ENV, "off")
    random.seed(1), np.random.seed(1)
    a = noisy_reference(3, X)
    random.seed(2), np.random.seed(2)
    b = noisy_reference(3, X)
    assert repr(a) == repr(b)


def test_a_hit_and_a_miss_leave_the_global_rngs_where_they_were(memo_dir):
    X = np.ones((2, 2), dtype=np.float32)
    torch.manual_seed(7), random.seed(7), np.random.seed(7)
    before = _rng_states()
    noisy_reference(5, X)                        # miss
    assert _rng_states() == before
    noisy_reference(5, X)                        # hit
    assert _rng_states() == before and len(CALLS) == 1


def test_an_unreadable_entry_is_recomputed_and_a_forged_one_cannot_run_code(memo_dir):
    X = np.ones((2, 2), dtype=np.float32)
    good = noisy_reference(6, X)
    [entry] = memo_dir.rglob("*.json")
    entry.write_text("{not json")
    assert repr(noisy_reference(6, X)) == repr(good) and len(CALLS) == 2
    # A pickle in place of the entry is not data the codec reads: recomputed, never unpickled.
    entry.write_text(json.dumps({"$pickle": "gASVAAAAAAAAAAA="}))
    assert repr(noisy_reference(6, X)) == repr(good) and len(CALLS) == 3


def test_another_grader_fingerprint_uses_another_folder(memo_dir, monkeypatch):
    X = np.ones((2, 2), dtype=np.float32)
    noisy_reference(8, X)
    monkeypatch.setattr(memo, "_fingerprint", lambda *a: "f" * 64)   # e.g. the reference changed
    noisy_reference(8, X)
    assert len(CALLS) == 2 and len(list(memo_dir.rglob("*.json"))) == 2


def test_off_computes_every_time_and_writes_nothing(memo_dir, monkeypatch):
    monkeypatch.setenv(memo.ENV, "off")
    X = np.ones((2, 2), dtype=np.float32)
    noisy_reference(9, X), noisy_reference(9, X)
    assert len(CALLS) == 2 and not memo_dir.exists()


def test_an_argument_the_codec_cannot_carry_skips_the_memo(memo_dir):
    @memo.reference_memo
    def with_loop(n, loop=None):
        CALLS.append(n)
        return n * 2 if loop is None else loop(n)

    assert with_loop(3, loop=lambda n: n + 1) == 4 and with_loop(3, loop=lambda n: n + 1) == 4
    assert len(CALLS) == 2 and not memo_dir.exists()
