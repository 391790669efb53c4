"""Median redraw latency of the course dashboards: set a slider's value -> callback finished.

The callback includes everything the real widget does on a slider move: re-running the
computation, moving the artists and rendering the figure into the PNG shown by the dashboard's
``ipywidgets.Image``. Pinned to one core, BLAS/OpenMP single-threaded, so the figure is what a
learner's laptop gets from one busy core.

    python benchmarks/widget_redraw.py            # all cases, on core 0
    python benchmarks/widget_redraw.py gd         # cases whose name contains "gd"
    BENCH_CORE=1 python benchmarks/widget_redraw.py   # another core (if core 0 is busy)

To add a dashboard, append a ``Case(name, make_dashboard, slider_name, values)`` to ``CASES``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {int(os.environ.get("BENCH_CORE", "0"))})

import functools  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from edulib import functions, widgets  # noqa: E402
from edulib.widgets import ch03  # noqa: E402

TARGET_MS = 100.0


@dataclass
class Case:
    name: str
    make_dashboard: Callable[[], Any]
    slider_name: str
    values: Sequence[Any]
    target_ms: float = TARGET_MS


def _cycle(values: Sequence[float], n: int = 30) -> list[float]:
    """``n`` values going back and forth over ``values`` (each differs from the previous)."""
    seq = list(values) + list(values[-2:0:-1])
    return [seq[i % len(seq)] for i in range(n)]


CASES: list[Case] = [
    Case("gd quadratic: lr", lambda: widgets.gd_dashboard(functions.Quadratic(0.1, 2.0), steps=50),
         "lr", _cycle(np.geomspace(0.01, 0.6, 16).tolist())),
    Case("gd quadratic: steps", lambda: widgets.gd_dashboard(steps=50), "steps",
         _cycle(list(range(10, 301, 20)))),
    Case("gd quadratic: start x1", lambda: widgets.gd_dashboard(steps=100), "x1",
         _cycle(np.linspace(-4.5, 4.5, 16).tolist())),
    Case("gd rosenbrock: lr (300 steps)",
         lambda: widgets.gd_dashboard("rosenbrock", lr=1e-3, steps=300), "lr",
         _cycle(np.geomspace(1e-4, 3e-3, 16).tolist())),
    # chapter 01: each move refits the Huber line (IRLS) and redraws two panels; a refit like
    # the digits dashboards below, so the same 300 ms budget
    Case("huber delta (ch. 01)", lambda: widgets.huber_delta_dashboard(), "delta",
         _cycle(np.geomspace(0.1, 20.0, 16).tolist()), 300.0),
    # mini-batch SGD on digits: each move re-runs train.train for 2 epochs over 256 examples
    # (512 examples seen; B=1 is 512 Python-level steps), so the target is 300 ms
    Case("minibatch digits: lr (B=16)", lambda: widgets.minibatch_dashboard(batch_size=16),
         "lr", _cycle(np.geomspace(1e-3, 10.0, 16).tolist()), 300.0),
    Case("minibatch digits: batch size", lambda: widgets.minibatch_dashboard(lr=0.1),
         "batch_size", _cycle([1, 2, 4, 8, 16, 32, 64, 128, 256]), 300.0),
    Case("minibatch digits: lr (B=1, worst)", lambda: widgets.minibatch_dashboard(batch_size=1),
         "lr", _cycle(np.geomspace(1e-3, 1.0, 16).tolist()), 300.0),
    # chapter 02 dashboards with another optimizer chosen (a fresh Adam per move)
    Case("gd quadratic: lr (Adam)", lambda: widgets.gd_dashboard(optimizer="Adam", steps=50),
         "lr", _cycle(np.geomspace(0.01, 0.6, 16).tolist())),
    # chapter 03: momentum on the narrow valley; only the path and the curves move (fixed
    # axes, blitting), so the target is 50 ms
    Case("momentum quadratic: mu (100 steps)", lambda: ch03.momentum_dashboard(), "momentum",
         _cycle(np.linspace(0.0, 0.95, 16).tolist()), 50.0),
    Case("momentum quadratic: lr (100 steps)", lambda: ch03.momentum_dashboard(momentum=0.4),
         "lr", _cycle(np.geomspace(0.05, 0.9, 16).tolist()), 50.0),
    # Rosenbrock: 500 Python-level optimizer steps per move, so a looser target
    Case("momentum rosenbrock: mu (500 st.)",
         lambda: ch03.momentum_dashboard("rosenbrock", momentum=0.9), "momentum",
         _cycle(np.linspace(0.5, 0.95, 16).tolist()), 150.0),
    # chapter 05: search over the tabulated validation loss; every method's trials are computed
    # once when the dashboard is built, a move only slices them (blitting): the 100 ms target
    Case("search (ch. 05): budget (Bayes)", lambda: _search_dashboard(method="bayes"), "budget",
         _cycle([1, 2, 4, 8, 12, 16, 24, 32, 48, 64])),
    Case("search (ch. 05): method (b=16)", lambda: _search_dashboard(budget=16), "method",
         _cycle(["grid", "random", "sobol", "bayes"])),
    # chapter 05: batch normalisation and the learning rate. A setting (lr, toggle) trains two
    # MLPs for 5 epochs on the digits the first time it is shown and is kept; these cycles measure
    # the redraws of settings already trained (moving curves, blitting): the 300 ms target
    Case("batch norm (ch. 05): lr", lambda: _bn_dashboard(), "lr",
         _cycle([0.5, 1.0, 2.0, 4.0]), 300.0),
    Case("batch norm (ch. 05): toggle", lambda: _bn_dashboard(), "batch_norm",
         _cycle([False, True]), 300.0),
    # chapter 05: babysitting; recorded runs (healthy, too small, dead units), a full redraw
    Case("babysit (ch. 05): step", lambda: _babysit_dashboard(), "step",
         _cycle([0, 16, 32, 48, 56]), 300.0),
    Case("babysit (ch. 05): run", lambda: _babysit_dashboard(), "run",
         _cycle(["healthy", "too small", "dead (bias -3)"]), 300.0),
]


@functools.cache
def _search_surface() -> Any:
    """Chapter 05's table: validation loss of softmax regression on the digits (Adam, 5 epochs,
    batches of 64) on a 17 x 7 grid of (log lr, log weight decay), every run from seed 0."""
    import math

    from edulib import data, models, optim, train
    from edulib import search as S

    split = data.digits()
    space = [S.Real("lr", 1e-4, 1.0, log=True), S.Real("weight_decay", 1e-6, 1e-3, log=True)]

    def val_loss(params: dict, seed: int) -> float:
        model = models.SoftmaxRegression(64, 10, weight_decay=params["weight_decay"])
        theta = model.init_params(seed=seed)
        hist = train.train(model, theta, optim.Adam(theta, lr=params["lr"]), split, epochs=5,
                           batch_size=64, seed=seed, on_diverge="stop")
        return math.inf if hist.diverged else hist.val_loss[-1]

    table = {"lr": 17, "weight_decay": 7}
    trials = S.run_trials(val_loss, S.grid(space, table), seeds=[0] * 119)
    return S.GridSurface(space, table, trials.values)


def _search_dashboard(**kwargs: Any) -> Any:
    from edulib.widgets.ch05_search import search_dashboard

    return search_dashboard(_search_surface(), **kwargs)


def _bn_dashboard(**kwargs: Any) -> Any:
    from edulib.widgets.ch05_bn import bn_lr_dashboard

    return bn_lr_dashboard(**kwargs)


@functools.cache
def _babysit_runs() -> dict:
    """Three recorded runs of a 64-16-16-10 MLP on 300 digits (6 epochs, batches of 32)."""
    from edulib import data, models
    from edulib.babysit import Monitor
    from edulib.optim import SGD
    from edulib.train import train

    s = data.digits()
    split = data.Split(s.X_train[:300], s.X_val[:100], s.y_train[:300], s.y_val[:100])
    model, runs = models.MLP(64, (16, 16), 10), {}
    for name, lr, bias in (("healthy", 0.02, 0.0), ("too small", 1e-5, 0.0),
                           ("dead (bias -3)", 0.02, -3.0)):
        params = model.init_params(seed=0)
        params["b1"][...] = bias
        params["b2"][...] = bias
        mon = Monitor(every=4)
        hist = train(model, params, SGD(params, lr=lr, momentum=0.9), split, epochs=6,
                     batch_size=32, seed=0, monitor=mon)
        runs[name] = (hist, mon)
    return runs


def _babysit_dashboard() -> Any:
    from edulib.widgets.ch05_babysit import babysit_dashboard

    return babysit_dashboard(_babysit_runs(), n_classes=10)


def measure(case: Case, warmup: int = 3) -> list[float]:
    """Milliseconds per ``controls[slider_name].value = v`` (observers run synchronously)."""
    dash = case.make_dashboard()
    slider = dash.controls[case.slider_name]
    for v in case.values[:warmup]:
        slider.value = v
    times = []
    for v in case.values:
        t0 = time.perf_counter()
        slider.value = v
        times.append(1e3 * (time.perf_counter() - t0))
    return times


def main(argv: list[str]) -> int:
    pick = [c for c in CASES if not argv or any(a in c.name for a in argv)]
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"cores {cores}, matplotlib {matplotlib.__version__}, numpy {np.__version__}")
    print(f"{'case':34s} {'n':>3s} {'median ms':>10s} {'p90 ms':>8s} {'max ms':>8s}  under target")
    ok = True
    for case in pick:
        t = measure(case)
        med = statistics.median(t)
        ok = ok and med < case.target_ms
        p90 = float(np.percentile(t, 90))
        print(f"{case.name:34s} {len(t):3d} {med:10.1f} {p90:8.1f} {max(t):8.1f}  "
              f"{'yes' if med < case.target_ms else 'NO'} (< {case.target_ms:g} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
