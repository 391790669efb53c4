"""edulib.optim: NAdam and Adadelta on every backend, against textbook formulas and PyTorch.

The references here are written from the formulas in plain NumPy float64, independently of
edulib; PyTorch cross-checks run where torch is importable (float64 parameters, torch's
single-tensor path ``foreach=False``, which defines its semantics).
"""

from __future__ import annotations

import inspect
import tracemalloc

import numpy as np
import pytest

from edulib import optim
from edulib.backend import to_numpy
from edulib.optim import OPTIMIZERS, SGD, Adadelta, Adam, NAdam, Optimizer

RNG = np.random.default_rng(2025)
S = RNG.standard_normal((3, 3))
S = S @ S.T / 3 + np.eye(3)
W0 = RNG.standard_normal((4, 3))
B0 = RNG.standard_normal(3)
STEPS = 60


def assert_close(ours, ref, rel, what):
    """max |ours - ref| <= rel * max |ref|: relative to the array's scale (a coordinate near 0
    has no meaningful relative error of its own)."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    err = np.abs(ours - ref).max() / np.abs(ref).max()
    assert err <= rel, f"{what}: relative error {err:.2e} > {rel:g}"


def grad_fn(W, b, t):
    """Parameter-dependent gradients plus a step-dependent term (never a fixed point)."""
    return W @ S + np.sin(t) * np.ones_like(W), 2.0 * b - np.cos(t) + 0.1 * t * b


# ------------------------------------------------------------------------------ references
def ref_nadam(theta, g, st, t, lr, betas, eps, weight_decay, momentum_decay,
              decoupled_weight_decay, maximize):
    """One NAdam step from the formulas (Dozat 2016, as PyTorch writes it); returns theta."""
    b1, b2 = betas
    g = -g if maximize else g
    if weight_decay and decoupled_weight_decay:
        theta = theta * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * theta
    mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    st["prod"] = st.get("prod", 1.0) * mu
    st["m"] = b1 * st.get("m", 0.0) + (1 - b1) * g
    st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g**2
    d = np.sqrt(st["v"] / (1 - b2**t)) + eps
    return (theta - lr * (1 - mu) / (1 - st["prod"]) * g / d
            - lr * mu_next / (1 - st["prod"] * mu_next) * st["m"] / d)


def ref_adadelta(theta, g, st, t, lr, rho, eps, weight_decay, maximize):
    """One Adadelta step from the formulas (Zeiler 2012, times PyTorch's lr); returns theta."""
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * theta
    st["v"] = rho * st.get("v", 0.0) + (1 - rho) * g**2
    delta = np.sqrt(st.get("u", 0.0) + eps) / np.sqrt(st["v"] + eps) * g
    st["u"] = rho * st.get("u", 0.0) + (1 - rho) * delta**2
    return theta - lr * delta


REFERENCES = {"NAdam": ref_nadam, "Adadelta": ref_adadelta}


def _defaults(name):
    return {k: v.default for k, v in inspect.signature(OPTIMIZERS[name].__init__).parameters.items()
            if k not in ("self", "params")}


def reference_run(name, cfg, steps, changes):
    """Iterates of the formulas; ``changes`` = {step index: {hyperparameter: new value}}."""
    hp = {**_defaults(name), **cfg}
    thetas = {"W": W0.copy(), "b": B0.copy()}
    states = {"W": {}, "b": {}}
    out = []
    for t in range(steps):
        hp.update(changes.get(t, {}))
        grads = dict(zip(("W", "b"), grad_fn(thetas["W"], thetas["b"], t), strict=True))
        for k in thetas:
            thetas[k] = REFERENCES[name](thetas[k], grads[k], states[k], t + 1, **hp)
        out.append({k: v.copy() for k, v in thetas.items()})
    return out


def edulib_run(xp, name, cfg, steps, changes, dtype=None):
    params = {"W": xp.asarray(W0.copy()), "b": xp.asarray(B0.copy())}
    if dtype is not None:
        params = {k: xp.astype(v, dtype) for k, v in params.items()}
    opt = OPTIMIZERS[name](params, **cfg)
    out = []
    for t in range(steps):
        for k, v in changes.get(t, {}).items():
            setattr(opt, k, v)  # hyperparameters are plain attributes
        gW, gb = grad_fn(to_numpy(params["W"]).astype(np.float64),
                         to_numpy(params["b"]).astype(np.float64), t)
        opt.step({"W": xp.asarray(gW), "b": xp.asarray(gb)})
        out.append({k: to_numpy(v).copy() for k, v in params.items()})
    return out, opt, params


# (name, options, {step: changed hyperparameters}); lr changes mid-run in most of them
CASES = [
    ("NAdam", {}, {30: {"lr": 6e-4}}),
    ("NAdam", {"lr": 0.05}, {30: {"lr": 0.015}}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1}, {30: {"lr": 0.015}}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True},
     {30: {"lr": 0.015}}),
    ("NAdam", {"lr": 0.03, "momentum_decay": 0.3}, {30: {"lr": 0.01}}),
    ("NAdam", {"lr": 0.03, "momentum_decay": 0.0, "betas": (0.5, 0.9), "eps": 1e-3}, {}),
    ("NAdam", {"lr": 0.05, "maximize": True}, {30: {"lr": 0.015}}),
    ("NAdam", {"lr": 0.02, "weight_decay": 0.05, "decoupled_weight_decay": True,
               "momentum_decay": 0.05, "maximize": True},
     {20: {"momentum_decay": 0.5}, 40: {"lr": 0.05, "weight_decay": 0.2}}),
    ("NAdam", {"lr": 0.05, "betas": (0.0, 0.99)}, {}),
    ("Adadelta", {}, {30: {"lr": 0.3}}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5}, {30: {"lr": 0.15}}),
    ("Adadelta", {"lr": 2.0, "eps": 1e-4}, {30: {"lr": 0.6}}),
    ("Adadelta", {"weight_decay": 0.1}, {30: {"lr": 0.3}}),
    ("Adadelta", {"maximize": True}, {30: {"lr": 0.3}}),
    ("Adadelta", {"lr": 0.05, "rho": 1.0}, {}),
    ("Adadelta", {"lr": 0.7, "rho": 0.95, "eps": 1e-3, "weight_decay": 0.05, "maximize": True},
     {20: {"rho": 0.8}, 40: {"lr": 0.2, "eps": 1e-5}}),
]


