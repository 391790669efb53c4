"""Chapter 05 babysitting dashboard (edulib.widgets.ch05_babysit), driven headlessly by setting
control values (observers fire synchronously): what it draws is the runs' records, the readout
is diagnose's verdict beside the babysitting numbers, redraws are fast, bad input is named."""

from __future__ import annotations

import io
import statistics
import struct
import time
import warnings

import ipywidgets
import numpy as np
import pytest

from edulib import data, diagnose, models, plots
from edulib.babysit import Monitor
from edulib.optim import SGD
from edulib.train import DivergenceWarning, History, train
from edulib.widgets.ch05_babysit import babysit_dashboard, babysit_reading

MODEL = models.MLP(64, (16, 16), 10)


def _run(lr, bias=0.0, seed=0, every=4):
    s = data.digits()
    split = data.Split(s.X_train[:300], s.X_val[:100], s.y_train[:300], s.y_val[:100])
    params = MODEL.init_params(seed=seed)
    params["b1"][...] = bias
    params["b2"][...] = bias
    mon = Monitor(every=every)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        hist = train(MODEL, params, SGD(params, lr=lr, momentum=0.9), split, epochs=6,
                     batch_size=32, seed=seed, monitor=mon)
    return hist, mon


@pytest.fixture(scope="module")
def runs():
    return {"healthy": _run(0.02), "too small": _run(1e-5), "too large": _run(50.0),
            "dead (bias -3)": _run(0.02, bias=-3.0)}


@pytest.fixture
def dash(runs):
    return babysit_dashboard(runs, n_classes=10)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def test_drawn_curves_are_the_records(dash, runs):
    for name, (hist, mon) in runs.items():
        dash.controls["run"].value = name
        ys = dash.artists["loss"].get_ydata()
        np.testing.assert_array_equal(ys, np.asarray(hist.loss)[np.isfinite(hist.loss)])
        for k in ("W1", "W2", "W3"):
            np.testing.assert_array_equal(dash.artists[f"ratio {k}"].get_xdata(), mon.steps)
            r = np.asarray(mon.update_ratio[k])
            np.testing.assert_array_equal(dash.artists[f"ratio {k}"].get_ydata(),
                                          np.where(r > 0, r, np.nan))
        assert dash.state["run"] == name
        assert dash.state["verdict"] == diagnose.diagnose(hist, n_classes=10, monitor=mon).verdict


def test_step_slider_picks_the_recorded_step_at_or_before_it(dash, runs):
    hist, mon = runs["healthy"]
    dash.controls["run"].value = "healthy"
    for value in (0, 5, 8, 9, mon.steps[-1] + 3):
        dash.controls["step"].value = min(value, dash.controls["step"].max)
        v = dash.controls["step"].value
        at = max(i for i, s in enumerate(mon.steps) if s <= v)
        assert dash.state["step"] == mon.steps[at] and dash.state["index"] == at
        h = mon.act_hist["A2"][at]
        values, edges, _ = dash.artists["act A2"].get_data()
        np.testing.assert_array_equal(edges, h.edges)
        np.testing.assert_allclose(values, plots.histogram_density(h))
        g = mon.grad_hist["W1"][at]
        np.testing.assert_array_equal(dash.artists["grad W1"].get_data()[1], g.edges)
        assert dash.artists["ratio_at"].get_xdata()[0] == mon.steps[at]
        assert dash.state["dead"] == {k: d[at] for k, d in mon.dead.items()}
        assert dash.state["loss"] == hist.loss[mon.steps[at]]


def test_a_run_that_stopped_early_shows_its_last_record(dash, runs):
    hist, mon = runs["too large"]
    assert hist.diverged and hist.steps < 10
    dash.controls["step"].value = dash.controls["step"].max
    dash.controls["run"].value = "too large"
    assert dash.state["step"] == mon.steps[-1] and dash.state["verdict"] == "diverging"
    assert dash.state["ratio"]["W1"] > 0.1                   # the step is as large as the weights
    assert "diverging" in dash.readout.value


