r"""Chapter 03 dashboards: :func:`momentum_dashboard` (heavy ball and Nesterov on a narrow
valley, in the spirit of Distill's "Why Momentum Really Works"), and the numbers it shows:
:func:`momentum_rate` (the theoretical convergence rate on a quadratic),
:func:`optimal_momentum` (the best η and μ from the extreme eigenvalues) and
:func:`measured_rate` (the rate read off a run).

Momentum as :class:`edulib.optim.SGD` (PyTorch) runs it, with gradient :math:`g_k`:

.. math::
    b_k = \mu\, b_{k-1} + g_k, \qquad \theta_{k+1} = \theta_k - \eta\, b_k
    \quad\text{(heavy ball)}, \qquad \theta_{k+1} = \theta_k - \eta\,(g_k + \mu b_k)
    \quad\text{(Nesterov)}.

On :math:`f(\theta) = \tfrac12 \theta^\top A \theta` each eigen-direction (eigenvalue
:math:`\lambda`) evolves on its own: heavy ball
:math:`x_{k+1} = (1 + \mu - \eta\lambda)\,x_k - \mu\,x_{k-1}`, Nesterov
:math:`x_{k+1} = (1+\mu)(1-\eta\lambda)\,x_k - \mu(1-\eta\lambda)\,x_{k-1}`. The error
shrinks like :math:`\rho^k`, :math:`\rho` the largest root modulus of the characteristic
polynomial over the eigenvalues.
"""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets
import numpy as np

from .. import _checks as chk
from ..functions import SURFACES, Quadratic
from ..plots import plot_contour, plot_trajectory, trajectory_data
from ..train import run_on_surface
from .core import (
    WIDE,
    Dashboard,
    OptimizerChoice,
    _FastDashboard,
    _new_figure,
    distance_to_minimum,
    log_axis,
    on_grid,
    plottable,
    surface_choice,
)

__all__ = ["measured_rate", "momentum_dashboard", "momentum_rate", "optimal_momentum"]


def momentum_rate(eigenvalues: Any, lr: float, momentum: float, nesterov: bool = False) -> float:
    r"""The convergence rate :math:`\rho` of momentum on a quadratic with Hessian eigenvalues
    ``eigenvalues``: the largest modulus of the roots of :math:`z^2 - (1+\mu-\eta\lambda)z +
    \mu` (heavy ball) or :math:`z^2 - (1+\mu)(1-\eta\lambda)z + \mu(1-\eta\lambda)`
    (Nesterov), over the eigenvalues :math:`\lambda`. The error of the iterates shrinks like
    :math:`\rho^k` (grows when :math:`\rho > 1`); :math:`\mu = 0` gives GD's
    :math:`\max_\lambda |1-\eta\lambda|`.

    ``eigenvalues``: a number or a non-empty 1-D array of finite reals (negative ones, directions
    of negative curvature, give :math:`\rho > 1`); ``lr`` :math:`\eta \ge 0`; ``momentum``
    :math:`\mu \ge 0` (the heavy ball's two roots multiply to :math:`\mu`, so
    :math:`\mu \ge 1` gives :math:`\rho \ge 1`); ``nesterov`` True or False."""
    lam = chk.as_float_array(np, eigenvalues, "eigenvalues", dtype=np.float64)
    if lam.ndim > 1:
        raise ValueError(f"eigenvalues must be a number or a 1-D array, received shape "
                         f"{lam.shape}")
    lam = np.atleast_1d(lam)
    chk.check_nonempty(lam, "eigenvalues")
    chk.check_finite(np, lam, "eigenvalues")
    eta = chk.check_number(lr, "lr", low=0.0)
    mu = chk.check_number(momentum, "momentum", low=0.0)
    if chk.check_bool(nesterov, "nesterov"):
        b, c = (1.0 + mu) * (1.0 - eta * lam), mu * (1.0 - eta * lam)
    else:
        b, c = 1.0 + mu - eta * lam, np.full_like(lam, mu)
    disc = np.sqrt((b * b - 4.0 * c).astype(np.complex128))
    roots = np.abs(np.stack([(b + disc) / 2.0, (b - disc) / 2.0]))
    return float(roots.max())


