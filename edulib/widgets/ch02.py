r"""Chapter 02 dashboards: :func:`gd_dashboard` (gradient descent on a 2-D surface,
log-scale learning rate) and :func:`minibatch_dashboard` (mini-batch SGD on digits: learning
rate and batch size)."""

from __future__ import annotations

import math
from typing import Any

import ipywidgets as widgets
import numpy as np

from .. import _checks as chk
from .. import data as _data
from .. import models as _models
from .. import train as _train
from ..functions import Quadratic
from ..plots import COLORS, plot_contour, plot_trajectory, trajectory_data
from ..train import run_on_surface
from .core import (
    SLIDER_LAYOUT,
    WIDE,
    Dashboard,
    OptimizerChoice,
    _FastDashboard,
    _new_figure,
    check_start,
    distance_to_minimum,
    log_axis,
    plottable,
    surface_choice,
    surface_controls,
)

__all__ = ["examples_seen", "gd_dashboard", "minibatch_checkpoints", "minibatch_dashboard"]


def gd_dashboard(surface: Any = None, *, lr: float = 0.1, steps: int = 50, momentum: float = 0.0,
                 x0: Any = None, lr_range: tuple[float, float] = (1e-4, 1.0),
                 max_steps: int = 300, momentum_slider: bool = False, optimizer: str = "SGD",
                 optimizers: Any = None) -> Dashboard:
    r"""Gradient descent :math:`x_{k+1} = x_k - \eta\,\nabla f(x_k)` on a 2-D surface, with a
    log-scale learning-rate slider, or any optimizer of :data:`edulib.optim.OPTIMIZERS`.

    Controls (``dash.controls``): ``optimizer`` (a dropdown over ``optimizers``, default every
    registered one; starts at ``optimizer``), ``lr`` (η, log scale over ``lr_range``), the
    chosen optimizer's own sliders (:class:`~edulib.widgets.core.OptimizerChoice`: β1, β2 for
    Adam ...; SGD's momentum μ and heavy-ball/Nesterov toggle only when ``momentum_slider``,
    else SGD runs with μ = ``momentum``), ``steps``, ``surface`` (a name of
    :data:`edulib.functions.SURFACES`, or the surface passed in), ``x1`` and ``x2`` (the start
    point :math:`x_0`, within the surface's box). Every change re-runs
    :func:`edulib.train.run_on_surface` with a fresh optimizer and moves the artists (the
    contour is replaced only when the surface changes). Left: contours and the path; right:
    :math:`f(x_k) - f_\min` against :math:`k` (log scale; :math:`f(x_k)` itself when the
    surface has no minimum), drawn within :math:`\pm 10^{30}` so that a blow-up stays plottable.

    ``state`` holds ``optimizer`` (the name), ``hyperparams`` (the keyword arguments used),
    ``lr``, ``steps``, ``momentum``, ``surface`` (the name), ``x0``, ``xs`` (the iterates, shape
    (k+1, 2)), ``values``, ``final_f``, ``distance`` (from the last iterate to the nearest
    minimum; None without a minimum), ``blew_up`` (the run stopped on divergence), ``diverged``
    (blew up, or :math:`f - f_\min` ended above where it started), and for a
    :class:`~edulib.functions.Quadratic`: ``lam_max`` (:math:`\lambda_{\max}` of the Hessian),
    ``lr_lam`` (:math:`\eta\lambda_{\max}`) and, for SGD, ``threshold``: GD with momentum μ
    converges iff :math:`\eta < 2(1+\mu)/\lambda_{\max}` (heavy ball; :math:`2/\lambda_{\max}`
    without momentum) or :math:`\eta < 2(1+\mu)/((1+2\mu)\lambda_{\max})` (Nesterov).
    """
    surfaces, first = surface_choice(surface)
    max_steps = chk.check_int(max_steps, "max_steps", low=1)
    steps = chk.check_int(steps, "steps", low=0, high=max_steps)
    start = check_start(surfaces[first], x0)
    controls: dict[str, Any] = {}
    sgd_mu = momentum_slider and optimizer == "SGD"
    choice = OptimizerChoice(
        controls, value=optimizer, names=optimizers, lr=lr, lr_range=lr_range,
        initial={"momentum": momentum} if sgd_mu else None,
        fixed=None if momentum_slider else {"SGD": {"momentum": momentum, "nesterov": False}})
    hold = {"on": False, "full": True}
    controls.update(surface_controls(surfaces, first, start, hold, steps=steps,
                                     max_steps=max_steps))
    fig, (ax_c, ax_f) = _new_figure((10.0, 4.0), 2)
    fig.set_dpi(80)
    art = _gd_artists(ax_c, ax_f, start)
    state: dict[str, Any] = {"surface": None}

    def update() -> None:
        name = controls["surface"].value
        s = surfaces[name]
        if state["surface"] != name:
            _draw_surface(ax_c, ax_f, art, s)
            hold["full"] = True
        k = int(controls["steps"].value)
        x_start = np.array([controls["x1"].value, controls["x2"].value], dtype=np.float64)
        kw = choice.kwargs()
        run = run_on_surface(s, choice.optimizer(), x_start, steps=k, **kw)
        vals, gap = _show_run(art, ax_f, run, s, k)
        state.update(surface=name, optimizer=choice.name, hyperparams=kw, lr=kw["lr"], steps=k,
                     momentum=float(kw.get("momentum", 0.0)), x0=x_start, xs=run.xs,
                     values=vals, blew_up=bool(run.diverged), message=run.message)
        for key in ("lam_max", "lr_lam", "threshold"):
            state.pop(key, None)
        state.update(_gd_verdict(s, run, vals, gap, choice))
        art["title"].set_text(("diverged: " if state["diverged"] else "") + f"η = {kw['lr']:.3g}")

    panel = [choice.box, widgets.HBox([controls["steps"], controls["surface"]]),
             widgets.HBox([controls["x1"], controls["x2"]])]
    dash = _FastDashboard(fig, art, controls, update, state, hold=hold, panel=panel,
                          moving=[ax_f, art["path"], art["start"], art["end"]])
    choice.on_new = dash.watch
    dash.surfaces = surfaces
    dash.choice = choice
    return dash


