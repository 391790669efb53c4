"""edulib.widgets.ch04_newton: the L-BFGS memory dashboard, driven by setting slider values."""

from __future__ import annotations

import numpy as np
import pytest

from edulib import data, models
from edulib import quasi_newton as qn
from edulib.widgets.ch04_newton import (
    lbfgs_memory_dashboard,
    memory_floats,
    random_softmax_test,
    softmax_test_dashboard,
)


@pytest.fixture(scope="module")
def small():
    s = data.digits()
    # a subset keeps the seven L-BFGS runs fast
    return data.Split(s.X_train[:300], s.X_val, s.y_train[:300], s.y_val)


@pytest.fixture(scope="module")
def dash(small):
    return lbfgs_memory_dashboard(small, m=5, memories=(1, 5, 20), weight_decay=1e-2,
                                  gtol=1e-6)


def test_each_memory_is_an_independent_lbfgs_run(dash, small):
    model = models.SoftmaxRegression(64, 10, weight_decay=1e-2)
    fun, x0 = qn.model_objective(model, small.X_train, small.y_train,
                                 model.init_params(seed=0, scale=0.0))
    for m in (1, 5, 20):
        ref = qn.lbfgs(fun, x0, m=m, gtol=1e-6, ftol=0.0)
        got = dash.state["results"][m]
        assert (got.nit, got.nfev) == (ref.nit, ref.nfev)
        np.testing.assert_allclose(got.x, ref.x, rtol=0, atol=0)
        assert got.success


def test_slider_moves_the_curve_the_marker_and_the_readout(dash):
    n = dash.state["n"]
    assert n == 64 * 10 + 10
    for m in (1, 20, 5):
        dash.controls["m"].value = m
        res = dash.state["results"][m]
        assert dash.state["m"] == m and dash.state["nit"] == res.nit
        assert dash.state["memory"] == memory_floats(m, n) == 2 * m * n
        xs, ys = dash.artists["lbfgs"].get_data()
        assert len(xs) == res.nit + 1
        np.testing.assert_allclose(ys, np.maximum(np.array(res.history["f"]) -
                                                  dash.state["f_star"], 1e-16))
        mx, my = dash.artists["current"].get_data()
        assert list(mx) == [m] and list(my) == [res.nit]
        assert f"m = {m}</b>: {res.nit} iterations" in dash.readout.value
        assert f"{2 * m * n:,} numbers" in dash.readout.value
    assert dash.image is not None and dash.image.value[:4] == b"\x89PNG"


def test_more_memory_needs_fewer_iterations_and_all_reach_the_same_optimum(dash):
    res = dash.state["results"]
    assert res[20].nit < res[1].nit
    f = [r.fun for r in res.values()]
    assert max(f) - dash.state["f_star"] < 1e-8
    assert dash.state["f_star"] <= min(f)


def test_reference_run_is_drawn_and_checked(small):
    model = models.SoftmaxRegression(64, 10, weight_decay=1e-2)
    fun, x0 = qn.model_objective(model, small.X_train, small.y_train,
                                 model.init_params(seed=0, scale=0.0))
    ref = qn.bfgs(fun, x0, gtol=1e-4, maxiter=40)
    d = lbfgs_memory_dashboard(small, m=1, memories=(1, 2), weight_decay=1e-2, reference=ref)
    xs, _ = d.artists["reference"].get_data()
    assert len(xs) == ref.nit + 1
    assert f"BFGS: {ref.nit} iterations" in d.readout.value
    given = lbfgs_memory_dashboard(small, m=1, memories=(1, 2), weight_decay=1e-2,
                                   f_star=d.state["f_star"] - 1e-9)
    assert given.state["f_star"] == d.state["f_star"] - 1e-9
    _, ys = given.artists["lbfgs"].get_data()
    assert ys[-1] == pytest.approx(d.state["results"][1].fun - given.state["f_star"])
    other = qn.bfgs(fun, x0 + 0.1, gtol=1e-3)
    with pytest.raises(ValueError, match="reference must be a run of the same objective"):
        lbfgs_memory_dashboard(small, m=1, memories=(1,), weight_decay=1e-2, reference=other)


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"m": 4, "memories": (1, 5)}, ValueError, ["m", "[1, 5]", "4"]),
        ({"m": 1, "memories": ()}, ValueError, ["memories"]),
        ({"m": 1, "memories": (0, 1)}, ValueError, ["memories"]),
        ({"m": 1, "memories": (1,), "weight_decay": -1.0}, ValueError, ["weight_decay"]),
        ({"m": 1, "memories": (1,), "gtol": 0.0}, ValueError, ["gtol"]),
        ({"m": 1, "memories": (1,), "reference": 3}, TypeError, ["reference"]),
        ({"m": 1, "memories": (1,), "f_star": 10.0}, ValueError, ["f_star", "10.0"]),
    ],
)
def test_bad_arguments_name_themselves(small, kwargs, exc, words):
    with pytest.raises(exc) as info:
        lbfgs_memory_dashboard(small, **kwargs)
    for w in words:
        assert w in str(info.value)


