r"""Newton, BFGS and L-BFGS with a strong-Wolfe line search: second-order ideas in readable code.

Every method minimises a function given as ``fun(x) -> (f, g)`` of a flat float vector ``x``
(any backend: NumPy, CuPy, ``array_api_strict``), where ``f`` is the value (a float or 0-d
array) and ``g`` the gradient (same shape as ``x``). All vector arithmetic stays in ``x0``'s
namespace and dtype, so a float32 start point gives a float32 run (chapter 04, notebook 3)::

    fun, x0 = model_objective(model, X, y, params)     # a model as a function of one vector
    res = lbfgs(fun, x0, m=10, gtol=1e-6)
    res.x, res.fun, res.nit, res.nfev, res.success, res.message, res.history["f"]

The three methods differ only in the search direction :math:`d_k`; the step is
:math:`x_{k+1} = x_k + \alpha_k d_k` with a step length :math:`\alpha_k` from a line search.

* :func:`newton`: :math:`d_k = -(H_k + \tau_k I)^{-1} g_k`, with :math:`H_k = \nabla^2 f(x_k)` and
  the first shift :math:`\tau_k \ge 0` of a doubling sequence that makes the Cholesky
  factorisation succeed, i.e. makes :math:`H_k + \tau_k I` positive definite
  (Nocedal & Wright, Algorithm 3.3; :func:`_cholesky_shift`). :math:`\alpha_k` by backtracking (Armijo).
* :func:`bfgs`: :math:`d_k = -B_k g_k` with :math:`B_k \approx H_k^{-1}` updated from the
  pair :math:`s_k = x_{k+1} - x_k`, :math:`y_k = g_{k+1} - g_k`, :math:`\rho_k = 1/y_k^\top s_k`:
  :math:`B_{k+1} = (I - \rho_k s_k y_k^\top) B_k (I - \rho_k y_k s_k^\top) + \rho_k s_k s_k^\top`.
* :func:`lbfgs`: the same :math:`B_k g_k` computed from the last ``m`` pairs only, by the
  two-loop recursion, starting from :math:`B^0_k = \gamma_k I`,
  :math:`\gamma_k = s_{k-1}^\top y_{k-1} / y_{k-1}^\top y_{k-1}`.

BFGS and L-BFGS need :math:`y_k^\top s_k > 0` (positive curvature along the step). The strong
Wolfe line search guarantees it in exact arithmetic; in floating point, or when the search
falls back to a step with sufficient decrease only, a pair can still fail the test
:math:`y_k^\top s_k > \varepsilon\, y_k^\top y_k` (:math:`\varepsilon` = the dtype's machine
epsilon, as L-BFGS-B does), and is then skipped and counted in ``n_skipped``.

Stopping (checked after every iteration, like SciPy): ``gtol`` on
:math:`\lVert g\rVert_\infty`; ``ftol`` on the relative decrease
:math:`0 \le (f_k - f_{k+1}) / \max(|f_k|, |f_{k+1}|, 1) \le` ``ftol`` (a step that
increases f, possible only for undamped Newton, is not convergence); ``maxiter`` iterations; ``maxfun``
function evaluations (checked after each iteration, so a line search may overshoot ``maxfun`` by
its own trials). A line search that finds no step decreasing f enough ends the run with
``success=False`` and a message (L-BFGS and BFGS first forget their curvature memory and retry
once from their starting matrix).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import array_namespace, to_numpy

__all__ = [
    "LineSearchResult",
    "OptimizeResult",
    "bfgs",
    "lbfgs",
    "model_objective",
    "newton",
    "wolfe_line_search",
]

Fun = Callable[[Any], tuple[Any, Any]]


# ------------------------------------------------------------------------------ results
@dataclass
class OptimizeResult:
    """What a run returns (the fields of ``scipy.optimize.OptimizeResult`` that matter here).

    ``history`` maps ``"f"``, ``"grad_norm"`` (:math:`\\lVert g\\rVert_\\infty`), ``"nfev"``
    (cumulative evaluations) and ``"step"`` (:math:`\\alpha_k`; 0 for the start) to lists with
    one entry for the start point and one per iteration; Newton adds ``"shift"``
    (:math:`\\tau_k`) and ``"descent"`` (:math:`g_k^\\top d_k < 0`), and ``record_x=True`` adds
    ``"x"`` (NumPy copies of the iterates).
    """

    x: Any
    fun: float
    grad_norm: float
    nit: int
    nfev: int
    success: bool
    message: str
    history: dict[str, list[Any]] = field(default_factory=dict)
    n_skipped: int = 0
    n_restarts: int = 0
    method: str = ""

    def __repr__(self) -> str:
        return (f"OptimizeResult(method={self.method!r}, success={self.success}, "
                f"fun={self.fun:.6g}, grad_norm={self.grad_norm:.3g}, nit={self.nit}, "
                f"nfev={self.nfev}, n_skipped={self.n_skipped}, message={self.message!r})")


@dataclass
class LineSearchResult:
    """A line search's outcome: ``alpha`` (None on failure) and the new point's ``x``, ``f``,
    ``g``, with the number of evaluations it used, a message when no strong-Wolfe step was
    found, whether ``fun`` returned non-finite values, and ``wolfe``: False when the step meets
    the sufficient-decrease condition only (the fallback of :func:`wolfe_line_search`)."""

    alpha: float | None
    x: Any
    f: float
    g: Any
    nfev: int
    message: str = ""
    nonfinite: bool = False
    wolfe: bool = True


# ------------------------------------------------------------------------------ checks
def _check_x0(x0: Any) -> tuple[ModuleType, Any]:
    xp = chk.namespace(x0=x0)
    x = chk.as_float_array(xp, x0, "x0")
    if x.ndim != 1:
        raise ValueError(f"x0 must be a flat 1-D vector of parameters, received shape "
                         f"{tuple(x.shape)} (flatten it, e.g. with edulib.hessian.flatten)")
    chk.check_nonempty(x, "x0")
    chk.check_finite(xp, x, "x0")
    return xp, xp.asarray(x, copy=True)


def _check_common(fun: Any, gtol: Any, ftol: Any, maxiter: Any, maxfun: Any,
                  ) -> tuple[float, float, int, int]:
    chk.check_callable(fun, "fun", "a callable fun(x) -> (f, g)")
    gtol = chk.check_number(gtol, "gtol", low=0.0)
    ftol = chk.check_number(ftol, "ftol", low=0.0)
    maxiter = chk.check_int(maxiter, "maxiter", low=0)
    maxfun = chk.check_int(maxfun, "maxfun", low=1)
    return gtol, ftol, maxiter, maxfun


def _check_wolfe(c1: Any, c2: Any) -> tuple[float, float]:
    c1 = chk.check_number(c1, "c1", low=0.0, high=1.0, low_open=True, high_open=True)
    c2 = chk.check_number(c2, "c2", low=0.0, high=1.0, low_open=True, high_open=True)
    if not c1 < c2:
        raise ValueError(f"c1 must be smaller than c2 (0 < c1 < c2 < 1), received c1={c1}, "
                         f"c2={c2}")
    return c1, c2


class _Counted:
    """Wraps ``fun``: counts calls, checks shapes, returns ``(float f, g)`` in x's dtype."""

    def __init__(self, fun: Fun, xp: ModuleType, like: Any) -> None:
        self.fun, self.xp, self.like, self.nfev = fun, xp, like, 0

    def __call__(self, x: Any) -> tuple[float, Any]:
        self.nfev += 1
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            out = self.fun(x)  # an overflow becomes inf/NaN, which the caller reports
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError(f"fun must return a pair (f, g), received {type(out).__name__}")
        f, g = out
        try:
            f = float(f)
        except (TypeError, ValueError):
            raise TypeError(f"fun must return a scalar value f, received "
                            f"{type(f).__name__} of shape {getattr(f, 'shape', '?')}") from None
        if not hasattr(g, "shape") or tuple(g.shape) != tuple(self.like.shape):
            raise ValueError(f"fun must return a gradient g of the shape of x "
                             f"{tuple(self.like.shape)}, received "
                             f"{tuple(getattr(g, 'shape', ()))} ({type(g).__name__})")
        try:
            same = array_namespace(g, self.like) is self.xp
        except TypeError:
            same = False
        if not same:
            raise TypeError(f"fun must return g from the array library of x0 "
                            f"({self.xp.__name__}), received {type(g).__module__}."
                            f"{type(g).__name__}")
        if g.dtype != self.like.dtype:
            g = self.xp.astype(g, self.like.dtype)
        return f, g

    def finite(self, f: float, g: Any) -> bool:
        return math.isfinite(f) and bool(self.xp.all(self.xp.isfinite(g)))