def _gd_artists(ax_c: Any, ax_f: Any, start: tuple[float, float]) -> dict[str, Any]:
    art: dict[str, Any] = dict(plot_trajectory(np.array([start]), ax=ax_c))
    (art["curve"],) = ax_f.plot([0], [1.0], "-o", ms=2.5, lw=1.2, color=COLORS["trajectory"])
    ax_f.set_xlabel(r"step $k$")
    ax_f.grid(True, alpha=0.3)
    art["title"] = ax_f.set_title("")
    return art


def _draw_surface(ax_c: Any, ax_f: Any, art: dict[str, Any], s: Any) -> None:
    """Replace the contour (and critical points) by ``s``'s; set the loss axis for it."""
    for key in ("contour", "minima", "saddles"):
        if key in art:
            art.pop(key).remove()
    new = plot_contour(s, ax=ax_c)
    art.update({k: v for k, v in new.items() if k != "levels"})
    art["levels"] = new["levels"]
    ax_c.set_title(s.title)
    art["curve"].set_data([0.0], [1.0])  # placeholder valid on both scales (set in update)
    ax_f.relim()
    if s.f_min is not None:
        log_axis(ax_f)
    else:
        ax_f.set_yscale("linear")
    ax_f.set_ylabel(r"$f(x_k) - f_{\min}$" if s.f_min is not None else r"$f(x_k)$")


