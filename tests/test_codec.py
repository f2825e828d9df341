"""Wire format: round trips, and a hostile peer cannot smuggle code or oversized data."""
from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from labkit.codec import (
    Handle, ProtocolError, TensorData, decode, encode, read_message, write_message,
)


@st.composite
def plain_values(draw):
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False),
                       st.text(max_size=20))
    return draw(st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=5), inner, max_size=4)), max_leaves=12))


@given(value=plain_values())
def test_plain_values_round_trip_exactly(value):
    assert decode(json.loads(json.dumps(encode(value)))) == value


@given(array=hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.uint8]),
                        hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)))
def test_arrays_round_trip_with_dtype_and_shape(array):
    back = decode(json.loads(json.dumps(encode(array))))
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array, equal_nan=True)


def test_tensors_arrive_as_tensordata_with_torch_dtype():
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3).requires_grad_()
    back = decode(encode(t))
    assert isinstance(back, TensorData) and back.dtype == "float32" and back.requires_grad
    assert np.array_equal(back.array, t.detach().numpy())


def test_non_data_objects_become_handles():
    handles = []
    encoded = encode({"model": torch.nn.Linear(2, 1)}, lambda obj: handles.append(obj) or Handle(1, "Linear"))
    assert decode(encoded) == {"model": Handle(1, "Linear")}
    with pytest.raises(TypeError):
        encode(object())


def test_special_floats_survive():
    back = decode(encode([float("nan"), float("inf")]))
    assert np.isnan(back[0]) and back[1] == float("inf")


@pytest.mark.parametrize("payload", [
    {"$nd": {"dtype": "object", "shape": [1], "b64": ""}},
    {"$nd": {"dtype": "float64", "shape": [4], "b64": "AAAA"}},
    {"$nd": {"dtype": "float64", "shape": [-1], "b64": ""}},
    {"$pickle": "gASVAAAA"},
    {"$float": "1e308"},
    {},
])
def test_malformed_payloads_are_protocol_errors(payload):
    with pytest.raises(ProtocolError):
        decode(payload)


def test_oversized_message_is_refused_before_reading_it():
    stream = io.BytesIO(struct.pack(">Q", 10**9) + b"{}")
    with pytest.raises(ProtocolError):
        read_message(stream, max_bytes=1024)


def test_messages_round_trip_through_a_stream():
    stream = io.BytesIO()
    write_message(stream, {"ok": True, "value": encode(np.ones(3))})
    stream.seek(0)
    assert np.array_equal(decode(read_message(stream, 1 << 20)["value"]), np.ones(3))
    with pytest.raises(EOFError):
        read_message(stream, 1 << 20)
