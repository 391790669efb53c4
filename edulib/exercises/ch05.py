r"""Checks of chapter 05 (training in practice): ``log_uniform``, ``ema_update``,
``batchnorm_forward``, ``one_cycle_lr`` and the ``search_lab``.

The sampler is checked by what any correct sampler shares, not by its exact numbers: the same
generator state gives the same samples, another state other ones, and the samples follow the
log-uniform distribution (a Kolmogorov-Smirnov test of :math:`\log x` against the uniform
distribution, at a threshold a correct sampler exceeds with probability :data:`P_FALSE_FAIL`).
The average, the normalisation and the schedule are compared with edulib's (torch's) own rules;
the lab is scored on test data its function never sees."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import _checks as chk
from ..backend import rng as make_rng
from .engine import (
    SWITCHED_OFF,
    Case,
    CheckResult,
    Expect,
    NoCredit,
    Recipe,
    _as_numbers,
    _check_seeds,
    _diagnose,
    _portable,
    _run,
    _schedule_values,
    _titled,
    recipe,
    uses_case,
)

__all__ = ["P_FALSE_FAIL", "check_batchnorm_forward", "check_ema_update", "check_log_uniform",
           "check_one_cycle_lr", "check_search_lab", "ks_threshold", "linear_vs_log_distance",
           "search_lab_baseline", "search_lab_split"]


# ------------------------------------------------------------------ log-uniform sampling
#: probability that a correct sampler fails one case of :func:`check_log_uniform` (its KS
#: statistic exceeds the threshold by chance): ``scipy.stats.kstwo.sf(ks_threshold(n), n)``
P_FALSE_FAIL = 1e-9


def ks_threshold(n: int) -> float:
    r"""The largest KS distance :func:`check_log_uniform` accepts for ``n`` samples: the
    :math:`1 - 10^{-9}` quantile of the one-sample Kolmogorov-Smirnov statistic
    (``scipy.stats.kstwo``), about :math:`\sqrt{\ln(2/10^{-9})/(2n)}` = 0.052 for n = 4000.

    A correct sampler fails a case with probability :data:`P_FALSE_FAIL` = 1e-9: the visible
    cases are fixed (and pass), so a class of 1000 learners with 3 hidden cases each sees a
    correct sampler failed by chance with probability below 3e-6. A sampler uniform in :math:`x`
    on a range with ``high/low`` >= 100 (every hidden case) is at distance >= 0.459 from the
    log-uniform distribution (:func:`linear_vs_log_distance`), so with n >= 2000 samples
    (threshold <= 0.073) it passes a case only if its own sample strays >= 0.386 from its own
    distribution: probability below :math:`2e^{-2\cdot 2000\cdot 0.386^2} \approx 10^{-258}`.
    """
    from scipy.stats import kstwo

    n = chk.check_int(n, "n", low=1)
    return float(kstwo.isf(P_FALSE_FAIL, n))


def linear_vs_log_distance(ratio: float) -> float:
    r"""KS distance between the uniform distribution on [low, high] and the log-uniform one,
    with ``ratio`` = high/low: :math:`\max_u \bigl|u - (r^u - 1)/(r - 1)\bigr|`, at
    :math:`r^u = (r - 1)/\ln r`. 0.269 for r = 10, 0.459 for r = 100, 0.650 for r = 10^4."""
    r = chk.check_number(ratio, "ratio", low=1.0, low_open=True)
    u = math.log((r - 1.0) / math.log(r)) / math.log(r)
    return u - (r**u - 1.0) / (r - 1.0)


def _ks_uniform(u: np.ndarray) -> float:
    """The KS distance of the sample ``u`` from the uniform distribution on [0, 1]."""
    u = np.sort(u)
    n = u.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - u), np.max(u - (i - 1) / n)))


def _drive_log_uniform(fn: Callable[..., Any], low: Any, high: Any, n: int, rng_seed: int) -> list:
    """``fn`` called three times: twice with a generator seeded ``rng_seed``, once with
    ``rng_seed + 1`` (the same state must give the same samples, another state other ones)."""
    return [fn(low, high, n, np.random.default_rng(rng_seed)),
            fn(low, high, n, np.random.default_rng(rng_seed)),
            fn(low, high, n, np.random.default_rng(rng_seed + 1))]


_LOG_UNIFORM_HINTS = {
    "linear": NoCredit("these samples are uniform in x, not in log x: on [1e-4, 1] nine in ten "
                       "would land in the top decade. Draw u uniformly between log(low) and "
                       "log(high) and return exp(u)"),
    "range": ("every sample must lie in [low, high]: draw u between log(low) and log(high) and "
              "undo the log with the same base (np.exp after np.log, 10**u after np.log10)"),
    "same_state": ("two calls with generators in the same state gave different samples: draw "
                   "from the rng you are given (rng.uniform, rng.random), not from np.random"),
    "ignores_rng": ("another generator state gave the same samples: your samples do not come from "
                    "rng (a fixed seed inside? np.linspace?) -- draw them with rng.uniform"),
}


def _log_uniform_judge(low: float, high: float, n: int) -> Callable[[Any], tuple[bool, str, str]]:
    thr = ks_threshold(n)
    a_log, b_log = math.log(low), math.log(high)

    def judge(value: Any) -> tuple[bool, str, str]:
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            return False, f"received {type(value).__name__}", ""
        samples = []
        for v in value:
            arr, why = _as_numbers(v)
            if arr is None:
                return False, why, ""
            samples.append(arr)
        first, again, other = samples
        if first.shape != (n,):
            return False, f"expected shape ({n},), received shape {first.shape}", (
                f"return n = {n} samples as a 1-D array (e.g. rng.uniform(a, b, size=n))")
        if not np.all(np.isfinite(first)):
            return False, "non-finite samples (nan/inf)", _LOG_UNIFORM_HINTS["range"]
        lo, hi = float(first.min()), float(first.max())
        if lo < low * (1 - 1e-12) or hi > high * (1 + 1e-12):
            return False, (f"samples from {lo:.4g} to {hi:.4g}, outside [{low:g}, {high:g}]"),\
                _LOG_UNIFORM_HINTS["range"]
        if again.shape != first.shape or not np.array_equal(again, first):
            return False, "the same generator state gave other samples", \
                _LOG_UNIFORM_HINTS["same_state"]
        if other.shape == first.shape and np.array_equal(other, first):
            return False, "another generator state gave the same samples", \
                _LOG_UNIFORM_HINTS["ignores_rng"]
        with np.errstate(all="ignore"):
            u = (np.log(np.maximum(first, low)) - a_log) / (b_log - a_log)
        d = _ks_uniform(np.clip(u, 0.0, 1.0))
        msg = f"KS distance of log(x) from uniform {d:.3f} (at most {thr:.3f})"
        if d <= thr:
            return True, msg, ""
        d_lin = _ks_uniform(np.clip((first - low) / (high - low), 0.0, 1.0))
        if d_lin <= thr:
            return False, msg, _LOG_UNIFORM_HINTS["linear"]
        l10, h10 = math.log10(low), math.log10(high)
        with np.errstate(all="ignore"):       # exp of a log10 range, or 10** of a natural-log one
            mixed = [(np.log(first) - l10) / (h10 - l10), (np.log10(first) - a_log) / (b_log - a_log)]
        if any(_ks_uniform(np.clip(u, 0.0, 1.0)) <= thr for u in mixed):
            return False, msg, _LOG_UNIFORM_HINTS["range"]
        return False, msg, ("not log-uniform: each decade of [low, high] should get the same share "
                            "of the samples -- u uniform in [log(low), log(high)], then exp(u)")

    return judge


def _log_uniform_runs(seed: int) -> list[tuple[Any, Any, int, int]]:
    if not seed:
        return [(1e-4, 1.0, 4000, 50), (1e-6, 0.1, 4000, 51), (1, 1000, 4000, 52)]
    g = make_rng(seed)
    out = []
    for _ in range(2):     # high/low from 10^2 to 10^6: a linear sampler is >= 0.459 away
        low = float(10.0 ** g.uniform(-7.0, 0.0))
        out.append((low, float(low * 10.0 ** g.uniform(2.0, 6.0)), int(g.integers(2000, 6001)),
                    int(g.integers(2**31))))
    low = int(g.integers(1, 10))
    out.append((low, low * 10 ** int(g.integers(2, 5)), int(g.integers(2000, 6001)),
                int(g.integers(2**31))))
    return out


def check_log_uniform(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                      timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(low, high, n, rng)``: ``n`` samples, log-uniform on [low, high]
    (:math:`\log x` uniform on :math:`[\log low, \log high]`), drawn from the generator ``rng``.

    Any correct sampler passes, whatever its formula: each case calls ``fn`` with generators in
    the same state twice (the same samples) and in another state once (other samples), and
    tests the first sample: shape ``(n,)``, inside [low, high], and a KS distance of
    :math:`(\log x - \log low)/(\log high - \log low)` from the uniform distribution at most
    :func:`ks_threshold` ``(n)`` (a correct sampler fails a case with probability
    :data:`P_FALSE_FAIL`)."""
    seed = chk.check_int(seed, "seed", low=0)
    cases = []
    for low, high, n, rng_seed in _log_uniform_runs(seed):
        cases.append(Case(f"{n} samples in [{low:.3g}, {high:.3g}]", (low, high, n, rng_seed),
                          judge=_log_uniform_judge(float(low), float(high), n),
                          driver=_drive_log_uniform))
    return _run(_titled("log_uniform", seed), fn, cases, ["low", "high", "n", "rng"],
                timeout=timeout, verbose=verbose,
                tested="KS test of log(x) against the uniform distribution, same rng -> same samples",
                label="log_uniform")


