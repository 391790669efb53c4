"""edulib.optim: Adagrad, RMSprop, Adam, AdamW (and SGD's in-place step) on every backend.

References are written here from the textbook formulas in plain NumPy float64, independently of
edulib; PyTorch cross-checks run where torch is importable.
"""

from __future__ import annotations

import inspect
import tracemalloc

import numpy as np
import pytest

from edulib import optim
from edulib.backend import apply_into, to_numpy
from edulib.optim import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

RNG = np.random.default_rng(2024)
S = RNG.standard_normal((3, 3))
S = S @ S.T / 3 + np.eye(3)
W0 = RNG.standard_normal((4, 3))
B0 = RNG.standard_normal(3)


def grad_fn(W, b, t):
    """Parameter-dependent gradients plus a step-dependent term (never a fixed point)."""
    return W @ S + np.sin(t) * np.ones_like(W), 2.0 * b - np.cos(t) + 0.1 * t * b


# ------------------------------------------------------------------------------ references
def ref_adam(theta, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             maximize=False, decoupled=False, t=1, m=None, v=None, vmax=None):
    """One textbook Adam/AdamW step on float64 arrays; returns (theta, m, v, vmax)."""
    b1, b2 = betas
    g = -grads if maximize else grads.copy()
    if weight_decay and decoupled:
        theta = theta * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * theta
    m = (1 - b1) * g if m is None else b1 * m + (1 - b1) * g
    v = (1 - b2) * g**2 if v is None else b2 * v + (1 - b2) * g**2
    if amsgrad:
        vmax = v if vmax is None else np.maximum(vmax, v)
    m_hat = m / (1 - b1**t)
    v_hat = (vmax if amsgrad else v) / (1 - b2**t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v, vmax


def ref_rmsprop(theta, grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False, st=None):
    st = {"v": 0.0, "gbar": 0.0, "b": 0.0} if st is None else st
    g = -grads if maximize else grads.copy()
    if weight_decay:
        g = g + weight_decay * theta
    st["v"] = alpha * st["v"] + (1 - alpha) * g**2
    v_tilde = st["v"]
    if centered:
        st["gbar"] = alpha * st["gbar"] + (1 - alpha) * g
        v_tilde = st["v"] - st["gbar"] ** 2
    ratio = g / (np.sqrt(v_tilde) + eps)
    if momentum > 0:
        st["b"] = momentum * st["b"] + ratio
        ratio = st["b"]
    return theta - lr * ratio, st


def ref_adagrad(theta, grads, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                eps=1e-10, maximize=False, t=1, G=None):
    G = np.full_like(theta, initial_accumulator_value) if G is None else G
    g = -grads if maximize else grads.copy()
    if weight_decay:
        g = g + weight_decay * theta
    G = G + g**2
    lr_t = lr / (1 + (t - 1) * lr_decay)
    return theta - lr_t * g / (np.sqrt(G) + eps), G


def reference_run(name, cfg, steps, lr_change=None):
    """Iterates of the textbook formulas; lr_change = (step, factor) rescales lr from that step."""
    cfg = dict(cfg)
    defaults = {k: v.default for k, v in inspect.signature(OPTIMIZERS[name].__init__).parameters.items()
                if k not in ("self", "params")}
    full = {**defaults, **cfg}
    thetas = {"W": W0.copy(), "b": B0.copy()}
    states = {"W": {}, "b": {}}
    out = []
    for t in range(1, steps + 1):
        if lr_change and t - 1 == lr_change[0]:
            full["lr"] *= lr_change[1]
        gW, gb = grad_fn(thetas["W"], thetas["b"], t - 1)
        for k, g in (("W", gW), ("b", gb)):
            st = states[k]
            if name in ("Adam", "AdamW"):
                kw = {k2: full[k2] for k2 in ("lr", "betas", "eps", "weight_decay", "amsgrad",
                                              "maximize")}
                thetas[k], st["m"], st["v"], st["vmax"] = ref_adam(
                    thetas[k], g, decoupled=name == "AdamW", t=t, m=st.get("m"), v=st.get("v"),
                    vmax=st.get("vmax"), **kw)
            elif name == "RMSprop":
                thetas[k], states[k] = ref_rmsprop(thetas[k], g, st=st or None, **full)
            elif name == "Adagrad":
                thetas[k], st["G"] = ref_adagrad(thetas[k], g, t=t, G=st.get("G"), **full)
        out.append({k: v.copy() for k, v in thetas.items()})
    return out


def edulib_run(xp, name, cfg, steps, lr_change=None, dtype=None):
    params = {"W": xp.asarray(W0.copy()), "b": xp.asarray(B0.copy())}
    if dtype is not None:
        params = {k: xp.astype(v, dtype) for k, v in params.items()}
    opt = OPTIMIZERS[name](params, **cfg)
    out = []
    for t in range(steps):
        if lr_change and t == lr_change[0]:
            opt.lr = opt.lr * lr_change[1]
        gW, gb = grad_fn(to_numpy(params["W"]).astype(np.float64),
                         to_numpy(params["b"]).astype(np.float64), t)
        opt.step({"W": xp.asarray(gW), "b": xp.asarray(gb)})
        out.append({k: to_numpy(v).copy() for k, v in params.items()})
    return out, opt, params


CONFIGS = {
    "Adam": [{}, {"lr": 0.05}, {"lr": 0.05, "amsgrad": True}, {"lr": 0.05, "weight_decay": 0.1},
             {"lr": 0.02, "betas": (0.5, 0.9), "eps": 1e-3}, {"lr": 0.05, "maximize": True},
             {"lr": 0.05, "amsgrad": True, "weight_decay": 0.05, "maximize": True}],
    "AdamW": [{}, {"lr": 0.05, "weight_decay": 0.2}, {"lr": 0.05, "amsgrad": True},
              {"lr": 0.05, "weight_decay": 0.1, "maximize": True, "betas": (0.8, 0.99)}],
    "RMSprop": [{}, {"lr": 0.01, "alpha": 0.9}, {"lr": 0.01, "centered": True},
                {"lr": 0.005, "momentum": 0.9}, {"lr": 0.01, "weight_decay": 0.1},
                {"lr": 0.01, "maximize": True},
                {"lr": 0.002, "centered": True, "momentum": 0.5, "weight_decay": 0.05,
                 "eps": 1e-4, "maximize": True}],
    "Adagrad": [{}, {"lr": 0.5}, {"lr": 0.5, "lr_decay": 0.05}, {"lr": 0.5,
                "initial_accumulator_value": 2.0}, {"lr": 0.5, "weight_decay": 0.1},
                {"lr": 0.5, "maximize": True},
                {"lr": 0.3, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-3,
                 "weight_decay": 0.05, "maximize": True}],
}
CASES = [(name, cfg) for name, cfgs in CONFIGS.items() for cfg in cfgs]


def _id(case):
    name, cfg = case
    return name + "(" + ",".join(f"{k}={v}" for k, v in cfg.items()) + ")"


# ------------------------------------------------------------------------------ vs textbook
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_trajectory_matches_textbook_formulas(xp, case):
    name, cfg = case
    ours, _, _ = edulib_run(xp, name, cfg, 60, lr_change=(30, 0.3))
    ref = reference_run(name, cfg, 60, lr_change=(30, 0.3))
    moved = np.abs(ref[-1]["W"] - W0).max()
    assert moved > 1e-3, "the run must move the parameters for the comparison to mean anything"
    for t in (0, 1, 2, 29, 30, 59):
        for k in ("W", "b"):
            np.testing.assert_allclose(ours[t][k], ref[t][k], rtol=1e-10, atol=1e-13,
                                       err_msg=f"step {t + 1}, {k}")


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_first_step_moves_each_coordinate_by_lr(xp, name):
    # bias correction: m̂_1 = g_1 and v̂_1 = g_1², so the first step is η g/(|g| + ε) ≈ η sign(g)
    # whatever the scale of the gradient (here 1e-3 to 1e3).
    g = np.array([1e-3, -0.5, 2.0, -1e3, 7.0])
    p = {"w": xp.asarray(np.zeros(5))}
    opt = OPTIMIZERS[name](p, lr=0.01, weight_decay=0.0)
    opt.step({"w": xp.asarray(g)})
    np.testing.assert_allclose(to_numpy(p["w"]), -0.01 * np.sign(g), rtol=1e-4)
    np.testing.assert_allclose(to_numpy(opt.state["w"]["exp_avg"]), 0.1 * g, rtol=1e-14)
    np.testing.assert_allclose(to_numpy(opt.state["w"]["exp_avg_sq"]), 0.001 * g**2, rtol=1e-12)


def test_amsgrad_keeps_the_running_maximum(xp):
    # a large gradient then small ones: v decays, max_exp_avg_sq does not, so AMSGrad's steps
    # are smaller than Adam's after the spike.
    gs = [10.0] + [0.1] * 20
    runs = {}
    for ams in (False, True):
        p = {"w": xp.asarray(np.zeros(1))}
        opt = Adam(p, lr=0.1, betas=(0.9, 0.9), amsgrad=ams)
        for g in gs:
            opt.step({"w": xp.asarray(np.array([g]))})
        runs[ams] = (float(to_numpy(p["w"])[0]), opt.state["w"])
    st = runs[True][1]
    vmax, v = float(to_numpy(st["max_exp_avg_sq"])[0]), float(to_numpy(st["exp_avg_sq"])[0])
    assert vmax == pytest.approx(0.1 * 100.0) and v < vmax / 5
    assert abs(runs[True][0]) < abs(runs[False][0])


def test_adamw_and_adam_with_l2_differ(xp):
    # same λ: Adam divides the decay λθ by √v̂ with everything else, AdamW shrinks θ by (1 - ηλ).
    # On a coordinate with a large gradient Adam's decay nearly vanishes; AdamW's does not.
    theta0 = np.array([1.0, 1.0])
    g = np.array([100.0, 0.0])  # coordinate 0: large gradient; coordinate 1: no gradient at all
    out = {}
    for cls in (Adam, AdamW):
        p = {"w": xp.asarray(theta0.copy())}
        opt = cls(p, lr=0.01, weight_decay=0.5)
        for _ in range(50):
            opt.step({"w": xp.asarray(g)})
        out[cls.__name__] = to_numpy(p["w"])
    assert not np.allclose(out["Adam"], out["AdamW"])
    # AdamW: coordinate 1 only decays, exactly (1 - ηλ)^50
    assert out["AdamW"][1] == pytest.approx((1 - 0.01 * 0.5) ** 50, rel=1e-12)
    # Adam+L2: coordinate 1 sees g = λθ only and takes ~η-sized steps (sign-like), far more
    # than AdamW's decay; coordinate 0 is driven by its gradient in both.
    assert out["Adam"][1] < out["AdamW"][1] - 0.2


def test_adagrad_steps_shrink_like_inverse_sqrt_t(xp):
    # constant gradient g: G_t = t g², so the step is η/√t (up to ε).
    p = {"w": xp.asarray(np.zeros(1))}
    opt = Adagrad(p, lr=1.0)
    prev = 0.0
    for t in range(1, 101):
        opt.step({"w": xp.asarray(np.array([3.0]))})
        now = float(to_numpy(p["w"])[0])
        assert prev - now == pytest.approx(1.0 / np.sqrt(t), rel=1e-9)
        prev = now
    assert opt.state["w"]["step"] == 100.0


def test_rmsprop_step_does_not_vanish(xp):
    p = {"w": xp.asarray(np.zeros(1))}
    opt = RMSprop(p, lr=0.01, alpha=0.9)
    for _ in range(200):
        before = float(to_numpy(p["w"])[0])
        opt.step({"w": xp.asarray(np.array([3.0]))})
    # v → g², so the step → η g/|g| = η
    assert before - float(to_numpy(p["w"])[0]) == pytest.approx(0.01, rel=1e-6)


# ------------------------------------------------------------------------------ state & memory
def test_state_keys_follow_torch_names(xp):
    def keys(cls, **kw):
        p = {"w": xp.asarray(np.ones(3))}
        opt = cls(p, **kw)
        opt.step({"w": xp.asarray(np.ones(3))})
        opt.step({"w": xp.asarray(np.ones(3))})
        return set(opt.state["w"]), opt.state["w"]

    assert keys(Adam)[0] == {"step", "exp_avg", "exp_avg_sq"}
    assert keys(Adam, amsgrad=True)[0] == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert keys(AdamW)[0] == {"step", "exp_avg", "exp_avg_sq"}
    assert keys(RMSprop)[0] == {"step", "square_avg"}
    assert keys(RMSprop, momentum=0.9, centered=True)[0] == {"step", "square_avg",
                                                           "momentum_buffer", "grad_avg"}
    assert keys(Adagrad)[0] == {"step", "sum"}
    _, st = keys(Adam)
    assert st["step"] == 2.0 and isinstance(st["step"], float)
    # m_2 = 0.9·0.1 + 0.1 = 0.19 for a constant gradient 1
    np.testing.assert_allclose(to_numpy(st["exp_avg"]), [0.19] * 3, rtol=1e-14)


def test_adagrad_state_is_created_at_construction(xp):
    p = {"w": xp.asarray(np.ones(2))}
    opt = Adagrad(p, initial_accumulator_value=0.25)
    assert opt.state["w"]["step"] == 0.0
    np.testing.assert_array_equal(to_numpy(opt.state["w"]["sum"]), [0.25, 0.25])
    opt.step({"w": xp.asarray(np.array([1.0, 2.0]))})
    np.testing.assert_allclose(to_numpy(opt.state["w"]["sum"]), [1.25, 4.25])
    opt.zero_state()
    np.testing.assert_array_equal(to_numpy(opt.state["w"]["sum"]), [0.25, 0.25])
    assert opt.state["w"]["step"] == 0.0


ALL_CONFIGS = [
    (SGD, {"lr": 0.1}), (SGD, {"lr": 0.1, "momentum": 0.9}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    (Adagrad, {"lr_decay": 0.1}), (RMSprop, {}), (RMSprop, {"momentum": 0.9, "centered": True}),
    (Adam, {}), (Adam, {"amsgrad": True}), (AdamW, {}), (AdamW, {"amsgrad": True}),
]


def _cfg_id(c):
    return c[0].__name__ + ",".join(f"{k}={v}" for k, v in c[1].items())


@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=_cfg_id)
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
    assert opt._scratches.keys() == scratches.keys() and len(scratches) <= 2
    assert all(opt._scratches[key] is s for key, s in scratches.items())


@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=_cfg_id)
def test_numpy_step_allocates_less_than_one_parameter(cfg):
    cls, kw = cfg
    n = 1_000_000
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal(n)}
    g = rng.standard_normal(n)
    opt = cls(params, **kw)
    opt.step({"w": g})  # creates the state and the scratch array
    opt.step({"w": g})
    tracemalloc.start()
    try:
        opt.step({"w": g})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the finiteness check of the gradient holds a bool array (n bytes = 1/8 of the parameter)
    assert peak < 0.5 * params["w"].nbytes, f"{cls.__name__} step allocated {peak} bytes"


