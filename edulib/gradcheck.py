r"""Gradient checking: compare an analytic gradient with centred finite differences.

.. math:: \frac{\partial f}{\partial x_k} \approx \frac{f(x + h e_k) - f(x - h e_k)}{2h},
          \qquad h = 10^{-5}

and the relative error

.. math:: \mathrm{rel}(a, n) = \frac{\max_k |a_k - n_k|}{\max\big(10^{-8},\ \max_k (|a_k| + |n_k|)\big)}

Rules of thumb (float64, smooth function): above 1e-2 the gradient is wrong; below 1e-7 it is
right. The error is normalised by the largest entry rather than entry by entry: an entry whose
true gradient is ~0 carries only round-off (about 1e-11 for h=1e-5), and dividing that by its own
tiny size would flag a correct gradient as wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import array_namespace, to_numpy

__all__ = ["GradcheckResult", "check_gradient", "numerical_gradient", "rel_error"]

Params = Any  # an array, or a dict of named arrays


def _perturbed_values(f: Callable[[Any], Any], x: Any, arg: Any, h: float, method: str) -> Any:
    """Finite-difference gradient of ``f(arg)`` with respect to array ``x`` (a view into arg).

    ``x`` is modified in place one entry at a time and restored afterwards.
    """
    xp = array_namespace(x)
    n = math.prod(x.shape)
    out = np.empty(n, dtype=np.float64)

    def value(where: str) -> float:
        v = f(arg)
        shape = tuple(getattr(v, "shape", ()))
        if shape not in ((), (1,)):
            raise TypeError(f"f must return a scalar (the loss), received shape {shape}")
        v = float(v[0] if shape else v)
        if not math.isfinite(v):
            raise ValueError(f"f must return a finite value, received {v} {where}")
        return v

    f0 = value("at x") if method == "forward" else 0.0
    for k in range(n):
        idx = tuple(int(i) for i in np.unravel_index(k, x.shape)) if x.ndim else ()
        old = float(x[idx])
        x[idx] = old + h
        f_plus = value(f"at x + h*e_{list(idx)}")
        if method == "centred":
            x[idx] = old - h
            f_minus = value(f"at x - h*e_{list(idx)}")
            out[k] = (f_plus - f_minus) / (2.0 * h)
        else:
            out[k] = (f_plus - f0) / h
        x[idx] = old
    return xp.asarray(out.reshape(x.shape), dtype=x.dtype)


def numerical_gradient(
    f: Callable[[Any], Any], x: Params, h: float = 1e-5, method: str = "centred"
) -> Params:
    r"""Finite-difference gradient of the scalar function ``f`` at ``x``.

    ``x`` is an array (``f`` is called with a perturbed copy) or a dict of named arrays such as a
    model's ``params`` (each entry is perturbed in place, ``f(params)`` is called, and the entry
    is restored). ``method`` is ``"centred"`` (error O(h²)) or ``"forward"`` (error O(h)):

    .. math:: \text{centred: } \frac{f(x+he_k)-f(x-he_k)}{2h} \qquad
              \text{forward: } \frac{f(x+he_k)-f(x)}{h}
    """
    chk.check_callable(f, "f", "a function f(x) -> scalar")
    h = chk.check_number(h, "h", low=0.0, low_open=True)
    if method not in ("centred", "forward"):
        raise ValueError(f"method must be 'centred' or 'forward', received {method!r}")
    if isinstance(x, Mapping):
        for name, value in x.items():
            if not hasattr(value, "shape") or isinstance(value, np.generic):
                raise TypeError(f"x[{name!r}] must be an array (perturbed in place), "
                                f"received {type(value).__name__}")
            if not array_namespace(value).isdtype(value.dtype, "real floating"):
                raise TypeError(f"x[{name!r}] must have a real floating dtype, "
                                f"received {value.dtype}")
        return {
            name: _perturbed_values(f, value, x, h, method) for name, value in x.items()
        }
    xp = chk.namespace(x=x)
    xc = xp.asarray(chk.as_float_array(xp, x, "x"), copy=True)
    return _perturbed_values(f, xc, xc, h, method)


def _flat(x: Params) -> np.ndarray:
    if isinstance(x, Mapping):
        parts = [to_numpy(v).astype(np.float64).ravel() for _, v in sorted(x.items())]
        return np.concatenate(parts) if parts else np.zeros(0)
    return to_numpy(x).astype(np.float64).ravel()


def rel_error(a: Params, n: Params) -> float:
    r"""Relative error :math:`\max_k|a_k-n_k| / \max(10^{-8}, \max_k(|a_k|+|n_k|))`.

    ``a`` and ``n`` are arrays of one shape, or dicts with the same keys and shapes.
    """
    if isinstance(a, Mapping) or isinstance(n, Mapping):
        if not (isinstance(a, Mapping) and isinstance(n, Mapping)) or set(a) != set(n):
            raise ValueError(
                f"a and n must both be dicts with the same keys, received "
                f"{sorted(a) if isinstance(a, Mapping) else type(a).__name__} and "
                f"{sorted(n) if isinstance(n, Mapping) else type(n).__name__}"
            )
        for k in a:
            if tuple(a[k].shape) != tuple(n[k].shape):
                raise ValueError(
                    f"n[{k!r}] must have the shape of a[{k!r}] {tuple(a[k].shape)}, "
                    f"received {tuple(n[k].shape)}"
                )
    else:
        sa, sn = tuple(np.shape(to_numpy(a))), tuple(np.shape(to_numpy(n)))
        if sa != sn:
            raise ValueError(f"n must have the shape of a {sa}, received {sn}")
    fa, fn = _flat(a), _flat(n)
    for name, flat in (("a", fa), ("n", fn)):
        if not np.all(np.isfinite(flat)):
            raise ValueError(f"{name} must be finite, received "
                             f"{int(np.sum(~np.isfinite(flat)))} non-finite value(s) (NaN or inf)")
    if fa.size == 0:
        return 0.0
    scale = max(1e-8, float(np.max(np.abs(fa) + np.abs(fn))))
    return float(np.max(np.abs(fa - fn)) / scale)


@dataclass
class GradcheckResult:
    """Outcome of :func:`check_gradient`; true in a boolean context when the check passed."""

    ok: bool
    rel_error: float
    tol: float
    h: float
    mismatches: list[tuple[str, float, float]] = field(default_factory=list)
    n_checked: int = 0

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = (
            f"gradient check {'passed' if self.ok else 'FAILED'}: relative error "
            f"{self.rel_error:.2e} ({'<' if self.ok else '>='} tol {self.tol:.0e}) over "
            f"{self.n_checked} entries, h={self.h:g}"
        )
        if self.ok:
            return head
        lines = [head, f"{len(self.mismatches)} entries disagree (worst first):"]
        for where, a, n in self.mismatches[:10]:
            lines.append(f"  {where}: analytic {a:+.4e}  numerical {n:+.4e}  diff {a - n:+.2e}")
        if len(self.mismatches) > 10:
            lines.append(f"  ... and {len(self.mismatches) - 10} more")
        return "\n".join(lines)

    __repr__ = __str__


def check_gradient(
    f: Callable[[Any], Any],
    x: Params,
    analytic: Params,
    *,
    h: float = 1e-5,
    tol: float = 1e-7,
) -> GradcheckResult:
    """Compare ``analytic`` (the gradient your code computed) with centred differences of ``f``.

    Returns a :class:`GradcheckResult` that lists the entries that disagree: an entry disagrees
    when :math:`|a_k - n_k|` exceeds ``tol`` times the normalisation of :func:`rel_error`.
    """
    tol = chk.check_number(tol, "tol", low=0.0, low_open=True)
    bad = int(np.sum(~np.isfinite(_flat(analytic))))
    if bad:
        raise ValueError(f"analytic must be finite, received {bad} non-finite value(s) "
                         "(NaN or inf)")
    num = numerical_gradient(f, x, h=h)
    if isinstance(x, Mapping) != isinstance(analytic, Mapping) or (
        isinstance(x, Mapping) and set(x) != set(analytic)
    ):
        raise ValueError(
            f"analytic must have the structure of x (the same keys), received "
            f"{sorted(analytic) if isinstance(analytic, Mapping) else type(analytic).__name__} "
            f"for x {sorted(x) if isinstance(x, Mapping) else type(x).__name__}"
        )
    pairs = [(k, analytic[k], num[k]) for k in sorted(num)] if isinstance(num, Mapping) else [
        ("", analytic, num)]
    for k, a, n in pairs:
        sa, sn = tuple(np.shape(to_numpy(a))), tuple(np.shape(to_numpy(n)))
        if sa != sn:
            where = f"[{k!r}]" if k else ""
            raise ValueError(f"analytic{where} must have the shape of x{where} {sn}, "
                             f"received {sa}")
    err = rel_error(analytic, num)
    if isinstance(analytic, Mapping):
        keys = sorted(analytic)
        names = [
            f"{k}[{', '.join(map(str, np.unravel_index(i, analytic[k].shape)))}]"
            for k in keys
            for i in range(math.prod(analytic[k].shape))
        ]
    else:
        shape = tuple(np.shape(to_numpy(analytic)))
        names = [
            f"[{', '.join(str(int(j)) for j in np.unravel_index(i, shape))}]"
            for i in range(math.prod(shape))
        ]
    fa, fn = _flat(analytic), _flat(num)
    scale = max(1e-8, float(np.max(np.abs(fa) + np.abs(fn)))) if fa.size else 1.0
    diff = np.abs(fa - fn) / scale
    bad = np.flatnonzero(diff >= tol)
    bad = bad[np.argsort(-diff[bad], kind="stable")]
    mismatches = [(names[i], float(fa[i]), float(fn[i])) for i in bad]
    return GradcheckResult(
        ok=err < tol, rel_error=err, tol=tol, h=h, mismatches=mismatches, n_checked=fa.size
    )
