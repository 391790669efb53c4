r"""Interactive dashboards (ipywidgets) that update their figure in place.

Each dashboard function returns a :class:`Dashboard`: an ``ipywidgets.VBox`` (display it, or
make it the last expression of a cell) that also exposes

* ``fig`` and ``artists`` (a dict of the matplotlib artists it updates),
* ``controls`` (the sliders by name) and ``state`` (the numbers currently shown),

so a test can set ``dash.controls["delta"].value = 5.0`` and check that ``artists`` and
``state`` changed as the maths says. Callbacks never re-plot: they move existing artists
(``set_ydata``, ``set_offsets``, ``set_height``) and then redraw the canvas: with the ipympl
backend (``%matplotlib widget``) the canvas is itself a widget and redraws in place;
otherwise the same figure is rendered to PNG bytes shown by an ``ipywidgets.Image`` (no display
messages, so it also runs headless and under nbval).

Chapter 01: :func:`huber_delta_dashboard`, :func:`focal_gamma_dashboard`.
Chapter 02: :func:`gd_dashboard` (gradient descent on a 2-D surface, log-scale learning rate),
:func:`minibatch_dashboard` (mini-batch SGD on digits: learning rate and batch size).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, NullLocator

from . import _checks as chk
from . import data as _data
from . import losses
from . import models as _models
from . import optim as _optim
from . import train as _train
from .backend import to_numpy
from .fitting import fit_line, fit_linear, predict
from .functions import SURFACES, Quadratic
from .optim import SGD
from .plots import (
    COLORS,
    plot_contour,
    plot_line_fits,
    plot_trajectory,
    residual_curve,
    trajectory_data,
)
from .train import run_on_surface

__all__ = ["Dashboard", "focal_gamma_dashboard", "focal_share", "gd_dashboard",
           "huber_delta_dashboard", "examples_seen", "minibatch_checkpoints", "minibatch_dashboard"]


def _ipympl_active() -> bool:
    return "ipympl" in matplotlib.get_backend().lower() or "widget" in \
        matplotlib.get_backend().lower()


def _new_figure(figsize: tuple[float, float], ncols: int) -> tuple[Figure, Any]:
    """A figure that is not shown automatically at the end of the cell (the dashboard shows it)."""
    if _ipympl_active():
        with plt.ioff():
            fig = plt.figure(figsize=figsize, layout="constrained")
    else:
        fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


class Dashboard(widgets.VBox):
    """A VBox of controls and a figure, with handles for tests and notebooks.

    Attributes: ``fig``, ``artists`` (name -> artist), ``controls`` (name -> widget),
    ``state`` (name -> number currently shown), ``readout`` (an HTML widget with the numbers).
    """

    def __init__(self, fig: Figure, artists: dict[str, Any], controls: dict[str, Any],
                 update: Callable[[], None], state: dict[str, Any]) -> None:
        self.fig = fig
        self.artists = artists
        self.controls = controls
        self.state = state
        self.readout = widgets.HTML()
        self._update = update
        self._agg: Any = None
        if _ipympl_active() and isinstance(fig.canvas, widgets.DOMWidget):
            self.image = None
            view: Any = fig.canvas
        else:
            self.image = widgets.Image(format="png")
            view = self.image
        super().__init__(children=[*controls.values(), self.readout, view])
        for c in controls.values():
            c.observe(lambda _change: self.refresh(), names="value")
        self.refresh()

    def refresh(self) -> None:
        """Recompute from the controls' values, move the artists, redraw."""
        self._update()
        self.readout.value = self.state.get("_readout", "")
        self._redraw()

    def _redraw(self) -> None:
        if self.image is None:  # ipympl: the canvas is a widget and redraws itself
            self.fig.canvas.draw_idle()
            return
        # inline backends: render the same figure (artists moved, nothing re-plotted) to PNG
        # bytes; an Image widget updates in place, without display messages or flicker. One
        # Agg canvas is kept for the figure (savefig would set a new one up on every call).
        if self._agg is None:
            self.fig.set_dpi(80)
            self._agg = FigureCanvasAgg(self.fig)
        buf = io.BytesIO()
        self._agg.print_png(buf)
        self.image.value = buf.getvalue()


