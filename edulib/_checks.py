"""Argument checks shared by edulib's public functions.

Each check raises at the public boundary with the argument's name, what was expected and what
was received, instead of letting a broadcasting accident or a NaN travel deeper.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from .backend import array_namespace


def namespace(**arrays: Any) -> ModuleType:
    """The array namespace shared by the named ``arrays``, else a TypeError naming them."""
    try:
        return array_namespace(*arrays.values())
    except TypeError:
        pass
    for name, a in arrays.items():
        if isinstance(a, (str, bytes, dict, set)):
            raise TypeError(f"{name} must be an array of numbers, received {type(a).__name__}")
    got = ", ".join(f"{k} {type(v).__module__}.{type(v).__name__}" for k, v in arrays.items()
                    if v is not None and not isinstance(v, (bool, int, float, list, tuple)))
    raise TypeError(f"{' and '.join(arrays)} must come from one array library "
                    f"(NumPy, CuPy or array_api_strict), received {got}") from None


def as_float_array(xp: ModuleType, x: Any, name: str, dtype: Any = None) -> Any:
    """``x`` as a real floating array of ``xp`` (integers and lists become float64)."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array of numbers, received {type(x).__name__}")
    try:
        arr = xp.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of numbers, received {type(x).__name__}") from exc
    try:
        numeric = xp.isdtype(arr.dtype, ("real floating", "integral", "bool"))
    except (TypeError, ValueError):  # str / object dtypes are not array-API dtypes
        numeric = False
    if not numeric:
        raise TypeError(f"{name} must hold real numbers, received dtype {arr.dtype}")
    if dtype is not None:
        return xp.astype(arr, dtype) if arr.dtype != dtype else arr
    if xp.isdtype(arr.dtype, "real floating"):
        return arr
    return xp.astype(arr, xp.float64)


def as_int_array(xp: ModuleType, x: Any, name: str) -> Any:
    """``x`` as an integer array of ``xp``; floats are refused (labels are class indices)."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must hold integer class indices, received {type(x).__name__}")
    try:
        arr = xp.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must hold integer class indices, received "
                        f"{type(x).__name__}") from exc
    try:
        integral = xp.isdtype(arr.dtype, "integral")
    except (TypeError, ValueError):
        integral = False
    if not integral:
        raise TypeError(
            f"{name} must hold integer class indices, received dtype {arr.dtype}"
        )
    return arr


def check_finite(xp: ModuleType, x: Any, name: str) -> None:
    if not bool(xp.all(xp.isfinite(x))):
        bad = int(xp.sum(xp.astype(~xp.isfinite(x), xp.int64)))
        raise ValueError(
            f"{name} must be finite, received {bad} non-finite value(s) (NaN or inf) "
            f"in an array of shape {tuple(x.shape)}"
        )


def check_same_shape(a: Any, b: Any, name_a: str, name_b: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"{name_b} must have the shape of {name_a} {tuple(a.shape)}, "
            f"received {tuple(b.shape)}"
        )


def check_ndim(x: Any, ndim: int, name: str, meaning: str) -> None:
    if x.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-D ({meaning}), received shape {tuple(x.shape)}"
        )


def check_nonempty(x: Any, name: str) -> None:
    if math.prod(x.shape) == 0:
        raise ValueError(f"{name} must not be empty, received shape {tuple(x.shape)}")


def check_int(value: Any, name: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int inside ``[low, high]``, else a TypeError/ValueError naming it."""
    if isinstance(value, bool) or not hasattr(value, "__index__") or tuple(
        getattr(value, "shape", ())
    ) != ():
        raise TypeError(f"{name} must be an int, received {type(value).__name__} {value!r}")
    try:
        v = int(value.__index__())
    except TypeError:  # e.g. a 0-d float array: has __index__ but refuses it
        raise TypeError(f"{name} must be an int, received {type(value).__name__} "
                        f"{value!r}") from None
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], received {v}")
    return v


def check_callable(value: Any, name: str, what: str) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be {what}, received {type(value).__name__}")


def check_number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float inside the stated interval, else a ValueError naming it."""
    if (isinstance(value, (bool, complex, str, bytes))
            or not isinstance(value, (int, float)) and not hasattr(value, "__float__")
            or tuple(getattr(value, "shape", ())) != ()):
        shape = getattr(value, "shape", None)
        got = f" of shape {tuple(shape)}" if shape is not None and tuple(shape) != () else ""
        raise TypeError(f"{name} must be a number, received {type(value).__name__}{got}")
    try:
        v = float(value)
    except (TypeError, ValueError):  # complex numpy scalars, 0-d complex arrays ...
        raise TypeError(f"{name} must be a real number, received {type(value).__name__} "
                        f"{value!r}") from None
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    ok = math.isfinite(v)
    if low is not None:
        ok = ok and (v > low if low_open else v >= low)
    if high is not None:
        ok = ok and (v < high if high_open else v <= high)
    if not ok:
        raise ValueError(f"{name} must be in {interval}, received {value!r}")
    return v


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a bool, else a TypeError naming it.

    A string such as ``"no"`` is truthy in Python; taking it as ``True`` would silently do the
    opposite of what was asked, so only booleans (Python or NumPy) and the ints 0 and 1 pass.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be True or False, received {type(value).__name__} {value!r}")
