r"""Two-dimensional test surfaces with exact value, gradient and Hessian.

Each surface ``s`` is an object you call like a function of a point :math:`x = (x_1, x_2)`::

    s(x) == s.f(x)      # value, shape x.shape[:-1]  (x has shape (2,) or (..., 2))
    s.grad(x)           # gradient, same shape as x
    s.hessian(x)        # Hessian, shape x.shape[:-1] + (2, 2)
    s.minima            # known minimisers, a tuple of (x1, x2) pairs ((): none)
    s.saddles, s.maxima # known saddle points and maxima
    s.box, s.start      # default plotting box ((x1_lo, x1_hi), (x2_lo, x2_hi)) and start point
    s.formula           # LaTeX, shown when s is displayed in Jupyter

Batched input evaluates a whole contour grid in one call: ``s(xp.stack([X1, X2], axis=-1))``,
or use :meth:`Surface.grid`. The code uses only the Python array API, so ``x`` may be a NumPy,
CuPy or ``array_api_strict`` array; the result has ``x``'s namespace and floating dtype
(integers and lists become float64).

``SURFACES`` maps each name to a default instance.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import array_namespace

__all__ = [
    "SURFACES",
    "Beale",
    "Himmelblau",
    "MonkeySaddle",
    "Quadratic",
    "Rosenbrock",
    "Saddle",
    "Surface",
]

Point = tuple[float, float]
Box = tuple[tuple[float, float], tuple[float, float]]


class Surface:
    """A function :math:`f:\\mathbb{R}^2\\to\\mathbb{R}` with exact gradient and Hessian.

    Subclasses set the descriptive attributes and implement ``_f``, ``_grad`` (returns the two
    partial derivatives) and ``_hess`` (returns :math:`h_{11}, h_{12}, h_{22}`), each taking the
    namespace and the two coordinate arrays.

    Attributes
    ----------
    name, title, formula : str
        Registry key, human-readable title, LaTeX formula of :math:`f`.
    minima, saddles, maxima : tuple of (float, float)
        Known critical points (exact, or refined by Newton's method to machine precision).
    f_min : float or None
        The minimum value where one exists.
    box : ((float, float), (float, float))
        Default plotting box ``((x1_lo, x1_hi), (x2_lo, x2_hi))``.
    start : (float, float)
        A start point for optimizers that shows the surface's character.
    log_scale : bool
        True when contours read best on a log scale of ``f - f_min`` (steep valleys).
    """

    name: str = ""
    title: str = ""
    formula: str = ""
    minima: tuple[Point, ...] = ()
    saddles: tuple[Point, ...] = ()
    maxima: tuple[Point, ...] = ()
    f_min: float | None = None
    box: Box = ((-2.0, 2.0), (-2.0, 2.0))
    start: Point = (1.0, 1.0)
    log_scale: bool = False

    # -- public API ---------------------------------------------------------------------------
    def f(self, x: Any) -> Any:
        """Value :math:`f(x)`; ``x`` has shape (2,) or (..., 2), the result shape (...)."""
        xp, x1, x2 = self._split(x)
        return self._f(xp, x1, x2)

    __call__ = f

    def grad(self, x: Any) -> Any:
        r"""Gradient :math:`\nabla f(x) = (\partial f/\partial x_1, \partial f/\partial x_2)`,
        same shape and dtype as ``x``."""
        xp, x1, x2 = self._split(x)
        g1, g2 = self._grad(xp, x1, x2)
        return xp.stack([g1, g2], axis=-1)

    def value_and_grad(self, x: Any) -> tuple[Any, Any]:
        """``(self.f(x), self.grad(x))``."""
        xp, x1, x2 = self._split(x)
        g1, g2 = self._grad(xp, x1, x2)
        return self._f(xp, x1, x2), xp.stack([g1, g2], axis=-1)

    def hessian(self, x: Any) -> Any:
        r"""Hessian :math:`\nabla^2 f(x)`, shape ``x.shape[:-1] + (2, 2)`` (symmetric)."""
        xp, x1, x2 = self._split(x)
        h11, h12, h22 = self._hess(xp, x1, x2)
        row1 = xp.stack([h11, h12], axis=-1)
        row2 = xp.stack([h12, h22], axis=-1)
        return xp.stack([row1, row2], axis=-2)

    def grid(self, n: int = 101, box: Box | None = None, xp: ModuleType | None = None
             ) -> tuple[Any, Any, Any]:
        """``(X1, X2, Z)`` on an ``n`` × ``n`` grid over ``box`` (default ``self.box``), ready
        for ``ax.contour(X1, X2, Z)``; arrays of namespace ``xp`` (default NumPy), float64.
        ``X1`` varies along columns and ``X2`` along rows, as ``meshgrid(indexing="xy")``."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"n must be an int >= 2, received {n!r}")
        (a1, b1), (a2, b2) = self.box if box is None else _check_box(box)
        xp = array_namespace(np.empty(0)) if xp is None else xp
        if not (hasattr(xp, "linspace") and hasattr(xp, "meshgrid")):
            raise TypeError(f"xp must be an array namespace (numpy, array_api_strict, cupy), "
                            f"received {type(xp).__name__} {xp!r}")
        t1 = xp.linspace(a1, b1, int(n), dtype=xp.float64)
        t2 = xp.linspace(a2, b2, int(n), dtype=xp.float64)
        X1, X2 = xp.meshgrid(t1, t2, indexing="xy")
        return X1, X2, self.f(xp.stack([X1, X2], axis=-1))

    def _repr_latex_(self) -> str:
        return f"$\\text{{{self.title}}}:\\quad {self.formula}$"

    def __repr__(self) -> str:
        return f"<surface {self.name}: {self.title}>"

    # -- helpers ------------------------------------------------------------------------------
    def _split(self, x: Any) -> tuple[ModuleType, Any, Any]:
        xp = chk.namespace(x=x)
        x = chk.as_float_array(xp, x, "x")
        if x.ndim == 0 or x.shape[-1] != 2:
            raise ValueError(
                f"x must have shape (2,) or (..., 2) (points in the plane), "
                f"received shape {tuple(x.shape)}"
            )
        return xp, x[..., 0], x[..., 1]

    def _f(self, xp: ModuleType, x1: Any, x2: Any) -> Any:
        raise NotImplementedError

    def _grad(self, xp: ModuleType, x1: Any, x2: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def _hess(self, xp: ModuleType, x1: Any, x2: Any) -> tuple[Any, Any, Any]:
        raise NotImplementedError


def _check_box(box: Any) -> Box:
    try:
        (a1, b1), (a2, b2) = box
        out = ((float(a1), float(b1)), (float(a2), float(b2)))
    except (TypeError, ValueError):
        raise ValueError(
            f"box must be ((x1_lo, x1_hi), (x2_lo, x2_hi)), received {box!r}"
        ) from None
    if not (out[0][0] < out[0][1] and out[1][0] < out[1][1]):
        raise ValueError(f"box must have lo < hi on both axes, received {box!r}")
    return out


def _newton_refine(surface: Surface, point: Point, steps: int = 30) -> Point:
    """Polish an approximate critical point with Newton's method (NumPy, float64)."""
    x = np.asarray(point, dtype=np.float64)
    for _ in range(steps):
        step = np.linalg.solve(surface.hessian(x), surface.grad(x))
        x = x - step
        if np.max(np.abs(step)) < 1e-15:
            break
    return float(x[0]), float(x[1])


def _fmt(v: float) -> str:
    return f"{v:g}"


# --------------------------------------------------------------------------- quadratic
class Quadratic(Surface):
    r"""Quadratic bowl :math:`f(x) = \tfrac12 (x - c)^\top A (x - c)` with symmetric :math:`A`.

    Two ways to build it:

    * ``Quadratic(a=0.1, b=2.0)``: :math:`f(x) = a\,(x_1-c_1)^2 + b\,(x_2-c_2)^2`, i.e.
      :math:`A = \mathrm{diag}(2a, 2b)` (the ill-conditioned bowl of d2l's chapter on GD).
    * ``Quadratic(A=[[3, 1], [1, 2]])``: :math:`f(x) = \tfrac12 (x - c)^\top A (x - c)`.
    * ``Quadratic.with_condition_number(kappa, lam_min=1.0, angle=0.0)``: eigenvalues
      ``lam_min`` and ``kappa * lam_min``, eigenvectors rotated by ``angle`` radians.

    The Hessian is :math:`A` everywhere, the gradient :math:`A(x - c)`. ``eigenvalues``
    (ascending), ``eigenvectors`` (columns) and ``condition_number``
    :math:`\kappa = \lambda_{\max}/\lambda_{\min}` describe it (κ is ``inf`` unless A is
    positive definite). Gradient descent with step η converges iff :math:`0 < \eta < 2/\lambda_{\max}`.
    """

    name = "quadratic"
    title = "Quadratic"
    box = ((-5.0, 5.0), (-3.0, 3.0))
    start = (-4.0, -2.0)

    def __init__(self, a: float = 0.1, b: float = 2.0, *, A: Any = None,
                 center: Point = (0.0, 0.0)) -> None:
        try:
            c = np.asarray(center, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"center must be a pair of numbers, received {center!r}") from None
        if c.shape != (2,) or not np.all(np.isfinite(c)):
            raise ValueError(f"center must be 2 finite numbers, received {center!r}")
        self.center: Point = (float(c[0]), float(c[1]))
        if A is None:
            a = chk.check_number(a, "a")
            b = chk.check_number(b, "b")
            self.A = np.array([[2.0 * a, 0.0], [0.0, 2.0 * b]])
            self.formula = (
                f"f(x) = {_fmt(a)}\\,{self._shifted(1)}^2 + {_fmt(b)}\\,{self._shifted(2)}^2"
            )
        else:
            try:
                A_np = np.array(A, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"A must be a 2x2 matrix of numbers, received {A!r}") from None
            if A_np.shape != (2, 2) or not np.all(np.isfinite(A_np)):
                raise ValueError(f"A must be a finite 2x2 matrix, received shape {A_np.shape}")
            if not np.allclose(A_np, A_np.T, rtol=0.0, atol=1e-12 * max(1.0, np.abs(A_np).max())):
                raise ValueError(f"A must be symmetric, received {A_np.tolist()}")
            self.A = 0.5 * (A_np + A_np.T)
            (p, q), (_, r) = self.A
            self.formula = (
                f"f(x) = \\tfrac12 (x - c)^\\top A (x - c),\\quad A = \\begin{{pmatrix}} "
                f"{_fmt(p)} & {_fmt(q)} \\\\ {_fmt(q)} & {_fmt(r)} \\end{{pmatrix}},\\ "
                f"c = ({_fmt(self.center[0])}, {_fmt(self.center[1])})"
            )
        lam, vec = np.linalg.eigh(self.A)
        self.eigenvalues: np.ndarray = lam
        self.eigenvectors: np.ndarray = vec
        self.condition_number: float = float(lam[1] / lam[0]) if lam[0] > 0 else math.inf
        self.minima = (self.center,) if lam[0] > 0 else ()
        self.saddles = (self.center,) if lam[0] < 0 < lam[1] else ()
        self.maxima = (self.center,) if lam[1] < 0 else ()
        self.f_min = 0.0 if lam[0] > 0 else None
        self.log_scale = False

    @classmethod
    def with_condition_number(cls, kappa: float, lam_min: float = 1.0,
                              angle: float = 0.0, center: Point = (0.0, 0.0)) -> Quadratic:
        r"""A quadratic with eigenvalues ``lam_min`` and ``kappa * lam_min``:
        :math:`A = R\,\mathrm{diag}(\lambda_{\min}, \kappa\lambda_{\min})\,R^\top`, :math:`R`
        the rotation by ``angle`` (radians), so its condition number is exactly ``kappa``."""
        kappa = chk.check_number(kappa, "kappa", low=1.0)
        lam_min = chk.check_number(lam_min, "lam_min", low=0.0, low_open=True)
        angle = chk.check_number(angle, "angle")
        R = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        A = R @ np.diag([lam_min, kappa * lam_min]) @ R.T
        return cls(A=0.5 * (A + A.T), center=center)

    def _shifted(self, i: int) -> str:
        c = self.center[i - 1]
        if c == 0:
            return f"x_{i}"
        return f"(x_{i} {'-' if c > 0 else '+'} {_fmt(abs(c))})"

    def _coeffs(self) -> tuple[float, float, float, float, float]:
        (p, q), (_, r) = self.A
        return float(p), float(q), float(r), self.center[0], self.center[1]

    def _f(self, xp, x1, x2):
        p, q, r, c1, c2 = self._coeffs()
        d1, d2 = x1 - c1, x2 - c2
        return 0.5 * (p * d1 * d1 + 2.0 * q * d1 * d2 + r * d2 * d2)

    def _grad(self, xp, x1, x2):
        p, q, r, c1, c2 = self._coeffs()
        d1, d2 = x1 - c1, x2 - c2
        return p * d1 + q * d2, q * d1 + r * d2

    def _hess(self, xp, x1, x2):
        p, q, r, _, _ = self._coeffs()
        return xp.full_like(x1, p), xp.full_like(x1, q), xp.full_like(x1, r)

    def __repr__(self) -> str:
        return (f"<surface quadratic: eigenvalues {self.eigenvalues[0]:g}, "
                f"{self.eigenvalues[1]:g}; condition number {self.condition_number:g}>")


# --------------------------------------------------------------------------- classics
class Rosenbrock(Surface):
    r"""Rosenbrock's banana valley :math:`f(x) = (a - x_1)^2 + b\,(x_2 - x_1^2)^2`.

    Minimum :math:`(a, a^2)` with :math:`f = 0` at the end of a long, curved, flat-bottomed
    valley; at the minimum (a=1, b=100) the Hessian has condition number ≈ 2508.
    """

    name = "rosenbrock"
    title = "Rosenbrock"
    box = ((-2.0, 2.0), (-1.0, 3.0))
    start = (-1.5, 2.0)
    log_scale = True
    f_min = 0.0

    def __init__(self, a: float = 1.0, b: float = 100.0) -> None:
        self.a = chk.check_number(a, "a")
        self.b = chk.check_number(b, "b", low=0.0, low_open=True)
        self.minima = ((self.a, self.a * self.a),)
        self.formula = f"f(x) = ({_fmt(self.a)} - x_1)^2 + {_fmt(self.b)}\\,(x_2 - x_1^2)^2"

    def _f(self, xp, x1, x2):
        u, v = self.a - x1, x2 - x1 * x1
        return u * u + self.b * v * v

    def _grad(self, xp, x1, x2):
        v = x2 - x1 * x1
        return -2.0 * (self.a - x1) - 4.0 * self.b * x1 * v, 2.0 * self.b * v

    def _hess(self, xp, x1, x2):
        b = self.b
        return 2.0 - 4.0 * b * x2 + 12.0 * b * x1 * x1, -4.0 * b * x1, xp.full_like(x1, 2.0 * b)


class Beale(Surface):
    r"""Beale's function
    :math:`f(x) = (1.5 - x_1 + x_1x_2)^2 + (2.25 - x_1 + x_1x_2^2)^2 + (2.625 - x_1 + x_1x_2^3)^2`.

    Global minimum :math:`(3, 0.5)` with :math:`f = 0`; a saddle at :math:`(0, 1)`; flat
    plateaus and sharp ridges elsewhere (a classic for comparing optimizers).
    """

    name = "beale"
    title = "Beale"
    formula = (
        r"f(x) = (1.5 - x_1 + x_1 x_2)^2 + (2.25 - x_1 + x_1 x_2^2)^2"
        r" + (2.625 - x_1 + x_1 x_2^3)^2"
    )
    minima = ((3.0, 0.5),)
    saddles = ((0.0, 1.0),)
    f_min = 0.0
    box = ((-4.5, 4.5), (-4.5, 4.5))
    start = (1.0, 1.5)
    log_scale = True
    _c = (1.5, 2.25, 2.625)

    def _terms(self, x1, x2):
        """u_i, du_i/dx1, du_i/dx2, d2u_i/dx1dx2, d2u_i/dx2^2 for i = 1, 2, 3."""
        out = []
        for i, c in enumerate(self._c, start=1):
            p_i, p_im1 = x2**i, x2 ** (i - 1)
            d12 = i * p_im1
            d22 = i * (i - 1) * x1 * x2 ** (i - 2) if i >= 2 else 0.0 * x1
            out.append((c - x1 + x1 * p_i, p_i - 1.0, i * x1 * p_im1, d12, d22))
        return out

    def _f(self, xp, x1, x2):
        return sum(u * u for u, *_ in self._terms(x1, x2))

    def _grad(self, xp, x1, x2):
        t = self._terms(x1, x2)
        return sum(2.0 * u * a for u, a, *_ in t), sum(2.0 * u * b for u, _, b, *_ in t)

    def _hess(self, xp, x1, x2):
        t = self._terms(x1, x2)
        h11 = sum(2.0 * a * a for _, a, *_ in t)
        h12 = sum(2.0 * (a * b + u * d12) for u, a, b, d12, _ in t)
        h22 = sum(2.0 * (b * b + u * d22) for u, _, b, _, d22 in t)
        return h11, h12, h22


class Himmelblau(Surface):
    r"""Himmelblau's function :math:`f(x) = (x_1^2 + x_2 - 11)^2 + (x_1 + x_2^2 - 7)^2`.

    Four global minima with :math:`f = 0` (one is :math:`(3, 2)`), one local maximum and four
    saddles: which minimum gradient descent finds depends on where it starts.
    """

    name = "himmelblau"
    title = "Himmelblau"
    formula = r"f(x) = (x_1^2 + x_2 - 11)^2 + (x_1 + x_2^2 - 7)^2"
    f_min = 0.0
    box = ((-5.0, 5.0), (-5.0, 5.0))
    start = (-0.5, 0.5)
    log_scale = True

    def __init__(self) -> None:
        approx_min = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                      (3.584428, -1.848126))
        approx_saddle = ((0.086678, 2.884255), (-3.073026, -0.081353), (3.385154, 0.073852),
                         (-0.127961, -1.953715))
        self.minima = tuple(_newton_refine(self, p) for p in approx_min)
        self.saddles = tuple(_newton_refine(self, p) for p in approx_saddle)
        self.maxima = (_newton_refine(self, (-0.270845, -0.923039)),)

    def _f(self, xp, x1, x2):
        u, v = x1 * x1 + x2 - 11.0, x1 + x2 * x2 - 7.0
        return u * u + v * v

    def _grad(self, xp, x1, x2):
        u, v = x1 * x1 + x2 - 11.0, x1 + x2 * x2 - 7.0
        return 4.0 * x1 * u + 2.0 * v, 2.0 * u + 4.0 * x2 * v

    def _hess(self, xp, x1, x2):
        return (12.0 * x1 * x1 + 4.0 * x2 - 42.0, 4.0 * (x1 + x2),
                4.0 * x1 + 12.0 * x2 * x2 - 26.0)


class Saddle(Surface):
    r"""The saddle :math:`f(x) = x_1^2 - x_2^2`: a minimum along :math:`x_1`, a maximum along
    :math:`x_2`. The origin is a critical point with Hessian :math:`\mathrm{diag}(2, -2)`
    (indefinite); :math:`f` is unbounded below, so there is no minimum. Gradient descent
    started on the :math:`x_2 = 0` axis converges to the saddle; any tiny :math:`x_2`
    offset grows and escapes."""

    name = "saddle"
    title = "Saddle"
    formula = r"f(x) = x_1^2 - x_2^2"
    saddles = ((0.0, 0.0),)
    box = ((-2.0, 2.0), (-2.0, 2.0))
    start = (-1.5, 0.01)

    def _f(self, xp, x1, x2):
        return x1 * x1 - x2 * x2

    def _grad(self, xp, x1, x2):
        return 2.0 * x1, -2.0 * x2

    def _hess(self, xp, x1, x2):
        return xp.full_like(x1, 2.0), xp.zeros_like(x1), xp.full_like(x1, -2.0)


class MonkeySaddle(Surface):
    r"""The monkey saddle :math:`f(x) = x_1^3 - 3x_1x_2^2` (three valleys, three ridges).

    The origin is a *degenerate* critical point: gradient and Hessian are both zero there, so
    the second-derivative test says nothing, yet it is neither a minimum nor a maximum. Away
    from the origin the Hessian has eigenvalues :math:`\pm 6\lVert x\rVert` (indefinite).
    """

    name = "monkey_saddle"
    title = "Monkey saddle"
    formula = r"f(x) = x_1^3 - 3 x_1 x_2^2"
    saddles = ((0.0, 0.0),)
    box = ((-1.5, 1.5), (-1.5, 1.5))
    start = (-1.0, 0.1)

    def _f(self, xp, x1, x2):
        return x1 * x1 * x1 - 3.0 * x1 * x2 * x2

    def _grad(self, xp, x1, x2):
        return 3.0 * x1 * x1 - 3.0 * x2 * x2, -6.0 * x1 * x2

    def _hess(self, xp, x1, x2):
        return 6.0 * x1, -6.0 * x2, -6.0 * x1


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (Quadratic(), Rosenbrock(), Beale(), Himmelblau(), Saddle(), MonkeySaddle())
}
