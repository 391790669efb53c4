r"""A model's curvature: Hessian-vector products, the dense Hessian, critical points and the
sharpness along a training run.

A model's parameters live in a dict of arrays; the Hessian acts on the flat vector
:math:`\theta\in\mathbb R^P` made by :func:`flatten` (the dict's order, each array in C order)::

    theta = flatten(params)                   # (P,)
    params2 = unflatten(theta, like=params)   # the dict back: same keys, shapes, namespace, dtype

:func:`model_matvec` turns the Hessian into a function of flat vectors, the input of the
matrix-free eigen-solvers of :mod:`edulib.spectral` (power iteration, Lanczos, Hutchinson's
trace, stochastic Lanczos quadrature). Those are importable from here too
(``hessian.lanczos`` is ``spectral.lanczos``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import array_namespace, rng, to_numpy
from .spectral import (  # noqa: F401  (the solvers, re-exported for ``hessian.lanczos`` ...)
    LanczosResult,
    PowerResult,
    SpectralDensity,
    TraceEstimate,
    gaussian_density,
    hutchinson_trace,
    lanczos,
    power_iteration,
    slq_density,
)

__all__ = [
    "CriticalPoint",
    "ModelMatvec",
    "SharpnessTrace",
    "classify_critical_point",
    "dense",
    "fd_step",
    "flatten",
    "has_analytic_hvp",
    "hvp",
    "model_matvec",
    "track_sharpness",
    "trainable",
    "unflatten",
]

Params = dict[str, Any]


def _check_params(params: Any, name: str) -> None:
    if not isinstance(params, Mapping):
        raise TypeError(f"{name} must be a dict of arrays, received {type(params).__name__}")
    if not params:
        raise ValueError(f"{name} must hold at least one array, received an empty dict")
    for key, p in params.items():
        if not hasattr(p, "shape") or not hasattr(p, "dtype"):
            raise TypeError(f"{name}[{key!r}] must be an array, received {type(p).__name__}")


def flatten(params: Mapping[str, Any]) -> Any:
    r"""Concatenate the arrays of ``params`` into one 1-D vector :math:`\theta` of length
    :math:`P = \sum_k \mathrm{size}(\text{params}[k])`.

    Order: the dict's iteration order, each array read in C (row-major) order. The result has
    the arrays' namespace and their common (promoted) dtype. :func:`unflatten` inverts it.
    """
    _check_params(params, "params")
    xp = chk.namespace(**{f"params[{k!r}]": v for k, v in params.items()})
    parts = [xp.reshape(p, (-1,)) for p in params.values()]
    return parts[0] if len(parts) == 1 else xp.concat(parts)


def unflatten(vec: Any, like: Mapping[str, Any]) -> Params:
    """Split the 1-D ``vec`` back into a dict shaped like ``like``: same keys (same order),
    shapes, namespace and dtype as ``like``'s arrays (each piece is cast to its array's dtype).

    ``vec`` must have exactly :math:`P` = the total size of ``like``; it is the inverse of
    :func:`flatten`: ``unflatten(flatten(p), p)`` equals ``p``.
    """
    _check_params(like, "like")
    xp = chk.namespace(**{f"like[{k!r}]": v for k, v in like.items()})
    if not hasattr(vec, "shape"):
        vec = chk.as_float_array(xp, vec, "vec")
    elif array_namespace(vec) is not xp:
        try:
            vec = xp.asarray(vec)
        except (TypeError, ValueError, BufferError) as exc:
            raise TypeError(
                f"vec must come from the array library of like ({xp.__name__}), received "
                f"{type(vec).__module__}.{type(vec).__name__}"
            ) from exc
    total = sum(math.prod(p.shape) for p in like.values())
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ValueError(
            f"vec must be 1-D of length P={total} (the total size of like), received shape "
            f"{tuple(vec.shape)}"
        )
    out: Params = {}
    start = 0
    for key, p in like.items():
        size = math.prod(p.shape)
        piece = xp.reshape(vec[start:start + size], tuple(p.shape))
        if piece.dtype != p.dtype:
            piece = xp.astype(piece, p.dtype)
        out[key] = piece
        start += size
    return out


# =============================================================================== HVP
def _norm(xp: ModuleType, d: Mapping[str, Any]) -> float:
    return math.sqrt(sum(float(xp.sum(a * a)) for a in d.values()))


def _check_model(model: Any) -> None:
    for attr in ("loss_and_grad", "param_shapes"):
        if not hasattr(model, attr):
            raise TypeError(
                f"model must be an edulib model (with loss_and_grad and param_shapes), "
                f"received {type(model).__name__}"
            )


def _check_direction(xp: ModuleType, v: Any, params: Mapping[str, Any]) -> Params:
    if not isinstance(v, Mapping):
        raise TypeError(
            f"v must be a dict of arrays shaped like params (flat vector? use unflatten(v, "
            f"params)), received {type(v).__name__}"
        )
    if list(v) != list(params) and set(v) != set(params):
        raise ValueError(f"v must have the keys of params {list(params)}, received {list(v)}")
    out: Params = {}
    for key, p in params.items():
        a = v[key]
        if not hasattr(a, "shape"):
            raise TypeError(f"v[{key!r}] must be an array of shape {tuple(p.shape)}, received "
                            f"{type(a).__name__}")
        a = chk.as_float_array(xp, a, f"v[{key!r}]", dtype=p.dtype)
        if tuple(a.shape) != tuple(p.shape):
            raise ValueError(f"v[{key!r}] must have the shape of params[{key!r}] "
                             f"{tuple(p.shape)}, received {tuple(a.shape)}")
        chk.check_finite(xp, a, f"v[{key!r}]")
        out[key] = a
    return out


def has_analytic_hvp(model: Any) -> bool:
    """True for the models with a closed-form HVP: ``LinearRegression``, ``SoftmaxRegression``."""
    from .models import LinearRegression, SoftmaxRegression

    return type(model) in (LinearRegression, SoftmaxRegression)


def fd_step(xp: ModuleType, dtype: Any, theta_norm: float, v_norm: float) -> float:
    r"""The central-difference step :math:`h = \varepsilon^{1/3}\max(1, \lVert\theta\rVert)
    / \lVert v\rVert` used by :func:`hvp` (``method="fd"``).

    The error of :math:`(\nabla L(\theta + h v) - \nabla L(\theta - h v)) / 2h` is a truncation
    term :math:`\propto h^2` plus a rounding term :math:`\propto \varepsilon / h`; they balance
    at :math:`h \propto \varepsilon^{1/3}` (machine epsilon :math:`\varepsilon` of the
    parameters' dtype: :math:`h\lVert v\rVert \approx 6\cdot10^{-6}` in float64,
    :math:`5\cdot10^{-3}` in float32, times :math:`\max(1, \lVert\theta\rVert)` so that the
    step is small relative to the parameters). Expect about 8-10 correct digits in float64 and
    2-3 in float32.
    """
    eps = float(xp.finfo(dtype).eps)
    return eps ** (1.0 / 3.0) * max(1.0, theta_norm) / v_norm


def trainable(model: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """The arrays of ``params`` that training moves: a model's buffers (batch normalisation's
    running statistics, ``model.buffer_shapes``) are left out, as the loss has no gradient, and
    so no curvature, in them. Curvature is that of the training-mode loss (batch statistics of
    the data given), the loss gradient descent follows."""
    buffers = getattr(model, "buffer_shapes", {}) or {}
    return {k: v for k, v in params.items() if k not in buffers}


def _training_loss(model: Any, params: Mapping[str, Any], X: Any, y: Any) -> Any:
    """``model.loss`` in training mode (asked for only where the model has a mode)."""
    if getattr(model, "buffer_shapes", None):
        return model.loss(params, X, y, training=True)
    return model.loss(params, X, y)


def hvp(model: Any, params: Mapping[str, Any], X: Any, y: Any, v: Mapping[str, Any],
        method: str = "auto", h: float | None = None) -> Params:
    r"""Hessian-vector product :math:`H v` of ``model.loss`` (weight decay included) at
    ``params``, without forming :math:`H`; ``v`` and the result are dicts shaped like
    ``params``.

    ``method``:

    * ``"analytic"`` (``LinearRegression``, ``SoftmaxRegression``): the R-operator in closed
      form. With :math:`dZ = X V_W + V_b` (the change of the outputs along ``v``):

      - linear regression (MSE): :math:`Hv_w = \tfrac2N X^\top dZ + \lambda V_w`,
        :math:`Hv_b = \tfrac2N\sum_i dZ_i`;
      - softmax regression, cross-entropy, :math:`P = \mathrm{softmax}(XW + b)`:
        :math:`R = \tfrac1N\big(P\odot dZ - P\odot \textstyle\sum_c (P\odot dZ)_{:c}\big)`,
        :math:`Hv_W = X^\top R + \lambda V_W`, :math:`Hv_b = \sum_i R_{i:}`;
      - softmax regression with ``loss="mse"``: the same with :math:`R = \tfrac{2}{NC} dZ`.
    * ``"fd"`` (any model): central differences of ``loss_and_grad``,
      :math:`Hv \approx (\nabla L(\theta + h v) - \nabla L(\theta - h v)) / 2h`, two gradient
      evaluations, step ``h`` from :func:`fd_step` unless given.
    * ``"auto"``: ``"analytic"`` where available, else ``"fd"``.
    """
    _check_model(model)
    _check_params(params, "params")
    if method not in ("auto", "analytic", "fd"):
        raise ValueError(f"method must be 'auto', 'analytic' or 'fd', received {method!r}")
    if method == "analytic" and not has_analytic_hvp(model):
        raise ValueError(
            f"method='analytic' needs LinearRegression or SoftmaxRegression, received "
            f"{type(model).__name__}; use method='fd' (or 'auto')"
        )
    xp, params_c, Xc = model._check_params_X(trainable(model, params), X)
    yc = model._check_y(xp, Xc, y, params_c)
    vd = _check_direction(xp, v, params_c)
    if h is not None:
        h = chk.check_number(h, "h", low=0.0, low_open=True)
    if method == "auto":
        method = "analytic" if has_analytic_hvp(model) else "fd"
    if method == "analytic":
        return _hvp_analytic(xp, model, params_c, Xc, yc, vd)
    return _hvp_fd(xp, model, params_c, Xc, yc, vd, h)


def _hvp_analytic(xp, model, params, X, y, v) -> Params:
    from .losses import softmax
    from .models import LinearRegression

    n = X.shape[0]
    lam = model.weight_decay
    if isinstance(model, LinearRegression):
        dz = X @ v["w"] + v["b"]
        out = {"w": (2.0 / n) * (dz @ X), "b": (2.0 / n) * xp.sum(dz, axis=0, keepdims=True)}
        wkey = "w"
    else:
        dz = X @ v["W"] + v["b"]
        if getattr(model, "loss_kind", "cross_entropy") == "mse":
            r = (2.0 / (n * model.n_classes)) * dz
        else:
            p = softmax(X @ params["W"] + params["b"], axis=1)
            pdz = p * dz
            r = (pdz - p * xp.sum(pdz, axis=1, keepdims=True)) / n
        out = {"W": X.T @ r, "b": xp.sum(r, axis=0)}
        wkey = "W"
    if lam:
        out[wkey] = out[wkey] + lam * v[wkey]
    return {k: out[k] for k in params}


def _hvp_fd(xp, model, params, X, y, v, h) -> Params:
    vn = _norm(xp, v)
    if vn == 0.0:
        return {k: xp.zeros_like(p) for k, p in params.items()}
    dtype = next(iter(params.values())).dtype
    if h is None:
        h = fd_step(xp, dtype, _norm(xp, params), vn)
    plus = {k: params[k] + h * v[k] for k in params}
    minus = {k: params[k] - h * v[k] for k in params}
    _, gp = model.loss_and_grad(plus, X, y)
    _, gm = model.loss_and_grad(minus, X, y)
    return {k: (gp[k] - gm[k]) / (2.0 * h) for k in params}


def dense(model: Any, params: Mapping[str, Any], X: Any, y: Any, method: str = "auto",
          max_params: int = 4096) -> Any:
    r"""The full Hessian :math:`H \in \mathbb R^{P\times P}` of ``model.loss`` at ``params``, in
    the :func:`flatten` order: column :math:`j` is :math:`H e_j` from :func:`hvp` (analytic
    where available, else central differences), then :math:`(H + H^\top)/2` removes the
    finite-difference asymmetry (zero for analytic HVPs up to rounding).

    Costs :math:`P` HVPs and :math:`P^2` numbers: meant for small models and for checking.
    ``P > max_params`` raises a ValueError (use :func:`hvp`, :func:`lanczos` instead).
    """
    _check_model(model)
    _check_params(params, "params")
    max_params = chk.check_int(max_params, "max_params", 1)
    xp, params_c, _ = model._check_params_X(trainable(model, params), X)
    P = sum(math.prod(p.shape) for p in params_c.values())
    if P > max_params:
        mb = P * P * 8 / 2**20
        raise ValueError(
            f"params has P={P} numbers: the dense Hessian would hold P^2={P * P} entries "
            f"(~{mb:.0f} MiB in float64) and cost {P} HVPs, more than max_params={max_params} "
            f"allows; use hvp / lanczos / power_iteration, or raise max_params"
        )
    if method not in ("auto", "analytic", "fd"):
        raise ValueError(f"method must be 'auto', 'analytic' or 'fd', received {method!r}")
    if method == "analytic" and not has_analytic_hvp(model):
        raise ValueError(f"method='analytic' needs LinearRegression or SoftmaxRegression, "
                         f"received {type(model).__name__}; use method='fd' (or 'auto')")
    analytic = method == "analytic" or (method == "auto" and has_analytic_hvp(model))
    _, _, Xc = model._check_params_X(params_c, X)
    yc = model._check_y(xp, Xc, y, params_c)
    dtype = next(iter(params_c.values())).dtype
    cols = []
    for j in range(P):  # checked once above; the columns use the unchecked kernels
        e = xp.zeros((P,), dtype=dtype)
        e[j] = 1.0
        v = unflatten(e, params_c)
        col = (_hvp_analytic(xp, model, params_c, Xc, yc, v) if analytic
               else _hvp_fd(xp, model, params_c, Xc, yc, v, None))
        cols.append(flatten(col))
    H = xp.stack(cols, axis=1)
    return 0.5 * (H + H.T)


class ModelMatvec:
    r"""``matvec(v) = flatten(hvp(model, params, X, y, unflatten(v, params)))``: a model's
    Hessian as a function of flat vectors (length ``n`` = P), for :func:`power_iteration`,
    :func:`lanczos`, :func:`hutchinson_trace`, :func:`slq_density`. The model, parameters and
    data are checked once, here; each call checks only its vector (length P, finite).

    Attributes ``n``, ``xp``, ``dtype`` (read by those functions) and ``calls`` (HVPs so far).
    """

    def __init__(self, model: Any, params: Mapping[str, Any], X: Any, y: Any,
                 method: str = "auto") -> None:
        _check_model(model)
        _check_params(params, "params")
        xp, params_c, Xc = model._check_params_X(trainable(model, params), X)
        yc = model._check_y(xp, Xc, y, params_c)
        if method not in ("auto", "analytic", "fd"):
            raise ValueError(f"method must be 'auto', 'analytic' or 'fd', received {method!r}")
        if method == "analytic" and not has_analytic_hvp(model):
            raise ValueError(f"method='analytic' needs LinearRegression or SoftmaxRegression, "
                             f"received {type(model).__name__}; use method='fd' (or 'auto')")
        self.model, self.params, self.X, self.y, self.method = model, dict(params_c), Xc, yc, method
        self.analytic = method == "analytic" or (method == "auto" and has_analytic_hvp(model))
        self.xp = xp
        self.dtype = next(iter(params_c.values())).dtype
        self.n = sum(math.prod(p.shape) for p in params_c.values())
        self.calls = 0

    def __call__(self, v: Any) -> Any:
        self.calls += 1
        vd = unflatten(v, self.params)
        for key, a in vd.items():
            chk.check_finite(self.xp, a, f"v (the part for params[{key!r}])")
        kernel = _hvp_analytic if self.analytic else _hvp_fd
        args = () if self.analytic else (None,)
        return flatten(kernel(self.xp, self.model, self.params, self.X, self.y, vd, *args))

    def __repr__(self) -> str:
        return f"<ModelMatvec of {type(self.model).__name__}, n={self.n}, calls={self.calls}>"


def model_matvec(model: Any, params: Mapping[str, Any], X: Any, y: Any,
                 method: str = "auto") -> ModelMatvec:
    """The model's Hessian as a matvec on flat vectors (see :class:`ModelMatvec`)."""
    return ModelMatvec(model, params, X, y, method=method)


