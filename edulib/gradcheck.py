r"""Gradient checking: compare an analytic gradient with centred finite differences.

.. math:: \frac{\partial f}{\partial x_k} \approx \frac{f(x + h e_k) - f(x - h e_k)}{2h},
          \qquad h = 10^{-5}

and the relative error

.. math:: \mathrm{rel}(a, n) = \frac{\max_k |a_k - n_k|}{\max\big(10^{-8},\ \max_k (|a_k| + |n_k|)\big)}

Rules of thumb (float64, smooth function): above 1e-2 the gradient is wrong; below 1e-7 it is
right (:func:`verdict`). The error is normalised by the largest entry rather than entry by entry:
an entry whose true gradient is ~0 carries only round-off (about 1e-11 for h=1e-5), and dividing
that by its own tiny size would flag a correct gradient as wrong.

For a dict of parameters the global error is dominated by the array with the largest gradient,
so :func:`check_gradient` also reports the error of each array on its own scale
(``result.per_group``): a doubled gradient of a layer whose entries are small scores 1/3 there
even when the global error only says "look closer".

In float32 (machine epsilon :math:`\varepsilon \approx 1.2\times10^{-7}`) round-off limits centred
differences to about :math:`\varepsilon^{2/3} \approx 2\times10^{-5}` at the best step
:math:`h \approx \varepsilon^{1/3}`; and once :math:`h < \varepsilon|x|/2`, :math:`x + h` rounds
back to :math:`x` and the numerical gradient is 0. A failed check says so when either applies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import array_namespace, to_numpy

__all__ = ["GradcheckResult", "check_gradient", "numerical_gradient", "rel_error", "verdict"]

Params = Any  # an array, or a dict of named arrays

#: relative errors above this mean "wrong", below GOOD "right" (float64, smooth f)
WRONG, GOOD = 1e-2, 1e-7


def verdict(err: float) -> str:
    """``"wrong"`` above 1e-2, ``"right"`` below 1e-7, ``"look closer"`` in between."""
    err = chk.check_number(err, "err", low=0.0)
    return "wrong" if err > WRONG else ("right" if err < GOOD else "look closer")


def _eps(dtype: Any) -> float:
    """Machine epsilon of a real floating dtype of any array library."""
    return float(np.finfo(np.dtype(str(dtype).rsplit(".", 1)[-1])).eps)


def _perturbed_values(f: Callable[[Any], Any], x: Any, arg: Any, h: float, method: str) -> Any:
    """Finite-difference gradient of ``f(arg)`` with respect to array ``x`` (a view into arg).

    ``x`` is modified in place one entry at a time and restored afterwards.
    """
    xp = array_namespace(x)
    n = math.prod(x.shape)
    out = np.empty(n, dtype=np.float64)

    def value(where: str) -> float:
        try:
            v = f(arg)
        except Exception as exc:
            if hasattr(exc, "add_note"):  # Python >= 3.11
                exc.add_note(f"(raised by f {where} inside numerical_gradient; the x you passed "
                             "was not modified)")
            raise
        shape = tuple(getattr(v, "shape", ()))
        if shape not in ((), (1,)):
            raise TypeError(f"f must return a scalar (the loss), received shape {shape}")
        kind = getattr(getattr(v, "dtype", None), "kind", "f")
        try:
            if isinstance(v, (str, bytes, complex)) or kind not in "fiub":
                raise TypeError
            v = float(v[0] if shape else v)
        except (TypeError, ValueError):
            raise TypeError(f"f must return a real number (the loss), received "
                            f"{type(v).__name__} {str(v)[:40]!r}") from None
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

    ``x`` is an array or a dict of named arrays such as a model's ``params``. ``f`` is always
    called with perturbed *copies* (for a dict: a new dict holding a copy of the array being
    perturbed and the other arrays as they are), so ``x`` itself is never modified -- not even
    when ``f`` raises or returns NaN part-way -- and read-only arrays work. ``f`` must therefore
    compute the loss from the argument it receives. ``method`` is ``"centred"`` (error O(h²))
    or ``"forward"`` (error O(h)):

    .. math:: \text{centred: } \frac{f(x+he_k)-f(x-he_k)}{2h} \qquad
              \text{forward: } \frac{f(x+he_k)-f(x)}{h}

    ``h`` must be at least :math:`\varepsilon^2` of the dtype (4.9e-32 in float64, 1.4e-14 in
    float32): below that the round-off :math:`\varepsilon|f|/h` exceeds any gradient of a loss
    of order 1 by more than :math:`1/\varepsilon`. The best step is about
    :math:`\varepsilon^{1/3}` (6e-6 in float64).
    """
    chk.check_callable(f, "f", "a function f(x) -> scalar")
    h = chk.check_number(h, "h", low=0.0, low_open=True)
    if method not in ("centred", "forward"):
        raise ValueError(f"method must be 'centred' or 'forward', received {method!r}")
    if isinstance(x, Mapping):
        for name, value in x.items():
            if not hasattr(value, "shape") or isinstance(value, np.generic):
                raise TypeError(f"x[{name!r}] must be an array, "
                                f"received {type(value).__name__}")
            if not array_namespace(value).isdtype(value.dtype, "real floating"):
                raise TypeError(f"x[{name!r}] must have a real floating dtype, "
                                f"received {value.dtype}")
            _check_h(h, value.dtype, f"x[{name!r}]")
            chk.check_finite(array_namespace(value), value, f"x[{name!r}]")
        work = dict(x)  # f sees this dict; the caller's dict and arrays are never written
        out = {}
        for name, value in x.items():
            copy = array_namespace(value).asarray(value, copy=True)
            work[name] = copy
            try:
                out[name] = _perturbed_values(f, copy, work, h, method)
            finally:
                work[name] = value
        return out
    xp = chk.namespace(x=x)
    xc = xp.asarray(chk.as_float_array(xp, x, "x"), copy=True)
    _check_h(h, xc.dtype, "x")
    chk.check_finite(xp, xc, "x")
    return _perturbed_values(f, xc, xc, h, method)