def _id(case):
    name, cfg, changes = case
    return name + "(" + ",".join(f"{k}={v}" for k, v in cfg.items()) + ")" + (
        "+changes" if changes else "")


# ------------------------------------------------------------------------------ vs formulas
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_trajectory_matches_the_formulas(xp, case):
    name, cfg, changes = case
    ours, _, _ = edulib_run(xp, name, cfg, STEPS, changes)
    ref = reference_run(name, cfg, STEPS, changes)
    assert np.abs(ref[-1]["W"] - W0).max() > 1e-2, "the run must move the parameters"
    for t in range(STEPS):
        for k in ("W", "b"):
            assert_close(ours[t][k], ref[t][k], 1e-14, f"step {t + 1}, {k}")


def test_nadam_first_step_by_hand(xp):
    # t = 1: m_1 = (1-β1) g, v_1/(1-β2) = g², Π_1 = μ_1, so the step is
    # η g/(|g|+ε) [(1-μ_1)/(1-μ_1) + μ_2 (1-β1)/(1-μ_1 μ_2)]: a bit more than η sign(g)
    g = np.array([1e-3, -0.5, 2.0, -1e3])
    lr, b1, psi = 0.01, 0.9, 4e-3
    mu1, mu2 = b1 * (1 - 0.5 * 0.96**psi), b1 * (1 - 0.5 * 0.96 ** (2 * psi))
    by_hand = -lr * g / (np.abs(g) + 1e-8) * (1 + mu2 * (1 - b1) / (1 - mu1 * mu2))
    p = {"w": xp.asarray(np.zeros(4))}
    opt = NAdam(p, lr=lr)
    opt.step({"w": xp.asarray(g)})
    np.testing.assert_allclose(to_numpy(p["w"]), by_hand, rtol=1e-15, atol=0)
    assert opt.state["w"]["mu_product"] == mu1 and opt.state["w"]["step"] == 1.0
    assert 1.05 < float(to_numpy(p["w"])[2]) / -lr < 1.06


