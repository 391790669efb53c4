r"""Hyperparameter search: grid, random, quasi-random (Sobol), Bayesian optimisation, and the
learning-rate range test.

A search space is plain data, a list of dimensions::

    space = [Real("lr", 1e-4, 1.0, log=True), Real("weight_decay", 1e-6, 1e-1, log=True),
             Integer("hidden", 8, 128, log=True), Choice("activation", ("relu", "tanh"))]
    configs = random(space, n=20, seed=0)          # [{"lr": ..., ...}, ...] (also grid, sobol)
    trials = run_trials(objective, configs, seed=0)             # objective(params, seed) -> loss
    trials = run_trials(objective, configs, seed=0, executor=ProcessPoolExecutor(2))
    trials.best(), trials.best_so_far(), trials.table()         # table: a list of dicts
    trials = bayes_opt(objective, space, n_trials=30, seed=0)   # a GP + expected improvement

Every search *minimises* ``objective(params, seed)`` (a validation loss; negate a score to
maximise it). It returns a number, or a dict holding ``"value"`` and anything else worth keeping
(``Trial.info``). An exception or a NaN/inf value makes a failed trial, recorded with its error.

Each trial gets its own seed, drawn from the search's ``seed`` by ``numpy.random.SeedSequence``
(independent streams, the same for every executor), and the record keeps it with the
hyperparameters: ``objective(trial.params, trial.seed)`` reruns that trial exactly.

Trials run through any ``concurrent.futures``-style executor (an object with ``submit``):
``None`` runs them one after the other in this process, a ``ProcessPoolExecutor`` on the cores
of one machine, and a Dask ``distributed.Client`` on a cluster. Process pools and Dask pickle
the objective: define it in a module (a notebook's own functions reach a process pool only when
it forks, as on Linux). Results do not depend on the executor.

Prefixes are stable: ``random(space, n, seed)[:k] == random(space, k, seed)``, and the same holds
for ``sobol`` and ``bayes_opt`` (the first ``k`` trials of a longer run are the run with budget
``k``), so one run at the largest budget serves every smaller one.
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers
import pickle
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks as chk

__all__ = [
    "METHODS",
    "Choice",
    "GridSurface",
    "Integer",
    "LRRangeTest",
    "Real",
    "Trial",
    "Trials",
    "bayes_opt",
    "expected_improvement",
    "fit_surrogate",
    "from_unit",
    "grid",
    "lr_range_test",
    "propose",
    "random",
    "refine",
    "run_trials",
    "search",
    "sobol",
    "to_unit",
    "trial_seeds",
]


# ------------------------------------------------------------------------------ the space
def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, received {type(name).__name__} {name!r}")
    return name


@dataclass(frozen=True)
class Real:
    r"""A real hyperparameter in ``[low, high]``; ``log=True`` samples it uniformly in
    :math:`\log x` (a learning rate, a weight decay: each decade gets the same share)."""

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        low = chk.check_number(self.low, f"{self.name}: low")
        high = chk.check_number(self.high, f"{self.name}: high")
        log = chk.check_bool(self.log, f"{self.name}: log")
        if not low < high:
            raise ValueError(f"{self.name}: low must be < high, received low={low!r}, high={high!r}")
        if log and low <= 0:
            raise ValueError(f"{self.name}: log=True needs low > 0, received low={low!r}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "log", log)

    def _t(self, x: Any) -> Any:              # the scale the samples are uniform in
        return np.log(x) if self.log else np.asarray(x, dtype=float)

    def from_unit(self, u: np.ndarray) -> list[float]:
        """Values for unit coordinates ``u`` in [0, 1] (0 gives ``low``, 1 gives ``high``)."""
        a, b = self._t(self.low), self._t(self.high)
        x = a * (1 - u) + b * u
        x = np.clip(np.exp(x) if self.log else x, self.low, self.high)
        x = np.where(u == 0, self.low, np.where(u == 1, self.high, x))
        return [float(v) for v in x]

    def to_unit(self, values: Sequence[Any]) -> np.ndarray:
        x = np.array([self.check(v) for v in values], dtype=float)
        a, b = self._t(self.low), self._t(self.high)
        return (self._t(x) - a) / (b - a)

    def grid_values(self, n: int) -> list[float]:
        """``n`` points evenly spaced in the dimension's scale, both ends included (n=1: middle)."""
        return self.from_unit(np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5]))

    def check(self, value: Any) -> float:
        return chk.check_number(value, self.name, low=self.low, high=self.high)


