"""Epoch time of `edulib.train.train` against the same loop in PyTorch (CPU), side by side.

Chapter 02's models on digits: softmax regression (64 -> 10) and the MLP 64-1024-1024-10 (ReLU),
mini-batch SGD (B = 256, lr 0.1), cross-entropy, and the per-epoch evaluation `train` does
(loss and accuracy on the training and validation sets, one forward pass per split). Both sides
run on one thread (numpy's BLAS through threadpoolctl, `torch.set_num_threads(1)`) in float32
and float64; each row is the median of 5 timed runs of 2 epochs after one warm-up run.

    python benchmarks/train_epoch.py

Prints a markdown table: ms per epoch and the ratio edulib / PyTorch (rows for PyTorch are
skipped with a note when torch is not importable).
"""

from __future__ import annotations

import statistics
import time
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

from edulib import data, models, optim, train

EPOCHS, BATCH, LR, REPEATS = 2, 256, 0.1, 5


def edulib_run(model, split, dtype) -> float:
    params = model.init_params(seed=0, dtype=dtype)
    opt = optim.SGD(params, lr=LR)
    t0 = time.perf_counter()
    train.train(model, params, opt, split, epochs=EPOCHS, batch_size=BATCH, seed=0)
    return (time.perf_counter() - t0) / EPOCHS


def torch_run(torch, hidden, split, dtype) -> float:
    torch.manual_seed(0)
    sizes = (64, *hidden, 10)
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers).to(dtype)
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    Xtr, ytr = torch.as_tensor(split.X_train, dtype=dtype), torch.as_tensor(split.y_train)
    Xva, yva = torch.as_tensor(split.X_val, dtype=dtype), torch.as_tensor(split.y_val)
    gen = np.random.default_rng(0)
    n = Xtr.shape[0]
    t0 = time.perf_counter()
    for _ in range(EPOCHS):
        order = torch.as_tensor(gen.permutation(n))
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            loss = torch.nn.functional.cross_entropy(net(Xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():  # the per-epoch evaluation: one forward per split
            for X, y in ((Xtr, ytr), (Xva, yva)):
                out = net(X)
                float(torch.nn.functional.cross_entropy(out, y))
                float((out.argmax(1) == y).double().mean())
    return (time.perf_counter() - t0) / EPOCHS


def median_time(fn) -> float:
    fn()  # warm-up
    return statistics.median(fn() for _ in range(REPEATS))


def main() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    split = data.digits()
    cases = {"softmax regression": (), "MLP 64-1024-1024-10": (1024, 1024)}
    print(f"digits ({split.X_train.shape[0]} training examples), B = {BATCH}, {EPOCHS} epochs "
          f"per run, median of {REPEATS}; one thread each")
    print()
    print("| model | dtype | edulib ms/epoch | PyTorch ms/epoch | edulib / PyTorch |")
    print("| --- | --- | ---: | ---: | ---: |")
    with threadpool_limits(1):
        for name, hidden in cases.items():
            model = (models.SoftmaxRegression(64, 10) if not hidden
                     else models.MLP(64, hidden=hidden, n_classes=10))
            for dtype in ("float32", "float64"):
                ours = median_time(partial(edulib_run, model, split, np.dtype(dtype)))
                if torch is None:
                    print(f"| {name} | {dtype} | {1e3 * ours:.1f} | n/a | n/a |")
                    continue
                tdt = getattr(torch, dtype)
                theirs = median_time(partial(torch_run, torch, hidden, split, tdt))
                print(f"| {name} | {dtype} | {1e3 * ours:.1f} | {1e3 * theirs:.1f} | "
                      f"{ours / theirs:.2f} |")
    if torch is None:
        print("\nn/a: torch is not importable (pip install torch) ")


if __name__ == "__main__":
    main()
