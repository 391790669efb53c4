r"""Eigenvalues, traces and eigenvalue densities of a symmetric operator known only through its
matrix-vector products :math:`v \mapsto Av` (a model's Hessian: :func:`edulib.hessian.model_matvec`).

* :func:`power_iteration`: the dominant eigenvalue, with the residual that checks it;
* :func:`lanczos`: the ``k`` largest eigenvalues, repeated ones included;
* :func:`hutchinson_trace`: the trace from random probes;
* :func:`slq_density`, :func:`gaussian_density`: the whole eigenvalue density.

A ``matvec`` takes and returns flat vectors of length ``n`` of the namespace ``xp`` (default:
``matvec.xp`` if the matvec has one, else NumPy). A result says ``converged`` only after checking
its residual :math:`\lVert Av - \lambda v\rVert`: for a symmetric A, some eigenvalue lies within
that distance of :math:`\lambda`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import array_namespace, rng, to_numpy

__all__ = [
    "LanczosResult",
    "PowerResult",
    "SpectralDensity",
    "TraceEstimate",
    "gaussian_density",
    "hutchinson_trace",
    "lanczos",
    "power_iteration",
    "slq_density",
]


# =============================================================================== the operator
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
        self.eps = float(xp.finfo(dtype).eps)
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

    def norm(self, a: Any) -> float:
        return math.sqrt(self.dot(a, a))

    def check_symmetric(self, g: np.random.Generator) -> None:
        r"""Cheap test: :math:`\langle u, Aw\rangle = \langle Au, w\rangle` for random u, w."""
        u, w = self.random(g), self.random(g)
        au, aw = self(u), self(w)
        left, right = self.dot(u, aw), self.dot(au, w)
        scale = self.norm(u) * self.norm(aw) + self.norm(au) * self.norm(w)
        tol = self.eps ** 0.25
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
        nv = self.norm(v)
        if nv == 0.0:
            raise ValueError("v0 must not be the zero vector")
        return v / nv


# =============================================================================== power iteration
@dataclass
class PowerResult:
    r"""Result of :func:`power_iteration`: ``eigenvalue`` (the Rayleigh quotient
    :math:`\lambda = v^\top Av`) and ``eigenvector`` v (unit norm) of the last iterate,
    ``n_iter``, ``converged``, ``history`` (:math:`\lambda` after each step), ``n_matvec``
    (matvec calls, the symmetry check included), ``residual``
    :math:`\lVert Av - \lambda v\rVert` of the returned pair and ``reason`` (why it stopped)."""

    eigenvalue: float
    eigenvector: Any
    n_iter: int
    converged: bool
    history: list[float] = field(default_factory=list)
    n_matvec: int = 0
    residual: float = math.nan
    reason: str = ""


def power_iteration(matvec: Any, n: int, *, v0: Any = None, max_iter: int = 100,
                    tol: float = 1e-6, seed: int | None = 0, xp: Any = None, dtype: Any = None,
                    check_symmetric: bool = True) -> PowerResult:
    r"""The dominant eigenvalue (largest :math:`|\lambda|`) of a symmetric operator from
    matrix-vector products alone.

    .. math:: \lambda_k = v_k^\top A v_k \ \text{(Rayleigh quotient)},\qquad
              r_k = \lVert A v_k - \lambda_k v_k\rVert,\qquad
              v_{k+1} = \frac{A v_k}{\lVert A v_k\rVert}

    It stops, converged, at the first :math:`r_k \le \text{tol}\,|\lambda_k|`: some
    eigenvalue then lies within :math:`\text{tol}\,|\lambda_k|` of :math:`\lambda_k` (and the
    error of :math:`\lambda_k` is usually far smaller, :math:`\approx r_k^2/\text{gap}`).
    The residual shrinks like :math:`|\lambda_2/\lambda_1|^{k}`: slow when the top two are
    close, hence :func:`lanczos`. When :math:`+\sigma` and :math:`-\sigma` tie for the largest
    magnitude there is no dominant eigenvalue: :math:`v_k` swings between the two eigenvectors,
    the residual never falls, and the result says so (``converged=False``). ``v0``
    warm-starts (e.g. the previous eigenvector, during training); else a seeded normal vector.
    """
    op = _Operator(matvec, n, xp, dtype)
    max_iter = chk.check_int(max_iter, "max_iter", 1)
    tol = chk.check_number(tol, "tol", low=0.0)
    check_symmetric = chk.check_bool(check_symmetric, "check_symmetric")
    g = rng(seed)
    v = op.start(v0, g)
    if check_symmetric:
        op.check_symmetric(g)
    history: list[float] = []
    iterates = [v]  # the last three v_k, to recognise a 2-cycle
    for _ in range(max_iter):
        w = op(v)
        lam = op.dot(v, w)
        history.append(lam)
        r = op.norm(w - lam * v)
        if r <= tol * abs(lam) or r == 0.0:
            why = f"residual {r:.2g} <= tol * |lambda| = {tol * abs(lam):.2g}"
            return PowerResult(lam, v, len(history), True, history, op.calls, r, why)
        v = w / op.norm(w)
        iterates = [*iterates[-2:], v]
    v = iterates[-2]  # the v whose Rayleigh quotient and residual were measured last
    why = f"max_iter={max_iter} reached with residual {r:.2g} > tol * |lambda| = {tol * abs(lam):.2g}"
    if len(iterates) == 3 and _two_cycle(op, *iterates):
        why += ("; v swings between two directions: eigenvalues of opposite signs tie for the "
                "largest magnitude (use lanczos)")
    return PowerResult(lam, v, len(history), False, history, op.calls, r, why)


def _two_cycle(op: _Operator, v_a: Any, v_b: Any, v_c: Any) -> bool:
    """True when :math:`v_{k+1} \\approx v_{k-1}` but :math:`v_k \\not\\approx \\pm v_{k-1}`."""
    two_step = op.norm(v_c - v_a)
    one_step = min(op.norm(v_b - v_a), op.norm(v_b + v_a))
    return two_step < 0.25 * one_step


# =============================================================================== Lanczos
@dataclass
class _Krylov:
    """One Lanczos run: basis ``Q[:, :steps]``, the products ``AQ = A Q`` and the tridiagonal
    entries (``betas[j]`` couples :math:`q_j` and :math:`q_{j+1}`)."""

    Q: Any
    AQ: Any
    alphas: list[float]
    betas: list[float]

    @property
    def steps(self) -> int:
        return len(self.alphas)

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Ritz values (descending) and the eigenvectors S of the tridiagonal T (columns)."""
        T = np.diag(np.asarray(self.alphas, dtype=np.float64))
        if self.betas:
            b = np.asarray(self.betas, dtype=np.float64)
            T += np.diag(b, 1) + np.diag(b, -1)
        theta, s = np.linalg.eigh(T)
        return theta[::-1].copy(), s[:, ::-1].copy()