@dataclass(frozen=True)
class Integer:
    r"""An integer hyperparameter in ``low..high`` (both included); ``log=True`` gives each
    integer the share of :math:`[k, k+1)` in :math:`\log` scale (a width, a number of layers)."""

    name: str
    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name)
        low = chk.check_int(self.low, f"{self.name}: low")
        high = chk.check_int(self.high, f"{self.name}: high")
        log = chk.check_bool(self.log, f"{self.name}: log")
        if not low < high:
            raise ValueError(f"{self.name}: low must be < high, received low={low}, high={high}")
        if log and low < 1:
            raise ValueError(f"{self.name}: log=True needs low >= 1, received low={low}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "log", log)

    def _t(self, x: Any) -> Any:
        return np.log(x) if self.log else np.asarray(x, dtype=float)

    def from_unit(self, u: np.ndarray) -> list[int]:
        """The integer ``k`` whose cell :math:`[k, k+1)` holds ``u``, in the dimension's scale."""
        a, b = self._t(self.low), self._t(self.high + 1)
        x = a * (1 - u) + b * u
        k = np.floor(np.exp(x) if self.log else x)
        return [int(v) for v in np.clip(k, self.low, self.high)]

    def to_unit(self, values: Sequence[Any]) -> np.ndarray:
        """The centre of each integer's cell, in unit coordinates."""
        k = np.array([self.check(v) for v in values], dtype=float)
        a, b = self._t(self.low), self._t(self.high + 1)
        return ((self._t(k) + self._t(k + 1)) / 2 - a) / (b - a)

    def grid_values(self, n: int) -> list[int]:
        """Up to ``n`` distinct integers evenly spaced in the dimension's scale, ends included."""
        if n == 1:
            return self.from_unit(np.array([0.5]))
        space = np.geomspace if self.log else np.linspace
        return [int(v) for v in np.unique(np.round(space(self.low, self.high, n)))]

    def check(self, value: Any) -> int:
        return chk.check_int(value, self.name, low=self.low, high=self.high)


@dataclass(frozen=True)
class Choice:
    """A categorical hyperparameter: one of ``options`` (distinct), each equally likely.

    In the unit cube (for the Gaussian process of :func:`bayes_opt`) option ``i`` of ``k`` sits
    at :math:`(i + 1/2)/k`: an order the options do not really have, a simplification."""

    name: str
    options: tuple

    def __post_init__(self) -> None:
        _check_name(self.name)
        if isinstance(self.options, (str, bytes, Mapping)) or not isinstance(self.options,
                                                                            Sequence):
            raise TypeError(f"{self.name}: options must be a list or tuple of values, received "
                            f"{type(self.options).__name__}")
        options = tuple(self.options)
        if not options:
            raise ValueError(f"{self.name}: options must hold at least one value, received ()")
        object.__setattr__(self, "options", options)
        if any(self.index(o) != i for i, o in enumerate(options)):
            raise ValueError(f"{self.name}: options must be distinct, received {options!r}")

    def from_unit(self, u: np.ndarray) -> list[Any]:
        k = len(self.options)
        return [self.options[i] for i in np.minimum(np.floor(u * k).astype(int), k - 1)]

    def to_unit(self, values: Sequence[Any]) -> np.ndarray:
        return np.array([(self.index(v) + 0.5) / len(self.options) for v in values])

    def grid_values(self, n: int) -> list[Any]:
        """Every option (a grid over a categorical takes them all, whatever ``n``)."""
        return list(self.options)

    def index(self, value: Any) -> int:
        """The position of ``value`` among the options (``True`` is not the option ``1``)."""
        for i, option in enumerate(self.options):
            try:
                same = bool(option == value)
            except (TypeError, ValueError):
                same = False
            if same and isinstance(option, bool) == isinstance(value, (bool, np.bool_)):
                return i
        raise ValueError(f"{self.name} must be one of {self.options!r}, received {value!r}")

    def check(self, value: Any) -> Any:
        return self.options[self.index(value)]


Dimension = Real | Integer | Choice


def _check_space(space: Any) -> tuple[Dimension, ...]:
    """``space`` as a tuple of dimensions with distinct names (a single dimension is accepted)."""
    if isinstance(space, (Real, Integer, Choice)):
        return (space,)
    if isinstance(space, (str, bytes, Mapping)) or not isinstance(space, Sequence):
        raise TypeError("space must be a list of Real/Integer/Choice dimensions, received "
                        f"{type(space).__name__}")
    dims = tuple(space)
    if not dims:
        raise ValueError("space must hold at least one dimension, received an empty list")
    for i, d in enumerate(dims):
        if not isinstance(d, (Real, Integer, Choice)):
            raise TypeError(f"space[{i}] must be a Real, Integer or Choice, received "
                            f"{type(d).__name__} {d!r}")
    names = [d.name for d in dims]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"space must name each dimension once, received {repeated} twice or more")
    return dims


def _check_seed(seed: Any, name: str = "seed") -> int:
    return chk.check_int(seed, name, low=0)