@pytest.mark.parametrize("blocked", [True, False])
def test_numpy_weight_decay_in_the_gradient_allocates_one_block(blocked):
    # the documented exception: g + λθ is formed as a new array (PyTorch does the same); in
    # NumPy's blocked path it is one block, in the whole-array path one parameter-sized array
    n = 1_000_000
    params, g = {"w": np.ones(n)}, np.ones(n)
    opt = Adam(params, weight_decay=0.1, maximize=True)
    if not blocked:
        opt.BLOCK = 10**12
    opt.step({"w": g})
    tracemalloc.start()
    try:
        opt.step({"w": g})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    nbytes = params["w"].nbytes
    if blocked:
        assert peak < 0.5 * nbytes
    else:
        assert 0.9 * nbytes < peak < 1.5 * nbytes


@pytest.mark.parametrize("cfg", ALL_CONFIGS + [(Adam, {"weight_decay": 0.1, "maximize": True}),
                                 (Adagrad, {"weight_decay": 0.1})], ids=_cfg_id)
def test_numpy_blocked_path_equals_whole_array_path(cfg):
    # large NumPy parameters are updated in cache-sized blocks of views: bit-for-bit the same
    # numbers as one pass over the whole array, the step counted once, not once per block
    cls, kw = cfg
    rng = np.random.default_rng(3)
    shape = (701, 200)  # 140,200 elements: two full blocks and a partial one
    assert 2 * Optimizer.BLOCK < 701 * 200 < 3 * Optimizer.BLOCK
    p_blocked = {"W": rng.standard_normal(shape)}
    p_whole = {"W": p_blocked["W"].copy()}
    o_blocked, o_whole = cls(p_blocked, **kw), cls(p_whole, **kw)
    o_whole.BLOCK = 10**12  # never blocked
    calls = []
    original = o_blocked._update
    o_blocked._update = lambda p, g, st: (calls.append(p.shape), original(p, g, st))
    for _ in range(4):
        g = rng.standard_normal(shape)
        o_blocked.step({"W": g})
        o_whole.step({"W": g})
    blocks = [(Optimizer.BLOCK,)] * 2 + [(701 * 200 - 2 * Optimizer.BLOCK,)]
    # the first step runs whole when it creates the state (Adagrad and plain SGD have it ready)
    assert calls == blocks * 4 or calls == [shape] + blocks * 3
    np.testing.assert_array_equal(p_blocked["W"], p_whole["W"])
    for key, val in o_whole.state["W"].items():
        np.testing.assert_array_equal(o_blocked.state["W"][key], val)
        if not hasattr(val, "shape"):
            assert o_blocked.state["W"][key] == 4.0  # "step"
        else:
            assert o_blocked.state["W"][key].shape == shape


