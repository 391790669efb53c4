"""edulib.widgets.minibatch_dashboard (chapter 02), driven headlessly by setting slider values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edulib import data, models, optim, train
from edulib.widgets import examples_seen, minibatch_checkpoints, minibatch_dashboard


@pytest.fixture(scope="module")
def digits():
    return data.digits()


@pytest.fixture(scope="module")
def dash(digits):
    return minibatch_dashboard(digits, lr=0.1, batch_size=16, epochs=2, n_train=256)


def reference_run(dash, lr, batch_size):
    """The same training, written independently: train.train with a recording callback."""
    s, model, cfg = dash.data, dash.model, dash.settings
    params = model.init_params(seed=cfg["seed"])
    seen = {}

    def record(step, loss, p, hist):
        seen[step] = (float(model.loss(p, s.X_train, s.y_train)),
                      float(model.loss(p, s.X_val, s.y_val)))

    hist = train.train(model, params, optim.SGD(params, lr=lr), s, epochs=cfg["epochs"],
                       batch_size=batch_size, seed=cfg["seed"], on_diverge="stop",
                       diverge_factor=cfg["diverge_factor"], callback=record)
    seen[0] = (hist.train_loss[0], hist.val_loss[0])
    return hist, seen, params


def test_default_setup(dash, digits):
    assert dash.data.X_train.shape == (256, 64)
    np.testing.assert_array_equal(dash.data.X_train, digits.X_train[:256])
    np.testing.assert_array_equal(dash.data.X_val, digits.X_val)
    assert isinstance(dash.model, models.SoftmaxRegression)
    opts = [v for _, v in dash.controls["batch_size"].options]
    assert opts == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert dash.controls["batch_size"].label == "16"
    assert type(dash.controls["lr"]).__name__ == "FloatLogSlider"
    assert dash.image is not None and dash.image.value[:4] == b"\x89PNG"
    assert "fixed budget: 2 epochs over 256 training examples" in dash.readout.value


@pytest.mark.parametrize(("lr", "batch_size"), [(0.1, 16), (0.05, 1), (1.0, 4), (3.0, 256)])
def test_plotted_curves_equal_a_train_run(dash, lr, batch_size):
    dash.controls["lr"].value = lr
    dash.controls["batch_size"].value = batch_size
    hist, seen, params = reference_run(dash, lr, batch_size)
    st = dash.state
    assert (st["lr"], st["batch_size"]) == (lr, batch_size)
    assert st["steps"] == hist.steps == 2 * math.ceil(256 / batch_size)
    assert not hist.diverged and not st["diverged"]
    # left panel: the full training / validation losses at the checkpoints, against examples
    ck = minibatch_checkpoints(hist.steps, dash.settings["n_points"])
    assert st["checkpoints"] == ck
    xs, ys = dash.artists["train"].get_data()
    np.testing.assert_array_equal(xs, examples_seen(ck, 256, batch_size))
    np.testing.assert_allclose(ys, [seen[t][0] for t in ck], rtol=1e-12)
    np.testing.assert_allclose(dash.artists["val"].get_ydata(), [seen[t][1] for t in ck],
                               rtol=1e-12)
    assert xs[-1] == 512  # the whole budget
    # right panel: every mini-batch loss, and the full loss against the step
    bx, by = dash.artists["batch"].get_data()
    np.testing.assert_array_equal(bx, np.arange(hist.steps))
    np.testing.assert_allclose(by, hist.loss, rtol=1e-12)
    np.testing.assert_array_equal(dash.artists["train_steps"].get_xdata(), ck)
    # readout numbers are the history's final evaluation
    assert st["train_loss"] == pytest.approx(hist.train_loss[-1], rel=1e-12)
    assert st["val_loss"] == pytest.approx(hist.val_loss[-1], rel=1e-12)
    assert st["train_acc"] == pytest.approx(hist.train_acc[-1])
    assert st["val_acc"] == pytest.approx(hist.val_acc[-1])
    assert f"val acc {hist.val_acc[-1]:.3f}" in dash.readout.value
    assert "diverged: no" in dash.readout.value
    # axes limits follow the data
    assert dash.fig.axes[1].get_xlim() == (0.0, float(hist.steps))
    lo, hi = dash.fig.axes[0].get_ylim()
    assert lo < min(ys) and hi > max(ys)


def test_huge_lr_is_flagged_as_diverged(dash):
    dash.controls["batch_size"].value = 1
    dash.controls["lr"].value = 100.0
    hist, seen, params = reference_run(dash, 100.0, 1)
    assert hist.diverged  # train.train stopped on the blow-up ...
    assert dash.state["diverged"] and dash.state["steps"] == hist.steps < 512
    assert "diverged: yes" in dash.readout.value and "DIVERGED" in dash.artists["title"].get_text()
    # ... and the last point drawn is the last parameters reached
    assert dash.state["checkpoints"][-1] == hist.steps
    model, s = dash.model, dash.data
    assert dash.artists["train"].get_ydata()[-1] == pytest.approx(
        float(model.loss(params, s.X_train, s.y_train)))
    assert dash.state["train_acc"] == pytest.approx(float(model.accuracy(params, s.X_train,
                                                                         s.y_train)))
    # full batch at the same lr does not blow up, but the loss ends above where it started
    dash.controls["batch_size"].value = 256
    hist, _, _ = reference_run(dash, 100.0, 256)
    assert not hist.diverged and hist.train_loss[-1] > hist.train_loss[0]
    assert dash.state["diverged"] and "went up" in dash.readout.value
    dash.controls["lr"].value = 0.1
    assert not dash.state["diverged"]


def test_larger_batch_fewer_steps_per_epoch(dash):
    dash.controls["lr"].value = 0.1
    per_epoch = []
    for _, b in dash.controls["batch_size"].options:
        dash.controls["batch_size"].value = b
        assert dash.state["steps_per_epoch"] == math.ceil(256 / b)
        assert dash.state["steps"] == 2 * math.ceil(256 / b)
        assert dash.state["examples"] == 512  # same budget of examples for every B
        per_epoch.append(dash.state["steps_per_epoch"])
    assert per_epoch == sorted(per_epoch, reverse=True) and per_epoch[0] == 256
    assert per_epoch[-1] == 1


def test_redraw_moves_artists_instead_of_replotting(dash):
    axes = dash.fig.axes
    counts = [len(ax.lines) for ax in axes]
    line = dash.artists["train"]
    png = dash.image.value
    dash.controls["batch_size"].value = 8
    dash.controls["lr"].value = 0.5
    assert dash.artists["train"] is line and line in axes[0].lines
    assert [len(ax.lines) for ax in axes] == counts
    assert dash.image.value != png


def test_examples_seen_counts_batches():
    for n, b in ((10, 3), (256, 16), (7, 7), (5, 1)):
        counts = [0]
        g = np.random.default_rng(0)
        for _ in range(3):
            for idx in train.batch_indices(n, b, g):
                counts.append(counts[-1] + idx.size)
        np.testing.assert_array_equal(examples_seen(np.arange(len(counts)), n, b), counts)
    assert minibatch_checkpoints(512, 32) == list(range(0, 513, 16))
    assert minibatch_checkpoints(2, 32) == [0, 1, 2]
    assert minibatch_checkpoints(100, 32)[-1] == 100


def test_mlp_and_full_training_set(digits):
    d = minibatch_dashboard(digits, models.MLP(64, 32, 10), lr=0.1, batch_size=None,
                            epochs=1, n_train=None)
    n = digits.X_train.shape[0]
    assert d.controls["batch_size"].value == n and d.state["steps"] == 1
    assert d.controls["batch_size"].options[-1] == (f"{n} (full)", n)
    hist, seen, _ = reference_run(d, 0.1, n)
    np.testing.assert_allclose(d.artists["train"].get_ydata(), [seen[0][0], seen[1][0]])


def test_errors_name_the_argument(digits):
    with pytest.raises(ValueError, match="batch_size"):
        minibatch_dashboard(digits, batch_size=3)
    with pytest.raises(ValueError, match="lr"):
        minibatch_dashboard(digits, lr=1e3)
    with pytest.raises(ValueError, match="n_train"):
        minibatch_dashboard(digits, n_train=10_000)
    with pytest.raises(ValueError, match="epochs"):
        minibatch_dashboard(digits, epochs=0)
    with pytest.raises(TypeError, match="data"):
        minibatch_dashboard((digits.X_train, digits.y_train))
