r"""A dashboard's figure saved for a grid of slider values: frames that a page without a
Python kernel can swap when its own slider moves (the course's static website does this).

:func:`slider_values` picks values on a control's own grid (log-spaced for a log slider, every
option of a selection); :func:`export_frames` sets each combination through the dashboard's
public ``controls``, lets the dashboard redraw as it would in JupyterLab, and saves its figure
at the size it is shown at, ``scale`` times the pixels (sharp on high-density screens), with
the readout of that frame. Nothing is re-plotted by this module: every frame is the
dashboard's own figure.

.. code-block:: python

    dash = huber_delta_dashboard()
    frames = export_frames(dash, {"delta": 16}, "frames/huber")
    frames.frames[0].file, frames.frames[0].readout, frames.width   # "frame-0.png", "δ = 0.05: ...", 800
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
from PIL import Image

from .. import _checks as chk
from .core import on_grid

# Pillow's Image.Quantize.FASTOCTREE and Image.Dither.NONE (named so only since Pillow 9.1;
# matplotlib asks for less)
_FAST_OCTREE, _NO_DITHER = 2, 0

__all__ = ["Frame", "FrameSet", "FrameSlider", "export_frames", "slider_values"]


@dataclass(frozen=True)
class FrameSlider:
    """One control varied over the frames: its ``name`` in ``dash.controls``, its
    ``description`` (the slider's label), the ``values`` set, their ``labels`` as the
    dashboard's slider shows them, and ``start``: the index of the value nearest to the one the
    dashboard had (the frame a page shows first)."""

    name: str
    description: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    start: int


@dataclass(frozen=True)
class Frame:
    """One saved figure: its ``index`` (one position per slider), the ``values`` set
    (control name -> value), the PNG ``file`` (relative to the output folder) and the
    dashboard's ``readout`` (HTML) for these values."""

    index: tuple[int, ...]
    values: dict[str, Any]
    file: str
    readout: str


@dataclass(frozen=True)
class FrameSet:
    """What :func:`export_frames` saved: the ``sliders`` (in order, the last one varying
    fastest), the ``frames`` (one per combination, in that order), the figure's displayed size
    ``width`` x ``height`` in CSS pixels and ``scale`` (image pixels per CSS pixel)."""

    sliders: tuple[FrameSlider, ...]
    frames: tuple[Frame, ...]
    width: int
    height: int
    scale: float

    def frame_at(self, *index: int) -> Frame:
        """The frame at one position per slider."""
        if len(index) != len(self.sliders):
            raise ValueError(f"index must give one position per slider ({len(self.sliders)}), "
                             f"received {index!r}")
        flat = 0
        for i, s in zip(index, self.sliders, strict=True):
            flat = flat * len(s.values) + chk.check_int(i, "index", low=0, high=len(s.values) - 1)
        return self.frames[flat]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (numbers, strings, lists) for a page's script."""
        return {"width": self.width, "height": self.height, "scale": self.scale,
                "sliders": [{"name": s.name, "description": s.description,
                             "labels": list(s.labels), "values": [_plain(v) for v in s.values],
                             "start": s.start} for s in self.sliders],
                "frames": [{"file": f.file, "readout": f.readout} for f in self.frames]}


def _plain(v: Any) -> Any:
    return v if isinstance(v, (bool, str)) or v is None else float(v) if isinstance(
        v, (float, np.floating)) else int(v) if isinstance(v, (int, np.integer)) else str(v)


def _options(control: Any) -> list[tuple[str, Any]]:
    """A selection control's options as ``(label, value)`` pairs."""
    pairs = []
    for opt in control.options:
        if isinstance(opt, tuple) and len(opt) == 2:
            pairs.append((str(opt[0]), opt[1]))
        else:
            pairs.append((str(opt), opt))
    return pairs


def _is_log(control: Any) -> bool:
    return isinstance(control, widgets.FloatLogSlider)


def _is_numeric(control: Any) -> bool:
    return isinstance(control, (widgets.FloatSlider, widgets.FloatLogSlider, widgets.IntSlider))


def _range(control: Any) -> tuple[float, float]:
    if _is_log(control):
        return float(control.base ** control.min), float(control.base ** control.max)
    return float(control.min), float(control.max)


def _label(control: Any, value: Any) -> str:
    if not _is_numeric(control):
        return next(lab for lab, v in _options(control) if v == value)
    if isinstance(control, widgets.IntSlider):
        return str(int(value))
    return format(float(value), control.readout_format)


def slider_values(control: Any, n: int) -> list[Any]:
    """``n`` values a control can take, in its order: log-spaced over a log slider's range,
    evenly spaced over a linear one (each on the slider's own grid: :func:`on_grid`), evenly
    spaced positions of a selection (slider, dropdown, toggle). A ValueError when the control
    has fewer than ``n`` positions."""
    n = chk.check_int(n, "n", low=1)
    if _is_numeric(control):
        lo, hi = _range(control)
        grid = np.geomspace(lo, hi, n) if _is_log(control) else np.linspace(lo, hi, n)
        vals = [on_grid(control, float(v)) for v in grid]
        if isinstance(control, widgets.IntSlider):
            vals = [int(round(v)) for v in vals]
        positions = len(set(vals))
    elif hasattr(control, "options"):
        opts = [v for _, v in _options(control)]
        idx = sorted({int(round(i)) for i in np.linspace(0, len(opts) - 1, n)})
        vals, positions = [opts[i] for i in idx], len(opts)
    else:
        raise TypeError(f"control must be a slider, a dropdown or toggle buttons, received "
                        f"{type(control).__name__}")
    if len(set(map(repr, vals))) < n:
        raise ValueError(f"n must be at most the number of positions of the control "
                         f"'{control.description}' ({positions} here), received {n}")
    return vals


def _given_values(control: Any, name: str, values: Sequence[Any]) -> list[Any]:
    """Explicit values: inside the control's range and moved to its grid, or among its
    options; no two on the same position."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise TypeError(f"grid['{name}'] must be a count or a non-empty list of values, "
                        f"received {values!r}")
    if _is_numeric(control):
        lo, hi = _range(control)
        out = [on_grid(control, chk.check_number(v, f"grid['{name}']", low=lo * (1 - 1e-12),
                                                 high=hi * (1 + 1e-12))) for v in values]
        if isinstance(control, widgets.IntSlider):
            out = [int(round(v)) for v in out]
    else:
        allowed = [v for _, v in _options(control)]
        bad = [v for v in values if v not in allowed]
        if bad:
            raise ValueError(f"grid['{name}'] must hold options of the control ({allowed}), "
                             f"received {bad}")
        out = list(values)
    if len(set(map(repr, out))) < len(out):
        raise ValueError(f"grid['{name}'] has values that fall on the same position of the "
                         f"slider's grid: {values!r} -> {out!r}")
    return out


def _start(control: Any, values: list[Any]) -> int:
    """Index of the value nearest to the control's current one."""
    now = control.value
    if not _is_numeric(control):
        return values.index(now) if now in values else 0
    key = (lambda v: math.log(float(v))) if _is_log(control) else float
    return int(np.argmin([abs(key(v) - key(now)) for v in values]))


def _save_png(fig: Any, path: Path, dpi: float, colors: int | None) -> None:
    """The whole figure as a PNG at ``dpi``, with a palette of ``colors`` colours (None: full
    colour). Artists drawn separately by a blitting dashboard (``animated``) are drawn too."""
    animated = [a for a in fig.findobj() if a.get_animated()]
    for a in animated:
        a.set_animated(False)
    buf = io.BytesIO()
    try:  # fast zlib here: the palette image below is what is kept
        fig.savefig(buf, dpi=dpi, format="png", metadata={"Software": None},
                    pil_kwargs={"compress_level": 1 if colors else 6})
    finally:
        for a in animated:
            a.set_animated(True)
    if colors is None:
        path.write_bytes(buf.getvalue())
        return
    with Image.open(buf) as im:  # a plot has few colours: a palette is 3x smaller, same look
        im.convert("RGB").quantize(colors, method=_FAST_OCTREE, dither=_NO_DITHER).save(
            path, format="PNG")


def _check_kept(control: Any, name: str, value: Any) -> None:
    now = control.value
    same = (math.isclose(float(now), float(value), rel_tol=1e-9, abs_tol=1e-15)
            if _is_numeric(control) else now == value)
    if not same:
        raise ValueError(f"the dashboard did not keep {name} = {value!r} (it shows {now!r}): "
                         "a control it moves itself cannot be a frame slider")


def export_frames(dash: Any, grid: dict[str, int | Sequence[Any]], outdir: str | Path, *,
                  scale: float = 2.0, colors: int | None = 256, prefix: str = "frame"
                  ) -> FrameSet:
    """Save ``dash``'s figure for every combination of ``grid``'s values.

    ``grid`` maps a control's name (a key of ``dash.controls``) to a count (that many values
    from :func:`slider_values`) or to a list of values (moved to the slider's grid, as the
    browser would). Each frame sets the controls through ``control.value``, so the dashboard
    recomputes and redraws exactly as when a learner drags the slider; then the figure is saved
    to ``outdir/<prefix>-<i>-<j>....png`` at ``scale`` times the size it is displayed at
    (``fig.dpi`` pixels per inch), with ``dash.readout.value``. ``colors``: the PNG's palette
    size (256 keeps a plot's look at a third of the bytes; None: full colour). The controls get
    their values back at the end. Returns a :class:`FrameSet`.
    """
    for attr in ("controls", "fig", "readout"):
        if not hasattr(dash, attr):
            raise TypeError(f"dash must be an edulib dashboard (controls, fig, readout), "
                            f"received {type(dash).__name__}")
    if not isinstance(grid, dict) or not grid:
        raise TypeError(f"grid must be a non-empty dict of control names, received {grid!r}")
    unknown = [k for k in grid if k not in dash.controls]
    if unknown:
        raise ValueError(f"grid names {unknown}, which are not controls of the dashboard "
                         f"(it has {sorted(dash.controls)})")
    scale = chk.check_number(scale, "scale", low=0.5, high=4.0)
    if colors is not None:
        colors = chk.check_int(colors, "colors", low=2, high=256)
    if not isinstance(prefix, str) or not prefix or any(c in prefix for c in "/\\ "):
        raise ValueError(f"prefix must be a plain file-name part, received {prefix!r}")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    sliders = []
    for name, spec in grid.items():
        c = dash.controls[name]
        vals = (slider_values(c, spec) if isinstance(spec, (int, np.integer))
                and not isinstance(spec, bool) else _given_values(c, name, spec))
        sliders.append(FrameSlider(name, str(c.description), tuple(vals),
                                   tuple(_label(c, v) for v in vals), _start(c, vals)))
    fig = dash.fig
    shown_dpi = float(fig.dpi)
    w_in, h_in = fig.get_size_inches()
    before = {s.name: dash.controls[s.name].value for s in sliders}
    frames = []
    try:
        for index in itertools.product(*(range(len(s.values)) for s in sliders)):
            for s, i in zip(sliders, index, strict=True):
                dash.controls[s.name].value = s.values[i]
            for s, i in zip(sliders, index, strict=True):  # none moved by another one
                _check_kept(dash.controls[s.name], s.name, s.values[i])
            file = f"{prefix}-{'-'.join(map(str, index))}.png"
            _save_png(fig, out / file, shown_dpi * scale, colors)
            frames.append(Frame(tuple(index), {s.name: s.values[i] for s, i in
                                               zip(sliders, index, strict=True)},
                                file, str(dash.readout.value)))
    finally:
        for name, v in before.items():
            dash.controls[name].value = v
    return FrameSet(tuple(sliders), tuple(frames), round(w_in * shown_dpi),
                    round(h_in * shown_dpi), scale)
