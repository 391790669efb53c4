"""Tests for LambdaLR, OneCycleLR, CosineAnnealingWarmRestarts and SWALR: closed forms, PyTorch's
exact sequences (learning rate and momentum, step for step, in float64), resuming, errors."""

from __future__ import annotations

import inspect
import math
import types
import warnings

import numpy as np
import pytest

from edulib import optim
from edulib import schedules as S

N_STEPS = 100
OPTS = {"sgd": ("SGD", {"momentum": 0.9}), "adam": ("Adam", {}), "adamw": ("AdamW", {}),
        "rmsprop": ("RMSprop", {"momentum": 0.5}), "adagrad": ("Adagrad", {})}


def _momentum(hp):
    """beta1 for Adam-like hyperparameters, else the momentum (-1 where there is none)."""
    return hp["betas"][0] if "betas" in hp else hp.get("momentum", -1.0)


def make_opt(lr=0.1, kind="sgd"):
    name, kw = OPTS[kind]
    return getattr(optim, name)({"w": np.zeros(3)}, lr=lr, **kw)


def torch_api(torch):
    """torch's schedules under edulib's names (SWALR lives in swa_utils)."""
    return types.SimpleNamespace(**vars(torch.optim.lr_scheduler), SWALR=torch.optim.swa_utils.SWALR)


def ours(build, n=N_STEPS, lr=0.1, kind="sgd", epochs=None):
    """[(lr, momentum)] after construction and after each of n steps (step(epochs[t]) if given)."""
    opt = make_opt(lr, kind)
    sched = build(opt, S)
    out = [(sched.get_last_lr()[0], _momentum(opt.hyperparams))]
    for t in range(n):
        sched.step() if epochs is None else sched.step(epochs[t])
        out.append((sched.get_last_lr()[0], _momentum(opt.hyperparams)))
    return np.array(out)


def theirs(torch, build, n=N_STEPS, lr=0.1, kind="sgd", epochs=None):
    name, kw = OPTS[kind]
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, name)([w], lr=lr, **kw)
    sched = build(opt, torch_api(torch))
    group = opt.param_groups[0]
    out = [(sched.get_last_lr()[0], _momentum(group))]
    for t in range(n):
        opt.step()
        with warnings.catch_warnings():         # torch deprecates step(epoch) with a warning
            warnings.simplefilter("ignore")
            sched.step() if epochs is None else sched.step(epochs[t])
        out.append((sched.get_last_lr()[0], _momentum(group)))
    return np.array(out)


# ---------------------------------------------------------------- closed forms (independent)
def test_lambdalr_inverse_time_decay_from_the_docstring():
    k = 0.1
    got = ours(lambda o, M: M.LambdaLR(o, lambda t: 1.0 / (1.0 + k * t)), lr=0.5)[:, 0]
    np.testing.assert_allclose(got, [0.5 / (1 + k * t) for t in range(N_STEPS + 1)], rtol=1e-14)