@pytest.mark.parametrize(
    ("m", "n", "exc", "words"),
    [
        (-1, 10, ValueError, ["m", "-1"]),
        (0, 10, ValueError, ["m", "0"]),
        (2.7, 10, TypeError, ["m", "int", "2.7"]),
        (True, 10, TypeError, ["m", "int"]),
        ("3", 10, TypeError, ["m", "int"]),
        (2, 0, ValueError, ["n", "0"]),
        (2, 10.0, TypeError, ["n", "int"]),
    ],
)
def test_memory_floats_refuses_what_is_not_a_count(m, n, exc, words):
    with pytest.raises(exc) as info:
        memory_floats(m, n)
    for w in words:
        assert w in str(info.value)
    assert memory_floats(np.int64(3), 7) == 42


def _legend_and_tick_sizes(fig):
    sizes = []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            tick = ax.xaxis.get_ticklabels()[0].get_fontsize()
            sizes += [(text.get_fontsize(), tick) for text in legend.get_texts()]
    return sizes


def test_legends_are_as_large_as_the_tick_labels(dash):
    # the PNG is shown at 80 dpi: "small" (8.3 pt) legends were 9 px high, hard to read
    soft = softmax_test_dashboard(seed=0, n_samples=500, max_seed=5)
    for fig in (dash.fig, soft.fig):
        sizes = _legend_and_tick_sizes(fig)
        assert sizes and all(legend >= max(tick, 10) for legend, tick in sizes), sizes
    dash.controls["m"].value = 1          # the legend is rebuilt on every update
    assert all(legend >= 10 for legend, _ in _legend_and_tick_sizes(dash.fig))


def test_split_must_be_a_split():
    with pytest.raises(TypeError, match="split must be an edulib.data.Split"):
        lbfgs_memory_dashboard(np.zeros((3, 2)))


# --------------------------------------------------------------------------- notebook 3
def test_random_softmax_test_matches_an_independent_computation():
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    out = random_softmax_test(1, 500)
    X, y = make_classification(n_samples=500, n_features=20, n_informative=10, n_classes=4,
                               random_state=1)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, random_state=1)
    W = out["result"].x.reshape(20, 4)
    assert out["result"].x.dtype == np.float32
    assert out["accuracy"] == np.mean((X_te.astype(np.float32) @ W).argmax(1) == y_te)
    assert out["baseline"] == np.mean(y_te == np.bincount(y_tr).argmax())
    # a small draw: below the fixed threshold, yet the solver matches the reference
    assert out["accuracy"] < 0.5 and not out["fixed_pass"] and out["reference_pass"]
    assert abs(out["rel_objective"]) < 1e-4 and abs(out["accuracy"] - out["accuracy_ref"]) <= 0.002


def test_softmax_test_dashboard_follows_its_sliders():
    d = softmax_test_dashboard(seed=0, n_samples=500, max_seed=5)
    d.controls["seed"].value = 1
    ref = random_softmax_test(1, 500)
    assert d.state["seed"] == 1 and d.state["accuracy"] == ref["accuracy"]
    widths = [b.get_width() for b in d.artists["bars"]]
    assert widths == [ref["baseline"], ref["accuracy_ref"], ref["accuracy"]]
    assert "Fixed-threshold test: <b>FAIL</b>; reference test: pass" in d.readout.value
    d.controls["n_samples"].value = 1000
    assert d.state["n_samples"] == 1000 and "seed 1, 1000 samples" in d.artists["title"].get_text()


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"seed": 7, "max_seed": 5}, ValueError, ["seed", "7"]),
        ({"n_samples": 700}, ValueError, ["n_samples", "700"]),
        ({"lam": 0.0}, ValueError, ["lam"]),
        ({"threshold": 1.5}, ValueError, ["threshold"]),
    ],
)
def test_softmax_test_dashboard_bad_arguments(kwargs, exc, words):
    with pytest.raises(exc) as info:
        softmax_test_dashboard(**kwargs)
    for w in words:
        assert w in str(info.value)
