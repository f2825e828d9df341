"""Part `mean`: weighted_mean(values, weights) = sum(v * w) / sum(w)."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.core.assignment import current
from labkit.grading.checks import expect_number, fail

pytestmark = pytest.mark.part("mean")
TOL = current().params.tol


@st.composite
def weighted_values(draw) -> tuple[list[float], list[float]]:
    """Up to 8 values in [-100, 100] with positive weights, of equal length."""
    n = draw(st.integers(1, 8))
    values = draw(st.lists(st.floats(-100, 100), min_size=n, max_size=n))
    weights = draw(st.lists(st.floats(0.1, 10), min_size=n, max_size=n))
    return values, weights


@given(data=weighted_values())
def test_weighted_mean_equals_the_weighted_sum_over_the_weights(submission, data):
    values, weights = data
    expected = math.fsum(v * w for v, w in zip(values, weights)) / math.fsum(weights)
    got = expect_number(submission.call("weighted_mean", values, weights).value,
                        f"weighted_mean({values}, {weights})")
    if abs(got - expected) > TOL.relative * max(1.0, *(abs(v) for v in values)):
        fail("weighted_mean({v}, {w}): oczekiwano {e!r}, otrzymano {g!r}.",
             "weighted_mean({v}, {w}): expected {e!r}, got {g!r}.", v=values, w=weights, e=expected, g=got)
