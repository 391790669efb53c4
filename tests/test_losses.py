"""Losses: values against independent references, gradients against finite differences,
numerical stability, dtypes, and the errors raised on bad input. Runs on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edulib import losses as L
from edulib.backend import array_namespace, to_numpy
from edulib.gradcheck import check_gradient

ELEMENTWISE = ["mse", "mae", "huber", "bce_with_logits", "hinge", "focal"]
CLASS_INDEX = ["softmax_cross_entropy", "multiclass_hinge"]


# ----------------------------------------------------------------------------- references
def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference_values(name, z, y, **p):
    """Textbook formulas in float64 NumPy, written independently of edulib (moderate inputs)."""
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y)
    if name == "mse":
        return (z - y) ** 2
    if name == "mae":
        return np.abs(z - y)
    if name == "huber":
        d = p.get("delta", 1.0)
        r = np.abs(z - y)
        return np.where(r < d, 0.5 * r**2, d * (r - 0.5 * d))
    if name == "bce_with_logits":
        return -(y * np.log(_sig(z)) + (1 - y) * np.log(1 - _sig(z)))
    if name == "hinge":
        return np.maximum(0.0, p.get("margin", 1.0) - y * z)
    if name == "focal":
        alpha, gamma = p.get("alpha", 0.25), p.get("gamma", 2.0)
        prob = _sig(z)
        p_t = prob * y + (1 - prob) * (1 - y)
        a_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
        return -a_t * (1 - p_t) ** gamma * np.log(p_t)
    if name == "softmax_cross_entropy":
        e = np.exp(z)
        return -np.log(e[np.arange(len(y)), y] / e.sum(axis=1))
    if name == "multiclass_hinge":
        out = np.zeros(len(y))
        for i in range(len(y)):
            for j in range(z.shape[1]):
                if j != y[i]:
                    out[i] += max(0.0, z[i, j] - z[i, y[i]] + p.get("margin", 1.0))
        return out
    raise KeyError(name)


def make_inputs(name, rng, n=7, c=4):
    if name in CLASS_INDEX:
        return rng.normal(size=(n, c)) * 2, rng.integers(0, c, size=n)
    z = rng.normal(size=(n, 3)) * 2
    if name in ("mse", "mae", "huber"):
        return z, rng.normal(size=z.shape) * 2
    if name == "bce_with_logits":
        return z, rng.uniform(size=z.shape)
    if name == "hinge":
        return z, rng.choice([-1.0, 1.0], size=z.shape)
    return z, rng.integers(0, 2, size=z.shape).astype(np.float64)  # focal


PARAMS = {
    "huber": [{}, {"delta": 0.3}, {"delta": 2.5}],
    "hinge": [{}, {"margin": 0.5}],
    "multiclass_hinge": [{}, {"margin": 2.0}],
    "focal": [{}, {"gamma": 0.0, "alpha": None}, {"gamma": 0.5, "alpha": 0.75}, {"gamma": 5.0}],
}
CASES = [(n, p) for n in L.LOSSES for p in PARAMS.get(n, [{}])]
CASE_IDS = [n + "".join(f"-{k}={v}" for k, v in p.items()) for n, p in CASES]


# ----------------------------------------------------------------------------- values
@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_values_match_textbook_formula(xp, rng, name, params):
    z, y = make_inputs(name, rng)
    loss = L.LOSSES[name]
    got_values = loss.values(xp.asarray(z), xp.asarray(y), **params)
    got_mean = loss(xp.asarray(z), xp.asarray(y), **params)
    ref = reference_values(name, z, y, **params)
    assert array_namespace(got_values) is xp
    np.testing.assert_allclose(to_numpy(got_values), ref, rtol=1e-12, atol=1e-14)
    assert float(got_mean) == pytest.approx(ref.mean(), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_grad_has_pred_shape_and_dtype(xp, rng, name, params):
    z, y = make_inputs(name, rng)
    for dtype in (xp.float32, xp.float64):
        pred = xp.asarray(z, dtype=dtype)
        g = L.LOSSES[name].grad(pred, xp.asarray(y), **params)
        v = L.LOSSES[name](pred, xp.asarray(y), **params)
        assert g.shape == pred.shape and g.dtype == dtype
        assert v.dtype == dtype and v.shape == ()


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_value_and_grad_agrees_with_separate_calls(rng, name, params):
    z, y = make_inputs(name, rng)
    loss = L.LOSSES[name]
    v, g = loss.value_and_grad(z, y, **params)
    assert float(v) == float(loss(z, y, **params))
    np.testing.assert_array_equal(g, loss.grad(z, y, **params))


def test_softmax_cross_entropy_at_uniform_logits_is_ln_C(xp):
    for c in (2, 3, 10, 100):
        got = L.softmax_cross_entropy(xp.zeros((5, c)), xp.asarray([0, 1, 1, 0, 1]))
        assert float(got) == pytest.approx(math.log(c), rel=1e-15)


def test_multiclass_hinge_is_torch_multimargin_times_C():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(6, 5)), rng.integers(0, 5, size=6)
    ref = torch.nn.MultiMarginLoss(margin=1.0)(torch.tensor(z), torch.tensor(y)).item()
    assert float(L.multiclass_hinge(z, y)) == pytest.approx(5 * ref, rel=1e-12)


def _torch_reference(torch, name, z, y, params):
    F = torch.nn.functional
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y)
    if name == "mse":
        out = F.mse_loss(zt, yt)
    elif name == "mae":
        out = F.l1_loss(zt, yt)
    elif name == "huber":
        out = F.huber_loss(zt, yt, delta=params.get("delta", 1.0))
    elif name == "bce_with_logits":
        out = F.binary_cross_entropy_with_logits(zt, yt)
    elif name == "softmax_cross_entropy":
        out = F.cross_entropy(zt, yt)
    elif name == "hinge":
        out = torch.clamp(params.get("margin", 1.0) - yt * zt, min=0).mean()
    elif name == "multiclass_hinge":
        out = z.shape[1] * F.multi_margin_loss(zt, yt, margin=params.get("margin", 1.0))
    else:  # torchvision.ops.sigmoid_focal_loss, reduction="mean", copied formula
        alpha, gamma = params.get("alpha", 0.25), params.get("gamma", 2.0)
        p = torch.sigmoid(zt)
        ce = F.binary_cross_entropy_with_logits(zt, yt, reduction="none")
        p_t = p * yt + (1 - p) * (1 - yt)
        out = ce * ((1 - p_t) ** gamma)
        if alpha is not None:
            out = (alpha * yt + (1 - alpha) * (1 - yt)) * out
        out = out.mean()
    out.backward()
    return out.item(), zt.grad.numpy()


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_value_and_grad_match_pytorch(rng, name, params):
    torch = pytest.importorskip("torch")
    z, y = make_inputs(name, rng)
    ref_v, ref_g = _torch_reference(torch, name, z, y, params)
    v, g = L.LOSSES[name].value_and_grad(z, y, **params)
    assert float(v) == pytest.approx(ref_v, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(g, ref_g, rtol=1e-10, atol=1e-15)


# ----------------------------------------------------------------------------- gradients
def _away_from_kinks(name, z, y, params, gap=1e-3):
    """Centred differences are only valid where the loss is smooth within +-h of each entry."""
    if name == "mae":
        return np.all(np.abs(z - y) > gap)
    if name == "huber":
        return np.all(np.abs(np.abs(z - y) - params.get("delta", 1.0)) > gap)
    if name == "hinge":
        return np.all(np.abs(params.get("margin", 1.0) - y * z) > gap)
    if name == "multiclass_hinge":
        m = z - z[np.arange(len(y)), y][:, None] + params.get("margin", 1.0)
        m[np.arange(len(y)), y] = 1.0
        return np.all(np.abs(m) > gap)
    return True


@st.composite
def loss_inputs(draw, name):
    n = draw(st.integers(1, 6))
    floats = st.floats(-4, 4, allow_nan=False, width=64)
    if name in CLASS_INDEX:
        c = draw(st.integers(2, 5))
        z = draw(hnp.arrays(np.float64, (n, c), elements=floats))
        y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
        return z, y
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    z = draw(hnp.arrays(np.float64, shape, elements=floats))
    if name in ("mse", "mae", "huber"):
        y = draw(hnp.arrays(np.float64, shape, elements=floats))
    elif name == "bce_with_logits":
        y = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1)))
    elif name == "hinge":
        y = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0])))
    else:
        y = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))
    return z, y


@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(data=st.data())
def test_gradient_passes_gradcheck(xp, name, params, data):
    z, y = data.draw(loss_inputs(name))
    assume(_away_from_kinks(name, z, y, params))
    loss = L.LOSSES[name]
    pred, target = xp.asarray(z), xp.asarray(y)
    result = check_gradient(lambda p: loss(p, target, **params), pred,
                            loss.grad(pred, target, **params), tol=1e-7)
    assert result.ok, str(result)


def test_gradcheck_catches_a_wrong_gradient(rng):
    z, y = make_inputs("mse", rng)
    wrong = (z - y) / z.size  # forgot the factor 2
    result = check_gradient(lambda p: L.mse(p, y), z, wrong)
    assert not result.ok and result.rel_error > 0.1
    assert "analytic" in str(result) and len(result.mismatches) == z.size


# ----------------------------------------------------------------------------- stability
@pytest.mark.parametrize(("dtype", "big"), [("float64", 1e4), ("float32", 88.0)])
def test_large_logits_give_finite_exact_values(xp, dtype, big):
    dt = getattr(xp, dtype)
    z = xp.asarray([big, -big, big, -big], dtype=dt)
    y = xp.asarray([0.0, 1.0, 1.0, 0.0], dtype=dt)
    # the confident-and-wrong terms cost |z| each, the confident-and-right ones ~0
    assert float(L.bce_with_logits(z, y)) == pytest.approx(big / 2, rel=1e-6)
    g = to_numpy(L.bce_with_logits.grad(z, y))
    np.testing.assert_allclose(g, [0.25, -0.25, 0.0, 0.0], atol=1e-7)
    for params in ({}, {"gamma": 0.5}, {"gamma": 0.0, "alpha": None}):
        v, gf = L.focal.value_and_grad(z, y, **params)
        assert np.isfinite(float(v)) and np.all(np.isfinite(to_numpy(gf)))
    logits = xp.asarray([[big, 0.0, -big], [-big, big, 0.0]], dtype=dt)
    labels = xp.asarray([2, 1])
    assert float(L.softmax_cross_entropy(logits, labels)) == pytest.approx(big, rel=1e-6)
    g = to_numpy(L.softmax_cross_entropy.grad(logits, labels))
    np.testing.assert_allclose(g, [[0.5, 0.0, -0.5], [0.0, 0.0, 0.0]], atol=1e-7)
    assert np.all(np.isfinite(to_numpy(L.multiclass_hinge.grad(logits, labels))))
    assert to_numpy(L.softmax_cross_entropy.values(logits, labels)).dtype == np.dtype(dtype)


def test_sigmoid_and_softmax_helpers_are_stable():
    z = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    np.testing.assert_allclose(L.sigmoid(z), [0.0, _sig(-50.0), 0.5, _sig(50.0), 1.0], rtol=1e-15)
    s = L.softmax(np.array([[1e4, 1e4 - 1.0]]))
    np.testing.assert_allclose(s, [[1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(1.0))]], rtol=1e-14)
    np.testing.assert_allclose(np.exp(L.log_softmax(np.array([1.0, 2.0, 3.0]))),
                               L.softmax(np.array([1.0, 2.0, 3.0])), rtol=1e-15)
    assert float(L.logsumexp(np.array([1e4, 1e4]))) == pytest.approx(1e4 + math.log(2))


def test_lists_are_accepted_like_arrays():
    assert float(L.mse([1.0, 2.0], [1.0, 4.0])) == 2.0
    assert float(L.softmax_cross_entropy([[0.0, 0.0]], [1])) == pytest.approx(math.log(2))


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("call", "exc", "words"),
    [
        (lambda: L.mse(np.zeros(3), np.zeros(4)), ValueError, ["target", "(3,)", "(4,)"]),
        (lambda: L.mse(np.zeros((3, 1)), np.zeros(3)), ValueError, ["target", "(3, 1)", "(3,)"]),
        (lambda: L.mse(np.array([1.0, np.nan]), np.zeros(2)), ValueError, ["pred", "finite"]),
        (lambda: L.mae(np.zeros(2), np.array([np.inf, 0])), ValueError, ["target", "finite"]),
        (lambda: L.mse(np.zeros(0), np.zeros(0)), ValueError, ["pred", "empty"]),
        (lambda: L.huber(np.zeros(2), np.zeros(2), delta=0), ValueError, ["delta", "0"]),
        (lambda: L.huber(np.zeros(2), np.zeros(2), delta=-1.0), ValueError, ["delta", "-1.0"]),
        (lambda: L.huber(np.zeros(2), np.zeros(2), delta="1"), TypeError, ["delta", "str"]),
        (lambda: L.focal(np.zeros(2), np.zeros(2), gamma=-0.5), ValueError, ["gamma", "-0.5"]),
        (lambda: L.focal(np.zeros(2), np.zeros(2), alpha=1.5), ValueError, ["alpha", "1.5"]),
        (lambda: L.focal(np.zeros(2), np.array([0.0, 0.5])), ValueError, ["target", "0 or 1"]),
        (lambda: L.mse(np.zeros(2), np.zeros(2), delta=1.0), TypeError, ["delta", "unexpected"]),
        (lambda: L.bce_with_logits(np.zeros(2), np.array([0.0, 2.0])), ValueError,
         ["target", "[0, 1]", "2.0"]),
        (lambda: L.hinge(np.zeros(2), np.array([0.0, 1.0])), ValueError, ["target", "-1 or +1"]),
        (lambda: L.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3])), ValueError,
         ["target", "[0, 2]", "C=3", "[0, 3]"]),
        (lambda: L.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, -1])), ValueError,
         ["target", "[-1, 0]"]),
        (lambda: L.softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])), TypeError,
         ["target", "integer", "float64"]),
        (lambda: L.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2])), ValueError,
         ["target", "(2,)", "(3,)"]),
        (lambda: L.softmax_cross_entropy(np.zeros(3), np.array([0])), ValueError,
         ["pred", "2-D", "(3,)"]),
        (lambda: L.multiclass_hinge(np.zeros((2, 3)), np.array([5, 0])), ValueError,
         ["target", "[0, 2]"]),
        (lambda: L.mse(np.array(["a"]), np.zeros(1)), TypeError, ["pred"]),
    ],
)
def test_bad_input_raises_clear_error(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} missing from: {info.value}"


def test_bad_input_is_caught_on_every_backend(xp):
    with pytest.raises(ValueError, match="target must have the shape of pred"):
        L.mse(xp.zeros(3), xp.zeros(4))
    with pytest.raises(ValueError, match="class indices in"):
        L.softmax_cross_entropy(xp.zeros((2, 3)), xp.asarray([0, 3]))


# ----------------------------------------------------------------------------- display
@pytest.mark.parametrize("name", list(L.LOSSES))
def test_each_loss_shows_its_formula(name):
    loss = L.LOSSES[name]
    latex = loss._repr_latex_()
    assert latex.startswith("$") and latex.endswith("$") and loss.formula in latex
    assert name in repr(loss)
    assert loss.__doc__ and "math" in loss.__doc__