def test_nadam_momentum_cache_warms_up_towards_beta1():
    p = {"w": np.zeros(1)}
    opt = NAdam(p, betas=(0.9, 0.999), momentum_decay=4e-3)
    prods = []
    for _ in range(5):
        opt.step({"w": np.ones(1)})
        prods.append(opt.state["w"]["mu_product"])
    mus = np.array(prods) / np.array([1.0] + prods[:-1])   # μ_t = Π_t / Π_{t-1}
    t = np.arange(1, 6)
    np.testing.assert_allclose(mus, 0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3)), rtol=1e-14)
    assert np.all(np.diff(mus) > 0) and 0.45 < mus[0] < 0.451


def test_nadam_without_momentum_is_adam_without_momentum(xp):
    # β1 = 0: μ_t = 0, Π_t = 0, and both are η g / (√v̂ + ε) (rounded in a different order)
    runs = {}
    for cls in (NAdam, Adam):
        ours, _, _ = edulib_run(xp, cls.__name__, {"lr": 0.05, "betas": (0.0, 0.99)}, 40, {})
        runs[cls] = ours[-1]["W"]
    np.testing.assert_allclose(runs[NAdam], runs[Adam], rtol=1e-12)


def test_adadelta_first_step_by_hand(xp):
    # v_1 = (1-ρ) g², u_0 = 0: Δ_1 = √ε / √((1-ρ) g² + ε) g, about √(ε/(1-ρ)) sign(g)
    g = np.array([1e-3, -0.5, 2.0, -1e3])
    rho, eps = 0.9, 1e-6
    by_hand = -np.sqrt(eps) / np.sqrt((1 - rho) * g**2 + eps) * g
    p = {"w": xp.asarray(np.zeros(4))}
    opt = Adadelta(p)
    opt.step({"w": xp.asarray(g)})
    np.testing.assert_allclose(to_numpy(p["w"]), by_hand, rtol=1e-15, atol=0)
    np.testing.assert_allclose(to_numpy(opt.state["w"]["acc_delta"]), (1 - rho) * by_hand**2,
                               rtol=1e-15)
    np.testing.assert_allclose(np.abs(to_numpy(p["w"]))[1:], np.sqrt(eps / (1 - rho)), rtol=1e-4)


def test_adadelta_lr_multiplies_the_update(xp):
    # the paper's method is lr = 1; any other lr scales every step and nothing else
    gs = [np.array([0.3, -2.0]), np.array([1.0, 0.5]), np.array([-0.7, 0.1])]
    steps = {}
    for lr in (1.0, 0.25):
        p = {"w": xp.asarray(np.zeros(2))}
        opt = Adadelta(p, lr=lr)
        out = []
        for g in gs:  # gradients that do not depend on w: the states must agree exactly
            before = to_numpy(p["w"]).copy()
            opt.step({"w": xp.asarray(g)})
            out.append(to_numpy(p["w"]) - before)
        steps[lr] = (np.array(out), to_numpy(opt.state["w"]["acc_delta"]))
    np.testing.assert_allclose(steps[0.25][0], 0.25 * steps[1.0][0], rtol=1e-14)
    np.testing.assert_array_equal(steps[0.25][1], steps[1.0][1])


def test_adadelta_with_rho_one_is_plain_gradient_descent():
    # ρ = 1 (PyTorch accepts it): v and u stay 0, Δ = √ε/√ε g = g, so θ ← θ - η g exactly
    rng = np.random.default_rng(4)
    pa, ps = {"w": rng.standard_normal(5)}, {}
    ps["w"] = pa["w"].copy()
    oa, osgd = Adadelta(pa, lr=0.1, rho=1.0), SGD(ps, lr=0.1)
    for _ in range(20):
        g = rng.standard_normal(5)
        oa.step({"w": g})
        osgd.step({"w": g})
    np.testing.assert_array_equal(pa["w"], ps["w"])
    assert not np.any(oa.state["w"]["acc_delta"]) and not np.any(oa.state["w"]["square_avg"])


