"""Failure modes from the issue-9 review: each case once returned a silent wrong answer, left the
learner's data modified, or leaked a raw NumPy/Python message. Every test fails on the old code.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from edulib import data as D
from edulib import fitting as FT
from edulib import gradcheck as G
from edulib import losses as L
from edulib import models as M
from edulib.backend import to_numpy
from edulib.optim import SGD
from edulib.train import train


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ============================================================================ data.train_val_split
def test_regression_targets_get_a_plain_split_by_default():
    X = np.arange(20.0).reshape(10, 2)
    y = np.linspace(0.0, 1.0, 10)  # every target unique: stratifying would put all in validation
    s = D.train_val_split(X, y)
    assert (s.X_train.shape, s.X_val.shape) == ((8, 2), (2, 2))
    # nothing lost, nothing duplicated, rows stay paired with their targets
    assert sorted(np.concatenate([s.y_train, s.y_val]).tolist()) == y.tolist()
    np.testing.assert_allclose(s.X_train[:, 0] / 18.0, s.y_train, rtol=1e-12)
    with pytest.raises(ValueError, match=r"stratify=True needs class labels.*float64"):
        D.train_val_split(X, y, stratify=True)


def test_stratified_split_keeps_class_shares_and_refuses_lonely_classes():
    y = np.repeat(np.arange(3), [10, 20, 30])
    X = np.arange(60.0)[:, None]
    s = D.train_val_split(X, y, val_fraction=0.2)
    assert np.bincount(s.y_val).tolist() == [2, 4, 6]
    assert np.bincount(s.y_train).tolist() == [8, 16, 24]
    with pytest.raises(ValueError, match=r"at least 2 examples of every class.*\[2\].*stratify=False"):
        D.train_val_split(np.ones((5, 1)), np.array([0, 0, 1, 1, 2]))
    plain = D.train_val_split(np.ones((5, 1)), np.array([0, 0, 1, 1, 2]), stratify=False)
    assert plain.X_train.shape[0] + plain.X_val.shape[0] == 5 and plain.X_train.shape[0] >= 1
    with pytest.raises(TypeError, match="stratify"):
        D.train_val_split(X, y, stratify="yes")


@pytest.mark.parametrize("stratify", [True, False])
def test_absurd_val_fraction_names_the_empty_part(stratify):
    X, y = np.ones((10, 1)), np.arange(10) % 2
    with pytest.raises(ValueError, match=r"val_fraction=0\.99.*(no training|none for training)"):
        D.train_val_split(X, y, val_fraction=0.99, stratify=stratify)
    s = D.train_val_split(X, y, val_fraction=1e-9, stratify=stratify)  # tiny: still >= 1
    assert s.X_val.shape[0] >= 1 and s.X_train.shape[0] >= 8


def test_digits_with_absurd_fraction_raises_instead_of_nan(no_warnings):
    with pytest.raises(ValueError, match="val_fraction=0.999"):
        D.digits(val_fraction=0.999)


def test_numpy_integer_sizes_are_accepted():
    a = D.spirals(n_per_class=np.int64(20), n_classes=np.int32(3))
    b = D.spirals(n_per_class=20, n_classes=3)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


# ============================================================================ gradcheck
def test_learners_params_are_untouched_when_f_raises_or_returns_nan():
    params = {"W": np.ones((2, 2)), "b": np.zeros(2)}
    before = {k: v.copy() for k, v in params.items()}

    def raises(p):
        if p["W"][1, 0] != 1.0:
            raise ZeroDivisionError("boom")
        return float(np.sum(p["W"]) + np.sum(p["b"]))

    def nan_midway(p):
        return math.nan if p["b"][1] != 0.0 else float(np.sum(p["W"] ** 2))

    with pytest.raises(ZeroDivisionError, match="boom") as info:
        G.numerical_gradient(raises, params)
    assert any("was not modified" in n for n in getattr(info.value, "__notes__", ["was not modified"]))
    with pytest.raises(ValueError, match=r"finite value.*x \+ h\*e_\[1\]"):
        G.numerical_gradient(nan_midway, params)
    for k in params:  # exactly the values from before, not off by h
        np.testing.assert_array_equal(params[k], before[k])


def test_read_only_parameters_work(xp):
    w = np.array([1.0, -2.0, 0.5])
    w.setflags(write=False)
    params = {"w": w}
    num = G.numerical_gradient(lambda p: float(np.sum(to_numpy(p["w"]) ** 3)), params)
    np.testing.assert_allclose(num["w"], 3 * w**2, rtol=1e-8)
    # same on every backend, with the array given directly
    x = xp.asarray([1.0, 2.0])
    num = G.numerical_gradient(lambda v: xp.sum(v * v), x)
    np.testing.assert_allclose(to_numpy(num), [2.0, 4.0], rtol=1e-8)
    np.testing.assert_array_equal(to_numpy(x), [1.0, 2.0])


def test_absurdly_small_h_is_refused_but_float32_rounding_demo_still_runs():
    with pytest.raises(ValueError, match=r"h must be at least eps\^2 = 4\.9e-32.*1e-300"):
        G.numerical_gradient(lambda v: float(np.sum(v**2)), np.ones(2), h=1e-300)
    with pytest.raises(ValueError, match=r"h must be at least.*float32"):
        G.numerical_gradient(lambda v: float(np.sum(v**2)), np.ones(2, np.float32), h=1e-15)
    # x + h rounds back to x in float32 here (h < eps*|x|/2): the gradient is 0, and allowed
    x32 = np.array([1.0, -3.0], dtype=np.float32)
    assert np.all(G.numerical_gradient(lambda v: float(np.sum(v**2)), x32, h=1e-10) == 0)
    res = G.check_gradient(lambda v: float(np.sum(v**2)), x32, 2 * x32, h=1e-10)
    assert not res and any("lost to rounding in 2 of 2 entries" in h for h in res.hints)


def test_correct_float32_gradient_failure_says_float32_is_the_reason():
    g = np.random.default_rng(0)
    z = g.standard_normal((6, 4))
    y = np.array([0, 3, 1, 1, 2, 0])
    f = lambda v: L.cross_entropy(v, y)  # noqa: E731
    z32 = z.astype(np.float32)
    res32 = G.check_gradient(f, z32, L.cross_entropy.grad(z32, y))
    assert not res32 and len(res32.hints) == 1
    assert "float32" in res32.hints[0] and "eps^(2/3)" in res32.hints[0]
    assert "hint: x is float32" in str(res32)
    res64 = G.check_gradient(f, z, L.cross_entropy.grad(z, y))
    assert res64 and res64.hints == [] and "hint" not in str(res64)
    # a real bug in float64 gets no float32 excuse
    bad = G.check_gradient(f, z, 2 * L.cross_entropy.grad(z, y))
    assert not bad and bad.hints == [] and bad.verdict == "wrong"


def test_f_ignoring_its_argument_is_pointed_out():
    params = {"w": np.array([1.0, 2.0])}
    outside = {"w": params["w"]}
    res = G.check_gradient(lambda p: float(np.sum(outside["w"] ** 2)), params,
                           {"w": 2 * params["w"]})
    assert not res and any("exactly 0 everywhere" in h for h in res.hints)


@pytest.mark.parametrize("ret, word", [("abc", "str"), (None, "NoneType"), (1j, "complex")])
def test_f_returning_a_non_number_is_named(ret, word):
    with pytest.raises(TypeError, match=rf"f must return a real number.*{word}"):
        G.numerical_gradient(lambda v: ret, np.ones(2))


def test_rel_error_of_huge_entries_does_not_overflow(no_warnings):
    assert G.rel_error(np.array([1e308]), np.array([1e308])) == 0.0
    assert G.rel_error(np.array([1e308]), np.array([-1e308])) == 1.0
    assert G.rel_error(np.array([3.0, 1.0]), np.array([2.0, 1.0])) == pytest.approx(1 / 5)


def test_nan_in_x_is_named_before_f_is_called():
    calls = []
    with pytest.raises(ValueError, match=r"x\['w'\] must be finite"):
        G.numerical_gradient(lambda p: calls.append(1) or 0.0, {"w": np.array([np.nan])})
    assert calls == []


def test_verdict_thresholds():
    assert [G.verdict(e) for e in (0.0, 9e-8, 1e-7, 5e-3, 1e-2, 0.3)] == [
        "right", "right", "look closer", "look closer", "look closer", "wrong"]
    with pytest.raises(ValueError, match="err"):
        G.verdict(-1.0)


def _deep_tanh():
    # four tanh layers started at 0.3x the Xavier scale: the gradient shrinks layer by layer
    # towards the input, so W1's entries are ~100x smaller than the output layer's
    model = M.MLP(8, hidden=(16, 16, 16, 16), n_classes=4, activation="tanh")
    params = model.init_params(seed=0, scale=0.3)
    g = np.random.default_rng(1)
    X, y = g.standard_normal((20, 8)), g.integers(0, 4, size=20)
    return model, params, X, y


def test_per_group_error_exposes_a_doubled_first_layer():
    model, params, X, y = _deep_tanh()
    _, grads = model.loss_and_grad(params, X, y)
    f = lambda p: model.loss(p, X, y)  # noqa: E731
    good = G.check_gradient(f, params, grads)
    assert good and set(good.per_group) == set(params)
    assert max(good.per_group.values()) < 1e-6
    wrong = dict(grads, W1=2 * grads["W1"])
    res = G.check_gradient(f, params, wrong)
    # globally the small first-layer gradient hides the bug ...
    assert res.verdict == "look closer" and 1e-7 < res.rel_error < 1e-2
    # ... per array, W1 is off by a factor 2: |2a - a| / (|2a| + |a|) = 1/3
    assert res.per_group["W1"] == pytest.approx(1 / 3, rel=1e-4)
    assert G.verdict(res.per_group["W1"]) == "wrong"
    assert res.worst_group[0] == "W1"
    assert all(res.per_group[k] < 1e-6 for k in params if k != "W1")
    text = str(res)
    assert "on its own scale" in text and "W1: 3.33e-01 (wrong)" in text
    # the first two lines keep their format (notebooks print them)
    assert text.splitlines()[0].startswith("gradient check FAILED: relative error")
    assert text.splitlines()[1].endswith("entries disagree (worst first):")


def test_analytic_of_strings_is_a_type_error():
    with pytest.raises(TypeError, match="analytic must be an array of numbers, received str"):
        G.check_gradient(lambda v: float(np.sum(v)), np.ones(2), "ab")


# ============================================================================ models
@pytest.mark.parametrize("method", ["loss", "loss_and_grad", "predict", "accuracy", "forward",
                                    "predict_proba"])
def test_non_finite_params_are_named(xp, method):
    model = M.SoftmaxRegression(2, 3)
    params = model.init_params(xp=xp)
    W = np.array(to_numpy(params["W"]))
    W[0, 1] = np.nan
    params["W"] = xp.asarray(W)
    X, y = xp.asarray(np.ones((4, 2))), xp.asarray(np.array([0, 1, 2, 0]))
    args = (params, X, y) if method in ("loss", "loss_and_grad", "accuracy") else (params, X)
    with pytest.raises(ValueError, match=r"params\['W'\] must be finite, received 1 non-finite"):
        getattr(model, method)(*args)


def test_overflowing_outputs_give_inf_loss_and_refuse_predictions(xp, no_warnings):
    model = M.MLP(2, hidden=4, n_classes=3, activation="relu")
    params = {k: v * 1e120 for k, v in model.init_params(xp=xp).items()}  # finite, huge
    X = xp.asarray(np.full((5, 2), 1e80))
    y = xp.asarray(np.array([0, 1, 2, 0, 1]))
    loss, grads = model.loss_and_grad(params, X, y)
    assert float(loss) == math.inf and float(model.loss(params, X, y)) == math.inf
    assert all(np.all(np.isnan(to_numpy(g))) for g in grads.values())
    value, acc = model.loss_and_accuracy(params, X, y)   # what a training loop evaluates
    assert float(value) == math.inf and math.isnan(float(acc))
    for method in ("predict", "accuracy"):
        args = (params, X, y) if method == "accuracy" else (params, X)
        with pytest.raises(ValueError, match=rf"{method} needs finite model outputs.*smaller lr"):
            getattr(model, method)(*args)


def test_training_an_mlp_with_an_absurd_lr_reports_divergence(no_warnings):
    g = np.random.default_rng(0)
    X, y = g.standard_normal((64, 4)), g.integers(0, 3, size=64)
    model = M.MLP(4, hidden=8, n_classes=3)
    params = model.init_params(seed=0)
    hist = train(model, params, SGD(params, lr=1e200), (X, y), epochs=2, batch_size=16,
                 on_diverge="stop")
    assert hist.diverged and hist.steps <= 2


@pytest.mark.parametrize("hidden", [8.0, "8", None])
def test_bad_hidden_width_is_named(hidden):
    with pytest.raises(TypeError, match=r"hidden must be an int or a sequence of ints"):
        M.MLP(2, hidden=hidden)
    with pytest.raises(TypeError, match=r"hidden must be an int, received float 8\.5"):
        M.MLP(2, hidden=(8, 8.5))
    assert M.MLP(2, hidden=np.int64(8)).hidden == (8,)


def test_string_targets_are_a_type_error_not_a_float_error():
    model = M.LinearRegression(2)
    with pytest.raises(TypeError, match=r"y must be an array of numbers, received str"):
        model.loss(model.init_params(), np.ones((4, 2)), "abcd")
    with pytest.raises(TypeError, match=r"y must hold real numbers, received dtype <U1"):
        model.loss(model.init_params(), np.ones((4, 2)), np.array(list("abcd")))


# ============================================================================ losses
@pytest.mark.parametrize("loss, pred, target", [
    (L.mse, [1e200, 0.0], [-1e200, 0.0]),
    (L.mae, [1e308], [-1e308]),
    (L.huber, [1e308], [-1e308]),
    (L.cross_entropy, [[1e308, -1e308]], [1]),
    (L.multiclass_hinge, [[1e308, -1e308]], [1]),
])
def test_huge_finite_inputs_give_inf_without_numpy_warnings(xp, no_warnings, loss, pred, target):
    p = xp.asarray(np.array(pred))
    t = xp.asarray(np.array(target))
    assert float(loss(p, t)) == math.inf
    g = to_numpy(loss.grad(p, t))
    assert not np.any(np.isnan(g))


def test_mse_gradient_of_huge_residuals_is_inf_not_a_warning(no_warnings):
    g = L.mse.grad(np.array([1e308, 1.0]), np.array([-1e308, 0.0]))
    assert g[0] == math.inf and g[1] == pytest.approx(1.0)


@pytest.mark.parametrize("loss, how", [(L.huber, "delta="), (L.focal, "alpha=..., gamma="),
                                       (L.mse, "mse has no parameters")])
def test_positional_loss_parameters_are_explained(loss, how):
    pred, target = np.array([0.0, 1.0]), np.array([0.0, 1.0])
    for method in (loss, loss.grad, loss.values, loss.value_and_grad):
        with pytest.raises(TypeError, match=r"by name only; received 1 extra positional") as info:
            method(pred, target, 2.0)
        assert how in str(info.value)


def test_non_finite_logits_are_named_in_stable_building_blocks(no_warnings):
    for fn in (L.softmax, L.logsumexp, L.log_softmax):
        with pytest.raises(ValueError, match="z must be finite"):
            fn(np.array([np.inf, 0.0]))
    with pytest.raises(ValueError, match="z must not hold NaN"):
        L.sigmoid(np.array([0.0, np.nan]))
    np.testing.assert_array_equal(L.sigmoid(np.array([-np.inf, np.inf])), [0.0, 1.0])
    np.testing.assert_allclose(L.softmax(np.array([1e308, -1e308])), [1.0, 0.0])
    # a masked logit (-inf) is legitimate: probability 0, log-probability -inf
    np.testing.assert_array_equal(L.softmax(np.array([-np.inf, 0.0])), [0.0, 1.0])
    assert L.logsumexp(np.array([-np.inf, 0.0])) == 0.0
    with pytest.raises(ValueError, match="all -inf in 1 slice"):
        L.log_softmax(np.array([[-np.inf, -np.inf], [0.0, 1.0]]), axis=1)


def test_array_hyperparameters_are_refused_scalars_accepted():
    pred, target = np.array([0.0, 3.0]), np.zeros(2)
    with pytest.raises(TypeError, match=r"delta must be a number, received ndarray of shape \(1,\)"):
        L.huber(pred, target, delta=np.array([2.0]))
    assert float(L.huber(pred, target, delta=np.float32(2.0))) == pytest.approx(2.0)
    assert float(L.huber(pred, target, delta=np.array(2.0))) == pytest.approx(2.0)


# ============================================================================ fitting
@pytest.mark.parametrize("method", ["auto", "irls", "gd"])
def test_constant_x_is_explained_not_singular(method):
    with pytest.raises(ValueError, match=r"x must take at least two different values.*x = 1"):
        FT.fit_line(np.ones(5), np.arange(5.0), L.huber, method=method)


def test_redundant_features_are_explained(xp):
    g = np.random.default_rng(0)
    x = g.standard_normal(6)
    y = xp.asarray(2 * x + 1)
    repeated = xp.asarray(np.stack([x, 2 * x], axis=1))
    with pytest.raises(ValueError, match=r"rank 2 < 3.*linear combination"):
        FT.fit_linear(repeated, y, L.mse)
    constant = xp.asarray(np.stack([x, np.full(6, 4.0)], axis=1))
    with pytest.raises(ValueError, match=r"constant feature.*column 1 = 4"):
        FT.fit_linear(constant, y, L.mae)
    few = xp.asarray(g.standard_normal((2, 3)))
    with pytest.raises(ValueError, match=r"only N=2 point\(s\) for 4 parameters"):
        FT.fit_linear(few, xp.asarray(np.array([1.0, 2.0])), L.mse)


def test_huge_data_asks_to_rescale(no_warnings):
    x = np.arange(4.0) * 1e200
    for loss in (L.mse, L.mae):
        with pytest.raises(ValueError, match=r"X is too large.*rescale"):
            FT.fit_line(x, x, loss)
    with pytest.raises(ValueError, match=r"y is too large.*rescale"):
        FT.fit_line(np.arange(4.0), np.arange(4.0) * 1e200, L.mse)
    fit = FT.fit_line(np.arange(4.0) * 1e100, np.arange(4.0) * 1e100, L.mse)  # large but fine
    assert fit.slope == pytest.approx(1.0)


def test_gd_with_a_huge_lr_names_lr_and_the_safe_default(no_warnings):
    X, y = np.arange(8.0).reshape(4, 2) / 8.0, np.arange(4.0)
    with pytest.raises(ValueError, match=r"diverged at step 1.*lr=1e\+10 is too large.*default lr="):
        FT.fit_linear(X, y, L.mse, method="gd", lr=1e10)
    assert FT.fit_linear(X, y, L.mse, method="gd", lr=None, n_steps=np.int64(50)).n_iter == 50


def test_fitting_positional_options_and_bad_values_are_named():
    X, y = np.arange(8.0).reshape(4, 2) / 8.0, np.arange(4.0)
    with pytest.raises(TypeError, match=r"options by name only.*\('gd',\)"):
        FT.fit_linear(X, y, L.mse, "gd")
    with pytest.raises(TypeError, match=r"options by name only"):
        FT.fit_line(X[:, 0], y, L.mse, "gd")
    with pytest.raises(ValueError, match=r"init w must be finite"):
        FT.fit_linear(X, y, L.mse, init=(np.array([np.nan, 0.0]), 0.0))
    with pytest.raises(ValueError, match=r"y must hold class labels 0, 1, \.\.\., C-1.*\[-1, 1\]"):
        FT.fit_linear(X, np.array([0, -1, 1, 0]), L.cross_entropy)
    with pytest.raises(ValueError, match=r"w must be finite"):
        FT.predict(X, np.array([np.nan, 1.0]), 0.0)
    with pytest.raises(ValueError, match=r"b must be finite"):
        FT.predict(X, np.ones(2), math.inf)
    with pytest.raises(ValueError, match=r"b must be a number or have shape \(1,\)"):
        FT.predict(X, np.ones(2), np.ones(3))