def test_onecycle_two_phase_cos_closed_form_and_landmarks():
    T, peak, p = 200, 0.8, 0.25
    got = ours(lambda o, M: M.OneCycleLR(o, max_lr=peak, total_steps=T, pct_start=p), n=T - 1)
    lo, end = peak / 25, peak / 25 / 1e4
    up = p * T - 1

    def cos_from_to(a, b, x):
        return b + (a - b) * (1 + math.cos(math.pi * x)) / 2
    want_lr = [cos_from_to(lo, peak, t / up) if t <= up else cos_from_to(peak, end, (t - up) / (T - 1 - up))
               for t in range(T)]
    want_m = [cos_from_to(0.95, 0.85, t / up) if t <= up else cos_from_to(0.85, 0.95, (t - up) / (T - 1 - up))
              for t in range(T)]
    np.testing.assert_allclose(got[:, 0], want_lr, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(got[:, 1], want_m, rtol=1e-12)
    assert got[0, 0] == pytest.approx(lo) and got[int(up), 0] == pytest.approx(peak)
    assert got[-1, 0] == pytest.approx(end) and got[int(up), 1] == pytest.approx(0.85)
    assert np.argmax(got[:, 0]) == np.argmin(got[:, 1]) == up   # momentum moves against the rate


def test_onecycle_three_phase_linear_comes_back_to_the_start_rate():
    T, p = 100, 0.3
    got = ours(lambda o, M: M.OneCycleLR(o, max_lr=1.0, total_steps=T, pct_start=p, three_phase=True,
                                         anneal_strategy="linear"), n=T - 1)[:, 0]
    knots = [0, p * T - 1, 2 * p * T - 2, T - 1]
    np.testing.assert_allclose(got, np.interp(np.arange(T), knots, [0.04, 1.0, 0.04, 0.04 / 1e4]),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("T0, Tmult", [(10, 1), (5, 2), (3, 3), (1, 2)])
def test_warm_restarts_closed_form(T0, Tmult):
    got = ours(lambda o, M: M.CosineAnnealingWarmRestarts(o, T_0=T0, T_mult=Tmult, eta_min=0.001))[:, 0]
    want, start, period = [], 0, T0
    for t in range(N_STEPS + 1):
        if t - start >= period:                       # a restart at T0, T0 + T0 Tmult, ...
            start, period = start + period, period * Tmult
        want.append(0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * (t - start) / period)) / 2)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    restarts = [T0 * (Tmult**n - 1) // (Tmult - 1) if Tmult > 1 else n * T0 for n in range(1, 4)]
    assert all(got[r] == pytest.approx(0.1) for r in restarts if r <= N_STEPS)


@pytest.mark.parametrize("strategy", ["linear", "cos"])
def test_swalr_closed_form_from_constant_start(strategy):
    A, swa = 8, 0.02

    def a(x):
        return x if strategy == "linear" else (1 - math.cos(math.pi * x)) / 2
    got = ours(lambda o, M: M.SWALR(o, swa_lr=swa, anneal_epochs=A, anneal_strategy=strategy), n=20)[:, 0]
    alpha = [a(min(1, t / A)) for t in range(21)]
    np.testing.assert_allclose(got, [swa * al + 0.1 * (1 - al) for al in alpha], rtol=1e-12)


# ---------------------------------------------------------------- PyTorch cross-checks
class Halving:
    """A callable object (its attribute is saved by LambdaLR.state_dict)."""

    def __init__(self, every):
        self.every = every

    def __call__(self, t):
        return 0.5 ** (t // self.every)


SCHEDULES = {
    # LambdaLR
    "lambda_inv_time": (lambda o, M: M.LambdaLR(o, lambda t: 1 / (1 + 0.05 * t)), "sgd"),
    "lambda_list_of_one": (lambda o, M: M.LambdaLR(o, [lambda t: 0.95**t]), "sgd"),
    "lambda_tuple_warmup": (lambda o, M: M.LambdaLR(o, (lambda t: min(1.0, (t + 1) / 10),)), "adam"),
    "lambda_int_factor": (lambda o, M: M.LambdaLR(o, lambda t: t // 30), "sgd"),
    "lambda_object": (lambda o, M: M.LambdaLR(o, Halving(7)), "sgd"),
    # OneCycleLR
    "1cycle_default": (lambda o, M: M.OneCycleLR(o, max_lr=1.0, total_steps=100), "sgd"),
    "1cycle_epochs": (lambda o, M: M.OneCycleLR(o, 0.5, epochs=10, steps_per_epoch=10), "sgd"),
    "1cycle_adam_beta1": (lambda o, M: M.OneCycleLR(o, 0.01, total_steps=100, pct_start=0.45), "adam"),
    "1cycle_adamw_three_lin": (lambda o, M: M.OneCycleLR(
        o, 0.3, total_steps=100, three_phase=True, anneal_strategy="linear"), "adamw"),
    "1cycle_rmsprop": (lambda o, M: M.OneCycleLR(o, 0.2, total_steps=100, base_momentum=0.7,
                                                 max_momentum=0.9), "rmsprop"),
    "1cycle_no_momentum": (lambda o, M: M.OneCycleLR(o, 2.0, total_steps=100, cycle_momentum=False),
                           "adagrad"),
    "1cycle_lists": (lambda o, M: M.OneCycleLR(o, [0.7], total_steps=100, max_momentum=[0.99],
                                               base_momentum=(0.8,), div_factor=10.0,
                                               final_div_factor=100.0), "sgd"),
    "1cycle_pct0": (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=100, pct_start=0.0), "sgd"),
    "1cycle_inverted_momentum": (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=100, base_momentum=0.95,
                                                           max_momentum=0.5), "sgd"),
    "1cycle_three_overlap": (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=100, pct_start=0.7,
                                                       three_phase=True), "sgd"),
    "1cycle_odd_T": (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=117, pct_start=0.33), "sgd"),
    "1cycle_ignores_epochs": (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=100, epochs=-3,
                                                        steps_per_epoch=0.5), "sgd"),
    "1cycle_zero_max_lr": (lambda o, M: M.OneCycleLR(o, 0.0, total_steps=100), "sgd"),
    # CosineAnnealingWarmRestarts
    "sgdr_10": (lambda o, M: M.CosineAnnealingWarmRestarts(o, T_0=10), "sgd"),
    "sgdr_5x2_min": (lambda o, M: M.CosineAnnealingWarmRestarts(o, 5, T_mult=2, eta_min=0.01), "sgd"),
    "sgdr_1x2": (lambda o, M: M.CosineAnnealingWarmRestarts(o, 1, 2), "sgd"),
    "sgdr_3x3": (lambda o, M: M.CosineAnnealingWarmRestarts(o, 3, 3, 1e-4), "adam"),
    "sgdr_min_above_base": (lambda o, M: M.CosineAnnealingWarmRestarts(o, 7, eta_min=5), "sgd"),
    # SWALR
    "swa_cos10": (lambda o, M: M.SWALR(o, swa_lr=0.05), "sgd"),
    "swa_linear3": (lambda o, M: M.SWALR(o, 0.5, anneal_epochs=3, anneal_strategy="linear"), "sgd"),
    "swa_at_once": (lambda o, M: M.SWALR(o, [0.02], anneal_epochs=0), "sgd"),
    "swa_one": (lambda o, M: M.SWALR(o, 0.02, anneal_epochs=1), "sgd"),
    # in SequentialLR, after a warm-up
    "seq_warm_sgdr": (lambda o, M: M.SequentialLR(o, [M.LinearLR(o, 0.1, total_iters=10),
                                                      M.CosineAnnealingWarmRestarts(o, 15, 2)], [10]), "sgd"),
    "seq_warm_lambda": (lambda o, M: M.SequentialLR(o, [M.LinearLR(o, 0.2, total_iters=5),
                                                        M.LambdaLR(o, lambda t: 0.97**t)], [5]), "sgd"),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("lr", [0.1, 3.0])
