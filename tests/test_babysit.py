"""edulib.babysit: update/weight ratios against a hand computation, hidden activations against a
hand-written forward pass, dead units of a network built with known dead units, histograms
that count every value, the Monitor driven by train, its plots, and bad input."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

from edulib import models, plots
from edulib.babysit import (
    Histogram,
    Monitor,
    dead_fraction,
    hidden_activations,
    histogram,
    update_ratios,
    weight_names,
)
from edulib.optim import SGD
from edulib.train import train

matplotlib.use("Agg")


def _blobs(n=48, d=4, seed=0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    return X, y


def _hand_forward(params, X, act="relu"):
    """A_1..A_H of an MLP written out: A_l = phi(A_{l-1} W_l + b_l)."""
    phi = (lambda z: np.maximum(z, 0.0)) if act == "relu" else np.tanh
    A, out, layer = X, [], 1
    while f"W{layer + 1}" in params:
        A = phi(A @ params[f"W{layer}"] + params[f"b{layer}"])
        out.append(A)
        layer += 1
    return out


# ------------------------------------------------------------------------------ pure readings
def test_update_ratio_of_an_sgd_step_is_lr_grad_over_weight():
    model = models.MLP(4, (6, 5), 3)
    X, y = _blobs()
    params = model.init_params(seed=1)
    before = {k: v.copy() for k, v in params.items()}
    _, g = model.loss_and_grad(params, X, y)
    SGD(params, lr=0.07).step(g)
    r = update_ratios(before, params)
    assert list(r) == ["W1", "W2", "W3"] == weight_names(params)
    for k in r:
        hand = 0.07 * math.sqrt(np.sum(g[k] ** 2)) / math.sqrt(np.sum(before[k] ** 2))
        assert r[k] == pytest.approx(hand, rel=1e-12)
    r_all = update_ratios(before, params, names=["b1", "W2"])
    assert list(r_all) == ["b1", "W2"] and r_all["b1"] == math.inf   # b1 started at 0 and moved
    assert update_ratios(before, before, names=["b1"]) == {"b1": 0.0}


def test_hidden_activations_are_the_forward_pass():
    for act, hidden in (("relu", (6, 5)), ("tanh", 7)):
        model = models.MLP(4, hidden, 3, activation=act)
        X, _ = _blobs()
        params = model.init_params(seed=2)
        acts = hidden_activations(model, params, X)
        hand = _hand_forward(params, X, act)
        assert list(acts) == [f"A{i}" for i in range(1, len(hand) + 1)]
        for a, h in zip(acts.values(), hand, strict=True):
            np.testing.assert_allclose(a, h, rtol=1e-13, atol=1e-15)


def _known_dead_network():
    """4 -> 4 -> 5 -> 2 ReLU MLP with units 0, 3 of layer 1 and unit 4 of layer 2 dead on any
    input with |x| <= 10 (bias -1000), and every other unit alive on the batch (bias +1000)."""
    model = models.MLP(4, (4, 5), 2)
    params = model.init_params(seed=0)
    params["b1"][...] = [-1000.0, 1000.0, 1000.0, -1000.0]
    params["b2"][...] = 1000.0
    params["W2"][...] = np.abs(params["W2"]) * 1e-3  # layer 2 sees a positive input ...
    params["b2"][4] = -1e6                            # ... except unit 4, pushed far below 0
    params["W3"] *= 1e-6                              # modest logits: small steps keep it so
    return model, params


def test_dead_fraction_on_a_network_with_known_dead_units():
    model, params = _known_dead_network()
    X = np.clip(_blobs(30)[0], -10, 10)
    acts = hidden_activations(model, params, X)
    assert dead_fraction(acts["A1"]) == 0.5 and dead_fraction(acts["A2"]) == 0.2
    # a unit is dead only when it is 0 on EVERY example: one live example keeps it alive
    A = np.zeros((5, 3))
    A[4, 1] = 0.1
    assert dead_fraction(A) == pytest.approx(2 / 3)
    assert dead_fraction(np.ones((2, 4))) == 0.0 and dead_fraction(np.zeros((1, 4))) == 1.0


@pytest.mark.parametrize("values", [np.arange(17.0), np.zeros((3, 4)),
                                    np.random.default_rng(0).standard_normal((40, 7)),
                                    np.array([5.0]), np.arange(6)])
@pytest.mark.parametrize("bins", [1, 7, 30])
def test_histogram_counts_every_value(values, bins):
    h = histogram(values, bins)
    assert isinstance(h, Histogram) and h.counts.dtype == np.int64
    assert h.counts.sum() == values.size and h.counts.shape == (bins,) and h.edges.shape == (bins + 1,)
    assert np.all(np.diff(h.edges) > 0)
    assert h.edges[0] <= values.min() and h.edges[-1] >= values.max()
    assert h.mean == pytest.approx(values.mean()) and h.std == pytest.approx(values.std())
    ref, edges = np.histogram(values, bins=bins)
    np.testing.assert_array_equal(h.counts, ref)
    np.testing.assert_array_equal(h.edges, edges)
    np.testing.assert_allclose(np.sum(plots.histogram_density(h) * np.diff(h.edges)), 1.0)


# ------------------------------------------------------------------------------ the monitor in train
def test_monitor_records_what_a_hand_loop_computes():
    model = models.MLP(4, (6, 5), 3)
    X, y = _blobs()
    params = model.init_params(seed=3)
    hand = {k: v.copy() for k, v in params.items()}
    mon = Monitor(every=3, bins=9)
    train(model, params, SGD(params, lr=0.2), (X, y), epochs=8, batch_size=None, monitor=mon)
    assert mon.steps == [0, 3, 6]
    for t in range(8):  # full-batch GD by hand
        _, g = model.loss_and_grad(hand, X, y)
        if t % 3 == 0:
            i = mon.steps.index(t)
            for k in ("W1", "W2", "W3"):
                ratio = 0.2 * np.linalg.norm(g[k]) / np.linalg.norm(hand[k])
                assert mon.update_ratio[k][i] == pytest.approx(ratio, rel=1e-10)
                np.testing.assert_array_equal(mon.grad_hist[k][i].counts, np.histogram(g[k], 9)[0])
            for name, A in zip(("A1", "A2"), _hand_forward(hand, X), strict=True):
                assert mon.dead[name][i] == float(np.mean(np.all(A == 0, axis=0)))
                np.testing.assert_array_equal(mon.act_hist[name][i].counts, np.histogram(A, 9)[0])
        for k in hand:
            hand[k] -= 0.2 * g[k]
    for k in params:
        np.testing.assert_allclose(params[k], hand[k], rtol=1e-12)


def test_monitor_sees_the_batch_of_the_step_and_accumulated_groups():
    model = models.MLP(4, 6, 3)
    X, y = _blobs(50)
    for B, k, n_seen in ((8, 1, 8), (8, 3, 24), (None, 1, 50), (64, 1, 50)):
        params = model.init_params(seed=0)
        mon = Monitor(every=2)
        h = train(model, params, SGD(params, lr=0.1), (X, y), epochs=2, batch_size=B,
                  accumulate=k, seed=0, monitor=mon)
        assert mon.steps == list(range(0, h.steps, 2))
        assert mon.act_hist["A1"][0].counts.sum() == n_seen * 6       # examples x units
        assert mon.grad_hist["W1"][0].counts.sum() == 4 * 6           # one per weight
        assert all(len(v) == len(mon.steps) for v in mon.update_ratio.values())


def test_monitor_on_a_known_dead_network_and_a_fresh_start():
    model, params = _known_dead_network()
    X, y = _blobs(30)
    X = np.clip(X, -10, 10)
    y = y.clip(0, 1)
    mon = Monitor(every=1)
    train(model, params, SGD(params, lr=1e-6), (X, y), epochs=3, batch_size=10, seed=0, monitor=mon)
    assert mon.dead == {"A1": [0.5] * 9, "A2": [0.2] * 9}           # dead units stay dead
    s = mon.summary()
    assert s["dead_first"] == {"A1": 0.5, "A2": 0.2} and set(s["update_ratio"]) == {"W1", "W2", "W3"}
    lin = models.LinearRegression(4)  # a new run clears the records; no hidden layers here
    p = lin.init_params(seed=0)
    train(lin, p, SGD(p, lr=0.01), (X, X[:, 0]), epochs=1, batch_size=10, monitor=mon)
    assert mon.steps == [0, 1, 2] and list(mon.update_ratio) == ["w"] and mon.act_hist == {}
    assert "recorded=3 steps" in repr(mon)


def test_monitor_on_other_backends(xp, to_np):
    model = models.MLP(4, 5, 3)
    X, y = _blobs()
    mons = []
    for ns in (np, xp):
        params = model.init_params(seed=0, xp=ns)
        mon = Monitor(every=2)
        train(model, params, SGD(params, lr=0.1), (ns.asarray(X), ns.asarray(y)), epochs=2,
              batch_size=16, seed=0, monitor=mon)
        mons.append(mon)
    np.testing.assert_allclose(mons[1].update_ratio["W1"], mons[0].update_ratio["W1"], rtol=1e-10)
    np.testing.assert_array_equal(mons[1].act_hist["A1"][-1].counts, mons[0].act_hist["A1"][-1].counts)


# ------------------------------------------------------------------------------ plots
def test_plots_draw_the_records():
    import matplotlib.pyplot as plt

    model = models.MLP(4, (6, 5), 3)
    X, y = _blobs()
    params = model.init_params(seed=0)
    mon = Monitor(every=2)
    train(model, params, SGD(params, lr=0.1), (X, y), epochs=3, batch_size=8, seed=0, monitor=mon)
    fig, axes = plt.subplots(1, 3)
    lines = plots.plot_update_ratios(mon, ax=axes[0])
    assert set(lines) == {"W1", "W2", "W3", "target"}
    np.testing.assert_array_equal(lines["W2"].get_ydata(), mon.update_ratio["W2"])
    assert lines["target"].get_ydata()[0] == 1e-3 and axes[0].get_yscale() == "log"
    hists = mon.histograms("activations", at=0)
    stairs = plots.plot_layer_histograms(hists, ax=axes[1], log=True)
    values, edges, _ = stairs["A1"].get_data()
    np.testing.assert_array_equal(edges, hists["A1"].edges)
    assert np.sum(values * np.diff(edges)) == pytest.approx(1.0)
    dead = plots.plot_dead_fraction(mon, ax=axes[2])
    np.testing.assert_array_equal(dead["A2"].get_ydata(), mon.dead["A2"])
    fig.canvas.draw()                                   # every label renders (mathtext included)
    plt.close(fig)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("call", "exc", "words"), [
    (lambda: Monitor(every=0), ValueError, ["every", "[1, inf]", "0"]),
    (lambda: Monitor(every=2.5), TypeError, ["every", "2.5"]),
    (lambda: Monitor(bins=0), ValueError, ["bins", "0"]),
    (lambda: Monitor(names="W1"), TypeError, ["names", "'W1'"]),
    (lambda: histogram(np.array([1.0, np.nan])), ValueError, ["values", "finite"]),
    (lambda: histogram(np.array([])), ValueError, ["values", "empty"]),
    (lambda: histogram([1.0, 2.0]), TypeError, ["values", "array", "list"]),
    (lambda: histogram(np.array(["a"])), TypeError, ["values", "real numbers", "<U1"]),
    (lambda: update_ratios({"W": np.ones(2)}, {"V": np.ones(2)}), ValueError,
     ["before and after", "['W']", "['V']"]),
    (lambda: update_ratios({"W": np.ones(2)}, {"W": np.ones(3)}), ValueError, ["after['W']", "(3,)"]),
    (lambda: update_ratios({"b": np.ones(2)}, {"b": np.ones(2)}), ValueError, ["no weight matrix", "['b']"]),
    (lambda: update_ratios({"W": np.ones(2)}, {"W": np.ones(2)}, names=["V"]), ValueError,
     ["names", "unknown", "['V']"]),
    (lambda: update_ratios([1.0], {"W": np.ones(2)}), TypeError, ["before", "dict", "list"]),
    (lambda: dead_fraction(np.zeros(4)), ValueError, ["A", "(examples, units)"]),
    (lambda: hidden_activations(models.SoftmaxRegression(4, 3), {}, np.ones((2, 4))), TypeError,
     ["model", "MLP", "SoftmaxRegression"]),
    (lambda: hidden_activations(models.MLP(4, 3, 2), models.MLP(4, 3, 2).init_params(), np.ones((2, 5))),
     ValueError, ["X", "(N, 4)", "(2, 5)"]),
    (lambda: Monitor().histograms(), ValueError, ["recorded nothing"]),
    (lambda: Monitor().record(0, None, {}, {}, {}), RuntimeError, ["Monitor.start"]),
    (lambda: plots.plot_update_ratios(Monitor()), ValueError, ["recorded nothing"]),
    (lambda: plots.plot_update_ratios("mon"), TypeError, ["monitor", "Monitor", "str"]),
    (lambda: plots.plot_layer_histograms({}), ValueError, ["hists", "empty"]),
    (lambda: plots.plot_layer_histograms({"A1": np.ones(3)}), TypeError, ["hists['A1']", "Histogram"]),
])
def test_bad_input_names_the_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} missing from: {info.value}"


def test_monitor_refuses_bad_kind_and_index_after_a_run():
    model = models.MLP(4, 5, 3)
    X, y = _blobs()
    params = model.init_params(seed=0)
    mon = Monitor(every=4, names=["W1", "b1"])
    train(model, params, SGD(params, lr=0.1), (X, y), epochs=1, batch_size=8, monitor=mon)
    assert list(mon.update_ratio) == ["W1", "b1"] and len(mon.steps) == 2
    with pytest.raises(ValueError, match="kind must be 'activations' or 'gradients', received 'acts'"):
        mon.histograms("acts")
    with pytest.raises(ValueError, match="at"):
        mon.histograms("gradients", at=2)
    bad = Monitor(names=["W9"])
    with pytest.raises(ValueError, match=r"names must be keys of params.*\['W9'\]"):
        train(model, params, SGD(params, lr=0.1), (X, y), epochs=1, monitor=bad)
