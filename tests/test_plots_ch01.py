"""edulib.plots (chapter 01): the curves drawn are the maths, artists come back, no show()."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from edulib import losses, plots


def test_residual_values_and_grads():
    r = np.linspace(-5, 5, 101)
    _, (a, b) = plt.subplots(1, 2)
    v = plots.plot_residual_losses([losses.mse, losses.mae, losses.huber], r=r, ax=a)
    g = plots.plot_residual_losses({"huber": losses.huber}, r=r, kind="grad", ax=b,
                                   params={"huber": {"delta": 2.0}})
    np.testing.assert_allclose(v["mse"].get_ydata(), r**2)
    np.testing.assert_allclose(v["mae"].get_ydata(), np.abs(r))
    hub = np.where(np.abs(r) <= 1, 0.5 * r**2, np.abs(r) - 0.5)
    np.testing.assert_allclose(v["huber"].get_ydata(), hub)
    np.testing.assert_allclose(g["huber"].get_ydata(), np.clip(r, -2.0, 2.0))
    assert "delta=2" in g["huber"].get_label()
    assert len({line.get_color() for line in v.values()}) == 3


def test_residual_curve_grad_is_derivative():
    r = np.linspace(-3, 3, 13) + 0.05
    h = 1e-6
    for loss in (losses.mse, losses.mae, losses.huber):
        num = (plots.residual_curve(loss, r + h) - plots.residual_curve(loss, r - h)) / (2 * h)
        np.testing.assert_allclose(plots.residual_curve(loss, r, "grad"), num, atol=1e-6)
    with pytest.raises(ValueError, match="kind"):
        plots.residual_curve(losses.mse, r, kind="hessian")


def test_line_fits():
    x = np.linspace(-1, 2, 10)
    y = 3 * x - 1
    mask = np.zeros(10, bool)
    mask[-2:] = True
    art = plots.plot_line_fits(x, y, {"mse": (3.0, -1.0), "mine": (1.0, 0.0)}, is_outlier=mask,
                               truth=(3.0, -1.0))
    np.testing.assert_allclose(art["mse"].get_ydata(), 3 * np.array([-1, 2]) - 1)
    np.testing.assert_allclose(art["mine"].get_ydata(), [-1, 2])
    assert art["outliers"].get_offsets().shape == (2, 2)
    assert art["data"].get_offsets().shape == (8, 2)
    assert art["mse"].get_color() == plots.COLORS["mse"]


def test_margin_and_probability_views():
    m = np.linspace(-6, 6, 121)
    lines = plots.plot_margin_losses([losses.hinge, losses.bce_with_logits], m=m)
    np.testing.assert_allclose(lines["hinge"].get_ydata(), np.maximum(0, 1 - m))
    np.testing.assert_allclose(lines["bce_with_logits"].get_ydata(), np.logaddexp(0, -m))
    p = plots.plot_margin_losses({"ce": losses.bce_with_logits, "focal": losses.focal},
                                 x_axis="p_true", params={"focal": {"alpha": None,
                                                                    "gamma": 2.0}})
    xs = p["ce"].get_xdata()
    np.testing.assert_allclose(p["ce"].get_ydata(), -np.log(xs), rtol=1e-9)
    np.testing.assert_allclose(p["focal"].get_ydata(), -(1 - xs) ** 2 * np.log(xs), rtol=1e-9)
    assert p["ce"].get_color() != p["focal"].get_color()
    assert p["ce"].axes.get_xlim() == (0.0, 1.0)
    with pytest.raises(ValueError, match="x_axis"):
        plots.plot_margin_losses([losses.hinge], x_axis="logit")


def test_margin_curve_at_zero_is_ln2():
    assert plots.margin_curve(losses.bce_with_logits, np.zeros(1))[0] == pytest.approx(math.log(2))


def test_ax_none_makes_a_figure_and_ax_is_used():
    n = len(plt.get_fignums())
    plots.plot_residual_losses([losses.mse])
    assert len(plt.get_fignums()) == n + 1
    _, ax = plt.subplots()
    lines = plots.plot_residual_losses([losses.mse], ax=ax)
    assert lines["mse"].axes is ax
