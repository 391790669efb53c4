"""edulib.optim: SGD against closed forms (all backends) and torch.optim.SGD (when importable)."""

from __future__ import annotations

import numpy as np
import pytest

from edulib.backend import to_numpy
from edulib.optim import SGD, Optimizer

A = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])  # SPD
X0 = np.array([1.0, -2.0, 0.5])


def _run_quadratic(xp, steps, sign=1.0, **kw):
    """Run SGD on f(x) = 1/2 x^T A x (gradient A x); return the iterates x_0..x_steps."""
    x = xp.asarray(X0.copy())
    Axp = xp.asarray(A)
    params = {"x": x}
    opt = SGD(params, **kw)
    out = [to_numpy(x).copy()]
    for _ in range(steps):
        opt.step({"x": sign * (Axp @ params["x"])})
        out.append(to_numpy(params["x"]).copy())
    return np.array(out), params, x


# ------------------------------------------------------------------------------ closed forms
def test_plain_gd_equals_matrix_power(xp):
    lr = 0.2
    xs, _, _ = _run_quadratic(xp, 20, lr=lr)
    M = np.eye(3) - lr * A
    for k in range(21):
        np.testing.assert_allclose(xs[k], np.linalg.matrix_power(M, k) @ X0, rtol=1e-12,
                                   atol=1e-14)


def test_weight_decay_adds_lambda_identity(xp):
    lr, lam = 0.1, 0.3
    xs, _, _ = _run_quadratic(xp, 20, lr=lr, weight_decay=lam)
    M = np.eye(3) - lr * (A + lam * np.eye(3))
    np.testing.assert_allclose(xs[20], np.linalg.matrix_power(M, 20) @ X0, rtol=1e-12)


