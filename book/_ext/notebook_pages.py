"""Each course notebook as a page, from its committed outputs (nothing is executed):

* the outputs of a dashboard cell become its static slider (:mod:`static_dashboards`), or a
  short "live only" note for a dashboard the site has no frames for (a widget needs a kernel);
* a graded exercises notebook must be the learner version (generated; it holds no solution and
  no hidden test): a solution or hidden-test region found in one is a build warning, and its
  lines are left out of the page;
* in a lesson notebook, a practice exercise's solution cell is folded ("Show the solution");
* a short note under the title says how to run the notebook.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import static_dashboards as sd
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
WIDGET = "application/vnd.jupyter.widget-view+json"
REGION = re.compile(r"^[ \t]*### BEGIN (SOLUTION|HIDDEN TESTS)\b.*?^[ \t]*### END \1[^\n]*\n?",
                    re.M | re.S)
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS",
           "### END HIDDEN TESTS")


def _prefix(docname: str) -> str:
    """The relative path from a page to the site's root."""
    return "../" * docname.count("/")


def _note(path: str) -> dict[str, Any]:
    text = (":::{admonition} Reading and running\n:class: tip\n"
            f"This page is the notebook `{path}` with the outputs of its last run, "
            "so it reads without Python. To run it yourself and move every slider, open it in "
            "JupyterLab: {ref}`run the course locally <run-locally>`.\n:::\n")
    return {"cell_type": "markdown", "id": "course-site-note", "metadata": {}, "source": text}


def _learner_only(nb: dict[str, Any], docname: str) -> None:
    """A learner version shows no solution and no hidden test: warn and cut any region."""
    for i, cell in enumerate(nb["cells"]):
        src = "".join(cell["source"])
        if any(m in src for m in MARKERS) or cell["metadata"].get("nbgrader", {}).get(
                "solution") and "YOUR CODE HERE" not in src and "YOUR ANSWER HERE" not in src:
            logger.warning(f"{docname}: cell {i} of a learner version holds a solution or a "
                           "hidden test; regenerate it (python -m edulib.grading generate)",
                           type="course_book", subtype="learner")
            cell["source"] = REGION.sub("", src)
            for m in MARKERS:
                cell["source"] = cell["source"].replace(m, "")
            cell["outputs"] = []


def _fold_solutions(nb: dict[str, Any]) -> None:
    """A lesson's practice solution (between nbgrader's markers, which the lesson explains):
    folded under "Show the solution", so the reader tries first."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "### BEGIN SOLUTION" in "".join(cell["source"]):
            tags = cell["metadata"].setdefault("tags", [])
            if "hide-input" not in tags:
                tags.append("hide-input")


def _widgets(app: Sphinx, nb: dict[str, Any], docname: str, path: str) -> None:
    """Dashboard outputs: the static slider where a spec exists, a note otherwise."""
    prefix = _prefix(docname)
    shown = {}
    exports = getattr(app, "course_book_exports", None)
    for spec in sd.specs_for(path):
        try:
            index = sd.dashboard_cell(nb, spec.name)
        except ValueError:
            continue  # reported once, by the exports
        data = None if exports is None else exports.get(spec.key)
        if data is not None:
            shown[index] = sd.frames_html(spec, data, prefix)
    for i, cell in enumerate(nb["cells"]):
        outs = cell.get("outputs", [])
        if not any(WIDGET in o.get("data", {}) for o in outs):
            continue
        page = shown.get(i, sd.LIVE_ONLY.format(prefix=prefix))
        cell["outputs"] = [o for o in outs if WIDGET not in o.get("data", {})] + [
            {"output_type": "display_data", "metadata": {}, "data": {"text/html": page}}]


def on_source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    path = app.env.doc2path(docname, False)
    if Path(path).suffix != ".ipynb":
        return
    rel = Path(path).as_posix()  # e.g. course/01_losses/01_regression_losses.ipynb
    nb = json.loads(source[0])
    if nb["metadata"].get("edulib", {}).get("learner_version_of"):
        _learner_only(nb, docname)
    else:
        _fold_solutions(nb)
    _widgets(app, nb, docname, rel)
    nb["cells"].insert(1, _note(rel))
    source[0] = json.dumps(nb)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("source-read", on_source_read)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