def test_sequence_matches_torch(name, lr):
    """Rate and momentum (or beta1) after construction and after each of 100 steps: bit for bit."""
    torch = pytest.importorskip("torch")
    build, kind = SCHEDULES[name]
    got = ours(build, lr=lr, kind=kind)
    want = theirs(torch, build, lr=lr, kind=kind)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    assert len({tuple(row) for row in got}) > 1 or name == "swa_at_once"   # the rate (or momentum) moves


def test_swalr_takes_over_from_a_cosine_like_torch():
    """PyTorch's recipe: SWALR built at the start, stepped instead of the cosine from epoch 30."""
    torch = pytest.importorskip("torch")

    def run(opt, M, step_opt):
        cos = M.CosineAnnealingLR(opt, T_max=60)
        swa = M.SWALR(opt, swa_lr=0.01, anneal_epochs=5, anneal_strategy="linear")
        out = []
        for epoch in range(60):
            step_opt()
            (swa if epoch >= 30 else cos).step()
            out.append(opt.lr if hasattr(opt, "lr") else opt.param_groups[0]["lr"])
        return out
    got = run(make_opt(0.1), S, lambda: None)
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.SGD([w], lr=0.1)
    want = run(topt, torch_api(torch), lambda: topt.step())
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    assert got[29] > 0.05 and got[35:] == [pytest.approx(0.01)] * 25


EPOCH_SCRIPTS = {
    "fractional": [e / 4 for e in range(80)],
    "interleaved": [None] * 20 + [26] + [None] * 10 + [3.5, None, None, 61.25] + [None] * 30,
    "boundaries": [5, 15, 35, 75, 4.999999, 15.000001, 0, 34.9, 35.0, 0.5, 155, 154.99],
    "backwards": [50, 40.5, 30, 20.25, 10, 5, 1, 0],
}


