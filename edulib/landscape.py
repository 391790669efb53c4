r"""Slices of a loss landscape: the loss along one or two directions through ``params``.

.. math::
    \ell_{1D}(\alpha) = L(\theta + \alpha\, d), \qquad
    \ell_{2D}(\alpha, \beta) = L(\theta + \alpha\, d_1 + \beta\, d_2)

Directions are dicts with the keys and shapes of ``params``: random Gaussian ones (seeded),
filter-normalised as in Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets", or the
straight line between two parameter sets (:func:`direction_between`, e.g. init -> trained, as in
Goodfellow et al. 2015). ``params`` may also be a single array (a point of a 2-D surface).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import array_namespace, to_numpy
from .backend import rng as make_rng

__all__ = [
    "direction_between",
    "normalize_direction",
    "random_direction",
    "slice_1d",
    "slice_2d",
]

Params = Any  # a dict of named arrays, or a single array


def _as_dict(params: Params, name: str) -> tuple[dict[str, Any], bool]:
    if isinstance(params, Mapping):
        if len(params) == 0:
            raise ValueError(f"{name} must hold at least one array, received an empty dict")
        for k, v in params.items():
            if not hasattr(v, "shape"):
                raise TypeError(f"{name}[{k!r}] must be an array, received {type(v).__name__}")
        return dict(params), True
    if not hasattr(params, "shape"):
        raise TypeError(f"{name} must be a dict of named arrays or an array, "
                        f"received {type(params).__name__}")
    return {"": params}, False


def _unwrap(d: dict[str, Any], was_dict: bool) -> Params:
    return d if was_dict else d[""]


def _check_like(params: dict[str, Any], d: dict[str, Any], name: str) -> None:
    if set(d) != set(params):
        raise ValueError(f"{name} must have the keys of params {sorted(params)}, "
                         f"received {sorted(d)}")
    for k, p in params.items():
        where = f"{name}[{k!r}]" if k else name
        if not hasattr(d[k], "shape") or not hasattr(p, "shape"):
            raise TypeError(f"{where} and params must be arrays, received "
                            f"{type(d[k]).__name__} and {type(p).__name__}")
        if tuple(d[k].shape) != tuple(p.shape):
            raise ValueError(f"{where} must have the shape of params {tuple(p.shape)}, "
                             f"received {tuple(d[k].shape)}")
        try:
            array_namespace(p, d[k])
        except TypeError:
            raise TypeError(f"{where} must come from the array library of params "
                            f"({type(p).__module__}.{type(p).__name__}), received "
                            f"{type(d[k]).__module__}.{type(d[k]).__name__}") from None


def _row_norms(xp: Any, a: Any, axis: int) -> Any:
    """Norm of every slice ``a[i]`` along ``axis`` (over all other axes), keepdims-shaped."""
    axes = tuple(i for i in range(a.ndim) if i != axis % a.ndim)
    return xp.sqrt(xp.sum(a * a, axis=axes, keepdims=True))


def normalize_direction(direction: Params, params: Params, normalization: str | None = "filter",
                        filter_axis: int = -1, ignore_biases: bool = True) -> Params:
    r"""Rescale ``direction`` to the scale of ``params`` (a new dict; inputs unchanged).

    - ``"filter"`` (Li et al. 2018): every filter :math:`d_{i}` (the slice ``i`` along
      ``filter_axis`` of a parameter with ``ndim >= 2``: the weights of one output unit) becomes
      :math:`d_i \,\lVert\theta_i\rVert / \lVert d_i\rVert`. edulib's layers store ``W`` as
      (fan_in, fan_out), so a unit's filter is a column: ``filter_axis=-1`` (default). Use
      ``filter_axis=0`` for PyTorch's (out, in) / (out, in, kh, kw) layout.
    - ``"layer"``: every parameter array :math:`d_k \,\lVert\theta_k\rVert / \lVert d_k\rVert`.
    - ``None``: unchanged.

    With ``ignore_biases`` (and a normalisation), 0-d and 1-D parameters (biases) get a zero
    direction, as in the paper; otherwise they are normalised as a whole.
    """
    if normalization not in ("filter", "layer", None):
        raise ValueError(f"normalization must be 'filter', 'layer' or None, "
                         f"received {normalization!r}")
    p, was_dict = _as_dict(params, "params")
    d, _ = _as_dict(direction, "direction")
    _check_like(p, d, "direction")
    filter_axis = chk.check_int(filter_axis, "filter_axis")
    ignore_biases = chk.check_bool(ignore_biases, "ignore_biases")
    if normalization == "filter":
        for k, pk in p.items():
            if pk.ndim >= 2 and not -pk.ndim <= filter_axis < pk.ndim:
                where = f"params[{k!r}]" if k else "params"
                raise ValueError(f"filter_axis must be in [{-pk.ndim}, {pk.ndim - 1}] for "
                                 f"{where} of shape {tuple(pk.shape)}, received {filter_axis}")
    if normalization is None:
        return _unwrap(d, was_dict)
    out = {}
    for k, pk in p.items():
        xp = array_namespace(pk, d[k])
        dk = d[k]
        if pk.ndim <= 1 and ignore_biases:
            out[k] = xp.zeros_like(dk)
        elif normalization == "filter" and pk.ndim >= 2:
            dn = _row_norms(xp, dk, filter_axis)
            out[k] = dk * (_row_norms(xp, pk, filter_axis) / xp.where(dn > 0, dn, 1.0))
        else:
            dn = xp.sqrt(xp.sum(dk * dk))
            out[k] = dk * (xp.sqrt(xp.sum(pk * pk)) / xp.where(dn > 0, dn, 1.0))
    return _unwrap(out, was_dict)


def random_direction(params: Params, seed: int = 0, normalization: str | None = "filter",
                     filter_axis: int = -1, ignore_biases: bool = True) -> Params:
    r"""A seeded Gaussian direction :math:`d \sim \mathcal N(0, I)` shaped like ``params``,
    normalised by :func:`normalize_direction` (default: filter normalisation, biases zeroed).

    Numbers are drawn with NumPy in the order of ``params``' keys and moved to their backend
    and dtype, so every backend gets the same direction for a seed.
    """
    p, was_dict = _as_dict(params, "params")
    g = make_rng(seed)
    d = {}
    for k, pk in p.items():
        xp = array_namespace(pk)
        dtype = pk.dtype if xp.isdtype(pk.dtype, "real floating") else xp.float64
        d[k] = xp.asarray(g.standard_normal(tuple(pk.shape)), dtype=dtype)
    out = normalize_direction(d, p, normalization, filter_axis, ignore_biases)
    if normalization is not None and all(
        not bool(array_namespace(v).any(v != 0)) for v in out.values()
    ):
        raise ValueError(
            "the normalised direction is zero everywhere: every parameter is 0-d/1-D (treated "
            "as a bias) or zero; pass ignore_biases=False or normalization=None"
        )
    return _unwrap(out, was_dict)


def direction_between(start: Params, end: Params) -> Params:
    r"""The direction :math:`d = \theta_{end} - \theta_{start}`, so that
    ``slice_1d(loss_fn, start, d, alphas)`` interpolates: :math:`\alpha=0` is ``start``,
    :math:`\alpha=1` is ``end``."""
    s, was_dict = _as_dict(start, "start")
    e, _ = _as_dict(end, "end")
    _check_like(s, e, "end")
    return _unwrap({k: e[k] - s[k] for k in s}, was_dict)


def _grid(values: Any, name: str) -> np.ndarray:
    a = np.asarray(to_numpy(values), dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, "
                         f"received shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, received {a}")
    return a


def _stacked(row: dict[str, Any], u: dict[str, Any], a: np.ndarray
             ) -> dict[str, Any]:
    """``{k: row[k] + a[i] * u[k]}`` for every i, stacked along a new leading axis."""
    out = {}
    for k, rk in row.items():
        xp = array_namespace(rk)
        dtype = rk.dtype if xp.isdtype(rk.dtype, "real floating") else xp.float64
        ak = xp.reshape(xp.asarray(a, dtype=dtype), (a.size,) + (1,) * rk.ndim)
        out[k] = xp.expand_dims(rk, axis=0) + ak * xp.expand_dims(u[k], axis=0)
    return out


def _scalar(loss_fn: Callable[[Params], Any], point: Params) -> float:
    v = loss_fn(point)
    shape = tuple(getattr(v, "shape", ()))
    if shape not in ((), (1,)):
        raise TypeError(f"loss_fn must return a scalar (or pass batched=True), received an "
                        f"array of shape {shape}")
    return float(v[0] if shape else v)


def _losses(loss_fn: Callable[[Params], Any], points: Params, was_dict: bool, k: int
            ) -> np.ndarray:
    vals = np.asarray(to_numpy(loss_fn(_unwrap(points, was_dict))), dtype=np.float64)
    if vals.shape != (k,):
        raise ValueError(f"with batched=True, loss_fn must return {k} losses (one per point), "
                         f"received shape {vals.shape}")
    return vals


def slice_1d(loss_fn: Callable[[Params], Any], params: Params, direction: Params,
             alphas: Any, batched: bool = False) -> np.ndarray:
    r"""The losses :math:`L(\theta + \alpha_i d)` for every ``alphas[i]`` (NumPy float64 array).

    ``loss_fn(params)`` returns a scalar; it receives new arrays (``params`` is not modified).
    With ``batched=True``, ``loss_fn`` receives every point at once (each array gets a leading
    axis of size ``len(alphas)``) and returns that many losses.
    """
    chk.check_callable(loss_fn, "loss_fn", "a function loss_fn(params) -> scalar")
    batched = chk.check_bool(batched, "batched")
    p, was_dict = _as_dict(params, "params")
    d, _ = _as_dict(direction, "direction")
    _check_like(p, d, "direction")
    a = _grid(alphas, "alphas")
    with np.errstate(over="ignore", invalid="ignore"):
        if batched:
            return _losses(loss_fn, _stacked(p, d, a), was_dict, a.size)
        out = np.empty(a.size)
        for i, ai in enumerate(a):
            point = {k: p[k] + float(ai) * d[k] for k in p}
            out[i] = _scalar(loss_fn, _unwrap(point, was_dict))
    return out


def slice_2d(loss_fn: Callable[[Params], Any], params: Params, d1: Params, d2: Params,
             alphas: Any, betas: Any, batched: bool = False) -> np.ndarray:
    r"""The losses :math:`Z_{ji} = L(\theta + \alpha_i d_1 + \beta_j d_2)`, shape
    ``(len(betas), len(alphas))``, so ``ax.contour(alphas, betas, Z)`` draws it directly.

    Each row shares :math:`\theta + \beta_j d_2`. With ``batched=False`` a grid point costs one
    fused add and one call of ``loss_fn(params) -> scalar``. With ``batched=True`` a whole row
    is one call: ``loss_fn`` receives arrays with a leading axis of size ``len(alphas)`` (e.g.
    ``W`` of shape (K, D, C)) and returns K losses; this is what makes a 41x41 slice of a real
    model take a fraction of a second.
    """
    chk.check_callable(loss_fn, "loss_fn", "a function loss_fn(params) -> scalar")
    batched = chk.check_bool(batched, "batched")
    p, was_dict = _as_dict(params, "params")
    u, _ = _as_dict(d1, "d1")
    v, _ = _as_dict(d2, "d2")
    _check_like(p, u, "d1")
    _check_like(p, v, "d2")
    a = _grid(alphas, "alphas")
    b = _grid(betas, "betas")
    Z = np.empty((b.size, a.size))
    with np.errstate(over="ignore", invalid="ignore"):
        for j, bj in enumerate(b):
            row = {k: p[k] + float(bj) * v[k] for k in p}
            if batched:
                Z[j] = _losses(loss_fn, _stacked(row, u, a), was_dict, a.size)
                continue
            for i, ai in enumerate(a):
                point = {k: row[k] + float(ai) * u[k] for k in p}
                Z[j, i] = _scalar(loss_fn, _unwrap(point, was_dict))
    return Z