def test_adadelta_with_eps_zero_never_moves(xp):
    # accepted as PyTorch accepts it: u_0 = 0 and √(u + 0) = 0, so every update is 0
    p = {"w": xp.asarray(np.array([1.0, -2.0]))}
    opt = Adadelta(p, eps=0.0)
    for _ in range(5):
        opt.step({"w": xp.asarray(np.array([0.5, 3.0]))})
    np.testing.assert_array_equal(to_numpy(p["w"]), [1.0, -2.0])


# ------------------------------------------------------------------------------ vs PyTorch
@pytest.fixture
def torch64():
    """torch with float64 as its default dtype: NAdam keeps "step" and "mu_product" in tensors
    of the default dtype (float32 otherwise, which would round Π_t to float32)."""
    torch = pytest.importorskip("torch")
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(old)


def torch_run(torch, name, cfg, steps, changes, on_step=None):
    tparams = [torch.tensor(W0.copy()), torch.tensor(B0.copy())]
    topt = getattr(torch.optim, name)(tparams, **cfg, foreach=False)
    out = []
    for t in range(steps):
        for k, v in changes.get(t, {}).items():
            topt.param_groups[0][k] = v
        gW, gb = grad_fn(tparams[0].numpy(), tparams[1].numpy(), t)
        tparams[0].grad, tparams[1].grad = torch.tensor(gW), torch.tensor(gb)
        if on_step is not None:
            on_step(t, tparams, topt)
        topt.step()
        out.append({"W": tparams[0].numpy().copy(), "b": tparams[1].numpy().copy()})
    return out, tparams, topt


def _state_value(v):
    return float(v) if not hasattr(v, "shape") or tuple(v.shape) == () else to_numpy(v)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_matches_torch_step_for_step(xp, torch64, case):
    name, cfg, changes = case
    ours, opt, _ = edulib_run(xp, name, cfg, STEPS, changes)
    theirs, tparams, topt = torch_run(torch64, name, cfg, STEPS, changes)
    assert np.abs(theirs[-1]["W"] - W0).max() > 1e-2
    for t in range(STEPS):
        for k in ("W", "b"):
            assert_close(ours[t][k], theirs[t][k], 1e-14, f"step {t + 1}, {k}")
    for k, tp in zip(("W", "b"), tparams, strict=True):   # the state: same names, same values
        tstate = topt.state[tp]
        assert set(opt.state[k]) == set(tstate)
        for key, val in tstate.items():
            if key == "step":
                assert opt.state[k][key] == float(val) == STEPS
            elif np.any(val.numpy()):
                assert_close(_state_value(opt.state[k][key]), val.numpy(), 1e-13, f"{k} {key}")
            else:  # Adadelta with rho = 1: square_avg and acc_delta stay exactly 0
                assert not np.any(_state_value(opt.state[k][key]))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_each_step_from_torchs_state_agrees_to_rounding(torch64, case):
    # Two trajectories drift apart as rounding differences grow over the steps; one step taken
    # from the same parameters and the same state must agree to a few units in the last place.
    name, cfg, changes = case
    params = {"W": W0.copy(), "b": B0.copy()}
    opt = OPTIMIZERS[name](params, **cfg)
    mirrored = []

    def mirror(t, tparams, topt):  # before torch's step t: copy its parameters and state
        for k, v in changes.get(t, {}).items():
            setattr(opt, k, v)
        for k, tp in zip(("W", "b"), tparams, strict=True):
            params[k][...] = tp.detach().numpy()
            for key, val in topt.state[tp].items():
                if val.dim() == 0:
                    opt.state[k][key] = float(val)
                else:
                    opt.state[k][key][...] = val.numpy()
        opt.step({"W": tparams[0].grad.numpy(), "b": tparams[1].grad.numpy()})
        mirrored.append({k: v.copy() for k, v in params.items()})

    theirs, _, _ = torch_run(torch64, name, cfg, STEPS, changes, on_step=mirror)
    ulp = np.finfo(np.float64).eps
    before = {"W": W0, "b": B0}
    for t in range(STEPS):
        for k in ("W", "b"):
            # in units of the larger of θ_{t-1} and θ_t (the update may cancel most of θ)
            scale = max(np.abs(before[k]).max(), np.abs(theirs[t][k]).max())
            err = np.abs(mirrored[t][k] - theirs[t][k]).max() / scale
            assert err <= 4 * ulp, f"step {t + 1}, {k}: {err / ulp:.1f} ulp"
            before[k] = theirs[t][k]