def _dot(xp: ModuleType, a: Any, b: Any) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        return float(xp.vecdot(a, b))


def _inf_norm(xp: ModuleType, g: Any) -> float:
    return float(xp.max(xp.abs(g)))


# ------------------------------------------------------------------------------ line search
def _cubicmin(a: float, fa: float, fpa: float, b: float, fb: float, c: float,
              fc: float) -> float | None:
    """Minimiser of the cubic through (a, fa), (b, fb), (c, fc) with slope fpa at a."""
    db, dc = b - a, c - a
    denom = (db * dc) ** 2 * (db - dc)
    if denom == 0.0:
        return None
    rb, rc = fb - fa - fpa * db, fc - fa - fpa * dc
    A = (dc * dc * rb - db * db * rc) / denom
    B = (-dc ** 3 * rb + db ** 3 * rc) / denom
    radical = B * B - 3.0 * A * fpa
    if A == 0.0 or radical < 0.0:
        return None
    xmin = a + (-B + math.sqrt(radical)) / (3.0 * A)
    return xmin if math.isfinite(xmin) else None


def _quadmin(a: float, fa: float, fpa: float, b: float, fb: float) -> float | None:
    """Minimiser of the parabola through (a, fa), (b, fb) with slope fpa at a."""
    db = b - a
    if db == 0.0:
        return None
    B = (fb - fa - fpa * db) / (db * db)
    if B <= 0.0:
        return None
    xmin = a - fpa / (2.0 * B)
    return xmin if math.isfinite(xmin) else None