def _orthogonalise(w: Any, bases: list[Any]) -> Any:
    """``w`` minus its components along the orthonormal columns of ``bases``, twice (Kahan:
    twice is enough)."""
    for _ in range(2):
        for B in bases:
            w = w - B @ (B.T @ w)
    return w


def _krylov_run(op: _Operator, v: Any, m: int, g: np.random.Generator, locked: list[Any], *,
                want: int = 0, tol: float = 0.0) -> _Krylov:
    r"""Up to ``m`` Lanczos steps from the unit vector ``v``, every new vector orthogonalised
    against the basis so far and the ``locked`` blocks of vectors (so the run sees A restricted
    to their orthogonal complement). With ``want > 0`` it stops once the top ``want`` Ritz
    values have the residual estimate :math:`|\beta_j s_{ji}| \le \text{tol}\max|\theta|`
    (checked at every step: the tridiagonal is small). A breakdown (an invariant subspace, e.g.
    A = cI) continues from a fresh random direction."""
    xp = op.xp
    Q = xp.zeros((op.n, m), dtype=op.dtype)
    AQ = xp.zeros((op.n, m), dtype=op.dtype)
    run = _Krylov(Q, AQ, [], [])
    q = v
    for j in range(m):
        Q[:, j] = q
        AQ[:, j] = w = op(q)
        run.alphas.append(op.dot(q, w))
        w = _orthogonalise(w, [*locked, Q[:, :j + 1]])
        b = op.norm(w)
        if b <= 1e-10 * max(max(abs(a) for a in run.alphas), 1e-300):
            b = 0.0
        if j + 1 == m:
            break
        if want and j + 1 >= want:
            theta, s = run.ritz()
            if np.all(np.abs(b * s[-1, :want]) <= tol * max(np.max(np.abs(theta)), 1e-300)):
                break
        if b == 0.0:  # invariant subspace: a fresh direction orthogonal to all so far
            w = _orthogonalise(op.random(g), [*locked, Q[:, :j + 1]])
            if op.norm(w) <= 1e-8 * math.sqrt(op.n):
                break  # nothing left: the basis spans the whole space
            b_next, q = 0.0, w / op.norm(w)
        else:
            b_next, q = b, w / b
        run.betas.append(b_next)
    return run


