"""Dashboards without Python: each spec of :mod:`dashboard_specs` is built from its notebook's
own code, its frames are exported with :func:`edulib.widgets.frames.export_frames` when the
site is built (in worker processes, while Sphinx reads the pages), and the page shows them
behind HTML range inputs (``_static/static-dashboard.js`` swaps the frames).

Frames are kept in ``<outdir>/_dashboards/<key>/`` with a ``frames.json`` whose stamp covers
the spec, the notebook code it runs and edulib's source: a rebuild exports only what changed.
"""

from __future__ import annotations

import ast
import hashlib
import html
import json
import os
import shutil
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from dashboard_specs import SPECS, StaticDashboard
from sphinx.util import logging

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
FRAMES_DIR = "_dashboards"


# --------------------------------------------------------------------------- the notebook side
def dashboard_cell(nb: dict[str, Any], name: str) -> int:
    """Index of the code cell that creates and shows ``name`` (``name = ...``, last line
    ``name``); a ValueError unless there is exactly one."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        lines = [ln for ln in "".join(cell["source"]).splitlines() if ln.strip()]
        if lines and lines[-1].strip() == name and any(ln.startswith(f"{name} = ")
                                                        for ln in lines):
            found.append(i)
    if len(found) != 1:
        raise ValueError(f"expected one cell that creates and shows `{name}`, found {len(found)}")
    return found[0]


def check_spec(spec: StaticDashboard, nb: dict[str, Any]) -> str:
    """The dashboard cell's code, after checking that ``imports`` only imports and that every
    setup statement is in the notebook verbatim (a ValueError naming the first one that is
    not)."""
    if not all(isinstance(node, (ast.Import, ast.ImportFrom))
               for node in ast.parse(spec.imports).body):
        raise ValueError(f"imports must hold import statements only, received {spec.imports!r}")
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    for stmt in spec.setup:
        if not any(stmt in src for src in code):
            raise ValueError(f"the statement {stmt!r} is not in the notebook any more")
    return "".join(nb["cells"][dashboard_cell(nb, spec.name)]["source"])


def _stamp(spec: StaticDashboard, cell: str) -> str:
    """What the frames depend on: the spec, the cell, edulib's code, matplotlib's version."""
    import matplotlib

    h = hashlib.sha256(repr((spec, cell, matplotlib.__version__)).encode())
    for path in sorted((ROOT / "edulib").rglob("*.py")):
        h.update(path.relative_to(ROOT).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- the worker side
def export(spec: StaticDashboard, cell: str, outdir: str, stamp: str) -> dict[str, Any]:
    """Run the setup statements and the dashboard cell, export the frames; returns (and
    writes to ``frames.json``) the frame set as plain data. Runs in a worker process."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from threadpoolctl import threadpool_limits

    from edulib.widgets.frames import export_frames

    with threadpool_limits(1):  # one worker per core: BLAS threads would only compete
        ns: dict[str, Any] = {"__name__": "__static_dashboard__"}
        for stmt in (spec.imports, *spec.setup, cell):
            exec(compile(stmt, spec.notebook, "exec"), ns)  # the notebook's own code
        out = Path(outdir)
        if out.exists():
            shutil.rmtree(out)
        frames = export_frames(ns[spec.name], spec.grid, out)
    data = {"stamp": stamp, **frames.to_dict()}
    (out / "frames.json").write_text(json.dumps(data))
    return data


