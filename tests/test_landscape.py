"""edulib.landscape: directions (filter normalisation), 1-D/2-D slices against closed forms."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edulib.backend import array_namespace, to_numpy
from edulib.landscape import (
    direction_between,
    normalize_direction,
    random_direction,
    slice_1d,
    slice_2d,
)


def _params(xp):
    g = np.random.default_rng(0)
    return {"W1": xp.asarray(g.standard_normal((5, 4)) * np.arange(1, 5)),
            "b1": xp.asarray(g.standard_normal(4)),
            "W2": xp.asarray(g.standard_normal((4, 3))),
            "b2": xp.asarray(np.float64(0.3))}


def _np(d):
    return {k: to_numpy(v) for k, v in d.items()}


# ------------------------------------------------------------------------------ directions
@pytest.mark.parametrize("axis", [-1, 0])
def test_filter_normalisation_matches_param_filter_norms(xp, axis):
    p = _params(xp)
    d = _np(random_direction(p, seed=3, normalization="filter", filter_axis=axis))
    for k in ("W1", "W2"):
        other = 0 if axis == -1 else 1
        np.testing.assert_allclose(np.linalg.norm(d[k], axis=other),
                                   np.linalg.norm(to_numpy(p[k]), axis=other), rtol=1e-12)
        assert d[k].shape == tuple(p[k].shape)
    assert np.all(d["b1"] == 0) and np.all(d["b2"] == 0)
    # the direction inside each filter is the raw Gaussian one, only rescaled
    raw = np.random.default_rng(3).standard_normal((5, 4))
    cos = np.sum(raw * d["W1"], axis=0 if axis == -1 else 1) / (
        np.linalg.norm(raw, axis=0 if axis == -1 else 1)
        * np.linalg.norm(d["W1"], axis=0 if axis == -1 else 1))
    np.testing.assert_allclose(cos, 1.0, rtol=1e-12)


def test_layer_normalisation_and_none(xp):
    p = _params(xp)
    d = _np(random_direction(p, seed=1, normalization="layer"))
    for k in ("W1", "W2"):
        assert np.isclose(np.linalg.norm(d[k]), np.linalg.norm(to_numpy(p[k])), rtol=1e-12)
    assert np.all(d["b1"] == 0)
    d_keep = _np(random_direction(p, seed=1, normalization="layer", ignore_biases=False))
    assert np.isclose(np.linalg.norm(d_keep["b1"]), np.linalg.norm(to_numpy(p["b1"])))
    raw = _np(random_direction(p, seed=1, normalization=None))
    g = np.random.default_rng(1)
    for k, v in _np(p).items():  # drawn in key order, standard normal
        np.testing.assert_array_equal(raw[k], g.standard_normal(v.shape))


def test_directions_are_seeded_and_backend_independent(xp):
    a = _np(random_direction(_params(xp), seed=5))
    b = _np(random_direction(_params(np), seed=5))
    c = _np(random_direction(_params(xp), seed=6))
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-14)
    assert not np.allclose(a["W1"], c["W1"])


def test_all_bias_params_give_a_clear_error(xp):
    with pytest.raises(ValueError, match="zero everywhere"):
        random_direction({"x": xp.asarray(np.ones(2))}, seed=0)
    d = random_direction(xp.asarray(np.ones(2)), seed=0, normalization=None)
    assert tuple(d.shape) == (2,)
    with pytest.raises(ValueError, match="normalization"):
        random_direction(_params(xp), normalization="batch")


def test_normalize_direction_checks_shapes(xp):
    p = _params(xp)
    bad = dict(p)
    bad["W1"] = xp.asarray(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"direction\['W1'\] must have the shape"):
        normalize_direction(bad, p)
    with pytest.raises(ValueError, match="keys"):
        normalize_direction({"W1": p["W1"]}, p)


def test_direction_between_interpolates(xp):
    start = _params(xp)
    end = {k: v * 2.0 + 1.0 for k, v in start.items()}
    d = direction_between(start, end)

    def loss(q):
        return sum(float(array_namespace(v).sum(v * v)) for v in q.values())

    vals = slice_1d(loss, start, d, [0.0, 1.0])
    assert np.isclose(vals[0], loss(start), rtol=1e-14)
    assert np.isclose(vals[1], loss(end), rtol=1e-14)


# ------------------------------------------------------------------------------ slices
def _quadratic(xp, n=4, seed=0):
    g = np.random.default_rng(seed)
    M = g.standard_normal((n, n))
    A = M @ M.T + np.eye(n)
    c = g.standard_normal(n)
    Ax, cx = xp.asarray(A), xp.asarray(c)

    def loss(q):  # 1/2 x^T A x + c^T x (+ the same on a 0-d param z: 3 z^2)
        x, z = q["x"], q["z"]
        return 0.5 * (x @ (Ax @ x)) + cx @ x + 3.0 * z * z

    def batched(q):  # q["x"]: (K, n), q["z"]: (K,)
        x, z = q["x"], q["z"]
        return 0.5 * array_namespace(x).sum(x * (x @ Ax), axis=1) + x @ cx + 3.0 * z * z

    return A, c, loss, batched


def test_slice_1d_is_the_closed_form_parabola(xp):
    A, c, loss, batched = _quadratic(xp)
    x0, z0, dx, dz = np.array([1.0, -1.0, 0.5, 2.0]), 0.7, np.array([0.3, 0.1, -1.0, 0.2]), -0.4
    params = {"x": xp.asarray(x0), "z": xp.asarray(z0)}
    d = {"x": xp.asarray(dx), "z": xp.asarray(dz)}
    alphas = np.linspace(-2, 2, 9)
    L0 = 0.5 * x0 @ A @ x0 + c @ x0 + 3 * z0**2
    slope = (A @ x0 + c) @ dx + 6 * z0 * dz
    curv = dx @ A @ dx + 6 * dz**2
    expected = L0 + alphas * slope + 0.5 * alphas**2 * curv
    vals = slice_1d(loss, params, d, alphas)
    np.testing.assert_allclose(vals, expected, rtol=1e-12)
    assert vals[4] == pytest.approx(float(loss(params)), rel=1e-15)  # alpha = 0
    np.testing.assert_allclose(slice_1d(batched, params, d, alphas, batched=True), expected,
                               rtol=1e-12)
    np.testing.assert_array_equal(to_numpy(params["x"]), x0)  # params untouched


def test_slice_2d_closed_form_and_orientation(xp):
    A, c, loss, batched = _quadratic(xp)
    x0 = np.array([1.0, -1.0, 0.5, 2.0])
    u, v = np.array([1.0, 0, 0, 0]), np.array([0, 0.5, 0, 1.0])
    params = {"x": xp.asarray(x0), "z": xp.asarray(0.0)}
    d1 = {"x": xp.asarray(u), "z": xp.asarray(0.0)}
    d2 = {"x": xp.asarray(v), "z": xp.asarray(1.0)}
    alphas, betas = np.linspace(-1, 1, 5), np.linspace(0, 2, 3)  # non-square: catches a transpose
    Z = slice_2d(loss, params, d1, d2, alphas, betas)
    assert Z.shape == (3, 5)
    for j, b in enumerate(betas):
        for i, a in enumerate(alphas):
            x = x0 + a * u + b * v
            assert Z[j, i] == pytest.approx(0.5 * x @ A @ x + c @ x + 3 * b * b, rel=1e-12)
    np.testing.assert_allclose(slice_2d(batched, params, d1, d2, alphas, betas, batched=True),
                               Z, rtol=1e-12)


def test_slice_of_a_single_array(xp):
    A = np.array([[2.0, 0.0], [0.0, 8.0]])

    def f(x):
        return 0.5 * (x @ (xp.asarray(A) @ x))

    x0 = xp.asarray(np.array([1.0, 1.0]))
    Z = slice_2d(f, x0, xp.asarray(np.array([1.0, 0.0])), xp.asarray(np.array([0.0, 1.0])),
                 [-1.0, 0.0], [0.0])
    np.testing.assert_allclose(Z, [[4.0, 5.0]])


def test_slice_argument_errors(xp):
    p = {"x": xp.asarray(np.ones(3))}
    with pytest.raises(ValueError, match="alphas"):
        slice_1d(lambda q: 0.0, p, p, np.ones((2, 2)))
    with pytest.raises(ValueError, match="d2"):
        slice_2d(lambda q: 0.0, p, p, {"x": xp.asarray(np.ones(2))}, [0.0], [0.0])
    with pytest.raises(ValueError, match="3 losses"):
        slice_1d(lambda q: 0.0, p, p, [0.0, 1.0, 2.0], batched=True)


# ------------------------------------------------------------------------------ speed
def _softmax_regression_losses(X, y):
    """Loss of softmax regression (W: (D, C), b: (C,)), per point or batched (K, D, C)."""
    from edulib.losses import log_softmax

    xp = array_namespace(X)
    N = X.shape[0]

    def batched(q):  # one (N, D) @ (D, K*C) product for the K points of a row
        K, D, C = q["W"].shape
        W = xp.reshape(xp.permute_dims(q["W"], (1, 0, 2)), (D, K * C))
        Z = xp.reshape(X @ W, (N, K, C)) + q["b"]  # (N, K, C)
        idx = xp.broadcast_to(xp.reshape(y, (N, 1, 1)), (N, K, 1))
        picked = xp.take_along_axis(log_softmax(Z, axis=-1), idx, axis=-1)
        return -xp.mean(picked[..., 0], axis=0)

    def single(q):
        return batched({k: xp.expand_dims(v, axis=0) for k, v in q.items()})[0]

    return single, batched


def test_41x41_digits_slice_is_fast_and_matches_per_point():
    from edulib.data import digits

    split = digits()
    X, y = split.X_train, split.y_train
    g = np.random.default_rng(0)
    params = {"W": g.standard_normal((64, 10)) * 0.1, "b": np.zeros(10)}
    single, batched = _softmax_regression_losses(X, y)
    d1 = random_direction(params, seed=1)
    d2 = random_direction(params, seed=2)
    grid = np.linspace(-1, 1, 41)
    slice_2d(batched, params, d1, d2, grid[:2], grid[:2], batched=True)  # warm-up
    elapsed = []
    for _ in range(3):  # best of 3: the test machine may be shared
        t0 = time.perf_counter()
        Z = slice_2d(batched, params, d1, d2, grid, grid, batched=True)
        elapsed.append(time.perf_counter() - t0)
    assert Z.shape == (41, 41)
    assert min(elapsed) < 2.0, f"41x41 slice took {min(elapsed):.2f} s (best of 3)"
    assert Z[20, 20] == pytest.approx(float(single(params)), rel=1e-12)
    Zs = slice_2d(single, params, d1, d2, grid[::10], grid[::8])
    np.testing.assert_allclose(Zs, Z[::8, ::10], rtol=1e-12)
