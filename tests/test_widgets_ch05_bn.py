"""Chapter 05's batch-normalisation dashboard (edulib.widgets.ch05_bn): the curves drawn are the
runs of bn_run, which are train() runs; each (lr, toggle) is trained once; driven headlessly by
setting control values (observers fire synchronously)."""

from __future__ import annotations

import io
import math
import statistics
import struct
import time

import ipywidgets
import numpy as np
import pytest

from edulib import data, models, optim
from edulib.train import train
from edulib.widgets import ch05_bn
from edulib.widgets.ch05_bn import LR_GRID, TRAINS_FACTOR, BNRun, bn_lr_dashboard, bn_run

SMALL = {"n_train": 256, "epochs": 3}  # a quick dashboard for the tests


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


@pytest.fixture
def dash():
    return bn_lr_dashboard(lr=1.0, **SMALL)


# --------------------------------------------------------------------------- bn_run
@pytest.mark.parametrize("batch_norm", [False, True])
def test_bn_run_is_a_train_run(batch_norm):
    run = bn_run(0.5, batch_norm, seed=3, n_train=200, epochs=2, batch_size=32)
    split = data.digits()
    sub = data.Split(split.X_train[:200], split.X_val, split.y_train[:200], split.y_val)
    model = models.MLP(64, (32, 32), 10, batch_norm=batch_norm)
    params = model.init_params(seed=3)
    w0 = np.linalg.norm(params["W1"])
    hist = train(model, params, optim.SGD(params, lr=0.5), sub, epochs=2, batch_size=32, seed=3,
                 on_diverge="stop")
    assert run.history.loss == hist.loss and run.history.val_acc == hist.val_acc
    assert run.history.train_loss == hist.train_loss
    for k in params:
        np.testing.assert_array_equal(run.params[k], params[k])
    assert run.w1_norms.shape == (hist.steps + 1,) and run.w1_norms[0] == w0
    assert run.w1_growth == pytest.approx(np.linalg.norm(params["W1"]) / w0)
    assert run.steps_per_epoch == 7 and run.settings == (2, 32, (32, 32), "relu", 200)
    assert run.trains == (hist.train_loss[-1] <= TRAINS_FACTOR * hist.train_loss[0])
    assert run.final_train_loss == hist.train_loss[-1]
    assert "BNRun(lr=0.5" in repr(run) and "w1_norms" not in repr(run)


def test_with_batch_norm_the_pre_bn_weights_only_grow():
    """The loss is invariant to the scale of W1, so an SGD step can only lengthen it."""
    run = bn_run(2.0, True, n_train=256, epochs=2)
    assert not run.diverged
    assert np.all(np.diff(run.w1_norms) > -1e-12 * run.w1_norms[1:]) and run.w1_growth > 1.1
    plain = bn_run(0.5, False, n_train=256, epochs=2)
    assert np.any(np.diff(plain.w1_norms) < 0)   # without BN nothing forbids shrinking


def test_blow_up_and_trains_verdicts():
    blown = bn_run(8.0, False, n_train=256, epochs=2)
    assert blown.diverged and not blown.trains
    fine = bn_run(0.5, True, n_train=256, epochs=2)
    assert fine.trains and not fine.diverged
    h = fine.history
    assert h.train_loss[-1] <= TRAINS_FACTOR * h.train_loss[0]