@pytest.mark.parametrize("script", list(EPOCH_SCRIPTS))
@pytest.mark.parametrize("T0, Tmult", [(5, 1), (5, 2), (3, 3)])
def test_warm_restarts_step_epoch_matches_torch(script, T0, Tmult):
    torch = pytest.importorskip("torch")
    epochs = EPOCH_SCRIPTS[script]

    def build(o, M):
        return M.CosineAnnealingWarmRestarts(o, T0, Tmult, eta_min=0.003)
    got = ours(build, n=len(epochs), epochs=epochs)
    want = theirs(torch, build, n=len(epochs), epochs=epochs)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


def test_warm_restarts_epoch_state_matches_torch():
    torch = pytest.importorskip("torch")
    opt, w = make_opt(), torch.zeros(1, dtype=torch.float64, requires_grad=True)
    ts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(torch.optim.SGD([w], lr=0.1), 4, 2)
    es = S.CosineAnnealingWarmRestarts(opt, 4, 2)
    for e in [2.5, 13.75, None, None, 30, None]:
        es.step(e)
        ts.step(e)
        assert (es.last_epoch, es.T_cur, es.T_i) == (ts.last_epoch, ts.T_cur, ts.T_i)


@pytest.mark.parametrize("name", ["lambda_inv_time", "1cycle_default", "1cycle_adam_beta1"])
def test_step_epoch_of_lambda_and_onecycle_matches_torch(name):
    torch = pytest.importorskip("torch")
    build, kind = SCHEDULES[name]
    epochs = [None, None, 40, None, 7, None, None, 99, 100, 12.5, 0, None]
    got = ours(build, n=len(epochs), kind=kind, epochs=epochs)
    want = theirs(torch, build, n=len(epochs), kind=kind, epochs=epochs)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", ["lambda_object", "1cycle_adam_beta1", "1cycle_epochs", "sgdr_5x2_min",
                                  "sgdr_3x3", "swa_linear3"])
@pytest.mark.parametrize("k", [0, 17])
def test_resume_with_last_epoch_matches_torch(name, k):
    """Run k+1 steps, then build a second schedule with last_epoch=k on the same optimizer."""
    torch = pytest.importorskip("torch")
    build, kind = SCHEDULES[name]
    cls_name = build(make_opt(kind=kind), S).__class__.__name__

    def resume(opt, M, step_opt):
        first = build(opt, M)
        for _ in range(k + 1):
            step_opt()
            first.step()
        sched = _rebuild(first, M, cls_name, k)
        out = [sched.get_last_lr()[0]]
        for _ in range(30):
            step_opt()
            sched.step()
            out.append(sched.get_last_lr()[0])
        return out, sched.last_epoch
    got = resume(make_opt(kind=kind), S, lambda: None)
    name_t, kw = OPTS[kind]
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    topt = getattr(torch.optim, name_t)([w], lr=0.1, **kw)
    want = resume(topt, torch_api(torch), lambda: topt.step())
    np.testing.assert_allclose(got[0], want[0], rtol=1e-15, atol=0)
    assert got[1] == want[1]


def _rebuild(first, M, cls_name, k):
    opt = first.optimizer
    if cls_name == "LambdaLR":
        return M.LambdaLR(opt, first.lr_lambdas[0], last_epoch=k)
    if cls_name == "OneCycleLR":
        return M.OneCycleLR(opt, 1.0, total_steps=first.total_steps, pct_start=0.45, last_epoch=k)
    if cls_name == "CosineAnnealingWarmRestarts":
        return M.CosineAnnealingWarmRestarts(opt, first.T_0, first.T_mult, first.eta_min, last_epoch=k)
    return M.SWALR(opt, 0.5, anneal_epochs=3, anneal_strategy="linear", last_epoch=k)


