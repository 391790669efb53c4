r"""Chapter 04, notebooks 1 and 4: what the Hessian says about the ground, and sharpness.

* :func:`taylor_dashboard`: sliders move the expansion point :math:`p` over a 2-D surface; the
  second-order Taylor model
  :math:`q(p + d) = f(p) + \nabla f(p)^\top d + \tfrac12 d^\top \nabla^2 f(p)\, d` is drawn
  (dashed level lines, near :math:`p`) over the contours of :math:`f`, with the Hessian's
  eigenvectors (blue: curves up, red: curves down) and the verdict of
  :func:`edulib.hessian.classify_critical_point`.
* :func:`saddle_escape_dashboard`: gradient descent from a point on the stable manifold of the
  saddle :math:`f = x_1^2 - x_2^2` (the :math:`x_1` axis), plus a perturbation of size
  :math:`\sigma` along :math:`x_2` (slider): the perturbation grows by :math:`(1 + 2\eta)` per
  step, so the run leaves the saddle after about
  :math:`\log(R/\sigma)/\log(1 + 2\eta)` steps; with :math:`\sigma = 0` it never does.
* :func:`sharpness_dashboard`: a slider over precomputed
  :class:`~edulib.hessian.SharpnessTrace` runs (one per learning rate): the sharpness and its
  :math:`2/\eta` line, and the training loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from contourpy import contour_generator

from .. import _checks as chk
from .. import functions as _functions
from .. import hessian as _hessian
from .core import SLIDER_LAYOUT, WIDE, Dashboard, _new_figure

__all__ = ["escape_steps", "quadratic_model", "saddle_escape_dashboard", "sharpness_dashboard",
           "taylor_dashboard"]

NOISES = (0.0, 1e-12, 1e-9, 1e-6, 1e-3, 1e-1)


# ----------------------------------------------------------------------------- Taylor model
def quadratic_model(surface: Any, p: Any, X1: Any, X2: Any) -> np.ndarray:
    r"""The second-order Taylor model of ``surface`` around ``p`` on the grid ``(X1, X2)``:
    :math:`q(p + d) = f(p) + g^\top d + \frac12 d^\top H d` with :math:`g = \nabla f(p)`,
    :math:`H = \nabla^2 f(p)` (NumPy, float64)."""
    p = np.asarray(p, dtype=np.float64)
    g = np.asarray(surface.grad(p))
    H = np.asarray(surface.hessian(p))
    d1, d2 = np.asarray(X1) - p[0], np.asarray(X2) - p[1]
    return (float(surface.f(p)) + g[0] * d1 + g[1] * d2
            + 0.5 * (H[0, 0] * d1 * d1 + 2.0 * H[0, 1] * d1 * d2 + H[1, 1] * d2 * d2))


def _levels_to_line(X1: np.ndarray, X2: np.ndarray, Z: np.ndarray,
                    levels: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """All level lines of Z as one NaN-separated polyline (one Line2D, updated with set_data)."""
    gen = contour_generator(X1, X2, Z)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for lev in levels:
        for seg in gen.lines(lev):
            xs += [seg[:, 0], [np.nan]]
            ys += [seg[:, 1], [np.nan]]
    if not xs:
        return np.array([np.nan]), np.array([np.nan])
    return np.concatenate(xs), np.concatenate(ys)


def taylor_dashboard(surface: Any = None, point: Sequence[float] | None = None, *,
                     radius: float = 1.0, n_levels: int = 12, grid: int = 81) -> Dashboard:
    r"""Move the expansion point :math:`p` (sliders ``x1``, ``x2``) over ``surface`` (default
    :class:`~edulib.functions.Himmelblau`, which has minima, saddles and a maximum) and compare
    its contours (solid, grey) with those of the quadratic model :math:`q` (dashed, black) in
    the square of half-width ``radius`` around :math:`p`; the arrows are the Hessian's
    eigenvectors, length ∝ :math:`\sqrt{|\lambda|}`, blue for :math:`\lambda > 0` and red for
    :math:`\lambda < 0`.

    ``state``: ``point``, ``f``, ``grad``, ``eigenvalues`` (ascending), ``kind`` and ``reason``
    (:func:`~edulib.hessian.classify_critical_point` with ``tol=1e-3``, so a point picked on a
    slider near a critical point counts), ``model_error`` (max :math:`|f - q|` over the window),
    ``levels`` (the contour values shared by f and q).
    """
    s = _functions.Himmelblau() if surface is None else surface
    if not (hasattr(s, "grad") and hasattr(s, "hessian") and hasattr(s, "box")):
        raise TypeError("surface must be an edulib.functions surface (f, grad, hessian, box), "
                        f"received {type(s).__name__}")
    radius = chk.check_number(radius, "radius", low=0.0, low_open=True)
    n_levels = chk.check_int(n_levels, "n_levels", low=2)
    grid = chk.check_int(grid, "grid", low=5)
    (a1, b1), (a2, b2) = s.box
    p0 = (s.saddles[0] if s.saddles else s.start) if point is None else point
    try:
        p0 = (float(p0[0]), float(p0[1]))
    except (TypeError, IndexError, ValueError):
        raise ValueError(f"point must be a pair (x1, x2), received {point!r}") from None
    if not (a1 <= p0[0] <= b1 and a2 <= p0[1] <= b2):
        raise ValueError(f"point must lie in the surface's box {s.box}, received {p0}")
    controls = {
        name: widgets.FloatSlider(value=v, min=lo, max=hi, step=(hi - lo) / 200,
                                  description=f"p: {name}", readout_format=".2f",
                                  continuous_update=True, style=WIDE,
                                  layout=widgets.Layout(**SLIDER_LAYOUT))
        for name, v, lo, hi in (("x1", p0[0], a1, b1), ("x2", p0[1], a2, b2))
    }
    fig, ax = _new_figure((6.6, 4.6), 1)
    X1, X2, Z = (np.asarray(a) for a in s.grid(121))
    lo, hi = float(np.min(Z)), float(np.quantile(Z, 0.6))
    levels = np.linspace(lo, hi, n_levels + 2)[1:-1]
    ax.contour(X1, X2, Z, levels=levels, colors="0.6", linewidths=0.8)
    for pts, marker, label in ((s.minima, "o", "minimum"), (s.saddles, "x", "saddle"),
                               (s.maxima, "^", "maximum")):
        if pts:
            ax.plot(*np.asarray(pts).T, marker, color="0.3", ms=6, ls="none", label=label)
    art: dict[str, Any] = {
        "model": ax.plot([], [], "k--", lw=1.2, label="quadratic model q")[0],
        "window": ax.plot([], [], color="0.2", lw=0.6, alpha=0.6)[0],
        "point": ax.plot([], [], "o", color="tab:orange", ms=8, label="p")[0],
        "up": ax.plot([], [], color="tab:blue", lw=2.5, label="λ > 0")[0],
        "down": ax.plot([], [], color="tab:red", lw=2.5, label="λ < 0")[0],
    }
    art["title"] = ax.set_title("")
    ax.set(xlim=(a1, b1), ylim=(a2, b2), xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=10)
    t = np.linspace(-radius, radius, grid)
    state: dict[str, Any] = {"levels": levels}

    def update() -> None:
        p = np.array([controls["x1"].value, controls["x2"].value], dtype=np.float64)
        W1, W2 = np.meshgrid(p[0] + t, p[1] + t)
        Q = quadratic_model(s, p, W1, W2)
        F = np.asarray(s.f(np.stack([W1, W2], axis=-1)))
        art["model"].set_data(*_levels_to_line(W1, W2, Q, levels))
        art["window"].set_data(p[0] + radius * np.array([-1, 1, 1, -1, -1]),
                               p[1] + radius * np.array([-1, -1, 1, 1, -1]))
        art["point"].set_data([p[0]], [p[1]])
        g = np.asarray(s.grad(p))
        H = np.asarray(s.hessian(p))
        res = _hessian.classify_critical_point(g, H, tol=1e-3)
        lam, vec = np.linalg.eigh(H)
        scale = 0.9 * radius / math.sqrt(max(np.max(np.abs(lam)), 1e-12))
        segs = {"up": ([], []), "down": ([], [])}
        for lam_i, v in zip(lam, vec.T, strict=True):
            key = "up" if lam_i > 0 else "down"
            d = v * scale * math.sqrt(abs(lam_i))
            segs[key][0].extend([p[0] - d[0], p[0] + d[0], np.nan])
            segs[key][1].extend([p[1] - d[1], p[1] + d[1], np.nan])
        for key, (xs, ys) in segs.items():
            art[key].set_data(xs, ys)
        err = float(np.max(np.abs(F - Q)))
        art["title"].set_text(f"p = ({p[0]:.2f}, {p[1]:.2f}): {res.kind}")
        state.update(point=p, f=float(s.f(p)), grad=g, eigenvalues=lam, kind=res.kind,
                     reason=res.reason, model_error=err, hessian=H)
        state["_readout"] = (
            f"<b>{res.kind}</b>: |∇f| = {np.linalg.norm(g):.3g}, eigenvalues of ∇²f: "
            f"{lam[0]:.3g}, {lam[1]:.3g} &nbsp; | &nbsp; max |f − q| in the square: {err:.3g}")

    dash = Dashboard(fig, art, controls, update, state,
                     panel=[widgets.HBox([controls["x1"], controls["x2"]])])
    dash.surface = s
    return dash


# ----------------------------------------------------------------------------- saddle escape
def escape_steps(sigma: float, lr: float, radius: float = 1.0) -> float:
    r"""Steps until a perturbation :math:`\sigma` along the descending direction of
    :math:`x_1^2 - x_2^2` exceeds ``radius`` under gradient descent:
    :math:`x_{2,k} = \sigma (1 + 2\eta)^k`, so :math:`k = \lceil \log(R/\sigma) /
    \log(1 + 2\eta)\rceil` (``inf`` for :math:`\sigma = 0`: the run never leaves)."""
    sigma = chk.check_number(sigma, "sigma", low=0.0)
    lr = chk.check_number(lr, "lr", low=0.0, low_open=True)
    radius = chk.check_number(radius, "radius", low=0.0, low_open=True)
    if sigma == 0.0:
        return math.inf
    if sigma >= radius:
        return 0.0
    return float(math.ceil(math.log(radius / sigma) / math.log1p(2.0 * lr) - 1e-12))


def _saddle_run(x1_0: float, sigma: float, lr: float, steps: int, radius: float
                ) -> tuple[np.ndarray, int | None]:
    s = _functions.Saddle()
    xs = np.empty((steps + 1, 2))
    x = np.array([x1_0, sigma])
    left = None
    for k in range(steps + 1):
        xs[k] = x
        if left is None and abs(x[1]) > radius:
            left = k
        x = x - lr * np.asarray(s.grad(x))
    return xs, left


def saddle_escape_dashboard(lr: float = 0.2, *, x1_0: float = -1.5, steps: int = 100,
                            radius: float = 1.0, noises: Sequence[float] = NOISES,
                            sigma: float = 1e-6) -> Dashboard:
    r"""Gradient descent (learning rate η = ``lr``) on :math:`f = x_1^2 - x_2^2` from
    :math:`(x_{1,0}, \sigma)`: on the stable manifold (the :math:`x_1` axis) plus a
    perturbation :math:`\sigma` (slider over ``noises``) along the eigenvector of the negative
    eigenvalue :math:`-2`. :math:`x_1` shrinks by :math:`(1 - 2\eta)` per step, :math:`x_2`
    grows by :math:`(1 + 2\eta)`: the path first slides to the saddle, then leaves along
    :math:`x_2` after :func:`escape_steps` steps (when :math:`|x_2| >` ``radius``);
    :math:`\sigma = 0` stays on the axis and converges to the saddle.

    ``state``: ``sigma``, ``xs`` (the path), ``escaped_at`` (first step with
    :math:`|x_2| >` radius, None if never), ``predicted`` (:func:`escape_steps`),
    ``final_distance`` (distance of the last point from the saddle).
    """
    lr = chk.check_number(lr, "lr", low=0.0, low_open=True, high=0.5, high_open=True)
    steps = chk.check_int(steps, "steps", low=1)
    radius = chk.check_number(radius, "radius", low=0.0, low_open=True)
    x1_0 = chk.check_number(x1_0, "x1_0")
    opts = sorted({chk.check_number(v, "noises", low=0.0) for v in noises})
    if not opts:
        raise ValueError("noises must list at least one perturbation size, received []")
    sigma = chk.check_number(sigma, "sigma", low=0.0)
    if sigma not in opts:
        raise ValueError(f"sigma must be one of noises {opts}, received {sigma!r}")
    controls = {"sigma": widgets.SelectionSlider(
        options=[("0" if v == 0 else f"{v:.0e}", v) for v in opts], value=sigma,
        description="perturbation σ", continuous_update=True, style=WIDE,
        layout=widgets.Layout(**SLIDER_LAYOUT))}
    fig, (ax_c, ax_d) = _new_figure((10.0, 4.0), 2)
    s = _functions.Saddle()
    X1, X2, Z = (np.asarray(a) for a in s.grid(101))
    ax_c.contour(X1, X2, Z, levels=np.linspace(-3.5, 3.5, 15), colors="0.6", linewidths=0.8)
    ax_c.plot([0], [0], "kx", ms=9, label="saddle")
    ax_c.axhline(0.0, color="tab:green", lw=1, ls=":", label="stable manifold ($x_2=0$)")
    art: dict[str, Any] = {
        "path": ax_c.plot([], [], ".-", color="tab:orange", ms=3, lw=1, label="GD path")[0],
        "dist": ax_d.plot([], [], color="tab:orange", lw=1.5, label="distance to the saddle")[0],
        "theory": ax_d.plot([], [], "k--", lw=1, label=r"$\sigma(1+2\eta)^k$")[0],
        "escape": ax_d.axvline(np.nan, color="tab:red", lw=1, ls=":", label="|x₂| > R"),
    }
    ax_c.set(xlim=(-2, 2), ylim=(-2, 2), aspect="equal", xlabel="$x_1$", ylabel="$x_2$")
    ax_c.legend(loc="lower right", fontsize=10)
    ax_d.set_yscale("log")
    ax_d.set(xlim=(0, steps), ylim=(1e-13, 1e3), xlabel="step k",
             ylabel="distance from the saddle")
    ax_d.axhline(radius, color="0.5", lw=0.8)
    ax_d.legend(loc="lower right", fontsize=10)
    art["title"] = ax_d.set_title("")
    k = np.arange(steps + 1)
    state: dict[str, Any] = {"lr": lr, "radius": radius}

    def update() -> None:
        sg = float(controls["sigma"].value)
        xs, left = _saddle_run(x1_0, sg, lr, steps, radius)
        shown = np.minimum(np.abs(xs), 10.0)  # clip the escaped part to the plot
        art["path"].set_data(np.sign(xs[:, 0]) * shown[:, 0], np.sign(xs[:, 1]) * shown[:, 1])
        dist = np.hypot(xs[:, 0], xs[:, 1])
        art["dist"].set_data(k, dist)
        art["theory"].set_data(k, sg * (1.0 + 2.0 * lr) ** k if sg > 0 else np.full(k.shape,
                                                                                    np.nan))
        art["escape"].set_xdata([np.nan if left is None else left] * 2)
        pred = escape_steps(sg, lr, radius)
        state.update(sigma=sg, xs=xs, escaped_at=left, predicted=pred,
                     final_distance=float(dist[-1]))
        if left is None:
            msg = f"σ = {sg:.0e}: still at the saddle after {steps} steps"
            if sg == 0.0:
                msg = f"σ = 0: converges to the saddle (distance {dist[-1]:.1e} after {steps} steps)"
        else:
            msg = f"σ = {sg:.0e}: leaves after {left} steps (predicted {pred:.0f})"
        art["title"].set_text(msg.split(":")[0] + (": stuck" if left is None else
                                                   f": escapes at k = {left}"))
        state["_readout"] = msg + f"; η = {lr:g}, growth factor 1 + 2η = {1 + 2 * lr:g} per step"

    dash = Dashboard(fig, art, controls, update, state)
    return dash


# ----------------------------------------------------------------------------- sharpness
def sharpness_dashboard(traces: Sequence[Any], lr: float | None = None) -> Dashboard:
    r"""A slider over precomputed :class:`~edulib.hessian.SharpnessTrace` runs (one per
    learning rate η, from :func:`edulib.hessian.track_sharpness`): left, the sharpness
    :math:`\lambda_{\max}` per step with the stability threshold :math:`2/\eta`; right, the
    training loss (log scale). Moving the slider only moves artists.

    ``state``: ``lr``, ``threshold`` (2/η), ``final_sharpness``, ``median_last`` (median
    sharpness over the last quarter of checkpoints), ``ratio`` (``median_last`` / threshold),
    ``loss_ups`` (steps where the loss went up) and ``final_loss``.
    """
    traces = list(traces)
    if not traces:
        raise ValueError("traces must hold at least one SharpnessTrace, received []")
    for i, tr in enumerate(traces):
        if not all(hasattr(tr, a) for a in ("lr", "steps", "sharpness", "loss")):
            raise TypeError(f"traces[{i}] must be an edulib.hessian.SharpnessTrace, "
                            f"received {type(tr).__name__}")
    by_lr = {float(tr.lr): tr for tr in traces}
    if len(by_lr) != len(traces):
        raise ValueError(f"traces must have distinct learning rates, received "
                         f"{[tr.lr for tr in traces]}")
    lrs = sorted(by_lr)
    lr0 = lrs[-1] if lr is None else float(lr)
    if lr0 not in by_lr:
        raise ValueError(f"lr must be one of the traces' learning rates {lrs}, received {lr!r}")
    controls = {"lr": widgets.SelectionSlider(
        options=[(f"{v:g}", v) for v in lrs], value=lr0, description="learning rate η",
        continuous_update=True, style=WIDE, layout=widgets.Layout(**SLIDER_LAYOUT))}
    fig, (ax_s, ax_l) = _new_figure((10.0, 3.8), 2)
    n_steps = max(len(tr.loss) - 1 for tr in traces)
    top = max(max(float(np.max(tr.sharpness)) for tr in traces),
              max(2.0 / v for v in lrs)) * 1.15
    lows = [float(np.nanmin(tr.loss)) for tr in traces]
    highs = [float(np.nanmax(tr.loss)) for tr in traces]
    art: dict[str, Any] = {
        "sharpness": ax_s.plot([], [], ".-", color="tab:blue", ms=3, lw=1.2,
                               label=r"sharpness $\lambda_{\max}$")[0],
        "threshold": ax_s.axhline(np.nan, color="tab:red", ls="--", lw=1.2, label=r"$2/\eta$"),
        "loss": ax_l.plot([], [], color="tab:purple", lw=1)[0],
    }
    ax_s.set(xlim=(0, n_steps), ylim=(0, top), xlabel="step", ylabel=r"$\lambda_{\max}$")
    ax_s.legend(loc="upper right", fontsize=10)
    ax_l.set_yscale("log")
    ax_l.set(xlim=(0, n_steps), ylim=(min(lows) * 0.7, max(highs) * 1.4), xlabel="step",
             ylabel="training loss")
    art["title"] = ax_s.set_title("")
    state: dict[str, Any] = {"lrs": lrs}

    def update() -> None:
        v = float(controls["lr"].value)
        tr = by_lr[v]
        sh = np.asarray(tr.sharpness)
        art["sharpness"].set_data(np.asarray(tr.steps), sh)
        art["threshold"].set_ydata([2.0 / v] * 2)
        L = np.asarray(tr.loss)
        ok = np.isfinite(L)
        art["loss"].set_data(np.arange(L.size)[ok], L[ok])
        q = max(1, len(sh) // 4)
        med = float(np.median(sh[-q:]))
        ups = int(np.sum(np.diff(L[ok]) > 0))
        art["title"].set_text(f"η = {v:g}: 2/η = {2 / v:.3g}")
        state.update(lr=v, threshold=2.0 / v, final_sharpness=float(sh[-1]), median_last=med,
                     ratio=med / (2.0 / v), loss_ups=ups, final_loss=float(L[ok][-1]))
        state["_readout"] = (f"η = {v:g}: sharpness now {sh[-1]:.3f}, median of the last quarter "
                             f"{med:.3f} = {med / (2.0 / v):.2f} × 2/η; the loss went up on {ups} "
                             f"steps and ended at {L[ok][-1]:.4f}")

    dash = Dashboard(fig, art, controls, update, state)
    dash.traces = by_lr
    return dash