def test_float32_default_torch_rounds_nadams_mu_product():
    # with torch's default float32, PyTorch keeps Π_t in a float32 tensor; edulib keeps a
    # Python float. The two then differ by that rounding only: close, not equal.
    torch = pytest.importorskip("torch")
    assert torch.get_default_dtype() == torch.float32
    cfg = {"lr": 0.05}
    ours, opt, _ = edulib_run(np, "NAdam", cfg, STEPS, {})
    theirs, tparams, topt = torch_run(torch, "NAdam", cfg, STEPS, {})
    assert topt.state[tparams[0]]["mu_product"].dtype == torch.float32
    np.testing.assert_allclose(ours[-1]["W"], theirs[-1]["W"], rtol=1e-5, atol=1e-6)
    prod = opt.state["W"]["mu_product"]
    assert float(topt.state[tparams[0]]["mu_product"]) == pytest.approx(prod, rel=1e-6)


@pytest.mark.parametrize("name", ["NAdam", "Adadelta"])
def test_float32_parameters_close_to_torch(name):
    torch = pytest.importorskip("torch")
    cfg = [c for n, c, ch in CASES if n == name and not ch][0] if name == "NAdam" else {}
    ours, _, _ = edulib_run(np, name, cfg, 30, {}, dtype=np.float32)
    tparams = [torch.tensor(W0.astype(np.float32)), torch.tensor(B0.astype(np.float32))]
    topt = getattr(torch.optim, name)(tparams, **cfg, foreach=False)
    for t in range(30):
        gW, gb = grad_fn(tparams[0].numpy().astype(np.float64),
                         tparams[1].numpy().astype(np.float64), t)
        tparams[0].grad = torch.tensor(gW.astype(np.float32))
        tparams[1].grad = torch.tensor(gb.astype(np.float32))
        topt.step()
    assert ours[-1]["W"].dtype == np.float32
    np.testing.assert_allclose(ours[-1]["W"], tparams[0].numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["NAdam", "Adadelta"])
def test_defaults_and_keywords_match_torch(name):
    torch = pytest.importorskip("torch")
    theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
    ours = _defaults(name)
    assert ours == {k: theirs[k].default for k in ours}
    # every keyword of torch's except the execution switches (lists, CUDA graphs, autograd)
    assert set(theirs) - set(ours) - {"self", "params"} == {"foreach", "capturable",
                                                            "differentiable"}


# ------------------------------------------------------------------------------ state & memory
def test_state_keys_follow_torch_names(xp):
    for cls, keys in ((NAdam, {"step", "mu_product", "exp_avg", "exp_avg_sq"}),
                      (Adadelta, {"step", "square_avg", "acc_delta"})):
        p = {"w": xp.asarray(np.ones(3))}
        opt = cls(p)
        assert opt.state["w"] == {}   # created at the first step, as PyTorch does
        opt.step({"w": xp.asarray(np.ones(3))})
        opt.step({"w": xp.asarray(np.ones(3))})
        assert set(opt.state["w"]) == keys
        assert opt.state["w"]["step"] == 2.0 and isinstance(opt.state["w"]["step"], float)


