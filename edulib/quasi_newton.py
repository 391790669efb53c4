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
  the smallest shift :math:`\tau_k \ge 0` (from a short doubling sequence) that makes the
  Cholesky factorisation succeed, i.e. makes :math:`H_k + \tau_k I` positive definite
  (Nocedal & Wright, Algorithm 3.3). :math:`\alpha_k` by backtracking (Armijo).
* :func:`bfgs`: :math:`d_k = -B_k g_k` with :math:`B_k \approx H_k^{-1}` updated from the
  pair :math:`s_k = x_{k+1} - x_k`, :math:`y_k = g_{k+1} - g_k`, :math:`\rho_k = 1/y_k^\top s_k`:
  :math:`B_{k+1} = (I - \rho_k s_k y_k^\top) B_k (I - \rho_k y_k s_k^\top) + \rho_k s_k s_k^\top`.
* :func:`lbfgs`: the same :math:`B_k g_k` computed from the last ``m`` pairs only, by the
  two-loop recursion, starting from :math:`B^0_k = \gamma_k I`,
  :math:`\gamma_k = s_{k-1}^\top y_{k-1} / y_{k-1}^\top y_{k-1}`.

BFGS and L-BFGS need :math:`y_k^\top s_k > 0` (positive curvature along the step). The strong
Wolfe line search guarantees it in exact arithmetic; in floating point a pair can still fail
the test :math:`y_k^\top s_k > \varepsilon\, y_k^\top y_k` (:math:`\varepsilon` = the dtype's
machine epsilon, as L-BFGS-B does), and is then skipped and counted in ``n_skipped``.