def optimal_momentum(lam_min: float, lam_max: float) -> dict[str, float]:
    r"""The heavy ball's best constant step and momentum for eigenvalues in
    :math:`[\lambda_{\min}, \lambda_{\max}]`, :math:`\kappa = \lambda_{\max}/\lambda_{\min}`:

    .. math::
        \eta^* = \Bigl(\frac{2}{\sqrt{\lambda_{\max}} + \sqrt{\lambda_{\min}}}\Bigr)^2,\quad
        \mu^* = \Bigl(\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}\Bigr)^2,\quad
        \rho^* = \sqrt{\mu^*} = \frac{\sqrt\kappa - 1}{\sqrt\kappa + 1},

    next to plain GD at its best step :math:`\eta_{GD} = 2/(\lambda_{\min} + \lambda_{\max})`,
    rate :math:`(\kappa - 1)/(\kappa + 1)`. Returns ``{"lr", "momentum", "rate", "kappa",
    "gd_lr", "gd_rate"}``."""
    lo = chk.check_number(lam_min, "lam_min", low=0.0, low_open=True)
    hi = chk.check_number(lam_max, "lam_max", low=lo)
    kappa = hi / lo
    sk = math.sqrt(kappa)
    return {"lr": (2.0 / (math.sqrt(hi) + math.sqrt(lo))) ** 2,
            "momentum": ((sk - 1.0) / (sk + 1.0)) ** 2, "rate": (sk - 1.0) / (sk + 1.0),
            "kappa": kappa, "gd_lr": 2.0 / (lo + hi), "gd_rate": (kappa - 1.0) / (kappa + 1.0)}


