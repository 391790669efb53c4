r"""Plotting helpers with one consistent style.

Every function takes ``ax=None`` (a new figure is made when it is None), returns what it drew
(a dict of artists, keyed by name) and never calls ``plt.show()``. Widgets in
:mod:`edulib.widgets` keep those artists and update them in place.

Chapter 01 (losses): :func:`plot_residual_losses` (loss or its gradient against the residual),
:func:`plot_line_fits` (data, outliers and fitted lines), :func:`plot_margin_losses`
(classification losses against the margin :math:`m = y\,s` or against :math:`p_\text{true}`).

Chapter 02 (gradient descent): :func:`plot_contour` (contours of a 2-D surface of
:mod:`edulib.functions`, critical points marked), :func:`plot_trajectory` (an optimizer's path
:math:`x_0, x_1, \dots` with its start and end marked), :func:`contour_levels`;
:func:`plot_loss_curves` (several training runs on one axis, against steps, epochs or time).

Chapter 05 (babysitting a run, from an :class:`edulib.babysit.Monitor`):
:func:`plot_update_ratios` (update/weight ratio of each layer over the steps, with CS231n's
:math:`10^{-3}`), :func:`plot_layer_histograms` (activation or gradient histograms, one outline
per layer), :func:`plot_dead_fraction` (dead units of each hidden layer over the steps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from . import _checks as chk
from .backend import to_numpy
from .losses import Loss

if TYPE_CHECKING:
    from .babysit import Histogram, Monitor
    from .train import History

__all__ = [
    "COLORS",
    "contour_levels",
    "get_ax",
    "histogram_density",
    "loss_color",
    "loss_curve_data",
    "plot_loss_curves",
    "plot_line_fits",
    "plot_contour",
    "plot_dead_fraction",
    "plot_layer_histograms",
    "plot_margin_losses",
    "plot_residual_losses",
    "plot_trajectory",
    "plot_update_ratios",
    "trajectory_data",
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
    "trajectory": "#d62728",
    "minimum": "#000000",
    "saddle": "#7f7f7f",
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
    elif not hasattr(ax, "plot"):
        raise TypeError(f"ax must be None or a matplotlib Axes, received {type(ax).__name__}")
    return ax


def _check_loss(loss: Any, name: str = "loss") -> None:
    if not isinstance(loss, Loss):
        raise TypeError(f"{name} must be an edulib loss (e.g. edulib.losses.mse), "
                        f"received {type(loss).__name__} {loss!r}")


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
    _check_loss(loss)
    r = np.asarray(r, dtype=np.float64)
    zero = np.zeros_like(r)
    if kind == "value":
        return to_numpy(loss.values(r, zero, **params))
    if kind == "grad":
        return to_numpy(loss.grad(r, zero, **params)) * r.size
    raise ValueError(f"kind must be 'value' or 'grad', received {kind!r}")


def _plot_loss_family(ax: Any, losses: Sequence[Loss] | Mapping[str, Loss], xs: np.ndarray,
                      curve: Any, params: Mapping[str, Mapping[str, Any]] | None
                      ) -> dict[str, Any]:
    """One line per loss, ``curve(loss, **params) -> ys`` against ``xs``; ``{label: Line2D}``."""
    if isinstance(losses, (str, Loss)) or not isinstance(losses, (Sequence, Mapping)):
        raise TypeError(f"losses must be a list of edulib losses or a dict label -> loss, "
                        f"received {type(losses).__name__} {losses!r}")
    items = list(losses.items()) if isinstance(losses, Mapping) else [
        (getattr(lo, "name", repr(lo)), lo) for lo in losses]
    for label, loss in items:
        _check_loss(loss, f"losses[{label!r}]")
    params = params or {}
    unknown = sorted(set(params) - {label for label, _ in items})
    if unknown:
        raise ValueError(f"params must be keyed by the losses' labels "
                         f"{[label for label, _ in items]}, received unknown labels {unknown}")
    colors = _pick_colors(items)
    lines = {}
    for i, (label, loss) in enumerate(items):
        p = dict(params.get(label, {}))
        shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in p.items())
        text = f"{label} ({shown})" if p else label
        (lines[label],) = ax.plot(xs, curve(loss, **p), lw=2, color=colors[i], label=text)
    return lines


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
    lines = _plot_loss_family(ax, losses, r, lambda loss, **p: residual_curve(loss, r, kind, **p),
                              params)
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
    x = np.asarray(to_numpy(x), dtype=np.float64)
    y = np.asarray(to_numpy(y), dtype=np.float64)
    chk.check_ndim(x, 1, "x", "one value per point")
    chk.check_nonempty(x, "x")
    chk.check_same_shape(x, y, "x", "y")
    mask = np.zeros(x.shape, dtype=bool) if is_outlier is None else to_numpy(is_outlier)
    if mask.dtype != bool:
        raise TypeError(f"is_outlier must be a boolean mask, received dtype {mask.dtype}")
    chk.check_same_shape(x, mask, "x", "is_outlier")
    for label, fit in fits.items():
        if np.shape(fit) != (2,):
            raise ValueError(f"fits[{label!r}] must be a pair (slope, intercept), "
                             f"received {fit!r}")
    ax = get_ax(ax)
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
    _check_loss(loss)
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
    lines = _plot_loss_family(ax, losses, xs, lambda loss, **p: margin_curve(loss, m, **p),
                              params)
    if x_axis == "margin":
        _style(ax, r"margin $m = y\,s$", "loss")
    else:
        _style(ax, r"probability of the true class $p_\mathrm{true} = \sigma(m)$", "loss")
        ax.set_xlim(0.0, 1.0)
    ax.legend(frameon=False, fontsize="small")
    return lines


# --------------------------------------------------------------------------- surfaces (ch. 02)
def contour_levels(Z: Any, levels: int = 20, log: bool = False,
                   f_min: float | None = None) -> np.ndarray:
    r"""``levels`` increasing contour levels over the finite values of ``Z``.

    Linear: evenly spaced strictly between :math:`\min Z` and :math:`\max Z`. Log
    (``log=True``, for steep valleys): :math:`f_\min + g_i` with :math:`g_i` geometrically
    spaced from :math:`10^{-4}\,(\max Z - f_\min)` (or the smallest positive gap on the grid,
    whichever is larger) to :math:`\max Z - f_\min`; :math:`f_\min` defaults to :math:`\min Z`.
    """
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise ValueError(f"levels must be an int >= 2, received {levels!r}")
    z = np.asarray(to_numpy(Z), dtype=np.float64)
    z = z[np.isfinite(z)]
    if z.size == 0:
        raise ValueError("Z must contain finite values, received none")
    lo, hi = float(z.min()), float(z.max())
    if hi <= lo:
        raise ValueError(f"Z must not be constant to draw contours, received all values = {lo:g}")
    if not log:
        return np.linspace(lo, hi, int(levels) + 2)[1:-1]
    base = lo if f_min is None else min(float(f_min), lo)
    gap = z - base
    top = hi - base
    small = max(float(gap[gap > 0].min()), 1e-4 * top)
    return base + np.geomspace(small, top, int(levels))


def plot_contour(surface: Any, ax: Any = None, n: int = 101, levels: int = 20,
                 log: bool | None = None, box: Any = None, filled: bool = False,
                 cmap: str = "viridis", show_critical: bool = True) -> dict[str, Any]:
    r"""Contours of a 2-D surface (:mod:`edulib.functions`) over its box (or ``box``).

    The grid is ``surface.grid(n, box)``; the levels come from :func:`contour_levels`, on a
    log scale of :math:`f - f_\min` when ``log`` is True (default: ``surface.log_scale``), so
    a steep valley such as Rosenbrock's shows its floor. ``filled=True`` uses ``contourf``.
    Known minima (black ★) and saddles (grey ×) inside the box are marked.
    Returns ``{"contour": ContourSet, "minima": Line2D, "saddles": Line2D, "levels": array}``
    (the markers only when drawn).
    """
    if not all(hasattr(surface, k) for k in ("grid", "log_scale", "minima", "saddles")):
        raise TypeError(f"surface must be an edulib.functions surface (e.g. Rosenbrock()), "
                        f"received {type(surface).__name__} {surface!r}")
    ax = get_ax(ax, figsize=(5.0, 4.0))
    log = bool(surface.log_scale) if log is None else bool(log)
    X1, X2, Z = surface.grid(n=n, box=box)
    X1, X2, Z = to_numpy(X1), to_numpy(X2), to_numpy(Z)
    lv = contour_levels(Z, levels, log=log, f_min=getattr(surface, "f_min", None))
    # one colour per level (not per value), so log-spaced levels use the whole colour map
    colors = plt.get_cmap(cmap)(np.linspace(0.0, 1.0, len(lv) - 1 if filled else len(lv)))
    out: dict[str, Any] = {"levels": lv}
    if filled:
        out["contour"] = ax.contourf(X1, X2, Z, levels=lv, colors=colors, alpha=0.8)
    else:
        out["contour"] = ax.contour(X1, X2, Z, levels=lv, colors=colors, linewidths=0.9)
    (a1, b1), (a2, b2) = (X1[0, 0], X1[0, -1]), (X2[0, 0], X2[-1, 0])

    def inside(points: Sequence[tuple[float, float]]) -> np.ndarray:
        pts = np.array([p for p in points if a1 <= p[0] <= b1 and a2 <= p[1] <= b2], float)
        return pts.reshape(-1, 2)

    if show_critical:
        mins, sads = inside(surface.minima), inside(surface.saddles)
        if len(mins):
            (out["minima"],) = ax.plot(mins[:, 0], mins[:, 1], "*", ms=12, color=COLORS["minimum"],
                                       zorder=4, label="minimum")
        if len(sads):
            (out["saddles"],) = ax.plot(sads[:, 0], sads[:, 1], "x", ms=8, mew=2,
                                        color=COLORS["saddle"], zorder=4, label="saddle")
    ax.set_xlim(a1, b1)
    ax.set_ylim(a2, b2)
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    if getattr(surface, "title", ""):
        ax.set_title(surface.title + (" (log-spaced levels)" if log else ""))
    return out


def trajectory_data(xs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(path, start, end)`` arrays drawn by :func:`plot_trajectory`: the points with
    non-finite rows replaced by NaN (so the line skips them), the first point, the last finite
    point. Widgets call it to move the artists with ``set_data``."""
    pts = np.asarray(to_numpy(xs), dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] == 0:
        raise ValueError(f"xs must have shape (k+1, 2) with k >= 0, received {pts.shape}")
    ok = np.all(np.isfinite(pts), axis=1)
    path = np.where(ok[:, None], pts, np.nan)
    end = pts[ok][-1:] if ok.any() else np.full((1, 2), np.nan)
    return path, path[:1], end


