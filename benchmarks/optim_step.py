"""Time of one optimizer step on 10M float32 parameters: edulib vs NumPy textbook vs PyTorch CPU.

For SGD with momentum, RMSprop and Adam, measured side by side in one run (round-robin: every
round times each implementation once, so a load spike from other processes hits all of them):

- ``edulib``: ``edulib.optim`` (in place, one scratch array, cache-sized blocks on NumPy);
- ``numpy textbook``: the formulas written the obvious way (``m = b1 * m + (1 - b1) * g`` ...),
  which allocates a new array for every intermediate result;
- ``torch foreach`` and ``torch fused``: ``torch.optim`` with ``foreach=True`` / ``fused=True``
  on one CPU thread (``torch.set_num_threads(1)``); rows are skipped when torch is missing or an
  optimizer has no fused CPU kernel.

Each time is the median over the rounds after warm-up steps. The last row per optimizer is the
memory-traffic bound: the bytes a step must move (every read and write of the parameter, the
gradient and the state arrays, once) divided by the copy bandwidth measured in the same run
(``np.copyto`` of a large array: read + write). Prints a markdown table.

    python benchmarks/optim_step.py                 # 10M parameters, 9 rounds
    python benchmarks/optim_step.py --n 1000000 --rounds 5
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from edulib import optim

try:
    import torch
except ImportError:  # the torch rows are skipped
    torch = None

LR = {"SGD-momentum": 0.01, "RMSprop": 0.01, "Adam": 0.001}
# arrays read + written per step, each once: (param r/w, grad r, state r/w per state array)
TRAFFIC = {"SGD-momentum": 2 + 1 + 2, "RMSprop": 2 + 1 + 2, "Adam": 2 + 1 + 2 + 2}


def edulib_step(name, p0, g):
    params = {"w": p0.copy()}
    if name == "SGD-momentum":
        opt = optim.SGD(params, lr=LR[name], momentum=0.9)
    elif name == "RMSprop":
        opt = optim.RMSprop(params, lr=LR[name])
    else:
        opt = optim.Adam(params, lr=LR[name])
    grads = {"w": g}
    return lambda: opt.step(grads)


def textbook_step(name, p0, g):
    """The formulas as one would first write them in NumPy: every operation allocates."""
    st = {"p": p0.copy(), "b": np.zeros_like(p0), "m": np.zeros_like(p0), "v": np.zeros_like(p0),
          "t": 0}
    lr = LR[name]

    def sgd():
        st["b"] = 0.9 * st["b"] + g
        st["p"] = st["p"] - lr * st["b"]

    def rmsprop():
        st["v"] = 0.99 * st["v"] + 0.01 * g * g
        st["p"] = st["p"] - lr * g / (np.sqrt(st["v"]) + 1e-8)

    def adam():
        st["t"] += 1
        t = st["t"]
        st["m"] = 0.9 * st["m"] + 0.1 * g
        st["v"] = 0.999 * st["v"] + 0.001 * g * g
        m_hat = st["m"] / (1 - 0.9**t)
        v_hat = st["v"] / (1 - 0.999**t)
        st["p"] = st["p"] - lr * m_hat / (np.sqrt(v_hat) + 1e-8)

    return {"SGD-momentum": sgd, "RMSprop": rmsprop, "Adam": adam}[name]


def torch_step(name, p0, g, mode):
    cls = {"SGD-momentum": torch.optim.SGD, "RMSprop": torch.optim.RMSprop,
           "Adam": torch.optim.Adam}[name]
    import inspect

    if mode not in inspect.signature(cls.__init__).parameters:
        return None
    p = torch.from_numpy(p0.copy())
    p.grad = torch.from_numpy(g.copy())
    kw = {"momentum": 0.9} if name == "SGD-momentum" else {}
    try:
        opt = cls([p], lr=LR[name], **kw, **{mode: True})
        opt.step()
    except (RuntimeError, ValueError):  # no fused CPU kernel for this optimizer
        return None
    return opt.step


def copy_step(n):
    """np.copyto of n float32: moves 2 arrays (read + write); timed with the others."""
    src = np.ones(n, dtype=np.float32)
    dst = np.zeros_like(src)
    return lambda: np.copyto(dst, src)


def measure(name, n, rounds, warmup=2):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(n).astype(np.float32)
    g = (0.1 * rng.standard_normal(n)).astype(np.float32)
    impls = {"edulib": edulib_step(name, p0, g), "numpy textbook": textbook_step(name, p0, g),
             "copy": copy_step(n)}
    if torch is not None:
        for mode in ("foreach", "fused"):
            step = torch_step(name, p0, g, mode)
            if step is not None:
                impls[f"torch {mode}"] = step
    for step in impls.values():
        for _ in range(warmup):
            step()
    times = {k: [] for k in impls}
    for _ in range(rounds):
        for k, step in impls.items():
            t0 = time.perf_counter()
            step()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="parameters (float32)")
    ap.add_argument("--rounds", type=int, default=9, help="timed rounds after warm-up")
    args = ap.parse_args()
    if torch is not None:
        torch.set_num_threads(1)
    print(f"{args.n:,} float32 parameters; {platform.machine()}; numpy {np.__version__}; "
          f"torch {torch.__version__ if torch else 'not installed'} (1 thread)\n")
    print("| optimizer | implementation | ms / step | × torch fused | × torch foreach |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name in ("SGD-momentum", "RMSprop", "Adam"):
        res = measure(name, args.n, args.rounds)
        bw = 2 * 4 * args.n / res.pop("copy")  # bytes read + written per second
        res[f"memory bound: {TRAFFIC[name]} arrays at {bw / 1e9:.1f} GB/s"] = TRAFFIC[name] * 4 * args.n / bw
        fused, foreach = res.get("torch fused"), res.get("torch foreach")
        for impl, t in res.items():
            r1 = f"{t / fused:.2f}" if fused else "n/a"
            r2 = f"{t / foreach:.2f}" if foreach else "n/a"
            print(f"| {name} | {impl} | {t * 1e3:.1f} | {r1} | {r2} |")
    print("\nn/a: torch missing, or no fused CPU kernel for this optimizer in this torch version.")


if __name__ == "__main__":
    main()