def _log_uniform_off(low: Any, high: Any, n: Any, rng: Any = None, *args: Any, **kwargs: Any) -> Any:
    return np.zeros(int(n))                 # every sample 0: a learning rate of 0


_log_uniform_off.__name__ = _log_uniform_off.__qualname__ = "log_uniform"
SWITCHED_OFF["log_uniform"] = _log_uniform_off


# ------------------------------------------------------------------ EMA of the weights
def _ema_reference(W0: np.ndarray, b0: np.ndarray, Ws: np.ndarray, bs: np.ndarray,
                   decay: float) -> np.ndarray:
    from .. import averaging

    avg = averaging.AveragedParams({"W": W0.copy(), "b": b0.copy()},
                                   multi_avg_fn=averaging.get_ema_multi_avg_fn(decay))
    out = []
    for W, b in zip(Ws, bs, strict=True):
        avg.update_parameters({"W": W, "b": b})
        out.append(np.concatenate([avg.params["W"].ravel(), avg.params["b"]]))
    return np.stack(out)


def _ema_variant(W0: np.ndarray, b0: np.ndarray, Ws: np.ndarray, bs: np.ndarray, decay: float,
                 kind: str) -> np.ndarray:
    avg = np.concatenate([W0.ravel(), b0])
    m = np.zeros_like(avg)
    out = []
    with np.errstate(all="ignore"):
        for k, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            p = np.concatenate([W.ravel(), b])
            ema = decay * avg + (1 - decay) * p
            if kind == "bias_corrected":
                m = decay * m + (1 - decay) * p
                avg = m / (1 - decay ** (k + 1))
            elif kind == "no_copy" or (kind == "copy_at_one" and k == 0):
                avg = ema
            elif k == (1 if kind == "copy_at_one" else 0):
                avg = p.copy()
            elif kind == "swapped":
                avg = (1 - decay) * avg + decay * p
            elif kind == "swa":
                avg = avg + (p - avg) / (k + 1)
            else:
                avg = ema
            out.append(avg)
    return np.stack(out)


