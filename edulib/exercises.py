r"""Self-check helpers for the exercises, shared by learners and auto-graders.

Each ``check_*`` function calls the learner's function on seeded random inputs and on edge
cases (large logits, a single example, float32), compares with the reference in
:mod:`edulib.losses` and returns a :class:`CheckResult`:

>>> res = check_mse_grad(my_mse_grad)      # prints "PASS ..." or "FAIL ..." with what differed
>>> bool(res), res.score                    # (True, 1.0) for a correct answer

A wrong answer never raises (an exception inside the learner's code counts as a failed case);
only bad arguments to the helper itself raise (``TypeError`` when ``fn`` is not callable).
Learners' functions receive and return NumPy arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks as chk
from . import losses
from .backend import rng as make_rng

__all__ = [
    "CHECKS",
    "CheckResult",
    "check_bce_with_logits",
    "check_huber_grad",
    "check_mse_grad",
    "check_softmax_cross_entropy",
    "check_softmax_cross_entropy_grad",
]


@dataclass
class CheckResult:
    """Outcome of a self-check: truthy when every case passed.

    ``failures`` holds one human-readable line per failed case (what was expected, what was
    received, where they differ); ``score`` is the fraction of cases passed.
    """

    name: str
    n_cases: int
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def score(self) -> float:
        return (self.n_cases - len(self.failures)) / self.n_cases

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.passed:
            return f"PASS {self.name}: all {self.n_cases} cases match the reference."
        lines = [f"FAIL {self.name}: {len(self.failures)} of {self.n_cases} cases differ."]
        lines += [f"  - {f}" for f in self.failures]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


Case = tuple[str, tuple[Any, ...]]


def _compare(name: str, got: Any, want: np.ndarray, rtol: float, atol: float) -> str | None:
    """None when ``got`` matches ``want``, else a sentence saying how it differs."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{name}: expected an array of numbers, received {type(got).__name__}"
    if got.shape != want.shape:
        return f"{name}: expected shape {want.shape}, received shape {got.shape}"
    if not np.all(np.isfinite(got)):
        bad = int(np.sum(~np.isfinite(got)))
        return (f"{name}: {bad} non-finite value(s) (nan/inf) where the reference is finite "
                f"-- is the computation numerically stable for large inputs?")
    diff = np.abs(got - want)
    tol = atol + rtol * np.abs(want)
    if np.all(diff <= tol):
        return None
    k = int(np.argmax(diff - tol))
    where = f" at index {np.unravel_index(k, want.shape)}" if want.ndim else ""
    return (f"{name}: expected {want.reshape(-1)[k]:.6g}, received {got.reshape(-1)[k]:.6g}"
            f"{where} (max abs difference {diff.max():.3g})")


def _run(title: str, fn: Callable[..., Any], reference: Callable[..., Any], cases: list[Case],
         rtol: float, atol: float, verbose: bool) -> CheckResult:
    if not callable(fn):
        raise TypeError(f"fn must be a function, received {type(fn).__name__}")
    chk.check_number(rtol, "rtol", low=0.0)
    chk.check_number(atol, "atol", low=0.0)
    res = CheckResult(name=title, n_cases=len(cases))
    for case_name, args in cases:
        want = np.asarray(reference(*args), dtype=np.float64)
        try:
            with np.errstate(all="ignore"):
                got = fn(*(np.array(a, copy=True) for a in args))
        except Exception as exc:  # noqa: BLE001 - a crash in learner code is a failed case
            res.failures.append(f"{case_name}: raised {type(exc).__name__}: {exc}")
            continue
        msg = _compare(case_name, got, want, rtol, atol)
        if msg:
            res.failures.append(msg)
    if verbose:
        print(res)
    return res


# --------------------------------------------------------------------------- inputs
def _regression_cases(seed: int) -> list[Case]:
    g = make_rng(seed)
    y_hat, y = g.standard_normal(7), g.standard_normal(7)
    big = 50.0 * g.standard_normal((3, 4))
    return [
        ("random (7,)", (y_hat, y)),
        ("2-D input (3, 4)", (big, g.standard_normal((3, 4)))),
        ("one element", (np.array([0.3]), np.array([-1.2]))),
        ("zero residual", (y.copy(), y.copy())),
    ]


def _binary_cases(seed: int) -> list[Case]:
    g = make_rng(seed)
    return [
        ("random logits (16,)", (g.standard_normal(16), g.integers(0, 2, 16).astype(float))),
        ("large logits +-1000", (np.array([1000.0, -1000.0, 1000.0, -1000.0]),
                                 np.array([1.0, 0.0, 0.0, 1.0]))),
        ("moderate logits +-40", (np.array([40.0, -40.0]), np.array([1.0, 1.0]))),
        ("soft labels", (g.standard_normal(5), g.uniform(0, 1, 5))),
    ]


