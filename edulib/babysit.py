r"""Babysitting a training run: the checks of CS231n's notes, measured while it trains.

A loss curve says *that* something is wrong; these numbers say *where*. :class:`Monitor`
records, every ``every`` optimizer steps of :func:`edulib.train.train` (``monitor=``):

- the **update/weight ratio** of each weight matrix, :math:`\lVert\Delta\theta\rVert /
  \lVert\theta\rVert` (Frobenius norms; :math:`\theta` before the step, :math:`\Delta\theta`
  the step's change). With plain SGD :math:`\Delta\theta = -\eta g`. CS231n's rule of thumb:
  around :math:`10^{-3}` is healthy; much lower and :math:`\eta` is too small, much higher and
  it is too large;
- **activation histograms** of each hidden layer :math:`A_\ell = \phi(Z_\ell)` of an
  :class:`edulib.models.MLP` on the step's batch (read from the model's forward cache): a
  layer whose values all sit at 0 (ReLU) or at :math:`\pm1` (saturated tanh) has stopped
  passing signal;
- **gradient histograms** of each weight matrix (the gradient of the step, before clipping);
- the **dead fraction** of each hidden layer: the share of its units that are 0 on *every*
  example of the batch (a dead ReLU gets no gradient, so it stays dead).

::

    mon = Monitor(every=10)
    hist = train(model, params, SGD(params, lr=0.1), split, epochs=5, monitor=mon)
    mon.steps                  # [0, 10, 20, ...]: indices into hist.loss
    mon.update_ratio["W1"]     # one ratio per recorded step
    mon.dead["A1"]             # one fraction per recorded step
    mon.histograms("activations")   # {"A1": Histogram, ...} at the last recorded step

The pure functions beside it (:func:`update_ratios`, :func:`hidden_activations`,
:func:`dead_fraction`, :func:`histogram`) compute one reading each. Plots live in
:mod:`edulib.plots` (:func:`~edulib.plots.plot_update_ratios`,
:func:`~edulib.plots.plot_layer_histograms`, :func:`~edulib.plots.plot_dead_fraction`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _checks as chk
from .backend import array_namespace, to_numpy
from .models import MLP

__all__ = ["HEALTHY_RATIO", "Histogram", "Monitor", "dead_fraction", "hidden_activations",
           "histogram", "update_ratios", "weight_names"]

#: CS231n's rule of thumb for the update/weight ratio of a healthy run
HEALTHY_RATIO = 1e-3


class Histogram(NamedTuple):
    """``counts`` (int64, one per bin) of values in the bins between ``edges`` (float64, one
    more than ``counts``), and the values' ``mean`` and ``std``; ``counts.sum()`` is the number
    of values."""

    counts: np.ndarray
    edges: np.ndarray
    mean: float
    std: float


def _host(a: Any, name: str) -> np.ndarray:
    """``a`` as a float64 NumPy array (any edulib backend), refused when not numeric."""
    if not hasattr(a, "shape"):
        raise TypeError(f"{name} must be an array, received {type(a).__name__}")
    out = np.asarray(to_numpy(a))
    if not (np.issubdtype(out.dtype, np.floating) or np.issubdtype(out.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, received dtype {out.dtype}")
    return out.astype(np.float64, copy=False)


def histogram(values: Any, bins: int = 30) -> Histogram:
    """The histogram of every entry of ``values`` (an array of any shape and backend) in
    ``bins`` equal bins from its minimum to its maximum (``numpy.histogram``'s bins; all values
    equal: one unit-wide range around them). Non-finite values are refused."""
    bins = chk.check_int(bins, "bins", low=1)
    v = _host(values, "values").ravel()
    chk.check_nonempty(v, "values")
    chk.check_finite(np, v, "values")
    counts, edges = np.histogram(v, bins=bins)
    return Histogram(counts.astype(np.int64), edges.astype(np.float64), float(v.mean()),
                     float(v.std()))


def weight_names(params: Mapping[str, Any]) -> list[str]:
    """The names of the weight matrices of an edulib parameter dict (``W1, W2, ...`` or
    ``W``/``w``): the arrays the update/weight ratio and gradient histograms look at."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of named arrays, received {type(params).__name__}")
    return [k for k in params if k.startswith("W") or k == "w"]


