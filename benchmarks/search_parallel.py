"""Hyperparameter search: what parallel trials buy, and what a dashboard redraw costs.

1. Parallel trials: ``--trials`` trainings of a small MLP on the digits (``--epochs`` epochs of
   mini-batch SGD each, learning rate and weight decay from a Sobol design) run sequentially,
   through a ``ProcessPoolExecutor`` and through a Dask ``LocalCluster`` (skipped without
   ``distributed``), ``--workers`` workers each, one BLAS thread per process. Prints the wall
   time, the speed-up over sequential and whether every trial's value is identical.
2. Dashboard: on a tabulated (log lr, log weight decay) surface (``GridSurface``), the time to
   run each method at budget 64 (median of 5 after a warm-up), and the time to slice a
   precomputed 64-trial Bayesian run down to every budget (what a budget slider does).

Run ``python benchmarks/search_parallel.py`` (``--trials 16 --workers 2 --epochs 5``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")          # one BLAS thread in every process
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

from edulib import search as S  # noqa: E402
from edulib.data import digits  # noqa: E402
from edulib.models import MLP  # noqa: E402
from edulib.optim import SGD  # noqa: E402
from edulib.train import train  # noqa: E402

SPACE = [S.Real("lr", 1e-3, 1.0, log=True), S.Real("weight_decay", 1e-6, 1e-1, log=True)]
EPOCHS = 5


def mlp_objective(params: dict, seed: int) -> dict:
    """Validation loss of an MLP 64-64-10 after EPOCHS epochs (inf when it diverged)."""
    split = digits(seed=0)
    model = MLP(64, 64, 10, weight_decay=params["weight_decay"])
    theta = model.init_params(seed=seed % 2**31)
    hist = train(model, theta, SGD(theta, lr=params["lr"], momentum=0.9), split, epochs=EPOCHS,
                 batch_size=64, seed=seed % 2**31, on_diverge="stop")
    return {"value": math.inf if hist.diverged else hist.val_loss[-1], "epochs": hist.epochs}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def values(trials):
    return [(t.value, t.status) for t in trials]


def parallel_section(n_trials: int, workers: int) -> None:
    configs = S.sobol(SPACE, n_trials, seed=0)
    S.run_trials(mlp_objective, configs[:1], seed=0)                                   # warm-up
    seq, t_seq = timed(lambda: S.run_trials(mlp_objective, configs, seed=0))
    print(f"sequential          {t_seq:7.2f} s   ({t_seq / n_trials:.2f} s/trial, {seq!r})")
    with ProcessPoolExecutor(workers) as pool:
        S.run_trials(mlp_objective, configs[:workers], seed=0, executor=pool)      # warm-up
        par, t_par = timed(lambda: S.run_trials(mlp_objective, configs, seed=0, executor=pool))
    print(f"process pool x{workers}     {t_par:7.2f} s   speed-up {t_seq / t_par:.2f}x, "
          f"identical: {values(par) == values(seq)}")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("dask                skipped: distributed is not installed")
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        S.run_trials(mlp_objective, configs[:workers], seed=0, executor=client)    # warm-up
        dask, t_dask = timed(lambda: S.run_trials(mlp_objective, configs, seed=0,
                                                  executor=client))
    print(f"dask LocalCluster x{workers} {t_dask:7.2f} s   speed-up {t_seq / t_dask:.2f}x, "
          f"identical: {values(dask) == values(seq)}")


def dashboard_section() -> None:
    log_lr, log_wd = np.meshgrid(np.linspace(-3, 0, 15), np.linspace(-6, -1, 15), indexing="ij")
    table = 0.3 + 0.4 * (log_lr + 1.3) ** 2 + 0.05 * (log_wd + 3.5) ** 2 + 0.1 * np.sin(3 * log_lr)
    surface = S.GridSurface(SPACE, 15, table.ravel())
    for method in S.METHODS:
        runs = []
        for rep in range(6):
            _, t = timed(lambda m=method, r=rep: S.search(surface, SPACE, 64, m, seed=r))
            runs.append(t)
        print(f"{method:7s} budget 64 on the surface: median {1e3 * statistics.median(runs[1:]):8.1f} ms")
    bo = S.bayes_opt(surface, SPACE, 64, seed=0)
    _, t = timed(lambda: [(bo[:b].best().value, bo[:b].best_so_far()) for b in range(1, 65)])
    print(f"slicing a precomputed Bayesian run to all 64 budgets: {1e3 * t:.1f} ms")


def main() -> None:
    global EPOCHS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    EPOCHS = args.epochs
    print(f"{args.trials} trials, MLP 64-64-10 on digits, {EPOCHS} epochs each, "
          f"{args.workers} workers, {os.cpu_count()} cores")
    parallel_section(args.trials, args.workers)
    dashboard_section()


if __name__ == "__main__":
    main()
