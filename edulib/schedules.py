r"""Learning-rate schedules with ``torch.optim.lr_scheduler``'s exact sequences.

A schedule changes ``opt.lr`` (:math:`\eta`) of an :mod:`edulib.optim` optimizer between steps::

    opt = SGD(params, lr=0.1)
    sched = CosineAnnealingLR(opt, T_max=100)  # construction performs step 0: opt.lr = eta_0
    for epoch in range(100):
        ...                                    # opt.step(grads) for every batch
        sched.step()                           # once per epoch: opt.lr = eta_{t+1}
    plateau = ReduceLROnPlateau(opt)           # needs_metric: call plateau.step(val_loss)
    lr_trace(StepLR(opt2, step_size=30), 100)  # [eta_0, ..., eta_100], for plots

Notation: :math:`t` is ``last_epoch`` (how many times ``step()`` was called since construction),
:math:`\eta_0` the base learning rate (``base_lr``), :math:`\eta_t` the learning rate used after
the :math:`t`-th ``step()``. As in PyTorch, ``step()`` is usually called once per epoch; a warm-up
measured in iterations calls it once per optimizer step instead.

Like PyTorch, the schedules are *chainable*: most compute :math:`\eta_{t}` from the current
``opt.lr`` (a multiplication or a ratio), not from a closed form, so two schedules can act on one
optimizer and a change of ``opt.lr`` made outside the schedule carries over. Each docstring gives
the closed form the recursion equals when nothing else touches ``opt.lr``; the floats agree with
PyTorch's bit for bit because the same expressions are evaluated in the same order.

``base_lr`` is PyTorch's ``initial_lr``: the first schedule built on an optimizer stores
``opt.initial_lr = opt.lr`` and every later schedule on the same optimizer reads it (so a warm-up
and a cosine built one after the other share :math:`\eta_0`, as :class:`SequentialLR` needs).
"""

from __future__ import annotations

import copy
import math
import numbers
import types
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from . import _checks as chk
from .optim import Optimizer

__all__ = [
    "SWALR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
    "lr_trace",
]


def _check_optimizer(optimizer: Any, who: str) -> None:
    if not isinstance(optimizer, Optimizer) or not hasattr(optimizer, "lr"):
        raise TypeError(
            f"optimizer must be an edulib.optim.Optimizer with a float attribute lr (e.g. "
            f"SGD(params, lr=0.1)) for {who}, received {type(optimizer).__module__}."
            f"{type(optimizer).__name__}"
        )
    chk.check_number(optimizer.lr, "optimizer.lr", low=0.0)


def _check_positive(value: Any, name: str) -> float:
    return chk.check_number(value, name, low=0.0, low_open=True)


def _check_milestones(milestones: Any, name: str, strict: bool, low: int) -> list[int]:
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
        raise TypeError(f"{name} must be a list of ints, received {type(milestones).__name__}")
    ms = [chk.check_int(m, f"{name}[{i}]", low=low) for i, m in enumerate(milestones)]
    for a, b in zip(ms, ms[1:], strict=False):
        if b < a or (strict and b == a):
            kind = "strictly increasing" if strict else "non-decreasing (increasing, repeats allowed)"
            raise ValueError(f"{name} must be {kind}, received {ms}")
    return ms


class LRScheduler:
    r"""Base class: holds ``optimizer``, ``base_lr`` (:math:`\eta_0`) and ``last_epoch`` (:math:`t`).

    Subclasses implement ``get_lr()``, the chainable rule giving :math:`\eta_t` from the current
    ``opt.lr`` (called with ``last_epoch`` already advanced), and optionally
    ``_closed_form_lr()``, :math:`\eta_t` from :math:`\eta_0` alone (used by
    :class:`SequentialLR` when it hands over to the next schedule). Construction performs the
    initial step (:math:`t = 0`) and writes :math:`\eta_0`'s schedule value into ``opt.lr``.
    ``step()`` advances :math:`t` by one and writes the new ``opt.lr``; call it after the
    optimizer's step, usually once per epoch.
    """

    needs_metric: bool = False
    """True when ``step`` needs the monitored metric (``ReduceLROnPlateau.step(val_loss)``)."""

    def __init__(self, optimizer: Optimizer) -> None:
        _check_optimizer(optimizer, type(self).__name__)
        self.optimizer = optimizer
        if getattr(optimizer, "initial_lr", None) is None:
            optimizer.initial_lr = float(optimizer.lr)
        self.base_lr = float(optimizer.initial_lr)
        self.last_epoch = -1
        self._is_initial = False
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    # ------------------------------------------------------------------ stepping
    def get_lr(self) -> float:  # pragma: no cover - every schedule overrides it
        raise NotImplementedError

    def step(self) -> None:
        """Advance the schedule by one (:math:`t \\to t+1`) and write the new ``opt.lr``."""
        self._step_count += 1
        self._update_lr(None)

    def _update_lr(self, epoch: int | None) -> None:
        if epoch is None:
            self.last_epoch += 1
            lr = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_closed_form_lr", None)
            lr = closed() if closed is not None else self.get_lr()
        self.optimizer.lr = lr
        self._last_lr = [lr]

    def get_last_lr(self) -> list[float]:
        """The learning rate the last ``step()`` (or construction) wrote, as a one-item list
        (PyTorch returns one entry per parameter group; edulib optimizers have one)."""
        return list(self._last_lr)

    @property
    def lr(self) -> float:
        """The learning rate the last ``step()`` wrote (``get_last_lr()[0]``)."""
        return self._last_lr[0]

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """A copy of every attribute except the optimizer (PyTorch's layout)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (``opt.lr`` is not touched, as in PyTorch)."""
        if not isinstance(state_dict, dict) or "last_epoch" not in state_dict:
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(
                f"state_dict must be a dict from {type(self).__name__}.state_dict() "
                f"(with a 'last_epoch' key), received {got}"
            )
        self.__dict__.update(copy.deepcopy(state_dict))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr[0]!r})"


