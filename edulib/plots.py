r"""Plotting helpers with one consistent style.

Every function takes ``ax=None`` (a new figure is made when it is None), returns what it drew
(a dict of artists, keyed by name) and never calls ``plt.show()``. Widgets in
:mod:`edulib.widgets` keep those artists and update them in place.

Chapter 01 (losses): :func:`plot_residual_losses` (loss or its gradient against the residual),
:func:`plot_line_fits` (data, outliers and fitted lines), :func:`plot_margin_losses`
(classification losses against the margin :math:`m = y\,s` or against :math:`p_\text{true}`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from .backend import to_numpy
from .losses import Loss

__all__ = [
    "COLORS",
    "get_ax",
    "loss_color",
    "plot_line_fits",
    "plot_margin_losses",
    "plot_residual_losses",
    "residual_curve",
    "margin_curve",
]

#: one colour per loss (and for data), shared by every figure of the course
COLORS: dict[str, str] = {
    "mse": "#1f77b4",
    "mae": "#ff7f0e",
    "huber": "#2ca02c",
    "bce_with_logits": "#d62728",
    "softmax_cross_entropy": "#d62728",
    "hinge": "#9467bd",
    "multiclass_hinge": "#9467bd",
    "focal": "#8c564b",
    "data": "#7f7f7f",
    "outlier": "#e377c2",
    "truth": "#000000",
}
_CYCLE = ["#17becf", "#bcbd22", "#e377c2", "#7f7f7f"]


def loss_color(name: str, i: int = 0) -> str:
    """The course colour of the loss called ``name`` (a fallback cycle for other names)."""
    return COLORS.get(name, _CYCLE[i % len(_CYCLE)])


def _pick_colors(items: Sequence[tuple[str, Loss]]) -> list[str]:
    """A colour per (label, loss): the label's or the loss's course colour, unless already used."""
    used: list[str] = []
    spare = iter(_CYCLE)
    for label, loss in items:
        c = COLORS.get(label, COLORS.get(loss.name))
        if c is None or c in used:
            c = next(spare, "#333333")
        used.append(c)
    return used


def get_ax(ax: Any = None, figsize: tuple[float, float] = (5.0, 3.5)) -> Any:
    """``ax``, or the axes of a new figure when ``ax`` is None."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _style(ax: Any, xlabel: str, ylabel: str, title: str | None = None) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.axhline(0.0, color="k", lw=0.6, alpha=0.5)
    ax.axvline(0.0, color="k", lw=0.6, alpha=0.5)


# --------------------------------------------------------------------------- regression
def residual_curve(loss: Loss, r: Any, kind: str = "value", **params: Any) -> np.ndarray:
    r"""One regression loss against the residual :math:`r = \hat y - y`:
    ``kind="value"`` gives :math:`\ell(r)`, ``kind="grad"`` gives :math:`\psi(r) = \ell'(r)`
    (the gradient of one term, i.e. ``N * loss.grad``)."""
    r = np.asarray(r, dtype=np.float64)
    zero = np.zeros_like(r)
    if kind == "value":
        return to_numpy(loss.values(r, zero, **params))
    if kind == "grad":
        return to_numpy(loss.grad(r, zero, **params)) * r.size
    raise ValueError(f"kind must be 'value' or 'grad', received {kind!r}")


def plot_residual_losses(losses: Sequence[Loss] | Mapping[str, Loss], r: Any = None,
                         kind: str = "value", ax: Any = None,
                         params: Mapping[str, Mapping[str, Any]] | None = None
                         ) -> dict[str, Any]:
    r"""Plot regression losses (``kind="value"``) or their gradients (``kind="grad"``) against
    the residual :math:`r`. ``losses`` is a list of losses or a mapping label -> loss;
    ``params`` maps a label to the loss's parameters (e.g. ``{"huber": {"delta": 1.0}}``).
    Returns ``{label: Line2D}``."""
    ax = get_ax(ax)
    r = np.linspace(-4.0, 4.0, 401) if r is None else np.asarray(r, dtype=np.float64)
    items = list(losses.items()) if isinstance(losses, Mapping) else [(lo.name, lo)
                                                                       for lo in losses]
    colors = _pick_colors(items)
    params = params or {}
    lines = {}
    for i, (label, loss) in enumerate(items):
        p = dict(params.get(label, {}))
        text = label + (" (" + ", ".join(f"{k}={v:g}" for k, v in p.items()) + ")" if p else "")
        (lines[label],) = ax.plot(r, residual_curve(loss, r, kind, **p), lw=2,
                                  color=colors[i], label=text)
    ylabel = r"loss $\ell(r)$" if kind == "value" else r"gradient $\ell'(r)$"
    _style(ax, r"residual $r = \hat y - y$", ylabel)
    ax.legend(frameon=False)
    return lines


