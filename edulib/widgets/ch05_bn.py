r"""Chapter 05 dashboard on batch normalisation: :func:`bn_lr_dashboard` (the learning rate η
on a log slider, batch normalisation on or off, the loss curves of the run) and the runs it
shows, :func:`bn_run` (one training run of an MLP with or without batch normalisation, the
same function the notebook's sweeps call).

A run trains ``MLP(64, hidden, 10, batch_norm=...)`` on the digits with plain mini-batch SGD
(:func:`edulib.train.train`: training-mode steps, eval-mode evaluations after every epoch) and
keeps its :class:`~edulib.train.History`. It *trains* when :func:`~edulib.train.train` saw no
blow-up and the training loss at the end is at most :data:`TRAINS_FACTOR` (one half) of the
loss at initialisation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import numpy as np

from .. import _checks as chk
from .. import data as _data
from .. import models as _models
from .. import optim as _optim
from .. import train as _train
from .core import SLIDER_LAYOUT, WIDE, _FastDashboard, _new_figure, log_axis, on_grid, plottable

__all__ = ["LR_GRID", "TRAINS_FACTOR", "BNRun", "bn_lr_dashboard", "bn_run"]

#: a run trains when its final training loss is at most this fraction of the initial one
TRAINS_FACTOR = 0.5
#: the slider's learning rates: 2^k for k = -3, -2.5, ..., 5 (0.125 to 32)
LR_EXPONENTS = tuple(k / 2 for k in range(-6, 11))
LR_GRID = tuple(2.0 ** k for k in LR_EXPONENTS)
LOSS_LIMITS = (1e-3, 1e3)


@dataclass(frozen=True)
class BNRun:
    r"""One run of :func:`bn_run`: its settings (``lr``, ``batch_norm``, ``seed``, ``settings``:
    the tuple ``(epochs, batch_size, hidden, activation, n_train)``), the ``history``,
    ``w1_norms`` (:math:`\lVert W_1\rVert` at initialisation and after every step, NumPy),
    the ``model`` and its final ``params``, ``steps_per_epoch``; ``w1_growth``
    (:math:`\lVert W_1\rVert` at the end over its value at initialisation), ``diverged``
    (train stopped on a blow-up), ``trains`` and ``final_train_loss``."""

    lr: float
    batch_norm: bool
    seed: int
    settings: tuple
    history: Any
    steps_per_epoch: int
    w1_norms: np.ndarray = field(repr=False)
    model: Any = field(repr=False)
    params: dict = field(repr=False)

    @property
    def w1_growth(self) -> float:
        return float(self.w1_norms[-1] / self.w1_norms[0])

    @property
    def diverged(self) -> bool:
        return bool(self.history.diverged)

    @property
    def trains(self) -> bool:
        h = self.history
        return (not h.diverged and math.isfinite(h.train_loss[-1])
                and h.train_loss[-1] <= TRAINS_FACTOR * h.train_loss[0])

    @property
    def final_train_loss(self) -> float:
        return float(self.history.train_loss[-1])


@functools.lru_cache(maxsize=1)
def _digits() -> Any:
    return _data.digits()


def _settings(epochs: Any, batch_size: Any, hidden: Any, activation: Any,
              n_train: Any) -> tuple:
    epochs = chk.check_int(epochs, "epochs", low=1)
    batch_size = chk.check_int(batch_size, "batch_size", low=2)
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (int(hidden),)
    if not isinstance(hidden, (tuple, list)) or not hidden:
        raise TypeError(f"hidden must be an int or a non-empty tuple of ints, received "
                        f"{type(hidden).__name__} {hidden!r}")
    hidden = tuple(chk.check_int(h, "hidden", low=1) for h in hidden)
    if activation not in _models.ACTIVATIONS:
        raise ValueError(f"activation must be one of {_models.ACTIVATIONS}, received "
                         f"{activation!r}")
    if n_train is not None:
        n_train = chk.check_int(n_train, "n_train", low=2)
    return epochs, batch_size, hidden, activation, n_train


def bn_run(lr: float, batch_norm: bool, *, data: Any = None, seed: int = 0, epochs: int = 5,
           batch_size: int = 64, hidden: Any = (32, 32), activation: str = "relu",
           n_train: int | None = None) -> BNRun:
    r"""Train ``MLP(n_features, hidden, n_classes, activation, batch_norm=batch_norm)`` from
    ``init_params(seed)`` with ``SGD(lr)`` (no momentum) for ``epochs`` epochs of mini-batches
    of ``batch_size`` (order from ``seed``), on ``data`` (an :class:`edulib.data.Split`;
    default :func:`edulib.data.digits`, its first ``n_train`` training examples if given).
    A blow-up stops the run silently (``on_diverge="stop"``). Returns a :class:`BNRun`.

    ``batch_size`` must leave no last mini-batch of one example (batch normalisation cannot
    normalise a batch of one in training mode): a ValueError says so up front.
    """
    lr = chk.check_number(lr, "lr", low=0.0, low_open=True)
    batch_norm = chk.check_bool(batch_norm, "batch_norm")
    seed = chk.check_int(seed, "seed", low=0)
    settings = _settings(epochs, batch_size, hidden, activation, n_train)
    epochs, batch_size, hidden, activation, n_train = settings
    split = _digits() if data is None else data
    if not all(hasattr(split, k) for k in ("X_train", "X_val", "y_train", "y_val")):
        raise TypeError("data must be an edulib.data.Split (X_train, X_val, y_train, y_val), "
                        f"received {type(split).__name__}")
    if n_train is not None:
        split = _data.Split(split.X_train[:n_train], split.X_val, split.y_train[:n_train],
                            split.y_val)
    n = int(split.X_train.shape[0])
    if batch_norm and n % batch_size == 1:
        raise ValueError(f"batch_size={batch_size} leaves a last mini-batch of 1 example out of "
                         f"{n}, which batch normalisation cannot normalise in training mode; "
                         f"choose another batch_size")
    y_all = np.concatenate([np.asarray(split.y_train), np.asarray(split.y_val)])
    model = _models.MLP(int(split.X_train.shape[1]), hidden, int(y_all.max()) + 1,
                        activation=activation, batch_norm=batch_norm)
    params = model.init_params(seed=seed)
    norms = [float(np.linalg.norm(params["W1"]))]

    def record(step: int, loss: float, p: Any, h: Any) -> None:
        norms.append(float(np.linalg.norm(p["W1"])))

    with np.errstate(over="ignore", invalid="ignore"):
        hist = _train.train(model, params, _optim.SGD(params, lr=lr), split, epochs=epochs,
                            batch_size=batch_size, seed=seed, on_diverge="stop",
                            callback=record)
    return BNRun(lr=lr, batch_norm=batch_norm, seed=seed, settings=settings, history=hist,
                 steps_per_epoch=math.ceil(n / batch_size), w1_norms=np.asarray(norms),
                 model=model, params=params)


def _key(lr: float, batch_norm: bool) -> tuple[float, bool]:
    return round(math.log2(lr), 6), bool(batch_norm)


def bn_lr_dashboard(data: Any = None, *, lr: float = 2.0, batch_norm: bool = True,
                    seed: int = 0, epochs: int = 5, batch_size: int = 64,
                    hidden: Any = (32, 32), activation: str = "relu", n_train: int | None = None,
                    runs: Iterable[BNRun] = ()) -> _FastDashboard:
    r"""Batch normalisation and the learning rate: a log slider for η (:data:`LR_GRID`,
    :math:`2^{-3}` to :math:`2^5` in half powers of two) and a batch-normalisation toggle.

    Left: the training and validation loss after every epoch (eval mode, log scale) of the
    run :func:`bn_run` gives for (η, toggle), and, faint, the same η with the toggle the other
    way. Right: the validation accuracy of both. Each (η, toggle) pair is trained once, when
    first shown, and kept (``dash.cache``); ``runs`` (e.g. the notebook's sweep, same ``seed``
    and settings) fills the cache up front. Only the curves move (fixed axes, blitting).

    ``state``: ``lr``, ``batch_norm``, ``run`` and ``other`` (the two :class:`BNRun`),
    ``train_loss``, ``val_loss``, ``val_acc`` (lists, of the selected run), ``trains``,
    ``diverged``, ``w1_growth``.
    """
    batch_norm = chk.check_bool(batch_norm, "batch_norm")
    seed = chk.check_int(seed, "seed", low=0)
    settings = _settings(epochs, batch_size, hidden, activation, n_train)
    lr = chk.check_number(lr, "lr", low=LR_GRID[0], high=LR_GRID[-1])
    kw = dict(data=data, seed=seed, epochs=settings[0], batch_size=settings[1],
              hidden=settings[2], activation=settings[3], n_train=settings[4])
    cache: dict[tuple[float, bool], BNRun] = {}
    for i, r in enumerate(runs):
        if not isinstance(r, BNRun):
            raise TypeError(f"runs[{i}] must be a BNRun from bn_run, received "
                            f"{type(r).__name__}")
        if (r.seed, r.settings) != (seed, settings):
            raise ValueError(f"runs[{i}] was trained with seed={r.seed} and (epochs, batch_size, "
                             f"hidden, activation, n_train) = {r.settings}; the dashboard uses "
                             f"seed={seed} and {settings}")
        cache[_key(r.lr, r.batch_norm)] = r

    def get(eta: float, bn: bool) -> BNRun:
        key = _key(eta, bn)
        if key not in cache:
            cache[key] = bn_run(eta, bn, **kw)
        return cache[key]

    slider = widgets.FloatLogSlider(value=2.0, base=2.0, min=LR_EXPONENTS[0],
                                    max=LR_EXPONENTS[-1], step=0.5, description="learning rate η",
                                    readout_format=".3g", continuous_update=False, style=WIDE,
                                    layout=widgets.Layout(**SLIDER_LAYOUT))
    slider.value = on_grid(slider, lr)
    controls = {"lr": slider,
                "batch_norm": widgets.Checkbox(value=batch_norm, description="batch normalisation",
                                               style=WIDE)}
    fig, art = _bn_figure(settings[0])
    hold = {"on": False, "full": True}
    state: dict[str, Any] = {}

    def update() -> None:
        eta, bn = float(controls["lr"].value), bool(controls["batch_norm"].value)
        run, other = get(eta, bn), get(eta, not bn)
        for name, r in (("sel", run), ("oth", other)):
            h = r.history
            ep = np.arange(len(h.train_loss))
            art[f"{name}_train"].set_data(ep, plottable(h.train_loss, log=True))
            art[f"{name}_val"].set_data(ep, plottable(h.val_loss, log=True))
            art[f"{name}_acc"].set_data(ep, np.asarray(h.val_acc, dtype=np.float64))
        h = run.history
        if run.diverged:  # where it stopped, at the top of the loss axes
            art["blowup"].set_data([h.steps / run.steps_per_epoch], [0.5 * LOSS_LIMITS[1]])
        else:
            art["blowup"].set_data([], [])
        art["title"].set_text(f"η = {eta:.3g}, {'with' if bn else 'without'} batch norm"
                              + (": BLEW UP" if run.diverged else ""))
        state.update(lr=eta, batch_norm=bn, run=run, other=other,
                     train_loss=list(run.history.train_loss), val_loss=list(run.history.val_loss),
                     val_acc=list(run.history.val_acc), trains=run.trains,
                     diverged=run.diverged, w1_growth=run.w1_growth,
                     _readout=_readout(eta, bn, run, other))

    dash = _FastDashboard(fig, art, controls, update, state, hold=hold,
                          moving=[art[k] for k in ("sel_train", "sel_val", "oth_train", "oth_val",
                                                   "blowup", "sel_acc", "oth_acc", "title")])
    dash.cache = cache
    dash.settings = dict(kw, data=None)
    return dash


def _bn_figure(epochs: int) -> tuple[Any, dict[str, Any]]:
    fig, (ax_l, ax_a) = _new_figure((10.0, 3.8), 2)
    fig.set_dpi(80)
    art: dict[str, Any] = {}
    (art["sel_train"],) = ax_l.plot([], [], "-o", ms=3, lw=1.8, color="#1f77b4",
                                    label="training loss")
    (art["sel_val"],) = ax_l.plot([], [], "--o", ms=3, lw=1.5, color="#ff7f0e",
                                  label="validation loss")
    (art["oth_train"],) = ax_l.plot([], [], "-", lw=1.2, color="0.6",
                                    label="training, other toggle")
    (art["oth_val"],) = ax_l.plot([], [], "--", lw=1.2, color="0.75",
                                  label="validation, other toggle")
    (art["blowup"],) = ax_l.plot([], [], "x", ms=10, mew=2.5, color="#d62728",
                                 label="blew up (stopped)")
    log_axis(ax_l)
    ax_l.set(xlim=(0, epochs), ylim=LOSS_LIMITS, xlabel="epoch",
             ylabel="loss (eval mode)")
    art["title"] = ax_l.set_title("")
    (art["sel_acc"],) = ax_a.plot([], [], "-o", ms=3, lw=1.8, color="#ff7f0e",
                                  label="validation accuracy")
    (art["oth_acc"],) = ax_a.plot([], [], "-", lw=1.2, color="0.7",
                                  label="other toggle")
    ax_a.set(xlim=(0, epochs), ylim=(0.0, 1.0), xlabel="epoch", ylabel="validation accuracy")
    ax_a.set_title("a blown-up run stops: its curves end early")
    for ax in (ax_l, ax_a):
        ax.grid(True, which="major", alpha=0.3)
    ax_l.legend(frameon=False, fontsize="small", loc="lower left", ncols=2)
    ax_a.legend(frameon=False, fontsize="small", loc="lower right")
    return fig, art


def _describe(r: BNRun) -> str:
    h = r.history
    if r.diverged:
        return f"blew up at step {h.steps} ({h.message.split(':', 1)[-1].split(';')[0].strip()})"
    verdict = "trains" if r.trains else "does not train"
    return (f"{verdict}: training loss {h.train_loss[0]:.3g} → {h.train_loss[-1]:.3g}, "
            f"validation accuracy {h.val_acc[-1]:.3f}")


def _readout(eta: float, bn: bool, run: BNRun, other: BNRun) -> str:
    lines = [f"η = {eta:.3g} {'with' if bn else 'without'} batch norm: {_describe(run)}",
             f"{'without' if bn else 'with'} batch norm: {_describe(other)}"]
    if bn:
        lines.append(f"‖W1‖ grew {run.w1_growth:.3g}× during training (the pre-BN weights: "
                     f"their effective step η/‖W1‖² shrank by {run.w1_growth ** 2:.3g}×)")
    return "<br>".join(lines)