def _check_h(h: float, dtype: Any, name: str) -> None:
    eps = _eps(dtype)
    if h < eps * eps:
        raise ValueError(
            f"h must be at least eps^2 = {eps * eps:.1e} for {name} of dtype {dtype}, received "
            f"{h:g}: the round-off in f(x+h) - f(x-h), about eps*|f|/h, would swamp the gradient "
            f"(and x + h rounds back to x unless |x| < 2h/eps); the best h is about "
            f"eps^(1/3) = {eps ** (1 / 3):.0e}"
        )


def _host(v: Any, name: str) -> np.ndarray:
    """``v`` as a float64 NumPy array, else a TypeError naming it."""
    if isinstance(v, (str, bytes)) or v is None:
        raise TypeError(f"{name} must be an array of numbers, received {type(v).__name__}")
    a = to_numpy(v)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, received dtype {a.dtype}")
    return a.astype(np.float64)


def _flat(x: Params, name: str = "x") -> np.ndarray:
    if isinstance(x, Mapping):
        parts = [_host(v, f"{name}[{k!r}]").ravel() for k, v in sorted(x.items())]
        return np.concatenate(parts) if parts else np.zeros(0)
    return _host(x, name).ravel()


def _scaled_diffs(fa: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, float]:
    """``|a_k - n_k|`` and the scale ``max(1e-8, max_k(|a_k| + |n_k|))``, both halved so that
    neither overflows for entries near the largest float (halving is exact, the ratio is not
    changed)."""
    ha, hn = fa / 2.0, fn / 2.0
    if fa.size == 0:
        return np.zeros(0), 0.5
    return np.abs(ha - hn), max(0.5e-8, float(np.max(np.abs(ha) + np.abs(hn))))


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
    fa, fn = _flat(a, "a"), _flat(n, "n")
    for name, flat in (("a", fa), ("n", fn)):
        if not np.all(np.isfinite(flat)):
            raise ValueError(f"{name} must be finite, received "
                             f"{int(np.sum(~np.isfinite(flat)))} non-finite value(s) (NaN or inf)")
    if fa.size == 0:
        return 0.0
    diff, scale = _scaled_diffs(fa, fn)
    return float(np.max(diff) / scale)