def from_unit(space: Any, U: Any) -> list[dict[str, Any]]:
    """Hyperparameter dicts for the rows of ``U`` (shape (n, d), entries in [0, 1])."""
    dims = _check_space(space)
    U = np.asarray(U, dtype=float)
    if U.ndim != 2 or U.shape[1] != len(dims):
        raise ValueError(f"U must have shape (n, {len(dims)}) (one column per dimension), "
                         f"received {U.shape}")
    if not np.all((U >= 0) & (U <= 1)):
        raise ValueError("U must hold unit coordinates in [0, 1], received values outside")
    columns = [d.from_unit(U[:, j]) for j, d in enumerate(dims)]
    return [{d.name: col[i] for d, col in zip(dims, columns, strict=True)}
            for i in range(U.shape[0])]


def to_unit(space: Any, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The unit coordinates (n, d) of hyperparameter dicts: :func:`from_unit`'s inverse for
    reals, the cell centre for integers and options."""
    dims = _check_space(space)
    configs = _check_configs(configs)
    for i, c in enumerate(configs):
        missing = [d.name for d in dims if d.name not in c]
        if missing:
            raise ValueError(f"configs[{i}] must hold every dimension of the space, missing "
                             f"{missing}")
    U = [d.to_unit([c[d.name] for c in configs]) for d in dims]
    return np.stack(U, axis=1) if configs else np.empty((0, len(dims)))


# ------------------------------------------------------------------------------ designs
def _grid_axes(dims: tuple[Dimension, ...], n_per_dim: Any) -> list[list[Any]]:
    """The values each dimension takes in :func:`grid`."""
    if isinstance(n_per_dim, Mapping):
        names = {d.name for d in dims if not isinstance(d, Choice)}
        if set(n_per_dim) != names:
            raise ValueError(f"n_per_dim must give a count for exactly {sorted(names)}, received "
                             f"{sorted(n_per_dim)}")
        counts = {k: chk.check_int(v, f"n_per_dim[{k!r}]", low=1) for k, v in n_per_dim.items()}
    else:
        n = chk.check_int(n_per_dim, "n_per_dim", low=1)
        counts = {d.name: n for d in dims}
    return [d.grid_values(counts.get(d.name, 1)) for d in dims]


def grid(space: Any, n_per_dim: int | Mapping[str, int]) -> list[dict[str, Any]]:
    """Every combination of ``n_per_dim`` values per dimension (a dict: one count per name).

    Reals take ``n`` points evenly spaced in their scale, ends included (``n=1``: the middle);
    integers as many distinct ones; a :class:`Choice` takes all its options. The last dimension
    varies fastest.
    """
    dims = _check_space(space)
    names = [d.name for d in dims]
    return [dict(zip(names, point, strict=True))
            for point in itertools.product(*_grid_axes(dims, n_per_dim))]


def random(space: Any, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` independent uniform draws (uniform in log scale for ``log=True`` dimensions)."""
    dims = _check_space(space)
    n = chk.check_int(n, "n", low=1)
    U = np.random.default_rng(_check_seed(seed)).random((n, len(dims)))
    return from_unit(dims, U)


def sobol(space: Any, n: int, seed: int = 0) -> list[dict[str, Any]]:
    r"""The first ``n`` points of a scrambled Sobol sequence (``scipy.stats.qmc.Sobol``).

    A quasi-random sequence fills the cube more evenly than independent draws (lower
    discrepancy). Its balance properties hold for :math:`n = 2^m` points; for another ``n`` we
    draw the next power of two with ``random_base2`` and keep the first ``n`` (the sequence is
    extensible, so these are the same first ``n`` points and SciPy has nothing to warn about).
    """
    from scipy.stats import qmc

    dims = _check_space(space)
    n = chk.check_int(n, "n", low=1)
    m = math.ceil(math.log2(n))
    U = qmc.Sobol(len(dims), scramble=True, rng=_check_seed(seed)).random_base2(m)[:n]
    return from_unit(dims, U)


# ------------------------------------------------------------------------------ trials
@dataclass(frozen=True)
class Trial:
    """One evaluation: ``params`` and ``seed`` given to the objective, the ``value`` it returned
    (NaN when it raised), ``status`` (``"ok"`` or ``"failed"``), ``error`` (why it failed, else
    ``None``), ``duration`` (seconds) and ``info`` (the other entries of a dict it returned)."""

    index: int
    params: dict[str, Any]
    seed: int
    value: float
    status: str
    error: str | None = None
    duration: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


COLUMNS = ("trial", "seed", "value", "status", "error", "duration")


class Trials(Sequence):
    """The trials of a search, in the order they were proposed (a read-only sequence; a slice
    is a :class:`Trials` too)."""

    def __init__(self, trials: Sequence[Trial] = ()) -> None:
        self._trials = tuple(trials)
        for t in self._trials:
            if not isinstance(t, Trial):
                raise TypeError(f"Trials holds Trial records, received {type(t).__name__}")

    def __len__(self) -> int:
        return len(self._trials)

    def __getitem__(self, i: Any) -> Any:
        return Trials(self._trials[i]) if isinstance(i, slice) else self._trials[i]

    def __iter__(self) -> Iterator[Trial]:
        return iter(self._trials)

    def __add__(self, other: Trials) -> Trials:
        return Trials(self._trials + tuple(other))

    @property
    def values(self) -> np.ndarray:
        """Every trial's value (NaN where the objective raised)."""
        return np.array([t.value for t in self._trials], dtype=float)

    def ok(self) -> Trials:
        return Trials(t for t in self._trials if t.ok)

    def failed(self) -> Trials:
        return Trials(t for t in self._trials if not t.ok)

    def best(self) -> Trial:
        """The successful trial with the smallest value (the first one on a tie)."""
        ok = self.ok()
        if not ok:
            why = f"; the first error: {self._trials[0].error}" if self._trials else ""
            raise ValueError(f"no successful trial among {len(self)}{why}")
        return min(ok, key=lambda t: t.value)

    def best_so_far(self) -> np.ndarray:
        """The best value after each trial (NaN until the first success): the curve to plot
        against the budget."""
        v = np.array([t.value if t.ok else np.inf for t in self._trials], dtype=float)
        best = np.minimum.accumulate(v) if v.size else v
        return np.where(np.isinf(best), np.nan, best)

    def table(self) -> list[dict[str, Any]]:
        """One flat dict per trial (``pandas.DataFrame(trials.table())`` makes a data frame)."""
        rows = []
        for t in self._trials:
            clash = sorted(set(t.params) & set(COLUMNS))
            if clash:
                raise ValueError(f"hyperparameter names {clash} clash with the table's columns "
                                 f"{COLUMNS}; rename them")
            rows.append({"trial": t.index, **t.params, "seed": t.seed, "value": t.value,
                         "status": t.status, "error": t.error, "duration": t.duration})
        return rows

    def __repr__(self) -> str:
        n_ok = sum(t.ok for t in self._trials)
        best = f", best={self.best().value:.4g}" if n_ok else ""
        return f"Trials(n={len(self)}, ok={n_ok}, failed={len(self) - n_ok}{best})"


def trial_seeds(seed: int, n: int, start: int = 0) -> list[int]:
    """Seeds of trials ``start .. start+n-1`` of a search seeded with ``seed``: trial ``i`` gets
    the first word of ``SeedSequence(seed, spawn_key=(i,))``, a stream independent of the
    others (and of every other search seed)."""
    seed = _check_seed(seed)
    n = chk.check_int(n, "n", low=0)
    start = chk.check_int(start, "start", low=0)
    return [int(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(1)[0])
            for i in range(start, start + n)]


def _as_value(out: Any) -> tuple[float, dict[str, Any], str | None]:
    """(value, info, error) from what an objective returned."""
    info: dict[str, Any] = {}
    if isinstance(out, Mapping):
        if "value" not in out:
            return math.nan, dict(out), f"the objective returned a dict without 'value': {out!r}"
        info = {k: v for k, v in out.items() if k != "value"}
        out = out["value"]
    if isinstance(out, (bool, np.bool_, str, bytes)) or not (
            isinstance(out, numbers.Real) or getattr(out, "shape", None) == ()):
        return math.nan, info, (f"the objective must return a number, received "
                                f"{type(out).__name__} {out!r}")
    value = float(out)
    if not math.isfinite(value):
        return value, info, f"the objective returned {value}"
    return value, info, None


def _run_trial(objective: Callable[..., Any], params: dict[str, Any], seed: int,
               index: int) -> Trial:
    """Evaluate one trial; an exception or a non-finite value becomes a failed trial."""
    start = time.perf_counter()
    try:
        value, info, error = _as_value(objective(dict(params), seed))
    except Exception as exc:  # noqa: BLE001 - one failing trial must not stop the search
        value, info, error = math.nan, {}, f"{type(exc).__name__}: {exc}"
    return Trial(index, params, seed, value, "ok" if error is None else "failed", error,
                 time.perf_counter() - start, info)


def _check_configs(configs: Any) -> list[dict[str, Any]]:
    if isinstance(configs, (str, bytes, Mapping)) or not isinstance(configs, Sequence):
        raise TypeError("configs must be a list of hyperparameter dicts, received "
                        f"{type(configs).__name__}")
    for i, c in enumerate(configs):
        if not isinstance(c, Mapping) or not all(isinstance(k, str) for k in c):
            raise TypeError(f"configs[{i}] must be a dict of named hyperparameters, received "
                            f"{type(c).__name__} {c!r}")
    return [dict(c) for c in configs]


def _check_executor(executor: Any) -> None:
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError("executor must be None or have submit(fn, *args) (a concurrent.futures "
                        "executor, a dask.distributed Client), received "
                        f"{type(executor).__name__}")


def _evaluate(objective: Callable[..., Any], configs: list[dict[str, Any]], seeds: list[int],
              executor: Any, first: int = 0) -> list[Trial]:
    """Run the trials numbered ``first, first+1, ...``: here, or one ``submit`` each."""
    jobs = [(objective, p, s, first + i) for i, (p, s) in enumerate(zip(configs, seeds,
                                                                        strict=True))]
    if executor is None:
        return [_run_trial(*job) for job in jobs]
    futures = [executor.submit(_run_trial, *job) for job in jobs]
    try:
        return [f.result() for f in futures]
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        # the objective's own errors were caught in _run_trial: this is the transport
        raise TypeError(f"a trial could not travel to the executor and back ({exc}): the "
                        "objective, the params and what it returns must be picklable, e.g. a "
                        "function defined with def at the top level of a module, not a lambda "
                        "or a nested function") from exc


def run_trials(objective: Callable[[dict[str, Any], int], Any], configs: Sequence[Mapping],
               *, seeds: Sequence[int] | None = None, seed: int = 0,
               executor: Any = None) -> Trials:
    """Evaluate ``objective(params, seed)`` on every config; returns :class:`Trials`.

    ``seeds``: one seed per config (e.g. ``[0] * n`` to train every trial from the same seed);
    by default :func:`trial_seeds` derives them from ``seed``. ``executor``: ``None`` runs here,
    in order; otherwise every trial is ``executor.submit``-ted and the results are read back in
    order, so the trials are the same whatever the executor.
    """
    chk.check_callable(objective, "objective", "a function objective(params, seed) -> number")
    configs = _check_configs(configs)
    if not configs:
        raise ValueError("configs must hold at least one config, received an empty list")
    _check_executor(executor)
    if seeds is None:
        seeds = trial_seeds(seed, len(configs))
    else:
        if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
            raise TypeError(f"seeds must be a list of ints, received {type(seeds).__name__}")
        if len(seeds) != len(configs):
            raise ValueError(f"seeds must hold one seed per config ({len(configs)}), received "
                             f"{len(seeds)}")
        seeds = [_check_seed(s, f"seeds[{i}]") for i, s in enumerate(seeds)]
    return Trials(_evaluate(objective, configs, list(seeds), executor))


# ------------------------------------------------------------------------------ Bayesian opt.
def expected_improvement(mu: Any, sigma: Any, best: float, xi: float = 0.0) -> np.ndarray:
    r"""Expected improvement below ``best`` of :math:`Y \sim \mathcal N(\mu, \sigma^2)`:

    .. math:: \mathrm{EI} = \mathbb E[\max(f^* - \xi - Y, 0)]
              = (f^* - \xi - \mu)\,\Phi(z) + \sigma\,\varphi(z),\qquad
              z = \frac{f^* - \xi - \mu}{\sigma}

    (:math:`f^*` = ``best``, :math:`\Phi`, :math:`\varphi` the standard normal cdf and pdf;
    :math:`\max(f^* - \xi - \mu, 0)` where :math:`\sigma = 0`). ``xi`` > 0 asks for a margin.
    """
    from scipy.stats import norm

    mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
    if mu.shape != sigma.shape:
        raise ValueError(f"sigma must have the shape of mu {mu.shape}, received {sigma.shape}")
    if not np.all(np.isfinite(mu)):
        raise ValueError("mu must be finite, received NaN or inf")
    if not (np.all(np.isfinite(sigma)) and np.all(sigma >= 0)):
        raise ValueError(f"sigma must be finite and >= 0, received min {np.min(sigma)!r}")
    best = chk.check_number(best, "best")
    xi = chk.check_number(xi, "xi", low=0.0)
    gain = best - xi - mu
    safe = np.where(sigma > 0, sigma, 1.0)
    z = gain / safe
    ei = gain * norm.cdf(z) + safe * norm.pdf(z)
    return np.where(sigma > 0, ei, np.maximum(gain, 0.0))


@functools.cache
def _blas_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread() -> Any:
    """A context with one BLAS thread: the GP's matrices are tiny, and threads only fight
    (with each other and with parallel trials) over the cores."""
    return _blas_controller().limit(limits=1)


def fit_surrogate(U: Any, y: Any, seed: int = 0, start: Any = None) -> Any:
    r"""A Gaussian process fitted to values ``y`` at unit coordinates ``U`` (n, d).

    Kernel: :math:`c\cdot\mathrm{Matern}_{5/2}(\ell_1..\ell_d) + \sigma_n^2\,\delta` on
    standardised ``y`` (``normalize_y``), each hyperparameter inside bounds:
    :math:`c \in [10^{-2}, 10^{3}]`, :math:`\ell_j \in [10^{-2}, 10]`,
    :math:`\sigma_n^2 \in [10^{-8}, 10^{-1}]`; they maximise the marginal likelihood, by
    L-BFGS from ``start`` (a previous fit's ``gp.kernel_``: one run from there) or from a
    default (then two more runs from random starts drawn with ``seed``). A fit that ends on a
    bound is an answer, not a failure: the noise floor for a noise-free objective, the longest
    length scale for a hyperparameter that does not matter. So scikit-learn's
    ConvergenceWarning (a bound reached, or L-BFGS stopping early) is silenced here, and only here.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    U, y = np.asarray(U, dtype=float), np.asarray(y, dtype=float)
    if U.ndim != 2 or y.shape != (U.shape[0],) or U.shape[0] < 1:
        raise ValueError(f"U must have shape (n, d) and y shape (n,), n >= 1, received U "
                         f"{U.shape} and y {y.shape}")
    if not (np.all(np.isfinite(U)) and np.all(np.isfinite(y))):
        raise ValueError("U and y must be finite")
    kernel = start if start is not None else (
        ConstantKernel(1.0, (1e-2, 1e3))
        * Matern(length_scale=np.full(U.shape[1], 0.3), length_scale_bounds=(1e-2, 1e1), nu=2.5)
        + WhiteKernel(1e-4, (1e-8, 1e-1)))
    gp = GaussianProcessRegressor(kernel, normalize_y=True,
                                  n_restarts_optimizer=0 if start is not None else 2,
                                  random_state=_check_seed(seed))
    with warnings.catch_warnings(), _one_blas_thread():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gp.fit(U, y)


def _observed(trials: Trials) -> np.ndarray:
    """The values the surrogate sees: a failed trial counts as the worst success so far."""
    v = trials.values
    ok = np.array([t.ok for t in trials])
    return np.where(ok, v, np.max(v[ok]))


def propose(gp: Any, U: Any, y: Any, rng: np.random.Generator, q: int = 1,
            n_candidates: int = 1000, xi: float = 0.0) -> np.ndarray:
    """The next ``q`` points (q, d) of the unit cube to try, given a GP fitted to values ``y``
    at unit coordinates ``U`` (:func:`fit_surrogate`): each
    maximises :func:`expected_improvement` over ``n_candidates`` uniform candidates and as many
    near the best point so far. After a pick the GP is refitted (same kernel) as if the point
    had returned the best value so far (the "constant liar"), so the next pick goes elsewhere."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), received "
                        f"{type(rng).__name__}")
    U, y = np.asarray(U, dtype=float), np.asarray(y, dtype=float)
    picks = []
    for _ in range(chk.check_int(q, "q", low=1)):
        best_u = U[np.argmin(y)]
        cand = np.vstack([rng.random((n_candidates, U.shape[1])),           # everywhere
                          np.clip(best_u + 0.05 * rng.standard_normal((n_candidates, U.shape[1])),
                                  0.0, 1.0)])                                # near the best
        with _one_blas_thread():
            mu, sd = gp.predict(cand, return_std=True)
            picks.append(cand[np.argmax(expected_improvement(mu, sd, y.min(), xi))])
            U, y = np.vstack([U, picks[-1]]), np.append(y, y.min())
            if len(picks) < q:
                gp = type(gp)(gp.kernel_, normalize_y=True, optimizer=None).fit(U, y)
    return np.array(picks)