def test_maximize_ascends(xp):
    # maximize negates the gradient: on g(x) = -1/2 x^T A x (gradient -A x), ascent is
    # x <- x + lr * (-A x), i.e. the same iterates as descent on +1/2 x^T A x.
    lr = 0.1
    xs, _, _ = _run_quadratic(xp, 10, sign=-1.0, lr=lr, maximize=True)
    M = np.eye(3) - lr * A
    np.testing.assert_allclose(xs[10], np.linalg.matrix_power(M, 10) @ X0, rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_heavy_ball_equals_linear_recurrence(xp, nesterov):
    # z_t = (x_t, b_t) evolves linearly with b_0 = 0:
    #   b_t = mu b + A x ;  x_t = x - lr (A x + mu b_t) (Nesterov) or x - lr b_t (heavy ball)
    lr, mu = 0.1, 0.8
    xs, _, _ = _run_quadratic(xp, 20, lr=lr, momentum=mu, nesterov=nesterov)
    eye = np.eye(3)
    if nesterov:
        M = np.block([[eye - lr * (1 + mu) * A, -lr * mu * mu * eye], [A, mu * eye]])
    else:
        M = np.block([[eye - lr * A, -lr * mu * eye], [A, mu * eye]])
    z0 = np.concatenate([X0, np.zeros(3)])
    for k in (1, 2, 5, 20):
        np.testing.assert_allclose(xs[k], (np.linalg.matrix_power(M, k) @ z0)[:3], rtol=1e-11)


def test_dampening_first_step_is_undamped(xp):
    # PyTorch initialises the buffer with g_1 itself (no (1 - dampening) factor), and damps
    # every later gradient: with a constant gradient g,
    # b_t = mu^{t-1} g + (1 - tau) (1 + mu + ... + mu^{t-2}) g.
    lr, mu, tau = 0.5, 0.9, 0.3
    g = np.array([1.0, -2.0])
    p = {"w": xp.asarray(np.zeros(2))}
    opt = SGD(p, lr=lr, momentum=mu, dampening=tau)
    total = np.zeros(2)
    for t in range(1, 16):
        opt.step({"w": xp.asarray(g)})
        b_t = (mu ** (t - 1) + (1 - tau) * sum(mu**s for s in range(t - 1))) * g
        total += b_t
        np.testing.assert_allclose(to_numpy(opt.state["w"]["momentum_buffer"]), b_t, rtol=1e-13)
        np.testing.assert_allclose(to_numpy(p["w"]), -lr * total, rtol=1e-13)


# ------------------------------------------------------------------------------ semantics
def test_updates_in_place(xp):
    w = xp.asarray(np.array([1.0, 2.0]))
    params = {"w": w}
    opt = SGD(params, lr=0.5)
    opt.step({"w": xp.asarray(np.array([2.0, 2.0]))})
    assert opt.params is params
    assert params["w"] is w  # same array object, changed in place
    np.testing.assert_array_equal(to_numpy(w), [0.0, 1.0])


def test_zero_dim_param_in_place(xp):
    b = xp.asarray(1.0)
    params = {"b": b}
    SGD(params, lr=0.25).step({"b": xp.asarray(2.0)})
    assert params["b"] is b
    assert float(b) == 0.5


def test_lr_attribute_change_is_honoured(xp):
    params = {"w": xp.asarray(np.array([0.0]))}
    opt = SGD(params, lr=1.0)
    opt.step({"w": xp.asarray(np.array([1.0]))})
    opt.lr = 0.1
    opt.step({"w": xp.asarray(np.array([1.0]))})
    np.testing.assert_allclose(to_numpy(params["w"]), [-1.1], rtol=1e-15)
    assert opt.hyperparams["lr"] == 0.1
    opt.lr = -1.0
    with pytest.raises(ValueError, match="lr"):
        opt.step({"w": xp.asarray(np.array([1.0]))})


def test_float32_params_keep_dtype(xp):
    params = {"w": xp.asarray(np.array([1.0, 2.0]), dtype=xp.float32)}
    SGD(params, lr=0.5, momentum=0.9).step({"w": xp.asarray(np.array([1.0, 1.0]))})
    assert params["w"].dtype == xp.float32
    np.testing.assert_allclose(to_numpy(params["w"]), [0.5, 1.5])


def test_none_grad_skips_param(xp):
    params = {"a": xp.asarray(np.ones(2)), "b": xp.asarray(np.ones(2))}
    opt = SGD(params, lr=1.0, momentum=0.5)
    opt.step({"a": xp.asarray(np.ones(2)), "b": None})
    np.testing.assert_array_equal(to_numpy(params["a"]), [0.0, 0.0])
    np.testing.assert_array_equal(to_numpy(params["b"]), [1.0, 1.0])
    assert "momentum_buffer" not in opt.state["b"]


def test_zero_state_and_state_dict_round_trip(xp):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3) for _ in range(10)]

    def run(opt, params, gs):
        for g in gs:
            opt.step({"w": xp.asarray(g)})
        return to_numpy(params["w"]).copy()

    p1 = {"w": xp.asarray(np.zeros(3))}
    o1 = SGD(p1, lr=0.1, momentum=0.9, nesterov=True)
    run(o1, p1, grads[:5])
    saved, w5 = o1.state_dict(), to_numpy(p1["w"]).copy()
    final = run(o1, p1, grads[5:])
    assert o1.steps == 10

    p2 = {"w": xp.asarray(w5.copy())}
    o2 = SGD(p2, lr=123.0)
    o2.load_state_dict(saved)
    assert o2.lr == 0.1 and o2.momentum == 0.9 and o2.nesterov and o2.steps == 5
    np.testing.assert_allclose(run(o2, p2, grads[5:]), final, rtol=1e-14)

    o1.zero_state()
    assert o1.state == {"w": {}} and o1.steps == 0


def test_base_class_is_small_to_extend(xp):
    class SignSGD(Optimizer):
        def __init__(self, params, lr=0.01):
            super().__init__(params, lr=lr)

        def _update(self, p, g, state):
            from edulib.backend import array_namespace

            p -= self.lr * array_namespace(p).sign(g)

    params = {"w": xp.asarray(np.array([1.0, 1.0]))}
    opt = SignSGD(params, lr=0.5)
    opt.step({"w": xp.asarray(np.array([3.0, -0.1]))})
    np.testing.assert_array_equal(to_numpy(params["w"]), [0.5, 1.5])
    assert repr(opt) == "SignSGD(lr=0.5)"