@pytest.mark.parametrize(("kw", "exc", "words"), [
    ({"lr": 0.0}, ValueError, ["lr", "0.0"]),
    ({"lr": "1"}, TypeError, ["lr"]),
    ({"batch_norm": "yes"}, TypeError, ["batch_norm", "True or False"]),
    ({"seed": -1}, ValueError, ["seed"]),
    ({"epochs": 0}, ValueError, ["epochs"]),
    ({"batch_size": 1}, ValueError, ["batch_size"]),
    ({"hidden": "32"}, TypeError, ["hidden", "str"]),
    ({"hidden": ()}, TypeError, ["hidden"]),
    ({"activation": "gelu"}, ValueError, ["activation", "'gelu'"]),
    ({"n_train": 1}, ValueError, ["n_train"]),
    ({"data": (1, 2)}, TypeError, ["data", "Split"]),
    ({"n_train": 257, "batch_size": 64}, ValueError, ["batch_size=64", "mini-batch of 1"]),
])
def test_bn_run_refuses_bad_arguments_by_name(kw, exc, words):
    args = {"lr": 0.5, "batch_norm": True} | kw
    lr, bn = args.pop("lr"), args.pop("batch_norm")
    with pytest.raises(exc) as info:
        bn_run(lr, bn, **args)
    for w in words:
        assert w in str(info.value), f"{w!r} missing from: {info.value}"


# --------------------------------------------------------------------------- the dashboard
@pytest.mark.parametrize(("lr", "bn"), [(1.0, True), (4.0, False), (0.25, True)])
def test_drawn_curves_are_the_runs(dash, lr, bn):
    dash.controls["batch_norm"].value = bn
    dash.controls["lr"].value = lr
    run, other = bn_run(lr, bn, **SMALL), bn_run(lr, not bn, **SMALL)
    art = dash.artists
    for name, r in (("sel", run), ("oth", other)):
        h = r.history
        np.testing.assert_array_equal(art[f"{name}_train"].get_ydata(),
                                      np.clip(h.train_loss, 1e-30, 1e30))
        np.testing.assert_array_equal(art[f"{name}_val"].get_ydata(),
                                      np.clip(h.val_loss, 1e-30, 1e30))
        np.testing.assert_array_equal(art[f"{name}_acc"].get_ydata(), h.val_acc)
        np.testing.assert_array_equal(art[f"{name}_train"].get_xdata(), np.arange(len(h.train_loss)))
    st = dash.state
    assert (st["lr"], st["batch_norm"]) == (lr, bn)
    assert st["train_loss"] == run.history.train_loss and st["val_acc"] == run.history.val_acc
    assert st["trains"] == run.trains and st["diverged"] == run.diverged
    assert st["w1_growth"] == pytest.approx(run.w1_growth)
    assert f"η = {lr:.3g} {'with' if bn else 'without'} batch norm" in dash.readout.value


def test_each_setting_is_trained_once(dash, monkeypatch):
    calls = []
    real = ch05_bn.bn_run
    monkeypatch.setattr(ch05_bn, "bn_run", lambda *a, **k: calls.append((a[0], a[1])) or real(*a, **k))
    dash.controls["lr"].value = 2.0
    assert sorted(calls) == [(2.0, False), (2.0, True)]
    dash.controls["batch_norm"].value = False          # both runs for η = 2 are in the cache
    dash.controls["lr"].value = 1.0                     # and both for η = 1 (the start)
    dash.controls["lr"].value = 2.0
    assert len(calls) == 2 and len(dash.cache) == 4


def test_runs_fill_the_cache_and_must_match_the_settings(monkeypatch):
    runs = [bn_run(lr, bn, **SMALL) for lr in (1.0, 2.0) for bn in (False, True)]
    monkeypatch.setattr(ch05_bn, "bn_run", lambda *a, **k: pytest.fail("trained again"))
    d = bn_lr_dashboard(lr=2.0, runs=runs, **SMALL)
    assert d.state["run"] is runs[3] and d.state["other"] is runs[2]
    d.controls["lr"].value = 1.0
    assert d.state["run"] is runs[1]
    with pytest.raises(ValueError, match=r"runs\[0\] was trained with seed=0.*seed=1"):
        bn_lr_dashboard(runs=runs, seed=1, **SMALL)
    with pytest.raises(ValueError, match=r"runs\[0\].*\(3, 64, \(32, 32\), 'relu', 256\)"):
        bn_lr_dashboard(runs=runs)
    with pytest.raises(TypeError, match=r"runs\[0\] must be a BNRun"):
        bn_lr_dashboard(runs=[{"lr": 1.0}], **SMALL)


