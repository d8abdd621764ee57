"""The pickle-free wire format between the trusted grader and the sandboxed worker.

A message is ``MAGIC``, an 8-byte little-endian header length, a JSON header, then the ``.npy`` blobs the header
points at. In the JSON tree an array is ``{"$npy": [offset, length]}``; everything else is JSON (NaN and infinity
included, as Python's json writes them). Decoding loads arrays with ``allow_pickle=False`` and accepts only
boolean, integer and floating dtypes, so nothing a student returns can run code in the trusted process.

This file is also mounted into the sandbox, where the worker imports it: it must only need numpy.
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np

MAGIC = b"NNKIT1\n"
_ALLOWED_KINDS = "biuf"
MAX_DEPTH = 32


class ProtocolError(ValueError):
    """The bytes are not a well-formed message."""


def encode(value) -> bytes:
    """Serialise a tree of dict/list/str/int/float/bool/None/ndarray."""
    blobs: list[bytes] = []
    offset = 0

    def walk(x, depth):
        nonlocal offset
        if depth > MAX_DEPTH:
            raise ProtocolError("value nested too deeply")
        if isinstance(x, np.ndarray):
            buf = io.BytesIO()
            np.save(buf, np.require(x, requirements="C"), allow_pickle=False)  # keeps 0-d arrays 0-d
            data = buf.getvalue()
            blobs.append(data)
            ref = {"$npy": [offset, len(data)]}
            offset += len(data)
            return ref
        if isinstance(x, dict):
            return {str(k): walk(v, depth + 1) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v, depth + 1) for v in x]
        if x is None or type(x) in (bool, int, float, str):
            return x
        raise ProtocolError(f"cannot encode a {type(x).__name__}")

    header = json.dumps(walk(value, 0), allow_nan=True).encode()
    return MAGIC + struct.pack("<Q", len(header)) + header + b"".join(blobs)


def decode(data: bytes, max_header: int = 16 << 20):
    """Inverse of :func:`encode`; raises ProtocolError on anything malformed."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise ProtocolError("reply does not start with the protocol header")
    (hlen,) = struct.unpack_from("<Q", data, len(MAGIC))
    start = len(MAGIC) + 8
    if hlen > max_header or start + hlen > len(data):
        raise ProtocolError("reply header has an impossible length")
    try:
        tree = json.loads(data[start:start + hlen].decode("utf-8"), parse_int=_small_int)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError(f"reply header is not valid JSON: {type(exc).__name__}: {str(exc)[:200]}") from None
    blob_base = start + hlen
    # the encoder writes each array once, so the references cover the blob area at most once; more would let a
    # short reply decode into many copies of one large blob
    budget = [len(data) - blob_base]

    def walk(x, depth):
        if depth > MAX_DEPTH:
            raise ProtocolError("reply nested too deeply")
        if isinstance(x, dict):
            if set(x) == {"$npy"}:
                ref = x["$npy"]
                budget[0] -= ref[1] if isinstance(ref, list) and len(ref) == 2 and type(ref[1]) is int else 0
                if budget[0] < 0:
                    raise ProtocolError("array references overlap: the reply refers to more bytes than it holds")
                return _load_array(data, blob_base, ref)
            return {k: walk(v, depth + 1) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v, depth + 1) for v in x]
        return x

    return walk(tree, 0)


def _small_int(text: str) -> int:
    """Integers the trusted side can turn into float64 (the encoder never writes larger ones)."""
    if len(text.lstrip("-")) > 20 or abs(value := int(text)) >= 1 << 64:
        raise ProtocolError(f"integer {text[:30]}... is out of range")
    return value


def _load_array(data: bytes, base: int, ref) -> np.ndarray:
    if not (isinstance(ref, list) and len(ref) == 2 and all(type(v) is int and v >= 0 for v in ref)):
        raise ProtocolError("malformed array reference")
    off, length = ref
    if base + off + length > len(data):
        raise ProtocolError("array reference points past the end of the reply")
    try:
        arr = np.load(io.BytesIO(data[base + off: base + off + length]), allow_pickle=False)
    except Exception as exc:  # np.load raises many types on garbage
        raise ProtocolError(f"array blob is not a valid .npy: {exc}") from None
    if not isinstance(arr, np.ndarray) or type(arr) is not np.ndarray or arr.dtype.kind not in _ALLOWED_KINDS:
        raise ProtocolError(f"array of dtype {getattr(arr, 'dtype', '?')} is not allowed")
    return arr