_EMA_HINTS = {
    "no_copy": ("the first update (n_averaged == 0) copies params into the average; the EMA "
                "rule starts from the second update"),
    "copy_at_one": ("off by one: n_averaged counts the updates done before this one, so the "
                    "copy happens when n_averaged == 0"),
    "swapped": NoCredit("decay weighs the old average: avg <- decay * avg + (1 - decay) * params, "
                        "not the other way round"),
    "swa": ("that is the equal-weight average (SWA, weights 1/(n+1)); the EMA keeps a fixed "
            "decay: avg <- decay * avg + (1 - decay) * params"),
    "bias_corrected": ("that is Adam's bias correction (an EMA from 0 divided by 1 - decay^k); "
                       "AveragedModel copies the first params instead and never divides"),
}


def _drive_ema(fn: Callable[..., Any], W0: np.ndarray, b0: np.ndarray, Ws: np.ndarray,
               bs: np.ndarray, decay: float) -> np.ndarray:
    avg, out = {"W": W0.copy(), "b": b0.copy()}, []
    for k in range(len(Ws)):
        new = fn(avg, {"W": Ws[k].copy(), "b": bs[k].copy()}, decay, k)
        if new is None:
            raise ValueError(f"ema_update returned None at update {k + 1}: did you forget the "
                             "`return` statement?")
        if not isinstance(new, Mapping) or set(new) != {"W", "b"}:
            got = f" with keys {sorted(new)}" if isinstance(new, Mapping) else ""
            raise ValueError(f"ema_update must return a dict with the keys of params ('W', 'b'), "
                             f"received {type(new).__name__}{got} at update {k + 1}")
        W = np.array(_portable(new["W"])[0], dtype=np.float64)
        b = np.array(_portable(new["b"])[0], dtype=np.float64)
        if W.shape != W0.shape or b.shape != b0.shape:
            raise ValueError(f"ema_update must return arrays shaped like params ({W0.shape} and "
                             f"{b0.shape}), received {W.shape} and {b.shape} at update {k + 1}")
        out.append(np.concatenate([W.ravel(), b.ravel()]))
        avg = {"W": W, "b": b}
    return np.stack(out)


