"""edulib.widgets (chapter 01): driven headlessly by setting slider values."""

from __future__ import annotations

import numpy as np
import pytest

from edulib import data, losses
from edulib.fitting import fit_line
from edulib.widgets import focal_gamma_dashboard, focal_share, huber_delta_dashboard


@pytest.fixture(scope="module")
def line_data():
    return data.regression_with_outliers(seed=0)


@pytest.fixture
def hdash(line_data):
    return huber_delta_dashboard(*line_data, delta=1.0)


def _line_params(dash, x):
    xs = np.array([x.min(), x.max()])
    ys = np.asarray(dash.artists["huber"].get_ydata())
    slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    return slope, ys[0] - slope * xs[0]


def test_huber_initial_fit_is_drawn(hdash, line_data):
    x, y, _ = line_data
    ref = fit_line(x, y, losses.huber, delta=1.0)
    np.testing.assert_allclose(_line_params(hdash, x), [ref.slope, ref.intercept], rtol=1e-7)
    assert hdash.state["delta"] == pytest.approx(1.0)
    assert hdash.image is not None and len(hdash.image.value) > 0


def test_huber_large_delta_gives_the_mse_line(hdash, line_data):
    x, y, _ = line_data
    mse = hdash.reference["mse"]
    hdash.controls["delta"].value = 30.0  # larger than every residual of the MSE fit
    assert np.abs(mse.slope * x + mse.intercept - y).max() < 30.0
    np.testing.assert_allclose(_line_params(hdash, x), [mse.slope, mse.intercept], rtol=1e-7)


def test_huber_slider_moves_toward_mse(hdash, line_data):
    x, _, _ = line_data
    mse = hdash.reference["mse"]
    dist = []
    for d in (1.0, 2.0, 4.0, 8.0, 16.0):
        hdash.controls["delta"].value = d
        a, b = _line_params(hdash, x)
        dist.append(np.hypot(a - mse.slope, b - mse.intercept))
    assert all(p > q for p, q in zip(dist, dist[1:], strict=False))
    hdash.controls["delta"].value = 0.05
    mae = hdash.reference["mae"]
    a, _ = _line_params(hdash, x)
    assert abs(a - mae.slope) < abs(a - mse.slope) / 10


def test_huber_gradient_panel_is_clipped(hdash, line_data):
    x, y, is_out = line_data
    for d in (0.5, 3.0):
        hdash.controls["delta"].value = d
        r = np.asarray(hdash.artists["psi"].get_xdata())
        np.testing.assert_allclose(hdash.artists["psi"].get_ydata(), np.clip(r, -d, d))
        pts = hdash.artists["out_points"].get_offsets()
        res = hdash.state["slope"] * x[is_out] + hdash.state["intercept"] - y[is_out]
        np.testing.assert_allclose(pts[:, 0], res)
        np.testing.assert_allclose(pts[:, 1], np.clip(res, -d, d))


def test_huber_updates_artists_instead_of_replotting(hdash):
    ax_fit, ax_grad = hdash.fig.axes
    n_lines = (len(ax_fit.lines), len(ax_grad.lines), len(ax_grad.collections))
    line = hdash.artists["huber"]
    png = hdash.image.value
    hdash.controls["delta"].value = 7.0
    assert hdash.artists["huber"] is line
    assert (len(ax_fit.lines), len(ax_grad.lines), len(ax_grad.collections)) == n_lines
    assert hdash.image.value != png
    assert "7.00" in hdash.readout.value


@pytest.fixture(scope="module")
def fdash():
    return focal_gamma_dashboard(data.imbalanced(seed=0), gamma=2.0)


def test_focal_curve_follows_gamma(fdash):
    p = np.asarray(fdash.artists["focal"].get_xdata())
    for g in (0.0, 1.0, 3.5):
        fdash.controls["gamma"].value = g
        np.testing.assert_allclose(fdash.artists["focal"].get_ydata(),
                                   -(1 - p) ** g * np.log(p), rtol=1e-9, atol=1e-12)
    fdash.controls["gamma"].value = 0.0
    np.testing.assert_allclose(fdash.artists["focal"].get_ydata(),
                               fdash.artists["ce"].get_ydata())


def test_focal_gamma_down_weights_easy_examples(fdash):
    shares = []
    for g in (0.0, 0.5, 1.0, 2.0, 4.0):
        fdash.controls["gamma"].value = g
        s = fdash.state["easy_share"]
        heights = [r.get_height() for r in fdash.artists["bars"]]
        np.testing.assert_allclose(heights, [s, fdash.state["positive_share"]])
        shares.append(s)
    assert all(a > b for a, b in zip(shares, shares[1:], strict=False))
    assert shares[0] == pytest.approx(fdash.state["ce"]["easy_share"])


def test_focal_share_by_hand():
    z = np.array([3.0, -3.0, 0.2, -0.1])
    y = np.array([1, 0, 0, 1])
    g = 2.0
    p_t = 1 / (1 + np.exp(-np.where(y == 1, z, -z)))
    v = -(1 - p_t) ** g * np.log(p_t)
    s = focal_share(z, y, gamma=g)
    assert s["easy_share"] == pytest.approx(v[p_t > 0.9].sum() / v.sum())
    assert s["positive_share"] == pytest.approx(v[y == 1].sum() / v.sum())
    assert s["easy_fraction"] == pytest.approx(0.5)
