r"""Reading a loss curve: why won't my loss go down?

:func:`diagnose` looks at a :class:`edulib.train.History` and names what it sees, with the
numbers that show it and what to try next::

    hist = train(model, params, opt, split, epochs=30)
    d = diagnose(hist)            # Diagnosis(verdict="oscillating", evidence=[...], advice=[...])
    print(d)                      # or just `d` in Jupyter (rendered as Markdown)

    mon = Monitor(every=10)       # edulib.babysit: also read inside the network
    hist = train(model, params, opt, split, epochs=30, monitor=mon)
    d = diagnose(hist, n_classes=10, monitor=mon)

The verdicts, checked in this order (the first that fits wins):

=================  ==========================================================================
``too_short``      fewer than ``min_evaluations`` finite evaluations: nothing to read yet
``dead_units``     with ``monitor=`` (an :class:`edulib.babysit.Monitor` of the run): at the
                   last recorded step at least ``dead_fraction`` of the units of some hidden
                   layer are 0 on every example of the batch (dead ReLUs, which get no
                   gradient), and the run did not diverge: train() did not stop it, every
                   loss is finite, it does not end above ``diverge_rise`` x the initial loss
                   and the start is not ``bad_init`` (a spike on the way that came back down
                   is reported, not read as divergence: it is how large steps kill units)
``diverging``      the run was stopped as diverged, a loss is NaN/inf, the final training loss
                   is above ``diverge_rise`` x the initial one, or it jumped above ``spike`` x
                   (a rise counts only when it is also more than ``abs_floor`` in absolute terms)
``bad_init``       with ``n_classes=C``: the initial loss is above ``init_ratio`` x :math:`\ln C`,
                   the loss of a uniform guess (the initial weights or the inputs are too large)
``oscillating``    the training loss goes *up* between evaluations in at least
                   ``osc_fraction`` of the moves (``osc_min_rises`` or more), the largest rise
                   being at least ``osc_jump`` (relative)
``overfitting``    the validation loss ends ``overfit_rise`` or more above its minimum, reached
                   before the end, while the training loss kept falling after that minimum
``lr_too_small``   the training loss fell less than ``slow_total`` although the gradient is not
                   small, or it falls at a steady rate (the second half of the run fell at least
                   ``steady_ratio`` x as much as the first) and has not yet fallen ``healthy_drop``
``plateau``        the loss barely moved (less than ``slow_total``) *and* the gradient is
                   small (median of the last half of steps below ``small_grad`` x max(1, |L_0|)):
                   a flat region, dead units, a saddle; or it stalled (the last half changed
                   less than ``flat_rel``) before falling ``healthy_drop``
``healthy``        none of the above: the loss fell at least ``healthy_drop`` and is settling,
                   or it started and stayed at (essentially) zero, below ``abs_floor``
=================  ==========================================================================

With ``n_classes=C`` an initial loss above ``init_ratio`` x :math:`\ln C` (the loss of a uniform
guess) adds a line of evidence whatever the verdict, and is the verdict unless the run is too
short to read or diverging. With ``monitor=`` a hidden layer at least ``dead_fraction`` dead at
the last recorded step adds a line of evidence whatever the verdict too; the loss curve alone
often reads such a run as ``lr_too_small`` or ``plateau``, whose advice (a larger learning rate,
momentum) does not address the cause. All thresholds live in :data:`THRESHOLDS` (relative
changes are fractions: 0.01 = 1%). They are rules of thumb tuned on the course's standardised data (losses
of order 1 at initialisation), not laws: read the evidence, not only the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks as chk
from .babysit import Monitor

__all__ = ["ADVICE", "THRESHOLDS", "VERDICTS", "Diagnosis", "diagnose"]

THRESHOLDS: dict[str, float] = {
    "min_evaluations": 3,    # need the initial evaluation and at least 2 epochs
    "diverge_rise": 1.5,     # final train loss > 1.5 x the initial loss -> diverging
    "spike": 10.0,           # any evaluated train loss > 10 x the initial loss -> diverging
    "rise_rel": 0.01,        # a move counts as a rise when it is > 1% of the loss before it...
    "rise_floor": 1e-3,      # ...and of 1e-3 x the initial loss (ignores noise near zero loss)
    "abs_floor": 1e-8,       # ...and of 1e-8: losses this close to zero count as converged
    "osc_fraction": 0.2,     # oscillating: >= 20% of the moves between evaluations are rises
    "osc_min_rises": 2,      # ...at least 2 of them...
    "osc_jump": 0.2,         # ...and the largest rise is >= 20% of the loss before it
    "overfit_rise": 0.1,     # val loss ends >= 10% above its minimum -> overfitting
    "slow_total": 0.05,      # the train loss fell < 5% over the whole run -> too slow or stuck
    "small_grad": 0.05,      # median |g| over the last half of steps < 0.05 x max(1, |L_0|): flat
    "flat_rel": 0.01,        # the last half of the run changed the loss by < 1% -> stalled
    "steady_ratio": 0.5,     # last-half drop >= 0.5 x first-half drop: still falling steadily
    "healthy_drop": 0.5,     # a healthy run has cut the training loss by >= 50%
    "init_ratio": 3.0,       # with n_classes: an initial loss > 3 x ln(C) flags a bad init
    "dead_fraction": 0.5,    # with monitor: >= 50% of a hidden layer's units dead at the end
}
"""Every threshold :func:`diagnose` uses, in one place (edit a copy and pass ``thresholds=``)."""

VERDICTS: dict[str, str] = {
    "too_short": "not enough of a curve to read yet",
    "dead_units": "a hidden layer has stopped passing signal: most of its ReLUs are dead",
    "diverging": "the loss is blowing up: the steps are too large",
    "bad_init": "the start is far off: the initial loss is far above a uniform guess",
    "oscillating": "the loss bounces up and down instead of settling: the steps overshoot",
    "overfitting": "the training loss falls but the validation loss rises: memorising",
    "lr_too_small": "the loss falls, but far too slowly: the steps are too small",
    "plateau": "the loss is stuck on a flat stretch: the gradient is (nearly) zero",
    "healthy": "the loss falls and settles: nothing to fix",
}
"""One line per verdict: what it means."""

ADVICE: dict[str, list[str]] = {
    "too_short": ["train for more epochs (at least 2) and diagnose again"],
    "dead_units": [
        "dead from the first step: start the hidden biases at zero (or a small positive value "
        "such as 0.01), not negative",
        "dead later in the run: lower the learning rate (one huge step can push a layer's "
        "pre-activations below zero for every input), or warm it up",
        "use He initialisation (the default for ReLU layers: model.init_params(seed=0))",
        "use a leaky ReLU (a small slope for z < 0 keeps a gradient flowing), or Adam, whose "
        "per-coordinate steps are not shrunk by a small gradient",
    ],
    "diverging": [
        "divide the learning rate by 10 (for a quadratic loss GD needs lr < 2/λ_max)",
        "standardise the inputs (a raw feature scale inflates λ_max)",
        "check the initialisation: a huge init starts far out on a steep slope",
        "clip the gradient (train(..., clip_norm=1.0)) or warm up the learning rate",
    ],
    "bad_init": [
        "use the default initialisation (He for ReLU layers, Xavier otherwise): "
        "model.init_params(seed=0) with scale=1",
        "standardise the inputs (large raw features give large first logits too)",
        "train again and check that the initial loss is close to ln C",
    ],
    "oscillating": [
        "lower the learning rate by 2-3x, or decay it (a schedule, ReduceLROnPlateau)",
        "add momentum (μ = 0.9) with a smaller lr, or use Adam",
        "use larger batches to reduce the gradient noise",
    ],
    "overfitting": [
        "stop early: train(..., early_stopping=5) keeps the best validation epoch",
        "add weight decay (λ) or use a smaller model",
        "get more training data (or augment it)",
    ],
    "lr_too_small": [
        "multiply the learning rate by 10 (sweep lr on a log grid: 1e-3, 1e-2, 1e-1, 1)",
        "use an adaptive optimizer (Adam) or momentum",
    ],
    "plateau": [
        "check the initialisation: all-zero or tiny weights give zero gradients (symmetry, "
        "dead ReLUs); use the default He/Xavier init",
        "check the gradient with edulib.gradcheck (a backprop bug can zero it)",
        "check that the loss matches the labels (cross-entropy for class labels)",
        "try momentum or Adam to cross a flat region; overfit 20 examples first",
    ],
    "healthy": [
        "nothing to fix; compare the validation loss with the training loss to check the fit",
        "to go further: a decaying learning rate (if the run used a constant one), early "
        "stopping when the validation loss stalls",
    ],
}
"""What to try next, per verdict."""


@dataclass
class Diagnosis:
    """What :func:`diagnose` concluded: ``verdict`` (a key of :data:`VERDICTS`), ``evidence``
    (sentences with the numbers that show it), ``advice`` (what to try next) and ``numbers``
    (the measured quantities, by name, for tests and plots)."""

    verdict: str
    evidence: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)

    @property
    def meaning(self) -> str:
        """One line: what the verdict means."""
        return VERDICTS[self.verdict]

    def __str__(self) -> str:
        lines = [f"verdict: {self.verdict} ({self.meaning})", "evidence:"]
        lines += [f"  - {e}" for e in self.evidence]
        lines += ["try next:"] + [f"  - {a}" for a in self.advice]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        lines = [f"**Diagnosis: {self.verdict}** ({self.meaning})", "", "Evidence:", ""]
        lines += [f"- {e}" for e in self.evidence]
        lines += ["", "Try next:", ""] + [f"- {a}" for a in self.advice]
        return "\n".join(lines)


def _g(x: float) -> str:
    """A number for a sentence: 3 significant digits."""
    return f"{x:.3g}"


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def _floats(values: Any) -> np.ndarray:
    return np.asarray([float(v) for v in values], dtype=np.float64)


#: the accepted range of each threshold: (low, high, low_open); counts are ints
_RANGES: dict[str, tuple[float, float | None, bool]] = {
    "min_evaluations": (2, None, False), "osc_min_rises": (1, None, False),
    "diverge_rise": (1.0, None, False), "spike": (1.0, None, False),
    "rise_rel": (0.0, None, False), "rise_floor": (0.0, None, False),
    "abs_floor": (0.0, None, True), "osc_fraction": (0.0, 1.0, False),
    "osc_jump": (0.0, None, False), "overfit_rise": (0.0, None, False),
    "slow_total": (0.0, 1.0, False), "small_grad": (0.0, None, False),
    "flat_rel": (0.0, None, False), "steady_ratio": (0.0, None, False),
    "healthy_drop": (0.0, 1.0, False), "init_ratio": (0.0, None, True),
    "dead_fraction": (0.0, 1.0, True),
}
_COUNTS = ("min_evaluations", "osc_min_rises")


def _checked_thresholds(thresholds: Any) -> dict[str, float]:
    """:data:`THRESHOLDS` updated with ``thresholds``, each checked by name and range."""
    th = dict(THRESHOLDS)
    if thresholds is None:
        return th
    if not isinstance(thresholds, Mapping):
        raise TypeError("thresholds must be None or a dict such as {'small_grad': 0.1}, "
                        f"received {type(thresholds).__name__}")
    unknown = sorted(set(thresholds) - set(th), key=str)
    if unknown:
        raise ValueError(f"thresholds must use the keys of THRESHOLDS {sorted(th)}, "
                         f"received unknown {unknown}")
    for key, value in thresholds.items():
        low, high, low_open = _RANGES[key]
        name = f"thresholds[{key!r}]"
        if key in _COUNTS:
            th[key] = chk.check_int(value, name, low=int(low))
        else:
            th[key] = chk.check_number(value, name, low=low, high=high, low_open=low_open)
    return th


class _Reading:
    """The curves of one history as float64 arrays, and what :func:`diagnose` found so far."""

    def __init__(self, history: Any, th: dict[str, float]) -> None:
        self.history, self.th = history, th
        self.train = _floats(history.train_loss)
        self.val = _floats(getattr(history, "val_loss", []))
        self.grads = _floats(history.grad_norm)
        lrs = _floats(getattr(history, "lr", []))
        self.lr_now = f"lr={lrs[-1]:g}" if lrs.size else "the learning rate"
        self.L0 = (float(self.train[0]) if self.train.size and math.isfinite(self.train[0])
                   else math.nan)
        self.evidence: list[str] = []
        self.numbers: dict[str, float] = {"evaluations": float(self.train.size),
                                          "steps": float(history.steps)}

    def done(self, verdict: str) -> Diagnosis:
        return Diagnosis(verdict, self.evidence, list(ADVICE[verdict]), self.numbers)


def diagnose(history: Any, n_classes: int | None = None,
             thresholds: dict[str, float] | None = None, monitor: Any = None) -> Diagnosis:
    r"""Name what the loss curves of ``history`` (an :class:`edulib.train.History`) show.

    Reads the training loss at each evaluation (``train_loss``: :math:`L_0` at
    initialisation, then one per epoch), the validation loss when there is one, the per-step
    gradient norms :math:`\lVert g\rVert` and learning rates :math:`\eta`, and
    ``history.diverged``. The verdicts and their rules are in the module docstring; every
    threshold is in :data:`THRESHOLDS` (``thresholds`` overrides some of them, each checked:
    the counts ``min_evaluations`` >= 2 and ``osc_min_rises`` >= 1 are ints, fractions such
    as ``healthy_drop`` lie in [0, 1], factors such as ``spike`` are >= 1).

    ``n_classes``: for a classifier, also compare :math:`L_0` with :math:`\ln C`, the loss of
    a uniform guess: an initial loss above ``init_ratio`` x :math:`\ln C` adds a line of
    evidence (a bad initialisation or unscaled inputs), whatever the verdict, and makes the
    verdict ``bad_init`` unless the run is too short to read or diverging.

    ``monitor``: the :class:`edulib.babysit.Monitor` that watched this run (``train(...,
    monitor=mon)``), to read its dead fraction per hidden layer (``mon.dead``). When some layer
    is at least ``dead_fraction`` dead at the last recorded step, that adds a line of evidence
    (whether the units were already dead at step 0 or died during the run), whatever the
    verdict, and makes the verdict ``dead_units`` unless the run is too short to read, was
    stopped or has a NaN/inf loss, ends above ``diverge_rise`` x its initial loss, or is
    ``bad_init``. A monitor of a model without hidden layers adds nothing.
    """
    if not (hasattr(history, "train_loss") and hasattr(history, "grad_norm")
            and hasattr(history, "diverged")):
        raise TypeError("history must be an edulib.train.History (what train() returns), "
                        f"received {type(history).__name__}")
    th = _checked_thresholds(thresholds)
    if n_classes is not None and (isinstance(n_classes, bool) or not isinstance(
            n_classes, (int, np.integer)) or n_classes < 2):
        raise ValueError(f"n_classes must be None or an int >= 2, received {n_classes!r}")
    _check_monitor(monitor, history)
    r = _Reading(history, th)
    bad_init = n_classes is not None and _flag_bad_init(r, int(n_classes))
    dead = monitor is not None and _flag_dead_units(r, monitor)
    if _stopped_or_not_finite(r):
        return r.done("diverging")
    if r.train.size < th["min_evaluations"]:
        n = r.train.size
        r.evidence.append(f"only {n} evaluation(s) of the training loss were recorded "
                          f"({max(n - 1, 0)} epoch(s)); diagnose needs at least "
                          f"{int(th['min_evaluations'])}: train for more epochs")
        return r.done("too_short")
    r.numbers.update(initial_loss=r.L0, final_loss=float(r.train[-1]),
                     max_train_loss=float(r.train.max()))
    if dead and not bad_init and not _ends_up(r):
        _note_spike(r)
        return r.done("dead_units")
    if _rose(r):
        return r.done("diverging")
    if bad_init:
        _read_after_bad_init(r, int(n_classes))
        return r.done("bad_init")
    if _oscillates(r):
        return r.done("oscillating")
    if _overfits(r):
        return r.done("overfitting")
    return r.done(_speed(r))


def _check_monitor(monitor: Any, history: Any) -> None:
    """``monitor`` is None or the :class:`edulib.babysit.Monitor` of this run."""
    if monitor is None:
        return
    if not isinstance(monitor, Monitor):
        raise TypeError("monitor must be None or an edulib.babysit.Monitor (passed to train(..., "
                        f"monitor=mon) for this run), received {type(monitor).__name__}")
    if not monitor.steps:
        raise ValueError("monitor must have recorded the run (pass it to train(..., monitor=mon)); "
                         f"received {monitor!r}, which recorded nothing")
    if monitor.steps[-1] >= max(int(history.steps), 1):
        raise ValueError(f"monitor must be the Monitor of this run: it recorded step "
                         f"{monitor.steps[-1]}, the history has {history.steps} step(s)")


def _flag_dead_units(r: _Reading, monitor: Any) -> bool:
    """Is some hidden layer at least ``dead_fraction`` dead at the last recorded step? (adds
    the evidence and the numbers when it is)"""
    th, step = r.th["dead_fraction"], monitor.steps[-1]
    dead = []
    for k, v in monitor.dead.items():
        r.numbers[f"dead_{k}"] = float(v[-1])
        if v[-1] >= th:
            dead.append(k)
    if not dead:
        return False
    r.numbers["dead_fraction"] = max(float(monitor.dead[k][-1]) for k in dead)
    for k in dead:
        first, last = monitor.dead[k][0], monitor.dead[k][-1]
        when = ("already at step 0: the start killed them (negative biases, a bad initialisation)"
                if first >= th else
                f"against {_pct(first)} at step 0: they died during the run (large steps push "
                "the pre-activations below zero for every input)")
        r.evidence.append(f"{_pct(last)} of the units of hidden layer {k} are 0 on every example "
                          f"of the batch at step {step} (the last recorded), {when}; a dead ReLU "
                          "passes no gradient back, so the layer stops learning and the loss "
                          "curve stalls")
    return True


def _ends_up(r: _Reading) -> bool:
    """Does the run end above ``diverge_rise`` x its initial loss (still blown up)?"""
    last = float(r.train[-1])
    return last > r.th["diverge_rise"] * r.L0 and last - r.L0 > r.th["abs_floor"]


def _note_spike(r: _Reading) -> None:
    """A spike above ``spike`` x L0 on the way to dead units: the evidence of how they died."""
    top, i_max = float(r.train.max()), int(np.argmax(r.train))
    if top > r.th["spike"] * max(r.L0, 0.0) and top - r.L0 > r.th["abs_floor"]:
        r.evidence.append(f"on the way the train loss spiked from {_g(r.L0)} to {_g(top)} at "
                          f"epoch {i_max} and came back down to {_g(float(r.train[-1]))}: "
                          f"steps too large at {r.lr_now}")


def _flag_bad_init(r: _Reading, n_classes: int) -> bool:
    """Is the initial loss above ``init_ratio`` x ln C? (adds the evidence when it is)"""
    if not math.isfinite(r.L0):
        return False
    ln_c = math.log(n_classes)
    r.numbers["ln_C"] = ln_c
    if r.L0 <= r.th["init_ratio"] * ln_c:
        return False
    r.evidence.append(f"the initial loss {_g(r.L0)} is {_g(r.L0 / ln_c)} x ln({n_classes}) = "
                      f"{_g(ln_c)}, the loss of a uniform guess: the initial weights are "
                      "too large")
    return True


def _read_after_bad_init(r: _Reading, n_classes: int) -> None:
    last, ln_c, n_ep = float(r.train[-1]), r.numbers["ln_C"], r.train.size - 1
    if last > ln_c:
        r.evidence.append(f"after {n_ep} epoch(s) the training loss is still {_g(last)}, "
                          f"{_g(last / ln_c)} x ln({n_classes}): the run is still undoing "
                          "its start")
    else:
        r.evidence.append(f"the training loss ends at {_g(last)} after {n_ep} epoch(s), below "
                          f"ln({n_classes}); fix the start before reading the rest of the "
                          "curve")


def _stopped_or_not_finite(r: _Reading) -> bool:
    """Diverging: train() stopped the run as diverged, or an evaluated loss is NaN/inf."""
    history, finite = r.history, r.train[np.isfinite(r.train)]
    bad = int(np.sum(~np.isfinite(r.train)) + np.sum(~np.isfinite(r.val)))
    if not (history.diverged or bad):
        return False
    if history.message:
        r.evidence.append(f"train() stopped: {history.message}")
    if bad:
        r.evidence.append(f"{bad} evaluated loss(es) are NaN or inf")
    if finite.size >= 2:
        i = int(np.argmax(finite))
        r.evidence.append(f"train loss rose from {_g(finite[0])} to {_g(finite[i])} in {i} "
                          "epoch(s)")
    r.numbers["max_train_loss"] = float(finite.max()) if finite.size else math.nan
    return True


def _rose(r: _Reading) -> bool:
    """Diverging: the final loss is above ``diverge_rise`` x L0, or a loss above ``spike`` x
    L0, each also more than ``abs_floor`` above L0 (a rise from 0 to 1e-12 is no rise)."""
    train, L0, th = r.train, r.L0, r.th
    last, i_max = float(train[-1]), int(np.argmax(train))
    top = float(train[i_max])
    final_rise = last > th["diverge_rise"] * L0 and last - L0 > th["abs_floor"]
    spike = top > th["spike"] * max(L0, 0.0) and top - L0 > th["abs_floor"]
    if not (final_rise or spike):
        return False
    times = f" ({_g(top / L0)} x)" if L0 > 0 else ""
    r.evidence.append(f"train loss rose from {_g(L0)} to {_g(top)} in {i_max} epoch(s)"
                      f"{times} and ends at {_g(last)}")
    r.evidence.append(f"the steps are too large for the curvature at {r.lr_now}")
    if getattr(r.history, "stop_reason", "") == "early_stopping":
        r.evidence.append(f"early stopping ended the run ({r.history.message}); the training "
                          "loss rose too, so this is divergence, not overfitting")
    return True


def _oscillates(r: _Reading) -> bool:
    """Oscillating: the training loss goes up between evaluations, often and by a lot."""
    train, th = r.train, r.th
    prev, moves = train[:-1], np.diff(train)
    floor = max(th["rise_floor"] * abs(r.L0), th["abs_floor"])
    n_rises = int(np.sum(moves > th["rise_rel"] * np.maximum(prev, floor)))
    rel = moves / np.maximum(prev, floor)
    biggest = float(rel.max())
    r.numbers.update(rises=float(n_rises), moves=float(moves.size), largest_rise=biggest)
    if not (n_rises >= th["osc_min_rises"] and n_rises >= th["osc_fraction"] * moves.size
            and biggest >= th["osc_jump"]):
        return False
    j = int(np.argmax(rel))
    r.evidence.append(f"train loss went up in {n_rises} of {moves.size} epochs; the largest "
                      f"jump, after epoch {j + 1}, was +{_pct(biggest)} "
                      f"({_g(train[j])} -> {_g(train[j + 1])})")
    tail = train[len(train) // 2:]
    r.evidence.append(f"over the last half it ranged from {_g(tail.min())} to "
                      f"{_g(tail.max())} instead of settling ({r.lr_now})")
    return True


def _overfits(r: _Reading) -> bool:
    """Overfitting: the validation loss rose from its minimum while the training loss fell."""
    train, val, th = r.train, r.val, r.th
    if not (val.size >= th["min_evaluations"] and val.size == train.size):
        return False
    k = int(np.argmin(val))
    gap = float(val[-1] - val[k])
    v_rise = float(val[-1] / val[k] - 1.0) if val[k] > 0 else (math.inf if gap > 0 else 0.0)
    r.numbers.update(val_min=float(val[k]), val_min_epoch=float(k), val_rise=v_rise)
    last = float(train[-1])
    if not (k < val.size - 1 and v_rise >= th["overfit_rise"] and gap > th["abs_floor"]
            and last < train[k]):
        return False
    t_fall = float(1.0 - last / train[k]) if train[k] > 0 else 0.0
    r.evidence.append(f"val loss rose {_pct(v_rise)} above its minimum {_g(val[k])} at "
                      f"epoch {k} (to {_g(val[-1])}) while train loss fell "
                      f"{_pct(t_fall)} ({_g(train[k])} -> {_g(last)})")
    acc_tr, acc_va = getattr(r.history, "train_acc", []), getattr(r.history, "val_acc", [])
    if acc_tr and acc_va:
        r.evidence.append(f"accuracy: train {acc_tr[-1]:.3f}, validation {acc_va[-1]:.3f}")
    if getattr(r.history, "stop_reason", "") == "early_stopping":
        r.evidence.append(f"early stopping ended the run: {r.history.message}")
    return True


def _speed(r: _Reading) -> str:
    """Too slow (``lr_too_small``), stuck (``plateau``) or fine (``healthy``)."""
    train, L0, th = r.train, r.L0, r.th
    last, mid, n_ep = float(train[-1]), len(train) // 2, len(train) - 1
    if abs(L0) <= th["abs_floor"] and abs(last) <= th["abs_floor"]:
        r.evidence.append(f"train loss went from {_g(L0)} to {_g(last)} in {n_ep} epochs: "
                          f"(essentially) zero throughout, below {_g(th['abs_floor'])}: "
                          "converged")
        return "healthy"
    total = float((L0 - last) / abs(L0)) if L0 else 0.0
    early = float((L0 - train[mid]) / abs(L0)) if L0 else 0.0
    late = float((train[mid] - last) / abs(train[mid])) if train[mid] else 0.0
    g_late = float(np.median(r.grads[r.grads.size // 2:])) if r.grads.size else math.nan
    r.numbers.update(total_drop=total, first_half_drop=early, last_half_drop=late,
                     grad_norm_late=g_late)
    small = math.isfinite(g_late) and g_late < th["small_grad"] * max(1.0, abs(L0))
    if total < th["slow_total"]:
        r.evidence.append(f"train loss changed by {_pct(-total)} in {n_ep} epochs "
                          f"({_g(L0)} -> {_g(last)})")
        if small:
            r.evidence.append(f"the gradient is tiny: median |g| = {_g(g_late)} over the last "
                              f"half of the steps (below "
                              f"{_g(th['small_grad'] * max(1.0, abs(L0)))}): the parameters "
                              "sit where the loss is flat")
            return "plateau"
        r.evidence.append(f"yet the gradient is not small (median |g| = {_g(g_late)} over the "
                          f"last half of the steps): the steps, {r.lr_now} x |g|, are too short")
        return "lr_too_small"
    if late < th["flat_rel"] and total < th["healthy_drop"]:
        r.evidence.append(f"loss changed by {_pct(-late)} over the last 50% of the epochs, "
                          f"after falling {_pct(early)} in the first half; it stalled at "
                          f"{_g(last)}")
        if small:
            r.evidence.append(f"the gradient is tiny there: median |g| = {_g(g_late)}")
        return "plateau"
    if total < th["healthy_drop"] and late >= th["steady_ratio"] * early:
        r.evidence.append(f"train loss fell only {_pct(total)} in {n_ep} epochs ({_g(L0)} -> "
                          f"{_g(last)}), at a steady rate: {_pct(early)} in the first half, "
                          f"{_pct(late)} in the second")
        r.evidence.append(f"it is not slowing down, so larger steps than {r.lr_now} would help")
        return "lr_too_small"
    r.evidence.append(f"train loss fell {_pct(total)} in {n_ep} epochs ({_g(L0)} -> "
                      f"{_g(last)}); {_pct(late)} of it in the last half")
    if r.val.size == train.size and r.val.size:
        r.evidence.append(f"val loss {_g(r.val[-1])} (minimum {_g(r.val.min())})")
    return "healthy"