Stopping (checked after every iteration, like SciPy): ``gtol`` on
:math:`\lVert g\rVert_\infty`; ``ftol`` on the relative decrease
:math:`0 \le (f_k - f_{k+1}) / \max(|f_k|, |f_{k+1}|, 1) \le` ``ftol`` (a step that
increases f, possible only for undamped Newton, is not convergence); ``maxiter`` iterations; ``maxfun``
function evaluations (checked after each iteration, so a line search may overshoot ``maxfun`` by
its own trials). A failed line search ends the run with ``success=False`` and a message
(L-BFGS and BFGS first forget their curvature memory and retry once along :math:`-g`).
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
    ``g``, with the number of evaluations it used and a message when it failed."""

    alpha: float | None
    x: Any
    f: float
    g: Any
    nfev: int
    message: str = ""
    nonfinite: bool = False


class _NonFinite(Exception):
    pass


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


def wolfe_line_search(fun: Fun, x: Any, d: Any, f0: float, g0: Any, alpha1: float = 1.0,
                      c1: float = 1e-4, c2: float = 0.9, maxiter: int = 10,
                      amax: float = 1e10) -> LineSearchResult:
    r"""A step length :math:`\alpha` along ``d`` meeting the strong Wolfe conditions

    .. math:: f(x + \alpha d) \le f(x) + c_1 \alpha\, g^\top d, \qquad
              |\nabla f(x + \alpha d)^\top d| \le c_2\, |g^\top d|

    (sufficient decrease, then "the slope has flattened enough"). Nocedal & Wright's
    Algorithms 3.5 and 3.6, as in ``scipy.optimize``'s ``scalar_search_wolfe2``: try
    ``alpha1``, double it while the function keeps decreasing and the slope stays negative,
    and once an interval holding acceptable steps is found, *zoom* into it with the minimiser
    of a cubic (else quadratic, else the midpoint) interpolating the known values. ``fun`` is
    called once per trial step (it returns value and gradient together). A non-finite value
    counts as "too far" and makes the search shrink. Returns ``alpha=None`` and a message when
    no acceptable step is found within ``maxiter`` trials per stage.
    """
    xp = array_namespace(x)
    derphi0 = _dot(xp, g0, d)
    if not derphi0 < 0.0:
        return LineSearchResult(None, x, f0, g0, 0, f"d is not a descent direction "
                                f"(g^T d = {derphi0:.3g} >= 0)")
    c1, c2 = _check_wolfe(c1, c2)
    nfev = 0
    seen_nonfinite = False

    def phi(alpha: float) -> tuple[float, float, Any, Any]:
        nonlocal nfev, seen_nonfinite
        nfev += 1
        xa = x + alpha * d
        fa, ga = fun(xa)
        if not (math.isfinite(fa) and bool(xp.all(xp.isfinite(ga)))):
            seen_nonfinite = True
            return math.inf, math.nan, xa, ga
        return fa, _dot(xp, ga, d), xa, ga

    def zoom(a_lo, a_hi, phi_lo, phi_hi, dphi_lo):
        delta1, delta2 = 0.2, 0.1          # how close to an end an interpolated step may be
        a_rec, phi_rec = 0.0, f0
        for i in range(maxiter):
            dalpha = a_hi - a_lo
            a, b = (a_hi, a_lo) if dalpha < 0 else (a_lo, a_hi)
            a_j = None
            if i > 0 and math.isfinite(phi_hi) and math.isfinite(phi_rec):
                a_j = _cubicmin(a_lo, phi_lo, dphi_lo, a_hi, phi_hi, a_rec, phi_rec)
            if a_j is None or not (a + delta1 * abs(dalpha) <= a_j <= b - delta1 * abs(dalpha)):
                a_j = _quadmin(a_lo, phi_lo, dphi_lo, a_hi, phi_hi) if math.isfinite(
                    phi_hi) else None
                if a_j is None or not (a + delta2 * abs(dalpha) <= a_j
                                       <= b - delta2 * abs(dalpha)):
                    a_j = a_lo + 0.5 * dalpha
            if a_j == a_lo or a_j == a_hi:
                return None, "the bracketing interval shrank below the resolution of alpha"
            phi_j, dphi_j, x_j, g_j = phi(a_j)
            if phi_j > f0 + c1 * a_j * derphi0 or phi_j >= phi_lo:
                a_rec, phi_rec = a_hi, phi_hi
                a_hi, phi_hi = a_j, phi_j
            else:
                if abs(dphi_j) <= -c2 * derphi0:
                    return (a_j, phi_j, x_j, g_j), ""
                if dphi_j * (a_hi - a_lo) >= 0:
                    a_rec, phi_rec = a_hi, phi_hi
                    a_hi, phi_hi = a_lo, phi_lo
                else:
                    a_rec, phi_rec = a_lo, phi_lo
                a_lo, phi_lo, dphi_lo = a_j, phi_j, dphi_j
        return None, f"zoom found no strong-Wolfe step in {maxiter} trials"

    a0, phi_a0, dphi_a0 = 0.0, f0, derphi0
    a1 = min(alpha1, amax)
    found, message = None, f"no strong-Wolfe step within {maxiter} expansions"
    for i in range(maxiter):
        phi_a1, dphi_a1, x1, g1 = phi(a1)
        if phi_a1 > f0 + c1 * a1 * derphi0 or (i > 0 and phi_a1 >= phi_a0):
            found, message = zoom(a0, a1, phi_a0, phi_a1, dphi_a0)
            break
        if abs(dphi_a1) <= -c2 * derphi0:
            found = (a1, phi_a1, x1, g1)
            break
        if dphi_a1 >= 0:
            found, message = zoom(a1, a0, phi_a1, phi_a0, dphi_a1)
            break
        if a1 >= amax:
            message = f"no strong-Wolfe step with alpha <= amax = {amax:g}"
            break
        a0, phi_a0, dphi_a0 = a1, phi_a1, dphi_a1
        a1 = min(2.0 * a1, amax)
    if found is None:
        if seen_nonfinite:
            message += " (fun returned non-finite values along the search direction)"
        return LineSearchResult(None, x, f0, g0, nfev, message, seen_nonfinite)
    alpha, fa, xa, ga = found
    return LineSearchResult(alpha, xa, fa, ga, nfev)


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


def _first_step(xp: ModuleType, g: Any) -> float:
    """Initial trial step along -g when no curvature is known: a move of length 1 at most."""
    return min(1.0, 1.0 / max(float(xp.linalg.vector_norm(g)), 1e-300))


# ------------------------------------------------------------------------------ Newton
def newton(fun: Fun, x0: Any, hess: Callable[[Any], Any], *, gtol: float = 1e-5,
           ftol: float = 0.0, maxiter: int = 100, maxfun: int = 1000, damped: bool = True,
           modify: bool = True, c1: float = 1e-4, backtrack: float = 0.5,
           max_backtracks: int = 50, record_x: bool = False) -> OptimizeResult:
    r"""Newton's method: minimise the local quadratic model at every step.

    .. math:: d_k = -(H_k + \tau_k I)^{-1} g_k,\qquad x_{k+1} = x_k + \alpha_k d_k

    ``hess(x)`` returns the dense Hessian :math:`H_k` (n × n, x's namespace).

    * ``modify=True``: when :math:`H_k` is not positive definite, :math:`\tau_k` grows
      (:math:`\beta = 10^{-3}\max(1, \max_i |H_{ii}|)`, then doubling) until the Cholesky
      factorisation of :math:`H_k + \tau_k I` succeeds, so :math:`d_k` is always a descent
      direction; :math:`\tau_k = 0` whenever :math:`H_k` is positive definite. ``modify=False``
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
    """Smallest tau in {0, beta, 2 beta, 4 beta, ...} with H + tau I Cholesky-factorable."""
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
         maxfun: int = 10000, c1: float = 1e-4, c2: float = 0.9,
         record_x: bool = False) -> OptimizeResult:
    r"""BFGS with a dense approximation :math:`B_k \approx H_k^{-1}` of the inverse Hessian
    (n × n memory).

    .. math:: d_k = -B_k g_k,\quad x_{k+1} = x_k + \alpha_k d_k \ (\text{strong Wolfe}),\quad
              B_{k+1} = (I - \rho_k s_k y_k^\top) B_k (I - \rho_k y_k s_k^\top)
              + \rho_k s_k s_k^\top,\ \rho_k = \frac{1}{y_k^\top s_k}

    :math:`B_0 = I`; before the first update it is rescaled to
    :math:`\frac{y_0^\top s_0}{y_0^\top y_0} I` (Nocedal & Wright eq. 6.20), so the first
    steps have the right size. A pair with :math:`y_k^\top s_k \le \varepsilon\, y_k^\top y_k`
    is skipped (``n_skipped``). If the line search fails, :math:`B` is reset to :math:`I` and
    one more try along :math:`-g` is made (``n_restarts``) before giving up.
    """
    gtol, ftol, maxiter, maxfun = _check_common(fun, gtol, ftol, maxiter, maxfun)
    c1, c2 = _check_wolfe(c1, c2)
    run = _Run("bfgs", fun, x0, gtol, ftol, maxiter, maxfun, record_x)
    xp, n = run.xp, run.x.shape[0]
    done = run.start()
    if done is not None:
        return done
    eye = xp.eye(n, dtype=run.x.dtype)
    H, fresh = eye, True
    while True:
        d = -(H @ run.g)
        alpha1 = _first_step(xp, run.g) if fresh else 1.0
        ls = wolfe_line_search(run.fun, run.x, d, run.f, run.g, alpha1, c1, c2)
        if ls.alpha is None:
            if fresh:
                return run.result(False, f"line search failed: {ls.message}")
            H, fresh = eye, True
            run.n_restarts += 1
            continue
        s, y = ls.x - run.x, ls.g - run.g
        ys, yy = _dot(xp, y, s), _dot(xp, y, y)
        if ys > run.eps * yy:
            if fresh:
                H = (ys / yy) * eye
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
    :math:`c_2 = 0.9`; trial :math:`\alpha = 1`, or :math:`1/\lVert g\rVert` when the memory is
    empty). Pairs with :math:`y^\top s \le \varepsilon\, y^\top y` are rejected (``n_skipped``).
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
        ls = wolfe_line_search(run.fun, run.x, d, run.f, run.g, alpha1, c1, c2)
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
    from .hessian import flatten, unflatten

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
    model.loss(params_like, X, y)           # validates params_like, X and y once, up front
    x0 = flatten(params_like)

    def fun(x: Any) -> tuple[Any, Any]:
        loss, grads = model.loss_and_grad(unflatten(x, params_like), X, y)
        return loss, flatten(grads)

    return fun, x0