@dataclass
class _Trial:
    """One point on the line: step ``alpha``, ``f`` = φ(α), ``slope`` = φ'(α), and the new x, g."""

    alpha: float
    f: float
    slope: float
    x: Any
    g: Any


class _Line:
    r""":math:`\varphi(\alpha) = f(x + \alpha d)` and :math:`\varphi'(\alpha) = g(x+\alpha d)^\top d`,
    one call of ``fun`` per trial; counts the calls and keeps the lowest trial with sufficient
    decrease (the fallback when no strong-Wolfe step turns up)."""

    def __init__(self, fun: Fun, x: Any, d: Any, f0: float, g0: Any, c1: float) -> None:
        self.fun, self.x, self.d, self.xp = fun, x, d, array_namespace(x)
        self.start = _Trial(0.0, f0, _dot(self.xp, g0, d), x, g0)
        self.c1, self.nfev, self.nonfinite, self.best = c1, 0, False, None

    def __call__(self, alpha: float, *known: _Trial) -> _Trial | None:
        """The trial at ``alpha``; None (``fun`` not called) when ``x + alpha d`` rounds to x or
        to the point of a ``known`` trial: there is nothing new to learn at the resolution of x."""
        xa = self.x + alpha * self.d
        if any(not bool(self.xp.any(xa != t.x)) for t in (self.start, *known)):
            return None
        self.nfev += 1
        fa, ga = self.fun(xa)
        fa = float(fa)
        if not (math.isfinite(fa) and bool(self.xp.all(self.xp.isfinite(ga)))):
            self.nonfinite = True                  # a non-finite value counts as "too far"
            return _Trial(alpha, math.inf, math.nan, xa, ga)
        t = _Trial(alpha, fa, _dot(self.xp, ga, self.d), xa, ga)
        if self.decreases(t) and t.f < (self.start.f if self.best is None else self.best.f):
            self.best = t
        return t

    def decreases(self, t: _Trial) -> bool:
        """Sufficient decrease (Armijo): φ(α) ≤ φ(0) + c1 α φ'(0)."""
        return t.f <= self.start.f + self.c1 * t.alpha * self.start.slope


def _next_trial(lo: _Trial, hi: _Trial, rec: _Trial | None, stalled: bool) -> float:
    """The zoom's next step inside the bracket between ``lo.alpha`` and ``hi.alpha``: the
    minimiser of the cubic through lo, hi and rec (the point dropped last) with lo's slope, else
    of the parabola through lo and hi with lo's slope, else the midpoint. Anywhere strictly
    inside the bracket is allowed, however close to an end (a trial 10⁴ times too long is
    corrected in one step); the midpoint is forced when the bracket is ``stalled``."""
    a, b = sorted((lo.alpha, hi.alpha))
    mid = lo.alpha + 0.5 * (hi.alpha - lo.alpha)
    if stalled or not math.isfinite(hi.f):
        return mid
    a_j = None
    if rec is not None and math.isfinite(rec.f):
        a_j = _cubicmin(lo.alpha, lo.f, lo.slope, hi.alpha, hi.f, rec.alpha, rec.f)
    if a_j is None or not a < a_j < b:
        a_j = _quadmin(lo.alpha, lo.f, lo.slope, hi.alpha, hi.f)
    return a_j if a_j is not None and a < a_j < b else mid


def _zoom(line: _Line, lo: _Trial, hi: _Trial, c2: float,
          maxiter: int) -> tuple[_Trial | None, str]:
    """Nocedal & Wright's Algorithm 3.6: ``lo`` meets sufficient decrease with the lowest φ so
    far and its slope points to ``hi``, so a strong-Wolfe step lies between them; shrink the
    bracket until a trial meets both conditions. Safeguard (Moré & Thuente): when the bracket
    is not below 2/3 of its width two trials ago, the next trial is the midpoint."""
    slope0, rec, widths = line.start.slope, None, [math.inf, math.inf]
    while line.nfev < maxiter:
        width = abs(hi.alpha - lo.alpha)
        a_j = _next_trial(lo, hi, rec, stalled=width >= 0.66 * widths[0])
        widths = [widths[1], width]
        t = line(a_j, lo, hi)
        if t is None:
            return None, "the bracket shrank below the resolution of x + alpha d"
        if not line.decreases(t) or t.f >= lo.f:
            rec, hi = hi, t                                      # t becomes the far end
        elif abs(t.slope) <= -c2 * slope0:
            return t, ""
        else:                                                    # t becomes the low end
            rec, hi = (hi, lo) if t.slope * (hi.alpha - lo.alpha) >= 0 else (lo, hi)
            lo = t
    return None, f"no strong-Wolfe step in {maxiter} trials"