@dataclass
class GradcheckResult:
    """Outcome of :func:`check_gradient`; true in a boolean context when the check passed."""

    ok: bool
    rel_error: float
    tol: float
    h: float
    mismatches: list[tuple[str, float, float]] = field(default_factory=list)
    n_checked: int = 0
    #: for a dict: the relative error of each array on its own scale (rel_error(a[k], n[k]))
    per_group: dict[str, float] = field(default_factory=dict)
    #: explanations of a failure that is not the gradient's fault (float32, h too small ...)
    hints: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def verdict(self) -> str:
        """:func:`verdict` of the global relative error."""
        return verdict(self.rel_error)

    @property
    def worst_group(self) -> tuple[str, float] | None:
        """``(name, error)`` of the array with the largest per-array relative error."""
        if not self.per_group:
            return None
        name = max(self.per_group, key=lambda k: self.per_group[k])
        return name, self.per_group[name]

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
        if len(self.per_group) > 1:
            lines.append("relative error of each array on its own scale:")
            for k, e in self.per_group.items():
                lines.append(f"  {k}: {e:.2e} ({verdict(e)})")
        lines.extend(f"hint: {h}" for h in self.hints)
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
    ``ok`` uses the global relative error; for a dict, ``per_group`` also gives each array's
    error on its own scale (printed with a :func:`verdict` when the check fails), and ``hints``
    explain failures caused by float32 round-off, an ``h`` lost to rounding, or an ``f`` that
    ignores its argument.
    """
    tol = chk.check_number(tol, "tol", low=0.0, low_open=True)
    bad = int(np.sum(~np.isfinite(_flat(analytic, "analytic"))))
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
    fa, fn = _flat(analytic, "analytic"), _flat(num)
    diff, scale = _scaled_diffs(fa, fn)
    diff = diff / scale
    bad = np.flatnonzero(diff >= tol)
    bad = bad[np.argsort(-diff[bad], kind="stable")]
    mismatches = [(names[i], float(fa[i]), float(fn[i])) for i in bad]
    per_group = ({k: rel_error(analytic[k], num[k]) for k in sorted(num)}
                 if isinstance(num, Mapping) else {})
    ok = err < tol
    hints = [] if ok else _hints(x, h, tol, fa, fn)
    return GradcheckResult(ok=ok, rel_error=err, tol=tol, h=h, mismatches=mismatches,
                           n_checked=fa.size, per_group=per_group, hints=hints)


def _hints(x: Params, h: float, tol: float, fa: np.ndarray, fn: np.ndarray) -> list[str]:
    """Why a check may fail although the analytic gradient is right."""
    arrays = dict(x) if isinstance(x, Mapping) else {"x": x}
    hosts = {k: to_numpy(v) for k, v in arrays.items()}
    hints = []
    low = sorted({str(a.dtype) for a in hosts.values()
                  if a.dtype.kind == "f" and np.finfo(a.dtype).eps > 1e-10})
    if low:
        eps = max(float(np.finfo(np.dtype(d)).eps) for d in low)
        hints.append(
            f"x is {'/'.join(low)} (machine epsilon {eps:.1e}): round-off limits centred "
            f"differences to a relative error of about eps^(2/3) = {eps ** (2 / 3):.0e} at best "
            f"(with h about eps^(1/3) = {eps ** (1 / 3):.0e}), so tol={tol:g} may be out of "
            "reach even for a correct gradient; check in float64 (x.astype('float64'), "
            "init_params(dtype='float64')), or use that h and a tol near 1e-2"
        )
    lost, total = 0, 0
    for a in hosts.values():
        if a.dtype.kind != "f":
            a = a.astype(np.float64)
        with np.errstate(over="ignore"):
            lost += int(np.sum(a + a.dtype.type(h) == a))
        total += a.size
    if lost:
        hints.append(
            f"h={h:g} is lost to rounding in {lost} of {total} entries: there x + h rounds back "
            "to x (it does once h < eps*|x|/2), so the numerical gradient there is 0; use a "
            "larger h (about eps^(1/3))"
        )
    elif fa.size and not np.any(fn) and np.any(fa):
        hints.append(
            "the numerical gradient is exactly 0 everywhere: f does not change when x does -- "
            "does f compute the loss from the argument it receives (not from a variable "
            "defined outside)?"
        )
    return hints
