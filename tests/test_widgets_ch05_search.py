"""Chapter 05's search dashboard (edulib.widgets.ch05_search), driven headlessly by setting
control values (observers fire synchronously): the drawn trials are those of
edulib.search.search for the method and budget shown, the best one is marked, the regret curves
are the searches' best-so-far, bad arguments are refused by name, and a redraw is fast."""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from edulib import search as S
from edulib.widgets.ch05_search import METHOD_COLORS, grid_side, search_dashboard, surface_axes

SPACE = [S.Real("lr", 1e-4, 1.0, log=True), S.Real("weight_decay", 1e-6, 1e-3, log=True)]
SHAPE = {"lr": 9, "weight_decay": 5}
MAX = 16


def _table() -> np.ndarray:
    """A bowl in log10 lr (minimum 0.2 at lr = 10^-1.5, a grid node) that barely depends on
    the weight decay, plus a ripple, tabulated in grid order (the last dimension fastest)."""
    configs = S.grid(SPACE, SHAPE)
    lr = np.log10([c["lr"] for c in configs])
    wd = np.log10([c["weight_decay"] for c in configs])
    return 0.2 + 0.3 * (lr + 1.5) ** 2 + 0.01 * (wd + 6) + 0.02 * np.sin(3 * lr) ** 2


SURFACE = S.GridSurface(SPACE, SHAPE, _table())


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def dash():
    with threadpool_limits(1):
        return search_dashboard(SURFACE, max_budget=MAX, seed=3)


def _points(d) -> np.ndarray:
    return np.asarray(d.artists["trials"].get_offsets(), dtype=float)


def _params(trials) -> np.ndarray:
    return np.array([[t.params["lr"], t.params["weight_decay"]] for t in trials])


# --------------------------------------------------------------------------- helpers
def test_surface_axes_are_the_tabulated_grid():
    xs, ys = surface_axes(SURFACE)
    assert len(xs) == 9 and len(ys) == 5
    grid = S.grid(SPACE, SHAPE)
    assert [c["lr"] for c in grid[::5]] == xs and [c["weight_decay"] for c in grid[:5]] == ys
    with pytest.raises(TypeError, match="GridSurface"):
        surface_axes(lambda p, s: 0.0)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
def test_grid_side_matches_the_library_grid(n_dims):
    space = [S.Real(f"x{i}", 0.0, 1.0) for i in range(n_dims)]
    for budget in range(1, 130):
        n = grid_side(budget, n_dims)
        assert n ** n_dims <= budget < (n + 1) ** n_dims
        assert len(S.search(lambda p, s: 0.0, space, budget, "grid")) == n ** n_dims
    with pytest.raises(ValueError, match=r"budget must be an int in \[1, inf\], received 0"):
        grid_side(0, 2)
    with pytest.raises(TypeError, match="n_dims must be an int"):
        grid_side(4, 2.0)


# --------------------------------------------------------------------------- the dashboard
@pytest.mark.parametrize("method", ["random", "sobol", "bayes"])
@pytest.mark.parametrize("budget", [1, 5, 6, 11, 16])
def test_drawn_trials_are_the_search_of_that_budget(dash, method, budget):
    dash.controls["method"].value = method
    dash.controls["budget"].value = budget
    ref = S.search(SURFACE, SPACE, budget, method, seed=3)
    np.testing.assert_array_equal(_points(dash), _params(ref))
    best = ref.best()
    np.testing.assert_array_equal(np.ravel(dash.artists["best"].get_data()),
                                  [best.params["lr"], best.params["weight_decay"]])
    st = dash.state
    assert st["method"] == method and st["budget"] == budget == st["n_trials"]
    assert st["best"].value == best.value
    assert st["regret"] == pytest.approx(best.value - SURFACE.values.min(), abs=1e-15)
    assert f"validation loss {best.value:.4f}" in dash.readout.value


@pytest.mark.parametrize(("budget", "side"), [(1, 1), (3, 1), (4, 2), (8, 2), (9, 3), (16, 4)])
def test_grid_uses_the_largest_grid_the_budget_buys(dash, budget, side):
    dash.controls["method"].value = "grid"
    dash.controls["budget"].value = budget
    ref = S.search(SURFACE, SPACE, budget, "grid")
    assert len(ref) == side ** 2 == dash.state["n_trials"]
    np.testing.assert_array_equal(_points(dash), _params(ref))
    if side ** 2 < budget:
        assert f"a {side} × {side} grid: {side ** 2} of the {budget} trials used" in \
            dash.readout.value


