r"""One training loop for every optimizer, and the same loop on a 2-D test surface.

:func:`train` runs full-batch gradient descent (``batch_size=None``), stochastic gradient
descent (``batch_size=1``) or mini-batch SGD (``batch_size=B``, reshuffled every epoch from
``seed``), and records everything a loss-curve plot needs in a :class:`History`.

:func:`run_on_surface` runs an optimizer on a 2-D function ``f(x)``, ``x`` of shape (2,), and
returns the path :math:`x_0, x_1, \dots` for a contour plot.

Both stop, with one clear message, when the optimizer diverges (the loss becomes NaN/inf or
grows far beyond where it started) instead of flooding the notebook with overflow warnings.

:func:`train` also carries the usual training tricks: a learning-rate schedule
(``scheduler=``, stepped per epoch or per step), early stopping on the validation loss with the
best parameters restored, gradient accumulation (``accumulate=k``) and gradient clipping by
global norm (``clip_norm=``) or by value (``clip_value=``), weight averaging (``average=``, an
:class:`edulib.averaging.AveragedParams`: SWA or EMA, evaluated beside the parameters) and
babysitting (``monitor=``, an :class:`edulib.babysit.Monitor`: update/weight ratios, activation
and gradient histograms, dead units, recorded every few steps).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from . import _checks as chk
from .averaging import AveragedParams
from .backend import array_namespace, to_numpy
from .backend import rng as make_rng
from .optim import Optimizer

__all__ = [
    "DivergenceWarning",
    "History",
    "SurfaceRun",
    "batch_indices",
    "clip_grad_norm",
    "clip_grad_value",
    "global_norm",
    "run_on_surface",
    "train",
]


class DivergenceWarning(UserWarning):
    """Issued once when :func:`train` stops because the loss diverged (``on_diverge="warn"``)."""


@dataclass
class History:
    """What happened during :func:`train`.

    Per step (``len == steps``): ``loss`` (the mini-batch loss *before* the update), ``lr``
    (the learning rate used) and ``grad_norm`` (global gradient norm, before clipping).

    Per evaluation (at initialisation, after every epoch, and once more when training stops
    early with ``max_steps`` or a callback): ``epoch_steps`` (steps done so far), ``train_loss``,
    ``val_loss``, ``train_acc``, ``val_acc`` (empty when the model has no ``accuracy`` / no
    validation data) and ``time`` (cumulative seconds spent in training steps, evaluation
    excluded). So ``train_loss[0]`` is the loss at initialisation and ``train_loss[e]`` the
    loss after ``e`` epochs.

    At the end: ``steps`` (optimizer updates), ``epochs`` (completed), ``diverged``,
    ``stop_reason`` (``"completed"``, ``"diverged"``, ``"early_stopping"``, ``"max_steps"`` or
    ``"callback"``) and ``message`` (one readable sentence). With early stopping,
    ``best_epoch`` (index of the best evaluation, 0 = initialisation) and ``best_loss`` (its
    monitored loss: validation, else training); ``None`` otherwise.

    With ``average=`` (weight averaging), each evaluation also records the averaged parameters'
    ``avg_train_loss``, ``avg_val_loss``, ``avg_train_acc`` and ``avg_val_acc`` (aligned with
    ``train_loss`` etc.; NaN at evaluations before the first update of the average, when there
    is nothing averaged yet). Without it these lists stay empty.
    """

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    epoch_steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    avg_train_loss: list[float] = field(default_factory=list)
    avg_val_loss: list[float] = field(default_factory=list)
    avg_train_acc: list[float] = field(default_factory=list)
    avg_val_acc: list[float] = field(default_factory=list)
    steps: int = 0
    epochs: int = 0
    diverged: bool = False
    stop_reason: str = ""
    message: str = ""
    best_epoch: int | None = None
    best_loss: float | None = None

    def __repr__(self) -> str:
        parts = [f"epochs={self.epochs}", f"steps={self.steps}"]
        if self.train_loss:
            parts.append(f"train_loss={self.train_loss[-1]:.4g}")
        if self.val_loss:
            parts.append(f"val_loss={self.val_loss[-1]:.4g}")
        if self.val_acc:
            parts.append(f"val_acc={self.val_acc[-1]:.4f}")
        if self.avg_val_loss or self.avg_train_loss:
            which = "val" if self.avg_val_loss else "train"
            parts.append(f"avg_{which}_loss={getattr(self, f'avg_{which}_loss')[-1]:.4g}")
        parts.append(f"diverged={self.diverged}")
        return f"History({', '.join(parts)})"


class SurfaceRun(NamedTuple):
    """The result of :func:`run_on_surface` (NumPy arrays, ready to plot).

    ``xs`` (k+1, 2): the points :math:`x_0 \\dots x_k`; ``values`` (k+1,): :math:`f(x_t)`;
    ``grads`` (k+1, 2): :math:`\\nabla f(x_t)`. ``k`` is ``steps`` unless the run diverged, in
    which case the last point is the one that showed it (its value may be inf or NaN).
    """

    xs: np.ndarray
    values: np.ndarray
    grads: np.ndarray
    diverged: bool
    message: str


# ------------------------------------------------------------------------------ helpers
def _check_grads(grads: Any) -> None:
    if not isinstance(grads, Mapping):
        raise TypeError(f"grads must be a dict of named arrays, received {type(grads).__name__}")
    for k, g in grads.items():
        if g is not None and not hasattr(g, "shape"):
            raise TypeError(f"grads[{k!r}] must be an array or None, received {type(g).__name__}")


def global_norm(grads: Mapping[str, Any]) -> float:
    r"""Global norm :math:`\sqrt{\sum_k \lVert g_k \rVert^2}` over every array of ``grads``."""
    _check_grads(grads)
    total = 0.0
    for g in grads.values():
        if g is None:
            continue
        xp = array_namespace(g)
        total += float(xp.sum(g * g))
    return math.sqrt(total)


def clip_grad_norm(grads: Mapping[str, Any], max_norm: float) -> tuple[dict[str, Any], float]:
    r"""Rescale ``grads`` so their global norm is at most ``max_norm`` (as PyTorch's
    ``clip_grad_norm_``: :math:`g \leftarrow g \cdot \min(1, \text{max\_norm}/(\lVert g\rVert +
    10^{-6}))`). Returns the new dict (the input is not modified) and the norm before clipping."""
    chk.check_number(max_norm, "max_norm", low=0.0, low_open=True)
    norm = global_norm(grads)
    coef = min(1.0, float(max_norm) / (norm + 1e-6))
    if coef >= 1.0:
        return dict(grads), norm
    return {k: (None if g is None else g * coef) for k, g in grads.items()}, norm


def clip_grad_value(grads: Mapping[str, Any], clip_value: float) -> dict[str, Any]:
    r"""Clamp every gradient element to :math:`[-c, c]`, ``c = clip_value`` (as PyTorch's
    ``clip_grad_value_``: :math:`g_i \leftarrow \min(\max(g_i, -c), c)`). Unlike norm
    clipping this can change the gradient's direction. Returns a new dict (the input is not
    modified); ``None`` entries stay ``None``."""
    chk.check_number(clip_value, "clip_value", low=0.0, low_open=True)
    _check_grads(grads)
    c = float(clip_value)
    return {k: (None if g is None else array_namespace(g).clip(g, -c, c))
            for k, g in grads.items()}


def batch_indices(n: int, batch_size: int | None, rng: np.random.Generator | None = None,
                  shuffle: bool = True) -> list[np.ndarray]:
    """The index arrays of one epoch: ``ceil(n / batch_size)`` batches covering ``0..n-1`` once.

    With ``shuffle`` the order is ``rng.permutation(n)``; the last batch is smaller when
    ``batch_size`` does not divide ``n`` (PyTorch's ``drop_last=False``). ``batch_size=None``
    gives one batch of everything, in order; ``batch_size >= n`` one batch of everything, in
    the (shuffled) order, as PyTorch's ``DataLoader`` does.
    """
    n = chk.check_int(n, "n", low=1)
    shuffle = chk.check_bool(shuffle, "shuffle")
    if batch_size is not None:
        batch_size = chk.check_int(batch_size, "batch_size", low=1)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (edulib.rng(seed)) or None, "
                        f"received {type(rng).__name__}")
    if batch_size is None:
        return [np.arange(n)]
    order = (rng if rng is not None else make_rng(0)).permutation(n) if shuffle else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _to_namespace(xp: ModuleType, a: Any) -> Any:
    if isinstance(a, (list, tuple)):
        return xp.asarray(np.asarray(a))
    try:
        if array_namespace(a) is xp:
            return a
    except TypeError:
        pass
    return xp.asarray(to_numpy(a))


def _unpack(data: Any) -> tuple[Any, Any, Any, Any]:
    if all(hasattr(data, k) for k in ("X_train", "X_val", "y_train", "y_val")):
        return data.X_train, data.y_train, data.X_val, data.y_val
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], data[1], None, None
    raise TypeError(
        "data must be an edulib.data.Split (X_train, X_val, y_train, y_val) or a pair (X, y), "
        f"received {type(data).__name__}"
    )


# ------------------------------------------------------------------------------ train
#: an early stop whose training loss ended above this many times max(|L(θ0)|, 1) diverged
EARLY_STOP_RISE = 1.5


def train(
    model: Any,
    params: MutableMapping[str, Any],
    optimizer: Optimizer,
    data: Any,
    epochs: int = 10,
    batch_size: int | None = None,
    seed: int = 0,
    shuffle: bool = True,
    max_steps: int | None = None,
    clip_norm: float | None = None,
    callback: Callable[[int, float, MutableMapping[str, Any], History], bool | None] | None = None,
    diverge_factor: float = 1e6,
    on_diverge: str = "warn",
    verbose: bool = False,
    *,
    scheduler: Any = None,
    scheduler_interval: str = "epoch",
    early_stopping: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    accumulate: int = 1,
    clip_value: float | None = None,
    average: AveragedParams | None = None,
    average_start: int = 0,
    average_interval: str = "epoch",
    monitor: Any = None,
) -> History:
    r"""Train ``params`` (updated in place) of ``model`` with ``optimizer`` on ``data``.

    Each optimizer step takes a batch :math:`B`, computes :math:`L_B(\theta)` and its gradient
    :math:`g` with ``model.loss_and_grad(params, X_B, y_B)``, optionally clips :math:`g`, and
    calls ``optimizer.step(grads)``.

    - ``model``: has ``loss_and_grad(params, X, y) -> (loss, grads)``, ``loss(params, X, y)``
      and optionally ``accuracy(params, X, y)``; with ``loss_and_accuracy(params, X, y)``
      (edulib's models) each evaluation costs one forward pass per split.
    - ``optimizer``: built on the same dict, e.g. ``SGD(params, lr=0.1)``.
    - ``data``: an :class:`edulib.data.Split` or a pair ``(X, y)`` (no validation), arrays of any
      backend: they are moved to the backend of ``params`` (and floats cast to its dtype).
    - ``epochs``, ``batch_size``, ``max_steps``, ``accumulate``: Python or NumPy integers.
    - ``batch_size``: ``None`` full batch (GD), ``1`` SGD, ``B`` mini-batches; every epoch sees
      each example once, in an order drawn from ``seed`` (an int >= 0, or ``None`` for fresh
      randomness); ``shuffle=False`` keeps the data's order.
    - ``max_steps``: stop after that many optimizer steps in total (mid-epoch if need be).
    - ``callback(step, loss, params, history)`` runs after each optimizer step; ``True`` stops.
    - ``shuffle``, ``verbose``, ``restore_best``: ``True`` or ``False`` (a string is refused).

    Training tricks (keyword-only):

    - ``accumulate=k`` (gradient accumulation): one optimizer step uses the next ``k``
      mini-batches :math:`B_1..B_k` of the epoch, with the gradient of their union,
      :math:`g = \sum_j \frac{|B_j|}{\sum_i |B_i|}\, g_{B_j}`, so ``k`` mini-batches of ``B``
      give exactly the update of one batch of ``k·B`` in the same data order (an uneven last
      batch too; the last step of an epoch takes the mini-batches left). **A step is one
      optimizer update**: ``history.steps``, ``history.loss`` (the same weighted mean of the
      mini-batch losses), ``lr``, ``grad_norm``, ``max_steps`` and ``callback`` count updates,
      ``ceil(ceil(N/B)/k)`` per epoch.
    - ``clip_value=c``: clamp every gradient element to :math:`[-c, c]` (:func:`clip_grad_value`,
      as ``torch.nn.utils.clip_grad_value_``); ``clip_norm=m``: rescale to global norm at most
      :math:`m` (:func:`clip_grad_norm`). With both, values are clamped first. ``grad_norm``
      records the norm before any clipping.
    - ``scheduler``: a learning-rate schedule built on ``optimizer`` (``Sched(opt, ...)``, e.g.
      from :mod:`edulib.schedules`) whose ``step()`` writes ``opt.lr``. As in PyTorch it is
      stepped once after every epoch (``scheduler_interval="epoch"``) or after every optimizer
      step (``"step"``, for warm-up counted in iterations). A schedule with ``needs_metric =
      True`` (``ReduceLROnPlateau``) is stepped once per epoch as ``step(metric)`` with the
      validation loss (the training loss without validation data). ``history.lr`` shows the
      learning rate each step used.
    - ``early_stopping=patience``: monitor the validation loss (the training loss without
      validation data) at every evaluation; an evaluation improves when it is below the best
      so far minus ``min_delta``. After ``patience`` epochs in a row without improvement
      training stops with ``stop_reason="early_stopping"``. ``history.best_epoch`` is the index
      (into ``val_loss``/``train_loss``; 0 = initialisation) of the best evaluation and
      ``history.best_loss`` its monitored loss. With ``restore_best`` the arrays of ``params``
      are overwritten in place with the best ones when training ends, whatever the reason (the
      history keeps the curves as they were run; the optimizer state is not rewound).
    - ``average``: an :class:`edulib.averaging.AveragedParams` built on ``params`` (SWA by
      default, EMA with ``multi_avg_fn=get_ema_multi_avg_fn(decay)``). It is updated with the
      current parameters, as ``torch.optim.swa_utils``'s recipes do, after every optimizer step
      (``average_interval="step"``, the EMA habit) or after the last step of every epoch
      (``"epoch"``, torch's SWA recipe), once more than ``average_start`` steps (epochs) are
      done: update number ``t = history.steps`` (``history.epochs``) counts when ``t >
      average_start``, so ``average_start=75`` of 100 epochs averages the last 25 epochs (the
      loop ``for epoch in range(100): ...; if epoch >= 75: swa.update_parameters(params)``). An
      epoch cut short by ``max_steps`` or a callback is not averaged with ``"epoch"``. Each
      evaluation records the loss (and accuracy) of ``average.params`` in
      ``history.avg_train_loss`` / ``avg_val_loss`` (NaN while nothing is averaged yet).
      ``params`` itself is never overwritten by the average (early stopping's ``restore_best``
      works on ``params`` as before); read the average from ``average.params``. A step that
      makes a parameter NaN/inf is not averaged (the run is stopped as diverged at the next
      check).
    - ``monitor``: an :class:`edulib.babysit.Monitor` (or any object with ``start(model,
      params)``, ``wants(step)`` and ``record(step, X, before, after, grads)``): at the steps it
      wants (``Monitor(every=10)``: steps 0, 10, 20, ...) it receives the batch inputs, copies
      of the parameters before the step, the parameters after it and the (unclipped) gradient,
      and records the babysitting numbers (update/weight ratios, activation and gradient
      histograms, dead units). Its time is not counted in ``history.time``.

    Divergence: training stops, ``history.diverged`` is set and ``history.message`` says what
    happened, when (1) a batch loss or gradient is NaN/inf or the loss exceeds
    ``diverge_factor * max(|L_0|, 1)`` (:math:`L_0` the first batch loss), checked before the
    update; or (2) the training loss evaluated after an epoch (so after its last update) is
    NaN/inf or exceeds ``diverge_factor * max(|L(θ_0)|, 1)``, :math:`L(\theta_0)` the loss at
    initialisation; or (3) early stopping fires while that training loss is above
    ``EARLY_STOP_RISE`` (1.5) ``* max(|L(θ_0)|, 1)``: the monitored loss stopped improving
    because training made the loss worse than where it started, and ``stop_reason`` is then
    ``"diverged"``. ``on_diverge`` is ``"warn"`` (one :class:`DivergenceWarning`), ``"stop"``
    (silent) or ``"raise"`` (``FloatingPointError``).
    """
    opts = _checked_options(
        model, params, optimizer, epochs=epochs, batch_size=batch_size, seed=seed,
        shuffle=shuffle, max_steps=max_steps, clip_norm=clip_norm, callback=callback,
        diverge_factor=diverge_factor, on_diverge=on_diverge, verbose=verbose,
        scheduler=scheduler, scheduler_interval=scheduler_interval,
        early_stopping=early_stopping, min_delta=min_delta, restore_best=restore_best,
        accumulate=accumulate, clip_value=clip_value, average=average, average_start=average_start,
        average_interval=average_interval, monitor=monitor)
    run = _Run(model, params, optimizer, _prepare_data(params, data), opts)
    hist = run.hist
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        run.evaluate()                                      # the loss at initialisation
        for _epoch in range(opts.epochs):
            run.start_clock()
            for group in run.batch_groups():                # one group = one optimizer update
                if run.out_of_steps():
                    return run.finish(*run.stopped_mid_epoch("max_steps"))
                loss, grads = run.loss_and_grad(group)      # batch -> loss and gradient
                gnorm = global_norm(grads)
                blew_up = run.batch_blew_up(loss, gnorm)
                if blew_up:
                    return run.finish("diverged", blew_up)
                run.record_step(loss, gnorm)
                with run.babysit(group, grads):             # monitor: before and after the step
                    optimizer.step(run.clip(grads))         # clip -> step -> schedule -> average
                hist.steps += 1
                run.step_schedule("step")
                run.update_average()
                if run.callback_says_stop(loss):
                    return run.finish(*run.stopped_mid_epoch("callback"))
            run.stop_clock()
            hist.epochs += 1
            run.evaluate()                                  # evaluate -> stop?
            blew_up = run.evaluation_blew_up(f"after epoch {hist.epochs}")
            if blew_up:
                return run.finish("diverged", blew_up)
            if run.out_of_patience():
                return run.finish(*run.early_stopped())
            run.step_schedule("epoch")
        return run.finish("completed", f"completed {hist.epochs} epoch(s), {hist.steps} step(s)")


@dataclass(frozen=True)
class _Options:
    """The checked settings of one :func:`train` call."""

    epochs: int
    batch_size: int | None
    seed: int | None
    shuffle: bool
    max_steps: int | None
    clip_norm: float | None
    callback: Callable[..., Any] | None
    diverge_factor: float
    on_diverge: str
    verbose: bool
    scheduler: Any
    scheduler_interval: str
    needs_metric: bool
    early_stopping: int | None
    min_delta: float
    restore_best: bool
    accumulate: int
    clip_value: float | None
    average: AveragedParams | None
    average_start: int
    average_interval: str
    monitor: Any


def _checked_options(model: Any, params: Any, optimizer: Any, *, epochs: Any, batch_size: Any,
                     seed: Any, shuffle: Any, max_steps: Any, clip_norm: Any, callback: Any,
                     diverge_factor: Any, on_diverge: Any, verbose: Any, scheduler: Any,
                     scheduler_interval: Any, early_stopping: Any, min_delta: Any,
                     restore_best: Any, accumulate: Any, clip_value: Any, average: Any,
                     average_start: Any, average_interval: Any, monitor: Any) -> _Options:
    """:func:`train`'s arguments, each checked by name (a TypeError/ValueError says what was
    expected and what was received)."""
    _check_model_and_optimizer(model, params, optimizer)
    if on_diverge not in ("warn", "stop", "raise"):
        raise ValueError(f"on_diverge must be 'warn', 'stop' or 'raise', received {on_diverge!r}")
    if callback is not None:
        chk.check_callable(callback, "callback", "None or a function "
                           "callback(step, loss, params, history)")
    return _Options(
        epochs=_int_arg(epochs, "epochs", 0),
        batch_size=_int_arg(batch_size, "batch_size", 1, allow_none=True),
        seed=None if seed is None else chk.check_int(seed, "seed", low=0),
        shuffle=chk.check_bool(shuffle, "shuffle"),
        max_steps=_int_arg(max_steps, "max_steps", 0, allow_none=True),
        accumulate=_int_arg(accumulate, "accumulate", 1),
        early_stopping=(None if early_stopping is None
                        else _int_arg(early_stopping, "early_stopping", 1)),
        min_delta=chk.check_number(min_delta, "min_delta", low=0.0),
        restore_best=chk.check_bool(restore_best, "restore_best"),
        verbose=chk.check_bool(verbose, "verbose"),
        diverge_factor=chk.check_number(diverge_factor, "diverge_factor", low=1.0),
        clip_norm=(None if clip_norm is None
                   else chk.check_number(clip_norm, "clip_norm", low=0.0, low_open=True)),
        clip_value=(None if clip_value is None
                    else chk.check_number(clip_value, "clip_value", low=0.0, low_open=True)),
        callback=callback, on_diverge=on_diverge, scheduler=scheduler,
        scheduler_interval=scheduler_interval,
        needs_metric=_check_scheduler(scheduler, optimizer, scheduler_interval),
        average_start=_int_arg(average_start, "average_start", 0),
        average=_check_average(average, params, average_start, average_interval),
        average_interval=average_interval, monitor=_check_monitor(monitor),
    )


def _check_model_and_optimizer(model: Any, params: Any, optimizer: Any) -> None:
    if not hasattr(model, "loss_and_grad") or not hasattr(model, "loss"):
        raise TypeError(
            "model must have loss_and_grad(params, X, y) and loss(params, X, y), "
            f"received {type(model).__name__}"
        )
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be an edulib.optim.Optimizer, received {type(optimizer).__name__}"
        )
    if optimizer.params is not params:
        raise ValueError(
            "optimizer must be built on this params dict, e.g. SGD(params, lr=0.1); "
            "received an optimizer holding a different dict"
        )


def _int_arg(value: Any, name: str, low: int, allow_none: bool = False) -> int | None:
    """``value`` as an int >= ``low`` (Python or NumPy integer), else a ValueError naming it."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < low:
        expected = ("None or " if allow_none else "") + f"an int >= {low}"
        raise ValueError(f"{name} must be {expected}, received {value!r}")
    return int(value)


def _check_scheduler(scheduler: Any, optimizer: Optimizer, interval: Any) -> bool:
    """Validate ``scheduler`` and ``scheduler_interval``; returns whether it needs a metric."""
    if interval not in ("epoch", "step"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'step', received {interval!r}")
    if scheduler is None:
        return False
    if not callable(getattr(scheduler, "step", None)):
        raise TypeError("scheduler must be None or a schedule with a step() method, e.g. "
                        f"edulib.schedules.CosineAnnealingLR(opt, T_max=10), received "
                        f"{type(scheduler).__name__}")
    for attr in ("optimizer", "opt"):
        owner = getattr(scheduler, attr, None)
        if isinstance(owner, Optimizer) and owner is not optimizer:
            raise ValueError("scheduler must be built on the optimizer passed to train "
                             "(Sched(opt, ...)), received a scheduler holding another optimizer")
    needs_metric = bool(getattr(scheduler, "needs_metric", False))
    if needs_metric and interval == "step":
        raise ValueError(
            f"scheduler_interval must be 'epoch' for {type(scheduler).__name__} (it is stepped "
            "once per epoch with the validation loss), received 'step'"
        )
    return needs_metric


def _check_average(average: Any, params: Mapping[str, Any], start: Any, interval: Any
                   ) -> AveragedParams | None:
    """Validate ``average`` (an AveragedParams holding arrays like ``params``) and its
    ``average_interval``; ``average_start``/``average_interval`` without ``average`` are refused."""
    if interval not in ("epoch", "step"):
        raise ValueError(f"average_interval must be 'epoch' or 'step', received {interval!r}")
    if average is None:
        if start == 0 and interval == "epoch":
            return None
        raise ValueError("average_start and average_interval need average=AveragedParams(params); "
                         f"received average=None with average_start={start!r}, "
                         f"average_interval={interval!r}")
    if not isinstance(average, AveragedParams):
        raise TypeError("average must be None or an edulib.averaging.AveragedParams built on "
                        f"params, received {type(average).__name__}")
    if set(average.params) != set(params):
        raise ValueError(f"average must hold the keys of params {sorted(params)}, "
                         f"received an AveragedParams with {sorted(average.params)}")
    for k, p in params.items():
        a = average.params[k]
        if type(a) is not type(p) or tuple(a.shape) != tuple(p.shape) or a.dtype != p.dtype:
            raise ValueError(f"average.params[{k!r}] must be an array like params[{k!r}] "
                             f"({type(p).__name__}, shape {tuple(p.shape)}, {p.dtype}), received "
                             f"{type(a).__name__}, shape {tuple(a.shape)}, {a.dtype}")
    return average


def _check_monitor(monitor: Any) -> Any:
    if monitor is None:
        return None
    missing = [m for m in ("start", "wants", "record") if not callable(getattr(monitor, m, None))]
    if missing:
        raise TypeError("monitor must be None or an edulib.babysit.Monitor (with start, wants and "
                        f"record methods), received {type(monitor).__name__} without {missing}")
    return monitor


def _prepare_data(params: Mapping[str, Any], data: Any) -> tuple[Any, Any, Any, Any]:
    """``(X_train, y_train, X_val, y_val)`` on the backend of ``params`` (floats in its
    dtype), checked by name."""
    xp = array_namespace(*params.values())
    dtypes = {p.dtype for p in params.values()}
    float_dtype = dtypes.pop() if len(dtypes) == 1 else None
    arrays = []
    for a in _unpack(data):
        if a is not None:
            a = _to_namespace(xp, a)
            if float_dtype is not None and xp.isdtype(a.dtype, "real floating") \
                    and a.dtype != float_dtype:
                a = xp.astype(a, float_dtype)
        arrays.append(a)
    _check_data(xp, *arrays)
    return tuple(arrays)


def _check_data(xp: ModuleType, X_tr: Any, y_tr: Any, X_va: Any, y_va: Any) -> None:
    n = int(X_tr.shape[0])
    if int(y_tr.shape[0]) != n:
        raise ValueError(f"y_train must have X_train.shape[0] = {n} entries, "
                         f"received {y_tr.shape[0]}")
    if n == 0:
        raise ValueError("X_train must hold at least one example, received 0")
    if (X_va is None) != (y_va is None):
        raise ValueError("X_val and y_val must both be arrays or both be None, received "
                         f"{'X_val' if X_va is None else 'y_val'} = None only")
    if X_va is not None:
        if tuple(X_va.shape[1:]) != tuple(X_tr.shape[1:]):
            raise ValueError(f"X_val must have the example shape of X_train "
                             f"{tuple(X_tr.shape[1:])}, received {tuple(X_va.shape[1:])} "
                             f"(X_val.shape = {tuple(X_va.shape)})")
        if int(y_va.shape[0]) != int(X_va.shape[0]):
            raise ValueError(f"y_val must have X_val.shape[0] = {X_va.shape[0]} entries, "
                             f"received {y_va.shape[0]}")
    for name, a in (("X_train", X_tr), ("y_train", y_tr), ("X_val", X_va), ("y_val", y_va)):
        if a is not None and xp.isdtype(a.dtype, "real floating"):
            chk.check_finite(xp, a, name)


class _Run:
    """One :func:`train` run: the data, the clock, the best parameters so far, the history.

    Each method is one named piece of the loop in :func:`train`.
    """

    def __init__(self, model: Any, params: MutableMapping[str, Any], optimizer: Optimizer,
                 data: tuple[Any, Any, Any, Any], opts: _Options) -> None:
        self.model, self.params, self.optimizer, self.opts = model, params, optimizer, opts
        self.X_tr, self.y_tr, self.X_va, self.y_va = data
        self.xp = array_namespace(*params.values())
        self.n = int(self.X_tr.shape[0])
        # regression models inherit an accuracy() that refuses to run: only classifiers have one
        self.has_acc = hasattr(model, "accuracy") and getattr(model, "task", "") != "regression"
        self.fused = callable(getattr(model, "loss_and_accuracy", None))
        self.hist = History()
        self.rng = make_rng(opts.seed)
        self.elapsed, self.clock = 0.0, None  # seconds in training steps; start of the epoch
        self.threshold = math.inf  # diverge_factor x max(|first batch loss|, 1)
        self.best_loss, self.best_params, self.wait = math.inf, None, 0
        self.epoch_start, self.epoch_length = 0, 0  # the epoch's first step, its number of steps
        if opts.monitor is not None:
            opts.monitor.start(model, params)

    # -------------------------------------------------------------- the clock (steps only)
    def start_clock(self) -> None:
        self.clock = time.perf_counter()

    def stop_clock(self) -> None:
        if self.clock is not None:
            self.elapsed += time.perf_counter() - self.clock
            self.clock = None

    # -------------------------------------------------------------- batches and steps
    def batch_groups(self) -> list[list[Any]]:
        """This epoch's mini-batches (index arrays; ``None`` = everything, in order), in
        groups of ``accumulate`` (one group per optimizer update)."""
        o, n = self.opts, self.n
        if o.batch_size is None or (o.batch_size >= n and not o.shuffle):
            batches: list[Any] = [None]
        else:
            order = self.xp.asarray(self.rng.permutation(n) if o.shuffle else np.arange(n))
            batches = [order[i:min(i + o.batch_size, n)] for i in range(0, n, o.batch_size)]
        groups = [batches[i:i + o.accumulate] for i in range(0, len(batches), o.accumulate)]
        self.epoch_start, self.epoch_length = self.hist.steps, len(groups)
        return groups

    def out_of_steps(self) -> bool:
        return self.opts.max_steps is not None and self.hist.steps >= self.opts.max_steps

    def loss_and_grad(self, group: list[Any]) -> tuple[float, dict[str, Any]]:
        """Loss and gradient of the union of the mini-batches in ``group`` (accumulation):
        the mean of the mini-batch values weighted by their sizes."""
        xp, model, params = self.xp, self.model, self.params
        if group[0] is None:  # the whole training set
            loss_arr, grads = model.loss_and_grad(params, self.X_tr, self.y_tr)
            return float(loss_arr), grads
        if len(group) == 1:
            idx = group[0]
            loss_arr, grads = model.loss_and_grad(params, xp.take(self.X_tr, idx, axis=0),
                                                  xp.take(self.y_tr, idx, axis=0))
            return float(loss_arr), grads
        total = sum(int(idx.shape[0]) for idx in group)
        loss, summed = 0.0, {}
        for idx in group:
            w = int(idx.shape[0]) / total
            loss_arr, grads = model.loss_and_grad(params, xp.take(self.X_tr, idx, axis=0),
                                                  xp.take(self.y_tr, idx, axis=0))
            loss += w * float(loss_arr)
            for k, gk in grads.items():
                if gk is None:
                    summed.setdefault(k, None)
                elif summed.get(k) is None:
                    summed[k] = w * gk
                else:
                    summed[k] = summed[k] + w * gk
        return loss, summed

    def batch_blew_up(self, loss: float, gnorm: float) -> str:
        """'' when the batch is fine, else why the run diverged (checked before the update)."""
        hist, factor = self.hist, self.opts.diverge_factor
        if hist.steps == 0:
            self.threshold = factor * max(abs(loss), 1.0)
        if math.isfinite(loss) and math.isfinite(gnorm) and not loss > self.threshold:
            return ""
        if math.isfinite(loss) and loss > self.threshold:
            what = f"the loss {loss:.4g} exceeds {factor:.0e} x the initial loss {hist.loss[0]:.4g}"
        elif math.isfinite(loss):
            what = "the gradient is not finite"
        else:
            what = "the loss is not finite"
        return (f"diverged at step {hist.steps} (epoch {hist.epochs}): {what}; "
                f"lr={self._lr():g} is probably too large, try a smaller one")

    def record_step(self, loss: float, gnorm: float) -> None:
        self.hist.loss.append(loss)
        self.hist.lr.append(self._lr())
        self.hist.grad_norm.append(gnorm)

    def clip(self, grads: dict[str, Any]) -> dict[str, Any]:
        """Clamp each element to ``±clip_value``, then rescale to norm ``clip_norm``."""
        if self.opts.clip_value is not None:
            grads = clip_grad_value(grads, self.opts.clip_value)
        if self.opts.clip_norm is not None:
            grads, _ = clip_grad_norm(grads, self.opts.clip_norm)
        return grads

    def step_schedule(self, interval: str) -> None:
        """Step the schedule if it is stepped at this ``interval`` ("step" or "epoch")."""
        o = self.opts
        if o.scheduler is None or o.scheduler_interval != interval:
            return
        if o.needs_metric:
            o.scheduler.step(self.monitored()[-1])
        else:
            o.scheduler.step()

    def update_average(self) -> None:
        """Fold the parameters into ``average`` after this step (``"step"``) or after the last
        step of the epoch (``"epoch"``), once the count is past ``average_start``."""
        o, hist = self.opts, self.hist
        if o.average is None:
            return
        if o.average_interval == "step":
            count = hist.steps
        elif hist.steps - self.epoch_start == self.epoch_length:  # the epoch's last step
            count = hist.epochs + 1
        else:
            return
        if count <= o.average_start:
            return
        finite = all(bool(self.xp.all(self.xp.isfinite(p))) for p in self.params.values())
        if finite:  # a blown-up step is caught at the next check
            o.average.update_parameters(self.params)

    @contextmanager
    def babysit(self, group: list[Any], grads: dict[str, Any]) -> Iterator[None]:
        """Around one optimizer step: give ``monitor`` the batch, the parameters before and
        after the step and the gradient, at the steps it wants (its time off the clock)."""
        m, step = self.opts.monitor, self.hist.steps
        if m is None or not m.wants(step):
            yield
            return
        self.stop_clock()
        before = {k: self.xp.asarray(p, copy=True) for k, p in self.params.items()}
        self.start_clock()
        yield
        self.stop_clock()
        m.record(step, self.batch_inputs(group), before, self.params, grads)
        self.start_clock()

    def batch_inputs(self, group: list[Any]) -> Any:
        """The inputs of the mini-batches of ``group`` (all of them for full-batch training)."""
        if group[0] is None:
            return self.X_tr
        idx = group[0] if len(group) == 1 else self.xp.concat(group)
        return self.xp.take(self.X_tr, idx, axis=0)

    def callback_says_stop(self, loss: float) -> bool:
        cb = self.opts.callback
        return cb is not None and bool(cb(self.hist.steps, loss, self.params, self.hist))

    def _lr(self) -> float:
        return float(getattr(self.optimizer, "lr", math.nan))

    # -------------------------------------------------------------- evaluation
    def measure(self, X: Any, y: Any, params: Any = None) -> tuple[float, float | None]:
        """Loss and accuracy of the whole split (at ``params``, default the trained ones), from
        one forward pass when the model can."""
        params = self.params if params is None else params
        if self.fused:
            loss_arr, acc_arr = self.model.loss_and_accuracy(params, X, y)
            return float(loss_arr), (float(acc_arr) if self.has_acc and acc_arr is not None
                                     else None)
        acc = float(self.model.accuracy(params, X, y)) if self.has_acc else None
        return float(self.model.loss(params, X, y)), acc

    def evaluate(self) -> None:
        """Append the losses (and accuracies) of both splits to the history."""
        hist = self.hist
        hist.epoch_steps.append(hist.steps)
        hist.time.append(self.elapsed)
        for X, y, losses, accs in ((self.X_tr, self.y_tr, hist.train_loss, hist.train_acc),
                                   (self.X_va, self.y_va, hist.val_loss, hist.val_acc)):
            if X is None:
                continue
            loss, acc = self.measure(X, y)
            losses.append(loss)
            if acc is not None:
                accs.append(acc)
        self._evaluate_average()
        if self.opts.early_stopping is not None:
            self._track_best()
        if self.opts.verbose:
            self._print_progress()

    def _evaluate_average(self) -> None:
        """The averaged parameters' losses (accuracies) of both splits; NaN before any update."""
        avg, hist = self.opts.average, self.hist
        if avg is None:
            return
        for X, y, losses, accs in ((self.X_tr, self.y_tr, hist.avg_train_loss, hist.avg_train_acc),
                                   (self.X_va, self.y_va, hist.avg_val_loss, hist.avg_val_acc)):
            if X is None:
                continue
            loss, acc = (self.measure(X, y, avg.params) if avg.n_averaged > 0
                         else (math.nan, math.nan if self.has_acc else None))
            losses.append(loss)
            if acc is not None:
                accs.append(acc)

    def monitored(self) -> list[float]:
        """The loss early stopping and a plateau schedule watch: validation, else training."""
        return self.hist.val_loss if self.X_va is not None else self.hist.train_loss

    def _track_best(self) -> None:
        loss = self.monitored()[-1]
        if math.isfinite(loss) and loss < self.best_loss - self.opts.min_delta:
            self.best_loss, self.wait = loss, 0
            self.best_params = {k: self.xp.asarray(p, copy=True) for k, p in self.params.items()}
            self.hist.best_epoch, self.hist.best_loss = len(self.hist.train_loss) - 1, loss
        else:
            self.wait += 1

    def _print_progress(self) -> None:
        h = self.hist
        line = f"epoch {h.epochs:3d}  step {h.steps:5d}  train loss {h.train_loss[-1]:.4f}"
        if h.val_loss:
            line += f"  val loss {h.val_loss[-1]:.4f}"
        if h.val_acc:
            line += f"  val acc {h.val_acc[-1]:.4f}"
        print(line)

    def evaluation_blew_up(self, when: str) -> str:
        """'' when the last evaluation's training loss is fine, else what went wrong."""
        hist, factor = self.hist, self.opts.diverge_factor
        loss, first = hist.train_loss[-1], hist.train_loss[0]
        if not math.isfinite(loss):
            what = f"the training loss {when} is not finite ({loss})"
        elif loss > factor * max(abs(first), 1.0):
            what = (f"the training loss {when}, {loss:.4g}, exceeds "
                    f"{factor:.0e} x the loss at initialisation {first:.4g}")
        else:
            return ""
        return (f"diverged at step {hist.steps} (epoch {hist.epochs}): {what}; "
                f"lr={self._lr():g} is probably too large, try a smaller one")

    # -------------------------------------------------------------- stopping
    def out_of_patience(self) -> bool:
        return self.opts.early_stopping is not None and self.wait >= self.opts.early_stopping

    def early_stopped(self) -> tuple[str, str]:
        """Early stopping's verdict: ``"early_stopping"``, or ``"diverged"`` when the training
        loss rose above ``EARLY_STOP_RISE * max(|L(θ0)|, 1)`` (the steps made it worse)."""
        hist = self.hist
        which = "validation" if self.X_va is not None else "training"
        patience = (f"the {which} loss has not improved for {self.opts.early_stopping} "
                    "epoch(s)")
        loss, first = hist.train_loss[-1], hist.train_loss[0]
        if loss > EARLY_STOP_RISE * max(abs(first), 1.0):
            return "diverged", (
                f"diverged at step {hist.steps} (epoch {hist.epochs}): the training loss after "
                f"epoch {hist.epochs}, {loss:.4g}, rose above {EARLY_STOP_RISE:g} x the loss at "
                f"initialisation {first:.4g} and early stopping fired ({patience}); "
                f"lr={self._lr():g} is probably too large, try a smaller one")
        best = (f", best at epoch {hist.best_epoch} ({hist.best_loss:.4g})"
                if hist.best_epoch is not None else "")
        return "early_stopping", f"early stopping after epoch {hist.epochs}: {patience}{best}"

    def stopped_mid_epoch(self, reason: str) -> tuple[str, str]:
        """Stop mid-epoch (``"max_steps"`` or ``"callback"``): evaluate where training got."""
        self.stop_clock()
        hist = self.hist
        message = (f"stopped after max_steps={self.opts.max_steps} steps" if reason == "max_steps"
                   else f"stopped by the callback at step {hist.steps}")
        if hist.epoch_steps[-1] != hist.steps:
            self.evaluate()
            blew_up = self.evaluation_blew_up(f"after step {hist.steps}")
            if blew_up:
                return "diverged", blew_up
        return reason, message

    def finish(self, reason: str, message: str) -> History:
        """Record why training stopped, restore the best parameters, report a divergence."""
        self.stop_clock()
        hist, o = self.hist, self.opts
        hist.stop_reason, hist.message = reason, message
        if (o.early_stopping is not None and o.restore_best and self.best_params is not None
                and hist.best_epoch != len(hist.train_loss) - 1):
            for k, p in self.best_params.items():
                self.params[k][...] = p
            hist.message += (f"; restored the parameters of evaluation {hist.best_epoch} "
                             f"(monitored loss {hist.best_loss:.4g})")
        if reason == "diverged":
            hist.diverged = True
            if o.on_diverge == "warn":
                warnings.warn(hist.message, DivergenceWarning, stacklevel=3)
            elif o.on_diverge == "raise":
                raise FloatingPointError(hist.message)
        return hist


# ------------------------------------------------------------------------------ 2-D surfaces
def run_on_surface(
    surface: Any,
    optimizer: Callable[..., Optimizer],
    x0: Any,
    steps: int = 100,
    blowup: float = 1e6,
    on_diverge: str = "stop",
    **optimizer_kwargs: Any,
) -> SurfaceRun:
    r"""Run ``optimizer`` for ``steps`` steps on a 2-D ``surface`` from ``x0``.

    ``surface`` has ``f(x)`` and ``grad(x)`` for ``x`` of shape (2,); ``optimizer`` is an
    optimizer class (``SGD``) called as ``optimizer({"x": x}, **optimizer_kwargs)``, or any
    factory ``params -> Optimizer``. Each step records :math:`x_t`, :math:`f(x_t)` and
    :math:`\nabla f(x_t)`, then lets the optimizer update :math:`x`.

    Divergence (a NaN/inf value, gradient or point, or :math:`\lVert x_t\rVert >` ``blowup``
    :math:`\cdot\max(\lVert x_0\rVert, 1)`) stops the run early: ``diverged=True`` and a message;
    ``on_diverge="stop"`` (default, silent: widgets call this on every slider move), ``"warn"``
    or ``"raise"``.
    """
    steps = chk.check_int(steps, "steps", low=0)
    if not (hasattr(surface, "value_and_grad") or (hasattr(surface, "f")
                                                   and hasattr(surface, "grad"))):
        raise TypeError("surface must have f(x) and grad(x) (an edulib.functions surface), "
                        f"received {type(surface).__name__}")
    chk.check_callable(optimizer, "optimizer", "an Optimizer class such as SGD or a factory "
                       "params -> Optimizer")
    if on_diverge not in ("warn", "stop", "raise"):
        raise ValueError(f"on_diverge must be 'warn', 'stop' or 'raise', received {on_diverge!r}")
    chk.check_number(blowup, "blowup", low=0.0, low_open=True)
    xp = array_namespace(x0)
    x = chk.as_float_array(xp, x0, "x0")
    if tuple(x.shape) != (2,):
        raise ValueError(f"x0 must have shape (2,), received {tuple(x.shape)}")
    chk.check_finite(xp, x, "x0")
    x = xp.asarray(x, copy=True)
    params = {"x": x}
    opt = optimizer(params, **optimizer_kwargs)
    if not isinstance(opt, Optimizer):
        raise TypeError(
            "optimizer must be an Optimizer class or a factory returning one, "
            f"received {type(opt).__name__}"
        )
    xs, values, grads = [], [], []
    bound = float(blowup) * max(float(np.linalg.norm(to_numpy(x))), 1.0)
    diverged, message = False, f"completed {steps} step(s)"
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for t in range(steps + 1):
            xn = np.array(to_numpy(params["x"]), dtype=np.float64)
            if hasattr(surface, "value_and_grad"):
                v_arr, gr = surface.value_and_grad(params["x"])
            else:
                v_arr, gr = surface.f(params["x"]), surface.grad(params["x"])
            v = float(v_arr)
            gn = np.array(to_numpy(gr), dtype=np.float64).reshape(-1)
            xs.append(xn)
            values.append(v)
            grads.append(gn)
            ok = (math.isfinite(v) and bool(np.all(np.isfinite(xn)))
                  and bool(np.all(np.isfinite(gn))))
            if not ok or float(np.linalg.norm(xn)) > bound:
                diverged = True
                what = ("|x| grew beyond " + f"{bound:.3g}") if ok else "a value became NaN/inf"
                message = (f"diverged at step {t}: {what}; lr={float(opt.lr):g} "
                           "is probably too large, try a smaller one")
                break
            if t == steps:
                break
            opt.step({"x": gr})
    if diverged and on_diverge == "warn":
        warnings.warn(message, DivergenceWarning, stacklevel=2)
    elif diverged and on_diverge == "raise":
        raise FloatingPointError(message)
    return SurfaceRun(np.stack(xs), np.asarray(values), np.stack(grads), diverged, message)