# ------------------------------------------------------------------------------ apply_into
@pytest.mark.parametrize("op,args", [
    ("add", ("out", "a")), ("subtract", ("b", "out")), ("multiply", ("a", "a")),
    ("multiply", ("out", 0.5)), ("divide", ("a", "out")), ("divide", ("out", 3.0)),
    ("sqrt", ("out",)), ("maximum", ("out", "b")), ("negative", ("a",)),
])
def test_apply_into_agrees_with_plain_expression(xp, op, args):
    rng = np.random.default_rng(5)
    vals = {"a": rng.uniform(0.5, 2.0, 6), "b": rng.uniform(0.5, 2.0, 6),
            "out": rng.uniform(0.5, 2.0, 6)}
    expected = getattr(np, op)(*[vals[a] if isinstance(a, str) else a for a in args])
    arrs = {k: xp.asarray(v.copy()) for k, v in vals.items()}
    out = arrs["out"]
    res = apply_into(out, op, *[arrs[a] if isinstance(a, str) else a for a in args])
    assert res is out
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-15)
    np.testing.assert_array_equal(to_numpy(arrs["a"]), vals["a"])  # inputs untouched


def test_apply_into_numpy_and_generic_paths_agree():
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(6)
    a, b = rng.uniform(0.5, 2, 7), rng.uniform(0.5, 2, 7)
    n_out, s_out = np.empty(7), xps.empty((7,))
    for op, args in (("multiply", (a, b)), ("divide", (a, b)), ("sqrt", (a,))):
        apply_into(n_out, op, *args)
        apply_into(s_out, op, *[xps.asarray(x) for x in args])
        np.testing.assert_array_equal(n_out, to_numpy(s_out))


