"""Tests for edulib.schedules: closed forms, PyTorch's exact sequences, plateau edges, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edulib import optim
from edulib import schedules as S

N_STEPS = 100


def make_opt(lr=0.1, xp=None):
    w = np.zeros(3) if xp is None else xp.zeros(3, dtype=xp.float64)
    return optim.SGD({"w": w}, lr=lr)


def ours(build, n=N_STEPS, lr=0.1, metrics=None):
    opt = make_opt(lr)
    return S.lr_trace(build(opt, S), n, metrics)


def theirs(torch, build, n=N_STEPS, lr=0.1, metrics=None):
    w = torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr)
    sched = build(opt, torch.optim.lr_scheduler)
    out = [sched.get_last_lr()[0]]
    for t in range(n):
        opt.step()                   # torch warns if the schedule steps before the optimizer
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[t])
        out.append(sched.get_last_lr()[0])
    return out


# ---------------------------------------------------------------- closed forms (independent)
def test_steplr_matches_step_decay():
    got = ours(lambda o, M: M.StepLR(o, step_size=7, gamma=0.5), lr=0.2)
    want = [0.2 * 0.5 ** (t // 7) for t in range(N_STEPS + 1)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_multisteplr_matches_milestone_count_with_repeats():
    ms = [3, 10, 10, 40]
    got = ours(lambda o, M: M.MultiStepLR(o, ms, gamma=0.3))
    want = [0.1 * 0.3 ** sum(m <= t for m in ms) for t in range(N_STEPS + 1)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert got[9] == pytest.approx(0.03) and got[10] == pytest.approx(0.1 * 0.3 ** 3)


def test_exponentiallr_matches_power():
    got = ours(lambda o, M: M.ExponentialLR(o, gamma=0.95))
    np.testing.assert_allclose(got, [0.1 * 0.95 ** t for t in range(N_STEPS + 1)], rtol=1e-12)


@pytest.mark.parametrize("T, eta_min", [(10, 0.0), (30, 0.01), (100, 1e-3), (1, 0.0)])
def test_cosine_recursion_equals_closed_form(T, eta_min):
    got = ours(lambda o, M: M.CosineAnnealingLR(o, T_max=T, eta_min=eta_min))
    want = [eta_min + 0.5 * (0.1 - eta_min) * (1 + math.cos(math.pi * t / T)) for t in range(N_STEPS + 1)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert got[T] == pytest.approx(eta_min, abs=1e-15)        # the minimum is reached at t = T


@pytest.mark.parametrize("fs, fe, T", [(1 / 3, 1.0, 5), (0.1, 1.0, 10), (1.0, 0.2, 20), (0.5, 0.0, 7)])
def test_linearlr_recursion_equals_closed_form(fs, fe, T):
    got = ours(lambda o, M: M.LinearLR(o, start_factor=fs, end_factor=fe, total_iters=T))
    want = [0.1 * (fs + (fe - fs) * min(t, T) / T) for t in range(N_STEPS + 1)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_sequential_warmup_then_cosine_closed_form():
    def build(o, M):
        warm = M.LinearLR(o, start_factor=0.1, total_iters=10)
        cos = M.CosineAnnealingLR(o, T_max=40, eta_min=0.001)
        return M.SequentialLR(o, [warm, cos], milestones=[10])
    got = ours(build)
    want = [0.1 * (0.1 + 0.9 * t / 10) if t < 10
            else 0.001 + 0.5 * (0.1 - 0.001) * (1 + math.cos(math.pi * (t - 10) / 40))
            for t in range(N_STEPS + 1)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert max(got) == pytest.approx(0.1)                       # the peak is the base lr, at t = 10


def test_construction_sets_first_lr_and_base_lr_is_shared():
    opt = make_opt(0.5)
    warm = S.LinearLR(opt, start_factor=0.2, total_iters=4)
    assert opt.lr == pytest.approx(0.1) and warm.last_epoch == 0 and warm.base_lr == 0.5
    cos = S.CosineAnnealingLR(opt, T_max=10)                    # reads initial_lr, not opt.lr = 0.1
    assert cos.base_lr == 0.5 and opt.initial_lr == 0.5
    plateau = S.ReduceLROnPlateau(make_opt(0.3))
    assert plateau.get_last_lr() == [0.3] and plateau.last_epoch == 0


def test_needs_metric_flags():
    assert S.LRScheduler.needs_metric is False
    assert S.ReduceLROnPlateau.needs_metric is True
    for cls in (S.StepLR, S.MultiStepLR, S.ExponentialLR, S.CosineAnnealingLR, S.LinearLR, S.SequentialLR):
        assert cls.needs_metric is False and issubclass(cls, S.LRScheduler)
    assert issubclass(S.ReduceLROnPlateau, S.LRScheduler)


# ---------------------------------------------------------------- the optimizer really uses the lr
def test_sgd_step_after_schedule_step_uses_new_lr(xp, to_np):
    params = {"w": xp.ones(4, dtype=xp.float64)}
    opt = optim.SGD(params, lr=1.0)
    sched = S.StepLR(opt, step_size=1, gamma=0.25)
    g = {"w": xp.ones(4, dtype=xp.float64)}
    opt.step(g)                                  # lr 1.0: w = 1 - 1 = 0
    sched.step()                                 # lr 0.25
    opt.step(g)                                  # w = 0 - 0.25
    np.testing.assert_allclose(to_np(params["w"]), np.full(4, -0.25), rtol=0, atol=1e-15)
    sched.step()
    opt.step(g)
    np.testing.assert_allclose(to_np(params["w"]), np.full(4, -0.3125), rtol=0, atol=1e-15)


def test_plateau_reduction_reaches_the_optimizer(xp, to_np):
    params = {"w": xp.zeros(2, dtype=xp.float64)}
    opt = optim.SGD(params, lr=1.0)
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    sched.step(xp.asarray(1.0))                  # 0-d arrays are accepted
    sched.step(xp.asarray(2.0))                  # worse: 1 bad epoch > patience 0: halve
    assert opt.lr == 0.5
    opt.step({"w": xp.ones(2, dtype=xp.float64)})
    np.testing.assert_allclose(to_np(params["w"]), [-0.5, -0.5])


# ---------------------------------------------------------------- PyTorch cross-checks
SCHEDULES = {
    "step7": lambda o, M: M.StepLR(o, step_size=7),
    "step1_g0.9": lambda o, M: M.StepLR(o, step_size=1, gamma=0.9),
    "step30_g2": lambda o, M: M.StepLR(o, step_size=30, gamma=2.0),
    "multi": lambda o, M: M.MultiStepLR(o, [30, 80]),
    "multi_repeat": lambda o, M: M.MultiStepLR(o, [3, 10, 10, 40, 40, 40], gamma=0.7),
    "multi_zero": lambda o, M: M.MultiStepLR(o, [0, 5], gamma=0.5),
    "exp": lambda o, M: M.ExponentialLR(o, gamma=0.97),
    "exp_up": lambda o, M: M.ExponentialLR(o, gamma=1.05),
    "cos100": lambda o, M: M.CosineAnnealingLR(o, T_max=100),
    "cos30_min": lambda o, M: M.CosineAnnealingLR(o, T_max=30, eta_min=0.01),
    "cos7_past_T": lambda o, M: M.CosineAnnealingLR(o, T_max=7, eta_min=1e-4),
    "cos1": lambda o, M: M.CosineAnnealingLR(o, T_max=1),
    "lin_default": lambda o, M: M.LinearLR(o),
    "lin_warm": lambda o, M: M.LinearLR(o, start_factor=0.01, total_iters=20),
    "lin_decay": lambda o, M: M.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=60),
    "seq_warm_cos": lambda o, M: M.SequentialLR(
        o, [M.LinearLR(o, start_factor=0.1, total_iters=10), M.CosineAnnealingLR(o, T_max=90)], [10]),
    "seq_warm_cos_short": lambda o, M: M.SequentialLR(
        o, [M.LinearLR(o, start_factor=0.25, total_iters=5), M.CosineAnnealingLR(o, T_max=20, eta_min=0.002)],
        [3]),
    "seq_three": lambda o, M: M.SequentialLR(
        o, [M.LinearLR(o, start_factor=0.5, total_iters=4), M.ExponentialLR(o, gamma=0.9),
            M.StepLR(o, step_size=10, gamma=0.5)], [4, 30]),
    "seq_milestone1": lambda o, M: M.SequentialLR(
        o, [M.ExponentialLR(o, gamma=0.5), M.CosineAnnealingLR(o, T_max=50)], [1]),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("lr", [0.1, 3.0])
def test_sequence_matches_torch(name, lr):
    torch = pytest.importorskip("torch")
    build = SCHEDULES[name]
    got = ours(build, lr=lr)
    want = theirs(torch, build, lr=lr)
    assert len(got) == len(want) == N_STEPS + 1
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("t_change, change", [(20, lambda lr: 0.5 * lr), (50, lambda lr: lr + 0.02)])
def test_chainable_cosine_scales_an_outside_change_like_torch(t_change, change):
    """With opt.lr changed from outside the recursion departs from the closed form, exactly as torch
    (a change at t = T exercises the branch PyTorch uses where the ratio's denominator is 0)."""
    torch = pytest.importorskip("torch")
    opt = make_opt(0.1)
    sched = S.CosineAnnealingLR(opt, T_max=50)
    w = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([w], lr=0.1)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=50)
    got, want = [], []
    for t in range(60):
        if t == t_change:
            opt.lr = change(opt.lr)
            topt.param_groups[0]["lr"] = change(topt.param_groups[0]["lr"])
        topt.step()
        sched.step()
        tsched.step()
        got.append(opt.lr)
        want.append(topt.param_groups[0]["lr"])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    closed = [0.5 * 0.1 * (1 + math.cos(math.pi * (t + 1) / 50)) for t in range(60)]
    if t_change == 20:
        assert got[29] == pytest.approx(0.5 * closed[29], rel=1e-9)   # the halving persists
    else:
        assert got[50] == pytest.approx(closed[50] + 0.02, rel=1e-9)  # the shift persists past T