def wolfe_line_search(fun: Fun, x: Any, d: Any, f0: float, g0: Any, alpha1: float = 1.0,
                      c1: float = 1e-4, c2: float = 0.9, maxiter: int = 20,
                      amax: float = 1e10) -> LineSearchResult:
    r"""A step length :math:`\alpha` along ``d`` meeting the strong Wolfe conditions

    .. math:: f(x + \alpha d) \le f(x) + c_1 \alpha\, g^\top d, \qquad
              |\nabla f(x + \alpha d)^\top d| \le c_2\, |g^\top d|

    (sufficient decrease, then "the slope has flattened enough"), for ``0 < c1 < c2 < 1``.
    Nocedal & Wright's Algorithms 3.5 and 3.6, the structure of ``scipy.optimize``'s
    ``scalar_search_wolfe2``, with Moré & Thuente's safeguards (SciPy's BFGS and L-BFGS-B run
    their line search, MINPACK's ``dcsrch``):

    1. try ``alpha1`` (capped at ``amax``) and double it while it is too short (f falls and the
       slope is still steep);
    2. once a trial is too long (f rose) or the slope turned positive, a strong-Wolfe step is
       bracketed: *zoom* into the bracket with the minimiser of a cubic, else a quadratic,
       interpolating the known values (anywhere inside the bracket, so a first trial 10⁴ times
       too long is fixed in one step), or the midpoint when the bracket stops shrinking.

    ``fun`` is called once per trial (value and gradient together), at most ``maxiter`` times in
    all (20, L-BFGS-B's limit). A non-finite value counts as "too far". If no trial meets both
    conditions, the lowest trial with sufficient decrease is returned with ``wolfe=False``
    (f still falls; its curvature pair may be unusable); ``alpha=None`` and a message when no
    trial decreased f enough, or when ``d`` is not a descent direction (:math:`g^\top d \ge 0`).
    """
    chk.check_callable(fun, "fun", "a callable fun(x) -> (f, g)")
    xp = chk.namespace(x=x, d=d, g0=g0)
    for name, v in (("x", x), ("d", d), ("g0", g0)):
        chk.check_ndim(v, 1, name, "a flat vector")
        chk.check_finite(xp, chk.as_float_array(xp, v, name), name)
    chk.check_same_shape(x, d, "x", "d")
    chk.check_same_shape(x, g0, "x", "g0")
    f0 = chk.check_number(f0, "f0")
    alpha1 = chk.check_number(alpha1, "alpha1", low=0.0, low_open=True)
    amax = chk.check_number(amax, "amax", low=0.0, low_open=True)
    c1, c2 = _check_wolfe(c1, c2)
    maxiter = chk.check_int(maxiter, "maxiter", low=1)
    return _wolfe_search(fun, x, d, f0, g0, alpha1, c1, c2, maxiter, amax)


def _wolfe_search(fun: Fun, x: Any, d: Any, f0: float, g0: Any, alpha1: float, c1: float,
                  c2: float, maxiter: int = 20, amax: float = 1e10) -> LineSearchResult:
    """:func:`wolfe_line_search` on arguments already checked."""
    line = _Line(fun, x, d, f0, g0, c1)
    slope0 = line.start.slope
    if not slope0 < 0.0:
        return LineSearchResult(None, x, f0, g0, 0, f"d is not a descent direction "
                                f"(g^T d = {slope0:.3g} >= 0)")
    prev, alpha = line.start, min(alpha1, amax)
    found, message = None, f"no strong-Wolfe step in {maxiter} trials"
    while line.nfev < maxiter:
        t = line(alpha, prev)
        if t is None:
            message = "the step alpha d is below the resolution of x"
            break
        if not line.decreases(t) or (prev is not line.start and t.f >= prev.f):
            found, message = _zoom(line, prev, t, c2, maxiter)            # too long
            break
        if abs(t.slope) <= -c2 * slope0:
            found = t
            break
        if t.slope >= 0:
            found, message = _zoom(line, t, prev, c2, maxiter)            # past the minimum
            break
        if alpha >= amax:
            message = f"no strong-Wolfe step with alpha <= amax = {amax:g}"
            break
        prev, alpha = t, min(2.0 * alpha, amax)                           # too short
    if line.nonfinite:
        message += " (fun returned non-finite values along the search direction)"
    if found is not None:
        return LineSearchResult(found.alpha, found.x, found.f, found.g, line.nfev)
    if line.best is not None:                      # fallback: sufficient decrease only
        b = line.best
        return LineSearchResult(b.alpha, b.x, b.f, b.g, line.nfev, message, line.nonfinite,
                                wolfe=False)
    return LineSearchResult(None, x, f0, g0, line.nfev, message, line.nonfinite)