def test_regret_curves_are_best_so_far_and_the_current_one_is_highlighted(dash):
    f_min = SURFACE.values.min()
    for m in ("random", "sobol", "bayes"):
        full = S.search(SURFACE, SPACE, MAX, m, seed=3)
        np.testing.assert_allclose(dash.state["regrets"][m], full.best_so_far() - f_min,
                                   rtol=0, atol=1e-15)
    grid = [S.search(SURFACE, SPACE, k, "grid").best().value - f_min for k in range(1, MAX + 1)]
    np.testing.assert_allclose(dash.state["regrets"]["grid"], grid, rtol=0, atol=1e-15)
    dash.controls["method"].value = "sobol"
    dash.controls["budget"].value = 7
    x, y = dash.artists["current"].get_data()
    np.testing.assert_array_equal(x, np.arange(1, 8))
    r = dash.state["regrets"]["sobol"][:7]
    np.testing.assert_allclose(y, np.maximum(r, y.min()))  # zeros sit on the axis' floor
    assert dash.artists["current"].get_color() == METHOD_COLORS["sobol"]
    assert list(dash.artists["budget_line"].get_xdata()) == [7, 7]
    dash.controls["method"].value = "bayes"
    assert dash.artists["current"].get_color() == METHOD_COLORS["bayes"]
    assert "Sobol points" not in dash.readout.value
    dash.controls["budget"].value = 5
    assert "the first 5 trials are Sobol points" in dash.readout.value


def test_bayes_beats_its_own_sobol_start_here(dash):
    """On a smooth bowl the GP's proposals improve on the 5 Sobol points it started from."""
    r = dash.state["regrets"]["bayes"]
    assert r[-1] < r[4] and r[-1] <= dash.state["regrets"]["random"][-1]


def test_the_surface_is_drawn_once_with_its_minimum(dash):
    contour = dash.artists["contour"]
    dash.controls["budget"].value = 2
    dash.controls["method"].value = "random"
    assert dash.artists["contour"] is contour  # moved artists, never re-plotted
    i = np.unravel_index(np.argmin(SURFACE.values), SURFACE.values.shape)
    xs, ys = surface_axes(SURFACE)
    np.testing.assert_array_equal(np.ravel(dash.artists["minimum"].get_data()), [xs[i[0]], ys[i[1]]])
    assert dash.state["f_min"] == SURFACE.values.min()
    png = dash.image.value
    dash.controls["budget"].value = 15
    assert dash.image.value != png  # the picture changed


def test_bad_arguments_name_themselves():
    with pytest.raises(TypeError, match=r"surface must be an edulib.search.GridSurface.*function"):
        search_dashboard(lambda p, s: 0.0)
    one_d = S.GridSurface([S.Real("lr", 1e-3, 1.0, log=True)], 5, np.arange(5.0))
    with pytest.raises(ValueError, match=r"surface must have two Real dimensions"):
        search_dashboard(one_d)
    with pytest.raises(ValueError, match=r"method must be one of \['grid', 'random', 'sobol', "
                                         r"'bayes'\], received 'adam'"):
        search_dashboard(SURFACE, method="adam")
    with pytest.raises(ValueError, match=r"method must be one of \['random'\], received 'grid'"):
        search_dashboard(SURFACE, method="grid", methods=["random"])
    with pytest.raises(ValueError, match=r"methods must be names among .*'hyperband'"):
        search_dashboard(SURFACE, methods=["random", "hyperband"])
    with pytest.raises(TypeError, match=r"methods must be a non-empty list"):
        search_dashboard(SURFACE, methods="random")
    with pytest.raises(ValueError, match=r"budget must be an int in \[1, 8\], received 9"):
        search_dashboard(SURFACE, budget=9, max_budget=8)
    with pytest.raises(TypeError, match=r"budget must be an int, received float 4.0"):
        search_dashboard(SURFACE, budget=4.0)
    with pytest.raises(ValueError, match=r"max_budget must be an int in \[2, 256\], received 1000"):
        search_dashboard(SURFACE, max_budget=1000)
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, inf\], received -1"):
        search_dashboard(SURFACE, seed=-1)


def test_a_subset_of_methods_and_frames_export(tmp_path):
    from edulib.widgets.frames import export_frames

    d = search_dashboard(SURFACE, methods=["grid", "random"], method="random", budget=4,
                         max_budget=8)
    assert set(d.runs) == {"grid", "random"}
    assert [v for _, v in d.controls["method"].options] == ["grid", "random"]
    frames = export_frames(d, {"budget": [2, 8], "method": ["grid", "random"]}, tmp_path)
    assert len(frames.frames) == 4 and all((tmp_path / f.file).is_file() for f in frames.frames)
    assert len({f.readout for f in frames.frames}) == 4
    assert d.controls["budget"].value == 4 and d.controls["method"].value == "random"


def test_redraw_is_fast(dash):
    """About 25 ms a frame on an idle core (benchmarks/widget_redraw.py); 300 ms here, for a
    busy shared machine."""
    moves = [("budget", b) for b in (2, 9, 16, 5)] + [("method", m) for m in
                                                      ("grid", "sobol", "bayes", "random")]
    for name, v in moves[:3]:
        dash.controls[name].value = v
    times = []
    for name, v in moves * 2:
        t0 = time.perf_counter()
        dash.controls[name].value = v
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.3
