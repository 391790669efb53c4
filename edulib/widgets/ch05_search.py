r"""Chapter 05, notebook 1: how should a budget of training runs be spent on hyperparameters?

:func:`search_dashboard` shows a search over a tabulated validation-loss surface
(:class:`edulib.search.GridSurface`, two real hyperparameters such as
:math:`(\log\eta, \log\lambda)`): a slider for the budget (number of trials) and a dropdown for the
method (grid, random, Sobol, Bayesian optimisation). The left panel draws the surface as a filled
contour with the trials as points and the best one marked; the right panel the regret
(best value found minus the surface's minimum) against the budget for every method, the chosen
one highlighted.

Everything is computed once, when the dashboard is built: random, Sobol and Bayesian runs are
prefix-stable (the first ``k`` trials of a run with the largest budget are the run with budget
``k``, see :mod:`edulib.search`), so one run per method serves every budget; a grid is the largest
grid of at most ``k`` points, one per grid size. Moving the slider only picks the first ``k``
trials and moves artists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import LogNorm

from .. import _checks as chk
from .. import search as _search
from .core import WIDE, _FastDashboard, _new_figure

__all__ = ["METHOD_COLORS", "METHOD_LABELS", "grid_side", "search_dashboard", "surface_axes"]

#: one colour per search method, shared by the dashboard and the notebook's figures
METHOD_COLORS = {"grid": "#1f77b4", "random": "#ff7f0e", "sobol": "#2ca02c", "bayes": "#d62728"}
#: how a method is named in legends and readouts
METHOD_LABELS = {"grid": "grid", "random": "random", "sobol": "Sobol (quasi-random)",
                 "bayes": "Bayesian (GP + EI)"}
_SYMBOL = {"lr": "η", "weight_decay": "λ"}


def surface_axes(surface: Any) -> list[list[float]]:
    """The values each dimension of a :class:`~edulib.search.GridSurface` was tabulated at
    (``grid_values`` of the dimension for the table's size along it, as in
    :func:`edulib.search.grid`)."""
    if not isinstance(surface, _search.GridSurface):
        raise TypeError(f"surface must be an edulib.search.GridSurface, received "
                        f"{type(surface).__name__}")
    return [d.grid_values(n) for d, n in zip(surface.space, surface.values.shape, strict=True)]


def grid_side(budget: int, n_dims: int) -> int:
    """The largest ``n`` with ``n ** n_dims <= budget``: values per dimension of the largest
    grid a budget buys (:func:`edulib.search.search` with ``method="grid"``, all dimensions
    real)."""
    budget = chk.check_int(budget, "budget", low=1)
    n_dims = chk.check_int(n_dims, "n_dims", low=1)
    n = max(1, round(budget ** (1.0 / n_dims)))
    while n ** n_dims > budget:
        n -= 1
    while (n + 1) ** n_dims <= budget:
        n += 1
    return n


def _check_surface(surface: Any) -> tuple[Any, ...]:
    if not isinstance(surface, _search.GridSurface):
        raise TypeError(f"surface must be an edulib.search.GridSurface (a tabulated validation "
                        f"loss), received {type(surface).__name__}")
    space = surface.space
    if len(space) != 2 or not all(isinstance(d, _search.Real) for d in space):
        raise ValueError(f"surface must have two Real dimensions (the plane drawn), received "
                         f"{[type(d).__name__ + ' ' + d.name for d in space]}")
    return space


def _runs(surface: Any, space: Any, methods: Sequence[str], max_budget: int,
          seed: int) -> dict[str, list[Any]]:
    """For each method, the :class:`~edulib.search.Trials` of every budget 1..max_budget
    (index ``k - 1``)."""
    out: dict[str, list[Any]] = {}
    for m in methods:
        if m == "grid":
            by_side: dict[int, Any] = {}
            runs = []
            for k in range(1, max_budget + 1):
                n = grid_side(k, len(space))
                if n not in by_side:
                    by_side[n] = _search.search(surface, space, n ** len(space), "grid")
                runs.append(by_side[n])
        else:
            full = _search.search(surface, space, max_budget, m, seed=seed)
            runs = [full[:k] for k in range(1, max_budget + 1)]
        out[m] = runs
    return out


def _fmt_param(name: str, value: float) -> str:
    return f"{_SYMBOL.get(name, name)} = {value:.3g}"


def search_dashboard(surface: Any, *, method: str = "random", budget: int = 16,
                     max_budget: int = 64, seed: int = 0,
                     methods: Sequence[str] = _search.METHODS) -> Any:
    r"""Grid, random, Sobol and Bayesian search over a tabulated surface: a budget slider and a
    method dropdown.

    ``surface``: an :class:`edulib.search.GridSurface` over two :class:`~edulib.search.Real`
    dimensions (e.g. ``lr`` and ``weight_decay``, both ``log=True``: drawn on log axes).
    ``methods``: those offered (among :data:`edulib.search.METHODS`), ``method`` the first one
    shown, ``budget`` the first budget (``1 .. max_budget``), ``seed`` the search seed of the
    random, Sobol and Bayesian runs (computed once, at ``max_budget``). The surface's minimum is
    the smallest tabulated value (linear interpolation takes its extremes at the table's nodes).

    ``state``: ``method``, ``budget``, ``n_trials`` (a grid may use fewer than ``budget``),
    ``trials`` (the :class:`~edulib.search.Trials` shown), ``best`` (its best trial), ``f_min``,
    ``regret`` (best value minus ``f_min``) and ``regrets`` (method -> regret after each budget
    1..max_budget). ``dash.runs[method][k - 1]`` holds the trials of budget ``k``.
    """
    space = _check_surface(surface)
    max_budget = chk.check_int(max_budget, "max_budget", low=2, high=256)
    budget = chk.check_int(budget, "budget", low=1, high=max_budget)
    seed = chk.check_int(seed, "seed", low=0)
    if isinstance(methods, str) or not isinstance(methods, Sequence) or not methods:
        raise TypeError(f"methods must be a non-empty list of names among "
                        f"{list(_search.METHODS)}, received {methods!r}")
    methods = list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in _search.METHODS]
    if unknown:
        raise ValueError(f"methods must be names among {list(_search.METHODS)}, received "
                         f"{unknown}")
    if method not in methods:
        raise ValueError(f"method must be one of {methods}, received {method!r}")

    runs = _runs(surface, space, methods, max_budget, seed)
    f_min = float(np.min(surface.values))
    regrets = {m: np.array([r.best().value - f_min for r in runs[m]]) for m in methods}
    positive = np.concatenate([r[r > 0] for r in regrets.values()])
    floor = 10.0 ** math.floor(math.log10(positive.min())) if positive.size else 1e-6
    top = 10.0 ** math.ceil(math.log10(max(float(np.max(surface.values)) - f_min, 10 * floor)))

    def shown(r: np.ndarray) -> np.ndarray:  # an exact hit (regret 0) sits on the axis' floor
        return np.maximum(r, floor)

    (x_name, x_dim), (y_name, y_dim) = ((d.name, d) for d in space)
    xs, ys = surface_axes(surface)
    fig, (ax_s, ax_r) = _new_figure((10.0, 4.2), 2)
    fig.set_dpi(80)
    vals = np.asarray(surface.values, dtype=float)
    lo, hi = float(vals.min()), float(vals.max())
    art: dict[str, Any] = {}
    if lo > 0:
        levels = np.geomspace(lo, hi, 16)
        art["contour"] = ax_s.contourf(xs, ys, vals.T, levels=levels, cmap="viridis",
                                       norm=LogNorm(lo, hi))
    else:
        art["contour"] = ax_s.contourf(xs, ys, vals.T, levels=15, cmap="viridis")
    art["colorbar"] = fig.colorbar(art["contour"], ax=ax_s, label="validation loss", format="%.2g")
    i_min = np.unravel_index(int(np.argmin(vals)), vals.shape)
    (art["minimum"],) = ax_s.plot([xs[i_min[0]]], [ys[i_min[1]]], "P", ms=11, color="white",
                                  mec="black", mew=1.0, label="surface minimum", zorder=4,
                                  clip_on=False)
    art["trials"] = ax_s.scatter([], [], s=26, c="white", edgecolors="black", linewidths=0.8,
                                 zorder=5, label="trials", clip_on=False)
    (art["best"],) = ax_s.plot([], [], "*", ms=15, color="#d62728", mec="black", mew=0.8,
                               zorder=6, label="best trial", clip_on=False)
    if x_dim.log:
        ax_s.set_xscale("log")
    if y_dim.log:
        ax_s.set_yscale("log")
    ax_s.set_xlim(x_dim.low, x_dim.high)
    ax_s.set_ylim(y_dim.low, y_dim.high)
    ax_s.set_xlabel(f"{x_name} {_SYMBOL.get(x_name, '')}".strip())
    ax_s.set_ylabel(f"{y_name} {_SYMBOL.get(y_name, '')}".strip())
    ax_s.legend(loc="upper left", fontsize=9, framealpha=0.85)
    art["title"] = ax_s.set_title(" ")

    budgets = np.arange(1, max_budget + 1)
    art["curves"] = {}
    for m in methods:
        (art["curves"][m],) = ax_r.plot(budgets, shown(regrets[m]), "-", lw=1.0, alpha=0.55,
                                        color=METHOD_COLORS[m], label=METHOD_LABELS[m])
    (art["current"],) = ax_r.plot([], [], "-", lw=2.6, color=METHOD_COLORS[method])
    art["budget_line"] = ax_r.axvline(budget, color="0.3", lw=1.0, ls="--")
    (art["point"],) = ax_r.plot([], [], "o", ms=8, color=METHOD_COLORS[method], mec="black",
                                clip_on=False)
    ax_r.set_xscale("log")
    ax_r.set_yscale("log")
    ax_r.set_xlim(1, max_budget)
    ticks = [t for t in (1, 2, 4, 8, 16, 32, 64, 128, 256) if t <= max_budget]
    ax_r.set_xticks(ticks, [str(t) for t in ticks])
    ax_r.minorticks_off()
    ax_r.set_ylim(floor / 1.5, top * 1.5)
    ax_r.set_xlabel("budget (trials)")
    ax_r.set_ylabel("best found − surface minimum")
    ax_r.grid(True, which="major", alpha=0.3)
    ax_r.legend(loc="lower left", fontsize=9, frameon=False)
    ax_r.set_title(f"regret (seed {seed}; 0 drawn at {floor:.0e})", fontsize=10)

    controls = {
        "budget": widgets.IntSlider(value=budget, min=1, max=max_budget, step=1,
                                    description="budget (trials)", continuous_update=True,
                                    style=WIDE, layout=widgets.Layout(width="400px")),
        "method": widgets.Dropdown(options=[(METHOD_LABELS[m], m) for m in methods],
                                   value=method, description="method", style=WIDE),
    }
    state: dict[str, Any] = {"f_min": f_min, "regrets": regrets, "seed": seed}
    hold = {"on": False, "full": True}
    n_init = max(5, 2 * len(space))

    def update() -> None:
        m, k = str(controls["method"].value), int(controls["budget"].value)
        trials = runs[m][k - 1]
        best = trials.best()
        pts = np.array([[t.params[x_name], t.params[y_name]] for t in trials], dtype=float)
        art["trials"].set_offsets(pts)
        art["best"].set_data([best.params[x_name]], [best.params[y_name]])
        color = METHOD_COLORS[m]
        art["current"].set_data(budgets[:k], shown(regrets[m][:k]))
        art["current"].set_color(color)
        art["budget_line"].set_xdata([k, k])
        art["point"].set_data([k], [shown(regrets[m][k - 1:k])[0]])
        art["point"].set_color(color)
        art["point"].set_markeredgecolor("black")
        used = len(trials)
        art["title"].set_text(f"{METHOD_LABELS[m]}: {used} trials")
        regret = best.value - f_min
        state.update(method=m, budget=k, n_trials=used, trials=trials, best=best, regret=regret)
        note = ""
        if m == "grid":
            n = grid_side(k, len(space))
            note = f" (a {n} × {n} grid: {used} of the {k} trials used)"
        elif m == "bayes" and k <= n_init:
            note = f" (the first {n_init} trials are Sobol points: no model yet)"
        state["_readout"] = (
            f"<b>{METHOD_LABELS[m]}</b>, budget {k}{note}<br>"
            f"best trial: {_fmt_param(x_name, best.params[x_name])}, "
            f"{_fmt_param(y_name, best.params[y_name])}: validation loss {best.value:.4f} "
            f"(surface minimum {f_min:.4f}, regret {regret:.4f})")

    moving = [art["trials"], art["best"], art["title"], art["current"], art["budget_line"],
              art["point"]]
    dash = _FastDashboard(fig, art, controls, update, state, hold=hold, moving=moving)
    dash.runs = runs
    dash.surface = surface
    return dash