# ------------------------------------------------------------------------------ driver
class _Run:
    """Book-keeping shared by the three methods: history, stopping tests, the result."""

    def __init__(self, method: str, fun: Fun, x0: Any, gtol: float, ftol: float, maxiter: int,
                 maxfun: int, record_x: bool, extra: tuple[str, ...] = ()) -> None:
        self.method = method
        self.xp, self.x = _check_x0(x0)
        self.fun = _Counted(fun, self.xp, self.x)
        self.gtol, self.ftol, self.maxiter, self.maxfun = gtol, ftol, maxiter, maxfun
        self.record_x = bool(record_x)
        keys = ("f", "grad_norm", "nfev", "step", *extra) + (("x",) if self.record_x else ())
        self.history: dict[str, list[Any]] = {k: [] for k in keys}
        self.nit = 0
        self.n_skipped = 0
        self.n_restarts = 0
        self.f, self.g = self.fun(self.x)
        self.f0 = self.f

    @property
    def eps(self) -> float:
        return float(self.xp.finfo(self.x.dtype).eps)

    def record(self, step: float, **extra: Any) -> None:
        h = self.history
        h["f"].append(self.f)
        h["grad_norm"].append(_inf_norm(self.xp, self.g))
        h["nfev"].append(self.fun.nfev)
        h["step"].append(step)
        for k, v in extra.items():
            h[k].append(v)
        if self.record_x:
            h["x"].append(np.array(to_numpy(self.x), copy=True))

    def start(self, **extra: Any) -> OptimizeResult | None:
        if not self.fun.finite(self.f, self.g):
            return self.result(False, "fun returned a non-finite value or gradient at x0")
        self.record(0.0, **extra)
        if self.history["grad_norm"][-1] <= self.gtol:
            return self.result(True, "gradient norm ||g||_inf <= gtol at x0")
        if self.maxiter == 0:
            return self.result(False, "maximum number of iterations (maxiter=0) reached")
        return None

    def accept(self, x: Any, f: float, g: Any, step: float, **extra: Any) -> OptimizeResult | None:
        f_old = self.f
        self.x, self.f, self.g = x, f, g
        self.nit += 1
        self.record(step, **extra)
        if not self.fun.finite(f, g):
            return self.result(False, "fun returned a non-finite value or gradient")
        if f < self.f0 - max(abs(self.f0), 1.0) / self.eps:
            return self.result(False, f"f fell from {self.f0:.4g} to {f:.4g}: the function "
                                      "looks unbounded below")
        if self.history["grad_norm"][-1] <= self.gtol:
            return self.result(True, "gradient norm ||g||_inf <= gtol")
        if 0.0 <= f_old - f <= self.ftol * max(abs(f_old), abs(f), 1.0):
            return self.result(True, "relative reduction of f <= ftol")
        if self.fun.nfev >= self.maxfun:
            return self.result(False, f"maximum number of function evaluations "
                                      f"(maxfun={self.maxfun}) reached")
        if self.nit >= self.maxiter:
            return self.result(False, f"maximum number of iterations (maxiter={self.maxiter}) "
                                      f"reached")
        return None

    def result(self, success: bool, message: str) -> OptimizeResult:
        return OptimizeResult(
            x=self.x, fun=self.f, grad_norm=_inf_norm(self.xp, self.g), nit=self.nit,
            nfev=self.fun.nfev, success=success, message=message, history=self.history,
            n_skipped=self.n_skipped, n_restarts=self.n_restarts, method=self.method,
        )


def _first_step(xp: ModuleType, d: Any) -> float:
    r"""Initial trial step along ``d`` when no curvature is known yet: a move of length 1 at most,
    :math:`\min(1, 1/\lVert d\rVert)` (SciPy's BFGS tries :math:`\min(1, 1.01/\lVert g
    \rVert)`, L-BFGS-B :math:`1/\lVert d\rVert`); the line search corrects it either way."""
    return min(1.0, 1.0 / max(float(xp.linalg.vector_norm(d)), 1e-300))