def test_two_schedules_on_one_optimizer_chain_like_torch():
    torch = pytest.importorskip("torch")

    def run(o, M, step_opt):
        a = M.ExponentialLR(o, gamma=0.9)
        b = M.StepLR(o, step_size=5, gamma=0.5)
        out = []
        for _ in range(30):
            step_opt()
            a.step()
            b.step()
            out.append(b.get_last_lr()[0])
        return out
    got = run(make_opt(0.1), S, lambda: None)
    w = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([w], lr=0.1)
    want = run(topt, torch.optim.lr_scheduler, lambda: topt.step())
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


# scripted metric sequences for the plateau schedule
FLAT = [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.79999, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]
rng_metrics = np.random.default_rng(7)
NOISY = list(np.exp(-np.arange(100) / 30) + 0.05 * rng_metrics.standard_normal(100))
RISING = list(np.minimum(np.arange(100) / 20.0, 1.0) + 0.01 * np.sin(np.arange(100)))
WITH_NAN = [1.0, 0.9, float("nan"), 0.95, float("nan"), 0.85, 0.8, float("nan"), float("nan"), 0.7] * 3

PLATEAU = {
    "defaults_noisy": ({}, NOISY),
    "patience0": ({"patience": 0}, FLAT * 4),
    "patience2_cooldown3": ({"patience": 2, "cooldown": 3, "factor": 0.5}, FLAT * 4),
    "abs_threshold": ({"patience": 1, "threshold": 0.05, "threshold_mode": "abs"}, NOISY),
    "rel_threshold_big": ({"patience": 1, "threshold": 0.2}, NOISY),
    "min_lr_floor": ({"patience": 0, "factor": 0.5, "min_lr": 0.02}, FLAT * 4),
    "eps_skips_small": ({"patience": 0, "factor": 0.9, "eps": 0.004}, FLAT * 4),
    "max_rel": ({"mode": "max", "patience": 2}, RISING),
    "max_abs_cooldown": ({"mode": "max", "patience": 1, "threshold": 0.02, "threshold_mode": "abs",
                          "cooldown": 2, "factor": 0.3}, RISING),
    "nan_metrics": ({"patience": 1, "factor": 0.5}, WITH_NAN),
    "zero_threshold": ({"patience": 1, "threshold": 0.0}, FLAT * 4),
}