# ------------------------------------------------------------------------------ interface
def test_registry_and_exports():
    assert OPTIMIZERS == {"SGD": SGD, "Adagrad": Adagrad, "RMSprop": RMSprop, "Adam": Adam,
                          "AdamW": AdamW, "NAdam": optim.NAdam, "Adadelta": optim.Adadelta}
    for name, cls in OPTIMIZERS.items():
        assert issubclass(cls, Optimizer) and cls.__name__ == name and name in optim.__all__
        assert cls.__doc__ and ("math::" in cls.__doc__)
    assert "OPTIMIZERS" in optim.__all__


def test_hyperparameters_are_plain_attributes(xp):
    p = {"w": xp.asarray(np.zeros(2))}
    opt = Adam(p, lr=0.1, betas=(0.8, 0.9))
    assert opt.lr == 0.1 and opt.betas == (0.8, 0.9)
    assert opt.hyperparams == {"lr": 0.1, "betas": (0.8, 0.9), "eps": 1e-8, "weight_decay": 0,
                               "amsgrad": False, "maximize": False}
    opt.betas = (0.5, 0.5)
    opt.step({"w": xp.asarray(np.array([1.0, -1.0]))})
    np.testing.assert_allclose(to_numpy(opt.state["w"]["exp_avg"]), [0.5, -0.5])
    assert repr(opt).startswith("Adam(lr=0.1, betas=(0.5, 0.5)")