def _multiclass_cases(seed: int) -> list[Case]:
    g = make_rng(seed)
    return [
        ("random logits (8, 5)", (g.standard_normal((8, 5)), g.integers(0, 5, 8))),
        ("large logits (4, 3) ~1000", (np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 999.0],
                                                 [-1000.0, -1000.0, -999.0],
                                                 [800.0, 800.0, 800.0]]),
                                       np.array([0, 2, 1, 1]))),
        ("one example, 10 classes", (g.standard_normal((1, 10)), np.array([7]))),
        ("uniform logits = ln C", (np.zeros((3, 10)), np.array([0, 4, 9]))),
    ]


# --------------------------------------------------------------------------- checks
def check_mse_grad(fn: Callable[[Any, Any], Any], *, seed: int = 0, verbose: bool = True,
                   rtol: float = 1e-7, atol: float = 1e-10) -> CheckResult:
    r"""Check ``fn(y_hat, y)`` = :math:`\partial L/\partial \hat y` of
    :math:`L = \frac1N\sum_i(\hat y_i - y_i)^2`, i.e. :math:`\frac2N(\hat y - y)`."""
    return _run("mse_grad", fn, lambda a, b: losses.mse.grad(a, b), _regression_cases(seed),
                rtol, atol, verbose)


def check_huber_grad(fn: Callable[..., Any], *, delta: float = 1.0, seed: int = 0,
                     verbose: bool = True, rtol: float = 1e-7, atol: float = 1e-10
                     ) -> CheckResult:
    r"""Check ``fn(y_hat, y, delta)`` = gradient of the mean Huber loss:
    :math:`\frac1N \operatorname{clip}(\hat y - y, -\delta, \delta)`."""
    cases = [(n, (*args, np.float64(delta))) for n, args in _regression_cases(seed)]
    return _run(f"huber_grad (delta={delta})", fn,
                lambda a, b, d: losses.huber.grad(a, b, delta=float(d)), cases, rtol, atol,
                verbose)


def check_bce_with_logits(fn: Callable[[Any, Any], Any], *, seed: int = 0,
                          verbose: bool = True, rtol: float = 1e-7, atol: float = 1e-10
                          ) -> CheckResult:
    r"""Check ``fn(z, y)`` = mean binary cross-entropy on logits, finite for any logit:
    :math:`\frac1N\sum_i \max(z_i,0) - z_i y_i + \log(1+e^{-|z_i|})`."""
    return _run("bce_with_logits", fn, lambda z, y: losses.bce_with_logits(z, y),
                _binary_cases(seed), rtol, atol, verbose)


def check_softmax_cross_entropy(fn: Callable[[Any, Any], Any], *, seed: int = 0,
                                verbose: bool = True, rtol: float = 1e-7, atol: float = 1e-10
                                ) -> CheckResult:
    r"""Check ``fn(z, y)`` = mean softmax cross-entropy, logits (N, C), integer labels (N,):
    :math:`\frac1N\sum_i \log\sum_c e^{z_{ic}} - z_{i y_i}`."""
    return _run("softmax_cross_entropy", fn, lambda z, y: losses.softmax_cross_entropy(z, y),
                _multiclass_cases(seed), rtol, atol, verbose)


def check_softmax_cross_entropy_grad(fn: Callable[[Any, Any], Any], *, seed: int = 0,
                                     verbose: bool = True, rtol: float = 1e-7,
                                     atol: float = 1e-10) -> CheckResult:
    r"""Check ``fn(z, y)`` = :math:`\partial L/\partial z =
    (\mathrm{softmax}(z) - \mathrm{onehot}(y))/N`, shape (N, C)."""
    return _run("softmax_cross_entropy_grad", fn,
                lambda z, y: losses.softmax_cross_entropy.grad(z, y), _multiclass_cases(seed),
                rtol, atol, verbose)


#: every check by exercise name (for an auto-grader looping over a submission)
CHECKS: dict[str, Callable[..., CheckResult]] = {
    "mse_grad": check_mse_grad,
    "huber_grad": check_huber_grad,
    "bce_with_logits": check_bce_with_logits,
    "softmax_cross_entropy": check_softmax_cross_entropy,
    "softmax_cross_entropy_grad": check_softmax_cross_entropy_grad,
}