@dataclass
class LanczosResult:
    r"""Result of :func:`lanczos`: the top ``k`` eigenvalues (NumPy float64, descending), their
    eigenvectors (columns of an (n, k) array of the operator's namespace), the residual norms
    :math:`\lVert A y_i - \theta_i y_i\rVert` (from the stored products :math:`Ay`, not from
    the recurrence), ``n_iter`` (Lanczos steps, all runs together), ``converged``,
    ``n_matvec`` (the symmetry check included), ``n_runs`` (restarts + 1) and
    ``orthogonality`` (:math:`\max|Y^\top Y - I|` of the eigenvectors)."""

    eigenvalues: np.ndarray
    eigenvectors: Any
    residuals: np.ndarray
    n_iter: int
    converged: bool
    n_matvec: int = 0
    n_runs: int = 1
    orthogonality: float = 0.0


def lanczos(matvec: Any, n: int, k: int = 1, *, m: int | None = None, tol: float = 1e-10,
            seed: int | None = 0, v0: Any = None, xp: Any = None, dtype: Any = None,
            check_symmetric: bool = True, restarts: int | None = None) -> LanczosResult:
    r"""The ``k`` largest (algebraic, i.e. most positive) eigenvalues and eigenvectors of a
    symmetric operator, by the Lanczos method with full reorthogonalisation, locking and
    restarts.

    One run builds an orthonormal basis :math:`Q_j` of the Krylov space
    :math:`\{v, Av, A^2v, \dots\}` in which :math:`Q_j^\top A Q_j = T_j` is tridiagonal; the
    eigenvalues of :math:`T_j` (Ritz values) converge to the extreme eigenvalues of A much
    faster than power iteration. A Ritz pair :math:`(\theta, y)` is *converged* when
    :math:`\lVert Ay - \theta y\rVert \le \text{tol}\cdot\max|\theta|` (``tol`` floored at
    100 machine epsilons); a run stops when the top pairs it needs have converged, or after
    ``m`` steps (default ``min(n, max(100, 10k))``).

    A Krylov space holds only one direction of each eigenspace, so one run cannot see that an
    eigenvalue is repeated. The converged top pairs are therefore *locked*, and the next run
    starts from a random vector orthogonal to them: it finds the largest eigenvalue left
    (another copy, if any). The result is confirmed when a run's top converged Ritz value is
    no larger than the k-th largest locked one (for ``k = 1`` the first converged run
    suffices: the largest eigenvalue does not depend on its multiplicity). A run that locks
    nothing restarts from the sum of its top Ritz vectors. At most ``restarts`` (default
    ``2k + 2``) restarts. ``converged`` says all of it held: k confirmed pairs with small
    residuals and orthonormal eigenvectors. The smallest eigenvalues of A are the largest of
    -A: pass ``lambda v: -matvec(v)``.
    """
    op = _Operator(matvec, n, xp, dtype)
    k = chk.check_int(k, "k", 1)
    if k > op.n:
        raise ValueError(f"k must be <= n={op.n} (eigenpairs of an n x n operator), received {k}")
    m = min(op.n, max(100, 10 * k)) if m is None else chk.check_int(m, "m", 1)
    if m < k:
        raise ValueError(f"m (Krylov steps) must be >= k={k}, received {m}")
    tol = max(chk.check_number(tol, "tol", low=0.0), 100.0 * op.eps)
    check_symmetric = chk.check_bool(check_symmetric, "check_symmetric")
    restarts = 2 * k + 2 if restarts is None else chk.check_int(restarts, "restarts", 0)
    g = rng(seed)
    v = op.start(v0, g)
    if check_symmetric:
        op.check_symmetric(g)
    found = _Locked(op)
    steps, runs, confirmed = 0, 0, False
    while runs <= restarts:
        want = max(1, k - found.count)
        run = _krylov_run(op, v, min(m, op.n - found.count), g, found.blocks, want=want, tol=tol)
        runs, steps = runs + 1, steps + run.steps
        theta, Y, res = found.last = found.pairs(run)
        thresh = tol * found.scale
        if found.count >= k and res[0] <= thresh and theta[0] <= found.kth(k) + thresh:
            confirmed = True  # the largest eigenvalue left is no larger: nothing was missed
            break
        if found.lock(thresh, k) == 0:  # nothing converged: restart from the best directions
            v = Y[:, 0] if want == 1 else op.xp.sum(Y[:, :want], axis=1)
        elif k == 1:
            confirmed = True
            break
        else:  # a fresh random direction orthogonal to everything locked
            v = _orthogonalise(op.random(g), found.blocks)
        if found.count == op.n or op.norm(v) <= 1e-8 * math.sqrt(op.n):
            confirmed = found.count >= k  # the locked vectors span the whole space
            break
        v = v / op.norm(v)
    return found.result(k, steps, runs, confirmed, tol)


