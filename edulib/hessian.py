r"""Second-order information without forming the matrix: Hessian-vector products and friends.

A model's parameters live in a dict of arrays; the Hessian acts on the flat vector
:math:`\theta\in\mathbb R^P` made by :func:`flatten` (the dict's order, each array in C order)::

    theta = flatten(params)                   # (P,)
    params2 = unflatten(theta, like=params)   # the dict back: same keys, shapes, namespace, dtype
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import array_namespace, to_numpy

__all__ = [
    "CriticalPoint",
    "LanczosResult",
    "ModelMatvec",
    "PowerResult",
    "SharpnessTrace",
    "SpectralDensity",
    "TraceEstimate",
    "classify_critical_point",
    "dense",
    "fd_step",
    "flatten",
    "gaussian_density",
    "has_analytic_hvp",
    "hutchinson_trace",
    "hvp",
    "lanczos",
    "model_matvec",
    "power_iteration",
    "slq_density",
    "track_sharpness",
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
    xp, params_c, Xc = model._check_params_X(params, X)
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
    xp, params_c, _ = model._check_params_X(params, X)
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
    :func:`lanczos`, :func:`hutchinson_trace`, :func:`slq_density`.

    Attributes ``n``, ``xp``, ``dtype`` (read by those functions) and ``calls`` (HVPs so far).
    """

    def __init__(self, model: Any, params: Mapping[str, Any], X: Any, y: Any,
                 method: str = "auto") -> None:
        _check_model(model)
        _check_params(params, "params")
        xp, params_c, Xc = model._check_params_X(params, X)
        model._check_y(xp, Xc, y, params_c)
        if method not in ("auto", "analytic", "fd"):
            raise ValueError(f"method must be 'auto', 'analytic' or 'fd', received {method!r}")
        self.model, self.params, self.X, self.y, self.method = model, dict(params_c), Xc, y, method
        self.xp = xp
        self.dtype = next(iter(params_c.values())).dtype
        self.n = sum(math.prod(p.shape) for p in params_c.values())
        self.calls = 0

    def __call__(self, v: Any) -> Any:
        self.calls += 1
        out = hvp(self.model, self.params, self.X, self.y, unflatten(v, self.params),
                  method=self.method)
        return flatten(out)

    def __repr__(self) -> str:
        return f"<ModelMatvec of {type(self.model).__name__}, n={self.n}, calls={self.calls}>"


def model_matvec(model: Any, params: Mapping[str, Any], X: Any, y: Any,
                 method: str = "auto") -> ModelMatvec:
    """The model's Hessian as a matvec on flat vectors (see :class:`ModelMatvec`)."""
    return ModelMatvec(model, params, X, y, method=method)