# =============================================================================== critical points
@dataclass
class CriticalPoint:
    """Result of :func:`classify_critical_point`.

    ``kind``: "minimum", "maximum", "saddle", "degenerate" or "not critical"; ``reason`` says why
    in words; ``grad_norm``; ``eigenvalues`` (NumPy, ascending); ``direction``: the unit
    eigenvector of the most negative curvature (smallest eigenvalue), in the input's
    namespace, or None when only eigenvalues were given.
    """

    kind: str
    reason: str
    grad_norm: float
    eigenvalues: np.ndarray
    direction: Any = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


def classify_critical_point(grad: Any, hessian_or_eigs: Any, tol: float = 1e-6,
                            eig_tol: float = 1e-8) -> CriticalPoint:
    r"""Second-derivative test at a point from its gradient :math:`g` and Hessian :math:`H`
    (a symmetric (n, n) matrix) or the Hessian's eigenvalues (1-D).

    * :math:`\lVert g\rVert > \text{tol}`: "not critical" (the ground still slopes);
    * all :math:`\lambda_i > \epsilon`: "minimum"; all :math:`\lambda_i < -\epsilon`: "maximum";
    * some :math:`\lambda_i > \epsilon` and some :math:`< -\epsilon`: "saddle" (the
      eigenvector of the smallest :math:`\lambda` is the way down);
    * otherwise some :math:`|\lambda_i| \le \epsilon` decides nothing: "degenerate"
      (higher derivatives decide, e.g. the monkey saddle),

    with :math:`\epsilon = \text{eig\_tol}\cdot\max(1, \max_i|\lambda_i|)`. Works with the
    surfaces of :mod:`edulib.functions`: ``classify_critical_point(s.grad(x), s.hessian(x))``.
    """
    tol = chk.check_number(tol, "tol", low=0.0)
    eig_tol = chk.check_number(eig_tol, "eig_tol", low=0.0)
    xp = chk.namespace(grad=grad, hessian_or_eigs=hessian_or_eigs)
    g = chk.as_float_array(xp, grad, "grad")
    chk.check_nonempty(g, "grad")
    chk.check_finite(xp, g, "grad")
    g = xp.reshape(g, (-1,))
    n = g.shape[0]
    h = chk.as_float_array(xp, hessian_or_eigs, "hessian_or_eigs")
    chk.check_finite(xp, h, "hessian_or_eigs")
    direction = None
    if h.ndim == 2:
        if tuple(h.shape) != (n, n):
            raise ValueError(f"hessian_or_eigs must be an (n, n) = ({n}, {n}) matrix for a "
                             f"gradient of {n} numbers, received shape {tuple(h.shape)}")
        asym = float(xp.max(xp.abs(h - h.T)))
        big = max(float(xp.max(xp.abs(h))), 1e-300)
        if asym > 1e-6 * big:
            raise ValueError(f"hessian_or_eigs must be symmetric, received a matrix with "
                             f"max |H - H^T| = {asym:.3g}")
        lam_x, vec_x = xp.linalg.eigh(0.5 * (h + h.T))
        lam = to_numpy(lam_x).astype(np.float64)
        direction = vec_x[:, 0]
    elif h.ndim == 1:
        if h.shape[0] != n:
            raise ValueError(f"hessian_or_eigs must hold n={n} eigenvalues (one per "
                             f"coordinate of grad), received {h.shape[0]}")
        lam = np.sort(to_numpy(h).astype(np.float64))
    else:
        raise ValueError(f"hessian_or_eigs must be a 2-D Hessian or 1-D eigenvalues, received "
                         f"shape {tuple(h.shape)}")
    gn = math.sqrt(float(xp.sum(g * g)))
    eps = eig_tol * max(1.0, float(np.max(np.abs(lam))))
    shown = ", ".join(f"{v:.4g}" for v in lam[:6]) + (", ..." if lam.size > 6 else "")
    pos, neg = int(np.sum(lam > eps)), int(np.sum(lam < -eps))
    flat = lam.size - pos - neg
    if gn > tol:
        kind = "not critical"
        reason = f"gradient norm {gn:.3g} > tol {tol:.3g}: the ground still slopes"
    elif pos == lam.size:
        kind = "minimum"
        reason = (f"gradient norm {gn:.3g} <= {tol:.3g} and all eigenvalues > 0 "
                  f"({shown}): curves up in every direction")
    elif neg == lam.size:
        kind = "maximum"
        reason = (f"gradient norm {gn:.3g} <= {tol:.3g} and all eigenvalues < 0 "
                  f"({shown}): curves down in every direction")
    elif pos and neg:
        kind = "saddle"
        reason = (f"gradient norm {gn:.3g} <= {tol:.3g}, eigenvalues of both signs ({shown}): "
                  f"up along {pos}, down along {neg} direction(s)")
    else:
        kind = "degenerate"
        reason = (f"gradient norm {gn:.3g} <= {tol:.3g} but {flat} eigenvalue(s) within "
                  f"{eps:.2g} of 0 ({shown}): the second-order test cannot decide")
    return CriticalPoint(kind, reason, gn, lam, direction)


