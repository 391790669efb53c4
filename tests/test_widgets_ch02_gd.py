"""edulib.widgets.gd_dashboard (chapter 02), driven headlessly by setting control values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from edulib import functions, plots
from edulib.widgets import gd_dashboard


def _path(dash):
    return np.array(dash.artists["path"].get_data()).T


def _closed_form(A, x0, lr, steps):
    """x_k = (I - lr A)^k x0 for k = 0..steps (GD on f = x^T A x / 2)."""
    M = np.eye(2) - lr * A
    return np.stack([np.linalg.matrix_power(M, k) @ x0 for k in range(steps + 1)])


@pytest.fixture
def quad():
    return functions.Quadratic(0.1, 2.0)


@pytest.fixture
def dash(quad):
    return gd_dashboard(quad, lr=0.1, steps=30)


def test_initial_path_is_closed_form_gd(dash, quad):
    x0 = np.array(quad.start)
    np.testing.assert_allclose(_path(dash), _closed_form(quad.A, x0, 0.1, 30), rtol=1e-12)
    assert dash.image is not None and dash.image.value[:4] == b"\x89PNG"
    assert dash.state["lam_max"] == pytest.approx(4.0)
    assert dash.state["threshold"] == pytest.approx(0.5)


@pytest.mark.parametrize("lr", [0.01, 0.3, 0.45])
def test_lr_slider_redraws_closed_form_path(dash, quad, lr):
    dash.controls["lr"].value = lr
    dash.controls["steps"].value = 40
    dash.controls["x1"].value = 3.0
    dash.controls["x2"].value = -1.5
    expected = _closed_form(quad.A, np.array([3.0, -1.5]), lr, 40)
    np.testing.assert_allclose(_path(dash), expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(np.array(dash.artists["start"].get_data()).ravel(), [3.0, -1.5])
    np.testing.assert_allclose(np.array(dash.artists["end"].get_data()).ravel(), expected[-1])
    curve = np.asarray(dash.artists["curve"].get_ydata())
    np.testing.assert_allclose(curve, 0.5 * np.einsum("ki,ij,kj->k", expected, quad.A, expected),
                               rtol=1e-10)
    assert not dash.state["diverged"]
    assert dash.state["distance"] == pytest.approx(np.hypot(*expected[-1]))
    assert dash.state["lr_lam"] == pytest.approx(lr * 4.0)


def test_lr_above_two_over_lambda_max_flags_divergence(dash, quad):
    thr = 2.0 / quad.eigenvalues[-1]
    dash.controls["lr"].value = 0.98 * thr
    assert not dash.state["diverged"] and "converging" in dash.readout.value
    dash.controls["lr"].value = 1.04 * thr
    assert dash.state["diverged"] and "diverged" in dash.readout.value
    assert dash.state["lr_lam"] > 2.0
    assert f"{thr:.4g}" in dash.readout.value  # the threshold 2/λ_max is shown
    # the path is still the closed form, growing along the stiff eigenvector
    k = dash.state["steps"]
    np.testing.assert_allclose(_path(dash), _closed_form(quad.A, np.array(quad.start),
                                                         1.04 * thr, k), rtol=1e-10)


def test_blow_up_stops_early_and_is_flagged(quad):
    d = gd_dashboard(quad, lr=1.0, steps=300)
    assert d.state["blew_up"] and d.state["diverged"]
    assert len(d.state["xs"]) < 301
    assert np.all(np.isfinite(np.array(d.artists["end"].get_data())))


def test_momentum_threshold():
    d = gd_dashboard(functions.Quadratic(0.1, 2.0), lr=0.5, steps=200, momentum=0.5)
    assert d.state["threshold"] == pytest.approx(2 * 1.5 / 4.0)
    assert not d.state["diverged"]  # lr = 0.5 would diverge without momentum's larger range


def test_surface_change_redraws_contour_once(dash):
    old = dash.artists["contour"]
    ax = old.axes
    calls = []
    orig = dash._update
    dash._update = lambda: (calls.append(1), orig())
    dash.controls["surface"].value = "rosenbrock"
    assert len(calls) == 1  # box and start moved without extra redraws
    rosen = functions.SURFACES["rosenbrock"]
    new = dash.artists["contour"]
    assert new is not old and old not in ax.collections and new in ax.collections
    _, _, Z = rosen.grid(101)
    np.testing.assert_allclose(dash.artists["levels"],
                               plots.contour_levels(Z, 20, log=True, f_min=0.0))
    assert (dash.controls["x1"].min, dash.controls["x1"].max) == rosen.box[0]
    assert (dash.controls["x2"].min, dash.controls["x2"].max) == rosen.box[1]
    assert (dash.controls["x1"].value, dash.controls["x2"].value) == rosen.start
    assert np.array(dash.artists["path"].get_data())[:, 0].tolist() == list(rosen.start)
    assert "lam_max" not in dash.state and dash.state["surface"] == "rosenbrock"
    # the contour is not replaced by a slider move
    dash.controls["lr"].value = 0.001
    assert dash.artists["contour"] is new


def test_every_surface_runs_without_warnings(dash):
    names = list(functions.SURFACES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a log axis switched on while showing f < 0
        for name in names + names[::-1]:
            dash.controls["surface"].value = name
            for lr in (1e-4, 0.01, 0.9):
                dash.controls["lr"].value = lr
                assert dash.state["surface"] == name
                assert len(dash.image.value) > 1000
                s = functions.SURFACES[name]
                assert (dash.state["distance"] is None) == (not s.minima)


def test_surface_by_name_and_errors():
    d = gd_dashboard("himmelblau", lr=0.01)
    assert d.state["surface"] == "himmelblau"
    with pytest.raises(ValueError, match="surface must be one of"):
        gd_dashboard("nope")
    with pytest.raises(TypeError, match="surface"):
        gd_dashboard(42)
    with pytest.raises(ValueError, match="lr must lie"):
        gd_dashboard(lr=10.0)
    with pytest.raises(ValueError, match="steps"):
        gd_dashboard(steps=-1)


def test_given_surface_is_offered_first():
    q = functions.Quadratic.with_condition_number(10.0, angle=0.5)
    d = gd_dashboard(q, lr=0.1)
    assert d.controls["surface"].value == "quadratic (given)"
    assert d.surfaces["quadratic (given)"] is q
    assert d.state["lam_max"] == pytest.approx(10.0)


def test_lr_slider_is_log_scale(dash):
    import ipywidgets

    assert isinstance(dash.controls["lr"], ipywidgets.FloatLogSlider)