def bayes_opt(objective: Callable[[dict[str, Any], int], Any], space: Any, n_trials: int, *,
              n_initial: int | None = None, seed: int = 0, executor: Any = None,
              batch_size: int = 1, n_candidates: int = 1000, xi: float = 0.0) -> Trials:
    """Bayesian optimisation: ``n_initial`` Sobol points, then, until ``n_trials``, fit a
    Gaussian process to the trials so far (:func:`fit_surrogate`, in the unit cube, so in log
    scale for ``log=True`` dimensions; a failed trial counts as the worst value seen) and run
    the ``batch_size`` points of highest expected improvement (:func:`propose`).
    ``n_initial`` defaults to ``max(5, 2 d)``; ``batch_size > 1`` keeps a parallel
    ``executor`` busy. Trial seeds are those of ``run_trials(..., seed=seed)``.
    """
    chk.check_callable(objective, "objective", "a function objective(params, seed) -> number")
    dims = _check_space(space)
    n_trials = chk.check_int(n_trials, "n_trials", low=1)
    n_initial = max(5, 2 * len(dims)) if n_initial is None else chk.check_int(n_initial,
                                                                               "n_initial", low=1)
    batch_size = chk.check_int(batch_size, "batch_size", low=1)
    n_candidates = chk.check_int(n_candidates, "n_candidates", low=1)
    xi, seed = chk.check_number(xi, "xi", low=0.0), _check_seed(seed)
    _check_executor(executor)
    rng, seeds = np.random.default_rng(seed), trial_seeds(seed, n_trials)
    first = sobol(dims, min(n_initial, n_trials), seed)
    trials = Trials(_evaluate(objective, first, seeds[:len(first)], executor))
    gp = None
    while len(trials) < n_trials:
        q = min(batch_size, n_trials - len(trials))
        if trials.ok():
            U, y = to_unit(dims, [t.params for t in trials]), _observed(trials)
            gp = fit_surrogate(U, y, seed, start=None if gp is None else gp.kernel_)
            U = propose(gp, U, y, rng, q, n_candidates, xi)
        else:                         # nothing to model yet: keep exploring at random
            U = rng.random((q, len(dims)))
        n = len(trials)
        trials += _evaluate(objective, from_unit(dims, U), seeds[n:n + q], executor, first=n)
    return trials