# =============================================================================== sharpness
@dataclass
class SharpnessTrace:
    r"""Result of :func:`track_sharpness`.

    ``steps`` (the update counts at which the sharpness was measured), ``sharpness`` (the top
    Ritz value :math:`\theta`, a lower bound of :math:`\lambda_{\max}` of the full-batch
    Hessian there), ``residual`` (:math:`\lVert H y - \theta y\rVert` of its Ritz vector:
    an eigenvalue lies within it, so :math:`\theta \le \lambda_{\max} \le \theta +`
    ``residual`` when that eigenvalue is the top one), ``converged`` (per checkpoint:
    residual :math:`\le` tol :math:`\cdot\,\theta`), ``loss`` (full-batch training loss
    after each update, index 0 = before training; NumPy), ``checkpoint_loss`` (the full-batch
    loss at ``steps``), ``lr``, ``batch_size`` (None: full batch), ``params`` (the final
    parameters), ``eigenvector`` (the last top eigenvector, flat) and ``n_hvp``.
    """

    steps: np.ndarray
    sharpness: np.ndarray
    loss: np.ndarray
    checkpoint_loss: np.ndarray
    lr: float
    batch_size: int | None
    params: Params
    eigenvector: Any
    n_hvp: int
    residual: np.ndarray
    converged: np.ndarray

    @property
    def threshold(self) -> float:
        r"""The stability threshold :math:`2/\eta` of gradient descent."""
        return 2.0 / self.lr


