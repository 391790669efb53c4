r"""The dashboard core shared by every chapter: :class:`Dashboard` (a VBox of controls, a
readout and a figure that is updated in place), :class:`_FastDashboard` (blitting, for redraws
that must be fast), the figure helpers (:func:`png_bytes`, :func:`log_axis`, a PNG shown at its
own pixel size), the slider helpers (:data:`WIDE` descriptions, :func:`on_grid`), the optimizer
choice (:data:`OPTIMIZER_SLIDERS`, :class:`OptimizerChoice`) and the 2-D surface controls.

Callbacks never re-plot: they move existing artists (``set_ydata``, ``set_offsets``,
``set_height``) and then redraw the canvas: with the ipympl backend (``%matplotlib widget``)
the canvas is itself a widget and redraws in place; otherwise the same figure is rendered to
PNG bytes shown by an ``ipywidgets.Image`` (no display messages, so it also runs headless and
under nbval).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, LogLocator

from .. import optim as _optim

__all__ = ["OPTIMIZER_SLIDERS", "WIDE", "Dashboard", "Hyper", "OptimizerChoice", "check_start",
           "distance_to_minimum", "log_axis", "on_grid", "plottable", "png_bytes",
           "surface_choice", "surface_controls"]

#: widget style: the whole description is shown (ipywidgets cuts it at ~80 px otherwise)
WIDE = {"description_width": "initial"}
SLIDER_LAYOUT = {"width": "400px"}


def _ipympl_active() -> bool:
    return "ipympl" in matplotlib.get_backend().lower() or "widget" in \
        matplotlib.get_backend().lower()


def _new_figure(figsize: tuple[float, float], ncols: int) -> tuple[Figure, Any]:
    """A figure that is not shown automatically at the end of the cell (the dashboard shows it)."""
    if _ipympl_active():
        with plt.ioff():
            fig = plt.figure(figsize=figsize, layout="constrained")
    else:
        fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols)
    return fig, axes


def _show_at_pixel_size(image: Any, width: int, height: int) -> None:
    """Show a PNG at its own pixel size: a VBox stretches its children to the output's width,
    which would scale the picture and make it soft. ``max-width`` keeps it inside a narrow
    output (then scaled down, never up)."""
    w = f"{int(width)}px"
    if image.layout.width != w:
        image.layout.width = w
        image.layout.height = "auto"
        image.layout.max_width = "100%"
        image.layout.object_fit = "contain"
        image.layout.align_self = "flex-start"


def _log_slider(value: float, lo: float, hi: float, description: str, *, step: float = 0.01,
                readout_format: str = ".3g", continuous_update: bool = True) -> Any:
    """A FloatLogSlider over ``[lo, hi]`` (base 10) with the whole description shown."""
    return widgets.FloatLogSlider(value=float(value), base=10.0, min=math.log10(lo),
                                  max=math.log10(hi), step=step, description=description,
                                  readout_format=readout_format, continuous_update=continuous_update,
                                  style=WIDE, layout=widgets.Layout(**SLIDER_LAYOUT))


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + tag + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))


def png_bytes(rgba: np.ndarray, level: int = 1) -> bytes:
    """An RGB PNG of an (h, w, 4) uint8 frame (alpha dropped: figures are opaque), written
    directly: no per-row filter search and fast zlib, about twice as fast as Pillow's
    ``compress_level=1`` for a dashboard frame, a few per cent larger."""
    h, w = rgba.shape[:2]
    raw = np.empty((h, 1 + 3 * w), dtype=np.uint8)
    raw[:, 0] = 0  # filter type "none" for every row
    raw[:, 1:] = rgba[..., :3].reshape(h, 3 * w)
    return (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), level)) + _png_chunk(b"IEND", b""))


class _PlainLogLabels(LogFormatter):
    """LogFormatter's choice of which ticks get a label, written plainly: 0.2, 1, 50, 1e-08."""

    def __call__(self, x: float, pos: Any = None) -> str:
        return f"{x:g}" if super().__call__(x, pos) else ""