@pytest.mark.parametrize("name", list(PLATEAU))
def test_plateau_matches_torch(name):
    torch = pytest.importorskip("torch")
    kwargs, metrics = PLATEAU[name]
    n = len(metrics)
    got = ours(lambda o, M: M.ReduceLROnPlateau(o, **kwargs), n=n, metrics=metrics)
    want = theirs(torch, lambda o, M: M.ReduceLROnPlateau(o, **kwargs), n=n, metrics=metrics)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert len(set(got)) > 1 or name == "eps_skips_small"    # each script really reduces


def test_plateau_patience_counts_bad_epochs_beyond_patience():
    opt = make_opt(1.0)
    sched = S.ReduceLROnPlateau(opt, patience=2, factor=0.5)
    lrs = S.lr_trace(sched, 7, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # first value improves on inf; then bad epochs 1, 2, 3 > 2: halve after the 4th call; again 3 later
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]


def test_plateau_cooldown_holds_the_count_at_zero():
    opt = make_opt(1.0)
    sched = S.ReduceLROnPlateau(opt, patience=0, factor=0.5, cooldown=2)
    lrs = S.lr_trace(sched, 6, [1.0] * 6)
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert sched.in_cooldown


def test_plateau_min_lr_floor_and_eps():
    opt = make_opt(1.0)
    sched = S.ReduceLROnPlateau(opt, patience=0, factor=0.1, min_lr=0.05)
    lrs = S.lr_trace(sched, 4, [1.0] * 4)
    assert lrs == [1.0, 1.0, 0.1, 0.05, 0.05]
    opt = make_opt(0.01)
    sched = S.ReduceLROnPlateau(opt, patience=0, factor=0.5, eps=0.006)   # 0.01 -> 0.005: 0.005 <= eps
    assert S.lr_trace(sched, 3, [1.0] * 3) == [0.01] * 4


