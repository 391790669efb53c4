"""edulib.plots.plot_loss_curves / loss_curve_data (chapter 02): several runs on one axis."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from edulib import data, models, optim, train
from edulib.plots import loss_curve_data, plot_loss_curves


@pytest.fixture(scope="module")
def runs():
    s = data.spirals(n_per_class=50, seed=0)
    model = models.SoftmaxRegression(2, 2)
    out = {}
    for name, bs in (("GD", None), ("B=8", 8), ("SGD", 1)):
        p = model.init_params(seed=0)
        out[name] = train.train(model, p, optim.SGD(p, lr=0.1), s, epochs=3, batch_size=bs)
    return s, model, out


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_one_line_per_run_with_the_history_data(runs):
    s, _, hs = runs
    fig, ax = plt.subplots()
    lines = plot_loss_curves(hs, x="step", ax=ax)
    assert list(lines) == list(hs)
    assert len(ax.lines) == 3
    n = s.X_train.shape[0]
    for name, h in hs.items():
        xs, ys = lines[name].get_data()
        np.testing.assert_array_equal(ys, h.train_loss)
        np.testing.assert_array_equal(xs, h.epoch_steps)
    # steps per epoch: 1 (GD), ceil(N/8), N (SGD)
    assert [h.epoch_steps[1] for h in hs.values()] == [1, -(-n // 8), n]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "optimizer steps"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(hs)


def test_epoch_and_time_axes(runs):
    _, _, hs = runs
    lines = plot_loss_curves(hs, x="epoch", log=False)
    for name, h in hs.items():
        xs, ys = lines[name].get_data()
        np.testing.assert_array_equal(xs, [0, 1, 2, 3])
        np.testing.assert_array_equal(ys, h.train_loss)
    ax = lines["GD"].axes
    assert ax.get_yscale() == "linear" and ax.get_xlabel() == "epochs"
    lines = plot_loss_curves(hs, x="time")
    for name, h in hs.items():
        xs, _ = lines[name].get_data()
        np.testing.assert_array_equal(xs, h.time)
        assert xs[0] == 0.0 and np.all(np.diff(xs) >= 0)
    assert lines["GD"].axes.get_xlabel() == "training time (s)"


def test_val_lines_are_dashed_in_the_same_colour(runs):
    _, _, hs = runs
    lines = plot_loss_curves(hs, val=True)
    assert len(lines) == 6
    for name, h in hs.items():
        v = lines[f"{name} (val)"]
        np.testing.assert_array_equal(v.get_ydata(), h.val_loss)
        assert v.get_linestyle() == "--" and lines[name].get_linestyle() == "-"
        assert v.get_color() == lines[name].get_color()
    colors = {lines[k].get_color() for k in hs}
    assert len(colors) == 3


def test_curves_are_the_full_loss_at_each_evaluation(runs):
    s, model, _ = runs
    p = model.init_params(seed=0)
    seen = []
    h = train.train(model, p, optim.SGD(p, lr=0.1), s, epochs=2, batch_size=8,
                    callback=lambda step, loss, params, hist: seen.append(
                        (step, float(model.loss(params, s.X_train, s.y_train)))))
    xs, ys = loss_curve_data(h, "step")
    by_step = dict(seen)
    for x, y in zip(xs[1:], ys[1:], strict=True):
        assert by_step[int(x)] == pytest.approx(y, rel=1e-12)
    _, yv = loss_curve_data(h, "epoch", which="val")
    np.testing.assert_array_equal(yv, h.val_loss)


def test_early_stop_gives_a_fractional_epoch():
    X = np.linspace(-1, 1, 100)[:, None]
    y = (X[:, 0] > 0).astype(np.int64)
    model = models.SoftmaxRegression(1, 2)
    p = model.init_params(seed=0)
    h = train.train(model, p, optim.SGD(p, lr=0.1), (X, y), epochs=5, batch_size=10,
                    max_steps=25)
    assert h.epoch_steps == [0, 10, 20, 25]
    xs, ys = loss_curve_data(h, "epoch")
    np.testing.assert_allclose(xs, [0.0, 1.0, 2.0, 2.5])
    np.testing.assert_array_equal(ys, h.train_loss)
    p = model.init_params(seed=0)  # stopped inside the first epoch: no epoch to place it
    h = train.train(model, p, optim.SGD(p, lr=0.1), (X, y), epochs=5, batch_size=10,
                    max_steps=4)
    xs, ys = loss_curve_data(h, "epoch")
    np.testing.assert_array_equal(xs, [0.0])
    xs, _ = loss_curve_data(h, "step")
    np.testing.assert_array_equal(xs, [0, 4])


def test_errors_name_the_argument(runs):
    _, _, hs = runs
    with pytest.raises(ValueError, match="x must be"):
        plot_loss_curves(hs, x="epochs")
    with pytest.raises(ValueError, match="histories"):
        plot_loss_curves({})
    with pytest.raises(TypeError, match=r"histories\['a'\]"):
        plot_loss_curves({"a": [1.0, 0.5]})
    h = train.History(train_loss=[1.0, 0.5], epoch_steps=[0, 1], time=[0.0, 0.1], epochs=1)
    with pytest.raises(ValueError, match="val=True"):
        plot_loss_curves({"a": h}, val=True)
    with pytest.raises(ValueError, match="which"):
        loss_curve_data(h, "step", which="test")
    with pytest.raises(ValueError, match="val_loss"):
        loss_curve_data(h, "step", which="val")