def _names(params: Mapping[str, Any], names: Sequence[str] | None) -> list[str]:
    if names is None:
        picked = weight_names(params)
        if not picked:
            raise ValueError(f"params has no weight matrix (a key 'W...' or 'w') to read: keys "
                             f"{sorted(params)}; pass names=[...]")
        return picked
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise TypeError(f"names must be None or a non-empty list of keys of params, received "
                        f"{names!r}")
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ValueError(f"names must be keys of params {sorted(params)}, received unknown {unknown}")
    return list(names)


def update_ratios(before: Mapping[str, Any], after: Mapping[str, Any],
                  names: Sequence[str] | None = None) -> dict[str, float]:
    r"""The update/weight ratio :math:`\lVert\theta_{after} - \theta_{before}\rVert /
    \lVert\theta_{before}\rVert` (Frobenius norms, in float64) of each array in ``names``
    (default: the weight matrices, :func:`weight_names`). An array that was all zeros gives
    ``inf`` if it moved and 0.0 if it did not."""
    for label, d in (("before", before), ("after", after)):
        if not isinstance(d, Mapping):
            raise TypeError(f"{label} must be a dict of named arrays, received {type(d).__name__}")
    if set(before) != set(after):
        raise ValueError(f"before and after must have the same keys, received {sorted(before)} "
                         f"and {sorted(after)}")
    out = {}
    for k in _names(before, names):
        b, a = _host(before[k], f"before[{k!r}]"), _host(after[k], f"after[{k!r}]")
        chk.check_same_shape(b, a, f"before[{k!r}]", f"after[{k!r}]")
        chk.check_finite(np, b, f"before[{k!r}]")
        with np.errstate(over="ignore", invalid="ignore"):
            step, size = float(np.linalg.norm(a - b)), float(np.linalg.norm(b))
        if size > 0:
            out[k] = step / size
        else:
            out[k] = math.inf if step > 0 else 0.0
    return out


def hidden_activations(model: Any, params: Mapping[str, Any], X: Any) -> dict[str, Any]:
    r"""The hidden activations :math:`A_\ell = \phi(Z_\ell)`, :math:`\ell = 1..H`, of an
    :class:`edulib.models.MLP` on inputs ``X``, as ``{"A1": (N, h_1) array, ...}`` in the
    parameters' backend, taken from the forward pass's cache (no second implementation of the
    forward pass). A model with batch normalisation is run as in a training step (batch
    statistics; its running statistics are not updated)."""
    if not isinstance(model, MLP):
        raise TypeError("model must be an edulib.models.MLP (a model with hidden layers), "
                        f"received {type(model).__name__}")
    model._check_keys(params)
    try:
        xp = array_namespace(*params.values(), X)
    except TypeError:
        raise TypeError(f"X and params must come from the same array library, received X of "
                        f"type {type(X).__name__}") from None
    X = chk.as_float_array(xp, X, "X", dtype=params["W1"].dtype)
    if X.ndim != 2 or X.shape[1] != model.n_features:
        raise ValueError(f"X must have shape (N, {model.n_features}), received {tuple(X.shape)}")
    chk.check_nonempty(X, "X")
    with np.errstate(over="ignore", invalid="ignore"):
        if getattr(model, "batch_norm", False):
            _, cache = model._forward(xp, params, X, training=True)
        else:
            _, cache = model._forward(xp, params, X)
    acts = list((cache["A"] if isinstance(cache, Mapping) else cache)[1:])
    n = int(X.shape[0])
    shapes = [tuple(a.shape) for a in acts]
    if shapes != [(n, h) for h in model.hidden]:
        raise RuntimeError(f"the MLP's forward cache must hold X and then A_1..A_H of shapes "
                           f"{[(n, h) for h in model.hidden]}, found {shapes}")
    return {f"A{i}": a for i, a in enumerate(acts, start=1)}


def dead_fraction(A: Any) -> float:
    """The fraction of units (columns of ``A``, shape (N, units)) that are exactly 0 on every
    example (row): for ReLU, the units that receive no gradient from this batch."""
    a = _host(A, "A")
    chk.check_ndim(a, 2, "A", "(examples, units)")
    chk.check_nonempty(a, "A")
    return float(np.mean(np.all(a == 0.0, axis=0)))