def test_state_dict_round_trip_adam(xp):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3) for _ in range(10)]
    p1 = {"w": xp.asarray(np.zeros(3))}
    o1 = Adam(p1, lr=0.1, amsgrad=True)
    for g in grads[:5]:
        o1.step({"w": xp.asarray(g)})
    saved, w5 = o1.state_dict(), to_numpy(p1["w"]).copy()
    for g in grads[5:]:
        o1.step({"w": xp.asarray(g)})
    p2 = {"w": xp.asarray(w5)}
    o2 = Adam(p2)
    o2.load_state_dict(saved)
    for g in grads[5:]:
        o2.step({"w": xp.asarray(g)})
    np.testing.assert_allclose(to_numpy(p2["w"]), to_numpy(p1["w"]), rtol=1e-14)
    assert o2.state["w"]["step"] == 10.0


def test_none_grad_leaves_adam_state_alone(xp):
    params = {"a": xp.asarray(np.ones(2)), "b": xp.asarray(np.ones(2))}
    opt = Adam(params, lr=0.1)
    opt.step({"a": xp.asarray(np.ones(2)), "b": None})
    assert opt.state["b"] == {} and opt.state["a"]["step"] == 1.0
    np.testing.assert_array_equal(to_numpy(params["b"]), [1.0, 1.0])