def test_a_blow_up_is_marked(dash):
    dash.controls["batch_norm"].value = False
    dash.controls["lr"].value = 8.0
    st = dash.state
    assert st["diverged"] and not st["trains"]
    run = st["run"]
    assert "BLEW UP" in dash.artists["title"].get_text() and "blew up at step" in dash.readout.value
    x, y = dash.artists["blowup"].get_data()
    assert list(x) == [run.history.steps / run.steps_per_epoch] and y[0] > 100
    dash.controls["batch_norm"].value = True
    assert len(dash.artists["blowup"].get_xdata()) == (1 if dash.state["diverged"] else 0)


def test_slider_is_the_log_grid():
    d = bn_lr_dashboard(lr=3.0, **SMALL)      # snapped to the grid: 2^1.5
    s = d.controls["lr"]
    assert isinstance(s, ipywidgets.FloatLogSlider) and s.base == 2.0
    assert s.value == pytest.approx(2 ** 1.5) and d.state["lr"] == pytest.approx(2 ** 1.5)
    grid = [s.base ** (s.min + i * s.step) for i in range(round((s.max - s.min) / s.step) + 1)]
    np.testing.assert_allclose(grid, LR_GRID)
    assert LR_GRID[0] == 0.125 and LR_GRID[-1] == 32.0


@pytest.mark.parametrize(("kw", "exc", "match"), [
    ({"lr": 100.0}, ValueError, "lr must be in"),
    ({"batch_norm": "no"}, TypeError, "batch_norm must be True or False"),
    ({"seed": 1.5}, TypeError, "seed must be an int"),
    ({"activation": "elu"}, ValueError, "activation must be one of"),
])
def test_dashboard_refuses_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        bn_lr_dashboard(**kw)


# --------------------------------------------------------------------------- what a learner sees
def test_image_shown_at_its_pixel_size_and_labels_uncut(dash):
    from PIL import Image

    w, h = _png_size(dash.image.value)
    assert (w, h) == dash.fig.canvas.get_width_height()
    assert dash.image.layout.width == f"{w}px"
    with Image.open(io.BytesIO(dash.image.value)) as im:
        assert np.asarray(im.convert("RGB")).std() > 10
    for name, c in dash.controls.items():
        assert c.style.description_width == "initial", name
    for bn in (True, False):
        dash.controls["batch_norm"].value = bn
        for line in dash.readout.value.split("<br>"):
            assert len(line) < 150, line
    ax_l = dash.artists["sel_train"].axes
    assert ax_l.get_yscale() == "log" and ax_l.get_ylim() == ch05_bn.LOSS_LIMITS
    labels = [t.get_text() for t in ax_l.get_legend().get_texts()]
    assert "training loss" in labels and "blew up (stopped)" in labels


def test_redraw_is_fast(dash):
    """Once a setting has been trained, a redraw only moves curves: < 300 ms (median) on a
    busy shared machine (benchmarks/widget_redraw.py measures it on an idle core)."""
    values = [0.5, 1.0, 2.0]
    for v in values:                       # train each setting once
        dash.controls["lr"].value = v
    times = []
    for v in values[::-1] + values + values[::-1]:
        t0 = time.perf_counter()
        dash.controls["lr"].value = v
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    dash.controls["batch_norm"].value = not dash.controls["batch_norm"].value
    times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.3
    assert math.isfinite(dash.state["train_loss"][-1])


def test_runs_are_bnrun_instances():
    r = bn_run(0.5, True, **SMALL)
    assert isinstance(r, BNRun) and r.batch_norm and r.lr == 0.5 and r.seed == 0
    assert set(r.params) == set(r.model.param_shapes) | set(r.model.buffer_shapes)