def measured_rate(xs: Any, x_min: Any, floor: float = 1e-10) -> float | None:
    r"""The convergence rate read off iterates ``xs`` (shape (k+1, d)) approaching ``x_min``:
    :math:`\exp` of the least-squares slope of :math:`\log e_k` over the second half of the
    run, with :math:`e_k = \sqrt{\lVert x_k - x^*\rVert^2 + \lVert x_{k-1} - x^*\rVert^2}`
    (the error of the state :math:`(x_k, x_{k-1})` that momentum updates: it does not dip to 0
    when the path swings through the minimum). The run is cut where :math:`e_k` first falls
    below ``floor`` times :math:`e_1` (rounding takes over there) or stops being finite.
    None with fewer than 4 usable steps."""
    pts = np.asarray(xs, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] < 2:
        raise ValueError(f"xs must have shape (k+1, d) with k >= 1, received {pts.shape}")
    d = pts - np.asarray(x_min, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        sq = np.sum(d * d, axis=1)
        e = np.sqrt(sq[1:] + sq[:-1])
    if not (np.isfinite(e[0]) and e[0] > 0):
        return None
    bad = ~np.isfinite(e) | (e <= floor * e[0])
    n = int(np.argmax(bad)) if bad.any() else e.size
    if n < 4:
        return None
    k = np.arange(n // 2, n, dtype=np.float64)
    slope = np.polyfit(k, np.log(e[n // 2:n]), 1)[0]
    return float(math.exp(min(float(slope), 700.0)))


def _local_eigenvalues(s: Any) -> np.ndarray | None:
    """Hessian eigenvalues at the (first) minimum: exact for a quadratic, the local picture
    otherwise; None without a minimum or when it is not strictly convex there."""
    if not s.minima:
        return None
    lam = np.linalg.eigvalsh(np.asarray(s.hessian(np.asarray(s.minima[0], dtype=np.float64))))
    return lam if lam[0] > 0 else None


def momentum_dashboard(surface: Any = "quadratic", *, lr: float | None = None,
                       momentum: float = 0.5, nesterov: bool = False, steps: int | None = None,
                       lr_range: tuple[float, float] = (1e-4, 2.0), max_steps: int = 1000,
                       tol: float = 1e-8) -> Dashboard:
    r"""Momentum on a narrow valley: sliders for η (log scale) and μ, a heavy-ball/Nesterov
    toggle, a surface choice (the ill-conditioned quadratic, Rosenbrock, or ``surface``) and a
    button that sets the best (η*, μ*) of :func:`optimal_momentum` for the Hessian at the
    minimum, to the sliders' precision (η on a log grid of 0.002 decades, μ in steps of 0.001;
    on a quadratic only: elsewhere that local optimum can blow up far from the minimum, where
    the valley is steeper). Every move re-runs :func:`edulib.train.run_on_surface` with
    :class:`edulib.optim.SGD` and moves the artists (blitting; < 50 ms a frame).

    Left: the contours and the path. Right: :math:`f(x_k) - f^*` on fixed log axes (from
    :math:`10^{-20}` to :math:`10^{4}` times the start's gap, so runs compare at a glance and
    a blow-up leaves through the top), and for a quadratic the theory
    :math:`(f(x_0) - f^*)\,\rho^{2k}` dashed.

    ``lr`` defaults to :math:`1/\lambda_{\max}` (Hessian at the minimum), ``steps`` to 100 on a
    quadratic and 500 otherwise; a new surface resets both. ``state`` holds ``surface``,
    ``lr``, ``momentum``, ``nesterov``, ``steps``, ``xs``, ``values``, ``gap``,
    ``measured_rate`` (:func:`measured_rate`; None when too short), ``theory_rate``
    (:func:`momentum_rate` with the eigenvalues at the minimum; None without one), ``optimum``
    (:func:`optimal_momentum`'s dict), ``steps_to_tol`` (first :math:`k` with
    :math:`f(x_k) - f^* \le` ``tol`` :math:`\cdot (f(x_0) - f^*)`, None if never),
    ``distance``, ``diverged``.
    """
    max_steps = chk.check_int(max_steps, "max_steps", low=1)
    chk.check_number(tol, "tol", low=0.0, low_open=True, high=1.0)
    nesterov = chk.check_bool(nesterov, "nesterov")
    pick = surface if not isinstance(surface, str) else SURFACES.get(surface, surface)
    surfaces, first = surface_choice(pick)
    offered = {k: v for k, v in surfaces.items() if k in (first, "quadratic", "rosenbrock")}
    presets = {name: _preset(s, lr_range, max_steps) for name, s in offered.items()}
    if steps is not None:
        steps = chk.check_int(steps, "steps", low=1, high=max_steps)
    lr0 = presets[first][0] if lr is None else lr
    controls: dict[str, Any] = {}
    choice = OptimizerChoice(controls, value="SGD", names=["SGD"], lr=lr0, lr_range=lr_range,
                             lr_step=0.002, initial={"momentum": momentum, "nesterov": nesterov})
    mu_slider = controls["momentum"]  # a finer grid than the spec's, so μ* is within 0.0005
    mu_slider.step, mu_slider.readout_format = 0.001, ".3f"
    choice.lr.value = on_grid(choice.lr, choice.lr.value)
    mu_slider.value = on_grid(mu_slider, mu_slider.value)
    controls["steps"] = widgets.IntSlider(value=steps or presets[first][1], min=1,
                                          max=max_steps, description="steps", style=WIDE)
    controls["surface"] = widgets.Dropdown(options=list(offered), value=first,
                                           description="surface", style=WIDE)
    best = widgets.Button(description="set the best η*, μ*", icon="bullseye",
                          layout=widgets.Layout(width="auto"))
    hold = {"on": False, "full": True}
    fig, (ax_c, ax_f) = _new_figure((10.0, 4.0), 2)
    fig.set_dpi(80)
    art: dict[str, Any] = dict(plot_trajectory(np.array([offered[first].start]), ax=ax_c))
    (art["theory"],) = ax_f.plot([0], [1.0], "--", lw=1.2, color="0.45", label=r"theory $\rho^{2k}$")
    (art["curve"],) = ax_f.plot([0], [1.0], "-", lw=1.6, color=art["path"].get_color(),
                                label="measured")
    ax_f.set_xlabel(r"step $k$")
    ax_f.set_ylabel(r"$f(x_k) - f^*$")
    ax_f.grid(True, which="major", alpha=0.3)
    ax_f.legend(frameon=False, fontsize="small", loc="upper right")
    state: dict[str, Any] = {"surface": None, "shown_steps": None}

    def update() -> None:
        name, k = controls["surface"].value, int(controls["steps"].value)
        s = offered[name]
        if (state["surface"], state["shown_steps"]) != (name, k):
            _momentum_axes(ax_c, ax_f, art, s, k)
            state["shown_steps"] = k
            hold["full"] = True
        kw = choice.kwargs()
        run = run_on_surface(s, choice.optimizer(), np.array(s.start, dtype=np.float64),
                             steps=k, **kw)
        state.update(_momentum_numbers(s, run, kw, tol))
        path, start, end = trajectory_data(run.xs)
        for key, pts in (("path", path), ("start", start), ("end", end)):
            art[key].set_data(pts[:, 0], pts[:, 1])
        art["curve"].set_data(np.arange(len(run.values)), plottable(state["gap"], log=True))
        kk = np.arange(k + 1, dtype=np.float64)
        rho = state["theory_rate"] if isinstance(s, Quadratic) else None
        with np.errstate(over="ignore", under="ignore"):
            art["theory"].set_data(kk, plottable(state["gap"][0] * (rho or 0.0) ** (2.0 * kk)
                                                 if rho else np.full_like(kk, np.nan), log=True))
        best.disabled = not isinstance(s, Quadratic)  # a local optimum can blow up far away
        state.update(surface=name, _readout=_momentum_readout(choice, state, tol,
                                                               isinstance(s, Quadratic)))

    def on_surface(change: dict[str, Any]) -> None:  # the surface's own η and steps, one redraw
        hold["on"] = True
        try:
            eta, n = presets[change["new"]]
            choice.lr.value = on_grid(choice.lr, eta)
            controls["steps"].value = n
        finally:
            hold["on"] = False

    controls["surface"].observe(on_surface, names="value")  # before the Dashboard's observer
    panel = [widgets.HBox([controls["surface"], best]), choice.box, controls["steps"]]
    dash = _FastDashboard(fig, art, controls, update, state, hold=hold, panel=panel,
                          moving=[art["path"], art["start"], art["end"], art["curve"],
                                  art["theory"]])

    def set_optimum(_button: Any = None) -> None:
        opt = state.get("optimum")
        if opt is None:
            return
        hold["on"] = True
        try:
            controls["nesterov"].value = False
            controls["lr"].value = on_grid(controls["lr"], opt["lr"])
            controls["momentum"].value = on_grid(controls["momentum"], opt["momentum"])
        finally:
            hold["on"] = False
        dash.refresh()

    best.on_click(set_optimum)
    dash.set_optimum = set_optimum
    dash.best_button = best
    dash.surfaces = offered
    return dash


def _preset(s: Any, lr_range: tuple[float, float], max_steps: int) -> tuple[float, int]:
    """A surface's starting η (1/λ_max at the minimum, inside ``lr_range``) and step count."""
    lam = _local_eigenvalues(s)
    eta = 1.0 / float(lam[-1]) if lam is not None else float(lr_range[0])
    eta = min(max(eta, float(lr_range[0])), float(lr_range[1]))
    return eta, min(100 if isinstance(s, Quadratic) else 500, max_steps)


def _momentum_axes(ax_c: Any, ax_f: Any, art: dict[str, Any], s: Any, k: int) -> None:
    """The surface's contours and fixed loss axes: [1e-20, 1e4] times the start's gap."""
    for key in ("contour", "minima", "saddles"):
        if key in art:
            art.pop(key).remove()
    new = plot_contour(s, ax=ax_c)
    art.update({key: v for key, v in new.items() if key != "levels"})
    gap0 = float(s.f(np.asarray(s.start, dtype=np.float64))) - float(s.f_min or 0.0)
    gap0 = gap0 if gap0 > 0 else 1.0
    log_axis(ax_f)
    ax_f.set_ylim(max(gap0 * 1e-20, 1e-30), gap0 * 1e4)
    ax_f.set_xlim(0, k)
    art["path"].set_marker("o" if k <= 150 else "")  # a dot per iterate while they read


def _momentum_numbers(s: Any, run: Any, kw: dict[str, Any], tol: float) -> dict[str, Any]:
    """Rates (measured, theory), the optimum, steps to the tolerance, the verdict."""
    vals = np.asarray(run.values, dtype=np.float64)
    f_min = float(s.f_min) if s.f_min is not None else float(np.nanmin(vals))
    gap = vals - f_min
    lam = _local_eigenvalues(s)
    mu, nest = float(kw["momentum"]), bool(kw["nesterov"])
    reached = np.flatnonzero(gap <= tol * gap[0]) if gap[0] > 0 else np.array([0])
    rate = measured_rate(run.xs, s.minima[0]) if s.minima else None
    return {"lr": float(kw["lr"]), "momentum": mu, "nesterov": nest, "steps": len(vals) - 1,
            "xs": run.xs, "values": vals, "gap": gap, "measured_rate": rate,
            "theory_rate": None if lam is None else momentum_rate(lam, kw["lr"], mu, nest),
            "optimum": None if lam is None else optimal_momentum(lam[0], lam[-1]),
            "steps_to_tol": int(reached[0]) if reached.size else None,
            "distance": distance_to_minimum(s, run.xs[-1]),
            "diverged": bool(run.diverged or not np.isfinite(gap[-1]) or gap[-1] > gap[0])}


def _momentum_readout(choice: Any, st: dict[str, Any], tol: float, exact: bool) -> str:
    """Three short lines: the rates, the steps to the tolerance, the optimum (``exact``: a
    quadratic; otherwise the theory is the quadratic model at the minimum)."""
    def fmt(r: float | None) -> str:
        return "n/a" if r is None else f"{r:.4f}" if r < 10 else f"{r:.3g}"

    lines = [f"{choice.describe()}: measured rate {fmt(st['measured_rate'])} per step, "
             f"theory ρ = {fmt(st['theory_rate'])}"]
    if st["diverged"]:
        lines.append("<b style='color:#d62728'>diverged</b>: f − f* grew")
    elif st["steps_to_tol"] is not None:
        lines.append(f"f − f* below {tol:.0e} × its start after {st['steps_to_tol']} steps")
    else:
        lines.append(f"f − f* not below {tol:.0e} × its start in {st['steps']} steps")
    opt = st.get("optimum")
    if opt is not None:
        where = "" if exact else " (Hessian at the minimum, a local model)"
        lines.append(f"κ = {opt['kappa']:.4g}{where}: best η* = {opt['lr']:.4g}, "
                     f"μ* = {opt['momentum']:.4f}, rate {opt['rate']:.4f}; "
                     f"GD at η = {opt['gd_lr']:.4g}: rate {opt['gd_rate']:.4f}")
    return "<br>".join(lines)
