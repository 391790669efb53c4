"""Choosing the array namespace: NumPy by default, CuPy when the arrays live on a GPU.

Every numeric function in edulib starts with ``xp = array_namespace(x, ...)`` and then uses only
functions of the Python array API standard (``xp.exp``, ``xp.sum``, ``xp.take_along_axis`` ...).
The same code therefore runs on NumPy, on CuPy (GPU) and on ``array_api_strict``, the reference
namespace the test suite uses to prove that nothing NumPy-specific slipped in.
"""

from __future__ import annotations

import functools
import operator
from types import ModuleType
from typing import Any

import array_api_compat as _compat
import numpy as np
from array_api_compat import array_namespace as _compat_namespace

__all__ = [
    "apply_into",
    "array_namespace",
    "available_backends",
    "gpu_available",
    "get_namespace",
    "rng",
    "to_numpy",
]


def array_namespace(*arrays: Any) -> ModuleType:
    """Return the array-API namespace shared by ``arrays``.

    Python scalars and ``None`` are ignored; lists, tuples and plain numbers alone give NumPy's
    namespace, so ``mse([1.0, 2.0], [1.0, 3.0])`` works just like with NumPy arrays.
    """
    real = [a for a in arrays if a is not None and not isinstance(a, (bool, int, float, complex))]
    if any(isinstance(a, (list, tuple)) for a in real):
        real = [a for a in real if not isinstance(a, (list, tuple))]
    if not real:
        return _compat_namespace(np.empty(0))
    try:
        return _compat_namespace(*real)
    except TypeError as exc:
        raise TypeError(f"expected arrays from one array library, received {exc}") from None


_INPLACE_OPERATORS = {
    "add": operator.iadd,
    "subtract": operator.isub,
    "multiply": operator.imul,
    "divide": operator.itruediv,
}


def apply_into(out: Any, op: str, *args: Any) -> Any:
    """Write ``xp.<op>(*args)`` into the existing array ``out`` and return ``out``.

    ``apply_into(s, "multiply", g, g)`` is ``s[...] = g * g``; ``apply_into(s, "sqrt", v)`` is
    ``s[...] = sqrt(v)``. The point is speed and memory in optimizer steps: on NumPy and CuPy
    the ufunc writes straight into ``out`` (``np.multiply(g, g, out=s)``), so no temporary array
    is created. Other namespaces (``array_api_strict`` has no ``out=``) use an in-place operator
    when ``out`` is the first argument (``s *= c``), else compute and copy (``s[...] = ...``).
    """
    if isinstance(out, np.ndarray):  # checked first: this runs once per block of a NumPy step
        return getattr(np, op)(*args, out=out)
    xp = array_namespace(out)
    if _compat.is_cupy_namespace(xp):
        import cupy

        return getattr(cupy, op)(*args, out=out)
    if args and args[0] is out and op in _INPLACE_OPERATORS and len(args) == 2:
        _INPLACE_OPERATORS[op](out, args[1])
        return out
    out[...] = getattr(xp, op)(*args)
    return out


def to_numpy(x: Any) -> np.ndarray:
    """Copy ``x`` (NumPy, CuPy or any DLPack-capable array, or a scalar) into a NumPy array."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (bool, int, float, np.generic, list, tuple)):
        return np.asarray(x)
    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        return x.get()
    try:
        return np.from_dlpack(x)
    except (TypeError, AttributeError, RuntimeError, BufferError):
        return np.asarray(x)


def rng(seed: int | None = 0) -> np.random.Generator:
    """A seeded NumPy random generator: every notebook and test draws its randomness from one.

    Random numbers are drawn on the host with NumPy and then moved to the backend with
    ``xp.asarray``, so a NumPy run and a GPU run of the same seed see the same data.
    """
    if seed is not None and not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or None, received {type(seed).__name__}")
    return np.random.default_rng(seed)


@functools.cache
def gpu_available() -> bool:
    """True when CuPy is installed *and* a tiny allocation on the GPU succeeds.

    ``pip install cupy-cuda12x`` succeeds on machines without a GPU; the failure only shows at
    the first allocation, so that is what we try (once, the answer is cached).
    """
    return _gpu_status()[0]


@functools.cache
def _gpu_status() -> tuple[bool, str]:
    try:
        import cupy
    except ImportError:
        return False, 'CuPy is not installed (from the repository: pip install -e ".[gpu]")'
    try:
        x = cupy.arange(3, dtype=cupy.float32)
        float((x * 2).sum())
    except Exception as exc:  # noqa: BLE001 - any CUDA/driver failure means "no GPU"
        return False, f"CuPy is installed but no GPU is usable: {type(exc).__name__}: {exc}"
    return True, "GPU available"


def gpu_unavailable_reason() -> str:
    """Why :func:`gpu_available` is False (an empty string when a GPU is usable)."""
    ok, reason = _gpu_status()
    return "" if ok else reason


def get_namespace(name: str) -> ModuleType:
    """The namespace called ``name``: ``"numpy"``, ``"array_api_strict"`` or ``"cupy"``."""
    if name == "numpy":
        return array_namespace(np.empty(0))
    if name == "array_api_strict":
        import array_api_strict

        return array_api_strict
    if name == "cupy":
        if not gpu_available():
            raise RuntimeError(gpu_unavailable_reason())
        import cupy

        return array_namespace(cupy.empty(0))
    raise ValueError(
        f"backend name must be 'numpy', 'array_api_strict' or 'cupy', received {name!r}"
    )


def available_backends() -> dict[str, str]:
    """Map each backend name to ``""`` when usable here, or to the reason it is not."""
    out = {"numpy": ""}
    try:
        import array_api_strict  # noqa: F401

        out["array_api_strict"] = ""
    except ImportError:
        out["array_api_strict"] = ('array_api_strict is not installed (from the repository: '
                                   'pip install -e ".[test]")')
    out["cupy"] = gpu_unavailable_reason()
    return out