# --------------------------------------------------------------------------- Huber's delta
def huber_delta_dashboard(x: Any = None, y: Any = None, is_outlier: Any = None, *,
                          delta: float = 1.0, delta_min: float = 0.05, delta_max: float = 30.0
                          ) -> Dashboard:
    r"""Slide Huber's :math:`\delta` and watch the fit move between the MAE fit (small
    :math:`\delta`) and the MSE fit (:math:`\delta` larger than every residual).

    Left: the data, the MSE and MAE fits (fixed) and the Huber fit (moves). Right: the Huber
    gradient :math:`\psi_\delta(r) = \operatorname{clip}(r, -\delta, \delta)` with each point's
    residual under the current fit: the outliers sit on the flat, clipped part.
    ``state`` holds ``delta``, ``slope``, ``intercept`` of the current fit.
    Default data: :func:`edulib.data.regression_with_outliers`.
    """
    chk.check_number(delta_min, "delta_min", low=0.0, low_open=True)
    chk.check_number(delta_max, "delta_max", low=float(delta_min), low_open=True)
    chk.check_number(delta, "delta", low=float(delta_min), high=float(delta_max))
    if x is None or y is None:
        x, y, is_outlier = _data.regression_with_outliers()
    x, y = to_numpy(x).astype(np.float64), to_numpy(y).astype(np.float64)
    mask = np.zeros(x.shape, bool) if is_outlier is None else to_numpy(is_outlier).astype(bool)
    ref = {name: fit_line(x, y, losses.LOSSES[name]) for name in ("mse", "mae")}

    fig, (ax_fit, ax_grad) = _new_figure((10.0, 3.8), 2)
    art = plot_line_fits(x, y, {k: (f.slope, f.intercept) for k, f in ref.items()},
                         is_outlier=mask, ax=ax_fit)
    xs = np.array([x.min(), x.max()])
    (art["huber"],) = ax_fit.plot(xs, xs * 0.0, lw=2.5, color=COLORS["huber"], label="huber")
    ax_fit.legend(frameon=False, fontsize="small", loc="upper left")
    art["title"] = ax_fit.set_title("")

    r_max = float(np.abs(y - (ref["mae"].slope * x + ref["mae"].intercept)).max()) + 1.0
    r_grid = np.linspace(-r_max, r_max, 401)
    (art["psi_mse"],) = ax_grad.plot(r_grid, r_grid, ":", color=COLORS["mse"],
                                     label=r"$r$ (MSE/2, unclipped)")
    (art["psi"],) = ax_grad.plot(r_grid, r_grid, lw=2, color=COLORS["huber"],
                                 label=r"Huber $\psi_\delta(r)$")
    art["points"] = ax_grad.scatter(x * 0.0, x * 0.0, s=16, color=COLORS["data"], zorder=3)
    art["out_points"] = ax_grad.scatter(x[mask] * 0.0, x[mask] * 0.0, s=30, marker="x",
                                        color=COLORS["outlier"], zorder=4, label="outliers")
    ax_grad.set_ylim(-min(r_max, delta_max) * 1.05, min(r_max, delta_max) * 1.05)
    ax_grad.set_xlabel(r"residual $r = \hat y - y$")
    ax_grad.set_ylabel(r"gradient of one term $\ell'(r)$")
    ax_grad.grid(True, alpha=0.3)
    ax_grad.legend(frameon=False, fontsize="small", loc="upper left")

    slider = widgets.FloatLogSlider(value=delta, base=10.0, min=np.log10(delta_min),
                                    max=np.log10(delta_max), step=0.02, description="delta δ",
                                    continuous_update=True, readout_format=".2f")
    state: dict[str, Any] = {}

    def update() -> None:
        d = float(slider.value)
        init = (state["slope"], state["intercept"]) if state else None
        fit = fit_line(x, y, losses.huber, delta=d, init=init)
        a, b = fit.slope, fit.intercept
        art["huber"].set_ydata(a * xs + b)
        art["huber"].set_label(f"huber: {a:.2f}x + {b:.2f}")
        art["psi"].set_ydata(residual_curve(losses.huber, r_grid, "grad", delta=d))
        r = a * x + b - y
        psi = np.clip(r, -d, d)
        art["points"].set_offsets(np.c_[r[~mask], psi[~mask]])
        art["out_points"].set_offsets(np.c_[r[mask], psi[mask]])
        art["title"].set_text(f"Huber fit, δ = {d:.2f}")
        ax_fit.legend(frameon=False, fontsize="small", loc="upper left")
        state.update(delta=d, slope=a, intercept=b, _readout=(
            f"δ = {d:.2f}: Huber slope {a:.3f}, intercept {b:.3f} &nbsp;|&nbsp; "
            f"MSE {ref['mse'].slope:.3f}, {ref['mse'].intercept:.3f} &nbsp;|&nbsp; "
            f"MAE {ref['mae'].slope:.3f}, {ref['mae'].intercept:.3f}"))

    dash = Dashboard(fig, art, {"delta": slider}, update, state)
    dash.reference = ref
    return dash


# --------------------------------------------------------------------------- focal's gamma
def focal_share(logits: Any, y: Any, gamma: float, alpha: float | None = None,
                easy_threshold: float = 0.9) -> dict[str, float]:
    r"""Where the focal loss comes from: the share of the total loss due to easy examples
    (:math:`p_t >` ``easy_threshold``) and due to the positives (label 1)."""
    chk.check_number(easy_threshold, "easy_threshold", low=0.0, high=1.0)
    z = np.asarray(to_numpy(logits), dtype=np.float64)
    y = np.asarray(to_numpy(y))
    chk.check_same_shape(z, y, "logits", "y")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"y must hold labels 0 or 1, received values in [{y.min()}, {y.max()}]")
    vals = to_numpy(losses.focal.values(z, y.astype(np.float64), alpha=alpha, gamma=gamma))
    p_t = np.where(y == 1, to_numpy(losses.sigmoid(z)), to_numpy(losses.sigmoid(-z)))
    total = vals.sum()
    return {"easy_share": float(vals[p_t > easy_threshold].sum() / total),
            "positive_share": float(vals[y == 1].sum() / total),
            "easy_fraction": float(np.mean(p_t > easy_threshold))}