# ------------------------------------------------------------------------------ conveniences
METHODS = ("grid", "random", "sobol", "bayes")


def _grid_side(dims: tuple[Dimension, ...], budget: int) -> int:
    """The largest ``n`` whose ``grid(space, n)`` has at most ``budget`` points."""
    def size(n: int) -> int:
        return math.prod(len(axis) for axis in _grid_axes(dims, n))

    if size(1) > budget:
        raise ValueError(f"budget={budget} is below the smallest grid ({size(1)} points: one "
                         "per combination of options)")
    n = 1
    while n < budget and size(n + 1) <= budget:
        n += 1
    return n


def search(objective: Callable[[dict[str, Any], int], Any], space: Any, budget: int,
           method: str = "random", *, seed: int = 0, executor: Any = None,
           **options: Any) -> Trials:
    """Spend ``budget`` trials with ``method`` (one of :data:`METHODS`): ``"grid"`` (the
    largest grid of at most ``budget`` points, as many values per dimension), ``"random"``,
    ``"sobol"`` or ``"bayes"`` (``options`` go to :func:`bayes_opt`)."""
    dims = _check_space(space)
    budget = chk.check_int(budget, "budget", low=1)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, received {method!r}")
    if method == "bayes":
        return bayes_opt(objective, dims, budget, seed=seed, executor=executor, **options)
    if options:
        raise TypeError(f"options {sorted(options)} are for method='bayes' only")
    configs = {"grid": lambda: grid(dims, _grid_side(dims, budget)),
               "random": lambda: random(dims, budget, seed),
               "sobol": lambda: sobol(dims, budget, seed)}[method]()
    return run_trials(objective, configs, seed=seed, executor=executor)