BAD = [
    (Adam, {"lr": -1e-3}, ValueError, r"lr must be in \[0.0, inf\], received -0.001"),
    (Adam, {"eps": -1.0}, ValueError, "eps must be in"),
    (Adam, {"weight_decay": -0.1}, ValueError, "weight_decay must be in"),
    (Adam, {"betas": (0.9,)}, ValueError, r"betas must be a pair .* received \(0.9,\)"),
    (Adam, {"betas": 0.9}, ValueError, "betas must be a pair"),
    (Adam, {"betas": (1.0, 0.999)}, ValueError, r"betas\[0\] \(beta1\) must be in \[0.0, 1.0\)"),
    (Adam, {"betas": (0.9, -0.1)}, ValueError, r"betas\[1\] \(beta2\) must be in"),
    (Adam, {"betas": (0.9, "x")}, TypeError, r"betas\[1\] \(beta2\) must be a number"),
    (Adam, {"amsgrad": 2}, TypeError, "amsgrad must be True or False, received int 2"),
    (Adam, {"amsgrad": "no"}, TypeError, "amsgrad must be True or False, received str 'no'"),
    (AdamW, {"maximize": "yes"}, TypeError, "maximize must be True or False"),
    (AdamW, {"weight_decay": float("nan")}, ValueError, "weight_decay"),
    (RMSprop, {"alpha": 1.5}, ValueError, r"alpha must be in \[0.0, 1.0\], received 1.5"),
    (RMSprop, {"alpha": -0.1}, ValueError, "alpha"),
    (RMSprop, {"momentum": -0.9}, ValueError, "momentum must be in"),
    (RMSprop, {"eps": -1e-8}, ValueError, "eps"),
    (RMSprop, {"centered": None}, TypeError, "centered must be True or False"),
    (Adagrad, {"lr_decay": -1.0}, ValueError, "lr_decay must be in"),
    (Adagrad, {"initial_accumulator_value": -1.0}, ValueError, "initial_accumulator_value"),
    (Adagrad, {"eps": -1.0}, ValueError, "eps must be in"),
    (Adagrad, {"lr": "0.1"}, TypeError, "lr must be a number"),
    (SGD, {"maximize": 0.0}, TypeError, "maximize must be True or False, received float"),
    (SGD, {"nesterov": "yes", "momentum": 0.9}, TypeError, "nesterov must be True or False"),
]