def plot_line_fits(x: Any, y: Any, fits: Mapping[str, tuple[float, float]],
                   is_outlier: Any = None, truth: tuple[float, float] | None = None,
                   ax: Any = None) -> dict[str, Any]:
    """Scatter the data (outliers highlighted) and draw the lines ``y = slope*x + intercept``
    given as ``fits = {label: (slope, intercept)}`` (labels that are loss names get the loss's
    colour). Returns ``{"data": ..., "outliers": ..., label: Line2D, "truth": Line2D}``."""
    ax = get_ax(ax)
    x, y = to_numpy(x), to_numpy(y)
    mask = np.zeros(x.shape, dtype=bool) if is_outlier is None else to_numpy(is_outlier)
    out: dict[str, Any] = {}
    out["data"] = ax.scatter(x[~mask], y[~mask], s=14, color=COLORS["data"], label="data")
    if mask.any():
        out["outliers"] = ax.scatter(x[mask], y[mask], s=30, marker="x",
                                     color=COLORS["outlier"], label="outliers")
    xs = np.array([x.min(), x.max()])
    if truth is not None:
        (out["truth"],) = ax.plot(xs, truth[0] * xs + truth[1], "--", lw=1.2,
                                  color=COLORS["truth"], label="true line")
    for i, (label, (a, b)) in enumerate(fits.items()):
        (out[label],) = ax.plot(xs, a * xs + b, lw=2, color=loss_color(label, i),
                                label=f"{label}: {a:.2f}x + {b:.2f}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    return out


# --------------------------------------------------------------------------- classification
def margin_curve(loss: Loss, m: Any, **params: Any) -> np.ndarray:
    r"""A binary loss as a function of the margin :math:`m = y\,s` (label :math:`y=\pm1`,
    score/logit :math:`s`): the loss of the positive class at score :math:`m`.

    Hinge takes labels :math:`\pm1`; BCE and focal take 0/1, so their positive label is 1.
    """
    m = np.asarray(m, dtype=np.float64)
    one = np.ones_like(m)
    return to_numpy(loss.values(m, one, **params))


def plot_margin_losses(losses: Sequence[Loss] | Mapping[str, Loss], m: Any = None,
                       x_axis: str = "margin", ax: Any = None,
                       params: Mapping[str, Mapping[str, Any]] | None = None
                       ) -> dict[str, Any]:
    r"""Binary classification losses against the margin :math:`m = y s` (``x_axis="margin"``)
    or against the probability given to the true class :math:`p_\text{true} = \sigma(m)`
    (``x_axis="p_true"``). Returns ``{label: Line2D}``."""
    if x_axis not in ("margin", "p_true"):
        raise ValueError(f"x_axis must be 'margin' or 'p_true', received {x_axis!r}")
    ax = get_ax(ax)
    if m is None:
        m = np.linspace(-4.0, 4.0, 401) if x_axis == "margin" else None
    if x_axis == "p_true":
        p = np.linspace(0.005, 0.995, 397) if m is None else 1.0 / (1.0 + np.exp(-np.asarray(m)))
        m = np.log(p) - np.log1p(-p)
        xs = p
    else:
        m = np.asarray(m, dtype=np.float64)
        xs = m
    items = list(losses.items()) if isinstance(losses, Mapping) else [(lo.name, lo)
                                                                       for lo in losses]
    colors = _pick_colors(items)
    params = params or {}
    lines = {}
    for i, (label, loss) in enumerate(items):
        p_ = dict(params.get(label, {}))
        text = label + (" (" + ", ".join(f"{k}={v}" for k, v in p_.items()) + ")" if p_ else "")
        (lines[label],) = ax.plot(xs, margin_curve(loss, m, **p_), lw=2,
                                  color=colors[i], label=text)
    if x_axis == "margin":
        _style(ax, r"margin $m = y\,s$", "loss")
    else:
        _style(ax, r"probability of the true class $p_\mathrm{true} = \sigma(m)$", "loss")
        ax.set_xlim(0.0, 1.0)
    ax.legend(frameon=False, fontsize="small")
    return lines
