"""Checks of chapter 03 (adaptive methods): ``momentum_step``, ``adam_step``,
``warmup_cosine``, ``mu_star`` (a number) and the ``adaptive_lab``. Steps and schedules are
checked over whole trajectories: a driver calls the learner's function step after step inside
the sandboxed child, and the trajectory is compared with edulib.optim / edulib.schedules."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import _checks as chk
from ..backend import rng as make_rng
from .engine import (
    Case,
    CheckResult,
    Expect,
    NoCredit,
    Recipe,
    _as_numbers,
    _check_number,
    _check_seeds,
    _diagnose,
    _digits_split,
    _eigen_range,
    _returned,
    _run,
    _schedule_values,
    _titled,
    recipe,
    uses_case,
)


def _quad_grads(seed: int, shape: tuple[int, ...], steps: int, scale: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """theta0, curvatures and per-step noise of the gradient g_t = c * theta + noise_t."""
    g = make_rng(seed)
    theta0 = g.standard_normal(shape)
    curv = g.uniform(0.5, 3.0, shape)
    noise = scale * 0.3 * g.standard_normal((steps, *shape))
    return theta0, scale * curv, noise


# ------------------------------------------------------------------ momentum
def _halved(lr: float, t: int, steps: int) -> float:
    """The learning rate of step t (from 1): ``lr``, halved for the second half of the run (a
    step schedule tells torch's buffer from the textbook's, whose paths agree at constant lr)."""
    return lr if t <= steps // 2 else 0.5 * lr


def _momentum_variant(theta0: np.ndarray, curv: np.ndarray, noise: np.ndarray, lr0: float,
                      mu: float, kind: str = "torch") -> np.ndarray:
    theta, b, out = theta0.copy(), np.zeros_like(theta0), []
    for t, n in enumerate(noise, start=1):
        lr = _halved(lr0, t, len(noise))
        g = curv * theta + n
        if kind == "torch":
            b = mu * b + g
            theta = theta - lr * b
        elif kind == "ema":
            b = mu * b + (1.0 - mu) * g
            theta = theta - lr * b
        elif kind == "plain":
            theta = theta - lr * g
        elif kind == "nesterov":
            b = mu * b + g
            theta = theta - lr * (g + mu * b)
        elif kind == "old_buffer":
            theta = theta - lr * b
            b = mu * b + g
        elif kind == "ascent":
            b = mu * b + g
            theta = theta + lr * b
        elif kind == "textbook":
            b = mu * b - lr * g
            theta = theta + b
        out.append(theta)
    return np.stack(out)


def _momentum_reference(theta0: np.ndarray, curv: np.ndarray, noise: np.ndarray, lr: float,
                        mu: float) -> np.ndarray:
    from .. import optim

    params = {"theta": theta0.copy()}
    opt = optim.SGD(params, lr=lr, momentum=mu)
    out = []
    for t, n in enumerate(noise, start=1):
        opt.lr = _halved(lr, t, len(noise))
        opt.step({"theta": curv * params["theta"] + n})
        out.append(params["theta"].copy())
    return np.stack(out)


def _drive_momentum(fn: Callable[..., Any], theta0: np.ndarray, curv: np.ndarray,
                    noise: np.ndarray, lr: float, mu: float) -> np.ndarray:
    theta, b, out = theta0.copy(), np.zeros_like(theta0), []
    for t, n in enumerate(noise, start=1):
        g = curv * theta + n
        theta, b = _returned(fn(theta, b, g, _halved(lr, t, len(noise)), mu), 2,
                             "momentum_step", t)
        out.append(theta.copy())   # the next call may change theta in place
    return np.stack(out)


_MOMENTUM_HINTS = {
    "ema": "you averaged b = mu*b + (1 - mu)*g (an EMA, dampening): torch's buffer is b = mu*b + g",
    "plain": "momentum is ignored: theta moves by lr*g only -- update b and step along b",
    "nesterov": "that is Nesterov's step theta -= lr*(g + mu*b); the plain form is theta -= lr*b",
    "old_buffer": "theta moved along the old buffer: update b = mu*b + g first, then theta -= lr*b",
    "ascent": NoCredit("the sign: theta moved uphill (theta += lr*b); the step is theta -= lr*b"),
    "textbook": ("that is the textbook form b = mu*b - lr*g, theta += b: it walks the same path "
                 "while lr stays constant, but torch keeps b = mu*b + g and steps theta -= lr*b "
                 "(the buffers differ, and so do the paths once lr changes, as it does here)"),
}


def check_momentum_step(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                        timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(theta, b, g, lr, mu) -> (theta_new, b_new)``: one step of SGD with momentum
    in PyTorch's form :math:`b \leftarrow \mu b + g,\ \theta \leftarrow \theta - \eta b`
    (η = ``lr``, μ = ``mu``, :math:`b_0 = 0`), compared over whole trajectories (gradients
    :math:`g_t = c\odot\theta_t + \xi_t`, η halved for the second half of each run) with
    :class:`edulib.optim.SGD` ``(lr, momentum)``. ``seed`` draws other inputs."""
    seed = chk.check_int(seed, "seed", low=0)
    cases: list[Case] = []
    # one step from a non-zero buffer, called directly (inputs must stay intact)
    g0 = make_rng(30 + 1000 * seed)
    theta, b, grad = g0.standard_normal(5), g0.standard_normal(5), g0.standard_normal(5)
    want_b = 0.9 * b + grad
    want = np.concatenate([theta - 0.1 * want_b, want_b])

    def judge_one(value: Any) -> tuple[bool, str, str]:
        try:
            th, bb = _returned(value, 2, "momentum_step", 1)
        except ValueError as exc:
            return False, str(exc), ""
        if th.shape != (5,) or bb.shape != (5,):
            return False, f"expected two arrays of shape (5,), received {th.shape} and {bb.shape}", ""
        alts = [(np.concatenate([theta - 0.1 * (0.9 * b + 0.1 * grad), 0.9 * b + 0.1 * grad]),
                 _MOMENTUM_HINTS["ema"]),
                (np.concatenate([theta - 0.1 * b, want_b]), _MOMENTUM_HINTS["old_buffer"]),
                (np.concatenate([theta + 0.1 * want_b, want_b]), _MOMENTUM_HINTS["ascent"]),
                (np.concatenate([theta + 0.9 * b - 0.1 * grad, 0.9 * b - 0.1 * grad]),
                 _MOMENTUM_HINTS["textbook"])]
        return _diagnose(np.concatenate([th, bb]), "", Expect(want, 1e-10, 1e-12,
                                                               alternatives=alts))

    cases.append(Case("one step, b != 0 (theta and b)", (theta, b, grad, 0.1, 0.9),
                      judge=judge_one))
    for name, (case_seed, shape, steps, lr, mu) in {
            "20 steps, (6,), lr=0.05, mu=0.9": (31, (6,), 20, 0.05, 0.9),
            "15 steps, (3, 4), lr=0.1, mu=0.5": (32, (3, 4), 15, 0.1, 0.5),
            "10 steps, (4,), lr=0.2, mu=0": (33, (4,), 10, 0.2, 0.0)}.items():
        theta0, curv, noise = _quad_grads(case_seed + 1000 * seed, shape, steps, 1.0)
        want_traj = _momentum_reference(theta0, curv, noise, lr, mu)
        alts = []
        for kind, text in _MOMENTUM_HINTS.items():
            alt = _momentum_variant(theta0, curv, noise, lr, mu, kind)
            if not np.allclose(alt, want_traj, rtol=1e-9, atol=1e-12):
                alts.append((alt, text))
        cases.append(Case(name, (theta0, curv, noise, lr, mu),
                          Expect(want_traj, 1e-9, 1e-12, alternatives=alts), driver=_drive_momentum))
    return _run(_titled("momentum_step", seed), fn, cases, ["theta", "b", "g", "lr", "mu"],
                       timeout=timeout, verbose=verbose,
                       tested="theta after each step vs edulib.optim.SGD(lr, momentum)",
                       label="momentum_step")