def refine(space: Any, trials: Trials, *, top: float = 0.25, margin: float = 0.1) -> list:
    """Coarse to fine: the box around the best ``top`` fraction of the successful trials,
    widened by ``margin`` (a fraction of each dimension's range, in its scale) and kept inside
    the old bounds. A :class:`Choice` keeps the options those trials used."""
    dims = _check_space(space)
    if not isinstance(trials, Trials):
        raise TypeError(f"trials must be Trials, received {type(trials).__name__}")
    top = chk.check_number(top, "top", low=0.0, high=1.0, low_open=True)
    margin = chk.check_number(margin, "margin", low=0.0, low_open=True)
    ok = sorted(trials.ok(), key=lambda t: t.value)
    if not ok:
        raise ValueError(f"trials must hold a successful trial, received {trials!r}")
    best = [t.params for t in ok[:max(1, math.ceil(top * len(ok)))]]
    U = to_unit(dims, best)
    new: list[Dimension] = []
    for j, d in enumerate(dims):
        if isinstance(d, Choice):
            new.append(Choice(d.name, tuple(o for o in d.options if any(
                d.index(p[d.name]) == d.index(o) for p in best))))
            continue
        lo, hi = d.from_unit(np.clip([U[:, j].min() - margin, U[:, j].max() + margin], 0, 1))
        if lo == hi:                  # integers: one value left, keep its neighbours
            lo, hi = max(d.low, lo - 1), min(d.high, hi + 1)
        new.append(type(d)(d.name, lo, hi, log=d.log))
    return new