# =============================================================================== operators
class _Operator:
    """Wraps a user ``matvec`` on flat vectors: checks every output, counts calls."""

    def __init__(self, matvec: Any, n: Any, xp: Any, dtype: Any) -> None:
        chk.check_callable(matvec, "matvec", "a function of a flat vector (n,) -> (n,)")
        self.n = chk.check_int(n, "n", 1)
        mn = getattr(matvec, "n", None)
        if isinstance(mn, int) and mn != self.n:
            raise ValueError(f"n must equal the size of matvec's vectors ({mn}), received {n}")
        if xp is None:
            xp = getattr(matvec, "xp", None)
        if xp is None:
            xp = array_namespace(np.empty(0))
        if not (isinstance(xp, ModuleType) and hasattr(xp, "asarray")):
            raise TypeError(f"xp must be an array namespace, received {type(xp).__name__}")
        self.xp = xp
        if dtype is None:
            dtype = getattr(matvec, "dtype", None) or xp.float64
        self.dtype = dtype
        self.f = matvec
        self.calls = 0

    def __call__(self, v: Any) -> Any:
        self.calls += 1
        out = self.f(v)
        if not hasattr(out, "shape"):
            raise TypeError(f"matvec must return an array of shape ({self.n},), received "
                            f"{type(out).__name__}")
        if tuple(out.shape) != (self.n,):
            raise ValueError(f"matvec must return shape ({self.n},) (n={self.n}), received "
                             f"{tuple(out.shape)}")
        xp = self.xp
        if not bool(xp.all(xp.isfinite(out))):
            raise ValueError(
                f"matvec returned non-finite values (NaN or inf) for a finite input of shape "
                f"({self.n},); the loss may have overflowed at these parameters"
            )
        return out if out.dtype == self.dtype else xp.astype(out, self.dtype)

    def random(self, g: np.random.Generator, kind: str = "normal") -> Any:
        if kind == "rademacher":
            host = g.integers(0, 2, size=self.n) * 2.0 - 1.0
        else:
            host = g.standard_normal(self.n)
        return self.xp.asarray(host, dtype=self.dtype)

    def dot(self, a: Any, b: Any) -> float:
        return float(self.xp.sum(a * b))

    def check_symmetric(self, g: np.random.Generator) -> None:
        r"""Cheap test: :math:`\langle u, Aw\rangle = \langle Au, w\rangle` for random u, w."""
        u, w = self.random(g), self.random(g)
        au, aw = self(u), self(w)
        left, right = self.dot(u, aw), self.dot(au, w)
        scale = (math.sqrt(self.dot(u, u) * self.dot(aw, aw))
                 + math.sqrt(self.dot(au, au) * self.dot(w, w)))
        tol = float(self.xp.finfo(self.dtype).eps) ** 0.25
        if abs(left - right) > tol * scale:
            raise ValueError(
                f"matvec must be symmetric (a Hessian is): for random u, w, <u, A w> = "
                f"{left:.6g} but <A u, w> = {right:.6g} (relative difference "
                f"{abs(left - right) / scale:.2g} > {tol:.2g}); fix the matvec or pass "
                f"check_symmetric=False"
            )

    def start(self, v0: Any, g: np.random.Generator) -> Any:
        if v0 is None:
            v = self.random(g)
        else:
            v = chk.as_float_array(self.xp, v0, "v0", dtype=self.dtype)
            if tuple(v.shape) != (self.n,):
                raise ValueError(f"v0 must have shape ({self.n},), received {tuple(v.shape)}")
            chk.check_finite(self.xp, v, "v0")
        nv = math.sqrt(self.dot(v, v))
        if nv == 0.0:
            raise ValueError("v0 must not be the zero vector")
        return v / nv


def _seed_rng(seed: Any) -> np.random.Generator:
    from .backend import rng

    return rng(seed)


# =============================================================================== power iteration
@dataclass
class PowerResult:
    """Result of :func:`power_iteration`: ``eigenvalue`` (float), ``eigenvector`` (n,) of unit
    norm, ``n_iter``, ``converged``, ``history`` (the Rayleigh quotient after each step) and
    ``n_matvec`` (matvec calls, the symmetry check included)."""

    eigenvalue: float
    eigenvector: Any
    n_iter: int
    converged: bool
    history: list[float] = field(default_factory=list)
    n_matvec: int = 0


