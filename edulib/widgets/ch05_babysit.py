r"""Chapter 05 dashboard: :func:`babysit_dashboard`, the babysitting panel of several
precomputed runs (a healthy one and broken ones), chosen from a dropdown.

Each run is a :class:`edulib.train.History` and the :class:`edulib.babysit.Monitor` that
watched it. The panel shows, for the chosen run, the mini-batch loss per step, the
update/weight ratio :math:`\lVert\Delta\theta\rVert/\lVert\theta\rVert` of each layer (CS231n's
healthy :math:`10^{-3}` dashed), and the activation and gradient histograms of each layer at
the step chosen with a slider (a marker shows that step on the two curves). The readout gives
:func:`edulib.diagnose.diagnose`'s verdict of the run next to the babysitting numbers that
explain it (``diagnose`` is given the run's monitor, so it can name dead units: verdict
``dead_units``). Nothing is trained on a move: the dropdown and the slider only move artists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator

from .. import _checks as chk
from ..babysit import HEALTHY_RATIO, Monitor
from ..diagnose import diagnose
from ..plots import _CURVE_COLORS, histogram_density
from .core import SLIDER_LAYOUT, WIDE, Dashboard, _new_figure

__all__ = ["babysit_dashboard", "babysit_reading"]


def _check_runs(runs: Any) -> dict[str, tuple[Any, Any]]:
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("runs must be a non-empty dict {name: (History, Monitor)}, received "
                         f"{type(runs).__name__}" + (" (empty)" if isinstance(runs, Mapping) else ""))
    out: dict[str, tuple[Any, Any]] = {}
    layout = None
    for name, pair in runs.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"runs[{name!r}] must be a pair (History, Monitor), received "
                            f"{type(pair).__name__}")
        hist, mon = pair
        if not all(hasattr(hist, k) for k in ("loss", "train_loss", "diverged")):
            raise TypeError(f"runs[{name!r}][0] must be an edulib.train.History, received "
                            f"{type(hist).__name__}")
        if not isinstance(mon, Monitor):
            raise TypeError(f"runs[{name!r}][1] must be an edulib.babysit.Monitor, received "
                            f"{type(mon).__name__}")
        if not mon.steps or not mon.act_hist:
            raise ValueError(f"runs[{name!r}] must have a Monitor that recorded an MLP's steps "
                             f"(hidden layers and at least one step), received {mon!r}")
        shape = (list(mon.update_ratio), list(mon.act_hist), mon.every)
        if layout is not None and shape != layout:
            raise ValueError(f"runs must share their layers and Monitor(every=...): {name!r} has "
                             f"{shape}, the first run {layout}")
        layout = shape
        out[str(name)] = (hist, mon)
    return out


def babysit_reading(history: Any, monitor: Any, at: int = -1, n_classes: int | None = None,
                    verdict: str | None = None) -> dict[str, Any]:
    """The numbers the panel shows for one run at recorded step number ``at`` (an index into
    ``monitor.steps``): ``step``, ``verdict`` (:func:`edulib.diagnose.diagnose` with
    ``n_classes`` and ``monitor``, unless ``verdict`` is given: the dashboard computes it once
    per run), ``ratio`` and ``median_ratio`` (per weight matrix: at that step, over the run),
    ``dead`` (per hidden layer, at that step), ``act_std`` and ``grad_std`` (per layer, at that
    step), ``loss`` (the mini-batch loss of that step)."""
    n = len(monitor.steps)
    at = chk.check_int(at, "at", low=-n, high=n - 1) % n
    step = monitor.steps[at]
    return {
        "step": step, "index": at,
        "verdict": (diagnose(history, n_classes=n_classes, monitor=monitor).verdict
                    if verdict is None else verdict),
        "ratio": {k: v[at] for k, v in monitor.update_ratio.items()},
        "median_ratio": {k: float(np.median(v)) for k, v in monitor.update_ratio.items()},
        "dead": {k: v[at] for k, v in monitor.dead.items()},
        "act_std": {k: v[at].std for k, v in monitor.act_hist.items()},
        "grad_std": {k: v[at].std for k, v in monitor.grad_hist.items()},
        "loss": float(history.loss[step]),
    }


def _fmt(d: Mapping[str, float], spec: str) -> str:
    return ", ".join(f"{k} {v:{spec}}" for k, v in d.items())


def babysit_dashboard(runs: Mapping[str, tuple[Any, Any]], *, run: str | None = None,
                      n_classes: int | None = None) -> Dashboard:
    r"""A dropdown over ``runs`` (``{name: (history, monitor)}``, same layers and the same
    ``Monitor(every=...)`` for all) and a slider over the optimizer steps; the panel shows the
    chosen run: loss per step, update/weight ratio per layer, activation and gradient
    histograms per layer at the recorded step at or before the slider's (runs that stopped
    early show their last one). ``n_classes`` and each run's monitor are passed to
    :func:`edulib.diagnose.diagnose`.

    ``state``: the :func:`babysit_reading` of the shown run and step, plus ``run``. Moves only
    update artists and axis limits (a full redraw of the figure, well under 300 ms).
    """
    runs = _check_runs(runs)
    names = list(runs)
    first = names[0] if run is None else run
    if first not in runs:
        raise ValueError(f"run must be one of {names}, received {run!r}")
    if n_classes is not None:
        n_classes = chk.check_int(n_classes, "n_classes", low=2)
    every = runs[first][1].every
    last = max(mon.steps[-1] for _, mon in runs.values())
    controls = {
        "run": widgets.Dropdown(options=names, value=first, description="run", style=WIDE,
                                layout=widgets.Layout(width="320px")),
        "step": widgets.IntSlider(value=0, min=0, max=last, step=every, description="step",
                                  continuous_update=True, style=WIDE,
                                  layout=widgets.Layout(**SLIDER_LAYOUT)),
    }
    fig, axes = _new_figure((10.0, 6.4), 2)
    fig.clear()
    (ax_loss, ax_ratio), (ax_act, ax_grad) = fig.subplots(2, 2)
    mon0 = runs[first][1]
    art: dict[str, Any] = {"loss": ax_loss.plot([], [], lw=0.8, color="0.35")[0],
                           "loss_at": ax_loss.axvline(0, color="C3", lw=1, ls=":")}
    for i, k in enumerate(mon0.update_ratio):
        c = _CURVE_COLORS[i % len(_CURVE_COLORS)]
        art[f"ratio {k}"] = ax_ratio.plot([], [], lw=1.4, marker="o", ms=2, color=c, label=k)[0]
        art[f"grad {k}"] = ax_grad.stairs([0.0], [0.0, 1.0], lw=1.5, color=c, label=k)
    for i, k in enumerate(mon0.act_hist):
        art[f"act {k}"] = ax_act.stairs([0.0], [0.0, 1.0], lw=1.5,
                                        color=_CURVE_COLORS[i % len(_CURVE_COLORS)], label=k)
    art["ratio_at"] = ax_ratio.axvline(0, color="C3", lw=1, ls=":")
    ax_ratio.axhline(HEALTHY_RATIO, color="k", ls="--", lw=1, label=f"{HEALTHY_RATIO:g}")
    ax_loss.set(yscale="log", xlabel="step", ylabel="mini-batch loss")
    ax_ratio.set(yscale="log", xlabel="step", ylabel=r"$\|\Delta\theta\| / \|\theta\|$",
                 xlim=(0, max(last, 1)))
    ax_act.set(xlabel="activation value", ylabel="density")
    ax_grad.set(xlabel="gradient value", ylabel="density")
    for ax in (ax_loss, ax_ratio, ax_act, ax_grad):
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(5))
    for ax in (ax_loss, ax_ratio):  # a few labelled decades, no minor ticks: cheap redraws
        ax.yaxis.set_major_locator(LogLocator(numticks=5))
        ax.yaxis.set_minor_locator(NullLocator())
    for ax in (ax_act, ax_grad):
        ax.yaxis.set_major_locator(MaxNLocator(4))
    for ax in (ax_ratio, ax_act, ax_grad):
        ax.legend(frameon=False, fontsize="small", loc="upper right")
    art["act_title"] = ax_act.set_title("")
    art["grad_title"] = ax_grad.set_title("")
    art["loss_title"] = ax_loss.set_title("")
    state: dict[str, Any] = {}
    verdicts = {name: diagnose(h, n_classes=n_classes, monitor=m).verdict
                for name, (h, m) in runs.items()}

    def update() -> None:
        name = controls["run"].value
        hist, mon = runs[name]
        at = int(np.searchsorted(mon.steps, int(controls["step"].value), side="right")) - 1
        r = babysit_reading(hist, mon, max(at, 0), verdict=verdicts[name])
        _draw_run(art, (ax_loss, ax_ratio, ax_act, ax_grad), hist, mon, r)
        state.clear()
        state.update(r, run=name)
        state["_readout"] = (
            f"<b>{name}</b>: diagnose says <b>{r['verdict']}</b>; step {r['step']} "
            f"(of {hist.steps} run), batch loss {r['loss']:.3g}<br>"
            f"update/weight ratio: {_fmt(r['ratio'], '.1e')} (run median "
            f"{_fmt(r['median_ratio'], '.1e')}; healthy ≈ {HEALTHY_RATIO:g})<br>"
            f"dead units: {_fmt(r['dead'], '.0%')}; activation sd {_fmt(r['act_std'], '.3g')}; "
            f"gradient sd {_fmt(r['grad_std'], '.2g')}")

    update()                       # the first run drawn, then the layout solved once and frozen:
    fig.get_layout_engine().execute(fig)     # solving it on every frame would double the redraw
    fig.set_layout_engine("none")
    dash = Dashboard(fig, art, controls, update, state)
    dash.runs = runs
    return dash


def _draw_run(art: dict[str, Any], axes: tuple[Any, ...], hist: Any, mon: Any,
              r: dict[str, Any]) -> None:
    """Move the artists to run ``(hist, mon)`` at the reading ``r``; rescale the axes."""
    ax_loss, ax_ratio, ax_act, ax_grad = axes
    loss = np.asarray(hist.loss, dtype=np.float64)
    ok = np.isfinite(loss) & (loss > 0)
    art["loss"].set_data(np.arange(loss.size)[ok], loss[ok])
    ax_loss.set_xlim(0, max(loss.size - 1, 1))
    if ok.any():
        ax_loss.set_ylim(loss[ok].min() / 1.5, loss[ok].max() * 1.5)
    steps = np.asarray(mon.steps, dtype=np.float64)
    lo, hi = np.inf, -np.inf
    for k, v in mon.update_ratio.items():
        y = np.asarray(v, dtype=np.float64)
        y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
        art[f"ratio {k}"].set_data(steps, y)
        if np.isfinite(y).any():
            lo, hi = min(lo, np.nanmin(y)), max(hi, np.nanmax(y))
    lo, hi = (min(lo, HEALTHY_RATIO), max(hi, HEALTHY_RATIO)) if np.isfinite(lo) else (1e-4, 1e-2)
    ax_ratio.set_ylim(lo / 3, hi * 3)
    for key in ("loss_at", "ratio_at"):
        art[key].set_xdata([r["step"], r["step"]])
    for kind, ax, table in (("act", ax_act, mon.act_hist), ("grad", ax_grad, mon.grad_hist)):
        x_lo, x_hi, top = np.inf, -np.inf, 0.0
        for k, hs in table.items():
            h = hs[r["index"]]
            dens = histogram_density(h)
            art[f"{kind} {k}"].set_data(dens, h.edges)
            x_lo, x_hi, top = min(x_lo, h.edges[0]), max(x_hi, h.edges[-1]), max(top, dens.max())
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(0, top * 1.08)
    art["act_title"].set_text(f"activations at step {r['step']}")
    art["grad_title"].set_text(f"weight gradients at step {r['step']}")
    art["loss_title"].set_text(f"diagnose: {r['verdict']}")