class StepLR(LRScheduler):
    r"""Multiply :math:`\eta` by :math:`\gamma` every ``step_size`` epochs (torch's ``StepLR``).

    .. math:: \eta_t = \eta_0\, \gamma^{\lfloor t / s \rfloor}, \qquad s = \text{step\_size}

    Chainable rule: :math:`\eta_t = \gamma\,\eta_{t-1}` when :math:`t > 0` is a multiple of
    :math:`s`, else :math:`\eta_t = \eta_{t-1}`. Call ``step()`` once per epoch.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        _check_optimizer(optimizer, "StepLR")
        self.step_size = chk.check_int(step_size, "step_size", low=1)
        self.gamma = _check_positive(gamma, "gamma")
        super().__init__(optimizer)

    def get_lr(self) -> float:
        lr = float(self.optimizer.lr)
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lr
        return lr * self.gamma

    def _closed_form_lr(self) -> float:
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class MultiStepLR(LRScheduler):
    r"""Multiply :math:`\eta` by :math:`\gamma` at each milestone epoch (torch's ``MultiStepLR``).

    .. math:: \eta_t = \eta_0\, \gamma^{\#\{m_i \le t\}}

    with milestones :math:`m_1 \le m_2 \le \dots` (a milestone listed twice decays twice: by
    :math:`\gamma^2` at once). Chainable rule: :math:`\eta_t = \gamma^{c(t)}\eta_{t-1}` with
    :math:`c(t)` the number of times :math:`t` appears. Call ``step()`` once per epoch.
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1) -> None:
        _check_optimizer(optimizer, "MultiStepLR")
        ms = _check_milestones(milestones, "milestones", strict=False, low=0)
        self.milestones = Counter(ms)
        self.gamma = _check_positive(gamma, "gamma")
        super().__init__(optimizer)

    def get_lr(self) -> float:
        lr = float(self.optimizer.lr)
        if self.last_epoch not in self.milestones:
            return lr
        return lr * self.gamma ** self.milestones[self.last_epoch]

    def _closed_form_lr(self) -> float:
        ms = sorted(self.milestones.elements())
        return self.base_lr * self.gamma ** bisect_right(ms, self.last_epoch)


class ExponentialLR(LRScheduler):
    r"""Multiply :math:`\eta` by :math:`\gamma` every epoch (``torch.optim.lr_scheduler.ExponentialLR``).

    .. math:: \eta_t = \eta_0\, \gamma^{t}

    Chainable rule: :math:`\eta_t = \gamma\,\eta_{t-1}` (so the float sequence is the repeated
    product, not ``base_lr * gamma**t``). Call ``step()`` once per epoch.
    """

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        _check_optimizer(optimizer, "ExponentialLR")
        self.gamma = _check_positive(gamma, "gamma")
        super().__init__(optimizer)

    def get_lr(self) -> float:
        lr = float(self.optimizer.lr)
        if self._is_initial:
            return lr
        return lr * self.gamma

    def _closed_form_lr(self) -> float:
        return self.base_lr * self.gamma ** self.last_epoch


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from :math:`\eta_0` to :math:`\eta_{\min}` in :math:`T` epochs
    (``torch.optim.lr_scheduler.CosineAnnealingLR``, no restarts).

    Closed form (SGDR's schedule), :math:`T` = ``T_max``, :math:`\eta_{\min}` = ``eta_min``:

    .. math:: \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})\bigl(1 + \cos(\pi t / T)\bigr)

    PyTorch (and this class) computes it recursively from the current ``opt.lr``:

    .. math:: \eta_t = \eta_{\min} + (\eta_{t-1} - \eta_{\min})\,
        \frac{1 + \cos(\pi t / T)}{1 + \cos(\pi (t-1) / T)}

    except at :math:`t - 1 - T \equiv 0 \pmod{2T}` (where the denominator is 0), which uses
    :math:`\eta_t = \eta_{t-1} + \tfrac12(\eta_0 - \eta_{\min})(1 - \cos(\pi/T))`. Without outside
    changes to ``opt.lr`` the recursion equals the closed form up to rounding (about 1e-15
    relative); after :math:`T` it keeps following the cosine back up (period :math:`2T`). If
    something else changes ``opt.lr`` (a second schedule), the recursion scales that change
    rather than overwriting it. Call ``step()`` once per epoch (``T`` = number of epochs), or
    once per iteration with ``T`` in iterations.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        _check_optimizer(optimizer, "CosineAnnealingLR")
        self.T_max = chk.check_int(T_max, "T_max", low=1)
        self.eta_min = chk.check_number(eta_min, "eta_min", low=0.0)
        super().__init__(optimizer)

    def get_lr(self) -> float:
        lr = float(self.optimizer.lr)
        if self._is_initial:
            return lr
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return lr + (self.base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
        return (
            (1 + math.cos(math.pi * self.last_epoch / self.T_max))
            / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
            * (lr - self.eta_min)
            + self.eta_min
        )

    def _closed_form_lr(self) -> float:
        return (
            self.eta_min
            + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        )


class LinearLR(LRScheduler):
    r"""Linear ramp of the factor from ``start_factor`` to ``end_factor`` in ``total_iters`` steps
    (``torch.optim.lr_scheduler.LinearLR``; with ``end_factor=1`` it is a linear warm-up).

    Closed form, :math:`f_s, f_e` the factors, :math:`T` = ``total_iters``:

    .. math:: \eta_t = \eta_0\Bigl(f_s + (f_e - f_s)\,\frac{\min(t, T)}{T}\Bigr)

    PyTorch (and this class) multiplies recursively: :math:`\eta_0 \leftarrow f_s\,\eta_0` at
    construction, then for :math:`1 \le t \le T`

    .. math:: \eta_t = \eta_{t-1}\Bigl(1 + \frac{f_e - f_s}{T f_s + (t-1)(f_e - f_s)}\Bigr)

    and :math:`\eta_t = \eta_{t-1}` after :math:`T`. A warm-up over iterations calls ``step()``
    after every optimizer step.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5) -> None:
        _check_optimizer(optimizer, "LinearLR")
        self.start_factor = chk.check_number(start_factor, "start_factor", low=0.0, high=1.0,
                                             low_open=True)
        self.end_factor = chk.check_number(end_factor, "end_factor", low=0.0, high=1.0)
        self.total_iters = chk.check_int(total_iters, "total_iters", low=1)
        super().__init__(optimizer)

    def get_lr(self) -> float:
        lr = float(self.optimizer.lr)
        if self.last_epoch == 0:
            return lr * self.start_factor
        if self._is_initial or self.last_epoch > self.total_iters:
            return lr
        return lr * (
            1.0
            + (self.end_factor - self.start_factor)
            / (self.total_iters * self.start_factor
               + (self.last_epoch - 1) * (self.end_factor - self.start_factor))
        )

    def _closed_form_lr(self) -> float:
        return self.base_lr * (
            self.start_factor
            + (self.end_factor - self.start_factor) * min(self.total_iters, self.last_epoch)
            / self.total_iters
        )


class SequentialLR(LRScheduler):
    r"""Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` ... (torch's ``SequentialLR``).

    The usual use is a warm-up followed by a decay::

        warm = LinearLR(opt, start_factor=0.1, total_iters=5)
        cos = CosineAnnealingLR(opt, T_max=95)
        sched = SequentialLR(opt, [warm, cos], milestones=[5])

    giving :math:`\eta_t = \eta_0(f_s + (1-f_s)t/5)` for :math:`t < 5` and
    :math:`\eta_t = \tfrac12\eta_0(1+\cos(\pi (t-5)/95))` from :math:`t = 5` on. Build the
    schedules on one optimizer right before this one: construction resets ``opt.lr`` to
    :math:`\eta_0` (``base_lr``), undoes the initial steps of every schedule and redoes the
    initial step of the one active at :math:`t = 0`. At a milestone :math:`m_i`, PyTorch restarts
    the next schedule at its own :math:`t = 0` from its closed form (e.g. :math:`\eta_0` for a
    cosine); between milestones the active schedule's ``step()`` runs. Call ``step()`` as the
    inner schedules expect (per epoch, or per iteration for a warm-up in iterations).
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int]) -> None:
        _check_optimizer(optimizer, "SequentialLR")
        if isinstance(schedulers, (str, bytes)) or not isinstance(schedulers, Sequence):
            raise TypeError(f"schedulers must be a list of schedules, received "
                            f"{type(schedulers).__name__}")
        if len(schedulers) < 1:
            raise ValueError("schedulers must hold at least one schedule, received an empty list")
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler):
                raise TypeError(f"schedulers[{i}] must be an edulib.schedules.LRScheduler, "
                                f"received {type(s).__name__}")
            if s.needs_metric:
                raise ValueError(f"schedulers[{i}] must not be {type(s).__name__} (its step needs a "
                                 "metric, which SequentialLR cannot pass), received one")
            if s.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}] must be built on the same optimizer as "
                                 f"SequentialLR, received a {type(s).__name__} on another one")
        ms = _check_milestones(milestones, "milestones", strict=True, low=1)
        if len(ms) != len(schedulers) - 1:
            raise ValueError(
                f"milestones must hold len(schedulers) - 1 = {len(schedulers) - 1} epochs, "
                f"received {len(ms)}: {ms}"
            )
        self._schedulers = list(schedulers)
        self._milestones = ms
        self.optimizer = optimizer
        if getattr(optimizer, "initial_lr", None) is None:
            optimizer.initial_lr = float(optimizer.lr)
        self.base_lr = float(optimizer.initial_lr)
        self.last_epoch = 0
        self._is_initial = False
        self._step_count = 0
        optimizer.lr = self.base_lr
        for s in self._schedulers:
            s.last_epoch -= 1
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    @property
    def schedulers(self) -> list[LRScheduler]:
        """The schedules, in order."""
        return list(self._schedulers)

    @property
    def milestones(self) -> list[int]:
        """The epochs at which the next schedule takes over."""
        return list(self._milestones)

    def step(self) -> None:
        """Advance by one; at a milestone restart the next schedule at its :math:`t = 0`."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            sched._update_lr(0)
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """Own attributes plus each inner schedule's state dict under ``"_schedulers"``."""
        sd = {k: copy.deepcopy(v) for k, v in self.__dict__.items()
              if k not in ("optimizer", "_schedulers")}
        sd["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, inner schedules included."""
        if not isinstance(state_dict, dict) or "_schedulers" not in state_dict:
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError("state_dict must be a dict from SequentialLR.state_dict() (with a "
                             f"'_schedulers' key), received {got}")
        inner = state_dict["_schedulers"]
        if len(inner) != len(self._schedulers):
            raise ValueError(f"state_dict must hold {len(self._schedulers)} inner schedules, "
                             f"received {len(inner)}")
        self.__dict__.update({k: copy.deepcopy(v) for k, v in state_dict.items() if k != "_schedulers"})
        for s, sd in zip(self._schedulers, inner, strict=True):
            s.load_state_dict(sd)


class ReduceLROnPlateau(LRScheduler):
    r"""Divide :math:`\eta` by :math:`1/\text{factor}` when a metric stops improving
    (``torch.optim.lr_scheduler.ReduceLROnPlateau``). Call ``step(val_loss)`` once per epoch.

    Unlike the other schedules it does not change ``opt.lr`` at construction, and
    ``needs_metric`` is True. At each ``step(metric)`` (:math:`m_t`; all counts are in calls,
    i.e. epochs):

    - :math:`m_t` *improves* on the best value :math:`m^*` when :math:`m_t < m^*(1-\delta)`
      (``mode="min"``, ``threshold_mode="rel"``), :math:`m_t < m^* - \delta` (min, abs),
      :math:`m_t > m^*(1+\delta)` (max, rel) or :math:`m_t > m^* + \delta` (max, abs), with
      :math:`\delta` = ``threshold``; then :math:`m^* \leftarrow m_t` and the bad-epoch count is 0,
      otherwise the count grows by one. The first metric always improves on :math:`m^* = \pm\infty`.
      A NaN metric never improves (it counts as a bad epoch, as in PyTorch).
    - During the ``cooldown`` epochs after a reduction the bad-epoch count is held at 0.
    - When the count exceeds ``patience`` (``patience + 1`` bad epochs in a row), the rate becomes

      .. math:: \eta \leftarrow \max(\text{factor}\cdot\eta,\ \eta_{\min})

      unless that changes :math:`\eta` by ``eps`` or less (then it is left as is); the cooldown
      starts and the count restarts at 0.
    """

    needs_metric = True

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8) -> None:
        _check_optimizer(optimizer, "ReduceLROnPlateau")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', received {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', received {threshold_mode!r}")
        self.factor = chk.check_number(factor, "factor", low=0.0, high=1.0, low_open=True,
                                       high_open=True)
        self.patience = chk.check_int(patience, "patience", low=0)
        self.threshold = chk.check_number(threshold, "threshold", low=0.0)
        self.cooldown = chk.check_int(cooldown, "cooldown", low=0)
        self.min_lr = chk.check_number(min_lr, "min_lr", low=0.0)
        self.eps = chk.check_number(eps, "eps", low=0.0)
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = 0
        self._step_count = 0
        self._is_initial = False
        self._last_lr = [float(optimizer.lr)]
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        """True during the ``cooldown`` epochs after a reduction."""
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        """Whether metric ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics: Any = None) -> None:  # type: ignore[override]
        """Record one epoch's metric (e.g. the validation loss) and reduce ``opt.lr`` if due."""
        if metrics is None:
            raise TypeError("ReduceLROnPlateau.step needs the monitored value: call "
                            "step(val_loss), received no metrics")
        if isinstance(metrics, (bool, str, bytes)):
            raise TypeError(f"metrics must be a number (e.g. the validation loss), received "
                            f"{type(metrics).__name__} {metrics!r}")
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"metrics must be a number or a 0-d array (e.g. the validation loss), "
                            f"received {type(metrics).__name__}") from None
        self._step_count += 1
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = float(self.optimizer.lr)
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [float(self.optimizer.lr)]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        super().load_state_dict(state_dict)
        self.mode_worse = math.inf if self.mode == "min" else -math.inf


def lr_trace(scheduler: LRScheduler, steps: int, metrics: Sequence[float] | None = None) -> list[float]:
    r"""The learning rates :math:`\eta_0, \dots, \eta_{\text{steps}}` of ``scheduler``.

    Records ``get_last_lr()[0]``, then calls ``step()`` ``steps`` times (``step(metrics[t])`` for
    a schedule with ``needs_metric``), recording after each: ``steps + 1`` values. It changes the
    scheduler and its optimizer's ``lr``, like real training would.
    """
    if not isinstance(scheduler, LRScheduler):
        raise TypeError(f"scheduler must be an edulib.schedules.LRScheduler, received "
                        f"{type(scheduler).__name__}")
    n = chk.check_int(steps, "steps", low=0)
    if scheduler.needs_metric:
        if metrics is None or len(metrics) < n:
            got = "None" if metrics is None else f"{len(metrics)} values"
            raise ValueError(f"metrics must hold at least steps={n} values for "
                             f"{type(scheduler).__name__}, received {got}")
    elif metrics is not None:
        raise ValueError(f"metrics must be None for {type(scheduler).__name__} (it does not "
                         "read a metric), received a sequence")
    out = [scheduler.get_last_lr()[0]]
    for t in range(n):
        if scheduler.needs_metric:
            scheduler.step(metrics[t])
        else:
            scheduler.step()
        out.append(scheduler.get_last_lr()[0])
    return out


# ---------------------------------------------------------------------- LambdaLR, OneCycleLR, SGDR, SWALR
# These schedules take PyTorch's ``last_epoch`` argument and accept ``step(epoch)``.


def _check_count(value: Any, name: str, low: int) -> int:
    """An int >= ``low``; a float such as ``10.0`` is a ValueError, as in PyTorch."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an int >= {low}, received {type(value).__name__} {value!r}")
    if not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, received {type(value).__name__} {value!r}")
    return int(value)


def _check_epoch(epoch: Any) -> int | float:
    """The ``epoch`` of ``step(epoch)``: a finite number >= 0 (an int stays an int)."""
    chk.check_number(epoch, "epoch", low=0.0)
    return int(epoch) if isinstance(epoch, numbers.Integral) else float(epoch)


def _one_per_group(value: Any, name: str) -> Any:
    """PyTorch's per-group argument: one value, or a list/tuple with one value per parameter group
    (an edulib optimizer is a single group, so such a list holds exactly one value)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"{name} must be one value or a list with one value per parameter group "
                             f"(an edulib optimizer has 1), received a list of {len(value)}")
        return value[0]
    return value


class _Resumable(LRScheduler):
    r""":class:`LRScheduler` with PyTorch's ``last_epoch`` argument and ``step(epoch)``.

    ``last_epoch=-1`` starts the schedule (construction performs :math:`t = 0`);
    ``last_epoch=k >= 0`` resumes one: :math:`\eta_0` is read from ``optimizer.initial_lr``
    (left there by the schedule being resumed) and construction performs :math:`t = k + 1`.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        last_epoch = chk.check_int(last_epoch, "last_epoch", low=-1)
        if last_epoch == -1:
            super().__init__(optimizer)
            return
        _check_optimizer(optimizer, type(self).__name__)
        if getattr(optimizer, "initial_lr", None) is None:
            raise ValueError(f"last_epoch={last_epoch} resumes a schedule, which needs "
                             "optimizer.initial_lr (set by a schedule built with last_epoch=-1), "
                             "received an optimizer without it")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.initial_lr)
        self.last_epoch = last_epoch
        self._is_initial = False
        self._initial_step()

    def step(self, epoch: float | None = None) -> None:
        """Advance :math:`t` by one; ``step(epoch)`` sets :math:`t` = ``epoch`` instead."""
        if epoch is None:
            super().step()
            return
        epoch = _check_epoch(epoch)
        self._step_count += 1
        self._update_lr(epoch)


class LambdaLR(_Resumable):
    r"""The base learning rate times a factor computed by a function (torch's ``LambdaLR``).

    .. math:: \eta_t = \eta_0\,\lambda(t)

    ``lr_lambda`` is the function :math:`t \mapsto \lambda(t)`, or a list with one function per
    parameter group (an edulib optimizer is one group: a list of one). Not chainable: every
    step recomputes :math:`\eta_t` from :math:`\eta_0`. Inverse-time decay,
    :math:`\eta_t = \eta_0 / (1 + k\,t)`, is a LambdaLR::

        k = 0.1
        sched = LambdaLR(opt, lambda t: 1.0 / (1.0 + k * t))

    A factor that is not a finite number >= 0 raises (no optimizer takes a negative rate).
    ``state_dict()`` keeps, as in PyTorch, the attributes of a callable object but not a plain
    function or lambda (``None`` in its place): rebuild the schedule with the same function,
    then load the state.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Any, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "LambdaLR")
        fn = _one_per_group(lr_lambda, "lr_lambda")
        chk.check_callable(fn, "lr_lambda", "a function of the epoch t returning the factor lambda(t)")
        self.lr_lambdas = [fn]
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        factor = self.lr_lambdas[0](self.last_epoch)
        return self.base_lr * chk.check_number(factor, f"lr_lambda({self.last_epoch})", low=0.0)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer; ``"lr_lambdas"`` holds each function's ``__dict__``
        (``None`` for a plain function or lambda)."""
        sd = {k: copy.deepcopy(v) for k, v in self.__dict__.items()
              if k not in ("optimizer", "lr_lambdas")}
        sd["lr_lambdas"] = [None if isinstance(fn, types.FunctionType)
                            else copy.deepcopy(getattr(fn, "__dict__", None)) for fn in self.lr_lambdas]
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, and a callable object's attributes."""
        if not isinstance(state_dict, dict):
            super().load_state_dict(state_dict)       # raises, naming what it received
        super().load_state_dict({k: v for k, v in state_dict.items() if k != "lr_lambdas"})
        for fn, attrs in zip(self.lr_lambdas, state_dict.get("lr_lambdas", []), strict=False):
            if attrs is not None:
                fn.__dict__.update(copy.deepcopy(attrs))


def _one_cycle_total_steps(total_steps: Any, epochs: Any, steps_per_epoch: Any) -> int:
    """``total_steps`` if given (the other two are then ignored), else ``epochs * steps_per_epoch``."""
    if total_steps is not None:
        return _check_count(total_steps, "total_steps", 1)
    if epochs is not None and steps_per_epoch is not None:
        return _check_count(epochs, "epochs", 1) * _check_count(steps_per_epoch, "steps_per_epoch", 1)
    raise ValueError("OneCycleLR needs total_steps, or both epochs and steps_per_epoch, received "
                     f"total_steps=None, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}")


def _check_pct_start(value: Any) -> float:
    """``pct_start``: a float in [0, 1]; PyTorch refuses an int, even 0 or 1, with a ValueError."""
    if isinstance(value, numbers.Integral):
        raise ValueError(f"pct_start must be a float in [0.0, 1.0] (write 0.0 or 1.0 for an end), "
                         f"received {type(value).__name__} {value!r}")
    return chk.check_number(value, "pct_start", low=0.0, high=1.0)


def _one_cycle_phases(pct_start: float, total_steps: int, three_phase: bool) -> list[tuple]:
    """PyTorch's phases: (last step, lr from, lr to, momentum from, momentum to), the rates named
    by the optimizer attributes that hold them."""
    warm_up = (float(pct_start * total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum")
    if not three_phase:
        return [warm_up, (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
    return [warm_up,
            (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
            (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]


class OneCycleLR(_Resumable):
    r"""The 1cycle policy: up to ``max_lr`` and far below (``torch.optim.lr_scheduler.OneCycleLR``).

    With :math:`\eta_{\max}` = ``max_lr``, :math:`d` = ``div_factor`` and :math:`f` =
    ``final_div_factor``, the rate starts at :math:`\eta_{\max}/d` and ends at :math:`\eta_{\min}
    = \eta_{\max}/(d f)`. ``step()`` is called after every batch, :math:`T` = ``total_steps``
    times in all (or ``epochs * steps_per_epoch``). At step :math:`t` inside a phase that runs
    from step :math:`s` to step :math:`e` and moves the rate from :math:`a` to :math:`b`,

    .. math:: \eta_t = b + \tfrac12 (a - b)\bigl(1 + \cos(\pi p)\bigr) \ \ (\text{'cos'})
        \quad\text{or}\quad \eta_t = (b - a)\,p + a \ \ (\text{'linear'}),
        \qquad p = \frac{t - s}{e - s}

    Phases, with :math:`P` = ``pct_start``: :math:`\eta_{\max}/d \to \eta_{\max}` until step
    :math:`PT - 1`, then :math:`\eta_{\max} \to \eta_{\min}` until :math:`T - 1`. With
    ``three_phase=True`` (the paper's version): up until :math:`PT - 1`, back to
    :math:`\eta_{\max}/d` until :math:`2PT - 2`, then down to :math:`\eta_{\min}` until
    :math:`T - 1`. With ``cycle_momentum`` the momentum (``momentum`` of SGD/RMSprop,
    :math:`\beta_1` of Adam/AdamW) follows the same phases the other way, between
    ``max_momentum`` and ``base_momentum``, and stays at ``max_momentum`` in a third phase.

    As in PyTorch: construction overwrites ``opt.initial_lr`` and writes ``opt.max_lr``,
    ``opt.min_lr`` (and ``opt.max_momentum``, ``opt.base_momentum``), which every step reads;
    the :math:`T`-th ``step()`` extrapolates the last phase and one more raises a ValueError;
    a phase of zero length reached by a step (e.g. :math:`PT = 1`) raises a ValueError where
    PyTorch divides 0 by 0. Not chainable.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "OneCycleLR")
        self.total_steps = _one_cycle_total_steps(total_steps, epochs, steps_per_epoch)
        self.pct_start = _check_pct_start(pct_start)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', received {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.three_phase = chk.check_bool(three_phase, "three_phase")
        self.cycle_momentum = chk.check_bool(cycle_momentum, "cycle_momentum")
        self._phases = _one_cycle_phases(self.pct_start, self.total_steps, self.three_phase)
        peak = chk.check_number(_one_per_group(max_lr, "max_lr"), "max_lr", low=0.0)
        div = _check_positive(div_factor, "div_factor")
        final_div = _check_positive(final_div_factor, "final_div_factor")
        momenta = self._momentum_range(optimizer, max_momentum, base_momentum)
        last_epoch = chk.check_int(last_epoch, "last_epoch", low=-1)
        self.optimizer = optimizer
        if last_epoch == -1:
            optimizer.initial_lr = peak / div
            optimizer.max_lr = peak
            optimizer.min_lr = optimizer.initial_lr / final_div
            if momenta is not None:
                optimizer.max_momentum, optimizer.base_momentum = momenta
                self._set_momentum(momenta[0])
        else:
            needed = ["initial_lr", "max_lr", "min_lr"] + ["max_momentum", "base_momentum"] * bool(momenta)
            missing = [f"optimizer.{k}" for k in needed if getattr(optimizer, k, None) is None]
            if missing:
                raise ValueError(f"last_epoch={last_epoch} resumes a OneCycleLR, which needs "
                                 f"{', '.join(missing)} (written by a OneCycleLR built with "
                                 "last_epoch=-1), received an optimizer without them")
        super().__init__(optimizer, last_epoch)

    def _momentum_range(self, optimizer: Optimizer, max_momentum: Any, base_momentum: Any):
        """(max_momentum, base_momentum) checked, or None without ``cycle_momentum``."""
        self.use_beta1 = False
        if not self.cycle_momentum:
            return None
        if not {"momentum", "betas"} & set(optimizer.hyperparams):
            raise ValueError("optimizer must have a momentum (SGD, RMSprop) or betas (Adam, AdamW) "
                             f"with cycle_momentum=True, received {type(optimizer).__name__} "
                             "(pass cycle_momentum=False)")
        self.use_beta1 = "betas" in optimizer.hyperparams
        high = 1.0 if self.use_beta1 else None              # beta1 must stay below 1
        return tuple(chk.check_number(_one_per_group(m, name), name, low=0.0, high=high, high_open=True)
                     for m, name in ((max_momentum, "max_momentum"), (base_momentum, "base_momentum")))

    def _set_momentum(self, momentum: float) -> None:
        if self.use_beta1:
            self.optimizer.betas = (momentum, *self.optimizer.betas[1:])
        else:
            self.optimizer.momentum = momentum

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> float:
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR holds total_steps={self.total_steps} steps after step 0, "
                             f"received a request for step {t}")
        start, i = 0.0, 0
        while t > self._phases[i][0] and i < len(self._phases) - 1:    # find t's phase
            start = self._phases[i][0]
            i += 1
        end, lr_from, lr_to, m_from, m_to = self._phases[i]
        if end == start:
            raise ValueError(f"OneCycleLR's phase {i + 1} starts and ends at step {end} (pct_start="
                             f"{self.pct_start}, total_steps={self.total_steps}, three_phase="
                             f"{self.three_phase}), so step {t} is 0/0 of the way through it: "
                             "choose another pct_start")
        pct = (t - start) / (end - start)
        opt = self.optimizer
        if self.cycle_momentum:
            self._set_momentum(self._anneal(getattr(opt, m_from), getattr(opt, m_to), pct))
        return self._anneal(getattr(opt, lr_from), getattr(opt, lr_to), pct)

    def step(self, epoch: float | None = None) -> None:
        """Advance by one batch (``step(epoch)``: go to step ``epoch``), at most to ``total_steps``."""
        t = self.last_epoch + 1 if epoch is None else _check_epoch(epoch)
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR holds total_steps={self.total_steps} steps after step 0, "
                             f"received a request for step {t} (build it with total_steps >= the "
                             "number of step() calls, e.g. epochs * steps_per_epoch)")
        super().step(epoch)


class CosineAnnealingWarmRestarts(_Resumable):
    r"""Cosine annealing with warm restarts, SGDR (``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``).

    .. math:: \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
        \bigl(1 + \cos(\pi\,T_{cur} / T_i)\bigr)

    :math:`T_{cur}` counts the epochs since the last restart and :math:`T_i` is the current
    period: ``T_0`` at first, multiplied by ``T_mult`` at every restart. When :math:`T_{cur}`
    reaches :math:`T_i` the rate jumps back to :math:`\eta_0`, so restarts happen at
    :math:`T_0, 2T_0, 3T_0, \dots` (``T_mult=1``) or :math:`T_0, 3T_0, 7T_0, \dots`
    (``T_mult=2``). ``step()`` advances one epoch; ``step(epoch)`` jumps to any ``epoch >= 0``,
    fractional ones included (``step(epoch + i / n_batches)`` after batch ``i``), and a later
    ``step()`` adds one epoch to where that left :math:`T_{cur}`. Not chainable.
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "CosineAnnealingWarmRestarts")
        self.T_0 = _check_count(T_0, "T_0", 1)
        self.T_i = self.T_0
        self.T_mult = _check_count(T_mult, "T_mult", 1)
        self.eta_min = chk.check_number(eta_min, "eta_min", low=0.0)
        self.T_cur = chk.check_int(last_epoch, "last_epoch", low=-1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        cos = math.cos(math.pi * self.T_cur / self.T_i)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + cos) / 2

    def _position(self, epoch: float) -> tuple[float, int]:
        r"""(:math:`T_{cur}`, :math:`T_i`) at ``epoch``: after :math:`n` restarts,
        :math:`T_0 (T_{mult}^n - 1) / (T_{mult} - 1)` epochs have passed (:math:`n T_0` if
        :math:`T_{mult} = 1`)."""
        if epoch < self.T_0:
            return epoch, self.T_0
        if self.T_mult == 1:
            return epoch % self.T_0, self.T_i
        n = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
        return epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1), self.T_0 * self.T_mult**n

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or jump to ``epoch`` (a number >= 0, fractional allowed)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:                      # a restart
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            epoch = _check_epoch(epoch)
            self.T_cur, self.T_i = self._position(epoch)
        self.last_epoch = math.floor(epoch)
        self._step_count += 1
        lr = self.get_lr()
        self.optimizer.lr = lr
        self._last_lr = [lr]


class SWALR(_Resumable):
    r"""Anneal the rate to a constant ``swa_lr`` for weight averaging (``torch.optim.swa_utils.SWALR``).

    Over :math:`A` = ``anneal_epochs`` steps the rate moves from its value :math:`\eta_s` when
    the annealing starts to :math:`\eta_{swa}` = ``swa_lr``, and then stays there:

    .. math:: \eta_t = \alpha_t\,\eta_{swa} + (1 - \alpha_t)\,\eta_s, \qquad
        \alpha_t = a\bigl(\min(1, t / \max(1, A))\bigr)

    with :math:`a(x) = (1 - \cos \pi x)/2` (``'cos'``) or :math:`a(x) = x` (``'linear'``);
    :math:`t` counts ``step()`` calls since construction (``anneal_epochs=0``: :math:`\eta_{swa}`
    at once). As in PyTorch each step reads the current ``opt.lr``, recovers
    :math:`\eta_s = (\eta_{t-1} - \alpha_{t-1}\eta_{swa})/(1 - \alpha_{t-1})` and blends again,
    so SWALR built at the start can take over from another schedule at any epoch.
    """

    def __init__(self, optimizer: Optimizer, swa_lr: float, anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1) -> None:
        _check_optimizer(optimizer, "SWALR")
        self.swa_lr = chk.check_number(_one_per_group(swa_lr, "swa_lr"), "swa_lr", low=0.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', received {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.anneal_epochs = _check_count(anneal_epochs, "anneal_epochs", 0)
        super().__init__(optimizer, last_epoch)

    def _alpha(self, x: float) -> float:
        return (1 - math.cos(math.pi * x)) / 2 if self.anneal_strategy == "cos" else x

    def get_lr(self) -> float:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        span = max(1, self.anneal_epochs)
        prev_alpha = self._alpha(max(0, min(1, (step - 1) / span)))
        lr = self.optimizer.lr
        start = self.swa_lr if prev_alpha == 1 else (lr - prev_alpha * self.swa_lr) / (1 - prev_alpha)
        alpha = self._alpha(max(0, min(1, step / span)))
        return self.swa_lr * alpha + start * (1 - alpha)