def _dict_judge(want: np.ndarray, shapes: tuple[tuple[int, ...], ...], alts: list,
                what: str) -> Callable[[Any], tuple[bool, str, str]]:
    def judge(value: Any) -> tuple[bool, str, str]:
        if value is None:
            return False, _as_numbers(None)[1], ""
        if not isinstance(value, Mapping) or set(value) != {"W", "b"}:
            return False, (f"expected a dict {{'W': ..., 'b': ...}}, received {type(value).__name__}"
                           + (f" with keys {sorted(value)}" if isinstance(value, Mapping) else "")),\
                f"return {what} as a dict shaped like params"
        W, whyW = _as_numbers(value["W"])
        b, whyb = _as_numbers(value["b"])
        if W is None or b is None:
            return False, whyW or whyb, ""
        if W.shape != shapes[0] or b.shape != shapes[1]:
            return False, (f"expected shapes {shapes[0]} and {shapes[1]}, received {W.shape} and "
                           f"{b.shape}"), "keep the shapes of params"
        return _diagnose(np.concatenate([W.ravel(), b]), "", Expect(want, 1e-10, 1e-12,
                                                                     alternatives=alts))

    return judge


def _ema_runs(seed: int) -> list[tuple[str, int, tuple[int, int], int, float]]:
    runs = [("25 updates, decay 0.9", 80, (3, 2), 25, 0.9),
            ("10 updates, decay 0.5", 81, (2, 4), 10, 0.5),
            ("6 updates, decay 1 (the average keeps the first params)", 82, (2, 2), 6, 1.0)]
    if not seed:
        return runs
    g = make_rng(seed)
    return [(f"{steps} updates, decay {decay:.3g}", 80 + 1000 * seed + i,
             (int(g.integers(1, 5)), int(g.integers(1, 5))), steps, decay)
            for i, (steps, decay) in enumerate(((int(g.integers(10, 40)), float(g.uniform(0.6, 0.99))),
                                                (int(g.integers(4, 12)), float(g.uniform(0.1, 0.6))),
                                                (int(g.integers(3, 8)), 1.0)))]