def focal_gamma_dashboard(split: Any = None, *, gamma: float = 2.0, alpha: float | None = None,
                          gamma_max: float = 5.0, easy_threshold: float = 0.9) -> Dashboard:
    r"""Slide the focal loss's :math:`\gamma` and watch easy examples lose their weight.

    A logistic-regression model is fitted once with BCE on the training part of ``split``
    (default :func:`edulib.data.imbalanced`). Left: :math:`-(1-p_t)^\gamma \log p_t` against
    :math:`p_t` (cross-entropy, :math:`\gamma = 0`, dashed). Right: the share of the total
    loss coming from easy examples (:math:`p_t >` ``easy_threshold``) and from the rare
    positives. ``state`` holds ``gamma``, ``easy_share``, ``positive_share``.
    """
    chk.check_number(gamma_max, "gamma_max", low=0.0, low_open=True)
    chk.check_number(gamma, "gamma", low=0.0, high=float(gamma_max))
    if split is None:
        split = _data.imbalanced()
    if not (hasattr(split, "X_train") and hasattr(split, "y_train")):
        raise TypeError("split must be an edulib.data.Split (X_train, X_val, y_train, y_val), "
                        f"received {type(split).__name__}")
    X, y = np.asarray(split.X_train, np.float64), np.asarray(split.y_train)
    model = fit_linear(X, y.astype(np.float64), losses.bce_with_logits)
    z = to_numpy(predict(X, model.w, model.b))
    ce = focal_share(z, y, 0.0, alpha, easy_threshold)

    fig, (ax_curve, ax_bar) = _new_figure((10.0, 3.8), 2)
    p = np.linspace(0.01, 1.0, 300)
    m = np.log(p) - np.log1p(-np.minimum(p, 1 - 1e-12))
    ones = np.ones_like(p)
    art: dict[str, Any] = {}
    (art["ce"],) = ax_curve.plot(p, to_numpy(losses.focal.values(m, ones, alpha=None, gamma=0.0)),
                                 "--", color=COLORS["bce_with_logits"],
                                 label=r"cross-entropy ($\gamma=0$)")
    (art["focal"],) = ax_curve.plot(p, p * 0.0, lw=2.5, color=COLORS["focal"], label="focal")
    ax_curve.axvspan(easy_threshold, 1.0, color=COLORS["data"], alpha=0.15, label="easy")
    ax_curve.set_xlabel(r"probability of the true class $p_t$")
    ax_curve.set_ylabel(r"loss $-(1-p_t)^\gamma \log p_t$")
    ax_curve.set_xlim(0.0, 1.0)
    ax_curve.set_ylim(0.0, 3.0)
    ax_curve.grid(True, alpha=0.3)
    ax_curve.legend(frameon=False, fontsize="small")

    names = ["easy examples", "positives (rare)"]
    art["bars"] = ax_bar.bar(names, [0.0, 0.0], color=[COLORS["data"], COLORS["focal"]])
    art["ce_marks"] = ax_bar.scatter(names, [ce["easy_share"], ce["positive_share"]],
                                     marker="_", s=900, color="k", label=r"with CE ($\gamma=0$)")
    art["labels"] = [ax_bar.text(i, 0.0, "", ha="center", va="bottom") for i in range(2)]
    ax_bar.set_ylim(0.0, 1.1)
    ax_bar.set_ylabel("share of the total loss")
    ax_bar.grid(True, axis="y", alpha=0.3)
    ax_bar.legend(frameon=False, fontsize="small", loc="upper left", markerscale=0.3)
    art["title"] = ax_bar.set_title("")

    slider = widgets.FloatSlider(value=gamma, min=0.0, max=gamma_max, step=0.1,
                                 description="gamma γ", continuous_update=True)
    state: dict[str, Any] = {"ce": ce, "model": model}

    def update() -> None:
        g = float(slider.value)
        art["focal"].set_ydata(to_numpy(losses.focal.values(m, ones, alpha=None, gamma=g)))
        art["focal"].set_label(f"focal (γ = {g:.1f})")
        ax_curve.legend(frameon=False, fontsize="small")
        s = focal_share(z, y, g, alpha, easy_threshold)
        for rect, lab, v in zip(art["bars"], art["labels"],
                                (s["easy_share"], s["positive_share"]), strict=True):
            rect.set_height(v)
            lab.set_position((lab.get_position()[0], v + 0.02))
            lab.set_text(f"{100 * v:.1f}%")
        art["title"].set_text(f"{100 * s['easy_fraction']:.0f}% of the examples are easy")
        state.update(gamma=g, **s, _readout=(
            f"γ = {g:.1f}: easy examples carry {100 * s['easy_share']:.1f}% of the loss "
            f"(CE: {100 * ce['easy_share']:.1f}%), positives {100 * s['positive_share']:.1f}% "
            f"(CE: {100 * ce['positive_share']:.1f}%)"))

    return Dashboard(fig, art, {"gamma": slider}, update, state)