# ------------------------------------------------------------------------------ Newton
def newton(fun: Fun, x0: Any, hess: Callable[[Any], Any], *, gtol: float = 1e-5,
           ftol: float = 0.0, maxiter: int = 100, maxfun: int = 1000, damped: bool = True,
           modify: bool = True, c1: float = 1e-4, backtrack: float = 0.5,
           max_backtracks: int = 50, record_x: bool = False) -> OptimizeResult:
    r"""Newton's method: minimise the local quadratic model at every step.

    .. math:: d_k = -(H_k + \tau_k I)^{-1} g_k,\qquad x_{k+1} = x_k + \alpha_k d_k

    ``hess(x)`` returns the dense Hessian :math:`H_k` (n × n, x's namespace).

    * ``modify=True``: when :math:`H_k` is not positive definite, :math:`\tau_k` grows (from
      :math:`\beta = 10^{-3}\max(1, \max_i |H_{ii}|)`, or from :math:`\beta - \min_i H_{ii}`
      when a diagonal entry is :math:`\le 0`, then doubling; :func:`_cholesky_shift`) until
      the Cholesky factorisation of :math:`H_k + \tau_k I` succeeds, so :math:`d_k` is always
      a descent direction; :math:`\tau_k = 0` whenever :math:`H_k` is positive definite. ``modify=False``
      uses :math:`H_k` as it is ("pure" Newton): near a saddle or a maximum :math:`d_k` may
      point uphill (recorded in ``history["descent"]``).
    * ``damped=True``: backtracking :math:`\alpha = 1, \tfrac12, \tfrac14, \dots` until
      :math:`f(x_k + \alpha d_k) \le f(x_k) + c_1 \alpha\, g_k^\top d_k` (Armijo); ``False``:
      always the full step :math:`\alpha = 1` (quadratic convergence near a minimum, no
      safety far from it).

    On a quadratic with positive definite :math:`H` one full step lands on the minimum.
    """
    gtol, ftol, maxiter, maxfun = _check_common(fun, gtol, ftol, maxiter, maxfun)
    chk.check_callable(hess, "hess", "a callable hess(x) -> (n, n) Hessian")
    c1 = chk.check_number(c1, "c1", low=0.0, high=1.0, low_open=True, high_open=True)
    backtrack = chk.check_number(backtrack, "backtrack", low=0.0, high=1.0, low_open=True,
                                 high_open=True)
    max_backtracks = chk.check_int(max_backtracks, "max_backtracks", low=1)
    run = _Run("newton", fun, x0, gtol, ftol, maxiter, maxfun, record_x, ("shift", "descent"))
    xp, n = run.xp, run.x.shape[0]
    done = run.start(shift=0.0, descent=True)
    if done is not None:
        return done
    eye = xp.eye(n, dtype=run.x.dtype)
    while True:
        H = hess(run.x)
        if not hasattr(H, "shape") or tuple(H.shape) != (n, n):
            raise ValueError(f"hess must return an (n, n) = ({n}, {n}) matrix, received shape "
                             f"{tuple(getattr(H, 'shape', ()))}")
        H = xp.astype(xp.asarray(H), run.x.dtype)
        if not bool(xp.all(xp.isfinite(H))):
            return run.result(False, "hess returned a non-finite Hessian")
        tau = 0.0
        if modify:
            tau = _cholesky_shift(xp, H, eye)
            if tau is None:
                return run.result(False, "no shift tau made H + tau I positive definite")
        try:
            d = -xp.linalg.solve(H + tau * eye, run.g)
        except ValueError:  # numpy's LinAlgError: a singular matrix
            return run.result(False, "the Hessian is singular: the Newton system has no "
                                     "unique solution")
        if not bool(xp.all(xp.isfinite(d))):
            return run.result(False, "the Newton direction is not finite (singular Hessian)")
        slope = _dot(xp, run.g, d)
        if damped:
            if not slope < 0.0:
                return run.result(False, f"line search failed: d is not a descent direction "
                                         f"(g^T d = {slope:.3g})")
            alpha = 1.0
            for _ in range(max_backtracks):
                x_new = run.x + alpha * d
                f_new, g_new = run.fun(x_new)
                if math.isfinite(f_new) and f_new <= run.f + c1 * alpha * slope:
                    break
                alpha *= backtrack
            else:
                return run.result(False, f"line search failed: no Armijo step after "
                                         f"{max_backtracks} halvings")
        else:
            alpha = 1.0
            x_new = run.x + d
            f_new, g_new = run.fun(x_new)
        done = run.accept(x_new, f_new, g_new, alpha, shift=tau, descent=slope < 0.0)
        if done is not None:
            return done


def _cholesky_shift(xp: ModuleType, H: Any, eye: Any, max_tries: int = 60) -> float | None:
    r"""The first shift :math:`\tau` of the sequence below for which :math:`H + \tau I` has a
    Cholesky factorisation (Nocedal & Wright, Algorithm 3.3), or None after ``max_tries``:

    .. math:: \beta = 10^{-3}\max(1, \max_i |H_{ii}|),\quad
              \tau_0 = \begin{cases} 0 & \min_i H_{ii} > 0 \\
                                     \beta - \min_i H_{ii} & \text{otherwise,}\end{cases}
              \quad \tau_{k+1} = \max(2\tau_k, \beta).

    (A non-positive diagonal entry rules out positive definiteness, so the search then starts
    at a shift that makes every diagonal entry at least β.) This is not the smallest shift
    that works: doubling overshoots it by up to a factor 2, and the first non-zero try (β, or
    β - min H_ii) may already be larger."""
    diag = xp.linalg.diagonal(H)
    beta = 1e-3 * max(1.0, float(xp.max(xp.abs(diag))))
    min_diag = float(xp.min(diag))
    tau = 0.0 if min_diag > 0 else beta - min_diag
    for _ in range(max_tries):
        try:
            L = xp.linalg.cholesky(H + tau * eye)
            if bool(xp.all(xp.isfinite(L))):   # CuPy may return NaN instead of raising
                return tau
        except ValueError:  # numpy.linalg.LinAlgError subclasses ValueError
            pass
        tau = max(2.0 * tau, beta)
    return None


