r"""Fitting a linear model :math:`\hat y = X w + b` under any edulib loss.

Two deterministic, full-batch schemes (chosen with ``method``):

``"irls"`` -- iteratively reweighted least squares, for the residual losses (MSE, MAE, Huber).
    With :math:`r_i = \hat y_i - y_i` and :math:`\psi(r) = \ell'(r)` (read off ``loss.grad``),
    each step solves the weighted least-squares problem

    .. math:: \min_{w,b} \sum_i \omega_i (x_i^\top w + b - y_i)^2,\qquad
              \omega_i = \frac{\psi(r_i)}{r_i},

    i.e. :math:`\omega = 2` (MSE: one step gives the closed form), :math:`\min(1, \delta/|r_i|)`
    (Huber) and :math:`1/|r_i|` (MAE; :math:`|r_i|` is floored at ``eps`` times the scale of
    :math:`y`). Because :math:`\psi(r)/r` is non-increasing in :math:`|r|` for these losses, each
    step is a majorize-minimize step: the loss never goes up.

    IRLS stops when no parameter moves more than ``tol``. For MAE that is not yet a proof: its
    minimiser interpolates :math:`k = d + 1` points (a vertex of a linear program), which IRLS
    only approaches. So the fit ends with an exact vertex step: the line through the ``k``
    points with the smallest residuals, kept when its optimality certificate holds (with
    :math:`s_i = \operatorname{sign}(r_i)` off those points, the multipliers
    :math:`u = -A_B^{-\top} \sum_{i \notin B} s_i a_i` of the ``k`` points satisfy
    :math:`|u| \le 1`, i.e. 0 is a subgradient); ``converged`` for MAE means that certificate.

``"gd"`` -- full-batch (sub)gradient descent with the chain rule, for any loss:

    .. math:: g = \frac{\partial L}{\partial \hat y}\ (\texttt{loss.grad}),\quad
              \nabla_w L = X^\top g,\quad \nabla_b L = \textstyle\sum_i g_i,\quad
              \theta_{t+1} = \theta_t - \eta_t \nabla_\theta L,\quad
              \eta_t = \frac{\eta}{\sqrt{1 + t/\tau}}

    For the smooth losses (MSE, Huber, binary and softmax cross-entropy) the gradient vanishes
    at the minimum, so the step stays constant (:math:`\tau = \infty` by default), the run
    stops once :math:`\max_j |\partial L/\partial\theta_j| \le` ``gtol`` and ``converged``
    says it did. For the others (MAE, hinge, focal) the decaying step (:math:`\tau = 100` by
    default) makes it converge where a constant step would zig-zag around a kink forever; the
    best iterate seen is returned, and ``converged`` says whether the last 10% of the steps
    improved it by at most 1e-6 (relative): the gradient of a kinked loss need not vanish.
    The default :math:`\eta = 1/(\kappa\,\overline{\lVert (x_i, 1)\rVert^2})`, with
    :math:`\kappa` a bound on the loss's curvature (2 for MSE, 1 for Huber, 1/4 for BCE, 1/2 for
    softmax cross-entropy, 1 otherwise), is at most :math:`1/\lambda_{\max}` of the Hessian of
    the mean loss: a safe step.

``method="auto"`` (the default) uses IRLS for MSE, MAE and Huber and gradient descent otherwise.
Everything runs on the array namespace of ``X`` (NumPy, CuPy, array_api_strict).

Failure modes are reported, not hidden: IRLS needs a unique solution, so a constant ``x``, a
feature that repeats another, or fewer points than parameters raise a ValueError (not NumPy's
"Singular matrix"); data too large for the normal equations to fit in the floating range raise
a ValueError asking to rescale; a GD step ``lr`` that makes the loss blow up raises a ValueError
naming ``lr`` and the safe default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import to_numpy
from .losses import Loss

__all__ = ["LinearFit", "RESIDUAL_LOSSES", "fit_line", "fit_linear", "predict"]

#: losses of the residual :math:`\hat y - y` that IRLS can fit
RESIDUAL_LOSSES = ("mse", "mae", "huber")
_CLASS_INDEX_LOSSES = ("softmax_cross_entropy", "multiclass_hinge")
#: upper bounds on the second derivative of one loss term in its prediction (1 when unknown or
#: non-smooth): the default GD step divides by it
_CURVATURE = {"mse": 2.0, "huber": 1.0, "bce_with_logits": 0.25, "softmax_cross_entropy": 0.5}


@dataclass
class LinearFit:
    r"""The result of :func:`fit_linear`: :math:`\hat y = X w + b`.

    ``w`` has shape (d,) (or (d, C) for class-index losses), ``b`` shape () (or (C,));
    ``history`` holds the loss after each iteration, ``loss`` the final (best) loss.
    """

    w: Any
    b: Any
    loss: float
    n_iter: int
    converged: bool
    method: str
    history: list[float] = field(default_factory=list, repr=False)

    @property
    def slope(self) -> float:
        """For a line (d = 1): the slope ``w[0]``."""
        return float(to_numpy(self.w).reshape(-1)[0])

    @property
    def intercept(self) -> float:
        """For a line: the intercept ``b``."""
        return float(to_numpy(self.b).reshape(-1)[0])


def predict(X: Any, w: Any, b: Any) -> Any:
    r""":math:`\hat y = X w + b` (X of shape (N, d), or (N,) for a line)."""
    xp = chk.namespace(X=X, w=w, b=b)
    X = chk.as_float_array(xp, X, "X")
    w = chk.as_float_array(xp, w, "w")
    b = chk.as_float_array(xp, b, "b")
    if X.ndim == 1:
        X = X[:, None]
    chk.check_ndim(X, 2, "X", "features of shape (N, d)")
    chk.check_finite(xp, X, "X")
    if w.ndim not in (1, 2) or w.shape[0] != X.shape[1]:
        raise ValueError(f"w must have shape (d,) or (d, C) with d = X.shape[1] = {X.shape[1]}, "
                         f"received {tuple(w.shape)}")
    out_shape = tuple(w.shape[1:])
    if b.ndim > 1 or (b.ndim == 1 and tuple(b.shape) not in (out_shape, (1,))):
        raise ValueError(f"b must be a number or have shape {out_shape or (1,)}, "
                         f"received {tuple(b.shape)}")
    chk.check_finite(xp, w, "w")
    chk.check_finite(xp, b, "b")
    with np.errstate(over="ignore"):  # finite but huge inputs give inf, not a NumPy warning
        return X @ w + b


def _design(xp: Any, X: Any) -> Any:
    """[X, 1]: the features with a column of ones for the intercept."""
    return xp.concat([X, xp.ones((X.shape[0], 1), dtype=X.dtype)], axis=1)


def fit_linear(
    X: Any,
    y: Any,
    loss: Loss,
    *extra: Any,
    method: str = "auto",
    n_steps: int | None = None,
    lr: float | None = None,
    tau: float | None = None,
    tol: float = 1e-10,
    gtol: float = 1e-9,
    eps: float = 1e-7,
    init: tuple[Any, Any] | None = None,
    n_classes: int | None = None,
    **loss_params: Any,
) -> LinearFit:
    r"""Minimise :math:`L(Xw + b,\ y)` over :math:`w, b` for the edulib ``loss``.

    Args:
        X: features (N, d), or (N,) for a line.
        y: targets (N,): reals for regression, labels for classification.
        loss: an edulib loss (``edulib.losses.mse`` ...); ``loss_params`` are passed to it
            (e.g. ``delta=2.0`` for Huber).
        method: ``"irls"``, ``"gd"`` or ``"auto"`` (IRLS for MSE/MAE/Huber, else GD); see the
            module docstring for both schemes.
        n_steps: maximum iterations (default 100 for IRLS, 3000 for GD).
        lr: GD base step :math:`\eta` (default: see the module docstring).
        tau: GD decay time :math:`\tau` in :math:`\eta_t = \eta/\sqrt{1+t/\tau}` (default:
            no decay for the smooth losses, 100 for the others).
        tol: IRLS stops when no parameter moves more than ``tol * (1 + max|theta|)``.
        gtol: GD on a smooth loss stops, converged, when every gradient entry is at most
            ``gtol`` in absolute value.
        eps: IRLS floor on :math:`|r_i|` relative to the scale of ``y`` (MAE weights ``1/|r|``).
        init: starting ``(w, b)`` (warm start); zeros by default.
        n_classes: number of classes C for softmax cross-entropy / multiclass hinge
            (default ``max(y) + 1``).

    Everything after ``loss`` is passed by name.
    """
    if extra:
        raise TypeError(f"fit_linear takes X, y and loss, then options by name only (e.g. "
                        f"method='gd', lr=0.1); received {len(extra)} extra positional "
                        f"argument(s) {extra!r}")
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be an edulib loss (e.g. edulib.losses.mse), received "
                        f"{type(loss).__name__}")
    if method not in ("auto", "irls", "gd"):
        raise ValueError(f"method must be 'auto', 'irls' or 'gd', received {method!r}")
    if method == "auto":
        method = "irls" if loss.name in RESIDUAL_LOSSES else "gd"
    if method == "irls" and loss.name not in RESIDUAL_LOSSES:
        raise ValueError(
            f"method='irls' fits the residual losses {RESIDUAL_LOSSES}, received loss "
            f"{loss.name!r}; use method='gd'"
        )
    xp = chk.namespace(X=X, y=y)
    X = chk.as_float_array(xp, X, "X")
    if X.ndim == 1:
        X = X[:, None]
    chk.check_ndim(X, 2, "X", "features of shape (N, d)")
    chk.check_nonempty(X, "X")
    chk.check_finite(xp, X, "X")
    y = xp.asarray(y)
    if tuple(y.shape) != (X.shape[0],):
        raise ValueError(f"y must have shape (N,) = ({X.shape[0]},), received {tuple(y.shape)}")
    if loss.name in _CLASS_INDEX_LOSSES:
        if not xp.isdtype(y.dtype, "integral"):
            raise TypeError(f"y must hold integer class labels for loss {loss.name!r}, "
                            f"received dtype {y.dtype}")
        if bool(xp.any(y < 0)):
            raise ValueError(f"y must hold class labels 0, 1, ..., C-1, received values in "
                             f"[{int(xp.min(y))}, {int(xp.max(y))}]")
    else:
        y = chk.as_float_array(xp, y, "y")
        chk.check_finite(xp, y, "y")
    if tau is not None:
        chk.check_number(tau, "tau", low=0.0, low_open=True)
    chk.check_number(tol, "tol", low=0.0)
    chk.check_number(gtol, "gtol", low=0.0)
    chk.check_number(eps, "eps", low=0.0, low_open=True)
    if n_steps is not None:
        n_steps = chk.check_int(n_steps, "n_steps", low=1)
    _check_scale(xp, X, None if loss.name in _CLASS_INDEX_LOSSES else y)

    A = _design(xp, X)
    d = X.shape[1]
    if loss.name in _CLASS_INDEX_LOSSES:
        n_seen = int(xp.max(y)) + 1
        C = n_seen if n_classes is None else chk.check_int(n_classes, "n_classes", low=2)
        if C < n_seen:
            raise ValueError(f"n_classes must be at least max(y) + 1 = {n_seen}, received {C}")
        theta = xp.zeros((d + 1, C), dtype=X.dtype)
    else:
        if n_classes is not None:
            raise ValueError(f"n_classes is only for class-index losses {_CLASS_INDEX_LOSSES}, "
                             f"received n_classes={n_classes!r} with loss {loss.name!r}")
        theta = xp.zeros((d + 1,), dtype=X.dtype)
    if init is not None:
        if not (isinstance(init, (tuple, list)) and len(init) == 2):
            raise TypeError(f"init must be a pair (w, b), received {type(init).__name__}")
        w0 = xp.asarray(init[0], dtype=X.dtype)
        b0 = xp.asarray(init[1], dtype=X.dtype)
        for name, v, shape in (("w", w0, theta[:d, ...].shape), ("b", b0, theta[d, ...].shape)):
            if math.prod(v.shape) != math.prod(shape):
                raise ValueError(f"init {name} must have shape {tuple(shape)}, "
                                 f"received {tuple(v.shape)}")
        chk.check_finite(xp, w0, "init w")
        chk.check_finite(xp, b0, "init b")
        w0 = xp.reshape(w0, theta[:d, ...].shape)
        b0 = xp.reshape(b0, theta[d, ...].shape)
        theta = xp.concat([w0, xp.expand_dims(b0, axis=0)], axis=0)

    if method == "irls":
        _check_unique_solution(xp, X, A)
        theta, hist, n_iter, conv = _irls(xp, A, y, loss, theta, n_steps or 100, tol, eps,
                                          loss_params)
    else:
        safe_lr = 1.0 / (_CURVATURE.get(loss.name, 1.0) * float(xp.mean(xp.sum(A * A, axis=1))))
        lr = safe_lr if lr is None else chk.check_number(lr, "lr", low=0.0, low_open=True)
        smooth = loss.name in _CURVATURE
        tau = (math.inf if smooth else 100.0) if tau is None else float(tau)
        theta, hist, n_iter, conv = _gd(xp, A, y, loss, theta, n_steps or 3000, lr, tau,
                                        gtol if smooth else None, loss_params, safe_lr)
    return LinearFit(w=theta[:d, ...], b=theta[d, ...], loss=hist[-1], n_iter=n_iter,
                     converged=conv, method=method, history=hist)


def _check_scale(xp: Any, X: Any, y: Any) -> None:
    """Refuse data whose normal equations (sums of N products) would overflow the dtype."""
    n, k = X.shape[0], X.shape[1] + 1
    limit = math.sqrt(float(xp.finfo(X.dtype).max) / (n * k)) / 4.0
    for name, a in (("X", X), ("y", y)):
        if a is None:
            continue
        big = float(xp.max(xp.abs(a)))
        if big > limit:
            raise ValueError(
                f"{name} is too large to fit in {X.dtype}: largest |{name}| = {big:.3g}, but sums "
                f"of N={n} squares overflow beyond about {limit:.3g}; rescale the data (e.g. "
                f"divide {name} by its standard deviation) and scale the fit back"
            )


def _check_unique_solution(xp: Any, X: Any, A: Any) -> None:
    """IRLS solves (A^T W A) theta = A^T W y: refuse data where that has no unique solution."""
    n, k = A.shape
    # rank of the column-normalised design, so that a feature measured in huge units (x ~ 1e100)
    # is not mistaken for a zero column next to the intercept's ones
    norms = xp.max(xp.abs(A), axis=0)
    rank = int(xp.linalg.matrix_rank(A / xp.where(norms > 0, norms, xp.ones_like(norms))))
    if rank == k:
        return
    why = []
    if n < k:
        why.append(f"only N={n} point(s) for {k} parameters (d={k - 1} weights + intercept)")
    span = xp.max(X, axis=0) - xp.min(X, axis=0)
    const = [j for j in range(X.shape[1]) if float(span[j]) == 0.0]
    if const:
        vals = ", ".join(f"column {j} = {float(X[0, j]):g}" for j in const[:3])
        why.append(f"constant feature(s) ({vals}), which the intercept already covers")
    if not why:
        why.append("a feature is a linear combination of the others (e.g. a repeated column)")
    raise ValueError(
        f"X does not determine a unique fit: the design [X, 1] has rank {rank} < {k} because of "
        f"{'; '.join(why)}; remove the redundant feature(s) or add points"
    )


def _irls(xp, A, y, loss, theta, n_steps, tol, eps, params):
    y = chk.as_float_array(xp, y, "y", dtype=A.dtype)
    n = A.shape[0]
    floor = eps * (1.0 + float(xp.max(xp.abs(y - xp.mean(y)))))
    hist: list[float] = []
    converged = False
    it = 0
    for it in range(1, n_steps + 1):  # noqa: B007 - it is the count returned
        r = A @ theta - y
        # psi(r)/r, with |r| floored so that MAE's 1/|r| stays finite
        r_safe = xp.where(xp.abs(r) < floor, floor * (2.0 * xp.astype(r >= 0, r.dtype) - 1.0), r)
        psi = n * loss.grad(y + r_safe, y, **params)
        omega = psi / ((y + r_safe) - y)
        Aw = A * omega[:, None]
        new = xp.linalg.solve(A.T @ Aw, A.T @ (omega * y))
        step = float(xp.max(xp.abs(new - theta)))
        theta = new
        hist.append(float(loss(A @ theta, y, **params)))
        if step <= tol * (1.0 + float(xp.max(xp.abs(theta)))):
            converged = True
            break
    if loss.name == "mae":
        theta, converged = _mae_vertex(xp, A, y, theta, hist)
    return theta, hist, it, converged


def _mae_vertex(xp, A, y, theta, hist):
    """Finish an MAE fit exactly: from the vertex through the ``k`` points nearest IRLS's
    ``theta``, simplex pivots (Barrodale and Roberts' descent for least absolute deviations)
    until the optimality certificate holds. A small combinatorial step, run in NumPy."""
    A_, y_ = to_numpy(A), to_numpy(y)
    n, k = A_.shape
    B = list(np.argsort(np.abs(A_ @ to_numpy(theta) - y_))[:k])
    for _ in range(10 * n):
        A_B = A_[B]
        if abs(np.linalg.det(A_B)) <= 1e-10 * np.prod(np.linalg.norm(A_B, axis=1)):
            return theta, False                             # the k points fix no unique line
        vertex = np.linalg.solve(A_B, y_[B])
        r = A_ @ vertex - y_
        r[B] = 0.0
        u = -np.linalg.solve(A_B.T, A_.T @ np.sign(r))      # the multipliers of the k points
        j = int(np.argmax(np.abs(u)))
        if abs(u[j]) <= 1.0 + 1e-9:                         # 0 is a subgradient: optimal
            hist.append(float(np.mean(np.abs(r))))
            return xp.asarray(vertex, dtype=A.dtype), True
        e = np.zeros(k)
        e[j] = np.sign(u[j])
        c = A_ @ np.linalg.solve(A_B, e)                    # residuals move as r + t c
        slope = c @ np.sign(r) + np.abs(c[r == 0]).sum()    # < 0: the loss falls along t > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where((c != 0) & (r != 0), -r / c, -1.0)
        for q in np.argsort(t):                             # the breakpoints t > 0 in order
            if t[q] <= 0:
                continue
            slope += 2 * abs(c[q])
            if slope >= 0:                                  # the minimum along the line
                B[j] = int(q)
                break
        else:
            return theta, False
    return theta, False


def _gd(xp, A, y, loss, theta, n_steps, lr, tau, gtol, params, safe_lr):
    """Full-batch GD; ``gtol`` (smooth losses) stops at a small gradient, ``None`` runs all
    ``n_steps`` and judges convergence by the best loss of the last 10% of them."""
    best, best_val = theta, math.inf
    hist: list[float] = []
    best_at_90 = math.inf

    def value_and_grad(t):
        with np.errstate(over="ignore", invalid="ignore"):
            pred = A @ theta
        val = float("nan")
        if bool(xp.all(xp.isfinite(pred))):
            v, g = loss.value_and_grad(pred, y, **params)
            val = float(v)
        first = hist[0] if hist else val
        if not math.isfinite(val) or val > 1e6 * max(first, 1.0):
            raise ValueError(
                f"gradient descent diverged at step {t}: the loss went from {first:.4g} to "
                f"{val:.4g}; lr={lr:g} is too large for this data (the default lr={safe_lr:.4g} "
                "is safe: leave lr=None)"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            return val, A.T @ g                           # chain rule: dL/dtheta = A^T dL/dy_hat

    for t in range(n_steps + 1):
        if t == (9 * n_steps) // 10:
            best_at_90 = best_val
        val, grad = value_and_grad(t)
        hist.append(val)
        if val < best_val:
            best, best_val = theta, val
        if gtol is not None and float(xp.max(xp.abs(grad))) <= gtol:
            hist.append(val)
            return theta, hist, t, True
        if t < n_steps:
            theta = theta - (lr / math.sqrt(1.0 + t / tau)) * grad
    hist.append(best_val)
    if gtol is not None:                                  # out of steps before the gradient vanished
        return best, hist, n_steps, False
    # converged: the last 10% of the steps improved the best loss by at most 1e-6 (relative)
    converged = best_at_90 - best_val <= 1e-6 * (1.0 + abs(best_val))
    return best, hist, n_steps, converged


def fit_line(x: Any, y: Any, loss: Loss, *extra: Any, **kwargs: Any) -> LinearFit:
    r"""Fit the line :math:`\hat y = w x + b` to 1-D data: :func:`fit_linear` with X = x[:, None].

    ``fit.slope`` and ``fit.intercept`` give the two numbers. ``x`` must take at least two
    different values (through a single x every slope fits equally well).
    """
    if extra:
        raise TypeError(f"fit_line takes x, y and loss, then options by name only (e.g. "
                        f"method='gd'); received {len(extra)} extra positional argument(s) "
                        f"{extra!r}")
    xp = chk.namespace(x=x, y=y)
    x = chk.as_float_array(xp, x, "x")
    chk.check_ndim(x, 1, "x", "one feature per point, shape (N,)")
    chk.check_nonempty(x, "x")
    chk.check_finite(xp, x, "x")
    if float(xp.max(x)) == float(xp.min(x)):
        raise ValueError(
            f"x must take at least two different values to fit a line, received {x.shape[0]} "
            f"point(s) all at x = {float(x[0]):g}: every slope fits them equally well"
        )
    return fit_linear(x[:, None], y, loss, **kwargs)
