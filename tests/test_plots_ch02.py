"""edulib.plots (chapter 02): contours of a surface and an optimizer's path."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from edulib import functions, plots


def test_contour_levels_linear_and_log():
    Z = np.linspace(0.0, 100.0, 1001).reshape(11, 91)
    lin = plots.contour_levels(Z, 9)
    np.testing.assert_allclose(lin, np.arange(10.0, 100.0, 10.0))
    log = plots.contour_levels(Z, 5, log=True, f_min=0.0)
    np.testing.assert_allclose(log, np.geomspace(0.1, 100.0, 5))  # smallest gap 0.1 > 1e-4*100
    ratios = log[1:] / log[:-1]
    np.testing.assert_allclose(ratios, ratios[0])


def test_contour_levels_errors():
    with pytest.raises(ValueError, match="levels"):
        plots.contour_levels(np.arange(4.0), 1)
    with pytest.raises(ValueError, match="constant"):
        plots.contour_levels(np.ones((3, 3)), 5)
    with pytest.raises(ValueError, match="finite"):
        plots.contour_levels(np.full((2, 2), np.nan), 5)


@pytest.mark.parametrize("name", list(functions.SURFACES))
def test_plot_contour_every_surface(name):
    s = functions.SURFACES[name]
    _, ax = plt.subplots()
    out = plots.plot_contour(s, ax=ax, n=41, levels=12)
    assert out["contour"] in ax.collections
    assert len(out["levels"]) == 12 and np.all(np.diff(out["levels"]) > 0)
    _, _, Z = s.grid(41)
    expected = plots.contour_levels(Z, 12, log=s.log_scale, f_min=s.f_min)
    np.testing.assert_allclose(out["levels"], expected)
    assert ax.get_xlim() == s.box[0] and ax.get_ylim() == s.box[1]
    if s.minima:
        mins = np.array([m for m in s.minima])
        np.testing.assert_allclose(np.array(out["minima"].get_data()), mins.T)
    else:
        assert "minima" not in out
    assert ("saddles" in out) == bool(s.saddles)


def test_plot_contour_log_levels_follow_surface():
    rosen = functions.Rosenbrock()
    out = plots.plot_contour(rosen, n=51, levels=10)
    lv = out["levels"] - rosen.f_min
    ratios = lv[1:] / lv[:-1]
    np.testing.assert_allclose(ratios, ratios[0])  # geometric spacing
    lin = plots.plot_contour(rosen, n=51, levels=10, log=False)["levels"]
    np.testing.assert_allclose(np.diff(lin), np.diff(lin)[0])


def test_plot_contour_filled_and_box():
    q = functions.Quadratic(0.1, 2.0)
    _, ax = plt.subplots()
    out = plots.plot_contour(q, ax=ax, filled=True, box=((-1, 1), (-2, 2)), show_critical=False)
    assert "minima" not in out
    assert ax.get_xlim() == (-1.0, 1.0) and ax.get_ylim() == (-2.0, 2.0)
    assert out["contour"].filled


def test_plot_trajectory_data_and_markers():
    xs = np.array([[1.0, 2.0], [0.5, 1.0], [0.25, 0.5]])
    _, ax = plt.subplots()
    out = plots.plot_trajectory(xs, ax=ax, label="gd")
    assert set(out) == {"path", "start", "end"}
    np.testing.assert_array_equal(np.array(out["path"].get_data()), xs.T)
    np.testing.assert_array_equal(np.array(out["start"].get_data()).ravel(), xs[0])
    np.testing.assert_array_equal(np.array(out["end"].get_data()).ravel(), xs[-1])
    assert out["path"].get_label() == "gd"
    assert all(a in ax.lines for a in out.values())


def test_plot_trajectory_skips_non_finite_points():
    xs = np.array([[1.0, 1.0], [3.0, -3.0], [np.inf, np.nan]])
    out = plots.plot_trajectory(xs)
    x, y = out["path"].get_data()
    assert np.isnan(x[-1]) and np.isnan(y[-1])
    np.testing.assert_array_equal(np.array(out["end"].get_data()).ravel(), [3.0, -3.0])


def test_plot_trajectory_on_a_gd_run():
    from edulib.optim import SGD
    from edulib.train import run_on_surface

    q = functions.Quadratic(0.1, 2.0)
    run = run_on_surface(q, SGD, np.array(q.start), steps=10, lr=0.2)
    out = plots.plot_trajectory(run.xs, ax=plots.plot_contour(q)["contour"].axes)
    np.testing.assert_allclose(np.array(out["path"].get_data()), run.xs.T)


@pytest.mark.parametrize("bad", [np.zeros(2), np.zeros((3, 3)), np.zeros((0, 2))])
def test_plot_trajectory_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match="xs must have shape"):
        plots.plot_trajectory(bad)