def log_axis(ax: Any) -> None:
    """A log y axis that always shows a few labelled ticks: major ticks at powers of ten and,
    when the axis spans under about two decades (where the powers of ten alone would leave one
    label or none), labelled minor ticks at 2 and 5 times them. (Minor ticks at every integer
    multiple would cost several milliseconds of text layout per redraw.)"""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10.0, numticks=7))
    ax.yaxis.set_minor_locator(LogLocator(base=10.0, subs=(2.0, 5.0), numticks=7))
    ax.yaxis.set_major_formatter(_PlainLogLabels())
    ax.yaxis.set_minor_formatter(_PlainLogLabels(labelOnlyBase=False, minor_thresholds=(2.0, 2.0)))


class Dashboard(widgets.VBox):
    """A VBox of controls and a figure, with handles for tests and notebooks.

    Attributes: ``fig``, ``artists`` (name -> artist), ``controls`` (name -> widget),
    ``state`` (name -> number currently shown), ``readout`` (an HTML widget with the numbers).
    ``panel`` (optional) lists the widgets shown above the readout, when they are not just
    ``controls.values()`` (rows, an :class:`OptimizerChoice`'s box ...). Controls added later
    (an optimizer's sliders after a swap) are connected with :meth:`watch`.
    """

    def __init__(self, fig: Figure, artists: dict[str, Any], controls: dict[str, Any],
                 update: Callable[[], None], state: dict[str, Any],
                 panel: list[Any] | None = None) -> None:
        self.fig = fig
        self.artists = artists
        self.controls = controls
        self.state = state
        self.readout = widgets.HTML(layout=widgets.Layout(min_height="2.6em"))
        self._update = update
        self._agg: Any = None
        self._watched: set[int] = set()
        if _ipympl_active() and isinstance(fig.canvas, widgets.DOMWidget):
            self.image = None
            view: Any = fig.canvas
        else:
            self.image = widgets.Image(format="png")
            view = self.image
        shown = list(controls.values()) if panel is None else list(panel)
        super().__init__(children=[*shown, self.readout, view])
        for c in controls.values():
            self.watch(c)
        self.refresh()

    def watch(self, control: Any) -> None:
        """Refresh the dashboard whenever ``control.value`` changes (once per control)."""
        if id(control) not in self._watched:
            self._watched.add(id(control))
            control.observe(lambda _change: self.refresh(), names="value")

    def refresh(self) -> None:
        """Recompute from the controls' values, move the artists, redraw."""
        self._update()
        self.readout.value = self.state.get("_readout", "")
        self._redraw()

    def _redraw(self) -> None:
        if self.image is None:  # ipympl: the canvas is a widget and redraws itself
            self.fig.canvas.draw_idle()
            return
        # inline backends: render the same figure (artists moved, nothing re-plotted) to PNG
        # bytes; an Image widget updates in place, without display messages or flicker. One
        # Agg canvas is kept for the figure (savefig would set a new one up on every call).
        if self._agg is None:
            self.fig.set_dpi(80)
            self._agg = FigureCanvasAgg(self.fig)
        self._agg.draw()
        self.image.value = png_bytes(np.asarray(self._agg.buffer_rgba()))
        _show_at_pixel_size(self.image, *self._agg.get_width_height())