def track_sharpness(model: Any, params: Mapping[str, Any], X: Any, y: Any, lr: float,
                    steps: int, *, every: int = 10, batch_size: int | None = None,
                    seed: int | None = 0, lanczos_steps: int = 40, tol: float = 1e-3,
                    method: str = "auto") -> SharpnessTrace:
    r"""Train with plain (stochastic) gradient descent, :math:`\theta \leftarrow \theta - \eta
    \nabla L_B(\theta)`, and measure the sharpness :math:`\lambda_{\max}(\nabla^2 L(\theta))` of
    the *full-batch* training loss every ``every`` updates (and at the end).

    The sharpness is the top Ritz value of :func:`~edulib.spectral.lanczos` on
    :func:`model_matvec`, warm-started from the previous top eigenvector; it stops when the
    residual :math:`\lVert Hy - \theta y\rVert` falls to ``tol`` :math:`\cdot\,\theta` (at
    most ``lanczos_steps`` HVPs), and the trace keeps each residual, the accuracy of each
    measurement. Gradient descent on a quadratic is stable only while
    :math:`\lambda_{\max} < 2/\eta`; on a neural network's loss the sharpness tends to rise
    ("progressive sharpening") until it reaches :math:`2/\eta` and then hovers there (the edge
    of stability, Cohen et al. 2021) while the loss keeps falling, non-monotonically.

    ``batch_size=None``: full-batch gradient descent (``loss`` is then recorded at every
    step at no extra cost); an int: SGD on shuffled mini-batches (seeded by ``seed``, a new
    permutation each epoch), with the full-batch loss recorded at the checkpoints only
    (``loss`` holds NaN elsewhere). Parameters are copied, never changed in place. Full-batch
    training that blows up (loss not finite or above :math:`10^{10}` times its start) raises a
    ValueError.
    """
    _check_model(model)
    _check_params(params, "params")
    lr = chk.check_number(lr, "lr", low=0.0, low_open=True)
    steps = chk.check_int(steps, "steps", 0)
    every = chk.check_int(every, "every", 1)
    lanczos_steps = chk.check_int(lanczos_steps, "lanczos_steps", 1)
    tol = chk.check_number(tol, "tol", low=0.0)
    xp, p, Xc = model._check_params_X(trainable(model, params), X)
    yc = model._check_y(xp, Xc, y, p)
    N = Xc.shape[0]
    if batch_size is not None:
        batch_size = chk.check_int(batch_size, "batch_size", 1, N)
    p = {k: v + 0.0 for k, v in p.items()}  # a copy, in every namespace
    n = sum(math.prod(a.shape) for a in p.values())
    g = rng(seed)
    loss = np.full(steps + 1, np.nan)
    rows: list[tuple[int, float, float, bool, float]] = []
    v = None
    n_hvp = 0

    def measure(step: int) -> None:
        nonlocal v, n_hvp
        mv = ModelMatvec(model, p, Xc, yc, method=method)
        r = lanczos(mv, n, k=1, m=min(lanczos_steps, n), tol=tol, v0=v, seed=step,
                    check_symmetric=False)
        v = r.eigenvectors[:, 0]
        n_hvp += r.n_matvec
        if math.isnan(loss[step]):
            loss[step] = float(_training_loss(model, p, Xc, yc))
        rows.append((step, float(r.eigenvalues[0]), float(r.residuals[0]), r.converged,
                     loss[step]))

    order = None
    pos = N
    for step in range(steps + 1):
        if batch_size is None:
            value, grads = model.loss_and_grad(p, Xc, yc)
            loss[step] = float(value)
            if not math.isfinite(loss[step]) or loss[step] > 1e10 * max(loss[0], 1e-300):
                raise ValueError(f"training diverged at step {step} (loss {loss[step]:.3g}, "
                                 f"started at {loss[0]:.3g}) with lr={lr}: lower lr")
        if step % every == 0 or step == steps:
            measure(step)
        if step == steps:
            break
        if batch_size is not None:
            if pos + batch_size > N:
                order, pos = xp.asarray(g.permutation(N)), 0
            idx = order[pos:pos + batch_size]
            pos += batch_size
            _, grads = model.loss_and_grad(p, xp.take(Xc, idx, axis=0), xp.take(yc, idx, axis=0))
        for k in p:
            p[k] = p[k] - lr * grads[k]
    cols = list(zip(*rows, strict=True))
    return SharpnessTrace(np.asarray(cols[0]), np.asarray(cols[1]), loss, np.asarray(cols[4]),
                          lr, batch_size, p, v, n_hvp, np.asarray(cols[2]),
                          np.asarray(cols[3], dtype=bool))