class GridSurface:
    """A cheap objective from values tabulated on ``grid(space, n_per_dim)`` (e.g. validation
    losses of real training runs), interpolated linearly in the unit cube, so in log scale for
    ``log=True`` dimensions. Calling it costs microseconds: searches over it are instant.
    ``surface(params, seed)`` ignores the seed (the table is one run per point)."""

    def __init__(self, space: Any, n_per_dim: int | Mapping[str, int], values: Any) -> None:
        from scipy.interpolate import RegularGridInterpolator

        self.space = _check_space(space)
        if any(isinstance(d, Choice) for d in self.space):
            raise TypeError("GridSurface interpolates Real and Integer dimensions only")
        axes = _grid_axes(self.space, n_per_dim)
        shape = tuple(len(a) for a in axes)
        if min(shape) < 2:
            raise ValueError(f"n_per_dim must give at least 2 values per dimension, received a "
                             f"grid of shape {shape}")
        values = np.asarray(values, dtype=float)
        if values.size != math.prod(shape):
            raise ValueError(f"values must hold one value per grid point, {shape} = "
                             f"{math.prod(shape)} in grid order, received shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError("values must be finite (cap diverged runs, e.g. np.minimum(v, cap))")
        self.values = values.reshape(shape)
        self._interp = RegularGridInterpolator(
            [d.to_unit(a) for d, a in zip(self.space, axes, strict=True)], self.values)
        self._lo = np.array([g[0] for g in self._interp.grid])
        self._hi = np.array([g[-1] for g in self._interp.grid])

    def __call__(self, params: Mapping[str, Any], seed: int | None = None) -> float:
        u = np.clip(to_unit(self.space, [params])[0], self._lo, self._hi)
        return float(self._interp(u[None, :])[0])


# ------------------------------------------------------------------------------ LR range test
@dataclass(frozen=True)
class LRRangeTest:
    """What :func:`lr_range_test` recorded: per step the learning rate ``lrs``, the smoothed
    loss ``losses`` and the batch loss ``raw_losses``; the two suggestions ``lr_steep`` and
    ``lr_min`` (see there), ``suggestion`` (= ``lr_min``), and why it stopped."""

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    lr_steep: float
    lr_min: float
    stop_reason: str
    message: str

    @property
    def suggestion(self) -> float:
        return self.lr_min


def lr_range_test(model: Any, params: Mapping[str, Any], data: Any, *, optimizer: Any = None,
                  lr_min: float = 1e-7, lr_max: float = 10.0, steps: int = 100,
                  batch_size: int | None = None, seed: int = 0, beta: float = 0.98,
                  stop_factor: float = 4.0, **optimizer_kwargs: Any) -> LRRangeTest:
    r"""The learning-rate range test (Smith 2017; fastai's ``lr_find``).

    Trains a copy of ``params`` (left untouched) with ``optimizer`` (default ``SGD``) for up
    to ``steps`` steps with an exponentially growing rate
    :math:`\eta_i = \eta_{min}(\eta_{max}/\eta_{min})^{i/\text{steps}}`, records the smoothed
    loss :math:`\bar L_i = a_i/(1-\beta^{i+1})`, :math:`a_i = \beta a_{i-1} + (1-\beta) L_i`,
    and stops once :math:`\bar L_i >` ``stop_factor`` :math:`\times \min_{j\le i} \bar L_j`
    (or the loss turns NaN/inf). Leaving out the first ``steps // 10`` and the last 5 records,
    ``lr_min`` is the rate of the smallest :math:`\bar L` divided by 10 (the suggestion) and
    ``lr_steep`` the rate where :math:`\bar L` falls fastest per unit of :math:`\log\eta`:
    fastai's ``minimum`` and ``steep``. With mini-batches the steepest point often sits in the
    noise of the first steps, far below any useful rate: look at the curve before trusting it.
    """
    from .backend import array_namespace
    from .optim import SGD, Optimizer
    from .schedules import LambdaLR
    from .train import train

    lr_min = chk.check_number(lr_min, "lr_min", low=0.0, low_open=True)
    lr_max = chk.check_number(lr_max, "lr_max", low=lr_min, low_open=True)
    steps = chk.check_int(steps, "steps", low=10)
    beta = chk.check_number(beta, "beta", low=0.0, high=1.0, high_open=True)
    stop_factor = chk.check_number(stop_factor, "stop_factor", low=1.0, low_open=True)
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of named arrays, received {type(params).__name__}")
    if "lr" in optimizer_kwargs:
        raise TypeError("lr is set by the test (from lr_min to lr_max); do not pass it")
    work = {k: array_namespace(v).asarray(v, copy=True) for k, v in params.items()}
    opt = (SGD if optimizer is None else optimizer)(work, lr=lr_min, **optimizer_kwargs)
    if not isinstance(opt, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer class (SGD, Adam ...), received "
                        f"{type(optimizer).__name__}")
    ratio, state, smooth = lr_max / lr_min, {"avg": 0.0, "best": math.inf}, []

    def watch(step: int, loss: float, _params: Any, _hist: Any) -> bool:
        state["avg"] = beta * state["avg"] + (1 - beta) * float(loss)
        smooth.append(state["avg"] / (1 - beta ** step))
        state["best"] = min(state["best"], smooth[-1])
        return smooth[-1] > stop_factor * state["best"]

    hist = train(model, work, opt, data, epochs=steps, batch_size=batch_size, seed=seed,
                 max_steps=steps, callback=watch, on_diverge="stop",
                 scheduler=LambdaLR(opt, lambda i: ratio ** (i / steps)),
                 scheduler_interval="step")
    lrs, losses = np.array(hist.lr[:len(smooth)]), np.array(smooth)
    lo, hi = steps // 10, len(losses) - 5
    if hi - lo < 2:
        raise ValueError(f"the loss exploded after {len(losses)} of {steps} steps (lr = "
                         f"{lrs[-1] if len(lrs) else lr_min:.3g}): start lower (lr_min) or "
                         "take more steps")
    slopes = np.diff(losses[lo:hi]) / np.diff(np.log(lrs[lo:hi]))
    reason = {"callback": "exploded", "diverged": "diverged"}.get(hist.stop_reason, "completed")
    return LRRangeTest(lrs, losses, np.array(hist.loss[:len(smooth)]),
                       float(lrs[lo:hi][np.argmin(slopes)]),
                       float(lrs[lo:hi][np.argmin(losses[lo:hi])] / 10), reason, hist.message)