# --------------------------------------------------------------------------- GD on a surface (ch. 02)
class _FastDashboard(Dashboard):
    """A :class:`Dashboard` for redraws that must be fast (< 100 ms on one core).

    * Refreshes are skipped while ``hold["on"]`` is True (several controls change at once,
      e.g. the start sliders when the surface changes): one redraw, not three.
    * The constrained layout is solved, and the static part of the figure rendered, only when
      ``hold["full"]`` is set (a new surface); in between, a frame restores that cached
      background and draws just the ``moving`` artists over it (blitting). Solving the layout
      and drawing every tick on each frame would cost several times more.
    * Without ipympl the frame is encoded by Pillow with fast PNG compression and shown by
      the ``Image`` widget. With ipympl the canvas redraws itself (``draw_idle``).
    """

    def __init__(self, *args: Any, hold: dict[str, bool], moving: list[Any],
                 **kwargs: Any) -> None:
        self._hold = hold
        self._moving = moving
        self._background = None
        fig = args[0]
        self._layout = fig.get_layout_engine()
        fig.set_layout_engine("none")
        self._blit = not (_ipympl_active() and isinstance(fig.canvas, widgets.DOMWidget))
        if self._blit:
            FigureCanvasAgg(fig)
            for a in moving:
                a.set_animated(True)  # left out of the full draw, drawn per frame
        super().__init__(*args, **kwargs)

    def refresh(self) -> None:
        if not self._hold["on"]:
            super().refresh()

    def _redraw(self) -> None:
        fig = self.fig
        if self._hold.get("full", True) or self._background is None:
            if self._layout is not None:
                self._layout.execute(fig)
            if self._blit:
                fig.canvas.draw()
                self._background = fig.canvas.copy_from_bbox(fig.bbox)
            self._hold["full"] = False
        if not self._blit:
            fig.canvas.draw_idle()
            return
        from PIL import Image

        fig.canvas.restore_region(self._background)
        for a in self._moving:
            fig.draw_artist(a)
        buf = io.BytesIO()
        Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).save(buf, format="png",
                                                                   compress_level=1)
        self.image.value = buf.getvalue()


def _set_range(slider: Any, lo: float, hi: float, value: float) -> None:
    """Move a FloatSlider to ``[lo, hi]`` and ``value`` without ever having min > max."""
    slider.max = max(slider.max, hi)
    slider.min = min(slider.min, lo)
    slider.value = value
    slider.min, slider.max = lo, hi