def power_iteration(matvec: Any, n: int, *, v0: Any = None, max_iter: int = 100,
                    tol: float = 1e-6, seed: int | None = 0, xp: Any = None, dtype: Any = None,
                    check_symmetric: bool = True) -> PowerResult:
    r"""The dominant eigenvalue (largest :math:`|\lambda|`) of a symmetric operator from
    matrix-vector products alone.

    .. math:: v_{k+1} = \frac{A v_k}{\lVert A v_k\rVert},\qquad
              \lambda_k = v_k^\top A v_k \ \text{(Rayleigh quotient)}

    stopping when :math:`|\lambda_k - \lambda_{k-1}| \le \text{tol}\,|\lambda_k|`. The error
    shrinks like :math:`|\lambda_2/\lambda_1|^{k}`: slow when the top two are close, hence
    :func:`lanczos`. For the sharpness :math:`\lambda_{\max}` of a loss near a minimum the
    dominant eigenvalue is the largest one (the Hessian is nearly positive semi-definite).
    ``v0`` warm-starts (e.g. the previous eigenvector, during training); else a seeded normal
    vector. ``matvec`` takes and returns flat vectors (n,) of namespace ``xp`` (default:
    ``matvec.xp`` if set, else NumPy).
    """
    op = _Operator(matvec, n, xp, dtype)
    max_iter = chk.check_int(max_iter, "max_iter", 1)
    tol = chk.check_number(tol, "tol", low=0.0)
    g = _seed_rng(seed)
    v = op.start(v0, g)
    if check_symmetric:
        op.check_symmetric(g)
    history: list[float] = []
    lam_old = None
    converged = False
    for _ in range(max_iter):
        w = op(v)
        lam = op.dot(v, w)
        history.append(lam)
        nw = math.sqrt(op.dot(w, w))
        if nw == 0.0:  # v is in the null space: the eigenvalue is 0
            converged = True
            break
        v = w / nw
        if lam_old is not None and abs(lam - lam_old) <= tol * abs(lam):
            converged = True
            break
        lam_old = lam
    # sign of v: A v = lam v (the normalised A v flips each step when lam < 0)
    if history[-1] < 0:
        v = -v
    return PowerResult(history[-1], v, len(history), converged, history, op.calls)


# =============================================================================== Lanczos
def _lanczos_basis(op: _Operator, v: Any, m: int, g: np.random.Generator, *, k: int = 0,
                   tol: float = 0.0, check_every: int = 5):
    """m steps of Lanczos with full reorthogonalisation from the unit vector ``v``.

    Returns ``(Q, alphas, betas, n_steps)``: basis columns ``Q[:, :n_steps]`` and the
    tridiagonal entries. With ``k > 0`` it stops early once the top-``k`` Ritz values have
    residuals :math:`|\\beta_{j+1} s_{j,i}| \\le \\text{tol}\\,\\max|\\theta|`.
    """
    xp = op.xp
    Q = xp.zeros((op.n, m), dtype=op.dtype)
    alphas: list[float] = []
    betas: list[float] = []  # betas[j] couples q_j and q_{j+1}
    q = v
    steps = 0
    for j in range(m):
        Q[:, j] = q
        w = op(q)
        a = op.dot(q, w)
        alphas.append(a)
        Qj = Q[:, :j + 1]
        for _ in range(2):  # full reorthogonalisation, twice is enough (Kahan)
            w = w - Qj @ (Qj.T @ w)
        steps = j + 1
        b = math.sqrt(op.dot(w, w))
        scale = max(abs(a), *(abs(x) for x in alphas), 1e-300)
        breakdown = b <= 1e-10 * scale
        if steps == m:
            betas.append(0.0 if breakdown else b)  # for the residuals of the Ritz pairs
            break
        if breakdown:
            # invariant subspace found: continue from a fresh direction orthogonal to Q
            w = op.random(g)
            for _ in range(2):
                w = w - Qj @ (Qj.T @ w)
            nb = math.sqrt(op.dot(w, w))
            if nb == 0.0:
                break
            betas.append(0.0)
            q = w / nb
            continue
        betas.append(b)
        if k and steps >= k and steps % check_every == 0:
            theta, s = _tridiag_eigh(alphas, betas[:steps - 1])
            res = np.abs(b * s[-1, -k:])
            if np.all(res <= tol * max(np.max(np.abs(theta)), 1e-300)):
                break
        q = w / b
    return Q, alphas, betas[:steps - 1], steps, (betas[steps - 1] if len(betas) >= steps else 0.0)


