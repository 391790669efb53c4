"""Math typeset in the reader's browser with no network: MathJax 3 is served with the site,
copied at build time from the ``sphinx-mathjax-offline`` package (the ``book`` extra) into
``_static/mathjax`` (``conf.py`` sets ``mathjax_path`` to it). Only what a TeX page needs is
copied: the ``tex-chtml`` component, its fonts, the TeX extensions it loads on demand, the
menu and the accessibility parts."""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

from sphinx.errors import ExtensionError

DIST = "sphinx-mathjax-offline"
ENTRY = "tex-chtml.js"
PARTS = (ENTRY, "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y")


def mathjax_source() -> Path:
    """The MathJax folder inside the installed package."""
    try:
        folder = Path(metadata.distribution(DIST).locate_file(f"{DIST}/static/mathjax"))
    except metadata.PackageNotFoundError:
        folder = Path("/nonexistent")
    if not (folder / ENTRY).is_file():
        raise ExtensionError(f"MathJax not found: install the book extra "
                             f"(python -m pip install -e \".[book]\"), which brings {DIST}")
    return folder


def copy_mathjax(app: Any, exc: Exception | None) -> None:
    if exc is not None or app.builder.format != "html":
        return
    src, dst = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in PARTS:
        if (src / part).is_dir():
            shutil.copytree(src / part, dst / part, dirs_exist_ok=True)
        else:
            (dst / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / part, dst / part)


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", lambda app: mathjax_source())  # fail early, not at the end
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