@pytest.mark.parametrize("name", ["NAdam", "Adadelta"])
def test_state_dict_round_trip(xp, name):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3) for _ in range(12)]
    cfg = {"lr": 0.1, "weight_decay": 0.01}
    p1 = {"w": xp.asarray(np.zeros(3))}
    o1 = OPTIMIZERS[name](p1, **cfg)
    for g in grads[:6]:
        o1.step({"w": xp.asarray(g)})
    saved, w6 = o1.state_dict(), to_numpy(p1["w"]).copy()
    for g in grads[6:]:
        o1.step({"w": xp.asarray(g)})
    p2 = {"w": xp.asarray(w6)}
    o2 = OPTIMIZERS[name](p2)            # defaults: load_state_dict restores cfg
    o2.load_state_dict(saved)
    assert o2.hyperparams == o1.hyperparams
    for g in grads[6:]:
        o2.step({"w": xp.asarray(g)})
    np.testing.assert_array_equal(to_numpy(p2["w"]), to_numpy(p1["w"]))
    assert o2.state["w"]["step"] == 12.0
    for key, val in o1.state["w"].items():
        np.testing.assert_array_equal(np.asarray(_state_value(o2.state["w"][key])),
                                      np.asarray(_state_value(val)))


def test_zero_state_restarts_the_momentum_cache():
    p = {"w": np.zeros(2)}
    opt = NAdam(p, lr=0.1)
    opt.step({"w": np.ones(2)})
    first = p["w"].copy()
    opt.step({"w": np.ones(2)})
    opt.zero_state()
    p["w"][...] = 0.0
    opt.step({"w": np.ones(2)})
    np.testing.assert_array_equal(p["w"], first)   # step 1 again: Π back to 1, m and v to 0


CONFIGS = [(NAdam, {}), (NAdam, {"weight_decay": 0.1, "decoupled_weight_decay": True}),
           (Adadelta, {}), (Adadelta, {"lr": 0.5, "rho": 0.95})]


def _cfg_id(c):
    return c[0].__name__ + ",".join(f"{k}={v}" for k, v in c[1].items())


@pytest.mark.parametrize("cfg", CONFIGS, ids=_cfg_id)
def test_float32_and_state_arrays_updated_in_place(xp, cfg):
    cls, kw = cfg
    rng = np.random.default_rng(1)
    w = xp.asarray(rng.standard_normal((5, 4)), dtype=xp.float32)
    b = xp.asarray(rng.standard_normal(4), dtype=xp.float32)
    params = {"W": w, "b": b}
    opt = cls(params, **kw)
    opt.step({"W": xp.asarray(rng.standard_normal((5, 4))), "b": xp.asarray(rng.standard_normal(4))})
    arrays = {(k, n): v for k in params for n, v in opt.state[k].items() if hasattr(v, "shape")}
    scratches = dict(opt._scratches)
    for _ in range(5):
        opt.step({"W": xp.asarray(rng.standard_normal((5, 4)), dtype=xp.float32),
                  "b": xp.asarray(rng.standard_normal(4), dtype=xp.float32)})
    assert params["W"] is w and params["b"] is b
    assert w.dtype == xp.float32 and b.dtype == xp.float32
    for (k, n), arr in arrays.items():
        assert opt.state[k][n] is arr, f"state[{k!r}][{n!r}] was replaced instead of updated"
        assert arr.dtype == xp.float32
    # two scratch arrays per parameter shape, made at the first step and reused
    assert opt._scratches.keys() == scratches.keys() and len(scratches) == 4
    assert all(opt._scratches[key] is s for key, s in scratches.items())


@pytest.mark.parametrize("cfg", CONFIGS, ids=_cfg_id)
def test_numpy_step_allocates_less_than_one_parameter(cfg):
    cls, kw = cfg
    n = 1_000_000
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal(n)}
    g = rng.standard_normal(n)
    opt = cls(params, **kw)
    opt.step({"w": g})  # creates the state and the scratch arrays
    opt.step({"w": g})
    tracemalloc.start()
    try:
        opt.step({"w": g})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * params["w"].nbytes, f"{cls.__name__} step allocated {peak} bytes"


