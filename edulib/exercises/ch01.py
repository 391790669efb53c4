"""Checks of chapter 01 (losses): ``mse_grad``, ``huber_grad``, ``hinge_grad``,
``bce_with_logits``, ``softmax_cross_entropy``, ``softmax_cross_entropy_grad``,
``loss_at_init`` (a number) and the ``robust_line`` lab."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _checks as chk
from .. import losses
from ..backend import rng as make_rng
from .engine import (
    Case,
    CheckResult,
    Expect,
    NoCredit,
    _as_numbers,
    _check_number,
    _check_seeds,
    _common,
    _ref_expect,
    _run,
    _titled,
)


def _regression_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, np.ndarray]]]:
    g = make_rng(seed)
    y_hat, y = g.standard_normal(7), g.standard_normal(7)
    return [
        ("random (7,)", (y_hat, y)),
        ("2-D input (3, 4)", (50.0 * g.standard_normal((3, 4)), g.standard_normal((3, 4)))),
        ("one element", (np.array([0.3]), np.array([-1.2]))),
        ("zero residual", (y.copy(), y.copy())),
    ]


_LSE_HINT = ("overflow at large logits: exp(1000) is inf in float64 -- subtract each row's "
             "maximum before exponentiating (log-sum-exp)")
_BCE_HINT = ("overflow at large logits: exp(-z) is inf for z << 0 -- use "
             "max(z, 0) - z*y + log1p(exp(-|z|))")


def _multiclass_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, np.ndarray]]]:
    g = make_rng(seed)
    return [
        ("random logits (8, 5)", (g.standard_normal((8, 5)), g.integers(0, 5, 8))),
        ("large logits (4, 3) ~1000", (np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 999.0],
                                                 [-1000.0, -1000.0, -999.0],
                                                 [800.0, 800.0, 800.0]]),
                                       np.array([0, 2, 1, 1]))),
        ("one example, 10 classes", (g.standard_normal((1, 10)), np.array([7]))),
        ("uniform logits = ln C", (np.zeros((3, 10)), np.array([0, 4, 9]))),
        ("float32 logits (6, 4)", (g.standard_normal((6, 4)).astype(np.float32),
                                   g.integers(0, 4, 6))),
    ]



def check_mse_grad(fn: Callable[[Any, Any], Any], *, seed: int = 0, verbose: bool = True,
                   rtol: float = 1e-7, atol: float = 1e-10, timeout: float | None = None
                   ) -> CheckResult:
    r"""Check ``fn(y_hat, y)`` = :math:`\partial L/\partial \hat y` of
    :math:`L = \frac1N\sum_i(\hat y_i - y_i)^2`, i.e. :math:`\frac2N(\hat y - y)`."""
    seed, rtol, atol = _common(seed, rtol, atol)
    cases = []
    for name, (a, b) in _regression_cases(seed):
        cases.append(Case(name, (a, b), Expect(losses.mse.grad(a, b), rtol, atol,
                                                 factors={"N": a.size})))
    return _run(_titled("mse_grad", seed), fn, cases, ["y_hat", "y"], timeout=timeout, verbose=verbose,
                tested="dL/dy_hat of the mean squared error", label="mse_grad")


def check_huber_grad(fn: Callable[..., Any], *, delta: float = 1.0, seed: int = 0,
                     verbose: bool = True, rtol: float = 1e-7, atol: float = 1e-10,
                     timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(y_hat, y, delta)`` = gradient of the mean Huber loss:
    :math:`\frac1N \operatorname{clip}(\hat y - y, -\delta, \delta)`."""
    seed, rtol, atol = _common(seed, rtol, atol)
    delta = chk.check_number(delta, "delta", low=0.0, low_open=True)
    cases = []
    for name, (a, b) in _regression_cases(seed):
        r = a - b
        alts = [((r) / a.size, "you never clip: for |r| > delta the gradient is "
                               "delta*sign(r)/N"),
                (np.sign(r) * delta / a.size, "inside |r| <= delta the gradient is r/N, "
                                              "not delta*sign(r)/N")]
        cases.append(Case(name, (a, b, np.float64(delta)),
                           Expect(losses.huber.grad(a, b, delta=delta), rtol, atol,
                                   factors={"N": a.size}, alternatives=alts)))
    return _run(_titled(f"huber_grad (delta={delta:g})", seed), fn, cases, ["y_hat", "y", "delta"],
                timeout=timeout, verbose=verbose, tested="dL/dy_hat of the mean Huber loss",
                label="huber_grad")


def _hinge_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, np.ndarray]]]:
    g = make_rng(seed)
    s = 2.0 * g.standard_normal(10)
    y = np.where(g.uniform(size=10) < 0.5, -1.0, 1.0)
    # keep every margin away from the kink y*s = 1, where the gradient is not defined
    s = np.where(np.abs(y * s - 1.0) < 0.05, s + 0.2 * y, s)
    return [
        ("random scores (10,)", (s, y)),
        ("all margins satisfied", (np.array([3.0, -2.5, 1.5]), np.array([1.0, -1.0, 1.0]))),
        ("all violated (2, 3)", (np.array([[0.5, -0.2, 0.0], [0.9, -3.0, 0.1]]),
                                 np.array([[1.0, 1.0, -1.0], [1.0, 1.0, 1.0]]))),
        ("one example", (np.array([-0.4]), np.array([1.0]))),
    ]