def test_readout_ties_the_verdict_to_the_numbers(dash, runs):
    dash.controls["run"].value = "dead (bias -3)"
    dash.controls["step"].value = 0
    r = babysit_reading(*runs["dead (bias -3)"], at=0, n_classes=10)
    assert {k: v for k, v in dash.state.items() if k not in ("run", "_readout")} == r
    assert r["dead"]["A2"] > 0.5                               # most of layer 2 is dead ...
    text = dash.readout.value
    assert f"A2 {r['dead']['A2']:.0%}" in text and r["verdict"] in text
    assert f"W1 {r['ratio']['W1']:.1e}" in text
    healthy = babysit_reading(*runs["healthy"], at=0, n_classes=10)
    assert healthy["dead"]["A2"] < 0.2                          # ... unlike the healthy run's


def test_the_verdict_reads_the_monitor(dash, runs):
    # the curve alone calls the bias -3 run too slow; with its monitor diagnose sees the dead
    # layers, and the panel shows that verdict (the other runs keep their curve's verdict)
    for name, (hist, mon) in runs.items():
        dash.controls["run"].value = name
        want = diagnose.diagnose(hist, n_classes=10, monitor=mon).verdict
        assert dash.state["verdict"] == want == babysit_reading(hist, mon, n_classes=10)["verdict"]
        assert f"diagnose says <b>{want}</b>" in dash.readout.value
        if name != "dead (bias -3)":
            assert want == diagnose.diagnose(hist, n_classes=10).verdict
    hist, mon = runs["dead (bias -3)"]
    assert diagnose.diagnose(hist, n_classes=10).verdict == "lr_too_small"
    assert dash.state["verdict"] == "dead_units" and mon.dead["A2"][-1] > 0.5


def test_image_shown_at_its_pixel_size(dash):
    from PIL import Image

    w, h = _png_size(dash.image.value)
    assert (w, h) == dash.fig.canvas.get_width_height()
    with Image.open(io.BytesIO(dash.image.value)) as im:
        assert np.asarray(im.convert("RGB")).std() > 10
    for c in dash.controls.values():
        if isinstance(c, (ipywidgets.IntSlider, ipywidgets.Dropdown)):
            assert c.style.description_width == "initial"
    for line in dash.readout.value.split("<br>"):
        assert len(line) < 200, line


def test_redraw_is_fast(dash, runs):
    """Well under 300 ms a frame on an idle core; the median is checked against 300 ms here,
    on a shared machine."""
    times = []
    names = list(runs)
    for i in range(8):
        t0 = time.perf_counter()
        if i % 2:
            dash.controls["run"].value = names[i // 2 % len(names)]
        else:
            dash.controls["step"].value = (4 * i) % (dash.controls["step"].max + 1)
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.3


def test_bad_arguments_name_themselves(runs):
    with pytest.raises(ValueError, match="runs must be a non-empty dict"):
        babysit_dashboard({})
    with pytest.raises(TypeError, match=r"runs\['a'\] must be a pair"):
        babysit_dashboard({"a": runs["healthy"][0]})
    with pytest.raises(TypeError, match=r"runs\['a'\]\[0\] must be an edulib.train.History"):
        babysit_dashboard({"a": (1, runs["healthy"][1])})
    with pytest.raises(TypeError, match=r"runs\['a'\]\[1\] must be an edulib.babysit.Monitor, "
                                        r"received dict"):
        babysit_dashboard({"a": (runs["healthy"][0], vars(runs["healthy"][1]))})
    with pytest.raises(ValueError, match=r"runs\['a'\] must have a Monitor that recorded"):
        babysit_dashboard({"a": (History(), Monitor())})
    other = _run(0.02, every=5)
    with pytest.raises(ValueError, match="share their layers"):
        babysit_dashboard({"a": runs["healthy"], "b": other})
    with pytest.raises(ValueError, match=r"run must be one of \['healthy'\], received 'x'"):
        babysit_dashboard({"healthy": runs["healthy"]}, run="x")
    with pytest.raises(ValueError, match="n_classes"):
        babysit_dashboard({"healthy": runs["healthy"]}, n_classes=1)
    with pytest.raises(ValueError, match="at"):
        babysit_reading(*runs["healthy"], at=10_000)