def _show_run(art: dict[str, Any], ax_f: Any, run: Any, s: Any, k: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Move the path and the loss curve to ``run``; returns ``(values, f - f_min)``."""
    path, first_pt, end = trajectory_data(run.xs)
    art["path"].set_data(path[:, 0], path[:, 1])
    art["start"].set_data(first_pt[:, 0], first_pt[:, 1])
    art["end"].set_data(end[:, 0], end[:, 1])
    vals = np.asarray(run.values, dtype=np.float64)
    gap = vals - s.f_min if s.f_min is not None else vals.copy()
    art["curve"].set_data(np.arange(len(vals)), plottable(gap, log=s.f_min is not None))
    ax_f.set_xlim(0, max(k, 1))
    ax_f.relim()
    ax_f.autoscale_view(scalex=False)
    return vals, gap


def _gd_verdict(s: Any, run: Any, vals: np.ndarray, gap: np.ndarray, choice: Any
                ) -> dict[str, Any]:
    """Divergence, distance, the stability threshold of a quadratic, and the readout."""
    final = float(vals[-1])
    diverged = bool(run.diverged or not np.isfinite(final)
                    or (s.f_min is not None and float(gap[-1]) > float(gap[0])))
    out: dict[str, Any] = {"final_f": final, "diverged": diverged,
                           "distance": distance_to_minimum(s, run.xs[-1]),
                           "lam_max": None, "lr_lam": None, "threshold": None}
    kw = choice.kwargs()
    eta = kw["lr"]
    lines = [f"{choice.describe()}, {len(vals) - 1} step(s): f = {final:.4g}"
             + ("" if out["distance"] is None else
                f", distance to the minimum {out['distance']:.3g}")]
    if isinstance(s, Quadratic):
        lam = float(s.eigenvalues[-1])
        out.update(lam_max=lam, lr_lam=eta * lam)
        line = f"λ_max = {lam:.4g}, η·λ_max = {eta * lam:.3g}"
        if choice.name == "SGD":
            mu = float(kw.get("momentum", 0.0))
            nest = bool(kw.get("nesterov", False))
            out["threshold"] = 2.0 * (1.0 + mu) / ((1.0 + 2.0 * mu) if nest else 1.0) / lam
            rule = ("2(1+μ)/((1+2μ)λ_max)" if nest else "2(1+μ)/λ_max" if mu else "2/λ_max")
            line += f", threshold {rule} = {out['threshold']:.4g}"
        lines.append(line)
    for key in [k for k, v in out.items() if v is None and k != "distance"]:
        del out[key]
    verdict = ("<b style='color:#d62728'>diverged</b>" if diverged
               else "<b style='color:#2ca02c'>converging</b>")
    lines[-1] += f" &nbsp;→&nbsp; {verdict}"
    out["_readout"] = "<br>".join(lines)
    return out


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
                        n_points: int = 32, diverge_factor: float = 100.0,
                        optimizer: str = "SGD", optimizers: Any = None) -> Dashboard:
    r"""Mini-batch SGD :math:`\theta \leftarrow \theta - \eta\,\frac1B\sum_{i\in\mathcal B}
    \nabla \ell_i(\theta)` on digits, with a log-scale learning-rate slider, a batch-size
    slider (1, 2, 4, ..., the full batch) and an optimizer choice (default SGD with μ = 0;
    :class:`~edulib.widgets.core.OptimizerChoice` adds the chosen optimizer's sliders).

    Every change re-runs :func:`edulib.train.train` from the same initial parameters
    (``model.init_params(seed)``), with a fresh optimizer, ``seed`` for the batch order,
    ``on_diverge="stop"`` and ``diverge_factor``, for a **fixed budget of examples**:
    ``epochs`` epochs over the first ``n_train`` training examples (``None``: all of them), so
    every batch size processes the same ``epochs * n_train`` examples, in
    :math:`\lceil n/B\rceil` steps per epoch. (A subset keeps batch size 1, hundreds of
    Python-level steps, fast enough for a slider; validation uses the whole validation set.)

    Left: the full training loss (on the subset) and the validation loss, evaluated at
    :func:`minibatch_checkpoints`, against the examples seen. Right: the mini-batch loss of
    every step (``history.loss``, noisy for small ``B``) with the same full training loss,
    against the step. Defaults: :func:`edulib.data.digits`, ``SoftmaxRegression(64, 10)``.

    ``state`` holds ``optimizer``, ``hyperparams``, ``lr``, ``batch_size``, ``n_train``,
    ``epochs``, ``steps``, ``steps_per_epoch``, ``examples``, ``checkpoints``, ``train_curve``,
    ``val_curve``, ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc`` (of the last
    parameters, also when the run stopped on divergence: then the last checkpoint is that
    step), ``diverged`` (:func:`~edulib.train.train` stopped on a blow-up, or the training loss
    ended above its initial value) and ``history``.
    """
    sub, model, n_train = _minibatch_data(data, model, n_train, epochs)
    chk.check_int(n_points, "n_points", low=1)
    init = {k: np.array(v, copy=True) for k, v in model.init_params(seed=seed).items()}
    options = _batch_options(n_train)
    b0 = n_train if batch_size is None else batch_size
    if b0 not in [b for _, b in options]:
        raise ValueError(f"batch_size must be None or one of {[b for _, b in options]}, "
                         f"received {batch_size!r}")
    controls: dict[str, Any] = {}
    choice = OptimizerChoice(controls, value=optimizer, names=optimizers, lr=lr,
                             lr_range=lr_range, lr_step=0.05, lr_format=".3g",
                             continuous_update=False)
    controls["batch_size"] = widgets.SelectionSlider(
        options=options, value=b0, description="batch size B", continuous_update=False,
        style=WIDE, layout=widgets.Layout(**SLIDER_LAYOUT))
    fig, axes, art = _minibatch_figure(epochs, n_train)
    state: dict[str, Any] = {"n_train": n_train, "epochs": epochs}
    settings = {"epochs": epochs, "seed": seed, "diverge_factor": diverge_factor,
                "n_points": n_points, "n_train": n_train}

    def update() -> None:
        B, kw = int(controls["batch_size"].value), choice.kwargs()
        hist, ck, tr, va, accs = _minibatch_run(model, sub, init, choice.optimizer(), kw, B,
                                                settings)
        x_ck = _show_minibatch(art, axes, hist, ck, tr, va, n_train, B)
        state.update(_minibatch_state(choice, kw, B, hist, ck, tr, va, accs, x_ck, settings))
        art["title"].set_text(f"B = {B}, η = {kw['lr']:.3g}"
                              + (": DIVERGED" if state["diverged"] else ""))
        art["steps_title"].set_text(f"{hist.steps} steps ({state['steps_per_epoch']} per epoch)")

    dash = Dashboard(fig, art, controls, update, state,
                     panel=[choice.box, controls["batch_size"]])
    choice.on_new = dash.watch
    dash.choice = choice
    dash.data, dash.model, dash.init_params, dash.settings = sub, model, init, settings
    return dash


def _minibatch_data(data: Any, model: Any, n_train: int | None, epochs: int
                    ) -> tuple[Any, Any, int]:
    """The training subset (first ``n_train`` examples, whole validation set) and the model."""
    if data is None:
        data = _data.digits()
    if not all(hasattr(data, k) for k in ("X_train", "X_val", "y_train", "y_val")):
        raise TypeError("data must be an edulib.data.Split (X_train, X_val, y_train, y_val), "
                        f"received {type(data).__name__}")
    X_all, y_all = np.asarray(data.X_train, np.float64), np.asarray(data.y_train)
    if n_train is None:
        n_train = int(X_all.shape[0])
    n_train = chk.check_int(n_train, "n_train", low=1, high=int(X_all.shape[0]))
    epochs = chk.check_int(epochs, "epochs", low=1)
    sub = _data.Split(X_all[:n_train], np.asarray(data.X_val, np.float64), y_all[:n_train],
                      np.asarray(data.y_val))
    if model is None:
        model = _models.SoftmaxRegression(int(X_all.shape[1]), int(y_all.max()) + 1)
    return sub, model, n_train


def _minibatch_figure(epochs: int, n_train: int) -> tuple[Any, tuple[Any, Any], dict[str, Any]]:
    """Left: full losses against the examples seen; right: every step's mini-batch loss."""
    fig, (ax_ex, ax_st) = _new_figure((10.0, 3.8), 2)
    fig.set_layout_engine("none")  # fixed margins: no layout pass on every redraw
    ax_ex.set_position((0.065, 0.14, 0.43, 0.78))
    ax_st.set_position((0.555, 0.14, 0.43, 0.78))
    art: dict[str, Any] = {}
    (art["train"],) = ax_ex.plot([0], [1.0], "-o", ms=2.5, lw=1.8, color="#1f77b4",
                                 label="training loss (full subset)")
    (art["val"],) = ax_ex.plot([0], [1.0], "--o", ms=2.5, lw=1.4, color="#ff7f0e",
                               label="validation loss")
    ax_ex.set_xlim(0, epochs * n_train)
    ax_ex.set_xlabel(f"examples seen ({epochs} epochs × {n_train})")
    ax_ex.set_ylabel("loss")
    art["title"] = ax_ex.set_title("")
    (art["batch"],) = ax_st.plot([0], [1.0], "-", lw=0.8, color=COLORS["data"], alpha=0.8,
                                 label="mini-batch loss of the step")
    (art["train_steps"],) = ax_st.plot([0], [1.0], "-o", ms=2.5, lw=1.8, color="#1f77b4",
                                       label="training loss (full subset)")
    ax_st.set_xlabel("optimizer step")
    art["steps_title"] = ax_st.set_title("")
    for ax in (ax_ex, ax_st):
        log_axis(ax)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(frameon=False, fontsize="small", loc="upper right")
    return fig, (ax_ex, ax_st), art


def _minibatch_run(model: Any, sub: Any, init: dict[str, Any], opt_cls: Any, kw: dict[str, Any],
                   B: int, settings: dict[str, Any]) -> tuple[Any, list[int], list[float],
                                                               list[float], tuple[float, float]]:
    """One training run; full losses at the checkpoints (and at a divergence stop)."""
    epochs, n_train = settings["epochs"], settings["n_train"]
    marks = minibatch_checkpoints(epochs * math.ceil(n_train / B), settings["n_points"])
    wanted = set(marks[1:])
    ck: list[int] = []
    tr: list[float] = []
    va: list[float] = []

    def checkpoint(step: int, params: Any) -> None:
        ck.append(step)
        tr.append(float(model.loss(params, sub.X_train, sub.y_train)))
        va.append(float(model.loss(params, sub.X_val, sub.y_val)))

    def record(step: int, _loss: float, params: Any, _h: Any) -> None:
        if step in wanted:
            checkpoint(step, params)

    params = {k: v.copy() for k, v in init.items()}
    hist = _train.train(model, params, opt_cls(params, **kw), sub, epochs=epochs, batch_size=B,
                        seed=settings["seed"], on_diverge="stop",
                        diverge_factor=settings["diverge_factor"], callback=record)
    if hist.steps > (ck[-1] if ck else 0):  # stopped on divergence: the last parameters
        checkpoint(hist.steps, params)
    accs = (float(model.accuracy(params, sub.X_train, sub.y_train)),
            float(model.accuracy(params, sub.X_val, sub.y_val)))
    return hist, [0, *ck], [hist.train_loss[0], *tr], [hist.val_loss[0], *va], accs


def _show_minibatch(art: dict[str, Any], axes: tuple[Any, Any], hist: Any, ck: list[int],
                    tr: list[float], va: list[float], n_train: int, B: int) -> np.ndarray:
    """Move the four curves; both panels share y limits from the losses. Returns the
    examples seen at the checkpoints."""
    ax_ex, ax_st = axes
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
    return x_ck


def _minibatch_state(choice: Any, kw: dict[str, Any], B: int, hist: Any, ck: list[int],
                     tr: list[float], va: list[float], accs: tuple[float, float],
                     x_ck: np.ndarray, settings: dict[str, Any]) -> dict[str, Any]:
    """The numbers shown, the divergence verdict and the readout (three short lines)."""
    epochs, n_train = settings["epochs"], settings["n_train"]
    per_epoch = math.ceil(n_train / B)
    went_up = not (math.isfinite(tr[-1]) and tr[-1] <= tr[0])
    if hist.diverged:
        why = f"yes: {hist.message}"
    elif went_up:
        why = f"yes: the training loss went up, from {tr[0]:.4g} to {tr[-1]:.4g}"
    else:
        why = "no"
    readout = "<br>".join([
        f"{choice.describe()}, B = {B}: {hist.steps} steps ({per_epoch} per epoch), "
        f"{int(x_ck[-1])} examples seen",
        f"(fixed budget: {epochs} epochs over {n_train} training examples)",
        f"final train loss {tr[-1]:.4f}, val loss {va[-1]:.4f}, "
        f"train acc {accs[0]:.3f}, val acc {accs[1]:.3f}",
        f"diverged: {why}"])
    return dict(optimizer=choice.name, hyperparams=kw, lr=kw["lr"], batch_size=B,
                steps=hist.steps, steps_per_epoch=per_epoch, examples=int(x_ck[-1]),
                checkpoints=ck, train_curve=tr, val_curve=va, train_loss=tr[-1],
                val_loss=va[-1], train_acc=accs[0], val_acc=accs[1],
                diverged=bool(hist.diverged or went_up), history=hist, _readout=readout)