def check_hinge_grad(fn: Callable[[Any, Any], Any], *, seed: int = 0, verbose: bool = True,
                     rtol: float = 1e-7, atol: float = 1e-10, timeout: float | None = None
                     ) -> CheckResult:
    r"""Check ``fn(s, y)`` = :math:`\partial L/\partial s` of the mean binary hinge loss
    :math:`L = \frac1N\sum_i \max(0, 1 - y_i s_i)`, labels ±1:
    :math:`-y_i\,[1 - y_i s_i > 0]/N`."""
    seed, rtol, atol = _common(seed, rtol, atol)
    cases = []
    for name, (s, y) in _hinge_cases(seed):
        active = (1.0 - y * s > 0).astype(float)
        alts = [(-y / s.size, "you forgot the indicator: the gradient is 0 where the margin "
                              "y*s >= 1 is already met"),
                (-y * (y * s < 0) / s.size, "the active set is 1 - y*s > 0 (margin < 1), not "
                                            "y*s < 0 (misclassified)"),
                (-y * (1.0 - active) / s.size, "the indicator is inverted: only examples with "
                                               "1 - y*s > 0 contribute")]
        want = losses.hinge.grad(s, y)
        cases.append(Case(name, (s, y), Expect(want, rtol, atol, factors={"N": s.size},
                                                 alternatives=alts)))
    return _run(_titled("hinge_grad", seed), fn, cases, ["s", "y"], timeout=timeout, verbose=verbose,
                tested="dL/ds of the mean hinge loss, labels +-1", label="hinge_grad")


def _binary_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, np.ndarray]]]:
    g = make_rng(seed)
    return [
        ("random logits (16,)", (g.standard_normal(16), g.integers(0, 2, 16).astype(float))),
        ("large logits +-1000", (np.array([1000.0, -1000.0, 1000.0, -1000.0]),
                                 np.array([1.0, 0.0, 0.0, 1.0]))),
        ("moderate logits +-40", (np.array([40.0, -40.0]), np.array([1.0, 1.0]))),
        ("soft labels", (g.standard_normal(5), g.uniform(0, 1, 5))),
    ]


