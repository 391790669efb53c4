"""Plain data across the sandbox boundary: JSON with tagged arrays, never pickles.

:func:`encode` turns answers and case inputs (NumPy arrays, numbers, strings, lists, tuples,
dicts with string keys, :class:`~edulib.exercises.Recipe`) into JSON text; :func:`decode` turns
that text back into the same plain types and nothing else, so no object of the learner's (with
an ``__eq__`` that always says yes, say) can reach the judge. Anything else is encoded as an
``unreadable`` marker naming its type.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np

from ..exercises.engine import Recipe

__all__ = ["Unreadable", "decode", "encode"]

MAX_DEPTH = 32
MAX_BYTES = 256 * 1024 * 1024
_KINDS = "biuf"      # booleans, integers, floats: complex and object arrays are not answers


class Unreadable:
    """Stands for a value that is not plain data (a generator, a learner's object ...)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = str(type_name)[:80]

    def __repr__(self) -> str:
        return f"Unreadable({self.type_name!r})"


def _float(x: float) -> Any:
    return x if math.isfinite(x) else {"__float__": repr(x)}


def _to_plain(x: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        return {"__unreadable__": "nested too deep"}
    t = type(x)
    if x is None or t is bool or t is str:
        return x
    if t is int:
        return x if abs(x) < 2**63 else _float(float(x))
    if t is float:
        return _float(x)
    if t is np.ndarray or isinstance(x, np.generic):
        a = np.asarray(x)
        if a.dtype.kind not in _KINDS:
            return {"__unreadable__": f"array of dtype {a.dtype}"}
        a = np.array(a, order="C", copy=True)
        return {"__ndarray__": a.dtype.str, "shape": list(a.shape), "scalar": t is not np.ndarray,
                "data": base64.b64encode(a.tobytes()).decode("ascii")}
    if t is list or t is tuple:
        items = [_to_plain(v, depth + 1) for v in x]
        return items if t is list else {"__tuple__": items}
    if t is dict:
        if not all(type(k) is str for k in x):
            return {"__unreadable__": "dict with non-string keys"}
        return {"__dict__": {k: _to_plain(v, depth + 1) for k, v in x.items()}}
    if t is Recipe:
        return {"__recipe__": x.target, "args": _to_plain(x.args, depth + 1)}
    return {"__unreadable__": t.__name__}


def encode(x: Any) -> str:
    """``x`` as JSON text (see the module docstring for what survives)."""
    return json.dumps(_to_plain(x), allow_nan=False, separators=(",", ":"))


def _from_plain(x: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError("nested too deep")
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, list):
        return [_from_plain(v, depth + 1) for v in x]
    if not isinstance(x, dict) or len(x) == 0:
        raise ValueError(f"unexpected {type(x).__name__} in the data")
    if "__ndarray__" in x:
        dtype = np.dtype(str(x["__ndarray__"]))
        if dtype.kind not in _KINDS:
            raise ValueError(f"arrays of dtype {dtype} are not accepted")
        shape = tuple(int(n) for n in x["shape"])
        raw = base64.b64decode(x["data"], validate=True)
        if len(raw) != dtype.itemsize * math.prod(shape):
            raise ValueError("array data does not match its shape")
        a = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        return a[()] if x.get("scalar") and a.ndim == 0 else a
    if "__float__" in x:
        text = str(x["__float__"])
        if text not in ("nan", "inf", "-inf"):
            raise ValueError(f"bad float {text!r}")
        return float(text)
    if "__tuple__" in x:
        return tuple(_from_plain(v, depth + 1) for v in x["__tuple__"])
    if "__dict__" in x:
        return {str(k): _from_plain(v, depth + 1) for k, v in dict(x["__dict__"]).items()}
    if "__recipe__" in x:
        return Recipe(str(x["__recipe__"]), tuple(_from_plain(x["args"], depth + 1)))
    if "__unreadable__" in x:
        return Unreadable(str(x["__unreadable__"]))
    raise ValueError(f"unknown tag in {sorted(x)[:3]}")


def decode(text: str | bytes) -> Any:
    """The plain data encoded in ``text``; ValueError for anything else (or too large)."""
    if len(text) > MAX_BYTES:
        raise ValueError(f"more than {MAX_BYTES} bytes of data")
    return _from_plain(json.loads(text))
