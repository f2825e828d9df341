"""Pickle-free wire format between the trusted grader and the untrusted worker.

Messages are length-prefixed JSON. Arrays and tensors travel as raw little-endian
bytes with an explicit dtype and shape; anything else the worker cannot express as
data stays in the worker and travels as a ``Handle``. The trusted side decodes with a
dtype whitelist and a size limit, so a hostile worker can at worst send wrong numbers,
never code.
"""
from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

_HEADER = struct.Struct(">Q")
ALLOWED_DTYPES = frozenset({
    "bool", "int8", "int16", "int32", "int64", "uint8",
    "float16", "float32", "float64",
})


class ProtocolError(Exception):
    """The other side sent something that is not a valid message."""


@dataclass(frozen=True)
class Handle:
    """A reference to an object that lives in the worker (a model, a loader, ...)."""

    id: int
    type: str
    generation: int = 0

    def __repr__(self) -> str:
        return f"<{self.type} #{self.id}>"


@dataclass(frozen=True)
class TensorData:
    """A torch tensor's values as seen by the trusted side (dtype kept as torch spelled it)."""

    array: np.ndarray
    dtype: str
    requires_grad: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)


def _encode_array(array: np.ndarray) -> dict:
    array = np.asarray(array, order="C")  # not ascontiguousarray: it turns 0-d into 1-d
    dtype = array.dtype.name
    if dtype not in ALLOWED_DTYPES:
        raise TypeError(f"dtype {dtype} cannot be sent")
    return {"dtype": dtype, "shape": list(array.shape),
            "b64": base64.b64encode(array.astype(array.dtype.newbyteorder("<")).tobytes()).decode()}


def _decode_array(spec: dict) -> np.ndarray:
    dtype = spec.get("dtype")
    if dtype not in ALLOWED_DTYPES:
        raise ProtocolError(f"dtype {dtype!r} is not allowed")
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ProtocolError("bad shape")
    raw = base64.b64decode(spec.get("b64", ""), validate=True)
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if len(raw) != expected:
        raise ProtocolError("array payload does not match its shape")
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(tuple(shape))