def check_bce_with_logits(fn: Callable[[Any, Any], Any], *, seed: int = 0,
                          verbose: bool = True, rtol: float = 1e-7, atol: float = 1e-10,
                          timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(z, y)`` = mean binary cross-entropy on logits, finite for any logit:
    :math:`\frac1N\sum_i \max(z_i,0) - z_i y_i + \log(1+e^{-|z_i|})`."""
    seed, rtol, atol = _common(seed, rtol, atol)
    cases = [Case(name, (z, y), Expect(np.asarray(losses.bce_with_logits(z, y)), rtol, atol,
                                         factors={"N": z.size}, overflow_hint=_BCE_HINT))
             for name, (z, y) in _binary_cases(seed)]
    return _run(_titled("bce_with_logits", seed), fn, cases, ["z", "y"], timeout=timeout, verbose=verbose,
                tested="mean binary cross-entropy on logits", label="bce_with_logits")


def check_softmax_cross_entropy(fn: Callable[[Any, Any], Any], *, seed: int = 0,
                                verbose: bool = True, rtol: float = 1e-7, atol: float = 1e-10,
                                timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(z, y)`` = mean softmax cross-entropy, logits (N, C), integer labels (N,):
    :math:`\frac1N\sum_i \log\sum_c e^{z_{ic}} - z_{i y_i}`."""
    seed, rtol, atol = _common(seed, rtol, atol)
    cases = []
    for name, (z, y) in _multiclass_cases(seed):
        z64 = z.astype(np.float64)
        want = losses.softmax_cross_entropy(z64, y)
        n, c = z.shape
        exp = _ref_expect(want, (z,), factors={"N": n, "C": c, "N*C": n * c},
                          overflow_hint=_LSE_HINT)
        exp.alternatives.append((np.asarray(-float(want)), NoCredit(
            "the sign is flipped: the loss is -log softmax(z)[y] = logsumexp(z) - z[y] >= 0")))
        cases.append(Case(name, (z, y), exp))
    return _run(_titled("softmax_cross_entropy", seed), fn, cases, ["z", "y"], timeout=timeout,
                verbose=verbose, tested="mean softmax cross-entropy, logits (N, C), labels (N,)",
                label="softmax_cross_entropy")


def check_softmax_cross_entropy_grad(fn: Callable[[Any, Any], Any], *, seed: int = 0,
                                     verbose: bool = True, rtol: float = 1e-7,
                                     atol: float = 1e-10, timeout: float | None = None
                                     ) -> CheckResult:
    r"""Check ``fn(z, y)`` = :math:`\partial L/\partial z =
    (\mathrm{softmax}(z) - \mathrm{onehot}(y))/N`, shape (N, C)."""
    seed, rtol, atol = _common(seed, rtol, atol)
    cases = []
    for name, (z, y) in _multiclass_cases(seed):
        z64 = z.astype(np.float64)
        n, c = z.shape
        want = losses.softmax_cross_entropy.grad(z64, y)
        p = losses.softmax(z64, axis=1)
        onehot = p - want * n
        alts = [(p / n, "you left out the one-hot term: subtract 1 at each example's label"),
                ((losses.softmax(z64, axis=0) - onehot) / n,
                 "softmax over the wrong axis: normalise each row (axis=1), one per example")]
        exp = _ref_expect(want, (z,), factors={"N": n, "C": c, "N*C": n * c},
                          overflow_hint=_LSE_HINT, alternatives=alts)
        cases.append(Case(name, (z, y), exp))
    return _run(_titled("softmax_cross_entropy_grad", seed), fn, cases, ["z", "y"], timeout=timeout,
                verbose=verbose, tested="dL/dz of the mean softmax cross-entropy, shape (N, C)",
                label="softmax_cross_entropy_grad")



def check_loss_at_init(value: Any, *, n_classes: int = 10, verbose: bool = True) -> CheckResult:
    r"""Check a number: the softmax cross-entropy of all-zero logits over ``n_classes`` classes,
    :math:`\ln C` (every class gets probability 1/C), to 4 significant digits."""
    c = chk.check_int(n_classes, "n_classes", low=2)
    want = math.log(c)
    wrong = [(1.0 / c, "that is the probability 1/C; the loss is -log of it"),
             (math.log10(c), "that is log10(C): cross-entropy uses the natural log"),
             (-want, "the loss is -log(1/C) = +ln C, a positive number"),
             (math.log2(c), "that is log2(C) (bits): use the natural log"),
             (0.0, "zero logits do not give zero loss: every class gets probability 1/C")]
    return _check_number(f"loss_at_init (C={c})", value, "loss_at_init", want, 5e-4, wrong,
                         "softmax cross-entropy of zero logits", verbose)


def _line_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from ..data import regression_with_outliers

    return regression_with_outliers(n=60, n_outliers=8, seed=seed)


def _clean_rmse(x: np.ndarray, y: np.ndarray, out: np.ndarray, slope: float, b: float) -> float:
    keep = ~out
    return float(np.sqrt(np.mean((slope * x[keep] + b - y[keep]) ** 2)))


@functools.lru_cache(maxsize=8)
def _robust_line_baseline(seed: int) -> float:
    x, y, out = _line_data(seed)
    A = np.stack([x, np.ones_like(x)], axis=1)
    w = np.linalg.lstsq(A, y, rcond=None)[0]
    return _clean_rmse(x, y, out, float(w[0]), float(w[1]))


def robust_line_baseline(seed: int = 0) -> float:
    """Clean-point RMSE of the least-squares line on the lab's data set ``seed`` (the baseline
    the chapter 01 lab must beat)."""
    return _robust_line_baseline(chk.check_int(seed, "seed", low=0))


def check_robust_line(fn: Callable[[Any, Any], Any], *, seeds: Sequence[int] = (0, 1, 2),
                      ratio: float = 0.4, verbose: bool = True, timeout: float | None = 30.0
                      ) -> CheckResult:
    r"""Lab (chapter 01): ``fn(x, y)`` fits a line to data with outliers and returns
    ``(slope, intercept)``. On each data set ``seeds`` (seeded, 8 outliers out of 60 points),
    the line's RMSE on the clean points must be at most ``ratio`` times the least-squares
    line's (the baseline :func:`robust_line_baseline`)."""
    seeds = _check_seeds(seeds)
    ratio = chk.check_number(ratio, "ratio", low=0.0, high=1.0, low_open=True)
    cases = []
    for s in seeds:
        x, y, out = _line_data(s)
        base = robust_line_baseline(s)

        def judge(value: Any, x=x, y=y, out=out, base=base) -> tuple[bool, str, str]:
            arr, why = _as_numbers(value)
            if arr is None:
                return False, why, "return the two numbers (slope, intercept)"
            if arr.shape != (2,):
                return False, f"expected (slope, intercept), received shape {arr.shape}", ""
            if not np.all(np.isfinite(arr)):
                return False, f"received {arr.tolist()}", "the fit diverged: smaller step?"
            rmse = _clean_rmse(x, y, out, float(arr[0]), float(arr[1]))
            msg = (f"clean-point RMSE {rmse:.3f}, needs <= {ratio * base:.3f} "
                   f"({ratio:g} x least squares' {base:.3f})")
            if rmse <= ratio * base:
                return True, msg, ""
            hint = ("no better than least squares: a squared loss lets the outliers pull the "
                    "line; try MAE or Huber" if rmse >= 0.9 * base else
                    "better than least squares but not enough: a smaller delta, or more steps")
            return False, msg, hint

        cases.append(Case(f"data set seed={s}", (x, y), judge=judge))
    return _run("robust_line lab", fn, cases, ["x", "y"], timeout=timeout, verbose=verbose,
                tested=f"clean-point RMSE <= {ratio:g} x the least-squares line's",
                label="fit_line")
