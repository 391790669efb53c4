"""edulib.widgets.frames: a dashboard's figure saved for a grid of slider values, the frames a
page without Python swaps (the course's website)."""

from __future__ import annotations

import json

import ipywidgets as widgets
import numpy as np
import pytest
from PIL import Image

from edulib import data, functions
from edulib.widgets import gd_dashboard, huber_delta_dashboard, momentum_dashboard
from edulib.widgets.core import on_grid
from edulib.widgets.frames import export_frames, slider_values


@pytest.fixture(scope="module")
def huber():
    return huber_delta_dashboard(*data.regression_with_outliers(seed=0), delta=1.0)


def _pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_frames_are_the_dashboards_figure_at_each_value(huber, tmp_path):
    fs = export_frames(huber, {"delta": [0.05, 1.0, 30.0]}, tmp_path)
    # moved to the slider's grid (0.02 decades from 0.05), as the browser would
    grid = [on_grid(huber.controls["delta"], v) for v in (0.05, 1.0, 30.0)]
    assert grid[1] != 1.0 and [f.values["delta"] for f in fs.frames] == grid
    assert fs.sliders[0].labels == ("0.05", "1.00", "30.00") and fs.sliders[0].start == 1
    # shown at 80 dpi (10 x 3.8 inches: 800 x 304 CSS pixels), saved at twice the pixels
    assert (fs.width, fs.height, fs.scale) == (800, 304, 2.0)
    for f in fs.frames:
        with Image.open(tmp_path / f.file) as im:
            assert im.size == (1600, 608)
    pics = [_pixels(tmp_path / f.file) for f in fs.frames]
    assert not np.array_equal(pics[0], pics[1]) and not np.array_equal(pics[1], pics[2])
    # each readout is the dashboard's own for that value
    for f in fs.frames:
        huber.controls["delta"].value = f.values["delta"]
        assert f.readout == huber.readout.value
    json.dumps(fs.to_dict())
    assert fs.frame_at(2) is fs.frames[2]


def test_the_controls_get_their_values_back(huber, tmp_path):
    huber.controls["delta"].value = 2.0
    before = huber.state["slope"]
    export_frames(huber, {"delta": 3}, tmp_path)
    assert huber.controls["delta"].value == pytest.approx(2.0)
    assert huber.state["slope"] == pytest.approx(before, rel=1e-8)  # the fit is warm-started


def test_a_blitting_dashboard_frame_holds_its_moving_artists(tmp_path):
    # gd_dashboard draws the path as "animated" artists over a cached background; a frame must
    # show them: the left panel (contours + path) differs between two learning rates
    dash = gd_dashboard(functions.Quadratic(0.1, 2.0), lr=0.1, steps=50)
    moving = [a for a in dash.fig.findobj() if a.get_animated()]
    assert moving
    fs = export_frames(dash, {"lr": [0.01, 0.5]}, tmp_path, scale=1.0, colors=None)
    a, b = (_pixels(tmp_path / f.file) for f in fs.frames)
    left = slice(0, a.shape[1] // 2)
    assert not np.array_equal(a[:, left], b[:, left])
    assert [a for a in dash.fig.findobj() if a.get_animated()] == moving  # still blitting


def test_a_grid_of_two_sliders_in_order(tmp_path):
    dash = momentum_dashboard()
    fs = export_frames(dash, {"momentum": [0.0, 0.9], "nesterov": [False, True]}, tmp_path)
    assert [f.index for f in fs.frames] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert fs.frame_at(1, 0).values == {"momentum": 0.9, "nesterov": False}
    assert fs.sliders[1].labels == ("heavy ball", "Nesterov")
    assert "Nesterov" in fs.frame_at(1, 1).readout and "Nesterov" not in fs.frame_at(1, 0).readout


def test_slider_values_on_the_controls_own_grid():
    log = widgets.FloatLogSlider(value=0.1, base=10, min=-4, max=0, step=0.01)
    assert slider_values(log, 5) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    lin = widgets.FloatSlider(value=0, min=0, max=5, step=0.1)
    assert slider_values(lin, 11) == pytest.approx(np.arange(11) * 0.5)
    ints = widgets.IntSlider(value=0, min=0, max=10)
    assert slider_values(ints, 3) == [0, 5, 10]
    sel = widgets.SelectionSlider(options=[("a", 1), ("b", 2), ("c", 3)], value=1)
    assert slider_values(sel, 3) == [1, 2, 3] and slider_values(sel, 2) == [1, 3]
    with pytest.raises(ValueError, match="at most the number of positions"):
        slider_values(widgets.IntSlider(min=0, max=3), 5)
    with pytest.raises(TypeError, match="must be a slider"):
        slider_values(widgets.Text(), 3)
    with pytest.raises(TypeError, match="n must be an int"):
        slider_values(log, 2.0)


def test_bad_grids_are_refused(huber, tmp_path):
    with pytest.raises(ValueError, match="not controls of the dashboard"):
        export_frames(huber, {"gamma": 3}, tmp_path)
    with pytest.raises(TypeError, match="non-empty dict"):
        export_frames(huber, {}, tmp_path)
    with pytest.raises(ValueError, match=r"grid\['delta'\] must be in"):
        export_frames(huber, {"delta": [0.01]}, tmp_path)  # below the slider's 0.05
    with pytest.raises(ValueError, match="same position"):
        export_frames(huber, {"delta": [1.0, 1.001]}, tmp_path)
    with pytest.raises(TypeError, match="count or a non-empty list"):
        export_frames(huber, {"delta": "1.0"}, tmp_path)
    with pytest.raises(TypeError, match="edulib dashboard"):
        export_frames(object(), {"delta": 3}, tmp_path)
    with pytest.raises(ValueError, match="scale must be in"):
        export_frames(huber, {"delta": 2}, tmp_path, scale=10)
    with pytest.raises(ValueError, match="colors must be an int in"):
        export_frames(huber, {"delta": 2}, tmp_path, colors=1)


def test_a_control_the_dashboard_moves_itself_is_refused(tmp_path):
    # momentum_dashboard resets eta when the surface changes: eta cannot be varied with it
    dash = momentum_dashboard()
    with pytest.raises(ValueError, match="did not keep lr"):
        export_frames(dash, {"lr": [0.05], "surface": ["quadratic", "rosenbrock"]}, tmp_path)
