"""edulib.widgets.ch04_hessian: the Taylor-model, saddle-escape and sharpness dashboards, driven
by setting slider values and checked against the maths they show."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edulib import functions as F
from edulib import hessian as hs
from edulib import models
from edulib.widgets.ch04_hessian import (
    escape_steps,
    quadratic_model,
    saddle_escape_dashboard,
    sharpness_dashboard,
    taylor_dashboard,
)


# ----------------------------------------------------------------------------- Taylor
def test_quadratic_model_is_exact_for_a_quadratic_and_second_order_elsewhere():
    q = F.Quadratic(0.5, 3.0)
    X1, X2 = np.meshgrid(np.linspace(-2, 2, 9), np.linspace(-1, 1, 7))
    Z = np.asarray(q.f(np.stack([X1, X2], axis=-1)))
    np.testing.assert_allclose(quadratic_model(q, (0.7, -0.3), X1, X2), Z, atol=1e-12)
    r = F.Rosenbrock()
    p = np.array([0.3, 0.4])
    errs = []
    for h in (1e-2, 5e-3):  # the error of a second-order model shrinks like h^3
        pt = p + h * np.array([0.6, 0.8])
        errs.append(abs(float(r.f(pt)) - float(quadratic_model(r, p, pt[0], pt[1]))))
    assert 6.0 < errs[0] / errs[1] < 10.0


def test_taylor_dashboard_classifies_the_point_under_the_sliders():
    h = F.Himmelblau()
    dash = taylor_dashboard(h)
    assert dash.state["kind"] == "saddle"  # starts at the first saddle
    np.testing.assert_allclose(dash.state["point"], h.saddles[0])
    for points, kind in ((h.minima[1:3], "minimum"), (h.maxima, "maximum"),
                         (h.saddles[2:], "saddle")):
        for p in points:
            dash.controls["x1"].value, dash.controls["x2"].value = p
            assert dash.state["kind"] == kind, (p, dash.state["reason"])
            assert f"<b>{kind}</b>" in dash.readout.value
            lam = dash.state["eigenvalues"]
            np.testing.assert_allclose(lam, np.linalg.eigvalsh(h.hessian(np.asarray(p))))
            # the eigenvector arrows: blue for positive, red for negative curvature
            n_up = np.sum(np.isnan(dash.artists["up"].get_xdata()))
            n_down = np.sum(np.isnan(dash.artists["down"].get_xdata()))
            assert (n_up, n_down) == (np.sum(lam > 0), np.sum(lam < 0))
    dash.controls["x1"].value, dash.controls["x2"].value = (1.0, 1.0)
    assert dash.state["kind"] == "not critical"
    px, py = dash.artists["point"].get_data()
    assert (list(px), list(py)) == ([1.0], [1.0])
    assert np.isfinite(dash.artists["model"].get_xdata()).any()
    assert dash.image.value[:4] == b"\x89PNG"


def test_taylor_model_error_grows_with_the_window():
    small = taylor_dashboard(F.Rosenbrock(), (0.0, 0.0), radius=0.1)
    big = taylor_dashboard(F.Rosenbrock(), (0.0, 0.0), radius=0.8)
    assert small.state["model_error"] < 1e-2 * big.state["model_error"]


def test_taylor_dashboard_bad_input():
    with pytest.raises(TypeError, match="surface must be an edulib.functions surface"):
        taylor_dashboard(object())
    with pytest.raises(ValueError, match="point must lie in the surface's box"):
        taylor_dashboard(F.Himmelblau(), (9.0, 0.0))
    with pytest.raises(ValueError, match="radius must be in"):
        taylor_dashboard(radius=0.0)


# ----------------------------------------------------------------------------- saddle
@pytest.mark.parametrize("lr", [0.1, 0.2])
def test_escape_steps_formula_matches_the_run(lr):
    dash = saddle_escape_dashboard(lr=lr, steps=200, sigma=1e-12)
    for sigma in (1e-12, 1e-3):
        dash.controls["sigma"].value = sigma
        k = dash.state["escaped_at"]
        assert k == escape_steps(sigma, lr) == dash.state["predicted"]
        assert k == math.ceil(math.log(1.0 / sigma) / math.log(1.0 + 2.0 * lr))
        xs = dash.state["xs"]
        assert abs(xs[k, 1]) > 1.0 >= abs(xs[k - 1, 1])
        assert f"leaves after {k} steps" in dash.readout.value


def test_no_perturbation_converges_to_the_saddle():
    dash = saddle_escape_dashboard(lr=0.2, steps=100, sigma=0.0)
    assert dash.state["escaped_at"] is None and dash.state["predicted"] == math.inf
    assert dash.state["final_distance"] < 1e-20
    assert np.all(dash.state["xs"][:, 1] == 0.0)
    assert "converges to the saddle" in dash.readout.value
    # smaller noise, later escape
    steps = []
    for sigma in (1e-1, 1e-6, 1e-12):
        dash.controls["sigma"].value = sigma
        steps.append(dash.state["escaped_at"])
    assert steps == sorted(steps) and len(set(steps)) == 3
    assert np.isnan(dash.artists["theory"].get_ydata()).sum() == 0


def test_saddle_dashboard_bad_input():
    with pytest.raises(ValueError, match="lr must be in"):
        saddle_escape_dashboard(lr=0.6)
    with pytest.raises(ValueError, match="sigma must be one of noises"):
        saddle_escape_dashboard(sigma=0.5)
    with pytest.raises(ValueError, match="sigma must be in"):
        escape_steps(-1.0, 0.1)


# ----------------------------------------------------------------------------- sharpness
@pytest.fixture(scope="module")
def traces():
    g = np.random.default_rng(0)
    X = g.standard_normal((60, 5))
    y = g.integers(0, 3, 60)
    model = models.MLP(5, 8, 3, activation="tanh", loss="mse")
    p0 = model.init_params(0)
    return [hs.track_sharpness(model, p0, X, y, lr, 40, every=10) for lr in (0.5, 2.0)]


def test_sharpness_dashboard_shows_each_trace(traces):
    dash = sharpness_dashboard(traces)
    assert dash.state["lr"] == 2.0  # the largest by default
    for tr in traces:
        dash.controls["lr"].value = tr.lr
        xs, ys = dash.artists["sharpness"].get_data()
        np.testing.assert_array_equal(xs, tr.steps)
        np.testing.assert_array_equal(ys, tr.sharpness)
        assert list(dash.artists["threshold"].get_ydata()) == [2.0 / tr.lr] * 2
        assert dash.state["threshold"] == 2.0 / tr.lr
        assert dash.state["final_loss"] == tr.loss[-1]
        med = float(np.median(tr.sharpness[-1:]))  # 5 checkpoints: the last quarter is 1
        assert dash.state["median_last"] == med
        assert dash.state["loss_ups"] == int(np.sum(np.diff(tr.loss) > 0))
        assert f"η = {tr.lr:g}" in dash.readout.value


def test_track_sharpness_measures_the_top_eigenvalue(traces):
    tr = traces[0]
    assert list(tr.steps) == [0, 10, 20, 30, 40]
    assert tr.loss.shape == (41,) and np.all(np.isfinite(tr.loss))
    assert tr.threshold == 4.0 and tr.batch_size is None
    g = np.random.default_rng(0)
    X = g.standard_normal((60, 5))
    y = g.integers(0, 3, 60)
    model = models.MLP(5, 8, 3, activation="tanh", loss="mse")
    ref = np.linalg.eigvalsh(hs.dense(model, tr.params, X, y))
    assert tr.sharpness[-1] == pytest.approx(ref[-1], rel=1e-2)
    # the final parameters are those of plain GD
    p = model.init_params(0)
    for _ in range(40):
        _, grads = model.loss_and_grad(p, X, y)
        p = {k: p[k] - 0.5 * grads[k] for k in p}
    for k in p:
        np.testing.assert_allclose(tr.params[k], p[k], rtol=1e-12, atol=1e-14)
    sgd = hs.track_sharpness(model, model.init_params(0), X, y, 0.5, 12, every=6, batch_size=20)
    assert list(sgd.steps) == [0, 6, 12] and np.isnan(sgd.loss[1])
    assert np.all(np.isfinite(sgd.checkpoint_loss))


def test_sharpness_dashboard_bad_input(traces):
    with pytest.raises(ValueError, match="traces must hold at least one"):
        sharpness_dashboard([])
    with pytest.raises(TypeError, match=r"traces\[0\] must be an edulib.hessian.SharpnessTrace"):
        sharpness_dashboard([object()])
    with pytest.raises(ValueError, match="lr must be one of the traces' learning rates"):
        sharpness_dashboard(traces, lr=1.0)
    with pytest.raises(ValueError, match="traces must have distinct learning rates"):
        sharpness_dashboard([traces[0], traces[0]])


def test_every_legend_is_as_large_as_the_tick_labels(traces):
    """The dashboards render at 80 dpi: a legend below the ticks' 10 pt is unreadable there."""
    for dash in (taylor_dashboard(), saddle_escape_dashboard(), sharpness_dashboard(traces)):
        legends = [ax.get_legend() for ax in dash.fig.axes if ax.get_legend() is not None]
        assert legends
        for legend in legends:
            tick = dash.fig.axes[0].get_xticklabels()[0].get_fontsize()
            assert min(t.get_fontsize() for t in legend.get_texts()) >= tick >= 10