@pytest.mark.parametrize(("cls", "flag"), [(Adam, "amsgrad"), (RMSprop, "centered"),
                                           (SGD, "nesterov")])
def test_flags_accept_numpy_bools_and_0_1_as_torch_does(cls, flag):
    extra = {"momentum": 0.9} if cls is SGD else {}
    for value, expected in ((np.True_, True), (1, True), (0, False), (np.False_, False)):
        opt = cls({"w": np.zeros(2)}, **{flag: value}, **extra)
        assert getattr(opt, flag) is expected  # stored as a plain bool


@pytest.mark.parametrize("cls,kw,exc,match", BAD, ids=lambda v: str(v) if not isinstance(v, type)
                         else v.__name__)
def test_bad_hyperparameters_raise_clear_errors(xp, cls, kw, exc, match):
    with pytest.raises(exc, match=match):
        cls({"w": xp.asarray(np.zeros(2))}, **kw)


def test_bad_hyperparameter_set_between_steps_is_caught(xp):
    p = {"w": xp.asarray(np.zeros(2))}
    opt = Adam(p)
    opt.betas = (0.9, 1.0)
    with pytest.raises(ValueError, match="beta2"):
        opt.step({"w": xp.asarray(np.ones(2))})
    assert opt.state["w"] == {}  # nothing happened
    np.testing.assert_array_equal(to_numpy(p["w"]), [0.0, 0.0])