class _FastDashboard(Dashboard):
    """A :class:`Dashboard` for redraws that must be fast (< 100 ms on one core).

    * Refreshes are skipped while ``hold["on"]`` is True (several controls change at once,
      e.g. the start sliders when the surface changes): one redraw, not three.
    * The constrained layout is solved, and the static part of the figure rendered, only when
      ``hold["full"]`` is set (a new surface); in between, a frame restores that cached
      background and draws just the ``moving`` artists over it (blitting). Solving the layout
      and drawing every tick on each frame would cost several times more.
    * Without ipympl the frame is encoded by :func:`png_bytes` and shown by the ``Image``
      widget. With ipympl the canvas redraws itself (``draw_idle``).
    """

    def __init__(self, *args: Any, hold: dict[str, bool], moving: list[Any],
                 **kwargs: Any) -> None:
        self._hold = hold
        self._moving = moving
        self._background = None
        fig = args[0]
        self._layout = fig.get_layout_engine()
        fig.set_layout_engine("none")
        self._blit = not (_ipympl_active() and isinstance(fig.canvas, widgets.DOMWidget))
        if self._blit:
            FigureCanvasAgg(fig)
            for a in moving:
                a.set_animated(True)  # left out of the full draw, drawn per frame
        super().__init__(*args, **kwargs)

    def refresh(self) -> None:
        if not self._hold["on"]:
            super().refresh()

    def _redraw(self) -> None:
        fig = self.fig
        if self._hold.get("full", True) or self._background is None:
            if self._layout is not None:
                self._layout.execute(fig)
            if self._blit:
                fig.canvas.draw()
                self._background = fig.canvas.copy_from_bbox(fig.bbox)
            self._hold["full"] = False
        if not self._blit:
            fig.canvas.draw_idle()
            return
        fig.canvas.restore_region(self._background)
        for a in self._moving:
            fig.draw_artist(a)
        self.image.value = png_bytes(np.asarray(fig.canvas.buffer_rgba()))
        _show_at_pixel_size(self.image, *fig.canvas.get_width_height())


def on_grid(slider: Any, value: float) -> float:
    """``value`` rounded to a slider's own grid (``min + j * step``; in log10 for a
    FloatLogSlider) and clipped to its range. The browser snaps a value set from Python to that
    grid and sends it back, so a value set off the grid would silently change."""
    if isinstance(slider, widgets.FloatLogSlider):
        e = math.log10(float(value)) / math.log10(slider.base)
        e = min(max(slider.min + round((e - slider.min) / slider.step) * slider.step, slider.min),
                slider.max)
        return float(slider.base ** e)
    v = slider.min + round((float(value) - slider.min) / slider.step) * slider.step
    return float(min(max(v, slider.min), slider.max))


def _set_range(slider: Any, lo: float, hi: float, value: float) -> None:
    """Move a FloatSlider to ``[lo, hi]`` and ``value`` without ever having min > max."""
    slider.max = max(slider.max, hi)
    slider.min = min(slider.min, lo)
    slider.value = value
    slider.min, slider.max = lo, hi


# --------------------------------------------------------------------------- optimizer choice
@dataclass(frozen=True)
class Hyper:
    """One hyperparameter slider of an optimizer.

    ``name``: the control's name (``dash.controls[name]``); ``kwarg``: the optimizer's keyword
    (default ``name``), with ``index`` when the slider sets one entry of a pair (Adam's
    ``betas = (β1, β2)``); ``default``: PyTorch's default; ``low``, ``high``, ``step``: the
    slider's range (``options``: a two-way toggle of ``(label, value)`` pairs instead).
    """

    name: str
    label: str
    default: Any
    low: float = 0.0
    high: float = 1.0
    step: float = 0.01
    kwarg: str | None = None
    index: int | None = None
    options: tuple[tuple[str, Any], ...] | None = None
    readout_format: str = ".2f"

    def widget(self, value: Any = None) -> Any:
        v = self.default if value is None else value
        if self.options is not None:
            return widgets.ToggleButtons(options=list(self.options), value=v, description=self.label,
                                         style={**WIDE, "button_width": "auto"})
        return widgets.FloatSlider(value=float(v), min=self.low, max=self.high, step=self.step,
                                   description=self.label, readout_format=self.readout_format,
                                   continuous_update=True, style=WIDE,
                                   layout=widgets.Layout(**SLIDER_LAYOUT))

    def check(self, value: Any) -> Any:
        """``value`` if the control can show it, else a ValueError naming the hyperparameter."""
        if self.options is not None:
            allowed = [v for _, v in self.options]
            if value not in allowed:
                raise ValueError(f"{self.name} must be one of {allowed}, received {value!r}")
            return value
        from .. import _checks as chk

        return chk.check_number(value, self.name, low=self.low, high=self.high)