def plot_trajectory(xs: Any, ax: Any = None, label: str | None = None, color: str | None = None,
                    marker: str = "o", ms: float = 3.0, lw: float = 1.2) -> dict[str, Any]:
    r"""An optimizer's path :math:`x_0, x_1, \dots, x_k` (``xs`` of shape (k+1, 2)) as a line
    with a marker per iterate; the start :math:`x_0` is a large open circle, the end
    :math:`x_k` (the last finite point) a filled square. Draw it over :func:`plot_contour`.
    Non-finite points (a divergent run) are left out of the line. Returns
    ``{"path": Line2D, "start": Line2D, "end": Line2D}``; move them with ``set_data``
    (see :func:`trajectory_data`) to redraw in place.
    """
    path, start, end = trajectory_data(xs)
    ax = get_ax(ax, figsize=(5.0, 4.0))
    color = COLORS["trajectory"] if color is None else color
    out: dict[str, Any] = {}
    (out["path"],) = ax.plot(path[:, 0], path[:, 1], "-", marker=marker, ms=ms, lw=lw,
                             color=color, label=label, zorder=5)
    (out["start"],) = ax.plot(start[:, 0], start[:, 1], "o", ms=8, mfc="white", mec=color,
                              mew=2, zorder=6)
    (out["end"],) = ax.plot(end[:, 0], end[:, 1], "s", ms=7, color=color, zorder=6)
    return out