@pytest.mark.parametrize("cfg", CONFIGS + [(NAdam, {"weight_decay": 0.1, "maximize": True}),
                                           (Adadelta, {"weight_decay": 0.1})], ids=_cfg_id)
def test_numpy_blocked_path_equals_whole_array_path(cfg):
    # large NumPy arrays are updated in cache-sized blocks: bit-for-bit the numbers of one pass
    # over the whole array, with "step" and "mu_product" advanced once per step, not per block
    cls, kw = cfg
    rng = np.random.default_rng(3)
    shape = (701, 200)
    assert 2 * Optimizer.BLOCK < 701 * 200 < 3 * Optimizer.BLOCK
    p_blocked = {"W": rng.standard_normal(shape)}
    p_whole = {"W": p_blocked["W"].copy()}
    o_blocked, o_whole = cls(p_blocked, **kw), cls(p_whole, **kw)
    o_whole.BLOCK = 10**12
    calls = []
    original = o_blocked._update
    o_blocked._update = lambda p, g, st: (calls.append(p.shape), original(p, g, st))
    for _ in range(4):
        g = rng.standard_normal(shape)
        o_blocked.step({"W": g})
        o_whole.step({"W": g})
    blocks = [(Optimizer.BLOCK,)] * 2 + [(701 * 200 - 2 * Optimizer.BLOCK,)]
    assert calls == [shape] + blocks * 3   # the first step creates the state, whole
    np.testing.assert_array_equal(p_blocked["W"], p_whole["W"])
    assert set(o_blocked.state["W"]) == set(o_whole.state["W"])
    for key, val in o_whole.state["W"].items():
        np.testing.assert_array_equal(o_blocked.state["W"][key], val)
    assert o_blocked.state["W"]["step"] == 4.0


# ------------------------------------------------------------------------------ interface
def test_registry_exports_and_docs():
    assert OPTIMIZERS["NAdam"] is NAdam and OPTIMIZERS["Adadelta"] is Adadelta
    for cls in (NAdam, Adadelta):
        assert cls.__name__ in optim.__all__ and "math::" in cls.__doc__
    assert "momentum_decay" in NAdam.__doc__ and "Zeiler" in Adadelta.__doc__


def test_hyperparameters_are_plain_attributes(xp):
    p = {"w": xp.asarray(np.zeros(2))}
    opt = NAdam(p, lr=0.1)
    assert opt.hyperparams == {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                               "momentum_decay": 4e-3, "decoupled_weight_decay": False,
                               "maximize": False}
    assert repr(opt).startswith("NAdam(lr=0.1, betas=(0.9, 0.999)")
    opt2 = Adadelta(p)
    assert opt2.hyperparams == {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0,
                                "maximize": False}
    opt2.rho = 0.5   # a slider may change it between steps
    opt2.step({"w": xp.asarray(np.array([2.0, -2.0]))})
    np.testing.assert_allclose(to_numpy(opt2.state["w"]["square_avg"]), [2.0, 2.0])


def test_none_grad_leaves_state_alone(xp):
    for cls in (NAdam, Adadelta):
        params = {"a": xp.asarray(np.ones(2)), "b": xp.asarray(np.ones(2))}
        opt = cls(params, lr=0.1)
        opt.step({"a": xp.asarray(np.ones(2)), "b": None})
        assert opt.state["b"] == {} and opt.state["a"]["step"] == 1.0
        np.testing.assert_array_equal(to_numpy(params["b"]), [1.0, 1.0])


