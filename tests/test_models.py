"""Models: backprop against finite differences and PyTorch autograd, closed-form checks
(ln C at zero weights, zero gradient at the least-squares solution), init, dtypes, and the errors
raised on bad input. Runs on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edulib import models as M
from edulib.backend import to_numpy
from edulib.gradcheck import check_gradient, rel_error

CONFIGS = {
    "linear": lambda wd: M.LinearRegression(n_features=3, weight_decay=wd),
    "softmax": lambda wd: M.SoftmaxRegression(n_features=3, n_classes=4, weight_decay=wd),
    "mlp_relu": lambda wd: M.MLP(3, hidden=5, n_classes=3, activation="relu", weight_decay=wd),
    "mlp_tanh_2": lambda wd: M.MLP(3, hidden=(5, 4), n_classes=3, activation="tanh",
                                   weight_decay=wd),
    "mlp_relu_2": lambda wd: M.MLP(3, hidden=(4, 4), n_classes=2, activation="relu",
                                   weight_decay=wd),
    "mlp_regression": lambda wd: M.MLP(3, hidden=6, n_classes=None, activation="tanh",
                                       weight_decay=wd),
}


def _data(model, xp, n=7, seed=0, dtype=None):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, model.n_features))
    if model.task == "classification":
        y = xp.asarray(g.integers(0, model.n_classes, n))
    else:
        y = xp.asarray(g.standard_normal(n), dtype=dtype or xp.float64)
    return xp.asarray(X, dtype=dtype or xp.float64), y


def _with_random_biases(params, xp, seed):
    """Nonzero biases: with zero biases a dead ReLU unit feeds an exact 0 into the next layer,
    which then sits exactly on the ReLU kink where finite differences see a one-sided slope."""
    g = np.random.default_rng(seed)
    return {k: v + xp.asarray(0.1 * g.standard_normal(tuple(v.shape)), dtype=v.dtype)
            if k.startswith("b") else v for k, v in params.items()}


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("wd", [0.0, 0.3])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_gradient_matches_finite_differences(xp, name, wd):
    model = CONFIGS[name](wd)
    params = _with_random_biases(model.init_params(seed=1, xp=xp), xp, 1)
    X, y = _data(model, xp)
    loss, grads = model.loss_and_grad(params, X, y)
    assert set(grads) == set(params)
    for k in params:
        assert tuple(grads[k].shape) == tuple(params[k].shape)
        assert grads[k].dtype == params[k].dtype
    assert tuple(loss.shape) == ()
    assert float(loss) == float(model.loss(params, X, y))
    res = check_gradient(lambda p: model.loss(p, X, y), params, grads, tol=1e-6)
    assert res, f"{name}: {res}"


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), d=st.integers(1, 4), widths=st.lists(st.integers(1, 5), min_size=1,
       max_size=2), c=st.sampled_from([None, 2, 3]), act=st.sampled_from(["relu", "tanh"]),
       seed=st.integers(0, 1000))
def test_mlp_gradient_for_many_shapes(n, d, widths, c, act, seed):
    model = M.MLP(d, hidden=widths, n_classes=c, activation=act, weight_decay=0.01)
    params = _with_random_biases(model.init_params(seed=seed), np, seed)
    X, y = _data(model, np, n=n, seed=seed)
    _, grads = model.loss_and_grad(params, X, y)
    assert check_gradient(lambda p: model.loss(p, X, y), params, grads, tol=1e-6)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_small_step_against_the_gradient_lowers_the_loss(xp, name):
    model = CONFIGS[name](0.1)
    params = model.init_params(seed=2, xp=xp)
    X, y = _data(model, xp, n=20, seed=2)
    loss, grads = model.loss_and_grad(params, X, y)
    stepped = {k: params[k] - 1e-3 * grads[k] for k in params}
    assert float(model.loss(stepped, X, y)) < float(loss)


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("c", [2, 3, 10])
def test_softmax_regression_at_zero_weights_has_loss_ln_c(xp, c):
    model = M.SoftmaxRegression(n_features=4, n_classes=c)
    params = model.init_params(seed=0, xp=xp, scale=0.0)
    assert all(float(xp.max(xp.abs(v))) == 0.0 for v in params.values())
    X, y = _data(model, xp, n=8)
    assert float(model.loss(params, X, y)) == pytest.approx(math.log(c), rel=1e-15)


def test_linear_regression_gradient_vanishes_at_the_least_squares_solution(xp):
    g = np.random.default_rng(0)
    X = g.standard_normal((40, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.3 + 0.4 * g.standard_normal(40)
    sol, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(40)]), y, rcond=None)
    model = M.LinearRegression(n_features=3)
    Xb, yb = xp.asarray(X), xp.asarray(y)
    params = {"w": xp.asarray(sol[:3]), "b": xp.asarray(sol[3:])}
    _, grads = model.loss_and_grad(params, Xb, yb)
    _, grads0 = model.loss_and_grad(model.init_params(xp=xp, scale=0.0), Xb, yb)
    scale = max(float(xp.max(xp.abs(v))) for v in grads0.values())
    for k, v in grads.items():
        assert float(xp.max(xp.abs(v))) < 1e-12 * scale, k
    # the loss there is the mean squared residual of lstsq
    resid = y - np.column_stack([X, np.ones(40)]) @ sol
    assert float(model.loss(params, Xb, yb)) == pytest.approx(np.mean(resid**2), rel=1e-12)


def test_weight_decay_is_half_lambda_times_squared_weights(xp):
    model = M.MLP(3, hidden=(4, 2), n_classes=3, weight_decay=0.0)
    params = model.init_params(seed=5, xp=xp)
    X, y = _data(model, xp)
    plain, g_plain = model.loss_and_grad(params, X, y)
    model.weight_decay = 0.25  # a plain attribute: a schedule may change it
    decayed, g_decayed = model.loss_and_grad(params, X, y)
    sq = sum(float(xp.sum(params[k] ** 2)) for k in ("W1", "W2", "W3"))
    assert float(decayed) == pytest.approx(float(plain) + 0.125 * sq, rel=1e-14)
    for k in params:
        extra = 0.25 * to_numpy(params[k]) if k.startswith("W") else 0.0
        np.testing.assert_allclose(to_numpy(g_decayed[k]), to_numpy(g_plain[k]) + extra,
                                   rtol=1e-13, atol=1e-16)


# ----------------------------------------------------------------------------- PyTorch reference
def _torch_loss_and_grads(torch, model, params, X, y):
    P = {k: torch.tensor(to_numpy(v), dtype=torch.float64, requires_grad=True)
         for k, v in params.items()}
    A = torch.tensor(to_numpy(X), dtype=torch.float64)
    act = torch.relu if model.activation == "relu" else torch.tanh
    L = model.n_layers
    for layer in range(1, L):
        A = act(A @ P[f"W{layer}"] + P[f"b{layer}"])
    out = A @ P[f"W{L}"] + P[f"b{L}"]
    yt = torch.tensor(to_numpy(y))
    if model.task == "classification":
        loss = torch.nn.functional.cross_entropy(out, yt)
    else:
        loss = torch.nn.functional.mse_loss(out[:, 0], yt)
    loss = loss + 0.5 * model.weight_decay * sum((P[f"W{i}"] ** 2).sum() for i in range(1, L + 1))
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in P.items()}


@pytest.mark.parametrize("name", ["mlp_relu", "mlp_tanh_2", "mlp_relu_2", "mlp_regression"])
def test_mlp_matches_torch_autograd(xp, name):
    torch = pytest.importorskip("torch")
    model = CONFIGS[name](0.05)
    params = _with_random_biases(model.init_params(seed=3, xp=xp), xp, 3)
    X, y = _data(model, xp, n=16, seed=3)
    loss, grads = model.loss_and_grad(params, X, y)
    t_loss, t_grads = _torch_loss_and_grads(torch, model, params, X, y)
    assert float(loss) == pytest.approx(t_loss, rel=1e-13)
    assert rel_error({k: to_numpy(v) for k, v in grads.items()}, t_grads) < 1e-13


# ----------------------------------------------------------------------------- init, dtypes, API
def test_init_is_seeded_and_identical_on_every_backend(xp):
    model = M.MLP(4, hidden=(6, 5), n_classes=3)
    a, b = model.init_params(seed=7, xp=xp), model.init_params(seed=7, xp=xp)
    ref = model.init_params(seed=7)
    other = model.init_params(seed=8, xp=xp)
    assert list(a) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for k in a:
        np.testing.assert_array_equal(to_numpy(a[k]), to_numpy(b[k]))
        np.testing.assert_array_equal(to_numpy(a[k]), ref[k])
        assert tuple(a[k].shape) == model.param_shapes[k]
    assert not np.array_equal(to_numpy(a["W1"]), to_numpy(other["W1"]))
    assert float(xp.max(xp.abs(a["b1"]))) == 0.0
    assert model.num_params() == 4 * 6 + 6 + 6 * 5 + 5 + 5 * 3 + 3


@pytest.mark.parametrize("activation, std", [("relu", math.sqrt(2 / 400)),
                                             ("tanh", math.sqrt(2 / (400 + 300)))])
def test_init_scale_is_he_for_relu_and_xavier_for_tanh(activation, std):
    model = M.MLP(400, hidden=300, n_classes=10, activation=activation)
    p = model.init_params(seed=0)
    # 120000 draws: the sample std is within 1% of the population std (its own error ~0.2%)
    assert np.std(p["W1"]) == pytest.approx(std, rel=0.01)
    assert np.std(p["W2"]) == pytest.approx(math.sqrt(2 / (300 + 10)), rel=0.05)
    half = model.init_params(seed=0, scale=0.5)
    np.testing.assert_allclose(half["W1"], 0.5 * p["W1"], rtol=1e-15)


def test_init_namespace_and_dtype_follow_like_xp_and_dtype(xp):
    model = M.SoftmaxRegression(3, 2)
    X32 = xp.asarray(np.ones((2, 3)), dtype=xp.float32)
    p = model.init_params(like=X32)
    assert all(v.dtype == xp.float32 for v in p.values())
    assert all(v.dtype == xp.float64 for v in model.init_params(xp=xp).values())
    assert all(v.dtype == xp.float32
               for v in model.init_params(xp=xp, dtype="float32").values())
    assert all(v.dtype == xp.float32
               for v in model.init_params(xp=xp, dtype=xp.float32).values())


@pytest.mark.parametrize("name", list(CONFIGS))
def test_float32_in_float32_out(xp, name):
    model = CONFIGS[name](0.1)
    params = model.init_params(seed=0, xp=xp, dtype="float32")
    X, y = _data(model, xp, dtype=xp.float32)
    loss, grads = model.loss_and_grad(params, X, y)
    assert loss.dtype == xp.float32
    assert all(grads[k].dtype == xp.float32 for k in grads)
    assert model.forward(params, X).dtype == xp.float32
    # float64 data is cast to the parameters' dtype
    X64, _ = _data(model, xp)
    assert model.loss(params, X64, y).dtype == xp.float32
    if model.task == "classification":
        assert model.accuracy(params, X, y).dtype == xp.float32


@pytest.mark.parametrize("name", list(CONFIGS))
def test_predict_and_accuracy(xp, name):
    model = CONFIGS[name](0.0)
    params = model.init_params(seed=4, xp=xp)
    X, y = _data(model, xp, n=30, seed=4)
    out = to_numpy(model.forward(params, X))
    pred = to_numpy(model.predict(params, X))
    if model.task == "classification":
        assert out.shape == (30, model.n_classes)
        np.testing.assert_array_equal(pred, out.argmax(axis=1))
        acc = float(model.accuracy(params, X, y))
        assert acc == np.mean(pred == to_numpy(y))
        proba = to_numpy(model.predict_proba(params, X))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-14)
    else:
        assert out.shape == (30,)
        np.testing.assert_array_equal(pred, out)
        with pytest.raises(TypeError, match="accuracy needs a classifier"):
            model.accuracy(params, X, y)


def test_repr_and_registry():
    assert repr(M.MLP(2, hidden=8, n_classes=3, activation="tanh")) == (
        "MLP(n_features=2, hidden=8, n_classes=3, activation='tanh', weight_decay=0.0)")
    assert set(M.MODELS) == {"linear_regression", "softmax_regression", "mlp"}


# ----------------------------------------------------------------------------- bad input
def test_bad_input_is_refused_with_the_argument_named(xp):
    model = M.MLP(3, hidden=4, n_classes=3)
    params = model.init_params(xp=xp)
    X, y = _data(model, xp)
    with pytest.raises(ValueError, match=r"X must be 2-D .*received shape \(7,\).*X\[:, None\]"):
        model.loss(params, X[:, 0], y)
    with pytest.raises(ValueError, match=r"X must have n_features=3 columns.*\(7, 2\)"):
        model.loss_and_grad(params, X[:, :2], y)
    with pytest.raises(TypeError, match="y must hold integer class labels.*float"):
        model.loss_and_grad(params, X, xp.astype(y, xp.float64))
    with pytest.raises(ValueError, match=r"y must hold class labels in \[0, 2\].*\[0, 3\]"):
        model.loss_and_grad(params, X, xp.asarray([0, 1, 2, 3, 0, 1, 2]))
    with pytest.raises(ValueError, match=r"y must hold class labels in \[0, 2\].*\[-1, 2\]"):
        model.loss_and_grad(params, X, xp.asarray([0, 1, 2, -1, 0, 1, 2]))
    with pytest.raises(ValueError, match=r"y must have shape \(N,\) = \(7,\)"):
        model.accuracy(params, X, y[:5])
    with pytest.raises(ValueError, match="params must have keys"):
        model.loss(dict(list(params.items())[:2]), X, y)
    bad = dict(params, W1=xp.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"params\['W1'\] must have shape \(3, 4\)"):
        model.loss(bad, X, y)
    reg = M.LinearRegression(3)
    with pytest.raises(ValueError, match=r"y must have shape \(N,\) = \(7,\)"):
        reg.loss(reg.init_params(xp=xp), X, xp.zeros((7, 1)))


def test_mixing_array_libraries_is_refused():
    xs = pytest.importorskip("array_api_strict")
    model = M.LinearRegression(2)
    with pytest.raises(TypeError, match="X and params must come from the same array library"):
        model.loss(model.init_params(), xs.zeros((3, 2)), xs.zeros(3))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=r"activation must be one of \('relu', 'tanh'\).*'gelu'"):
        M.MLP(2, activation="gelu")
    model = M.MLP(2)
    model.activation = "sigmoid"  # a plain attribute, checked again when used
    with pytest.raises(ValueError, match="activation must be one of"):
        model.forward(model.init_params(), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        M.SoftmaxRegression(2, 1)
    with pytest.raises(ValueError, match="hidden must be >= 1"):
        M.MLP(2, hidden=(4, 0))
    with pytest.raises(ValueError, match="hidden must name at least one"):
        M.MLP(2, hidden=())
    with pytest.raises(TypeError, match="n_features must be an int"):
        M.LinearRegression(2.5)
    with pytest.raises(ValueError, match="weight_decay must be in"):
        M.LinearRegression(2, weight_decay=-0.1)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        M.LinearRegression(2).init_params(dtype="int32")
    with pytest.raises(ValueError, match="scale must be in"):
        M.LinearRegression(2).init_params(scale=-1.0)
    with pytest.raises(TypeError, match="xp must be an array namespace"):
        M.LinearRegression(2).init_params(xp=3)