# ------------------------------------------------------------------------------ BFGS
def bfgs(fun: Fun, x0: Any, *, gtol: float = 1e-5, ftol: float = 0.0, maxiter: int = 1000,
         maxfun: int = 10000, c1: float = 1e-4, c2: float = 0.9, hess_inv0: Any = None,
         record_x: bool = False) -> OptimizeResult:
    r"""BFGS with a dense approximation :math:`B_k \approx H_k^{-1}` of the inverse Hessian
    (n × n memory).

    .. math:: d_k = -B_k g_k,\quad x_{k+1} = x_k + \alpha_k d_k \ (\text{strong Wolfe}),\quad
              B_{k+1} = (I - \rho_k s_k y_k^\top) B_k (I - \rho_k y_k s_k^\top)
              + \rho_k s_k s_k^\top,\ \rho_k = \frac{1}{y_k^\top s_k}

    The start :math:`B_0` matters: the update corrects :math:`B` only along the steps taken.

    * ``hess_inv0=None``: :math:`B_0 = I`, rescaled before the first update to
      :math:`\gamma_0 I`, :math:`\gamma_0 = \frac{y_0^\top s_0}{y_0^\top y_0}` (Nocedal & Wright
      eq. 6.20), an inverse curvature measured along the first step and then kept for every
      direction no step has explored.
    * ``hess_inv0``: an (n, n) symmetric positive definite :math:`B_0`, used as given, as SciPy's
      ``hess_inv0`` (SciPy's default is :math:`B_0 = I` unscaled: ``hess_inv0=eye(n)``).

    First trial step :func:`_first_step`, then :math:`\alpha = 1`. A pair with
    :math:`y_k^\top s_k \le \varepsilon\, y_k^\top y_k` is skipped (``n_skipped``). If the line
    search fails, :math:`B` is reset to :math:`B_0` and one more try is made (``n_restarts``)
    before giving up.
    """
    gtol, ftol, maxiter, maxfun = _check_common(fun, gtol, ftol, maxiter, maxfun)
    c1, c2 = _check_wolfe(c1, c2)
    run = _Run("bfgs", fun, x0, gtol, ftol, maxiter, maxfun, record_x)
    xp = run.xp
    B0 = _check_hess_inv0(xp, hess_inv0, run.x)
    rescale = hess_inv0 is None
    done = run.start()
    if done is not None:
        return done
    H, fresh = B0, True
    while True:
        d = -(H @ run.g)
        alpha1 = _first_step(xp, d) if fresh else 1.0
        ls = _wolfe_search(run.fun, run.x, d, run.f, run.g, alpha1, c1, c2)
        if ls.alpha is None:
            if fresh:
                return run.result(False, f"line search failed: {ls.message}")
            H, fresh = B0, True
            run.n_restarts += 1
            continue
        s, y = ls.x - run.x, ls.g - run.g
        ys, yy = _dot(xp, y, s), _dot(xp, y, y)
        if ys > run.eps * yy:
            if fresh and rescale:
                H = (ys / yy) * B0
            rho = 1.0 / ys
            Hy = H @ y
            yHy = _dot(xp, y, Hy)
            # expanded: H + (rho + rho² yᵀHy) s sᵀ - rho (Hy sᵀ + s (Hy)ᵀ) = H + s uᵀ - v sᵀ
            # with u = (rho + rho² yᵀHy) s - rho Hy and v = rho Hy (two outer products)
            u = (rho + rho * rho * yHy) * s - rho * Hy
            H = H + s[:, None] * u[None, :] - (rho * Hy)[:, None] * s[None, :]
            fresh = False
        else:
            run.n_skipped += 1
        done = run.accept(ls.x, ls.f, ls.g, ls.alpha)
        if done is not None:
            return done


def _check_hess_inv0(xp: ModuleType, hess_inv0: Any, x: Any) -> Any:
    """``hess_inv0`` as an (n, n) symmetric positive definite matrix of x's namespace and dtype
    (the identity when None), else an error naming it."""
    n = x.shape[0]
    if hess_inv0 is None:
        return xp.eye(n, dtype=x.dtype)
    B0 = xp.asarray(chk.as_float_array(xp, hess_inv0, "hess_inv0", dtype=x.dtype), copy=True)
    if tuple(B0.shape) != (n, n):
        raise ValueError(f"hess_inv0 must be an (n, n) = ({n}, {n}) matrix, received shape "
                         f"{tuple(B0.shape)}")
    chk.check_finite(xp, B0, "hess_inv0")
    if not bool(xp.all(B0 == B0.T)):
        raise ValueError("hess_inv0 must be symmetric, received a matrix with B0 != B0.T")
    try:
        L = xp.linalg.cholesky(B0)
    except ValueError:  # numpy.linalg.LinAlgError subclasses ValueError
        L = None
    if L is None or not bool(xp.all(xp.isfinite(L))):
        raise ValueError("hess_inv0 must be positive definite, received a matrix whose "
                         "Cholesky factorisation fails")
    return B0


# ------------------------------------------------------------------------------ L-BFGS
def two_loop(xp: ModuleType, g: Any, pairs: list[tuple[Any, Any, float]], gamma: float) -> Any:
    r""":math:`B_k g` from the stored pairs :math:`(s_i, y_i, \rho_i)` (oldest first) without
    forming :math:`B_k` (Nocedal & Wright, Algorithm 7.4):

    .. math:: q \leftarrow g;\ \text{newest to oldest: } a_i = \rho_i s_i^\top q,\
              q \leftarrow q - a_i y_i;\quad r \leftarrow \gamma q;\
              \text{oldest to newest: } b = \rho_i y_i^\top r,\ r \leftarrow r + s_i (a_i - b)
    """
    q = g
    a = []
    for s, y, rho in reversed(pairs):
        ai = rho * _dot(xp, s, q)
        q = q - ai * y
        a.append(ai)
    r = gamma * q
    for (s, y, rho), ai in zip(pairs, reversed(a), strict=True):
        b = rho * _dot(xp, y, r)
        r = r + (ai - b) * s
    return r


