"""edulib.hessian: flatten/unflatten, Hessian-vector products (closed forms, finite differences,
PyTorch), the dense Hessian, the solvers of edulib.spectral on a model, critical points, the
sharpness along a run (against exact eigenvalues), bad input; and the models' ``loss="mse"``
option for classifiers. The solvers themselves: tests/test_spectral.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edulib import functions as F
from edulib import hessian as hs
from edulib import models as M
from edulib import spectral
from edulib.backend import to_numpy
from edulib.gradcheck import check_gradient

RTOL_ANALYTIC = 1e-10
RTOL_FD = 1e-6


def _data(xp, model, n=40, seed=0, dtype=None):
    g = np.random.default_rng(seed)
    dtype = dtype or xp.float64
    X = xp.asarray(g.standard_normal((n, model.n_features)), dtype=dtype)
    if model.task == "classification":
        y = xp.asarray(g.integers(0, model.n_classes, n))
    else:
        y = xp.asarray(g.standard_normal(n), dtype=dtype)
    return X, y


def _params(xp, model, seed=1, dtype=None):
    """Random weights and nonzero biases (no ReLU unit sits exactly on its kink)."""
    p = model.init_params(seed=seed, xp=xp, dtype=dtype)
    g = np.random.default_rng(seed + 100)
    return {k: v + xp.asarray(0.2 * g.standard_normal(tuple(v.shape)), dtype=v.dtype)
            for k, v in p.items()}


def _rel(a, b):
    a, b = np.asarray(to_numpy(a), dtype=np.float64), np.asarray(to_numpy(b), dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _closed_form_hessian(model, params, X, y):
    """Reference dense Hessians written out independently (NumPy, float64, flatten order)."""
    X = np.asarray(to_numpy(X), dtype=np.float64)
    y = np.asarray(to_numpy(y))
    N, d = X.shape
    lam = model.weight_decay
    if isinstance(model, M.LinearRegression):
        Xt = np.hstack([X, np.ones((N, 1))])
        H = 2.0 / N * Xt.T @ Xt
        H[:d, :d] += lam * np.eye(d)
        return H
    C = model.n_classes
    Xt = np.hstack([X, np.ones((N, 1))])  # row i: (x_i, 1) -> W rows then b
    W = np.asarray(to_numpy(params["W"]))
    b = np.asarray(to_numpy(params["b"]))
    if model.loss_kind == "mse":
        S = np.broadcast_to(2.0 / (N * C) * np.eye(C), (N, C, C))
    else:
        Z = X @ W + b
        P = np.exp(Z - Z.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        S = (np.einsum("ic,cd->icd", P, np.eye(C)) - np.einsum("ic,id->icd", P, P)) / N
    # H[(a, c), (a', c')] = sum_i xt_ia S_icc' xt_ia' with (a, c) flattened as a*C + c
    H4 = np.einsum("ia,icd,ib->acbd", Xt, S, Xt).reshape((d + 1) * C, (d + 1) * C)
    H4[: d * C, : d * C] += lam * np.eye(d * C)
    return H4


LINEAR_MODELS = {
    "linear": lambda: M.LinearRegression(4, weight_decay=0.3),
    "softmax_ce": lambda: M.SoftmaxRegression(4, 3, weight_decay=0.2),
    "softmax_mse": lambda: M.SoftmaxRegression(4, 3, weight_decay=0.1, loss="mse"),
}
MLPS = {
    "mlp_tanh": lambda: M.MLP(4, (5, 3), 3, activation="tanh", weight_decay=0.1),
    "mlp_relu": lambda: M.MLP(4, 6, 3, activation="relu"),
    "mlp_mse": lambda: M.MLP(4, 5, 3, activation="tanh", loss="mse"),
    "mlp_regression": lambda: M.MLP(4, 5, None, activation="tanh"),
}


# ============================================================================= flatten
def test_flatten_order_and_roundtrip(xp):
    params = {"W": xp.reshape(xp.arange(6, dtype=xp.float64), (2, 3)),
              "b": xp.asarray([10.0, 11.0])}
    v = hs.flatten(params)
    assert tuple(v.shape) == (8,)
    np.testing.assert_array_equal(to_numpy(v), [0, 1, 2, 3, 4, 5, 10, 11])
    back = hs.unflatten(v, params)
    assert list(back) == ["W", "b"]
    for k in params:
        assert tuple(back[k].shape) == tuple(params[k].shape)
        assert back[k].dtype == params[k].dtype
        np.testing.assert_array_equal(to_numpy(back[k]), to_numpy(params[k]))


def test_unflatten_keeps_namespace_and_dtype(xp):
    model = M.MLP(3, 4, 2)
    params = model.init_params(0, xp=xp, dtype="float32")
    v = hs.flatten(params)
    assert v.dtype == xp.float32 and type(v) is type(params["W1"])
    back = hs.unflatten(xp.astype(v, xp.float64), params)
    assert all(back[k].dtype == xp.float32 for k in back)
    assert type(back["W1"]) is type(params["W1"])


def test_flatten_unflatten_bad_input():
    p = {"a": np.zeros((2, 2)), "b": np.zeros(3)}
    with pytest.raises(ValueError, match=r"vec must be 1-D of length P=7.*\(6,\)"):
        hs.unflatten(np.zeros(6), p)
    with pytest.raises(ValueError, match=r"vec must be 1-D.*\(7, 1\)"):
        hs.unflatten(np.zeros((7, 1)), p)
    with pytest.raises(TypeError, match="params must be a dict"):
        hs.flatten([np.zeros(2)])
    with pytest.raises(ValueError, match="params must hold at least one array"):
        hs.flatten({})
    with pytest.raises(TypeError, match=r"like\['b'\] must be an array"):
        hs.unflatten(np.zeros(5), {"a": np.zeros(4), "b": 1.0})


# ============================================================================= MSE option
@pytest.mark.parametrize("make", [lambda: M.SoftmaxRegression(4, 3, weight_decay=0.1, loss="mse"),
                                  lambda: M.MLP(4, 5, 3, activation="tanh", loss="mse")],
                         ids=["softmax", "mlp"])
def test_mse_on_one_hot_targets_value_and_gradcheck(xp, make):
    model = make()
    params = _params(xp, model)
    X, y = _data(xp, model, n=9)
    loss, grads = model.loss_and_grad(params, X, y)
    Z = np.asarray(to_numpy(model.forward(params, X)))
    onehot = np.eye(3)[np.asarray(to_numpy(y))]
    expected = np.mean((Z - onehot) ** 2) + float(to_numpy(model.penalty(params)))
    assert abs(float(loss) - expected) < 1e-12
    ce = M.MLP(4, 5, 3, activation="tanh") if isinstance(model, M.MLP) else M.SoftmaxRegression(
        4, 3, weight_decay=0.1)
    assert abs(float(ce.loss(params, X, y)) - expected) > 1e-3  # really a different loss
    res = check_gradient(lambda p: model.loss(p, X, y), params, grads)
    assert res.ok, res


def test_mse_option_matches_torch():
    torch = pytest.importorskip("torch")
    model = M.MLP(4, 5, 3, activation="tanh", loss="mse")
    params = _params(np, model)
    X, y = _data(np, model, n=9)
    Z = torch.tensor(np.asarray(model.forward(params, X)))
    ref = torch.nn.functional.mse_loss(Z, torch.nn.functional.one_hot(torch.tensor(y), 3).double())
    assert abs(float(model.loss(params, X, y)) - float(ref)) < 1e-14


def test_mse_option_bad_input_and_repr():
    with pytest.raises(ValueError, match=r"loss must be one of \('cross_entropy', 'mse'\), "
                                         r"received 'hinge'"):
        M.MLP(4, 5, 3, loss="hinge")
    with pytest.raises(ValueError, match="loss must be one of"):
        M.SoftmaxRegression(4, 3, loss="MSE")
    assert "loss='mse'" in repr(M.SoftmaxRegression(4, 3, loss="mse"))
    assert "loss" not in repr(M.MLP(4, 5, 3))


# ============================================================================= HVP
@pytest.mark.parametrize("name", list(LINEAR_MODELS))
def test_analytic_hvp_matches_closed_form_hessian(xp, name):
    model = LINEAR_MODELS[name]()
    params = _params(xp, model)
    X, y = _data(xp, model)
    H = _closed_form_hessian(model, params, X, y)
    g = np.random.default_rng(3)
    for _ in range(3):
        v = g.standard_normal(H.shape[0])
        hv = hs.hvp(model, params, X, y, hs.unflatten(xp.asarray(v), params), method="analytic")
        assert set(hv) == set(params)
        assert all(tuple(hv[k].shape) == tuple(params[k].shape) for k in params)
        assert _rel(hs.flatten(hv), H @ v) < RTOL_ANALYTIC
    # "auto" picks the closed form; the dense Hessian equals the reference
    assert _rel(hs.dense(model, params, X, y), H) < RTOL_ANALYTIC


@pytest.mark.parametrize("name", list(LINEAR_MODELS))
def test_finite_difference_hvp_matches_closed_form(xp, name):
    model = LINEAR_MODELS[name]()
    params = _params(xp, model)
    X, y = _data(xp, model)
    H = _closed_form_hessian(model, params, X, y)
    v = np.random.default_rng(4).standard_normal(H.shape[0])
    hv = hs.hvp(model, params, X, y, hs.unflatten(xp.asarray(v), params), method="fd")
    assert _rel(hs.flatten(hv), H @ v) < RTOL_FD
    assert _rel(hs.dense(model, params, X, y, method="fd"), H) < RTOL_FD


def _torch_hessian(torch, model, params, X, y):
    """The exact Hessian of the same loss by PyTorch autograd (float64)."""
    keys = list(params)
    shapes = [tuple(params[k].shape) for k in keys]
    sizes = [math.prod(s) for s in shapes]
    Xt = torch.tensor(np.asarray(X))
    yt = torch.tensor(np.asarray(y))
    act = torch.tanh if model.activation == "tanh" else torch.relu

    def loss(theta):
        parts = dict(zip(keys, (t.reshape(s) for t, s in
                                zip(torch.split(theta, sizes), shapes, strict=True)), strict=True))
        A = Xt
        L = model.n_layers
        for layer in range(1, L):
            A = act(A @ parts[f"W{layer}"] + parts[f"b{layer}"])
        out = A @ parts[f"W{L}"] + parts[f"b{L}"]
        if model.task == "regression":
            value = torch.mean((out[:, 0] - yt) ** 2)
        elif model.loss_kind == "mse":
            value = torch.nn.functional.mse_loss(
                out, torch.nn.functional.one_hot(yt, model.n_classes).double())
        else:
            value = torch.nn.functional.cross_entropy(out, yt)
        wd = sum(torch.sum(parts[k] ** 2) for k in keys if k.startswith("W"))
        return value + 0.5 * model.weight_decay * wd

    theta = torch.tensor(np.asarray(hs.flatten(params)))
    return torch.autograd.functional.hessian(loss, theta).numpy()


@pytest.mark.parametrize("name", list(MLPS))
def test_mlp_hvp_and_dense_match_torch(name):
    torch = pytest.importorskip("torch")
    model = MLPS[name]()
    params = _params(np, model)
    X, y = _data(np, model)
    H = _torch_hessian(torch, model, params, X, y)
    v = np.random.default_rng(5).standard_normal(H.shape[0])
    hv = hs.flatten(hs.hvp(model, params, X, y, hs.unflatten(v, params)))
    assert _rel(hv, H @ v) < RTOL_FD
    assert _rel(hs.dense(model, params, X, y), H) < RTOL_FD


def test_dense_is_symmetric_and_equals_differences_of_gradients(xp):
    model = MLPS["mlp_regression"]()
    params = _params(xp, model)
    X, y = _data(xp, model, n=15)
    H = np.asarray(to_numpy(hs.dense(model, params, X, y)))
    assert np.array_equal(H, H.T)
    # an independent reference: one-sided differences of the gradient, coordinate by coordinate
    theta = np.asarray(to_numpy(hs.flatten(params)))
    g0 = np.asarray(to_numpy(hs.flatten(model.loss_and_grad(params, X, y)[1])))
    h = 1e-7
    ref = np.empty_like(H)
    for j in range(theta.size):
        t = theta.copy()
        t[j] += h
        gj = model.loss_and_grad(hs.unflatten(xp.asarray(t), params), X, y)[1]
        ref[:, j] = (np.asarray(to_numpy(hs.flatten(gj))) - g0) / h
    assert np.max(np.abs(H - ref)) < 1e-5 * np.max(np.abs(H))
    # the curvature is really there: not a diagonal or a zero matrix
    assert np.max(np.abs(H - np.diag(np.diag(H)))) > 1e-2


def test_fd_hvp_in_float32_is_close(xp):
    model = MLPS["mlp_tanh"]()
    p64 = _params(xp, model)
    p32 = {k: xp.astype(v, xp.float32) for k, v in p64.items()}
    X, y = _data(xp, model)
    v = hs.unflatten(xp.asarray(np.random.default_rng(6).standard_normal(model.num_params())), p64)
    hv64 = hs.flatten(hs.hvp(model, p64, X, y, v))
    hv32 = hs.flatten(hs.hvp(model, p32, X, y, {k: xp.astype(a, xp.float32) for k, a in v.items()}))
    assert hv32.dtype == xp.float32
    assert _rel(hv32, hv64) < 3e-2
    assert hs.fd_step(xp, xp.float32, 1.0, 1.0) > 100 * hs.fd_step(xp, xp.float64, 1.0, 1.0)


def test_hvp_is_linear_and_zero_for_zero_direction():
    model = MLPS["mlp_tanh"]()
    params = _params(np, model)
    X, y = _data(np, model)
    g = np.random.default_rng(7)
    a, b = g.standard_normal(model.num_params()), g.standard_normal(model.num_params())
    mv = hs.model_matvec(model, params, X, y)
    assert mv.n == model.num_params()
    assert _rel(mv(2.0 * a - b), 2.0 * mv(a) - mv(b)) < 1e-6
    assert np.array_equal(mv(np.zeros(mv.n)), np.zeros(mv.n))
    assert mv.calls == 4


def test_model_matvec_checks_once_and_matches_hvp(xp):
    model = MLPS["mlp_tanh"]()
    params = _params(xp, model)
    X, y = _data(xp, model)
    mv = hs.model_matvec(model, params, X, y)
    v = xp.asarray(np.random.default_rng(8).standard_normal(mv.n))
    ref = hs.flatten(hs.hvp(model, params, X, y, hs.unflatten(v, params)))
    assert _rel(mv(v), ref) == 0.0
    lin = LINEAR_MODELS["softmax_ce"]()
    p_lin = _params(xp, lin)
    X_lin, y_lin = _data(xp, lin)
    mv_lin = hs.model_matvec(lin, p_lin, X_lin, y_lin, method="analytic")
    u = xp.asarray(np.random.default_rng(9).standard_normal(mv_lin.n))
    assert _rel(mv_lin(u), hs.flatten(hs.hvp(lin, p_lin, X_lin, y_lin, hs.unflatten(u, p_lin)))) == 0.0
    with pytest.raises(ValueError, match=r"v \(the part for params\['W1'\]\) must be finite"):
        mv(xp.asarray(np.full(mv.n, np.nan)))
    with pytest.raises(ValueError, match=r"vec must be 1-D of length P=\d+"):
        mv(xp.asarray(np.ones(mv.n + 1)))
    with pytest.raises(ValueError, match="method='analytic' needs LinearRegression or "
                                         "SoftmaxRegression, received MLP"):
        hs.model_matvec(model, params, X, y, method="analytic")


def test_hvp_bad_input():
    model = M.SoftmaxRegression(4, 3)
    params = _params(np, model)
    X, y = _data(np, model)
    v = {k: np.ones_like(p) for k, p in params.items()}
    with pytest.raises(ValueError, match="method must be 'auto', 'analytic' or 'fd', received 'exact'"):
        hs.hvp(model, params, X, y, v, method="exact")
    with pytest.raises(ValueError, match="method='analytic' needs LinearRegression or "
                                         "SoftmaxRegression, received MLP"):
        mlp = M.MLP(4, 3, 3)
        hs.hvp(mlp, mlp.init_params(0), X, y, hs.unflatten(np.ones(mlp.num_params()),
                                                            mlp.init_params(0)), method="analytic")
    with pytest.raises(TypeError, match="v must be a dict of arrays shaped like params"):
        hs.hvp(model, params, X, y, np.ones(15))
    with pytest.raises(ValueError, match=r"v must have the keys of params \['W', 'b'\]"):
        hs.hvp(model, params, X, y, {"W": v["W"]})
    with pytest.raises(ValueError, match=r"v\['b'\] must have the shape of params\['b'\] \(3,\), "
                                         r"received \(4,\)"):
        hs.hvp(model, params, X, y, {"W": v["W"], "b": np.ones(4)})
    with pytest.raises(ValueError, match=r"v\['W'\] must be finite"):
        hs.hvp(model, params, X, y, {"W": v["W"] * np.nan, "b": v["b"]})
    with pytest.raises(TypeError, match="model must be an edulib model"):
        hs.hvp(object(), params, X, y, v)
    with pytest.raises(ValueError, match="h must be in"):
        hs.hvp(model, params, X, y, v, method="fd", h=0.0)


def test_dense_refuses_huge_models():
    model = M.MLP(64, 64, 10)
    params = model.init_params(0)
    X, y = _data(np, model, n=5)
    with pytest.raises(ValueError, match=r"P=4810 numbers: the dense Hessian would hold "
                                         r"P\^2=23136100 entries.*max_params=4096"):
        hs.dense(model, params, X, y)


# ============================================================================= solvers on a model
def test_lanczos_on_a_model_matches_dense_eigvalsh():
    model = MLPS["mlp_tanh"]()
    params = _params(np, model)
    X, y = _data(np, model)
    ref = np.linalg.eigvalsh(hs.dense(model, params, X, y))[::-1][:3]
    res = spectral.lanczos(hs.model_matvec(model, params, X, y), model.num_params(), k=3)
    assert res.converged
    np.testing.assert_allclose(res.eigenvalues, ref, rtol=1e-6)


def test_the_solvers_are_still_importable_from_hessian():
    for name in ("power_iteration", "lanczos", "hutchinson_trace", "slq_density",
                 "gaussian_density", "LanczosResult", "PowerResult", "SpectralDensity",
                 "TraceEstimate"):
        assert getattr(hs, name) is getattr(spectral, name)


def test_model_matvec_size_must_match_n():
    model = M.MLP(4, 3, 3)
    params = model.init_params(0)
    X, y = _data(np, model, n=5)
    with pytest.raises(ValueError, match=r"n must equal the size of matvec's vectors \(27\)"):
        spectral.lanczos(hs.model_matvec(model, params, X, y), 26)


# ============================================================================= critical points
def test_classify_critical_points_on_surfaces(xp):
    q = F.Quadratic(0.1, 2.0)
    zero = xp.asarray([0.0, 0.0])
    r = hs.classify_critical_point(q.grad(zero), q.hessian(zero))
    assert r.kind == "minimum" and "all eigenvalues > 0" in r.reason
    np.testing.assert_allclose(r.eigenvalues, [0.2, 4.0])
    r = hs.classify_critical_point(-q.grad(zero), -q.hessian(zero))
    assert r.kind == "maximum"
    s = F.Saddle()
    r = hs.classify_critical_point(s.grad(zero), s.hessian(zero))
    assert r.kind == "saddle" and "up along 1, down along 1" in r.reason
    d = np.asarray(to_numpy(r.direction))
    assert abs(abs(d[1]) - 1.0) < 1e-12 and abs(d[0]) < 1e-12  # the x2 axis goes down
    r = hs.classify_critical_point(F.MonkeySaddle().grad(zero), F.MonkeySaddle().hessian(zero))
    assert r.kind == "degenerate" and "cannot decide" in r.reason
    one = xp.asarray([1.0, 1.0])
    r = hs.classify_critical_point(q.grad(one), q.hessian(one))
    assert r.kind == "not critical" and "gradient norm" in r.reason
    assert r.grad_norm == pytest.approx(math.hypot(0.2, 4.0))


def test_classify_every_known_point_of_himmelblau():
    h = F.Himmelblau()
    for kind, points in (("minimum", h.minima), ("saddle", h.saddles), ("maximum", h.maxima)):
        for p in points:
            x = np.asarray(p)
            assert hs.classify_critical_point(h.grad(x), h.hessian(x)).kind == kind


def test_classify_from_eigenvalues_and_bad_input():
    r = hs.classify_critical_point(np.zeros(3), np.asarray([-1.0, 2.0, 0.5]))
    assert r.kind == "saddle" and r.direction is None
    assert hs.classify_critical_point(np.zeros(2), np.asarray([1.0, 1e-12])).kind == "degenerate"
    assert hs.classify_critical_point(np.zeros(2), np.asarray([1.0, 1e-12]),
                                      eig_tol=1e-14).kind == "minimum"
    with pytest.raises(ValueError, match=r"must be an \(n, n\) = \(2, 2\) matrix.*\(3, 3\)"):
        hs.classify_critical_point(np.zeros(2), np.eye(3))
    with pytest.raises(ValueError, match="hessian_or_eigs must be symmetric"):
        hs.classify_critical_point(np.zeros(2), np.asarray([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="must hold n=2 eigenvalues"):
        hs.classify_critical_point(np.zeros(2), np.ones(3))
    with pytest.raises(ValueError, match="grad must be finite"):
        hs.classify_critical_point(np.asarray([np.nan, 0.0]), np.eye(2))


def test_track_sharpness_stops_on_divergence_and_checks_its_arguments():
    g = np.random.default_rng(0)
    X, y = g.standard_normal((60, 5)), g.integers(0, 3, 60)
    model = M.MLP(5, 8, 3, activation="tanh", loss="mse")
    p0 = model.init_params(0)
    with pytest.raises(ValueError, match=r"training diverged at step \d+ .* with lr=500.0"):
        hs.track_sharpness(model, p0, X, y, 500.0, 50, every=10)
    with pytest.raises(ValueError, match="lr must be in"):
        hs.track_sharpness(model, p0, X, y, 0.0, 5)
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[1, 60\]"):
        hs.track_sharpness(model, p0, X, y, 0.1, 5, batch_size=61)
    with pytest.raises(ValueError, match=r"every must be an int in \[1, inf\]"):
        hs.track_sharpness(model, p0, X, y, 0.1, 5, every=0)


@pytest.mark.parametrize("lr", [0.5, 1.2, 1.8])
def test_track_sharpness_is_within_its_residual_of_the_exact_top_eigenvalue(lr):
    """Replay the run and take eigvalsh of the dense Hessian at every checkpoint: the measured
    sharpness is a lower bound of the exact one (a Ritz value) and at most the reported
    residual below it, at every checkpoint, including the unstable runs."""
    g = np.random.default_rng(0)
    X, y = g.standard_normal((80, 5)), g.integers(0, 3, 80)
    model = M.MLP(5, 8, 3, activation="tanh", loss="mse")
    tr = hs.track_sharpness(model, model.init_params(0), X, y, lr, 60, every=5)
    p, exact = model.init_params(0), []
    for step in range(61):
        if step % 5 == 0:
            exact.append(np.linalg.eigvalsh(hs.dense(model, p, X, y))[-1])
        _, grads = model.loss_and_grad(p, X, y)
        p = {k: p[k] - lr * grads[k] for k in p}
    exact = np.asarray(exact)
    bias = exact - tr.sharpness
    fd = 1e-6 * exact  # the finite-difference HVPs: ~8 digits
    assert np.all(tr.converged) and np.all(tr.residual <= 1e-3 * tr.sharpness)
    assert np.all(bias >= -fd) and np.all(bias <= tr.residual + fd)
    assert tr.residual.shape == tr.sharpness.shape == tr.steps.shape == (13,)
    # an honest bound, not a vacuous one: the residuals are far below the sharpness
    assert np.max(tr.residual / tr.sharpness) < 1e-3
