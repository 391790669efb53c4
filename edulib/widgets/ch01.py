r"""Chapter 01 dashboards: Huber's :math:`\delta` and the focal loss's :math:`\gamma`."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np

from .. import _checks as chk
from .. import data as _data
from .. import losses
from ..backend import to_numpy
from ..fitting import fit_line, fit_linear, predict
from ..plots import COLORS, plot_line_fits, residual_curve
from .core import WIDE, Dashboard, _new_figure

__all__ = ["focal_gamma_dashboard", "focal_share", "huber_delta_dashboard"]


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
                                    continuous_update=True, readout_format=".2f", style=WIDE)
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
                                 description="gamma γ", continuous_update=True, style=WIDE)
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