def test_plateau_threshold_modes_and_max_mode():
    # rel: 0.95 is not below 1.0 * (1 - 0.1) = 0.9 -> bad; abs: 0.95 < 1.0 - 0.01 -> good
    rel = S.ReduceLROnPlateau(make_opt(1.0), patience=0, threshold=0.1, factor=0.5)
    assert S.lr_trace(rel, 2, [1.0, 0.95]) == [1.0, 1.0, 0.5]
    ab = S.ReduceLROnPlateau(make_opt(1.0), patience=0, threshold=0.01, threshold_mode="abs", factor=0.5)
    assert S.lr_trace(ab, 2, [1.0, 0.95]) == [1.0, 1.0, 1.0]
    mx = S.ReduceLROnPlateau(make_opt(1.0), mode="max", patience=0, factor=0.5)
    assert S.lr_trace(mx, 3, [0.5, 0.9, 0.8]) == [1.0, 1.0, 1.0, 0.5]


def test_plateau_nan_counts_as_bad_epoch():
    sched = S.ReduceLROnPlateau(make_opt(1.0), patience=1, factor=0.5)
    lrs = S.lr_trace(sched, 4, [1.0, float("nan"), float("nan"), 0.5])
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5]
    assert sched.best == 0.5


# ---------------------------------------------------------------- state dicts
@pytest.mark.parametrize("name", ["cos30_min", "seq_warm_cos", "multi_repeat", "lin_warm"])
def test_state_dict_resumes_the_same_sequence(name):
    build = SCHEDULES[name]
    full = ours(build, n=60)
    opt = make_opt(0.1)
    sched = build(opt, S)
    S.lr_trace(sched, 25)
    saved, saved_lr = sched.state_dict(), opt.lr
    opt2 = make_opt(0.1)
    sched2 = build(opt2, S)
    sched2.load_state_dict(saved)
    opt2.lr = saved_lr
    rest = S.lr_trace(sched2, 35)
    np.testing.assert_allclose(rest, full[25:], rtol=1e-12, atol=0)
    assert "optimizer" not in saved


def test_plateau_state_dict_round_trip():
    opt = make_opt(1.0)
    sched = S.ReduceLROnPlateau(opt, patience=1, factor=0.5, cooldown=1)
    S.lr_trace(sched, 5, [1.0, 0.9, 0.9, 0.9, 0.9])
    sd = sched.state_dict()
    other = S.ReduceLROnPlateau(make_opt(1.0), mode="max")
    other.load_state_dict(sd)
    assert (other.best, other.num_bad_epochs, other.cooldown_counter, other.mode, other.mode_worse) == (
        sched.best, sched.num_bad_epochs, sched.cooldown_counter, "min", math.inf)


# ---------------------------------------------------------------- errors
class NotAnOptimizer:
    lr = 0.1


