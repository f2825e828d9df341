"""Named hypothesis strategies for the hidden checks."""
from __future__ import annotations

from hypothesis import strategies as st

import reference.lab06 as reference
from labkit.core.assignment import current


@st.composite
def ring_sizes(draw, low: int = 1, high: int = 301) -> int:
    """Any n, odd and even, including tiny ones."""
    return draw(st.integers(min_value=low, max_value=high))


@st.composite
def ring_radii(draw) -> tuple[float, float]:
    """Two radii with r1 < r2, far enough apart to keep the classes distinct."""
    r1 = draw(st.floats(min_value=0.5, max_value=3.0, allow_nan=False))
    gap = draw(st.floats(min_value=0.5, max_value=3.0, allow_nan=False))
    return round(r1, 3), round(r1 + gap, 3)


@st.composite
def statistical_ring_params(draw) -> dict:
    """Parameters at which the statistical tolerances of the tolerances in assignment.toml hold."""
    r1, r2 = draw(ring_radii())
    tol = current().params.tol
    return {
        "n": draw(st.integers(min_value=tol.stat_n, max_value=tol.stat_n + 2001)),
        "r1": r1,
        "r2": r2,
        "sd": round(draw(st.floats(min_value=0.05, max_value=0.3)), 3),
    }


@st.composite
def hidden_layers(draw, max_layers: int = 3, max_width: int = 16) -> tuple[int, ...]:
    """Hidden sizes, including () for logistic regression."""
    depth = draw(st.integers(min_value=0, max_value=max_layers))
    return tuple(draw(st.integers(min_value=1, max_value=max_width)) for _ in range(depth))


@st.composite
def architectures(draw) -> tuple[tuple[int, ...], str]:
    return draw(hidden_layers()), draw(st.sampled_from(tuple(reference.ACTIVATIONS)))


@st.composite
def loader_shapes(draw) -> tuple[int, int]:
    """(n, batch_size): batches that divide n evenly and ones that leave a remainder."""
    n = draw(st.integers(min_value=1, max_value=200))
    batch = draw(st.integers(min_value=1, max_value=64))
    return n, batch