_MU = Hyper("momentum", "momentum μ", 0.0, 0.0, 0.99)
_NESTEROV = Hyper("nesterov", "update", False, options=(("heavy ball", False), ("Nesterov", True)))
_BETA1 = Hyper("beta1", "β1", 0.9, 0.0, 0.99, kwarg="betas", index=0)
_BETA2 = Hyper("beta2", "β2", 0.999, 0.9, 0.9999, step=0.0001, kwarg="betas", index=1,
               readout_format=".4f")

#: The sliders each optimizer of :data:`edulib.optim.OPTIMIZERS` gets besides η (``lr``), at
#: PyTorch's defaults: the one place that says which knobs an optimizer has.
OPTIMIZER_SLIDERS: dict[str, tuple[Hyper, ...]] = {
    "SGD": (_MU, _NESTEROV),
    "Adagrad": (Hyper("lr_decay", "lr decay γ", 0.0, 0.0, 0.1, step=0.001, readout_format=".3f"),),
    "RMSprop": (Hyper("alpha", "smoothing α", 0.99, 0.5, 0.999, step=0.001,
                      readout_format=".3f"), _MU,
                Hyper("centered", "variant", False, options=(("plain", False),
                                                              ("centered", True)))),
    "Adam": (_BETA1, _BETA2),
    "AdamW": (_BETA1, _BETA2, Hyper("weight_decay", "weight decay λ", 0.01, 0.0, 0.5)),
    "NAdam": (_BETA1, _BETA2, Hyper("momentum_decay", "momentum decay ψ", 0.004, 0.0, 0.1,
                                    step=0.001, readout_format=".3f")),
    "Adadelta": (Hyper("rho", "decay ρ", 0.9, 0.5, 0.999, step=0.001,
                       readout_format=".3f"),),
}