# ------------------------------------------------------------------------------ errors
def test_errors_are_clear(xp):
    w = xp.asarray(np.zeros(3))
    with pytest.raises(TypeError, match="dict of named arrays"):
        SGD([w])
    with pytest.raises(ValueError, match="empty"):
        SGD({})
    with pytest.raises(TypeError, match="floating"):
        SGD({"n": xp.asarray(np.arange(3))})
    with pytest.raises(ValueError, match="lr must be in"):
        SGD({"w": w}, lr=-0.1)
    with pytest.raises(ValueError, match="momentum"):
        SGD({"w": w}, momentum=-0.5)
    with pytest.raises(ValueError, match="weight_decay"):
        SGD({"w": w}, weight_decay=-1)
    with pytest.raises(ValueError, match="nesterov"):
        SGD({"w": w}, nesterov=True)
    with pytest.raises(ValueError, match="nesterov"):
        SGD({"w": w}, momentum=0.9, dampening=0.1, nesterov=True)
    opt = SGD({"w": w}, lr=0.1)
    with pytest.raises(ValueError, match=r"missing \['w'\].*unexpected \['v'\]"):
        opt.step({"v": w})
    with pytest.raises(ValueError, match=r"grads\['w'\] must have the shape .*\(3,\).*\(2,\)"):
        opt.step({"w": xp.asarray(np.zeros(2))})
    with pytest.raises(TypeError, match="grads must be a dict"):
        opt.step(w)
    assert opt.steps == 0


def test_grad_from_another_library_is_refused():
    array_api_strict = pytest.importorskip("array_api_strict")
    opt = SGD({"w": np.zeros(2)}, lr=0.1)
    with pytest.raises(TypeError, match="same library"):
        opt.step({"w": array_api_strict.asarray([1.0, 1.0])})


# ------------------------------------------------------------------------------ vs PyTorch
CONFIGS = [
    {"lr": 0.05},
    {},  # PyTorch's defaults
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.5},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "momentum": 0.7, "weight_decay": 0.01, "nesterov": True},
    {"lr": 0.05, "maximize": True},
    {"lr": 0.05, "momentum": 0.8, "dampening": 0.2, "weight_decay": 0.05, "maximize": True},
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_matches_torch_sgd_20_steps(xp, cfg):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    init = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    S = rng.standard_normal((3, 3))
    S = S @ S.T / 3 + np.eye(3)

    def grad_fn(W, b, t):  # parameter-dependent gradients plus a step-dependent term
        return W @ S + np.sin(t) * np.ones_like(W), 2.0 * b - np.cos(t)

    params = {k: xp.asarray(v.copy()) for k, v in init.items()}
    opt = SGD(params, **cfg)
    tparams = [torch.tensor(init["W"].copy(), requires_grad=True),
               torch.tensor(init["b"].copy(), requires_grad=True)]
    topt = torch.optim.SGD(tparams, **cfg)
    for t in range(20):
        if t == 10:  # a schedule changing lr between steps
            opt.lr = opt.lr * 0.5
            for group in topt.param_groups:
                group["lr"] *= 0.5
        gW, gb = grad_fn(to_numpy(params["W"]), to_numpy(params["b"]), t)
        opt.step({"W": xp.asarray(gW), "b": xp.asarray(gb)})
        tW, tb = grad_fn(tparams[0].detach().numpy(), tparams[1].detach().numpy(), t)
        tparams[0].grad = torch.tensor(tW)
        tparams[1].grad = torch.tensor(tb)
        topt.step()
        np.testing.assert_allclose(to_numpy(params["W"]), tparams[0].detach().numpy(),
                                   rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(to_numpy(params["b"]), tparams[1].detach().numpy(),
                                   rtol=1e-12, atol=1e-14)


def test_defaults_match_torch():
    torch = pytest.importorskip("torch")
    import inspect

    ours = {k: v.default for k, v in inspect.signature(SGD.__init__).parameters.items()
            if k not in ("self", "params")}
    theirs = {k: v.default for k, v in inspect.signature(torch.optim.SGD.__init__).parameters.items()
              if k in ours}
    assert ours == theirs