# --------------------------------------------------------------------------- the Sphinx side
class Exports:
    """The frames of every spec: loaded from a previous build when its stamp matches,
    otherwise exported in a process pool started when the builder starts."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir / FRAMES_DIR
        self.results: dict[str, Future | dict[str, Any]] = {}
        self.errors: dict[str, str] = {}
        self._early: set[str] = set()
        self.pool: ProcessPoolExecutor | None = None
        todo = []
        for spec in SPECS:
            try:
                nb = json.loads((ROOT / spec.notebook).read_text(encoding="utf-8"))
                cell = check_spec(spec, nb)
            except (OSError, ValueError) as exc:
                self.errors[spec.key] = f"{spec.notebook}: {exc}"
                continue
            stamp = _stamp(spec, cell)
            old = self.outdir / spec.key / "frames.json"
            try:
                data = json.loads(old.read_text())
                if data["stamp"] == stamp and all((old.parent / f["file"]).is_file()
                                                  for f in data["frames"]):
                    self.results[spec.key] = data
                    continue
            except (OSError, ValueError, KeyError):
                pass
            todo.append((spec, cell, stamp))
        self._early = set(self.errors)
        if todo:
            workers = max(1, min(len(todo), os.cpu_count() or 1))
            self.pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
            for spec, cell, stamp in todo:  # in page order: the first page waits the least
                self.results[spec.key] = self.pool.submit(
                    export, spec, cell, str(self.outdir / spec.key), stamp)

    def get(self, key: str) -> dict[str, Any] | None:
        """The frame set of ``key`` (waits for its export), None after a warning."""
        if key in self.errors:
            return None
        res = self.results[key]
        if isinstance(res, Future):
            try:
                res = res.result()
            except Exception as exc:  # reported as a build warning, the page says "live only"
                self.errors[key] = f"exporting the frames failed: {type(exc).__name__}: {exc}"
                return None
            self.results[key] = res
        return res

    def reported_late(self) -> list[str]:
        """Keys whose export failed (not reported when the builder started)."""
        return sorted(set(self.errors) - self._early)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def on_builder_inited(app: Any) -> None:
    exports = None
    if app.builder.format == "html":
        exports = Exports(Path(app.outdir))
        for key, why in exports.errors.items():
            logger.warning(f"static dashboard {key}: {why}", type="course_book",
                           subtype="dashboard")
    app.course_book_exports = exports


def on_env_get_outdated(app: Any, env: Any, added: set[str], changed: set[str],
                        removed: set[str]) -> list[str]:
    """Pages whose frames are exported again are read again (their readouts may change)."""
    exports = getattr(app, "course_book_exports", None)
    if exports is None:
        return []
    notebooks = {s.notebook for s in SPECS if isinstance(exports.results.get(s.key), Future)}
    return [d for d in env.found_docs if Path(env.doc2path(d, False)).as_posix() in notebooks]


def on_build_finished(app: Any, exc: Exception | None) -> None:
    exports = getattr(app, "course_book_exports", None)
    if exports is None:
        return
    exports.close()
    for key in exports.reported_late():
        logger.warning(f"static dashboard {key}: {exports.errors[key]}", type="course_book",
                       subtype="dashboard")
    app.course_book_exports = None


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", on_builder_inited)
    app.connect("env-get-outdated", on_env_get_outdated)
    app.connect("build-finished", on_build_finished)
    return {"parallel_read_safe": False, "parallel_write_safe": True}


def specs_for(notebook: str) -> list[StaticDashboard]:
    return [s for s in SPECS if s.notebook == notebook]


def frames_html(spec: StaticDashboard, data: dict[str, Any], prefix: str) -> str:
    """The static dashboard: a label saying the frames are precomputed, one range input per
    slider, the readout and the frame (the start frame without JavaScript)."""
    sliders, frames = data["sliders"], data["frames"]
    flat = 0
    for s in sliders:
        flat = flat * len(s["labels"]) + s["start"]
    first = frames[flat]
    base = f"{prefix}{FRAMES_DIR}/{spec.key}/"
    rows = []
    for k, s in enumerate(sliders):
        sid = f"sd-{spec.key}-{k}"
        label = s["labels"][s["start"]]
        rows.append(
            f'<div class="sd-control"><label for="{sid}">{html.escape(s["description"])}</label>'
            f'<input type="range" id="{sid}" min="0" max="{len(s["labels"]) - 1}" step="1" '
            f'value="{s["start"]}" data-slider="{k}" aria-valuetext="{html.escape(label)}">'
            f'<output for="{sid}">{html.escape(label)}</output></div>')
    n = len(frames)
    payload = json.dumps({"base": base, **{k: data[k] for k in ("sliders", "frames")}})
    payload = payload.replace("</", "<\\/")
    return (
        f'<div class="static-dashboard" data-static-dashboard="{spec.key}" '
        f'style="max-width: {data["width"]}px">'
        f'<p class="sd-note"><span class="sd-badge">precomputed</span> {n} frames of this '
        f'dashboard, rendered when this site was built: the sliders below swap them, no Python '
        f'needed. The live dashboard (every control, any value) is the cell above, run in '
        f'JupyterLab (<a href="{prefix}index.html#run-locally">run the course locally</a>).</p>'
        f'<div class="sd-controls">{"".join(rows)}</div>'
        f'<div class="sd-readout">{first["readout"]}</div>'
        f'<img class="sd-frame" src="{base}{first["file"]}" width="{data["width"]}" '
        f'height="{data["height"]}" alt="the dashboard\'s figure, precomputed">'
        f'<script type="application/json" class="sd-data">{payload}</script></div>')


LIVE_ONLY = ('<p class="sd-live-only"><span class="sd-badge">live only</span> An interactive '
             'dashboard: it needs a Python kernel, so it appears when you run this notebook in '
             'JupyterLab (<a href="{prefix}index.html#run-locally">run the course locally</a>).'
             '</p>')