def test_training_with_onecycle_matches_torch_parameters():
    """The cycled rate and momentum reach the optimizer: SGD and Adam runs equal torch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.5, 2.0, 5), rng.standard_normal(5)
    for kind in ("sgd", "adam"):
        params = {"w": np.zeros(5)}
        name, kw = OPTS[kind]
        opt = getattr(optim, name)(params, lr=0.1, **kw)
        sched = S.OneCycleLR(opt, max_lr=0.3, total_steps=40)
        w = torch.zeros(5, dtype=torch.float64, requires_grad=True)
        topt = getattr(torch.optim, name)([w], lr=0.1, **kw)
        tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.3, total_steps=40)
        for _ in range(40):
            opt.step({"w": a * params["w"] - b})
            sched.step()
            w.grad = torch.from_numpy(a) * w.detach() - torch.from_numpy(b)
            topt.step()
            tsched.step()
            np.testing.assert_allclose(params["w"], w.detach().numpy(), rtol=1e-13, atol=1e-15)
        assert np.abs(params["w"] - b / a).max() < 0.5 * np.abs(b / a).max()   # it did train


# ---------------------------------------------------------------- OneCycleLR's ends
def test_onecycle_refuses_a_step_past_total_steps_at_torchs_step():
    torch = pytest.importorskip("torch")
    T = 12
    opt = make_opt()
    sched = S.OneCycleLR(opt, 1.0, total_steps=T)
    w = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, 1.0, total_steps=T)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(T):
            sched.step()
            tsched.step()
        with pytest.raises(ValueError, match="Tried to step 13 times"):
            tsched.step()
    lr = opt.lr
    for _ in range(2):
        with pytest.raises(ValueError, match="total_steps=12 steps after step 0, .* for step 13"):
            sched.step()
    assert sched.last_epoch == T and opt.lr == lr                # the refused step left no trace
    with pytest.raises(ValueError, match="request for step 20"):
        sched.step(20)


@pytest.mark.parametrize("kwargs, bad_step", [
    ({"total_steps": 10, "pct_start": 0.1}, 0),                  # warm-up from step 0 to step 0
    ({"total_steps": 10, "pct_start": 1.0}, 10),                 # nothing left for the annealing
    ({"total_steps": 10, "pct_start": 0.55, "three_phase": True}, 10),
])
def test_onecycle_zero_length_phase_fails_where_torch_divides_by_zero(kwargs, bad_step):
    torch = pytest.importorskip("torch")
    w = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    opt = make_opt()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if bad_step == 0:
            with pytest.raises(ZeroDivisionError):
                torch.optim.lr_scheduler.OneCycleLR(topt, 1.0, **kwargs)
            with pytest.raises(ValueError, match="phase 1 starts and ends at step 0.0"):
                S.OneCycleLR(opt, 1.0, **kwargs)
            return
        got = ours(lambda o, M: M.OneCycleLR(o, 1.0, **kwargs), n=bad_step - 1)
        want = theirs(torch, lambda o, M: M.OneCycleLR(o, 1.0, **kwargs), n=bad_step - 1)
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
        tsched = torch.optim.lr_scheduler.OneCycleLR(topt, 1.0, **kwargs)
        sched = S.OneCycleLR(opt, 1.0, **kwargs)
        for _ in range(bad_step - 1):
            tsched.step()
            sched.step()
        with pytest.raises(ZeroDivisionError):
            tsched.step()
    with pytest.raises(ValueError, match=f"so step {bad_step} is 0/0 of the way"):
        sched.step()


def test_onecycle_overwrites_initial_lr_and_stores_the_phase_ends():
    opt = make_opt(0.5, "adam")
    S.StepLR(opt, 3)                                             # sets opt.initial_lr = 0.5
    S.OneCycleLR(opt, max_lr=2.0, total_steps=10, div_factor=4.0, final_div_factor=10.0)
    assert (opt.initial_lr, opt.max_lr, opt.min_lr) == (0.5, 2.0, 0.05)
    assert (opt.max_momentum, opt.base_momentum, opt.betas[1]) == (0.95, 0.85, 0.999)
    assert opt.lr == pytest.approx(0.5) and opt.betas[0] == pytest.approx(0.95)


# ---------------------------------------------------------------- state dicts
@pytest.mark.parametrize("name", ["lambda_object", "1cycle_adamw_three_lin", "sgdr_5x2_min", "swa_cos10"])
def test_state_dict_resumes_the_same_sequence(name):
    build, kind = SCHEDULES[name]
    full = ours(build, n=60, kind=kind)
    opt = make_opt(kind=kind)
    sched = build(opt, S)
    for _ in range(25):
        sched.step()
    saved, hp = sched.state_dict(), opt.hyperparams
    opt2 = make_opt(kind=kind)
    sched2 = build(opt2, S)
    for _ in range(3):
        sched2.step()
    sched2.load_state_dict(saved)
    for key, value in hp.items():
        setattr(opt2, key, value)
    rest = [sched2.get_last_lr()[0]]
    for _ in range(35):
        sched2.step()
        rest.append(sched2.get_last_lr()[0])
    np.testing.assert_allclose(rest, full[25:, 0], rtol=1e-15, atol=0)


def test_lambdalr_state_dict_saves_objects_not_functions_like_torch():
    torch = pytest.importorskip("torch")
    sched = S.LambdaLR(make_opt(), Halving(7))
    sd = sched.state_dict()
    w = torch.zeros(1, requires_grad=True)
    tsd = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([w], lr=0.1), Halving(7)).state_dict()
    assert sd["lr_lambdas"] == tsd["lr_lambdas"] == [{"every": 7}]
    assert S.LambdaLR(make_opt(), lambda t: 1.0).state_dict()["lr_lambdas"] == [None]
    sd["lr_lambdas"] = [{"every": 2}]
    other = S.LambdaLR(make_opt(), Halving(7))
    other.load_state_dict(sd)
    assert other.lr_lambdas[0].every == 2 and "lr_lambdas" in sd
    other.step()
    other.step()
    assert other.lr == pytest.approx(0.05)


# ---------------------------------------------------------------- signatures and errors
@pytest.mark.parametrize("name", ["LambdaLR", "OneCycleLR", "CosineAnnealingWarmRestarts", "SWALR"])
def test_signature_and_defaults_match_torch(name):
    torch = pytest.importorskip("torch")
    theirs_params = inspect.signature(getattr(torch_api(torch), name)).parameters
    ours_params = inspect.signature(getattr(S, name)).parameters
    assert list(ours_params) == list(theirs_params)
    assert [p.default for p in ours_params.values()] == [p.default for p in theirs_params.values()]


def f(t):
    return 1.0


# (build, optimizer kind, our error, torch's error, message): torch raises there too
MIRRORED = [
    (lambda o, M: M.LambdaLR(o, [f, f]), "sgd", ValueError, ValueError,
     "lr_lambda must be one value or a list with one value per parameter group (an edulib optimizer "
     "has 1), received a list of 2"),
    (lambda o, M: M.LambdaLR(o, 0.5), "sgd", TypeError, TypeError,
     "lr_lambda must be a function of the epoch t returning the factor lambda(t), received float"),
    (lambda o, M: M.LambdaLR(o, lambda t: "x"), "sgd", TypeError, TypeError,
     "lr_lambda(0) must be a number, received str"),
    (lambda o, M: M.LambdaLR(o, f, last_epoch=3), "sgd", ValueError, KeyError,
     "last_epoch=3 resumes a schedule, which needs optimizer.initial_lr"),
    (lambda o, M: M.LambdaLR(o, f, last_epoch=-2), "sgd", ValueError, KeyError,
     "last_epoch must be an int in [-1, inf], received -2"),
    (lambda o, M: M.OneCycleLR(o, 1.0), "sgd", ValueError, ValueError,
     "OneCycleLR needs total_steps, or both epochs and steps_per_epoch, received total_steps=None"),
    (lambda o, M: M.OneCycleLR(o, 1.0, epochs=5), "sgd", ValueError, ValueError,
     "epochs=5, steps_per_epoch=None"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=0), "sgd", ValueError, ValueError,
     "total_steps must be an int >= 1, received int 0"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=10.0), "sgd", ValueError, ValueError,
     "total_steps must be an int >= 1, received float 10.0"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps="10"), "sgd", TypeError, TypeError,
     "total_steps must be an int >= 1, received str '10'"),
    (lambda o, M: M.OneCycleLR(o, 1.0, epochs=0, steps_per_epoch=5), "sgd", ValueError, ValueError,
     "epochs must be an int >= 1, received int 0"),
    (lambda o, M: M.OneCycleLR(o, 1.0, epochs=4, steps_per_epoch=2.5), "sgd", ValueError, ValueError,
     "steps_per_epoch must be an int >= 1, received float 2.5"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=10, pct_start=1.5), "sgd", ValueError, ValueError,
     "pct_start must be in [0.0, 1.0], received 1.5"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=10, pct_start=0), "sgd", ValueError, ValueError,
     "pct_start must be a float in [0.0, 1.0] (write 0.0 or 1.0 for an end), received int 0"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=10, pct_start="0.3"), "sgd", TypeError, ValueError,
     "pct_start must be a number, received str"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=10, anneal_strategy="cosine"), "sgd", ValueError,
     ValueError, "anneal_strategy must be 'cos' or 'linear', received 'cosine'"),
    (lambda o, M: M.OneCycleLR(o, [0.1, 0.2], total_steps=10), "sgd", ValueError, ValueError,
     "max_lr must be one value or a list with one value per parameter group"),
    (lambda o, M: M.OneCycleLR(o, 0.1, total_steps=10, max_momentum=[0.9, 0.8]), "sgd", ValueError,
     ValueError, "max_momentum must be one value or a list"),
    (lambda o, M: M.OneCycleLR(o, 0.1, total_steps=10), "adagrad", ValueError, ValueError,
     "optimizer must have a momentum (SGD, RMSprop) or betas (Adam, AdamW) with cycle_momentum=True, "
     "received Adagrad"),
    (lambda o, M: M.OneCycleLR(o, 0.1, total_steps=10, last_epoch=4), "sgd", ValueError, KeyError,
     "last_epoch=4 resumes a OneCycleLR, which needs optimizer.initial_lr, optimizer.max_lr, "
     "optimizer.min_lr, optimizer.max_momentum, optimizer.base_momentum"),
    (lambda o, M: M.OneCycleLR(o, 0.1, total_steps=10, div_factor=0), "sgd", ValueError, ZeroDivisionError,
     "div_factor must be in (0.0, inf], received 0"),
    (lambda o, M: M.OneCycleLR(o, 0.1, total_steps=10, final_div_factor=0.0), "sgd", ValueError,
     ZeroDivisionError, "final_div_factor must be in (0.0, inf], received 0.0"),
    (lambda o, M: M.OneCycleLR(o, "0.1", total_steps=10), "sgd", TypeError, TypeError,
     "max_lr must be a number, received str"),
    (lambda o, M: M.CosineAnnealingWarmRestarts(o, 0), "sgd", ValueError, ValueError,
     "T_0 must be an int >= 1, received int 0"),
    (lambda o, M: M.CosineAnnealingWarmRestarts(o, 10.0), "sgd", ValueError, ValueError,
     "T_0 must be an int >= 1, received float 10.0"),
    (lambda o, M: M.CosineAnnealingWarmRestarts(o, None), "sgd", TypeError, TypeError,
     "T_0 must be an int >= 1, received NoneType None"),
    (lambda o, M: M.CosineAnnealingWarmRestarts(o, 10, T_mult=0), "sgd", ValueError, ValueError,
     "T_mult must be an int >= 1, received int 0"),
    (lambda o, M: M.CosineAnnealingWarmRestarts(o, 10, T_mult=1.5), "sgd", ValueError, ValueError,
     "T_mult must be an int >= 1, received float 1.5"),
    (lambda o, M: M.CosineAnnealingWarmRestarts(o, 10, eta_min="0"), "sgd", TypeError, ValueError,
     "eta_min must be a number, received str"),
    (lambda o, M: M.CosineAnnealingWarmRestarts(o, 10).step(-1), "sgd", ValueError, ValueError,
     "epoch must be in [0.0, inf], received -1"),
    (lambda o, M: M.CosineAnnealingWarmRestarts(o, 10).step(math.nan), "sgd", ValueError, ValueError,
     "epoch must be in [0.0, inf], received nan"),
    (lambda o, M: M.CosineAnnealingWarmRestarts(o, 10).step("3"), "sgd", TypeError, TypeError,
     "epoch must be a number, received str"),
    (lambda o, M: M.SWALR(o, [0.1, 0.2]), "sgd", ValueError, ValueError,
     "swa_lr must be one value or a list with one value per parameter group"),
    (lambda o, M: M.SWALR(o, 0.1, anneal_strategy="exp"), "sgd", ValueError, ValueError,
     "anneal_strategy must be 'cos' or 'linear', received 'exp'"),
    (lambda o, M: M.SWALR(o, 0.1, anneal_epochs=-1), "sgd", ValueError, ValueError,
     "anneal_epochs must be an int >= 0, received int -1"),
    (lambda o, M: M.SWALR(o, 0.1, anneal_epochs=2.0), "sgd", ValueError, ValueError,
     "anneal_epochs must be an int >= 0, received float 2.0"),
]


@pytest.mark.parametrize("i", range(len(MIRRORED)))
def test_bad_arguments_fail_where_torch_fails(i):
    build, kind, exc, torch_exc, msg = MIRRORED[i]
    with pytest.raises(exc) as info:
        build(make_opt(kind=kind), S)
    assert msg in str(info.value)
    torch = pytest.importorskip("torch")
    name, kw = OPTS[kind]
    topt = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], lr=0.1, **kw)
    with pytest.raises(torch_exc), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build(topt, torch_api(torch))


# torch computes these, but each gives a rate or momentum that no optimizer accepts, NaN, or reads
# a truthy string or a bool as a flag or a count: refused with a clear message
REFUSED = [
    (lambda o, M: M.LambdaLR(o, lambda t: -1.0), "sgd", ValueError, "lr_lambda(0) must be in [0.0, inf]"),
    (lambda o, M: M.LambdaLR(o, lambda t: math.nan), "sgd", ValueError, "lr_lambda(0) must be in [0.0, inf]"),
    (lambda o, M: M.OneCycleLR(o, -1.0, total_steps=10), "sgd", ValueError, "max_lr must be in [0.0, inf]"),
    (lambda o, M: M.OneCycleLR(o, math.nan, total_steps=10), "sgd", ValueError, "max_lr must be in"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=10, pct_start=math.nan), "sgd", ValueError,
     "pct_start must be in [0.0, 1.0], received nan"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=10, div_factor=-5.0), "sgd", ValueError,
     "div_factor must be in (0.0, inf], received -5.0"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=10, max_momentum=1.0), "adam", ValueError,
     "max_momentum must be in [0.0, 1.0), received 1.0"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=10, base_momentum=-0.1), "sgd", ValueError,
     "base_momentum must be in [0.0, inf), received -0.1"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=10, three_phase="no"), "sgd", TypeError,
     "three_phase must be True or False, received str 'no'"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=10, cycle_momentum="no"), "sgd", TypeError,
     "cycle_momentum must be True or False, received str 'no'"),
    (lambda o, M: M.OneCycleLR(o, 1.0, total_steps=True), "sgd", TypeError,
     "total_steps must be an int >= 1, received bool True"),
    (lambda o, M: M.CosineAnnealingWarmRestarts(o, 10, eta_min=-0.01), "sgd", ValueError,
     "eta_min must be in [0.0, inf], received -0.01"),
    (lambda o, M: M.SWALR(o, -0.05), "sgd", ValueError, "swa_lr must be in [0.0, inf], received -0.05"),
]


@pytest.mark.parametrize("i", range(len(REFUSED)))
def test_nonsense_torch_would_compute_is_refused(i):
    build, kind, exc, msg = REFUSED[i]
    with pytest.raises(exc) as info:
        build(make_opt(kind=kind), S)
    assert msg in str(info.value)
    torch = pytest.importorskip("torch")
    name, kw = OPTS[kind]
    topt = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], lr=0.1, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build(topt, torch_api(torch))                            # torch goes on regardless


def test_numpy_scalars_are_accepted():
    opt = make_opt()
    sched = S.CosineAnnealingWarmRestarts(opt, np.int64(4), T_mult=np.int32(2), eta_min=np.float64(0.0))
    sched.step(np.float64(5.5))
    assert sched.T_i == 8 and sched.T_cur == 1.5 and sched.last_epoch == 5
    sched = S.OneCycleLR(make_opt(), np.float64(1.0), total_steps=np.int64(10), pct_start=np.float64(0.5))
    assert sched.total_steps == 10