# --------------------------------------------------------------------------- loss curves (ch. 02)
_CURVE_X = {"step": "optimizer steps", "epoch": "epochs", "time": "training time (s)"}
_CURVE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf"]


def loss_curve_data(history: History, x: str = "step", which: str = "train"
                    ) -> tuple[np.ndarray, np.ndarray]:
    r"""The points ``(xs, ys)`` that :func:`plot_loss_curves` draws for one
    :class:`edulib.train.History`: the full-dataset loss recorded at each evaluation
    (``which="train"``: ``train_loss``; ``"val"``: ``val_loss``) against

    * ``x="step"``: the optimizer steps done so far (``epoch_steps``),
    * ``x="epoch"``: the epochs done (0, 1, 2, ...; an extra evaluation after an early stop
      sits at its fraction of an epoch, or is left out when no full epoch was recorded),
    * ``x="time"``: the cumulative training seconds (``time``; evaluation excluded).
    """
    if x not in _CURVE_X:
        raise ValueError(f"x must be 'step', 'epoch' or 'time', received {x!r}")
    if which not in ("train", "val"):
        raise ValueError(f"which must be 'train' or 'val', received {which!r}")
    if not all(hasattr(history, k) for k in ("train_loss", "val_loss", "epoch_steps", "time",
                                              "epochs")):
        raise TypeError(f"history must be an edulib.train.History, "
                        f"received {type(history).__name__}")
    ys = np.asarray(history.train_loss if which == "train" else history.val_loss, dtype=np.float64)
    steps = np.asarray(history.epoch_steps, dtype=np.float64)
    if ys.size == 0:
        raise ValueError(f"history has no {which}_loss to plot (received an empty list)")
    if x == "step":
        xs = steps[: ys.size]
    elif x == "time":
        xs = np.asarray(history.time, dtype=np.float64)[: ys.size]
    else:
        xs = np.arange(ys.size, dtype=np.float64)
        e = int(history.epochs)
        if ys.size > e + 1:  # one more evaluation after stopping mid-epoch
            per_epoch = steps[1] - steps[0] if e >= 1 else 0.0
            if per_epoch > 0:
                xs[e + 1:] = e + (steps[e + 1:ys.size] - steps[e]) / per_epoch
            else:
                xs, ys = xs[: e + 1], ys[: e + 1]
    return xs, ys