BAD = [
    (NAdam, {"lr": -1e-3}, ValueError, r"lr must be in \[0.0, inf\], received -0.001"),
    (NAdam, {"eps": -1.0}, ValueError, r"eps must be in \[0.0, inf\], received -1.0"),
    (NAdam, {"weight_decay": -0.1}, ValueError, "weight_decay must be in"),
    (NAdam, {"momentum_decay": -4e-3}, ValueError,
     r"momentum_decay must be in \[0.0, inf\], received -0.004"),
    (NAdam, {"momentum_decay": float("inf")}, ValueError, "momentum_decay must be in"),
    (NAdam, {"momentum_decay": "0.004"}, TypeError, "momentum_decay must be a number"),
    (NAdam, {"betas": (0.9,)}, ValueError, r"betas must be a pair .* received \(0.9,\)"),
    (NAdam, {"betas": (1.0, 0.999)}, ValueError, r"betas\[0\] \(beta1\) must be in \[0.0, 1.0\)"),
    (NAdam, {"betas": (0.9, -0.1)}, ValueError, r"betas\[1\] \(beta2\) must be in"),
    (NAdam, {"decoupled_weight_decay": "yes"}, TypeError,
     "decoupled_weight_decay must be True or False, received str 'yes'"),
    (NAdam, {"maximize": 2}, TypeError, "maximize must be True or False, received int 2"),
    (Adadelta, {"lr": -1.0}, ValueError, r"lr must be in \[0.0, inf\], received -1.0"),
    (Adadelta, {"rho": 1.5}, ValueError, r"rho must be in \[0.0, 1.0\], received 1.5"),
    (Adadelta, {"rho": -0.1}, ValueError, r"rho must be in \[0.0, 1.0\], received -0.1"),
    (Adadelta, {"rho": float("nan")}, ValueError, "rho must be in"),
    (Adadelta, {"rho": None}, TypeError, "rho must be a number, received NoneType"),
    (Adadelta, {"eps": -1e-6}, ValueError, r"eps must be in \[0.0, inf\]"),
    (Adadelta, {"weight_decay": -0.1}, ValueError, "weight_decay must be in"),
    (Adadelta, {"maximize": "False"}, TypeError, "maximize must be True or False"),
]


@pytest.mark.parametrize("cls,kw,exc,match", BAD, ids=lambda v: str(v) if not isinstance(v, type)
                         else v.__name__)
def test_bad_hyperparameters_raise_clear_errors(xp, cls, kw, exc, match):
    with pytest.raises(exc, match=match):
        cls({"w": xp.asarray(np.zeros(2))}, **kw)


@pytest.mark.parametrize("cls,kw,exc,match", [b for b in BAD if b[2] is ValueError],
                         ids=lambda v: str(v) if not isinstance(v, type) else v.__name__)
def test_torch_refuses_what_we_refuse(cls, kw, exc, match):
    # the same values are rejected by torch.optim (which raises ValueError too), except
    # non-finite ones, which torch takes and we refuse (they can only produce NaN or nothing)
    torch = pytest.importorskip("torch")
    if any(isinstance(v, float) and not np.isfinite(v) for v in kw.values()):
        pytest.skip("edulib refuses inf/NaN hyperparameters; torch.optim takes them")
    with pytest.raises((ValueError, IndexError)):
        getattr(torch.optim, cls.__name__)([torch.zeros(2, requires_grad=True)], **kw)


@pytest.mark.parametrize("cls,kw", [(NAdam, {"betas": (0.0, 0.0), "eps": 0.0, "lr": 0.0,
                                              "momentum_decay": 0.0}),
                                    (Adadelta, {"rho": 0.0, "lr": 0.0, "eps": 0.0}),
                                    (Adadelta, {"rho": 1.0})])
def test_edges_torch_accepts_are_accepted(cls, kw):
    opt = cls({"w": np.ones(2)}, **kw)
    assert all(getattr(opt, k) == v for k, v in kw.items())


def test_bad_hyperparameter_set_between_steps_is_caught(xp):
    p = {"w": xp.asarray(np.zeros(2))}
    for cls, attr, value in ((NAdam, "momentum_decay", -1.0), (Adadelta, "rho", 2.0)):
        opt = cls(p)
        setattr(opt, attr, value)
        with pytest.raises(ValueError, match=attr):
            opt.step({"w": xp.asarray(np.ones(2))})
        assert opt.state["w"] == {}  # nothing happened
        np.testing.assert_array_equal(to_numpy(p["w"]), [0.0, 0.0])
