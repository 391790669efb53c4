r"""Reading a loss curve: why won't my loss go down?

:func:`diagnose` looks at a :class:`edulib.train.History` and names what it sees, with the
numbers that show it and what to try next::

    hist = train(model, params, opt, split, epochs=30)
    d = diagnose(hist)            # Diagnosis(verdict="oscillating", evidence=[...], advice=[...])
    print(d)                      # or just `d` in Jupyter (rendered as Markdown)

The verdicts, checked in this order (the first that fits wins):

=================  ==========================================================================
``too_short``      fewer than ``min_evaluations`` finite evaluations: nothing to read yet
``diverging``      the run was stopped as diverged, a loss is NaN/inf, the final training loss
                   is above ``diverge_rise`` x the initial one, or it jumped above ``spike`` x
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
``healthy``        none of the above: the loss fell at least ``healthy_drop`` and is settling
=================  ==========================================================================

With ``n_classes=C`` an initial loss above ``init_ratio`` x :math:`\ln C` (the loss of a uniform
guess) adds a line of evidence whatever the verdict. All thresholds live in :data:`THRESHOLDS`
(relative changes are fractions: 0.01 = 1%). They are rules of thumb tuned on the course's
standardised data (losses of order 1 at initialisation), not laws: read the evidence, not only
the verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ADVICE", "THRESHOLDS", "VERDICTS", "Diagnosis", "diagnose"]

THRESHOLDS: dict[str, float] = {
    "min_evaluations": 3,    # need the initial evaluation and at least 2 epochs
    "diverge_rise": 1.5,     # final train loss > 1.5 x the initial loss -> diverging
    "spike": 10.0,           # any evaluated train loss > 10 x the initial loss -> diverging
    "rise_rel": 0.01,        # a move counts as a rise when it is > 1% of the loss before it...
    "rise_floor": 1e-3,      # ...and of 1e-3 x the initial loss (ignores noise near zero loss)
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
}
"""Every threshold :func:`diagnose` uses, in one place (edit a copy and pass ``thresholds=``)."""

VERDICTS: dict[str, str] = {
    "too_short": "not enough of a curve to read yet",
    "diverging": "the loss is blowing up: the steps are too large",
    "oscillating": "the loss bounces up and down instead of settling: the steps overshoot",
    "overfitting": "the training loss falls but the validation loss rises: memorising",
    "lr_too_small": "the loss falls, but far too slowly: the steps are too small",
    "plateau": "the loss is stuck on a flat stretch: the gradient is (nearly) zero",
    "healthy": "the loss falls and settles: nothing to fix",
}
"""One line per verdict: what it means."""

ADVICE: dict[str, list[str]] = {
    "too_short": ["train for more epochs (at least 2) and diagnose again"],
    "diverging": [
        "divide the learning rate by 10 (for a quadratic loss GD needs lr < 2/λ_max)",
        "standardise the inputs (a raw feature scale inflates λ_max)",
        "check the initialisation: a huge init starts far out on a steep slope",
        "clip the gradient (train(..., clip_norm=1.0)) or warm up the learning rate",
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


def _finite(values: Any) -> np.ndarray:
    return np.asarray([float(v) for v in values], dtype=np.float64)


def diagnose(history: Any, n_classes: int | None = None,
             thresholds: dict[str, float] | None = None) -> Diagnosis:
    r"""Name what the loss curves of ``history`` (an :class:`edulib.train.History`) show.

    Reads the training loss at each evaluation (``train_loss``: :math:`L_0` at
    initialisation, then one per epoch), the validation loss when there is one, the per-step
    gradient norms :math:`\lVert g\rVert` and learning rates :math:`\eta`, and
    ``history.diverged``. The verdicts and their rules are in the module docstring; every
    threshold is in :data:`THRESHOLDS` (``thresholds`` overrides some of them).

    ``n_classes``: for a classifier, also compare :math:`L_0` with :math:`\ln C`, the loss of
    a uniform guess: an initial loss above ``init_ratio`` x :math:`\ln C` adds a line of
    evidence (a bad initialisation or unscaled inputs), whatever the verdict.
    """
    if not (hasattr(history, "train_loss") and hasattr(history, "grad_norm")
            and hasattr(history, "diverged")):
        raise TypeError("history must be an edulib.train.History (what train() returns), "
                        f"received {type(history).__name__}")
    th = dict(THRESHOLDS)
    if thresholds is not None:
        unknown = sorted(set(thresholds) - set(th))
        if unknown:
            raise ValueError(f"thresholds must use the keys of THRESHOLDS {sorted(th)}, "
                             f"received unknown {unknown}")
        th.update(thresholds)
    if n_classes is not None and (isinstance(n_classes, bool) or not isinstance(
            n_classes, (int, np.integer)) or n_classes < 2):
        raise ValueError(f"n_classes must be None or an int >= 2, received {n_classes!r}")

    train = _finite(history.train_loss)
    val = _finite(getattr(history, "val_loss", []))
    grads = _finite(history.grad_norm)
    lrs = _finite(getattr(history, "lr", []))
    lr_now = f"lr={lrs[-1]:g}" if lrs.size else "the learning rate"
    evidence: list[str] = []
    numbers: dict[str, float] = {"evaluations": float(train.size), "steps": float(history.steps)}

    def done(verdict: str) -> Diagnosis:
        return Diagnosis(verdict, evidence, list(ADVICE[verdict]), numbers)

    finite_train = train[np.isfinite(train)]
    L0 = float(train[0]) if train.size and math.isfinite(train[0]) else math.nan
    if n_classes is not None and math.isfinite(L0):
        ln_c = math.log(int(n_classes))
        numbers["ln_C"] = ln_c
        if L0 > th["init_ratio"] * ln_c:
            evidence.append(f"the initial loss {_g(L0)} is {_g(L0 / ln_c)} x ln({n_classes}) = "
                            f"{_g(ln_c)}, the loss of a uniform guess: the initial weights are "
                            "too large")

    # -- diverging: stopped as diverged, NaN/inf, a final rise or a spike ------------------
    bad = int(np.sum(~np.isfinite(train)) + np.sum(~np.isfinite(val)))
    if history.diverged or bad:
        if history.message:
            evidence.append(f"train() stopped: {history.message}")
        if bad:
            evidence.append(f"{bad} evaluated loss(es) are NaN or inf")
        if finite_train.size >= 2:
            i = int(np.argmax(finite_train))
            evidence.append(f"train loss rose from {_g(finite_train[0])} to "
                            f"{_g(finite_train[i])} in {i} epoch(s)")
        numbers["max_train_loss"] = float(finite_train.max()) if finite_train.size else math.nan
        return done("diverging")
    if train.size < th["min_evaluations"]:
        evidence.append(f"only {train.size} evaluation(s) of the training loss were recorded "
                        f"({max(train.size - 1, 0)} epoch(s)); diagnose needs at least "
                        f"{int(th['min_evaluations'])}: train for more epochs")
        return done("too_short")
    last = float(train[-1])
    i_max = int(np.argmax(train))
    numbers.update(initial_loss=L0, final_loss=last, max_train_loss=float(train[i_max]))
    if last > th["diverge_rise"] * L0 or train[i_max] > th["spike"] * max(L0, 0.0):
        evidence.append(f"train loss rose from {_g(L0)} to {_g(train[i_max])} in {i_max} "
                        f"epoch(s) ({_g(train[i_max] / L0)} x) and ends at {_g(last)}")
        evidence.append(f"the steps are too large for the curvature at {lr_now}")
        return done("diverging")

    # -- oscillating: the training loss keeps going up between evaluations ---------------
    prev, moves = train[:-1], np.diff(train)
    floor = th["rise_floor"] * abs(L0)
    rises = moves > th["rise_rel"] * np.maximum(prev, floor)
    n_rises = int(rises.sum())
    rel = moves / np.maximum(prev, floor)
    biggest = float(rel.max())
    numbers.update(rises=float(n_rises), moves=float(moves.size), largest_rise=biggest)
    if (n_rises >= th["osc_min_rises"] and n_rises >= th["osc_fraction"] * moves.size
            and biggest >= th["osc_jump"]):
        j = int(np.argmax(rel))
        evidence.append(f"train loss went up in {n_rises} of {moves.size} epochs; the largest "
                        f"jump, after epoch {j + 1}, was +{_pct(biggest)} "
                        f"({_g(train[j])} -> {_g(train[j + 1])})")
        tail = train[len(train) // 2:]
        evidence.append(f"over the last half it ranged from {_g(tail.min())} to "
                        f"{_g(tail.max())} instead of settling ({lr_now})")
        return done("oscillating")

    # -- overfitting: validation loss rises from its minimum while training loss falls -------
    if val.size >= th["min_evaluations"] and val.size == train.size:
        k = int(np.argmin(val))
        v_rise = float(val[-1] / val[k] - 1.0)
        numbers.update(val_min=float(val[k]), val_min_epoch=float(k), val_rise=v_rise)
        if k < val.size - 1 and v_rise >= th["overfit_rise"] and last < train[k]:
            t_fall = float(1.0 - last / train[k]) if train[k] > 0 else 0.0
            evidence.append(f"val loss rose {_pct(v_rise)} above its minimum {_g(val[k])} at "
                            f"epoch {k} (to {_g(val[-1])}) while train loss fell "
                            f"{_pct(t_fall)} ({_g(train[k])} -> {_g(last)})")
            acc_tr, acc_va = getattr(history, "train_acc", []), getattr(history, "val_acc", [])
            if acc_tr and acc_va:
                evidence.append(f"accuracy: train {acc_tr[-1]:.3f}, validation {acc_va[-1]:.3f}")
            if getattr(history, "stop_reason", "") == "early_stopping":
                evidence.append(f"early stopping ended the run: {history.message}")
            return done("overfitting")

    # -- too slow, stuck, or fine ----------------------------------------------------------
    mid = len(train) // 2
    total = float((L0 - last) / abs(L0)) if L0 else 0.0
    early = float((L0 - train[mid]) / abs(L0)) if L0 else 0.0
    late = float((train[mid] - last) / abs(train[mid])) if train[mid] else 0.0
    g_late = float(np.median(grads[grads.size // 2:])) if grads.size else math.nan
    numbers.update(total_drop=total, first_half_drop=early, last_half_drop=late,
                   grad_norm_late=g_late)
    n_ep = len(train) - 1
    small = math.isfinite(g_late) and g_late < th["small_grad"] * max(1.0, abs(L0))
    if total < th["slow_total"]:
        evidence.append(f"train loss changed by {_pct(-total)} in {n_ep} epochs "
                        f"({_g(L0)} -> {_g(last)})")
        if small:
            evidence.append(f"the gradient is tiny: median |g| = {_g(g_late)} over the last "
                            f"half of the steps (below {_g(th['small_grad'] * max(1.0, abs(L0)))}"
                            "): the parameters sit where the loss is flat")
            return done("plateau")
        evidence.append(f"yet the gradient is not small (median |g| = {_g(g_late)} over the "
                        f"last half of the steps): the steps, {lr_now} x |g|, are too short")
        return done("lr_too_small")
    if late < th["flat_rel"] and total < th["healthy_drop"]:
        evidence.append(f"loss changed by {_pct(-late)} over the last 50% of the epochs, after "
                        f"falling {_pct(early)} in the first half; it stalled at {_g(last)}")
        if small:
            evidence.append(f"the gradient is tiny there: median |g| = {_g(g_late)}")
        return done("plateau")
    if total < th["healthy_drop"] and late >= th["steady_ratio"] * early:
        evidence.append(f"train loss fell only {_pct(total)} in {n_ep} epochs ({_g(L0)} -> "
                        f"{_g(last)}), at a steady rate: {_pct(early)} in the first half, "
                        f"{_pct(late)} in the second")
        evidence.append(f"it is not slowing down, so larger steps than {lr_now} would help")
        return done("lr_too_small")
    evidence.append(f"train loss fell {_pct(total)} in {n_ep} epochs ({_g(L0)} -> {_g(last)}); "
                    f"{_pct(late)} of it in the last half")
    if val.size == train.size and val.size:
        evidence.append(f"val loss {_g(val[-1])} (minimum {_g(val.min())})")
    return done("healthy")