class Monitor:
    r"""Records the babysitting numbers of a :func:`edulib.train.train` run (``monitor=``).

    ``every``: record the steps :math:`0, k, 2k, \dots` (``every=k`` >= 1); ``bins``: bins of
    every histogram; ``names``: the arrays whose update ratio and gradient histogram are
    recorded (default: the weight matrices). Activations and dead fractions are recorded for
    the hidden layers of an :class:`edulib.models.MLP` (other models: none).

    After training: ``steps`` (the recorded step indices, into ``history.loss``),
    ``update_ratio`` and ``grad_hist`` (name -> one value / :class:`Histogram` per recorded
    step), ``act_hist`` and ``dead`` (hidden layer ``"A1"``... -> one per recorded step).
    ``train`` calls :meth:`start` (which clears earlier records), then :meth:`wants` before each
    step and :meth:`record` after the steps wanted.
    """

    def __init__(self, every: int = 10, bins: int = 30, names: Sequence[str] | None = None) -> None:
        self.every = chk.check_int(every, "every", low=1)
        self.bins = chk.check_int(bins, "bins", low=1)
        if names is not None and (isinstance(names, str) or not isinstance(names, Sequence)
                                  or not names):
            raise TypeError(f"names must be None or a non-empty list of parameter names, "
                            f"received {names!r}")
        self.names = None if names is None else list(names)
        self.model: Any = None
        self._clear([], [])

    def _clear(self, names: list[str], layers: list[str]) -> None:
        self.steps: list[int] = []
        self.update_ratio: dict[str, list[float]] = {k: [] for k in names}
        self.grad_hist: dict[str, list[Histogram]] = {k: [] for k in names}
        self.act_hist: dict[str, list[Histogram]] = {k: [] for k in layers}
        self.dead: dict[str, list[float]] = {k: [] for k in layers}

    def start(self, model: Any, params: Mapping[str, Any]) -> None:
        """Begin a run: remember the model, pick the arrays and layers, clear old records."""
        names = _names(params, self.names)
        layers = [f"A{i}" for i in range(1, len(model.hidden) + 1)] if isinstance(model, MLP) else []
        self.model = model
        self._clear(names, layers)

    def wants(self, step: int) -> bool:
        """Is step ``step`` (0 = the first) one to record?"""
        return step % self.every == 0

    def record(self, step: int, X: Any, before: Mapping[str, Any], after: Mapping[str, Any],
               grads: Mapping[str, Any]) -> None:
        """Record step ``step``: ``X`` the batch inputs, ``before``/``after`` the parameters
        around the step, ``grads`` the gradient it used (before clipping)."""
        if self.model is None:
            raise RuntimeError("Monitor.record needs Monitor.start(model, params) first "
                               "(train(..., monitor=mon) calls it)")
        names = list(self.update_ratio)
        for k, r in update_ratios(before, after, names).items():
            self.update_ratio[k].append(r)
        for k in names:
            self.grad_hist[k].append(histogram(grads[k], self.bins))
        if self.act_hist:
            for k, A in hidden_activations(self.model, before, X).items():
                self.act_hist[k].append(histogram(A, self.bins))
                self.dead[k].append(dead_fraction(A))
        self.steps.append(int(step))

    def histograms(self, kind: str = "activations", at: int = -1) -> dict[str, Histogram]:
        """The histograms of recorded step number ``at`` (an index into ``steps``; -1 = the
        last): ``kind="activations"`` (hidden layers) or ``"gradients"`` (weight matrices)."""
        if kind not in ("activations", "gradients"):
            raise ValueError(f"kind must be 'activations' or 'gradients', received {kind!r}")
        if not self.steps:
            raise ValueError("the monitor has recorded nothing yet: pass it to train(..., monitor=)")
        at = chk.check_int(at, "at", low=-len(self.steps), high=len(self.steps) - 1)
        table = self.act_hist if kind == "activations" else self.grad_hist
        return {k: v[at] for k, v in table.items()}

    def summary(self) -> dict[str, dict[str, float]]:
        """Per array / layer: the median update ratio over the recorded steps, and the dead
        fraction at the first and last recorded step (``{"update_ratio": {...}, "dead_first":
        {...}, "dead_last": {...}}``)."""
        if not self.steps:
            raise ValueError("the monitor has recorded nothing yet: pass it to train(..., monitor=)")
        return {"update_ratio": {k: float(np.median(v)) for k, v in self.update_ratio.items()},
                "dead_first": {k: v[0] for k, v in self.dead.items()},
                "dead_last": {k: v[-1] for k, v in self.dead.items()}}

    def __repr__(self) -> str:
        return (f"Monitor(every={self.every}, bins={self.bins}, recorded={len(self.steps)} steps, "
                f"arrays={list(self.update_ratio)}, layers={list(self.act_hist)})")