# ------------------------------------------------------------------ Adam
def _adam_variant(theta0: np.ndarray, curv: np.ndarray, noise: np.ndarray, lr: float,
                  b1: float, b2: float, eps: float, kind: str = "right") -> np.ndarray:
    theta, m, v, out = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0), []
    for t, n in enumerate(noise, start=1):
        g = curv * theta + n
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mh, vh = m / (1 - b1**t), v / (1 - b2**t)
        if kind == "right":
            theta = theta - lr * mh / (np.sqrt(vh) + eps)
        elif kind == "no_bias_correction":
            theta = theta - lr * m / (np.sqrt(v) + eps)
        elif kind == "eps_inside":
            theta = theta - lr * mh / np.sqrt(vh + eps)
        elif kind == "only_m_corrected":
            theta = theta - lr * mh / (np.sqrt(v) + eps)
        elif kind == "no_sqrt":
            theta = theta - lr * mh / (vh + eps)
        out.append(theta)
    return np.stack(out)


def _adam_reference(theta0: np.ndarray, curv: np.ndarray, noise: np.ndarray, lr: float,
                    b1: float, b2: float, eps: float) -> np.ndarray:
    from .. import optim

    params = {"theta": theta0.copy()}
    opt = optim.Adam(params, lr=lr, betas=(b1, b2), eps=eps)
    out = []
    for n in noise:
        opt.step({"theta": curv * params["theta"] + n})
        out.append(params["theta"].copy())
    return np.stack(out)