def encode(value: Any, make_handle=None) -> Any:
    """Turn a value into JSON-ready data; objects that are not data go through make_handle.

    Every number the contract may receive crosses as a number: Python ints and floats (and
    their subclasses, np.float64 among them), numpy scalars with their dtype (np.int64 from
    np.arange, np.float32), numeric numpy scalars of other dtypes as int64/float64, and
    tensors, 0-d ones included, as TensorData; lists, tuples and dicts of them alike.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)            # np.str_ and other subclasses as plain text
    if isinstance(value, int):
        return int(value)            # IntEnum and friends: json would write their name
    if isinstance(value, float):
        value = float(value)         # np.float64 is a float: its repr is not JSON's
        return {"$float": repr(value)} if value != value or value in (float("inf"), float("-inf")) else value
    if isinstance(value, Handle):
        return {"$handle": value.id, "type": value.type, "gen": value.generation}
    if isinstance(value, np.ndarray):
        if value.dtype.name in ALLOWED_DTYPES:
            return {"$nd": _encode_array(value)}
    elif isinstance(value, np.generic):
        scalar = _allowed_scalar(value)
        if isinstance(scalar, int):
            return scalar
        if scalar is not None:
            return {"$np": _encode_array(np.asarray(scalar))}
    elif isinstance(value, TensorData):
        return {"$tensor": _encode_array(value.array), "torch_dtype": value.dtype,
                "requires_grad": value.requires_grad}
    elif isinstance(value, (list, tuple)):
        items = [encode(v, make_handle) for v in value]
        return {"$tuple": items} if isinstance(value, tuple) else items
    elif isinstance(value, dict):
        return {"$map": [[encode(k, make_handle), encode(v, make_handle)] for k, v in value.items()]}
    else:
        tensor = _tensor_data(value)
        if tensor is not None:
            return encode(tensor, make_handle)
    if make_handle is None:
        raise TypeError(f"cannot encode {type(value).__name__}")
    return encode(make_handle(value))


def _allowed_scalar(value: np.generic) -> np.generic | int | None:
    """A numpy scalar in a dtype the wire carries: as is, or a numeric one (np.uint64,
    np.longdouble) as the int64/float64 of the same value (a Python int beyond int64);
    None for what is not a real number."""
    if value.dtype.name in ALLOWED_DTYPES:
        return value
    if isinstance(value, np.integer):
        number = int(value)
        return np.int64(number) if np.iinfo(np.int64).min <= number <= np.iinfo(np.int64).max else number
    if isinstance(value, np.floating):
        return np.float64(value)
    return None


def _tensor_data(value: Any) -> TensorData | None:
    """TensorData for a torch tensor, without importing torch on sides that lack it."""
    module = type(value).__module__ or ""
    if not module.startswith("torch") or type(value).__name__ not in ("Tensor", "Parameter"):
        return None
    import torch
    if not isinstance(value, torch.Tensor) or value.is_sparse or value.is_complex():
        return None
    array = value.detach().cpu().resolve_conj().numpy() if value.dtype != torch.bfloat16 else \
        value.detach().float().cpu().numpy()
    return TensorData(array=array, dtype=str(value.dtype).removeprefix("torch."),
                      requires_grad=bool(value.requires_grad))


def decode(data: Any, resolve_handle=None) -> Any:
    """Inverse of encode; resolve_handle maps a Handle to a local object (worker side)."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v, resolve_handle) for v in data]
    if not isinstance(data, dict) or len(data) == 0:
        raise ProtocolError(f"unexpected {type(data).__name__}")
    if "$float" in data:
        text = data["$float"]
        if text not in ("nan", "inf", "-inf"):
            raise ProtocolError("bad float")
        return float(text)
    if "$tuple" in data:
        return tuple(decode(v, resolve_handle) for v in data["$tuple"])
    if "$map" in data:
        out = {}
        for pair in data["$map"]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ProtocolError("bad map entry")
            key = decode(pair[0], resolve_handle)
            try:
                out[key] = decode(pair[1], resolve_handle)
            except TypeError as exc:  # unhashable key
                raise ProtocolError(str(exc)) from None
        return out
    if "$nd" in data:
        return _decode_array(data["$nd"])
    if "$np" in data:
        return _decode_array(data["$np"])[()]
    if "$tensor" in data:
        dtype = data.get("torch_dtype")
        if not isinstance(dtype, str) or len(dtype) > 32:
            raise ProtocolError("bad tensor dtype")
        return TensorData(_decode_array(data["$tensor"]), dtype, bool(data.get("requires_grad")))
    if "$handle" in data:
        handle = Handle(int(data["$handle"]), str(data.get("type", "?"))[:200], int(data.get("gen", 0)))
        return resolve_handle(handle) if resolve_handle else handle
    raise ProtocolError("unknown tag")


def handles_in(data: Any) -> list[Handle]:
    """The handles inside an encoded value (what a request refers to in the worker)."""
    found: list[Handle] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$handle" in node:
                found.append(Handle(int(node["$handle"]), str(node.get("type", "?")), int(node.get("gen", 0))))
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(data)
    return found


HEADER_BYTES = _HEADER.size


def frame(message: dict) -> bytes:
    """One message as bytes: 8-byte big-endian length, then UTF-8 JSON."""
    body = json.dumps(message, allow_nan=False, separators=(",", ":")).encode()
    return _HEADER.pack(len(body)) + body


def body_length(header: bytes, max_bytes: int) -> int:
    """The body length a header announces; ProtocolError past ``max_bytes``."""
    (length,) = _HEADER.unpack(header)
    if length > max_bytes:
        raise ProtocolError(f"message of {length} bytes exceeds the {max_bytes}-byte limit")
    return length


def parse_body(body: bytes) -> dict:
    """A message's JSON body; ProtocolError unless it is a JSON object."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"invalid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not an object")
    return message


def write_message(stream: BinaryIO, message: dict) -> None:
    """Send one message (see ``frame``)."""
    stream.write(frame(message))
    stream.flush()


def read_message(stream: BinaryIO, max_bytes: int) -> dict:
    """Receive one message from a blocking stream; EOFError when the other side is gone.
    (The trusted side reads with budgets instead: labkit/sandbox/worker_process.py.)"""
    length = body_length(_read_exactly(stream, HEADER_BYTES), max_bytes)
    return parse_body(_read_exactly(stream, length))


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError("stream closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