def _tridiag_eigh(alphas: list[float], betas: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition (ascending) of the small tridiagonal T, on the host with NumPy."""
    T = np.diag(np.asarray(alphas, dtype=np.float64))
    if betas:
        b = np.asarray(betas, dtype=np.float64)
        T += np.diag(b, 1) + np.diag(b, -1)
    return np.linalg.eigh(T)


@dataclass
class LanczosResult:
    """Result of :func:`lanczos`: the top ``k`` eigenvalues (NumPy float64, descending), their
    eigenvectors (columns of an (n, k) array of the operator's namespace), the residual norms
    :math:`\\lVert A y_i - \\theta_i y_i\\rVert`, the Krylov dimension ``n_iter`` and
    ``n_matvec``."""

    eigenvalues: np.ndarray
    eigenvectors: Any
    residuals: np.ndarray
    n_iter: int
    converged: bool
    n_matvec: int = 0


def lanczos(matvec: Any, n: int, k: int = 1, *, m: int | None = None, tol: float = 1e-10,
            seed: int | None = 0, v0: Any = None, xp: Any = None, dtype: Any = None,
            check_symmetric: bool = True) -> LanczosResult:
    r"""The ``k`` largest (algebraic, i.e. most positive) eigenvalues and eigenvectors of a
    symmetric operator, by the Lanczos method with full reorthogonalisation.

    Builds an orthonormal basis :math:`Q_j = [q_1..q_j]` of the Krylov space
    :math:`\{v, Av, A^2v, \dots\}`, in which :math:`Q_j^\top A Q_j = T_j` is tridiagonal
    (:math:`A q_j = \beta_{j-1} q_{j-1} + \alpha_j q_j + \beta_j q_{j+1}`); the eigenvalues of
    :math:`T_j` (Ritz values) converge to the extreme eigenvalues of :math:`A` much faster than
    power iteration. Every new vector is re-orthogonalised against all of :math:`Q_j` (twice),
    which removes the spurious copies plain Lanczos produces, at :math:`O(nj)` memory.
    Stops when the top-``k`` Ritz pairs have residuals
    :math:`\lVert A y_i - \theta_i y_i\rVert = |\beta_j s_{ji}| \le \text{tol}\max|\theta|`,
    or after ``m`` steps (default ``min(n, max(100, 10k))``). The smallest eigenvalues of A are
    the largest of -A: pass ``lambda v: -matvec(v)`` to get them.
    """
    op = _Operator(matvec, n, xp, dtype)
    k = chk.check_int(k, "k", 1)
    if k > op.n:
        raise ValueError(f"k must be <= n={op.n} (eigenpairs of an n x n operator), received {k}")
    m = min(op.n, max(100, 10 * k)) if m is None else chk.check_int(m, "m", 1)
    if m < k:
        raise ValueError(f"m (Krylov steps) must be >= k={k}, received {m}")
    m = min(m, op.n)
    tol = chk.check_number(tol, "tol", low=0.0)
    g = _seed_rng(seed)
    v = op.start(v0, g)
    if check_symmetric:
        op.check_symmetric(g)
    Q, alphas, betas, steps, b_last = _lanczos_basis(op, v, m, g, k=k, tol=tol)
    theta, s = _tridiag_eigh(alphas, betas)
    top = np.arange(steps - 1, steps - 1 - k, -1)
    res = np.abs(b_last * s[-1, top])
    vecs = Q[:, :steps] @ op.xp.asarray(np.ascontiguousarray(s[:, top]), dtype=op.dtype)
    converged = bool(steps == op.n or np.all(res <= tol * max(np.max(np.abs(theta)), 1e-300)))
    return LanczosResult(theta[top].copy(), vecs, res, steps, converged, op.calls)


# =============================================================================== trace, density
@dataclass
class TraceEstimate:
    """Result of :func:`hutchinson_trace`: ``estimate``, its standard error ``stderr``
    (std of the samples / sqrt(n_probes)) and the per-probe ``samples`` :math:`z^\\top A z`."""

    estimate: float
    stderr: float
    samples: np.ndarray


def hutchinson_trace(matvec: Any, n: int, n_probes: int = 30, seed: int | None = 0, *,
                     xp: Any = None, dtype: Any = None) -> TraceEstimate:
    r"""Hutchinson's estimator of :math:`\mathrm{tr}(A)` from ``n_probes`` matvecs:

    .. math:: \mathrm{tr}(A) = \mathbb E[z^\top A z]\approx \frac1m\sum_{j=1}^m z_j^\top A z_j,
              \qquad z_j \in \{-1, +1\}^n \text{ (Rademacher)}

    Rademacher probes give the smallest variance among i.i.d. probes,
    :math:`2\sum_{i\ne j} A_{ij}^2` per sample (zero for a diagonal A). Returns the estimate
    with its standard error; the truth lies within ~2 standard errors in ~95% of seeds.
    """
    op = _Operator(matvec, n, xp, dtype)
    n_probes = chk.check_int(n_probes, "n_probes", 2)
    g = _seed_rng(seed)
    samples = np.empty(n_probes)
    for j in range(n_probes):
        z = op.random(g, "rademacher")
        samples[j] = op.dot(z, op(z))
    est = float(samples.mean())
    return TraceEstimate(est, float(samples.std(ddof=1) / math.sqrt(n_probes)), samples)


@dataclass
class SpectralDensity:
    """Result of :func:`slq_density`: Ritz ``nodes`` and ``weights`` (NumPy, weights sum to
    1), one block of ``m`` per probe; ``n_probes``, ``m``. Unpacks as ``nodes, weights``."""

    nodes: np.ndarray
    weights: np.ndarray
    n_probes: int
    m: int

    def __iter__(self):
        return iter((self.nodes, self.weights))

    def smoothed(self, grid: Any, sigma: float) -> np.ndarray:
        """The density convolved with a Gaussian of width ``sigma`` on ``grid``."""
        return gaussian_density(self.nodes, self.weights, grid, sigma)


def slq_density(matvec: Any, n: int, n_probes: int = 10, m: int = 40, seed: int | None = 0, *,
                xp: Any = None, dtype: Any = None) -> SpectralDensity:
    r"""The eigenvalue density :math:`\phi(t) = \frac1n\sum_i \delta(t - \lambda_i)` by
    stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019; Papyan 2018).

    For each of ``n_probes`` random unit vectors :math:`v` (normalised Rademacher), ``m`` steps
    of Lanczos give :math:`T_m = S\,\mathrm{diag}(\theta)\,S^\top`; Gauss quadrature then says
    :math:`v^\top f(A) v \approx \sum_j S_{1j}^2 f(\theta_j)`. Averaging over probes, the nodes
    :math:`\theta_j` with weights :math:`S_{1j}^2 / n_\text{probes}` (summing to 1) form a
    discrete density whose moments estimate :math:`\frac1n\mathrm{tr}(A^p)`, :math:`p < 2m`
    (:math:`p = 1`: exactly Hutchinson's estimate over the same probes, divided by n).
    Smooth it with :func:`gaussian_density` to plot.
    """
    op = _Operator(matvec, n, xp, dtype)
    n_probes = chk.check_int(n_probes, "n_probes", 1)
    m = min(chk.check_int(m, "m", 1), op.n)
    g = _seed_rng(seed)
    nodes, weights = [], []
    for _ in range(n_probes):
        v = op.random(g, "rademacher") / math.sqrt(op.n)
        _, alphas, betas, steps, _ = _lanczos_basis(op, v, m, g)
        theta, s = _tridiag_eigh(alphas, betas)
        nodes.append(theta)
        weights.append(s[0, :] ** 2 / n_probes)
    return SpectralDensity(np.concatenate(nodes), np.concatenate(weights), n_probes, m)


def gaussian_density(nodes: Any, weights: Any, grid: Any, sigma: float) -> np.ndarray:
    r"""A smooth density on ``grid``:
    :math:`\phi_\sigma(t) = \sum_j w_j\,\frac{1}{\sqrt{2\pi}\sigma}e^{-(t-\theta_j)^2/2\sigma^2}`
    (integrates to :math:`\sum_j w_j`; NumPy arrays, for plotting)."""
    sigma = chk.check_number(sigma, "sigma", low=0.0, low_open=True)
    t = np.asarray(grid, dtype=np.float64)
    th = np.asarray(nodes, dtype=np.float64).reshape(-1)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if th.shape != w.shape:
        raise ValueError(f"weights must have the shape of nodes {th.shape}, received {w.shape}")
    z = (t[..., None] - th) / sigma
    return (np.exp(-0.5 * z * z) @ w) / (math.sqrt(2.0 * math.pi) * sigma)


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
    """Result of :func:`track_sharpness`.

    ``steps`` (the update counts at which the sharpness was measured), ``sharpness``
    (:math:`\\lambda_{\\max}` of the full-batch Hessian there), ``loss`` (full-batch training
    loss after each update, index 0 = before training; NumPy), ``checkpoint_loss`` (the
    full-batch loss at ``steps``), ``lr``, ``batch_size`` (None: full batch), ``params`` (the
    final parameters), ``eigenvector`` (the last top eigenvector, flat) and ``n_hvp``.
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

    @property
    def threshold(self) -> float:
        """The stability threshold :math:`2/\\eta` of gradient descent."""
        return 2.0 / self.lr


def track_sharpness(model: Any, params: Mapping[str, Any], X: Any, y: Any, lr: float,
                    steps: int, *, every: int = 10, batch_size: int | None = None,
                    seed: int | None = 0, power_iters: int = 20, tol: float = 1e-3,
                    method: str = "auto") -> SharpnessTrace:
    r"""Train with plain (stochastic) gradient descent, :math:`\theta \leftarrow \theta - \eta
    \nabla L_B(\theta)`, and measure the sharpness :math:`\lambda_{\max}(\nabla^2 L(\theta))` of
    the *full-batch* training loss every ``every`` updates (and at the end).

    The sharpness comes from :func:`power_iteration` on :func:`model_matvec`, warm-started from
    the previous top eigenvector, so it usually needs only a few HVPs (stops at relative change
    ``tol``, at most ``power_iters``). Gradient descent on a quadratic is stable only while
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
    power_iters = chk.check_int(power_iters, "power_iters", 1)
    xp, p, Xc = model._check_params_X(params, X)
    yc = model._check_y(xp, Xc, y, p)
    N = Xc.shape[0]
    if batch_size is not None:
        batch_size = chk.check_int(batch_size, "batch_size", 1, N)
    p = {k: v + 0.0 for k, v in p.items()}  # a copy, in every namespace
    n = sum(math.prod(a.shape) for a in p.values())
    g = _seed_rng(seed)
    loss = np.full(steps + 1, np.nan)
    ck_steps, ck_sharp, ck_loss = [], [], []
    v = None
    n_hvp = 0

    def measure(step: int) -> None:
        nonlocal v, n_hvp
        mv = ModelMatvec(model, p, Xc, yc, method=method)
        r = power_iteration(mv, n, v0=v, max_iter=power_iters, tol=tol, seed=step,
                            check_symmetric=False)
        v = r.eigenvector
        n_hvp += r.n_matvec
        ck_steps.append(step)
        ck_sharp.append(r.eigenvalue)
        if math.isnan(loss[step]):
            loss[step] = float(model.loss(p, Xc, yc))
        ck_loss.append(loss[step])

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
    return SharpnessTrace(np.asarray(ck_steps), np.asarray(ck_sharp), loss, np.asarray(ck_loss),
                          lr, batch_size, p, v, n_hvp)