BAD = [
    (lambda o: S.StepLR(NotAnOptimizer(), 3), TypeError, "optimizer must be an edulib.optim.Optimizer"),
    (lambda o: S.CosineAnnealingLR({"lr": 0.1}, 10), TypeError, "received builtins.dict"),
    (lambda o: S.ReduceLROnPlateau(object()), TypeError, "optimizer must be"),
    (lambda o: S.StepLR(o, -3), ValueError, "step_size must be an int in [1, inf], received -3"),
    (lambda o: S.StepLR(o, 0), ValueError, "step_size"),
    (lambda o: S.StepLR(o, 2.5), TypeError, "step_size must be an int"),
    (lambda o: S.StepLR(o, 3, gamma=0.0), ValueError, "gamma must be in (0.0, inf], received 0.0"),
    (lambda o: S.ExponentialLR(o, gamma=-0.5), ValueError, "gamma must be in (0.0, inf], received -0.5"),
    (lambda o: S.MultiStepLR(o, [10, 5]), ValueError, "milestones must be non-decreasing"),
    (lambda o: S.MultiStepLR(o, [10, 5.5]), TypeError, "milestones[1] must be an int"),
    (lambda o: S.MultiStepLR(o, 10), TypeError, "milestones must be a list of ints, received int"),
    (lambda o: S.MultiStepLR(o, [5], gamma=0), ValueError, "gamma"),
    (lambda o: S.CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be an int in [1, inf], received 0"),
    (lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=-1.0), ValueError, "eta_min"),
    (lambda o: S.LinearLR(o, start_factor=0.0), ValueError,
     "start_factor must be in (0.0, 1.0], received 0.0"),
    (lambda o: S.LinearLR(o, start_factor=1.5), ValueError,
     "start_factor must be in (0.0, 1.0], received 1.5"),
    (lambda o: S.LinearLR(o, end_factor=1.5), ValueError, "end_factor must be in [0.0, 1.0]"),
    (lambda o: S.LinearLR(o, total_iters=0), ValueError,
     "total_iters must be an int in [1, inf], received 0"),
    (lambda o: S.ReduceLROnPlateau(o, mode="minimum"), ValueError,
     "mode must be 'min' or 'max', received 'minimum'"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="relative"), ValueError,
     "threshold_mode must be 'rel' or 'abs', received 'relative'"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor must be in (0.0, 1.0), received 1.0"),
    (lambda o: S.ReduceLROnPlateau(o, factor=2), ValueError, "factor must be in (0.0, 1.0), received 2"),
    (lambda o: S.ReduceLROnPlateau(o, patience=-1), ValueError, "patience must be an int in [0, inf]"),
    (lambda o: S.ReduceLROnPlateau(o, cooldown=1.5), TypeError, "cooldown must be an int"),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=-0.1), ValueError, "min_lr must be in [0.0, inf]"),
    (lambda o: S.ReduceLROnPlateau(o, eps=float("nan")), ValueError, "eps must be in [0.0, inf]"),
    (lambda o: S.SequentialLR(o, [], []), ValueError, "schedulers must hold at least one schedule"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3)], [0]), ValueError,
     "milestones[0] must be an int in [1, inf], received 0"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3), S.StepLR(o, 4)], [10, 10]), ValueError,
     "milestones must be strictly increasing, received [10, 10]"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3)], [5, 9]), ValueError,
     "milestones must hold len(schedulers) - 1 = 1 epochs, received 2"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.ReduceLROnPlateau(o)], [5]), ValueError,
     "schedulers[1] must not be ReduceLROnPlateau"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(make_opt(), 3)], [5]), ValueError,
     "schedulers[1] must be built on the same optimizer"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), "cosine"], [5]), TypeError,
     "schedulers[1] must be an edulib.schedules.LRScheduler, received str"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_arguments_name_argument_expected_and_received(i):
    build, exc, msg = BAD[i]
    with pytest.raises(exc) as info:
        build(make_opt())
    assert msg in str(info.value)


def test_bad_metrics_and_lr_trace_arguments():
    sched = S.ReduceLROnPlateau(make_opt())
    with pytest.raises(TypeError, match="step needs the monitored value"):
        sched.step()
    with pytest.raises(TypeError, match="metrics must be a number.*received str 'low'"):
        sched.step("low")
    with pytest.raises(TypeError, match="metrics must be a number or a 0-d array.*received list"):
        sched.step([1.0, 2.0])
    with pytest.raises(ValueError, match=r"metrics must hold at least steps=3 values.*received 2 values"):
        S.lr_trace(sched, 3, [1.0, 2.0])
    with pytest.raises(ValueError, match="metrics must be None for StepLR"):
        S.lr_trace(S.StepLR(make_opt(), 2), 3, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="scheduler must be an edulib.schedules.LRScheduler, received SGD"):
        S.lr_trace(make_opt(), 3)
    with pytest.raises(ValueError, match="state_dict must be a dict from StepLR.state_dict"):
        S.StepLR(make_opt(), 2).load_state_dict({"lr": 0.1})
    assert sched.last_epoch == 0                                    # failed calls left no trace


def test_subclass_with_custom_get_lr_and_lr_property():
    class InverseTime(S.LRScheduler):
        def __init__(self, opt, t0):
            self.t0 = t0
            super().__init__(opt)

        def get_lr(self):
            return self.base_lr / (1 + self.last_epoch / self.t0)

    opt = make_opt(0.2)
    sched = InverseTime(opt, t0=4)
    got = S.lr_trace(sched, 8)
    np.testing.assert_allclose(got, [0.2 / (1 + t / 4) for t in range(9)], rtol=1e-12)
    assert sched.lr == opt.lr == got[-1] and sched.last_epoch == 8
    assert repr(sched) == f"InverseTime(last_epoch=8, lr={got[-1]!r})"
