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

from labkit.protocol.codec import (
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


# -- numbers in every spelling a student uses: they cross as numbers, in containers too ---------

NUMPY_SCALARS = [np.int64(400), np.int32(7), np.float64(0.001), np.float32(0.2), np.float16(0.5),
                 np.bool_(True), np.uint8(3)]
NON_WIRE_SCALARS = [np.uint16(3), np.uint32(2**31), np.uint64(2**63 + 5), np.longdouble(0.25)]


def _round_trip(value):
    return decode(json.loads(json.dumps(encode(value))))


@pytest.mark.parametrize("scalar", NUMPY_SCALARS, ids=lambda v: type(v).__name__)
def test_numpy_scalars_keep_value_and_dtype(scalar):
    back = _round_trip(scalar)
    assert isinstance(back, (np.generic, float)) and back == scalar
    if not isinstance(back, float):
        assert back.dtype == scalar.dtype


@pytest.mark.parametrize("scalar", NON_WIRE_SCALARS, ids=lambda v: type(v).__name__)
def test_numeric_numpy_scalars_outside_the_whitelist_cross_as_numbers(scalar):
    back = _round_trip(scalar)
    assert not isinstance(back, Handle) and back == scalar


def test_torch_scalars_cross_as_0d_tensor_data():
    back = _round_trip([torch.tensor(0.25), torch.tensor(3), torch.tensor(0.5, dtype=torch.float64)])
    assert [b.dtype for b in back] == ["float32", "int64", "float64"]
    assert [b.array.item() for b in back] == [0.25, 3, 0.5] and all(b.shape == () for b in back)


def test_results_with_numpy_numbers_cross_as_they_are():
    """A sweep built from np.arange / np.logspace: every row comes back, numbers as numbers."""
    rows = [{"factor": "lr", "config": {"n": np.int64(400), "sd": np.float64(0.2), "hidden": (np.int64(8), 8),
                                        "activation": np.str_("tanh"), "lr": lr, "n_epochs": np.int64(2),
                                        "batch_size": 32},
             "seed": np.int64(0), "test_accuracy": np.float64(0.75)} for lr in np.logspace(-3, -1, 3)]
    back = _round_trip(rows)
    assert back == rows
    assert isinstance(back[0]["config"]["hidden"], tuple) and type(back[0]["config"]["activation"]) is str


def test_special_numpy_floats_survive():
    back = _round_trip([np.float64("nan"), np.float64("-inf"), np.float32("nan")])
    assert np.isnan(back[0]) and back[1] == float("-inf") and np.isnan(back[2])


def test_int_and_float_subclasses_travel_as_plain_json_numbers():
    import enum

    class Size(enum.IntEnum):
        SMALL = 8

    encoded = encode({"batch": Size.SMALL, "lr": np.float64(0.01)})
    assert json.dumps(encoded) == '{"$map": [["batch", 8], ["lr", 0.01]]}'