def gd_dashboard(surface: Any = None, *, lr: float = 0.1, steps: int = 50, momentum: float = 0.0,
                 x0: Any = None, lr_range: tuple[float, float] = (1e-4, 1.0),
                 max_steps: int = 300, momentum_slider: bool = False) -> Dashboard:
    r"""Gradient descent :math:`x_{k+1} = x_k - \eta\,\nabla f(x_k)` on a 2-D surface, with a
    log-scale learning-rate slider.

    Controls (``dash.controls``): ``lr`` (η, log scale over ``lr_range``), ``steps``,
    ``surface`` (a name of :data:`edulib.functions.SURFACES`, or the surface passed in), ``x1``
    and ``x2`` (the start point :math:`x_0`, within the surface's box), and ``momentum`` when
    ``momentum_slider``. Every change re-runs :func:`edulib.train.run_on_surface` with
    :class:`edulib.optim.SGD` and moves the artists (the contour is replaced only when the
    surface changes). Left: contours and the path; right: :math:`f(x_k) - f_\min` against
    :math:`k` (log scale; :math:`f(x_k)` itself when the surface has no minimum), drawn
    within :math:`\pm 10^{30}` so that a blow-up stays plottable.

    ``state`` holds ``lr``, ``steps``, ``momentum``, ``surface`` (the name), ``x0``, ``xs``
    (the iterates, shape (k+1, 2)), ``values``, ``final_f``, ``distance`` (from the last
    iterate to the nearest minimum; None without a minimum), ``blew_up`` (the run stopped on
    divergence), ``diverged`` (blew up, or :math:`f - f_\min` ended above where it started),
    and for a :class:`~edulib.functions.Quadratic`: ``lam_max`` (:math:`\lambda_{\max}` of the
    Hessian), ``lr_lam`` (:math:`\eta\lambda_{\max}`) and ``threshold``
    (:math:`2(1+\mu)/\lambda_{\max}`, i.e. :math:`2/\lambda_{\max}` without momentum: GD
    converges iff :math:`\eta` is below it).
    """
    surfaces: dict[str, Any] = dict(SURFACES)
    if surface is None:
        surface = SURFACES["quadratic"]
    if isinstance(surface, str):
        if surface not in surfaces:
            raise ValueError(f"surface must be one of {sorted(surfaces)} or a Surface, "
                             f"received {surface!r}")
        first = surface
    else:
        if not (hasattr(surface, "value_and_grad") and hasattr(surface, "box")):
            raise TypeError("surface must be a name or an edulib.functions.Surface, "
                            f"received {type(surface).__name__}")
        first = next((k for k, s in surfaces.items() if s is surface), None)
        if first is None:
            first = f"{surface.name} (given)"
            surfaces = {first: surface, **surfaces}
    lo_lr, hi_lr = (float(v) for v in lr_range)
    if not 0 < lo_lr < hi_lr:
        raise ValueError(f"lr_range must be (low, high) with 0 < low < high, received {lr_range!r}")
    if not lo_lr <= float(lr) <= hi_lr:
        raise ValueError(f"lr must lie in lr_range {lr_range!r}, received {lr!r}")
    max_steps = chk.check_int(max_steps, "max_steps", low=1)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= max_steps:
        raise ValueError(f"steps must be an int in [0, {max_steps}], received {steps!r}")
    if momentum_slider:  # the slider covers [0, 0.99]
        chk.check_number(momentum, "momentum", low=0.0, high=0.99)
    s0 = surfaces[first]
    start = tuple(float(v) for v in (s0.start if x0 is None else x0))
    if len(start) != 2:
        raise ValueError(f"x0 must be a pair (x1, x2), received {x0!r}")
    if all(math.isfinite(v) for v in start) and not all(
        lo <= v <= hi for v, (lo, hi) in zip(start, s0.box, strict=True)
    ):
        raise ValueError(f"x0 must lie in the surface's box {s0.box} (the start sliders' range), "
                         f"received {x0!r}")

    fig, (ax_c, ax_f) = _new_figure((10.0, 4.0), 2)
    fig.set_dpi(80)
    art: dict[str, Any] = {}
    art.update(plot_trajectory(np.array([start]), ax=ax_c))
    (art["curve"],) = ax_f.plot([0], [1.0], "-o", ms=2.5, lw=1.2, color=COLORS["trajectory"])
    ax_f.set_xlabel(r"step $k$")
    ax_f.grid(True, alpha=0.3)
    art["title"] = ax_f.set_title("")

    (b1, b2) = s0.box
    controls: dict[str, Any] = {
        "lr": widgets.FloatLogSlider(value=float(lr), base=10.0, min=np.log10(lo_lr),
                                     max=np.log10(hi_lr), step=0.01, description="lr η",
                                     readout_format=".4f", continuous_update=True),
        "steps": widgets.IntSlider(value=steps, min=0, max=max_steps, step=1,
                                   description="steps", continuous_update=True),
        "surface": widgets.Dropdown(options=list(surfaces), value=first, description="surface"),
        "x1": widgets.FloatSlider(value=start[0], min=b1[0], max=b1[1], step=0.01,
                                  description="start x₁", continuous_update=True),
        "x2": widgets.FloatSlider(value=start[1], min=b2[0], max=b2[1], step=0.01,
                                  description="start x₂", continuous_update=True),
    }
    if momentum_slider:
        controls["momentum"] = widgets.FloatSlider(value=float(momentum), min=0.0, max=0.99,
                                                   step=0.01, description="momentum μ")
    hold = {"on": False, "full": True}

    def on_surface(change: dict[str, Any]) -> None:  # new box and start, one refresh after
        s = surfaces[change["new"]]
        hold["on"] = True
        try:
            _set_range(controls["x1"], *s.box[0], s.start[0])
            _set_range(controls["x2"], *s.box[1], s.start[1])
        finally:
            hold["on"] = False

    controls["surface"].observe(on_surface, names="value")  # before the Dashboard's observer
    state: dict[str, Any] = {"surface": None}

    def draw_surface(s: Any) -> None:
        for key in ("contour", "minima", "saddles"):
            if key in art:
                art.pop(key).remove()
        new = plot_contour(s, ax=ax_c)
        art.update({k: v for k, v in new.items() if k != "levels"})
        art["levels"] = new["levels"]
        ax_c.set_title(s.title)
        art["curve"].set_data([0.0], [1.0])  # placeholder valid on both scales (set in update)
        ax_f.relim()
        ax_f.set_yscale("log" if s.f_min is not None else "linear")
        ax_f.yaxis.set_minor_locator(NullLocator())  # minor log ticks: a third of the frame time
        ax_f.set_ylabel(r"$f(x_k) - f_{\min}$" if s.f_min is not None else r"$f(x_k)$")
        hold["full"] = True

    def update() -> None:
        name = controls["surface"].value
        s = surfaces[name]
        if state["surface"] != name:
            draw_surface(s)
        eta, k = float(controls["lr"].value), int(controls["steps"].value)
        mu = float(controls["momentum"].value) if momentum_slider else float(momentum)
        x_start = np.array([controls["x1"].value, controls["x2"].value], dtype=np.float64)
        run = run_on_surface(s, SGD, x_start, steps=k, lr=eta, momentum=mu)
        path, first_pt, end = trajectory_data(run.xs)
        art["path"].set_data(path[:, 0], path[:, 1])
        art["start"].set_data(first_pt[:, 0], first_pt[:, 1])
        art["end"].set_data(end[:, 0], end[:, 1])

        vals = np.asarray(run.values, dtype=np.float64)
        gap = vals - s.f_min if s.f_min is not None else vals.copy()
        # drawn within [1e-30, 1e30] (log axis) or [-1e30, 1e30]: a blow-up stays plottable
        shown = np.clip(np.where(np.isfinite(gap), gap, np.nan),
                        1e-30 if s.f_min is not None else -1e30, 1e30)
        art["curve"].set_data(np.arange(len(vals)), shown)
        ax_f.set_xlim(0, max(k, 1))
        ax_f.relim()
        ax_f.autoscale_view(scalex=False)

        final = float(vals[-1])
        g_end, g_start = float(gap[-1]), float(gap[0])
        diverged = bool(run.diverged or not np.isfinite(final)
                        or (s.f_min is not None and g_end > g_start))
        if s.minima and np.all(np.isfinite(run.xs[-1])):
            distance: float | None = float(min(np.hypot(*(run.xs[-1] - np.asarray(m)))
                                               for m in s.minima))
        else:
            distance = None if not s.minima else float("inf")
        state.update(surface=name, lr=eta, steps=k, momentum=mu, x0=x_start, xs=run.xs,
                     values=vals, final_f=final, distance=distance, blew_up=bool(run.diverged),
                     diverged=diverged, message=run.message)
        parts = [f"η = {eta:.4g}, {len(vals) - 1} step(s): f = {final:.4g}"]
        if distance is not None:
            parts.append(f"distance to the minimum {distance:.3g}")
        if isinstance(s, Quadratic):
            lam = float(s.eigenvalues[-1])
            thr = 2.0 * (1.0 + mu) / lam
            state.update(lam_max=lam, lr_lam=eta * lam, threshold=thr)
            parts.append(f"λ_max = {lam:.4g}, threshold {'2(1+μ)' if mu else '2'}/λ_max = "
                         f"{thr:.4g}, η·λ_max = {eta * lam:.3g}")
        else:
            for key in ("lam_max", "lr_lam", "threshold"):
                state.pop(key, None)
        verdict = ("<b style='color:#d62728'>diverged</b>" if diverged
                   else "<b style='color:#2ca02c'>converging</b>")
        parts.append(verdict)
        art["title"].set_text(("diverged: " if diverged else "") + f"η = {eta:.3g}")
        state["_readout"] = " &nbsp;|&nbsp; ".join(parts)

    dash = _FastDashboard(fig, art, controls, update, state, hold=hold,
                          moving=[ax_f, art["path"], art["start"], art["end"]])
    dash.surfaces = surfaces
    return dash