def lbfgs(fun: Fun, x0: Any, m: int = 10, *, gtol: float = 1e-5, ftol: float = 2.2e-9,
          maxiter: int = 15000, maxfun: int = 15000, c1: float = 1e-4, c2: float = 0.9,
          record_x: bool = False) -> OptimizeResult:
    r"""Limited-memory BFGS: the BFGS direction from the last ``m`` curvature pairs only.

    .. math:: d_k = -B_k g_k \text{ (two-loop recursion over } (s_i, y_i),\ i = k-m..k-1),
              \qquad B_k^0 = \gamma_k I,\ \gamma_k = \frac{s_{k-1}^\top y_{k-1}}
              {y_{k-1}^\top y_{k-1}}

    Memory and work per step are :math:`O(mn)` instead of BFGS's :math:`O(n^2)`. With
    :math:`m \ge` the number of iterations it is BFGS started from :math:`B_0 = \gamma I`.
    The step length comes from :func:`wolfe_line_search` (:math:`c_1 = 10^{-4}`,
    :math:`c_2 = 0.9`; trial :math:`\alpha = 1`, or :math:`\min(1, 1/\lVert g\rVert)` when the
    memory is empty). Pairs with :math:`y^\top s \le \varepsilon\, y^\top y` are rejected (``n_skipped``).
    On a line-search failure the memory is cleared and the search retried along :math:`-g`
    (``n_restarts``); a second failure in a row ends the run. Defaults follow SciPy's
    ``L-BFGS-B`` (``ftol`` = 2.2e-9, ``gtol`` = 1e-5 on :math:`\lVert g\rVert_\infty`).
    """
    m = chk.check_int(m, "m", low=1)
    gtol, ftol, maxiter, maxfun = _check_common(fun, gtol, ftol, maxiter, maxfun)
    c1, c2 = _check_wolfe(c1, c2)
    run = _Run("lbfgs", fun, x0, gtol, ftol, maxiter, maxfun, record_x)
    xp = run.xp
    done = run.start()
    if done is not None:
        return done
    pairs: list[tuple[Any, Any, float]] = []
    gamma = 1.0
    while True:
        if pairs:
            d = -two_loop(xp, run.g, pairs, gamma)
            alpha1 = 1.0
        else:
            d, alpha1 = -run.g, _first_step(xp, run.g)
        ls = _wolfe_search(run.fun, run.x, d, run.f, run.g, alpha1, c1, c2)
        if ls.alpha is None:
            if not pairs:
                return run.result(False, f"line search failed: {ls.message}")
            pairs = []
            run.n_restarts += 1
            continue
        s, y = ls.x - run.x, ls.g - run.g
        ys, yy = _dot(xp, y, s), _dot(xp, y, y)
        if ys > run.eps * yy:
            pairs.append((s, y, 1.0 / ys))
            if len(pairs) > m:
                pairs.pop(0)
            gamma = ys / yy
        else:
            run.n_skipped += 1
        done = run.accept(ls.x, ls.f, ls.g, ls.alpha)
        if done is not None:
            return done


# ------------------------------------------------------------------------------ models
def model_objective(model: Any, X: Any, y: Any, params_like: Mapping[str, Any], *,
                    weight_decay: float | None = None) -> tuple[Fun, Any]:
    r"""A model's training loss as a function of one flat vector: ``(fun, x0)``.

    .. math:: F(x) = \frac1N\sum_i \ell(f_\theta(x_i), y_i) + \frac\lambda2\sum_\ell
              \lVert W_\ell\rVert^2,\qquad \theta = \mathrm{unflatten}(x)

    ``fun(x)`` returns :math:`(F(x), \nabla F(x))` with the gradient flattened in the same
    order as ``edulib.hessian.flatten`` (parameters in dict order, each in C order); ``x0`` is
    ``flatten(params_like)`` (a copy: the optimizers never touch ``params_like``). The L2
    penalty is the model's own ``weight_decay`` λ, on weights only, not biases;
    ``weight_decay=`` sets a different λ for this objective (on a copy of the model). Turn the
    result back into parameters with ``hessian.unflatten(res.x, params_like)``.
    """
    from .hessian import _training_loss, flatten, trainable, unflatten

    if not all(hasattr(model, a) for a in ("loss_and_grad", "param_shapes")):
        raise TypeError(f"model must be an edulib model with loss_and_grad, received "
                        f"{type(model).__name__}")
    if not isinstance(params_like, Mapping):
        raise TypeError(f"params_like must be a dict of named arrays, received "
                        f"{type(params_like).__name__}")
    if weight_decay is not None:
        lam = chk.check_number(weight_decay, "weight_decay", low=0.0)
        model = copy.copy(model)
        model.weight_decay = lam
    params_like = trainable(model, params_like)   # batch norm's running statistics stay out
    _training_loss(model, params_like, X, y)       # validates params_like, X and y once, up front
    x0 = flatten(params_like)

    def fun(x: Any) -> tuple[Any, Any]:
        loss, grads = model.loss_and_grad(unflatten(x, params_like), X, y)
        return loss, flatten(grads)

    return fun, x0