class OptimizerChoice:
    r"""An optimizer dropdown, a log-scale η slider and the chosen optimizer's own sliders
    (from :data:`OPTIMIZER_SLIDERS`), as one panel ``box`` for a :class:`Dashboard`.

    The widgets live in the dict ``controls`` given (``"optimizer"``, ``"lr"`` and one entry
    per hyperparameter, e.g. ``"momentum"``, ``"nesterov"`` for SGD; ``"beta1"``, ``"beta2"``
    for Adam), which stays the dashboard's ``controls``. Choosing another optimizer removes the
    old sliders, adds the new one's at PyTorch's defaults (nothing carries over: a fresh
    optimizer) and calls ``on_new(widget)`` for each (the dashboard's ``watch``), *before* the
    dashboard redraws. η is kept. ``fixed`` holds hyperparameters that get no slider (name ->
    value, per optimizer); ``initial`` sets the first optimizer's sliders.
    :meth:`optimizer` and :meth:`kwargs` give what to call: ``optimizer()(params, **kwargs())``.
    """

    def __init__(self, controls: dict[str, Any], *, value: str = "SGD",
                 names: Any = None, lr: float = 0.1, lr_range: tuple[float, float] = (1e-4, 1.0),
                 lr_step: float = 0.01, lr_format: str = ".4f", continuous_update: bool = True,
                 initial: dict[str, Any] | None = None,
                 fixed: dict[str, dict[str, Any]] | None = None) -> None:
        registry = _optim.OPTIMIZERS
        names = [n for n in registry if n in OPTIMIZER_SLIDERS] if names is None else list(names)
        unknown = [n for n in names if n not in registry or n not in OPTIMIZER_SLIDERS]
        if unknown or not names:
            raise ValueError(f"optimizers must be names among {list(OPTIMIZER_SLIDERS)}, "
                             f"received {names!r}")
        if value not in names:
            raise ValueError(f"optimizer must be one of {names}, received {value!r}")
        lo, hi = (float(v) for v in lr_range)
        if not 0 < lo < hi:
            raise ValueError(f"lr_range must be (low, high) with 0 < low < high, "
                             f"received {lr_range!r}")
        if not lo <= float(lr) <= hi:
            raise ValueError(f"lr must lie in lr_range {lr_range!r}, received {lr!r}")
        self.fixed = {k: dict(v) for k, v in (fixed or {}).items()}
        initial = dict(initial or {})
        specs = {h.name: h for h in self._shown(value)}
        extra = sorted(set(initial) - set(specs))
        if extra:
            raise ValueError(f"initial sets {extra}, which {value} has no slider for "
                             f"(it has {sorted(specs)})")
        for k, v in initial.items():
            initial[k] = specs[k].check(v)
        self.controls = controls
        self.on_new: Callable[[Any], None] = lambda _w: None
        self.dropdown = widgets.Dropdown(options=names, value=value, description="optimizer",
                                         style=WIDE, layout=widgets.Layout(width="220px"))
        self.lr = _log_slider(lr, lo, hi, "learning rate η", step=lr_step,
                              readout_format=lr_format, continuous_update=continuous_update)
        self.row = widgets.HBox()
        controls["optimizer"] = self.dropdown
        controls["lr"] = self.lr
        self._hyper: dict[str, Any] = {}
        self._build(value, initial)
        first = [self.dropdown, self.lr] if len(names) > 1 else [self.lr]
        self.box = widgets.VBox([widgets.HBox(first), self.row])
        self.dropdown.observe(self._swap, names="value")

    def _shown(self, name: str) -> list[Hyper]:
        return [h for h in OPTIMIZER_SLIDERS[name] if h.name not in self.fixed.get(name, {})]

    def _build(self, name: str, values: dict[str, Any]) -> None:
        for key in self._hyper:
            self.controls.pop(key, None)
        self._hyper = {h.name: h.widget(values.get(h.name)) for h in self._shown(name)}
        self.controls.update(self._hyper)
        self.row.children = list(self._hyper.values())

    def _swap(self, change: dict[str, Any]) -> None:
        self._build(change["new"], {})
        for w in self._hyper.values():
            self.on_new(w)

    @property
    def name(self) -> str:
        return str(self.dropdown.value)

    def optimizer(self) -> Any:
        """The chosen optimizer's class, from :data:`edulib.optim.OPTIMIZERS`."""
        return _optim.OPTIMIZERS[self.name]

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments for the chosen optimizer: ``lr``, every slider (β1 and β2
        packed into ``betas``) and the fixed values. SGD's Nesterov toggle with μ = 0 is plain
        GD (``nesterov=False``: PyTorch refuses Nesterov without momentum)."""
        name = self.name
        values = {**self.fixed.get(name, {}), **{k: w.value for k, w in self._hyper.items()}}
        kw: dict[str, Any] = {"lr": float(self.lr.value)}
        pairs: dict[str, list[Any]] = {}
        for h in OPTIMIZER_SLIDERS[name]:
            if h.name not in values:
                continue
            v = values[h.name] if h.options is not None else float(values[h.name])
            if h.index is None:
                kw[h.kwarg or h.name] = v
            else:
                pairs.setdefault(h.kwarg or h.name, [None, None])[h.index] = v
        for k, pair in pairs.items():
            kw[k] = tuple(pair)
        if name == "SGD" and kw.get("nesterov") and not kw.get("momentum"):
            kw["nesterov"] = False
        return kw

    def describe(self) -> str:
        """The choice in words, e.g. ``SGD (η = 0.1, μ = 0.9, Nesterov)``."""
        kw = self.kwargs()
        parts = [f"η = {kw['lr']:.3g}"]
        for key, w in self._hyper.items():
            if not isinstance(w, widgets.ToggleButtons):
                parts.append(f"{w.description.split()[-1]} = {w.value:.4g}")
            elif kw.get(key):  # a variant that is on, e.g. "Nesterov" (not with μ = 0)
                parts.append(str(w.label))
        return f"{self.name} ({', '.join(parts)})"


# --------------------------------------------------------------------------- 2-D surfaces
def surface_choice(surface: Any) -> tuple[dict[str, Any], str]:
    """``(surfaces, first)``: :data:`edulib.functions.SURFACES` with ``surface`` (a name, a
    surface, or None for the quadratic) offered first, and its name."""
    from ..functions import SURFACES

    surfaces: dict[str, Any] = dict(SURFACES)
    if surface is None:
        surface = SURFACES["quadratic"]
    if isinstance(surface, str):
        if surface not in surfaces:
            raise ValueError(f"surface must be one of {sorted(surfaces)} or a Surface, "
                             f"received {surface!r}")
        return surfaces, surface
    if not (hasattr(surface, "value_and_grad") and hasattr(surface, "box")):
        raise TypeError("surface must be a name or an edulib.functions.Surface, "
                        f"received {type(surface).__name__}")
    first = next((k for k, s in surfaces.items() if s is surface), None)
    if first is None:
        first = f"{surface.name} (given)"
        surfaces = {first: surface, **surfaces}
    return surfaces, first


def check_start(surface: Any, x0: Any) -> tuple[float, float]:
    """The start point: ``surface.start`` when ``x0`` is None, else ``x0`` inside the box."""
    start = tuple(float(v) for v in (surface.start if x0 is None else x0))
    if len(start) != 2:
        raise ValueError(f"x0 must be a pair (x1, x2), received {x0!r}")
    if all(math.isfinite(v) for v in start) and not all(
        lo <= v <= hi for v, (lo, hi) in zip(start, surface.box, strict=True)
    ):
        raise ValueError(f"x0 must lie in the surface's box {surface.box} (the start sliders' "
                         f"range), received {x0!r}")
    return start[0], start[1]


def surface_controls(surfaces: dict[str, Any], first: str, start: tuple[float, float],
                     hold: dict[str, bool], *, steps: int | None = None,
                     max_steps: int = 300) -> dict[str, Any]:
    """``steps`` (when given), ``surface``, ``x1``, ``x2``: a new surface moves the start
    sliders to its box and start with one refresh (``hold["on"]`` while they move)."""
    (b1, b2) = surfaces[first].box
    controls: dict[str, Any] = {}
    if steps is not None:
        controls["steps"] = widgets.IntSlider(value=steps, min=0, max=max_steps, step=1,
                                              description="steps", continuous_update=True,
                                              style=WIDE)
    controls["surface"] = widgets.Dropdown(options=list(surfaces), value=first,
                                           description="surface", style=WIDE)
    for i, (lo, hi) in enumerate((b1, b2)):
        controls[f"x{i + 1}"] = widgets.FloatSlider(
            value=start[i], min=lo, max=hi, step=0.01, description=f"start x{'₁₂'[i]}",
            continuous_update=True, style=WIDE)

    def on_surface(change: dict[str, Any]) -> None:  # new box and start, one refresh after
        s = surfaces[change["new"]]
        hold["on"] = True
        try:
            _set_range(controls["x1"], *s.box[0], s.start[0])
            _set_range(controls["x2"], *s.box[1], s.start[1])
        finally:
            hold["on"] = False

    controls["surface"].observe(on_surface, names="value")  # before the Dashboard's observer
    return controls


def plottable(gap: Any, log: bool) -> np.ndarray:
    """``gap`` (e.g. :math:`f(x_k) - f_\\min`) drawn within ``[1e-30, 1e30]`` on a log axis,
    ``[-1e30, 1e30]`` otherwise; NaN/inf become gaps in the line: a blow-up stays plottable."""
    g = np.asarray(gap, dtype=np.float64)
    return np.clip(np.where(np.isfinite(g), g, np.nan), 1e-30 if log else -1e30, 1e30)


def distance_to_minimum(surface: Any, x: Any) -> float | None:
    """Distance from ``x`` to the nearest known minimum (None without one, inf if ``x`` is
    not finite)."""
    if not surface.minima:
        return None
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return float("inf")
    return float(min(np.hypot(*(x - np.asarray(m))) for m in surface.minima))