class _Locked:
    """The converged Ritz pairs of :func:`lanczos`, in blocks (one per run)."""

    def __init__(self, op: _Operator) -> None:
        self.op = op
        self.values: list[float] = []
        self.residuals: list[float] = []
        self.blocks: list[Any] = []
        self.last: Any = None  # (Ritz values, vectors, residuals) of the last run
        self.from_last = 0  # how many of them were locked
        self.scale = 1e-300  # the largest |Ritz value| seen: the scale of the residuals

    @property
    def count(self) -> int:
        return len(self.values)

    def kth(self, k: int) -> float:
        return sorted(self.values, reverse=True)[k - 1]

    def pairs(self, run: _Krylov) -> tuple[np.ndarray, Any, np.ndarray]:
        """Ritz values (descending), vectors and true residuals :math:`\\lVert AQs - \\theta
        Qs\\rVert` of a run."""
        theta, s = run.ritz()
        S = self.op.xp.asarray(np.ascontiguousarray(s), dtype=self.op.dtype)
        Y = run.Q[:, :run.steps] @ S
        R = run.AQ[:, :run.steps] @ S - Y * self.op.xp.asarray(theta, dtype=self.op.dtype)
        res = np.sqrt(np.asarray(to_numpy(self.op.xp.sum(R * R, axis=0)), dtype=np.float64))
        self.scale = max(self.scale, float(np.max(np.abs(theta))))
        return theta, Y, res

    def lock(self, thresh: float, k: int) -> int:
        """Lock the leading converged pairs of the last run (at most k); how many (0: none)."""
        theta, Y, res = self.last
        ok = res <= thresh
        j = min(k, ok.size if np.all(ok) else int(np.argmin(ok)))
        if j:
            self.values += theta[:j].tolist()
            self.residuals += res[:j].tolist()
            self.blocks.append(Y[:, :j])
        self.from_last = j
        return j

    def result(self, k: int, steps: int, runs: int, confirmed: bool,
               tol: float) -> LanczosResult:
        xp, op = self.op.xp, self.op
        vals = np.asarray(self.values, dtype=np.float64)
        res = np.asarray(self.residuals, dtype=np.float64)
        vecs = xp.concat(self.blocks, axis=1) if self.blocks else None
        if self.count < k:  # not converged: fill up with the last run's best unlocked pairs
            theta, Y, r = self.last
            keep = slice(self.from_last, self.from_last + k - self.count)
            vals = np.concatenate([vals, theta[keep]])
            res = np.concatenate([res, r[keep]])
            vecs = Y[:, keep] if vecs is None else xp.concat([vecs, Y[:, keep]], axis=1)
        order = np.argsort(-vals, kind="stable")[:k]
        vecs = xp.take(vecs, xp.asarray(order), axis=1)
        gram = vecs.T @ vecs - xp.eye(order.size, dtype=op.dtype)
        orth = float(xp.max(xp.abs(gram)))
        thresh = tol * self.scale
        converged = bool(confirmed and np.all(res[order] <= thresh)
                         and orth <= math.sqrt(op.eps))
        return LanczosResult(vals[order], vecs, res[order], steps, converged, op.calls, runs,
                             orth)


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
    :math:`2\sum_{i\ne j} A_{ij}^2` per sample for a symmetric A (zero for a diagonal A), so
    the standard error falls like :math:`1/\sqrt{m}`. Returns the estimate with its standard
    error; the truth lies within ~2 standard errors in ~95% of seeds.
    """
    op = _Operator(matvec, n, xp, dtype)
    n_probes = chk.check_int(n_probes, "n_probes", 2)
    g = rng(seed)
    samples = np.empty(n_probes)
    for j in range(n_probes):
        z = op.random(g, "rademacher")
        samples[j] = op.dot(z, op(z))
    est = float(samples.mean())
    return TraceEstimate(est, float(samples.std(ddof=1) / math.sqrt(n_probes)), samples)


@dataclass
class SpectralDensity:
    """Result of :func:`slq_density`: Ritz ``nodes`` and ``weights`` (NumPy, weights sum to
    1), one block of ``m`` per probe; ``n_probes``, ``m`` and ``n_matvec`` (the symmetry check
    included). Unpacks as ``nodes, weights``."""

    nodes: np.ndarray
    weights: np.ndarray
    n_probes: int
    m: int
    n_matvec: int = 0

    def __iter__(self):
        return iter((self.nodes, self.weights))

    def smoothed(self, grid: Any, sigma: float) -> np.ndarray:
        """The density convolved with a Gaussian of width ``sigma`` on ``grid``."""
        return gaussian_density(self.nodes, self.weights, grid, sigma)


def slq_density(matvec: Any, n: int, n_probes: int = 10, m: int = 40, seed: int | None = 0, *,
                xp: Any = None, dtype: Any = None, check_symmetric: bool = True
                ) -> SpectralDensity:
    r"""The eigenvalue density :math:`\phi(t) = \frac1n\sum_i \delta(t - \lambda_i)` of a
    symmetric operator by stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019;
    Papyan 2018).

    For each of ``n_probes`` random unit vectors :math:`v` (normalised Rademacher), ``m`` steps
    of Lanczos give :math:`T_m = S\,\mathrm{diag}(\theta)\,S^\top`; Gauss quadrature then says
    :math:`v^\top f(A) v \approx \sum_j S_{1j}^2 f(\theta_j)`. Averaging over probes, the nodes
    :math:`\theta_j` with weights :math:`S_{1j}^2 / n_\text{probes}` (summing to 1) form a
    discrete density whose moments estimate :math:`\frac1n\mathrm{tr}(A^p)`, :math:`p < 2m`
    (:math:`p = 1`: exactly Hutchinson's estimate over the same probes, divided by n).
    Smooth it with :func:`gaussian_density` to plot. The matvec is checked for symmetry first,
    as in :func:`lanczos` (with its own random vectors: the probes do not depend on it).
    """
    op = _Operator(matvec, n, xp, dtype)
    n_probes = chk.check_int(n_probes, "n_probes", 1)
    m = min(chk.check_int(m, "m", 1), op.n)
    g = rng(seed)
    if chk.check_bool(check_symmetric, "check_symmetric"):
        op.check_symmetric(g.spawn(1)[0])
    nodes, weights = [], []
    for _ in range(n_probes):
        v = op.random(g, "rademacher") / math.sqrt(op.n)
        theta, s = _krylov_run(op, v, m, g, []).ritz()
        nodes.append(theta)
        weights.append(s[0, :] ** 2 / n_probes)
    return SpectralDensity(np.concatenate(nodes), np.concatenate(weights), n_probes, m, op.calls)


def gaussian_density(nodes: Any, weights: Any, grid: Any, sigma: float) -> np.ndarray:
    r"""A smooth density on ``grid``:
    :math:`\phi_\sigma(t) = \sum_j w_j\,\frac{1}{\sqrt{2\pi}\sigma}e^{-(t-\theta_j)^2/2\sigma^2}`
    (integrates to :math:`\sum_j w_j`; NumPy arrays, for plotting). ``nodes`` and ``weights``
    are finite 1-D arrays of one length, the weights non-negative; ``grid`` is finite."""
    sigma = chk.check_number(sigma, "sigma", low=0.0, low_open=True)
    xp = array_namespace(np.empty(0))
    th = _finite_host(xp, nodes, "nodes")
    w = _finite_host(xp, weights, "weights")
    t = _finite_host(xp, grid, "grid", flat=False)
    if th.ndim != 1 or w.shape != th.shape:
        raise ValueError(f"nodes and weights must be 1-D of one length, received shapes "
                         f"{th.shape} and {w.shape}")
    if np.any(w < 0):
        raise ValueError(f"weights must be >= 0 (a density), received min {w.min():.3g}")
    z = (t[..., None] - th) / sigma
    return (np.exp(-0.5 * z * z) @ w) / (math.sqrt(2.0 * math.pi) * sigma)


def _finite_host(xp: ModuleType, x: Any, name: str, flat: bool = True) -> np.ndarray:
    """``x`` as a non-empty finite float64 NumPy array, else an error naming it."""
    if hasattr(x, "shape") and not isinstance(x, np.ndarray):
        x = to_numpy(x)
    a = chk.as_float_array(xp, x, name, dtype=np.float64)
    chk.check_nonempty(a, name)
    chk.check_finite(xp, a, name)
    return np.asarray(a)