# --------------------------------------------------------------------------- mini-batch SGD (ch. 02)
def _batch_options(n: int) -> list[tuple[str, int]]:
    """Batch sizes 1, 2, 4, ... below ``n``, then ``n`` itself (the full batch)."""
    opts, b = [], 1
    while b < n:
        opts.append((str(b), b))
        b *= 2
    opts.append((f"{n} (full)", n))
    return opts


def minibatch_checkpoints(total_steps: int, n_points: int = 32) -> list[int]:
    """The steps after which :func:`minibatch_dashboard` evaluates the full losses:
    every ``ceil(total_steps / n_points)``-th step and the last one (step 0 is the start)."""
    total_steps = chk.check_int(total_steps, "total_steps", low=0)
    n_points = chk.check_int(n_points, "n_points", low=1)
    every = max(1, math.ceil(total_steps / max(1, n_points)))
    pts = list(range(0, total_steps + 1, every))
    if pts[-1] != total_steps:
        pts.append(total_steps)
    return pts


def examples_seen(steps: Any, n: int, batch_size: int) -> np.ndarray:
    r"""Examples processed after ``steps`` mini-batch steps when each epoch of ``n`` examples
    has :math:`\lceil n/B\rceil` steps (the last batch of an epoch may be smaller)."""
    n = chk.check_int(n, "n", low=1)
    batch_size = chk.check_int(batch_size, "batch_size", low=1)
    t = np.asarray(steps, dtype=np.int64)
    per_epoch = math.ceil(n / batch_size)
    return (t // per_epoch) * n + np.minimum((t % per_epoch) * batch_size, n)


def minibatch_dashboard(data: Any = None, model: Any = None, *, lr: float = 0.1,
                        batch_size: int | None = 16, epochs: int = 2, n_train: int | None = 256,
                        lr_range: tuple[float, float] = (1e-3, 1e2), seed: int = 0,
                        n_points: int = 32, diverge_factor: float = 100.0) -> Dashboard:
    r"""Mini-batch SGD :math:`\theta \leftarrow \theta - \eta\,\frac1B\sum_{i\in\mathcal B}
    \nabla \ell_i(\theta)` on digits, with a log-scale learning-rate slider and a batch-size
    slider (1, 2, 4, ..., the full batch).

    Every change re-runs :func:`edulib.train.train` from the same initial parameters
    (``model.init_params(seed)``), with :class:`edulib.optim.SGD`, ``seed`` for the batch
    order, ``on_diverge="stop"`` and ``diverge_factor``, for a **fixed budget of examples**:
    ``epochs`` epochs over the first ``n_train`` training examples (``None``: all of them), so
    every batch size processes the same ``epochs * n_train`` examples, in
    :math:`\lceil n/B\rceil` steps per epoch. (A subset keeps batch size 1, hundreds of
    Python-level steps, fast enough for a slider; validation uses the whole validation set.)

    Left: the full training loss (on the subset) and the validation loss, evaluated at
    :func:`minibatch_checkpoints`, against the examples seen. Right: the mini-batch loss of
    every step (``history.loss``, noisy for small ``B``) with the same full training loss,
    against the step. Defaults: :func:`edulib.data.digits`, ``SoftmaxRegression(64, 10)``.

    ``state`` holds ``lr``, ``batch_size``, ``n_train``, ``epochs``, ``steps``,
    ``steps_per_epoch``, ``examples``, ``checkpoints``, ``train_curve``, ``val_curve``,
    ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` (of the last parameters, also
    when the run stopped on divergence: then the last checkpoint is that step), ``diverged``
    (:func:`~edulib.train.train` stopped on a blow-up, or the training loss ended above its
    initial value) and ``history``.
    """
    if data is None:
        data = _data.digits()
    if not all(hasattr(data, k) for k in ("X_train", "X_val", "y_train", "y_val")):
        raise TypeError("data must be an edulib.data.Split (X_train, X_val, y_train, y_val), "
                        f"received {type(data).__name__}")
    X_all, y_all = np.asarray(data.X_train, np.float64), np.asarray(data.y_train)
    if n_train is None:
        n_train = int(X_all.shape[0])
    if isinstance(n_train, bool) or not isinstance(n_train, int) or not \
            1 <= n_train <= X_all.shape[0]:
        raise ValueError(f"n_train must be None or an int in [1, {X_all.shape[0]}], "
                         f"received {n_train!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, received {epochs!r}")
    chk.check_int(n_points, "n_points", low=1)
    sub = _data.Split(X_all[:n_train], np.asarray(data.X_val, np.float64), y_all[:n_train],
                      np.asarray(data.y_val))
    if model is None:
        model = _models.SoftmaxRegression(int(X_all.shape[1]), int(y_all.max()) + 1)
    init = {k: np.array(v, copy=True) for k, v in model.init_params(seed=seed).items()}
    options = _batch_options(n_train)
    sizes = [b for _, b in options]
    b0 = n_train if batch_size is None else batch_size
    if b0 not in sizes:
        raise ValueError(f"batch_size must be None or one of {sizes}, received {batch_size!r}")
    lo_lr, hi_lr = (float(v) for v in lr_range)
    if not 0 < lo_lr <= float(lr) <= hi_lr:
        raise ValueError(f"lr must lie in lr_range {lr_range!r} (0 < low <= lr <= high), "
                         f"received {lr!r}")
    total_examples = epochs * n_train

    fig, (ax_ex, ax_st) = _new_figure((10.0, 3.8), 2)
    fig.set_layout_engine("none")  # fixed margins: no layout pass on every redraw
    ax_ex.set_position((0.065, 0.14, 0.43, 0.78))
    ax_st.set_position((0.555, 0.14, 0.43, 0.78))
    art: dict[str, Any] = {}
    (art["train"],) = ax_ex.plot([0], [1.0], "-o", ms=2.5, lw=1.8, color="#1f77b4",
                                 label="training loss (full subset)")
    (art["val"],) = ax_ex.plot([0], [1.0], "--o", ms=2.5, lw=1.4, color="#ff7f0e",
                               label="validation loss")
    ax_ex.set_xlim(0, total_examples)
    ax_ex.set_yscale("log")
    ax_ex.set_xlabel(f"examples seen ({epochs} epochs × {n_train})")
    ax_ex.set_ylabel("loss")
    ax_ex.grid(True, which="both", alpha=0.3)
    ax_ex.legend(frameon=False, fontsize="small", loc="upper right")
    art["title"] = ax_ex.set_title("")
    (art["batch"],) = ax_st.plot([0], [1.0], "-", lw=0.8, color=COLORS["data"], alpha=0.8,
                                 label="mini-batch loss of the step")
    (art["train_steps"],) = ax_st.plot([0], [1.0], "-o", ms=2.5, lw=1.8, color="#1f77b4",
                                       label="training loss (full subset)")
    ax_st.set_yscale("log")
    for ax in (ax_ex, ax_st):  # minor-tick labels cost a lot of text layout on every redraw
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax_st.set_xlabel("optimizer step")
    ax_st.grid(True, which="both", alpha=0.3)
    ax_st.legend(frameon=False, fontsize="small", loc="upper right")
    art["steps_title"] = ax_st.set_title("")

    controls: dict[str, Any] = {
        "lr": widgets.FloatLogSlider(value=float(lr), base=10.0, min=np.log10(lo_lr),
                                     max=np.log10(hi_lr), step=0.05, description="lr η",
                                     readout_format=".3g", continuous_update=False),
        "batch_size": widgets.SelectionSlider(options=options, value=b0, description="batch B",
                                              continuous_update=False),
    }
    state: dict[str, Any] = {"n_train": n_train, "epochs": epochs}

    def run() -> tuple[Any, list[int], list[float], list[float], tuple[float, float]]:
        eta, B = float(controls["lr"].value), int(controls["batch_size"].value)
        total = epochs * math.ceil(n_train / B)
        marks = minibatch_checkpoints(total, n_points)
        wanted = set(marks[1:])
        ck: list[int] = []
        tr: list[float] = []
        va: list[float] = []

        def record(step: int, _loss: float, params: Any, _h: Any) -> None:
            if step in wanted:
                ck.append(step)
                tr.append(float(model.loss(params, sub.X_train, sub.y_train)))
                va.append(float(model.loss(params, sub.X_val, sub.y_val)))

        params = {k: v.copy() for k, v in init.items()}
        opt = _optim.SGD(params, lr=eta)
        hist = _train.train(model, params, opt, sub, epochs=epochs, batch_size=B, seed=seed,
                            on_diverge="stop", diverge_factor=diverge_factor, callback=record)
        if hist.steps > (ck[-1] if ck else 0):  # stopped on divergence: the last parameters
            ck.append(hist.steps)
            tr.append(float(model.loss(params, sub.X_train, sub.y_train)))
            va.append(float(model.loss(params, sub.X_val, sub.y_val)))
        accs = (float(model.accuracy(params, sub.X_train, sub.y_train)),
                float(model.accuracy(params, sub.X_val, sub.y_val)))
        return hist, [0, *ck], [hist.train_loss[0], *tr], [hist.val_loss[0], *va], accs

    def update() -> None:
        eta, B = float(controls["lr"].value), int(controls["batch_size"].value)
        hist, ck, tr, va, (acc_tr, acc_va) = run()
        x_ck = examples_seen(ck, n_train, B)
        art["train"].set_data(x_ck, tr)
        art["val"].set_data(x_ck, va)
        art["batch"].set_data(np.arange(len(hist.loss)), hist.loss)
        art["train_steps"].set_data(ck, tr)
        full = np.array([*tr, *va], dtype=np.float64)  # limits from the full losses and
        full = full[np.isfinite(full) & (full > 0)]        # the largest mini-batch loss
        top = np.array([*full, *hist.loss], dtype=np.float64)
        top = top[np.isfinite(top)]
        lo = full.min() / 3.0 if full.size else 1e-2
        hi = max(top.max() if top.size else 10.0, lo * 10.0) * 1.5
        ax_ex.set_ylim(lo, hi)
        ax_st.set_ylim(lo, hi)
        ax_st.set_xlim(0, max(hist.steps, ck[-1], 1))
        per_epoch = math.ceil(n_train / B)
        blew_up = hist.diverged
        went_up = not (math.isfinite(tr[-1]) and tr[-1] <= tr[0])
        diverged = blew_up or went_up
        steps_txt = f"{hist.steps} steps ({per_epoch} per epoch)"
        art["title"].set_text(f"B = {B}, η = {eta:.3g}" + (": DIVERGED" if diverged else ""))
        art["steps_title"].set_text(steps_txt)
        if blew_up:
            why = f"yes: {hist.message}"
        elif went_up:
            why = f"yes: the training loss went up, from {tr[0]:.4g} to {tr[-1]:.4g}"
        else:
            why = "no"
        state.update(
            lr=eta, batch_size=B, steps=hist.steps, steps_per_epoch=per_epoch,
            examples=int(x_ck[-1]), checkpoints=ck, train_curve=tr, val_curve=va,
            train_loss=tr[-1], val_loss=va[-1], train_acc=acc_tr, val_acc=acc_va,
            diverged=diverged, history=hist,
            _readout=(
                f"η = {eta:.3g}, B = {B}: {steps_txt}, {int(x_ck[-1])} examples seen "
                f"(fixed budget: {epochs} epochs over {n_train} training examples) &nbsp;|&nbsp; "
                f"final train loss {tr[-1]:.4f}, val loss {va[-1]:.4f}, "
                f"train acc {acc_tr:.3f}, val acc {acc_va:.3f} &nbsp;|&nbsp; diverged: {why}"))

    dash = Dashboard(fig, art, controls, update, state)
    dash.data = sub
    dash.model = model
    dash.init_params = init
    dash.settings = {"epochs": epochs, "seed": seed, "diverge_factor": diverge_factor,
                     "n_points": n_points, "n_train": n_train}
    return dash