# ------------------------------------------------------------------------------ vs PyTorch
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_matches_torch_60_steps(xp, case):
    torch = pytest.importorskip("torch")
    name, cfg = case
    ours, opt, _ = edulib_run(xp, name, cfg, 60, lr_change=(30, 0.3))
    tparams = [torch.tensor(W0.copy()), torch.tensor(B0.copy())]
    topt = getattr(torch.optim, name)(tparams, **cfg, foreach=False)
    for t in range(60):
        if t == 30:
            for group in topt.param_groups:
                group["lr"] *= 0.3
        gW, gb = grad_fn(tparams[0].numpy(), tparams[1].numpy(), t)
        tparams[0].grad, tparams[1].grad = torch.tensor(gW), torch.tensor(gb)
        topt.step()
        np.testing.assert_allclose(ours[t]["W"], tparams[0].numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(ours[t]["b"], tparams[1].numpy(), rtol=1e-10, atol=1e-13)
    # the state: same keys, same values
    for k, tp in zip(("W", "b"), tparams, strict=True):
        tstate = topt.state[tp]
        assert set(opt.state[k]) == set(tstate)
        for key, val in tstate.items():
            np.testing.assert_allclose(np.asarray(to_numpy(opt.state[k][key])),
                                       val.numpy() if hasattr(val, "numpy") else val,
                                       rtol=1e-10, atol=1e-14, err_msg=key)


SWITCHED_ON = [("Adam", {"lr": 0.05}, "amsgrad", True),
               ("AdamW", {"lr": 0.05, "weight_decay": 0.1}, "amsgrad", True),
               ("RMSprop", {"lr": 0.01}, "centered", True),
               ("RMSprop", {"lr": 0.005}, "momentum", 0.9)]


@pytest.mark.parametrize("case", SWITCHED_ON, ids=lambda c: f"{c[0]}-{c[2]}")
def test_switching_a_state_option_on_after_steps_matches_torch(xp, case):
    # torch.optim creates a parameter's state once, at its first step, for the options set
    # then; switched on later, torch 2.x stops with a KeyError on the missing buffer. edulib
    # creates that buffer at its switch-on value, zeros, the state torch gives a fresh
    # parameter: torch given that same buffer must then follow the same trajectory.
    torch = pytest.importorskip("torch")
    name, cfg, option, value = case
    params = {"W": xp.asarray(W0.copy()), "b": xp.asarray(B0.copy())}
    opt = OPTIMIZERS[name](params, **cfg)
    tparams = [torch.tensor(W0.copy()), torch.tensor(B0.copy())]
    topt = getattr(torch.optim, name)(tparams, **cfg, foreach=False)
    missing = {"amsgrad": "max_exp_avg_sq", "centered": "grad_avg",
               "momentum": "momentum_buffer"}[option]
    for t in range(40):
        if t == 10:
            setattr(opt, option, value)
            topt.param_groups[0][option] = value
        gW, gb = grad_fn(tparams[0].numpy(), tparams[1].numpy(), t)
        tparams[0].grad, tparams[1].grad = torch.tensor(gW), torch.tensor(gb)
        opt.step({"W": xp.asarray(gW), "b": xp.asarray(gb)})
        try:
            topt.step()
        except KeyError as exc:  # torch's own behaviour: no buffer for the new option
            assert t == 10 and exc.args == (missing,)
            for tp in tparams:
                topt.state[tp][missing] = torch.zeros_like(tp)
            topt.step()
        for k, tp in zip(("W", "b"), tparams, strict=True):
            np.testing.assert_allclose(to_numpy(params[k]), tp.numpy(), rtol=1e-10, atol=1e-13,
                                       err_msg=f"step {t + 1}, {k}")
    for k, tp in zip(("W", "b"), tparams, strict=True):
        assert set(opt.state[k]) == set(topt.state[tp])
        np.testing.assert_allclose(to_numpy(opt.state[k][missing]),
                                   topt.state[tp][missing].numpy(), rtol=1e-10, atol=1e-14)
    assert np.abs(to_numpy(opt.state["W"][missing])).max() > 0  # the new buffer did work


def test_amsgrad_switched_on_starts_its_maximum_at_the_current_step():
    # the first AMSGrad step after the switch is a plain Adam step (max(0, v_t) = v_t); the
    # maximum then holds while v decays: the same as a run with amsgrad on from that step
    p = {"w": np.zeros(1)}
    opt = Adam(p, lr=0.1, betas=(0.9, 0.9))
    for g in (1.0, 1.0):
        opt.step({"w": np.array([g])})
    opt.amsgrad = True
    opt.step({"w": np.array([10.0])})
    v_spike = float(opt.state["w"]["exp_avg_sq"][0])
    assert float(opt.state["w"]["max_exp_avg_sq"][0]) == v_spike
    for _ in range(5):
        opt.step({"w": np.array([0.1])})
    assert float(opt.state["w"]["max_exp_avg_sq"][0]) == v_spike
    assert float(opt.state["w"]["exp_avg_sq"][0]) < v_spike / 1.5


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad"])
def test_float32_close_to_torch(name):
    torch = pytest.importorskip("torch")
    cfg = CONFIGS[name][-1]
    ours, _, _ = edulib_run(np, name, cfg, 30, dtype=np.float32)
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


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_defaults_match_torch(name):
    torch = pytest.importorskip("torch")
    cls = OPTIMIZERS[name]
    ours = {k: v.default for k, v in inspect.signature(cls.__init__).parameters.items()
            if k not in ("self", "params")}
    theirs = {k: v.default for k, v in
              inspect.signature(getattr(torch.optim, name).__init__).parameters.items()}
    assert ours == {k: theirs[k] for k in ours}