def check_ema_update(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                     timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(avg, params, decay, n_averaged) -> new avg``: one update of an exponential
    moving average of the weights with the rules of ``torch.optim.swa_utils.AveragedModel``
    and ``get_ema_multi_avg_fn(decay)``: the first update (``n_averaged == 0``) copies
    ``params``; later ones apply :math:`\bar\theta \leftarrow \beta\bar\theta +
    (1-\beta)\theta` (:math:`\beta` = ``decay``). Two single updates (inputs must stay intact),
    then whole runs of updates compared with :class:`edulib.averaging.AveragedParams`."""
    seed = chk.check_int(seed, "seed", low=0)
    g = make_rng(70 + 1000 * seed)
    avg = {"W": g.standard_normal((3, 2)), "b": g.standard_normal(2)}
    params = {"W": g.standard_normal((3, 2)), "b": g.standard_normal(2)}
    a, p = (np.concatenate([d["W"].ravel(), d["b"]]) for d in (avg, params))
    shapes = ((3, 2), (2,))
    cases = [Case("the first update (n_averaged=0), decay 0.9", (avg, params, 0.9, 0),
                  judge=_dict_judge(p.copy(), shapes, [(0.9 * a + 0.1 * p, _EMA_HINTS["no_copy"])],
                                    "the new average")),
             Case("a later update (n_averaged=4), decay 0.9", (avg, params, 0.9, 4),
                  judge=_dict_judge(0.9 * a + 0.1 * p, shapes,
                                    [(0.1 * a + 0.9 * p, _EMA_HINTS["swapped"]),
                                     (a + (p - a) / 5, _EMA_HINTS["swa"]),
                                     (p.copy(), "only the first update (n_averaged == 0) copies")],
                                    "the new average"))]
    for name, case_seed, shape, steps, decay in _ema_runs(seed):
        gc = make_rng(case_seed)
        W0, b0 = gc.standard_normal(shape), gc.standard_normal(shape[1])
        drift = np.linspace(0.0, 1.0, steps)[:, None]
        Ws = 2.0 + drift[:, :, None] + 0.5 * gc.standard_normal((steps, *shape))
        bs = -1.0 + drift + 0.5 * gc.standard_normal((steps, shape[1]))
        want = _ema_reference(W0, b0, Ws, bs, decay)
        alts = []
        for kind, text in _EMA_HINTS.items():
            alt = _ema_variant(W0, b0, Ws, bs, decay, kind)
            if np.all(np.isfinite(alt)) and not np.allclose(alt, want, rtol=1e-9, atol=1e-12):
                alts.append((alt, text))
        cases.append(Case(name, (W0, b0, Ws, bs, decay),
                          Expect(want, 1e-10, 1e-12, alternatives=alts), driver=_drive_ema))
    return _run(_titled("ema_update", seed), fn, cases, ["avg", "params", "decay", "n_averaged"],
                timeout=timeout, verbose=verbose,
                tested="the average after each update vs edulib.averaging.AveragedParams (EMA)",
                label="ema_update")


# ------------------------------------------------------------------ batch normalisation
def _batchnorm_reference(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray,
                         running_var: np.ndarray, momentum: float, eps: float, training: bool,
                         kind: str = "right") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``torch.nn.functional.batch_norm`` on (N, C) inputs, and the classic slips (``kind``).

    Training: normalise with the batch mean and *biased* variance, then move the running
    statistics :math:`r \leftarrow (1-\rho) r + \rho s` towards the batch mean and the
    *unbiased* variance :math:`\frac{m}{m-1}\sigma^2`. Eval: normalise with the running
    statistics and leave them alone."""
    m = x.shape[0]
    rm, rv = running_mean.copy(), running_var.copy()
    if training or kind == "eval_batch_stats":
        mean = x.mean(axis=0)
        var = ((x - mean) ** 2).mean(axis=0)
    else:
        mean, var = rm, rv
    norm_var = var * m / (m - 1) if (kind == "unbiased_normalise" and training) else var
    if kind == "eps_outside":
        x_hat = (x - mean) / (np.sqrt(norm_var) + eps)
    else:
        x_hat = (x - mean) / np.sqrt(norm_var + eps)
    out = gamma * x_hat + beta
    if training or kind == "eval_updates":
        bm = x.mean(axis=0)
        bv = ((x - bm) ** 2).mean(axis=0)
        unbiased = bv if kind == "biased_running" else bv * m / (m - 1)
        if kind == "momentum_reversed":
            rm, rv = momentum * rm + (1 - momentum) * bm, momentum * rv + (1 - momentum) * unbiased
        elif kind != "no_update":
            rm, rv = (1 - momentum) * rm + momentum * bm, (1 - momentum) * rv + momentum * unbiased
    return out, rm, rv


_BN_HINTS = {
    "unbiased_normalise": ("the batch is normalised with the biased variance (divide by m, as "
                           "np.var does); only the running estimate uses the unbiased one, "
                           "times m/(m-1)"),
    "biased_running": ("the running variance moves towards the unbiased batch variance: "
                       "var * m/(m-1)"),
    "momentum_reversed": ("momentum is the weight of the new batch statistic (PyTorch's "
                          "convention): r <- (1 - momentum) * r + momentum * batch_stat"),
    "no_update": "in training mode the running statistics move towards the batch statistics",
    "eval_updates": "in eval mode the running statistics stay as they are: return them unchanged",
    "eval_batch_stats": ("in eval mode normalise with the running statistics, not with the "
                         "batch's"),
    "eps_outside": "eps goes inside the square root: (x - mean) / sqrt(var + eps)",
}


def _batchnorm_inputs(g: np.random.Generator, m: int, d: int) -> tuple[np.ndarray, ...]:
    x = g.uniform(-3.0, 3.0, d) + g.uniform(0.5, 3.0, d) * g.standard_normal((m, d))
    gamma, beta = g.uniform(0.5, 2.0, d), g.standard_normal(d)
    return x, gamma, beta, 0.5 * g.standard_normal(d), g.uniform(0.5, 2.0, d)


def _batchnorm_judge(want: tuple[np.ndarray, ...], alts: list[tuple[np.ndarray, str]]
                     ) -> Callable[[Any], tuple[bool, str, str]]:
    names = ("out", "new_running_mean", "new_running_var")

    def judge(value: Any) -> tuple[bool, str, str]:
        if value is None:
            return False, _as_numbers(None)[1], ""
        if not isinstance(value, (tuple, list)) or len(value) != 3:
            got = f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""
            return False, f"expected (out, new_running_mean, new_running_var), received " \
                          f"{type(value).__name__}{got}", "return the three arrays as a tuple"
        parts = []
        for name, v, w in zip(names, value, want, strict=True):
            arr, why = _as_numbers(v)
            if arr is None:
                return False, f"{name}: {why}", ""
            if arr.shape != w.shape:
                return False, f"{name}: expected shape {w.shape}, received shape {arr.shape}", (
                    "statistics have one entry per feature (a mean over axis 0)")
            parts.append(arr)
        whole = np.concatenate([p.ravel() for p in parts])
        ok, _, hint = _diagnose(whole, "", Expect(np.concatenate([w.ravel() for w in want]), 1e-9,
                                                  1e-12, alternatives=alts))
        if ok:
            return True, "", ""
        for name, arr, w in zip(names, parts, want, strict=True):
            good, msg, own_hint = _diagnose(arr, "", Expect(w, 1e-9, 1e-12))
            if not good:
                return False, f"{name}: {msg}", hint or own_hint
        return False, "", hint

    return judge


def _batchnorm_runs(seed: int) -> list[tuple[str, int, int, float, float, bool]]:
    if not seed:
        return [("training, batch (8, 5)", 8, 5, 0.1, 1e-5, True),
                ("training, batch of 2 (2, 3), momentum 0.3", 2, 3, 0.3, 1e-5, True),
                ("training, eps 0.5, (6, 2)", 6, 2, 0.1, 0.5, True),
                ("eval mode, (7, 4)", 7, 4, 0.1, 1e-5, False)]
    g = make_rng(seed)
    return [("training, hidden", int(g.integers(3, 30)), int(g.integers(1, 8)),
             float(g.uniform(0.02, 0.5)), 1e-5, True),
            ("training, batch of 2, hidden", 2, int(g.integers(1, 8)), float(g.uniform(0.02, 0.5)),
             1e-5, True),
            ("training, large eps, hidden", int(g.integers(3, 12)), int(g.integers(1, 6)),
             float(g.uniform(0.02, 0.5)), float(g.uniform(0.2, 1.0)), True),
            ("eval mode, hidden", int(g.integers(2, 20)), int(g.integers(1, 8)),
             float(g.uniform(0.02, 0.5)), 1e-5, False)]


def check_batchnorm_forward(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                            timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(x, gamma, beta, running_mean, running_var, momentum, eps, training)`` ->
    ``(out, new_running_mean, new_running_var)``: ``torch.nn.BatchNorm1d`` on a batch ``x`` of
    shape (m, C). Training: :math:`\hat x = (x - \mu_B)/\sqrt{\sigma_B^2 + \epsilon}` with the
    batch mean and biased variance, ``out`` = :math:`\gamma\hat x + \beta`, and the running
    statistics :math:`r \leftarrow (1-\rho)r + \rho s` with the batch mean and the *unbiased*
    variance (:math:`\rho` = ``momentum``). Eval: normalise with the running statistics, which
    stay unchanged. Inputs must stay intact."""
    seed = chk.check_int(seed, "seed", low=0)
    cases = []
    for k, (name, m, d, momentum, eps, training) in enumerate(_batchnorm_runs(seed)):
        g = make_rng(90 + k + 1000 * seed)
        args = (*_batchnorm_inputs(g, m, d), momentum, eps, training)
        want = _batchnorm_reference(*args)
        flat = np.concatenate([w.ravel() for w in want])
        alts = []
        for kind, text in _BN_HINTS.items():
            alt = np.concatenate([a.ravel() for a in _batchnorm_reference(*args, kind=kind)])
            if not np.allclose(alt, flat, rtol=1e-9, atol=1e-12):
                alts.append((alt, text))
        cases.append(Case(name, args, judge=_batchnorm_judge(want, alts)))
    return _run(_titled("batchnorm_forward", seed), fn, cases,
                ["x", "gamma", "beta", "running_mean", "running_var", "momentum", "eps", "training"],
                timeout=timeout, verbose=verbose,
                tested="out and running statistics vs torch.nn.BatchNorm1d's rules",
                label="batchnorm_forward")


# ------------------------------------------------------------------ one-cycle schedule
def _one_cycle_reference(total: int, max_lr: float, pct_start: float, div_factor: float,
                         final_div_factor: float) -> np.ndarray:
    from .. import optim, schedules

    opt = optim.SGD({"w": np.zeros(1)}, lr=max_lr)
    sched = schedules.OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=pct_start,
                                 div_factor=div_factor, final_div_factor=final_div_factor,
                                 cycle_momentum=False)
    out = []
    for t in range(total):
        out.append(float(opt.lr))
        if t < total - 1:
            sched.step()
    return np.array(out)


def _one_cycle_variant(total: int, max_lr: float, pct_start: float, div_factor: float,
                       final_div_factor: float, kind: str) -> np.ndarray:
    initial = 0.0 if kind == "from_zero" else max_lr / div_factor
    low = max_lr / final_div_factor if kind == "min_no_div" else max_lr / (div_factor * final_div_factor)
    end1 = {"phase_at_pt": float(pct_start * total),
            "floor_phase": float(math.floor(pct_start * total)) - 1.0}.get(kind, pct_start * total - 1.0)
    end2 = float(total) if kind == "end_at_total" else total - 1.0

    def anneal(a: float, b: float, p: float) -> float:
        if kind == "linear":
            return a + (b - a) * p
        return b + (a - b) / 2.0 * (math.cos(math.pi * p) + 1.0)

    out = []
    for t in range(total):
        if t <= end1:
            out.append(anneal(initial, max_lr, t / end1))
        else:
            out.append(anneal(max_lr, low, (t - end1) / (end2 - end1)))
    return np.array(out)


def _drive_one_cycle(fn: Callable[..., Any], total: int, max_lr: float, pct_start: float,
                     div_factor: float, final_div_factor: float) -> np.ndarray:
    return _schedule_values(fn, "one_cycle_lr", total, total, max_lr, pct_start, div_factor,
                            final_div_factor)


_ONE_CYCLE_HINTS = {
    "linear": "that is the linear anneal: OneCycleLR's default 'cos' follows half a cosine in each phase",
    "phase_at_pt": ("off by one: the warm-up ends (reaches max_lr) at step pct_start * total_steps "
                    "- 1, and the second phase runs from there to total_steps - 1"),
    "floor_phase": ("PyTorch keeps pct_start * total_steps - 1 as a float (it need not be a whole "
                    "step): no int() or floor"),
    "min_no_div": ("the final rate is the initial one divided by final_div_factor: "
                   "max_lr / (div_factor * final_div_factor)"),
    "end_at_total": ("the second phase ends at step total_steps - 1, where the rate reaches "
                     "max_lr / (div_factor * final_div_factor)"),
    "from_zero": "the warm-up starts at max_lr / div_factor, not at 0",
}


def _one_cycle_runs(seed: int) -> list[tuple[int, float, float, float, float]]:
    if not seed:
        return [(100, 0.1, 0.3, 25.0, 1e4), (37, 1.0, 0.25, 10.0, 100.0), (12, 0.01, 0.5, 5.0, 1e3)]
    g = make_rng(seed)
    out = []
    for lo, hi in ((40, 200), (15, 60), (8, 20)):
        total = int(g.integers(lo, hi))
        pct = float(g.uniform(max(0.1, 3.0 / total), 0.5))
        out.append((total, float(10 ** g.uniform(-3, 0)), pct, float(g.uniform(5.0, 50.0)),
                    float(10 ** g.uniform(1, 4))))
    return out


def check_one_cycle_lr(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                       timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(step, total_steps, max_lr, pct_start, div_factor, final_div_factor)``, the
    learning rate of step ``t = 0 .. T-1`` under ``torch.optim.lr_scheduler.OneCycleLR`` (two
    phases, ``anneal_strategy='cos'``): with :math:`e = PT - 1`, a half cosine from
    :math:`\eta_{\max}/d` up to :math:`\eta_{\max}` for :math:`t \le e`, then one down to
    :math:`\eta_{\max}/(d f)` at :math:`t = T - 1`; compared for every ``t`` with
    :class:`edulib.schedules.OneCycleLR`."""
    seed = chk.check_int(seed, "seed", low=0)
    cases = []
    for args in _one_cycle_runs(seed):
        want = _one_cycle_reference(*args)
        alts = []
        for kind, text in _ONE_CYCLE_HINTS.items():
            with np.errstate(all="ignore"):
                alt = _one_cycle_variant(*args, kind)
            if np.all(np.isfinite(alt)) and not np.allclose(alt, want, rtol=1e-9, atol=1e-15):
                alts.append((alt, text))
        name = (f"T={args[0]}, max_lr={args[1]:.3g}, pct_start={args[2]:.3g}, div={args[3]:.3g}, "
                f"final_div={args[4]:.3g}")
        cases.append(Case(name, args, Expect(want, 1e-9, 1e-15, alternatives=alts),
                          driver=_drive_one_cycle))
    return _run(_titled("one_cycle_lr", seed), fn, cases,
                ["step", "total_steps", "max_lr", "pct_start", "div_factor", "final_div_factor"],
                timeout=timeout, verbose=verbose,
                tested="eta_t for every t vs edulib.schedules.OneCycleLR (cos, two phases)",
                label="one_cycle_lr")


# ------------------------------------------------------------------ lab
@recipe
def search_lab_split(seed: int = 0) -> Any:
    """The data a search may use in chapter 05's lab, for digits split ``seed``: the training
    part of :func:`edulib.data.digits` ``(seed=seed)`` split again (75/25, stratified, the same
    seed) into training and validation sets. The grader keeps that split's own validation part,
    ``digits(seed=seed).X_val``, as the test set."""
    from ..data import digits, train_val_split

    seed = chk.check_int(seed, "seed", low=0)
    whole = digits(seed=seed)
    return train_val_split(whole.X_train, whole.y_train, val_fraction=0.25, seed=seed)


def _search_lab_test(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from ..data import digits

    whole = digits(seed=seed)
    return whole.X_val, whole.y_val


def search_lab_baseline(seed: int = 0) -> float:
    """Test accuracy of chapter 05's lab baseline on split ``seed``: ``SoftmaxRegression(64,
    10)`` from ``init_params(seed=0)``, plain SGD at the default-looking η = 0.1 without weight
    decay, 3 epochs of batch 64 on ``search_lab_split(seed).X_train`` (an untuned first try,
    with the budget of one trial)."""
    return _search_lab_baseline(chk.check_int(seed, "seed", low=0))


@functools.lru_cache(maxsize=8)
def _search_lab_baseline(seed: int) -> float:
    from .. import models, optim, train

    split = search_lab_split(seed)
    model = models.SoftmaxRegression(64, 10)
    params = model.init_params(seed=0)
    train.train(model, params, optim.SGD(params, lr=0.1), split, epochs=3, batch_size=64)
    X_test, y_test = _search_lab_test(seed)
    return float(model.accuracy(params, X_test, y_test))


def check_search_lab(fn: Callable[[Any], Any], *, seeds: Sequence[int] = (0, 1), ratio: float = 0.6,
                     requires: Sequence[str] = ("log_uniform",), verbose: bool = True,
                     timeout: float | None = 60.0) -> CheckResult:
    r"""Lab (chapter 05): ``fn(split)`` searches the learning rate and the weight decay of
    ``SoftmaxRegression(64, 10)`` on ``split`` (:func:`search_lab_split`: training and
    validation data only) and returns the params of its best trial. On each split ``seeds`` the
    *test* error of those params (on ``digits(seed).X_val``, which ``fn`` never sees) must be at
    most ``ratio`` times the baseline's (:func:`search_lab_baseline`). One more case per name in
    ``requires``: with the notebook's own function of that name switched off
    (``engine.SWITCHED_OFF``: ``log_uniform`` returns zeros), ``fn`` must miss the target."""
    from ..models import SoftmaxRegression

    seeds = _check_seeds(seeds)
    ratio = chk.check_number(ratio, "ratio", low=0.0, high=1.0, low_open=True)
    model = SoftmaxRegression(64, 10)
    cases = []
    for s in seeds:
        X_test, y_test = _search_lab_test(s)
        base = search_lab_baseline(s)
        need = 1.0 - ratio * (1.0 - base)

        def judge(value: Any, X_test=X_test, y_test=y_test, base=base, need=need
                  ) -> tuple[bool, str, str]:
            if value is None:
                return False, _as_numbers(None)[1], "return the params of the best trial"
            if not isinstance(value, Mapping) or set(value) != {"W", "b"}:
                return False, (f"expected params {{'W': (64, 10), 'b': (10,)}}, received "
                               f"{type(value).__name__}"
                               + (f" with keys {sorted(value)}" if isinstance(value, Mapping) else "")),\
                    "return the params dict of the best trial"
            try:
                p = {k: np.asarray(v, dtype=np.float64) for k, v in value.items()}
                if p["W"].shape != (64, 10) or p["b"].shape != (10,):
                    return False, (f"expected shapes (64, 10) and (10,), received {p['W'].shape} "
                                   f"and {p['b'].shape}"), "did you transpose W?"
                acc = float(model.accuracy(p, X_test, y_test))
            except (TypeError, ValueError) as exc:
                return False, f"params do not fit the model: {exc}", ""
            msg = f"test accuracy {acc:.3f}, needs >= {need:.3f} (baseline {base:.3f})"
            if acc >= need - 1e-9:        # accuracies are multiples of 1/N
                return True, msg, ""
            return False, msg, ("sample the learning rate over the whole range the text gives "
                                "(several decades, log-uniformly) and keep the trial with the best "
                                "validation accuracy")

        cases.append(Case(f"digits split seed={s}", (Recipe("search_lab_split", (s,)),),
                          judge=judge))
    cases += [uses_case(name, (Recipe("search_lab_split", (seeds[0],)),), "tune_digits",
                        cases[0].judge) for name in requires]
    return _run("search lab", fn, cases, ["split"], timeout=timeout, verbose=verbose,
                tested=f"test error <= {ratio:g} x the baseline's", label="tune_digits")