def _drive_adam(fn: Callable[..., Any], theta0: np.ndarray, curv: np.ndarray, noise: np.ndarray,
                lr: float, b1: float, b2: float, eps: float) -> np.ndarray:
    theta, m, v, out = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0), []
    for t, n in enumerate(noise, start=1):
        g = curv * theta + n
        theta, m, v = _returned(fn(theta, m, v, g, t, lr, b1, b2, eps), 3, "adam_step", t)
        out.append(theta.copy())   # the next call may change theta in place
    return np.stack(out)


_ADAM_HINTS = {
    "no_bias_correction": "missing bias correction: divide m by (1 - beta1**t) and v by "
                          "(1 - beta2**t) before the step",
    "eps_inside": "eps inside the square root: the step is lr * m_hat / (sqrt(v_hat) + eps), "
                  "eps added after the root",
    "only_m_corrected": "only m is bias-corrected: v needs v / (1 - beta2**t) too",
    "no_sqrt": "missing square root: divide by sqrt(v_hat) + eps",
}


def check_adam_step(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                    timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(theta, m, v, g, t, lr, beta1, beta2, eps) -> (theta, m, v)``: step
    :math:`t = 1, 2, \dots` of Adam,
    :math:`m \leftarrow \beta_1 m + (1-\beta_1)g`, :math:`v \leftarrow \beta_2 v + (1-\beta_2)g^2`,
    :math:`\hat m = m/(1-\beta_1^t)`, :math:`\hat v = v/(1-\beta_2^t)`,
    :math:`\theta \leftarrow \theta - \eta\,\hat m/(\sqrt{\hat v} + \epsilon)`, compared over
    trajectories with :class:`edulib.optim.Adam`. A large ε (1e-3 with gradients near 1e-3) tells
    "ε inside the root" apart."""
    seed = chk.check_int(seed, "seed", low=0)
    cases: list[Case] = []
    g0 = make_rng(40 + 1000 * seed)
    theta, grad = g0.standard_normal(4), g0.standard_normal(4)
    m, v = 0.1 * g0.standard_normal(4), 0.05 * g0.uniform(0.1, 1.0, 4)
    m1, v1 = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad**2
    step3 = theta - 0.01 * (m1 / (1 - 0.9**3)) / (np.sqrt(v1 / (1 - 0.999**3)) + 1e-8)
    want = np.concatenate([step3, m1, v1])

    def judge_one(value: Any) -> tuple[bool, str, str]:
        try:
            th, mm, vv = _returned(value, 3, "adam_step", 3)
        except ValueError as exc:
            return False, str(exc), ""
        if not th.shape == mm.shape == vv.shape == (4,):
            return False, (f"expected three arrays of shape (4,), received {th.shape}, "
                           f"{mm.shape} and {vv.shape}"), ""
        alts = [(np.concatenate([theta - 0.01 * m1 / (np.sqrt(v1) + 1e-8), m1, v1]),
                 _ADAM_HINTS["no_bias_correction"])]
        return _diagnose(np.concatenate([th, mm, vv]), "", Expect(want, 1e-9, 1e-12,
                                                                    alternatives=alts))

    cases.append(Case("step t=3 from given m, v (theta, m, v)",
                      (theta, m, v, grad, 3, 0.01, 0.9, 0.999, 1e-8), judge=judge_one))
    for name, (case_seed, shape, steps, lr, b1, b2, eps, scale) in {
            "20 steps, (5,), defaults, lr=0.05": (41, (5,), 20, 0.05, 0.9, 0.999, 1e-8, 1.0),
            "10 steps, (2, 3), betas (0.8, 0.99)": (42, (2, 3), 10, 0.1, 0.8, 0.99, 1e-8, 1.0),
            "15 steps, eps=1e-3, gradients ~1e-3": (43, (4,), 15, 0.01, 0.9, 0.999, 1e-3, 1e-3),
            "12 steps, eps=0.1, (3,)": (44, (3,), 12, 0.05, 0.9, 0.99, 0.1, 0.5)}.items():
        theta0, curv, noise = _quad_grads(case_seed + 1000 * seed, shape, steps, scale)
        want_traj = _adam_reference(theta0, curv, noise, lr, b1, b2, eps)
        alts = []
        for kind, text in _ADAM_HINTS.items():
            alt = _adam_variant(theta0, curv, noise, lr, b1, b2, eps, kind)
            if not np.allclose(alt, want_traj, rtol=1e-7, atol=1e-10):
                alts.append((alt, text))
        cases.append(Case(name, (theta0, curv, noise, lr, b1, b2, eps),
                          Expect(want_traj, 1e-7, 1e-10, alternatives=alts),
                          driver=_drive_adam))
    return _run(_titled("adam_step", seed), fn, cases,
                       ["theta", "m", "v", "g", "t", "lr", "beta1", "beta2", "eps"],
                       timeout=timeout, verbose=verbose,
                       tested="theta after each step vs edulib.optim.Adam", label="adam_step")


# ------------------------------------------------------------------ warm-up + cosine
def _warmup_cosine_reference(lr0: float, warmup: int, total: int, start_factor: float
                             ) -> np.ndarray:
    from .. import optim, schedules

    opt = optim.SGD({"w": np.zeros(1)}, lr=lr0)
    warm = schedules.LinearLR(opt, start_factor=start_factor, total_iters=warmup)
    cos = schedules.CosineAnnealingLR(opt, T_max=total - warmup)
    sched = schedules.SequentialLR(opt, [warm, cos], milestones=[warmup])
    out = []
    for _ in range(total):
        out.append(float(opt.lr))
        sched.step()
    return np.array(out)


def _warmup_cosine_variant(lr0: float, warmup: int, total: int, f: float, kind: str) -> np.ndarray:
    t = np.arange(total, dtype=np.float64)
    span, shift = total - warmup, warmup
    ramp = lr0 * (f + (1 - f) * t / warmup)
    if kind == "cosine_over_total":
        span = total
    elif kind == "cosine_not_shifted":
        shift = 0
    elif kind == "ramp_one_early":
        ramp = lr0 * (f + (1 - f) * np.minimum(t + 1, warmup) / warmup)
    elif kind == "ramp_from_zero":
        ramp = lr0 * t / warmup
    elif kind == "ramp_over_w_minus_1" and warmup > 1:
        ramp = lr0 * (f + (1 - f) * t / (warmup - 1))
    elif kind == "cosine_span_minus_1" and span > 1:
        span -= 1
    elif kind == "cosine_one_late":
        shift = warmup - 1
    cos = 0.5 * lr0 * (1 + np.cos(np.pi * (t - shift) / span))
    return np.where(t < warmup, ramp, cos)


def _drive_schedule(fn: Callable[..., Any], lr0: float, warmup: int, total: int,
                    start_factor: float) -> np.ndarray:
    return _schedule_values(fn, "warmup_cosine", total, lr0, warmup, total, start_factor)


_SCHEDULE_HINTS = {
    "cosine_over_total": "the cosine runs over T - warmup steps: use cos(pi*(t - warmup)/(T - warmup))",
    "cosine_not_shifted": "the cosine starts when the warm-up ends: use t - warmup, not t",
    "ramp_one_early": "the warm-up is one step ahead: eta_t = lr0*(f + (1 - f)*t/warmup), t from 0",
    "ramp_from_zero": "the warm-up starts at start_factor*lr0, not at 0",
    "ramp_over_w_minus_1": "off by one: the warm-up divides t by warmup (t = warmup reaches lr0), "
                           "not by warmup - 1",
    "cosine_span_minus_1": "off by one: the cosine spans T - warmup steps and reaches 0 at t = T "
                           "(one step after the last), not at t = T - 1",
    "cosine_one_late": "off by one: at t = warmup the cosine starts at lr0, cos(0) = 1: use "
                       "t - warmup, not t - warmup + 1",
}


def check_warmup_cosine(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                        timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(t, lr0, warmup, total, start_factor) -> η_t`` for ``t = 0..total-1``:
    :math:`\eta_t = \eta_0\bigl(f + (1-f)\,t/w\bigr)` for :math:`t < w` and
    :math:`\eta_t = \tfrac12\eta_0\bigl(1 + \cos(\pi (t - w)/(T - w))\bigr)` for :math:`t \ge w`
    (:math:`w` = ``warmup``, :math:`T` = ``total``, :math:`f` = ``start_factor``), compared with
    :class:`edulib.schedules.SequentialLR` of ``LinearLR(start_factor, total_iters=w)`` and
    ``CosineAnnealingLR(T_max=T - w)`` with ``milestones=[w]``."""
    seed = chk.check_int(seed, "seed", low=0)
    runs = [(0.1, 5, 50, 0.1), (0.003, 10, 30, 0.01), (1.0, 1, 10, 0.5), (0.02, 8, 9, 0.25)]
    if seed:            # other schedules of the same four kinds (the last two: warm-up 1, T - 1)
        g = make_rng(seed)
        lr0s = 10.0 ** g.uniform(-3.0, 0.0, 4)
        fs = g.uniform(0.01, 0.5, 4)
        t1, t2, t3, t4 = (int(v) for v in g.integers([20, 15, 5, 4], [80, 40, 20, 12]))
        w1, w2 = int(g.integers(2, t1 // 3)), int(g.integers(2, t2 - 2))
        runs = [(float(lr0s[0]), w1, t1, float(fs[0])), (float(lr0s[1]), w2, t2, float(fs[1])),
                (float(lr0s[2]), 1, t3, float(fs[2])), (float(lr0s[3]), t4 - 1, t4, float(fs[3]))]
    cases: list[Case] = []
    for args in runs:
        name = f"lr0={args[0]:.3g}, warmup {args[1]} of {args[2]}, f={args[3]:.3g}"
        want = _warmup_cosine_reference(*args)
        alts = []
        for kind, text in _SCHEDULE_HINTS.items():
            alt = _warmup_cosine_variant(*args, kind)
            if not np.allclose(alt, want, rtol=1e-9, atol=1e-14):
                alts.append((alt, text))
        cases.append(Case(name, args, Expect(want, 1e-9, 1e-14, alternatives=alts),
                          driver=_drive_schedule))
    return _run(_titled("warmup_cosine", seed), fn, cases, ["t", "lr0", "warmup", "total", "start_factor"],
                       timeout=timeout, verbose=verbose,
                       tested="eta_t for every t vs SequentialLR(LinearLR, CosineAnnealingLR)",
                       label="warmup_cosine")


# ------------------------------------------------------------------ optimal momentum
@recipe
def valley_matrix(seed: int = 3) -> np.ndarray:
    """The quadratic's matrix A of chapter 03's ``mu_star`` exercise: eigenvalues 1, 4, 100 in
    a random basis for seed 3 (the notebook's); other seeds draw other condition numbers."""
    g = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(g.standard_normal((3, 3)))
    eigs = [1.0, 4.0, 100.0] if seed == 3 else [1.0, float(g.uniform(2.0, 10.0)),
                                                 float(g.uniform(20.0, 400.0))]
    return Q @ np.diag(eigs) @ Q.T


def check_mu_star(value: Any, A: Any, *, verbose: bool = True) -> CheckResult:
    r"""Check a number: the optimal momentum of the heavy ball on :math:`f(x) = \tfrac12
    x^\top A x`, :math:`\mu^* = \bigl(\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}\bigr)^2` with
    :math:`\kappa = \lambda_{max}/\lambda_{min}` (relative tolerance 1e-4)."""
    lmin, lmax = _eigen_range(A)
    kappa = lmax / lmin
    r = (math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0)
    wrong = [(r, "that is (sqrt(kappa) - 1)/(sqrt(kappa) + 1), the convergence rate: mu* is its "
                 "square"),
             ((kappa - 1.0) / (kappa + 1.0), "that is (kappa - 1)/(kappa + 1), plain GD's rate: "
                                             "mu* uses sqrt(kappa), squared"),
             (((kappa - 1.0) / (kappa + 1.0)) ** 2, "use sqrt(kappa) = sqrt(lambda_max/lambda_min), "
                                                    "not kappa"),
             (1.0 - 1.0 / kappa, "1 - 1/kappa is not the optimum: mu* = ((sqrt k - 1)/(sqrt k + 1))^2"),
             (1.0 - 1.0 / math.sqrt(kappa), "1 - 1/sqrt(kappa) is only the rough size: mu* = "
                                            "((sqrt k - 1)/(sqrt k + 1))^2")]
    return _check_number("mu_star", value, "mu_star", r * r, 1e-4, wrong,
                         "optimal heavy-ball momentum ((sqrt k - 1)/(sqrt k + 1))^2", verbose)


# ------------------------------------------------------------------ lab
def adaptive_lab_baseline(seed: int = 0) -> float:
    """Validation accuracy of the chapter 03 lab's baseline on digits split ``seed``:
    ``MLP(64, 32, 10)`` from ``init_params(seed=0)``, plain SGD η = 0.01, batch 64, 3 epochs."""
    return _adaptive_lab_baseline(chk.check_int(seed, "seed", low=0))


@functools.lru_cache(maxsize=8)
def _adaptive_lab_baseline(seed: int) -> float:
    from .. import models, optim, train

    split = _digits_split(seed)
    model = models.MLP(64, 32, 10)
    params = model.init_params(seed=0)
    train.train(model, params, optim.SGD(params, lr=0.01), split, epochs=3, batch_size=64)
    return float(model.accuracy(params, split.X_val, split.y_val))


def check_adaptive_lab(fn: Callable[[Any], Any], *, seeds: Sequence[int] = (0, 1),
                       ratio: float = 0.5, requires: Sequence[str] = ("adam_step", "warmup_cosine"),
                       verbose: bool = True, timeout: float | None = 60.0) -> CheckResult:
    r"""Lab (chapter 03): ``fn(split)`` trains ``MLP(64, 32, 10)`` on ``split`` (a digits split)
    and returns its params. On each split ``seeds`` the validation error must be at most
    ``ratio`` times the baseline's (:func:`adaptive_lab_baseline`, plain SGD for the same 3
    epochs), measured here on the returned params. One more case per name in ``requires``:
    with the notebook's own function of that name switched off (``engine.SWITCHED_OFF``), ``fn``
    must miss the target: the result depends on it."""
    from ..models import MLP

    seeds = _check_seeds(seeds)
    ratio = chk.check_number(ratio, "ratio", low=0.0, high=1.0, low_open=True)
    model = MLP(64, 32, 10)
    shapes = model.param_shapes
    cases = []
    for s in seeds:
        split = _digits_split(s)
        base = adaptive_lab_baseline(s)
        need = 1.0 - ratio * (1.0 - base)

        def judge(value: Any, split=split, base=base, need=need) -> tuple[bool, str, str]:
            if value is None:
                return False, _as_numbers(None)[1], "return the trained params dict"
            if not isinstance(value, Mapping) or set(value) != set(shapes):
                return False, (f"expected params with keys {sorted(shapes)}, received "
                               f"{type(value).__name__}"
                               + (f" with keys {sorted(value)}" if isinstance(value, Mapping) else "")),\
                    "return the params dict of models.MLP(64, 32, 10) you trained"
            try:
                p = {k: np.asarray(v, dtype=np.float64) for k, v in value.items()}
                if any(p[k].shape != shapes[k] for k in shapes):
                    return False, (f"expected shapes {shapes}, received "
                                   f"{ {k: p[k].shape for k in shapes} }"), "did you transpose a weight?"
                acc = float(model.accuracy(p, split.X_val, split.y_val))
            except (TypeError, ValueError) as exc:
                return False, f"params do not fit the model: {exc}", ""
            msg = f"validation accuracy {acc:.3f}, needs >= {need:.3f} (baseline {base:.3f})"
            if acc >= need:
                return True, msg, ""
            return False, msg, ("tune Adam's peak learning rate first (a sweep over a few powers "
                                "of 10), then the warm-up length")

        cases.append(Case(f"digits split seed={s}", (Recipe("digits_split", (s,)),), judge=judge))
    cases += [uses_case(name, (Recipe("digits_split", (seeds[0],)),), "train_mlp", cases[0].judge)
              for name in requires]
    return _run("adaptive lab", fn, cases, ["split"], timeout=timeout, verbose=verbose,
                tested=f"validation error <= {ratio:g} x the baseline's", label="train_mlp")
