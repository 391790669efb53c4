"""Hessian-vector product vs the dense Hessian as an MLP grows.

One HVP (``edulib.hessian.hvp``, central differences of two gradients) costs about two
backward passes, so its time grows linearly with the number of parameters P (the fitted
log-log slope is printed); the dense Hessian needs P HVPs and P^2 numbers, so it stops being
feasible after a few thousand parameters (its time per column is one HVP, measured as a
mean under whatever load the machine has, so it reads higher than the best-of HVP time).
The MLP is ``MLP(64, h, 10, tanh)`` on N=1024 random
digits-sized inputs, widths h chosen so that P runs from ~1e2 to ~1e5. Pinned to one core,
BLAS single-threaded; each HVP time is the minimum over repeats after a warm-up.

    python benchmarks/hvp.py                  # the table and the slope
    python benchmarks/hvp.py --dense-max 4000 # build the dense Hessian up to this P
    BENCH_CORE=1 python benchmarks/hvp.py     # another core (if core 0 is busy)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {int(os.environ.get("BENCH_CORE", "0"))})

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from edulib import hessian as hs  # noqa: E402
from edulib import models  # noqa: E402

WIDTHS = (2, 6, 16, 48, 128, 400, 1333)
N = 1024


def _min_time(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dense-max", type=int, default=1300,
                    help="build the dense Hessian only for P <= this (default 1300)")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    g = np.random.default_rng(0)
    X = g.standard_normal((N, 64))
    y = g.integers(0, 10, N)
    rows = []
    print(f"MLP(64, h, 10, tanh), N={N}, one core; HVP = min of {args.repeats} after warm-up")
    print(f"{'h':>6} {'P':>8} {'grad ms':>9} {'HVP ms':>9} {'HVP/grad':>9} {'dense s':>9} "
          f"{'dense ms/col':>13}")
    for h in WIDTHS:
        model = models.MLP(64, h, 10, activation="tanh")
        params = model.init_params(0)
        P = model.num_params()
        v = hs.unflatten(g.standard_normal(P), params)
        t_grad = _min_time(lambda: model.loss_and_grad(params, X, y), args.repeats)  # noqa: B023
        t_hvp = _min_time(lambda: hs.hvp(model, params, X, y, v), args.repeats)  # noqa: B023
        t_dense = float("nan")
        if P <= args.dense_max:
            t0 = time.perf_counter()
            hs.dense(model, params, X, y, max_params=P)
            t_dense = time.perf_counter() - t0
        rows.append((P, t_hvp))
        dense_txt = f"{t_dense:9.2f} {1e3 * t_dense / P:13.3f}" if P <= args.dense_max else (
            f"{'-':>9} {'-':>13}")
        print(f"{h:6d} {P:8d} {1e3 * t_grad:9.3f} {1e3 * t_hvp:9.3f} {t_hvp / t_grad:9.2f} "
              f"{dense_txt}")
    P_arr = np.array([r[0] for r in rows], dtype=float)
    t_arr = np.array([r[1] for r in rows])
    slope_all = np.polyfit(np.log(P_arr), np.log(t_arr), 1)[0]
    big = P_arr >= 5000
    slope_big = np.polyfit(np.log(P_arr[big]), np.log(t_arr[big]), 1)[0]
    print(f"log-log slope of HVP time vs P: {slope_all:.2f} over all sizes, "
          f"{slope_big:.2f} for P >= 5000 (1 = linear; small P is dominated by fixed overhead)")
    print(f"dense Hessian beyond P={args.dense_max}: skipped (P HVPs and P^2 numbers; at "
          f"P={int(P_arr[-1])} that is {P_arr[-1] ** 2 * 8 / 2**30:.0f} GiB and "
          f"~{P_arr[-1] * t_arr[-1] / 3600:.1f} h)")


if __name__ == "__main__":
    main()