def plot_loss_curves(histories: Mapping[str, History], x: str = "step", log: bool = True,
                     ax: Any = None, val: bool = False) -> dict[str, Any]:
    r"""Training-loss curves of several runs on one axis, e.g.
    ``{"GD": h_gd, "SGD (B=1)": h_sgd}`` from :func:`edulib.train.train`.

    Each curve is the full training loss :math:`L(\theta)` recorded at initialisation and after
    every epoch, against ``x`` = ``"step"`` (optimizer steps), ``"epoch"`` or ``"time"``
    (cumulative training seconds): see :func:`loss_curve_data`. ``log`` puts the loss on a
    log scale; ``val=True`` adds each run's validation loss, dashed, in the same colour.
    Returns ``{label: Line2D}`` (validation lines under ``"label (val)"``); move them with
    ``set_data(*loss_curve_data(h, x))`` to redraw in place.
    """
    if not isinstance(histories, Mapping) or len(histories) == 0:
        raise ValueError(
            "histories must be a non-empty dict {label: History}, received "
            f"{type(histories).__name__}" + (" (empty)" if isinstance(histories, Mapping) else "")
        )
    if x not in _CURVE_X:
        raise ValueError(f"x must be 'step', 'epoch' or 'time', received {x!r}")
    for label, h in histories.items():
        if not all(hasattr(h, k) for k in ("train_loss", "val_loss", "epoch_steps", "time")):
            raise TypeError(f"histories[{label!r}] must be an edulib.train.History, "
                            f"received {type(h).__name__}")
        if val and not h.val_loss:
            raise ValueError(f"val=True needs validation losses, but histories[{label!r}] has "
                             "none (train on an edulib.data.Split)")
    ax = get_ax(ax)
    lines: dict[str, Any] = {}
    for i, (label, h) in enumerate(histories.items()):
        color = _CURVE_COLORS[i % len(_CURVE_COLORS)]
        xs, ys = loss_curve_data(h, x, "train")
        (lines[label],) = ax.plot(xs, ys, "-", marker="o", ms=3, lw=1.8, color=color,
                                  label=label + (" (train)" if val else ""))
        if val:
            xv, yv = loss_curve_data(h, x, "val")
            (lines[f"{label} (val)"],) = ax.plot(xv, yv, "--", marker="o", ms=3, lw=1.4,
                                                 color=color, label=f"{label} (val)")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(_CURVE_X[x])
    ax.set_ylabel("loss" if val else "training loss")
    ax.grid(True, which="both" if log else "major", alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    return lines


# --------------------------------------------------------------------------- babysitting (ch. 05)
def _check_monitor(monitor: Any) -> None:
    if not all(hasattr(monitor, k) for k in ("steps", "update_ratio", "dead", "act_hist")):
        raise TypeError(f"monitor must be an edulib.babysit.Monitor, received {type(monitor).__name__}")
    if not monitor.steps:
        raise ValueError("monitor has recorded nothing to plot (received a Monitor with no steps): "
                         "pass it to train(..., monitor=mon) first")


def plot_update_ratios(monitor: Monitor, ax: Any = None, target: float = 1e-3) -> dict[str, Any]:
    r"""The update/weight ratio :math:`\lVert\Delta\theta\rVert/\lVert\theta\rVert` of each
    recorded array (one line per layer) against the optimizer step, on a log axis, with a dashed
    line at ``target`` (CS231n's healthy :math:`10^{-3}`). Infinite ratios (an all-zero array
    that moved) are left out of the line. Returns ``{name: Line2D, "target": Line2D}``."""
    _check_monitor(monitor)
    target = chk.check_number(target, "target", low=0.0, low_open=True)
    ax = get_ax(ax)
    steps = np.asarray(monitor.steps, dtype=np.float64)
    out: dict[str, Any] = {}
    for i, (name, ratios) in enumerate(monitor.update_ratio.items()):
        r = np.asarray(ratios, dtype=np.float64)
        r = np.where(np.isfinite(r) & (r > 0), r, np.nan)
        (out[name],) = ax.plot(steps, r, "-", marker="o", ms=2.5, lw=1.6,
                               color=_CURVE_COLORS[i % len(_CURVE_COLORS)], label=name)
    out["target"] = ax.axhline(target, color="k", ls="--", lw=1.0, label=f"{target:g} (rule of thumb)")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(r"update / weight $\|\Delta\theta\| / \|\theta\|$")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    return out


def plot_layer_histograms(hists: Mapping[str, Histogram], ax: Any = None, log: bool = False,
                          xlabel: str = "value") -> dict[str, Any]:
    """Histograms of several layers on one axis, one outline (``stairs``) per layer, as
    densities (each integrates to 1 over its own bins, so layers of different widths and
    ranges compare), e.g. ``monitor.histograms("activations")``. ``log`` puts the density on a
    log axis (a ReLU layer's spike at 0 hides the rest otherwise). Returns
    ``{name: StepPatch}``; move one with ``set_data(density, edges)``
    (:func:`histogram_density`)."""
    if not isinstance(hists, Mapping) or not hists:
        raise ValueError("hists must be a non-empty dict {layer: Histogram}, received "
                         f"{type(hists).__name__}" + (" (empty)" if isinstance(hists, Mapping) else ""))
    for name, h in hists.items():
        if not (hasattr(h, "counts") and hasattr(h, "edges")):
            raise TypeError(f"hists[{name!r}] must be an edulib.babysit.Histogram, "
                            f"received {type(h).__name__}")
    log = chk.check_bool(log, "log")
    ax = get_ax(ax)
    out: dict[str, Any] = {}
    for i, (name, h) in enumerate(hists.items()):
        out[name] = ax.stairs(histogram_density(h), h.edges, lw=1.6,
                              color=_CURVE_COLORS[i % len(_CURVE_COLORS)],
                              label=f"{name} (mean {h.mean:.2g}, sd {h.std:.2g})")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    return out


def histogram_density(h: Histogram) -> np.ndarray:
    """The density of each bin of ``h``: ``counts / (n * width)``, integrating to 1."""
    counts = np.asarray(h.counts, dtype=np.float64)
    return counts / (counts.sum() * np.diff(np.asarray(h.edges, dtype=np.float64)))


def plot_dead_fraction(monitor: Monitor, ax: Any = None) -> dict[str, Any]:
    """The fraction of dead units (0 on every example of the batch) of each hidden layer
    against the optimizer step, between 0 and 1. Returns ``{layer: Line2D}``."""
    _check_monitor(monitor)
    if not monitor.dead:
        raise ValueError("monitor has no hidden layers to plot (it recorded a model without "
                         "hidden layers; dead units need an edulib.models.MLP)")
    ax = get_ax(ax)
    steps = np.asarray(monitor.steps, dtype=np.float64)
    out: dict[str, Any] = {}
    for i, (name, frac) in enumerate(monitor.dead.items()):
        (out[name],) = ax.plot(steps, frac, "-", marker="o", ms=3, lw=1.6,
                               color=_CURVE_COLORS[i % len(_CURVE_COLORS)], label=name)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("dead units (fraction)")
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    return out
