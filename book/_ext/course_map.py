"""The start page's chapter map, from the course itself: ``{chapter-map} 01_losses`` shows the
chapter's summary, what it builds on and needs (``:maths:``), and a table with each notebook's
page, the question it answers (both from the chapter's README) and the time to work through it
(:func:`minutes`, from the notebook). A notebook missing from its README, or a README entry
without its notebook, is a build warning.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "course"

#: the time rule, stated on the start page next to the map
WORDS_PER_MINUTE = 150      # reading prose with formulas
MINUTES_PER_CODE_CELL = 1   # reading a cell, running it, looking at its output
MINUTES_PER_DASHBOARD = 5   # moving the sliders
MINUTES_PER_EXERCISE = 10   # a cell where the learner writes the code (nbgrader's solution cell)
TIME_RULE = (f"Times are estimates from each notebook: its prose at {WORDS_PER_MINUTE} words a "
             f"minute, {MINUTES_PER_CODE_CELL} minute per code cell, {MINUTES_PER_DASHBOARD} "
             f"per dashboard and {MINUTES_PER_EXERCISE} per exercise you write, rounded up to "
             "5 minutes.")


def minutes(nb: dict[str, Any]) -> int:
    """Time to work through a notebook by :data:`TIME_RULE`, rounded up to 5 minutes."""
    words = code = dashboards = exercises = 0
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            words += len(re.findall(r"[A-Za-z0-9]+", src))
        elif cell["cell_type"] == "code":
            code += 1
            dashboards += any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                              for o in cell.get("outputs", []))
            exercises += bool(cell["metadata"].get("nbgrader", {}).get("solution"))
    total = (words / WORDS_PER_MINUTE + code * MINUTES_PER_CODE_CELL
             + dashboards * MINUTES_PER_DASHBOARD + exercises * MINUTES_PER_EXERCISE)
    return 5 * math.ceil(total / 5)


def readme_entries(text: str) -> dict[str, str]:
    """``file.ipynb`` -> its question, from a chapter README's numbered list
    (``1. `file.ipynb`: question``, continued on indented lines)."""
    entries: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^\d+\.\s+`([^`]+\.ipynb)`:\s*(.*)$", line)
        if m:
            current = m.group(1)
            entries[current] = m.group(2).strip()
        elif current and line.startswith("   ") and line.strip():
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


def readme_summary(text: str) -> str:
    """The README's first paragraph after its title."""
    paras = [p.strip() for p in text.split("\n\n") if p.strip()]
    return " ".join(paras[1].split()) if len(paras) > 1 else ""


def builds_on(text: str) -> list[str]:
    """The chapters a README says it builds on (``It builds on chapters A and B``)."""
    m = re.search(r"builds on chapters? (.+?)(?:;|\.\s|\.$)", " ".join(text.split()))
    return re.findall(r"\d\d_[a-z_]+", m.group(1)) if m else []


def _fmt(minutes_: int) -> str:
    h, m = divmod(minutes_, 60)
    return f"{m} min" if not h else f"{h} h" if not m else f"{h} h {m:02d}"


class ChapterMap(SphinxDirective):
    required_arguments = 1
    option_spec = {"maths": directives.unchanged_required}

    def run(self) -> list[Any]:
        chapter = self.arguments[0]
        folder = COURSE / chapter
        readme = folder / "README.md"
        self.env.note_dependency(str(readme))
        text = readme.read_text(encoding="utf-8")
        entries = readme_entries(text)
        notebooks = sorted(p.name for p in folder.glob("*.ipynb"))
        for name in sorted(set(notebooks) ^ set(entries)):
            where = "README lists it, the folder lacks it" if name in entries else \
                "the folder has it, the README does not list it"
            logger.warning(f"chapter map {chapter}: {name}: {where}", location=self.get_location(),
                           type="course_book", subtype="map")
        rows, total = [], 0
        for name in notebooks:
            self.env.note_dependency(str(folder / name))
            nb = json.loads((folder / name).read_text(encoding="utf-8"))
            t = minutes(nb)
            total += t
            question = entries.get(name, "").replace("|", "\\|")
            rows.append(f"| {{doc}}`/course/{chapter}/{Path(name).stem}` | {question} | {_fmt(t)} |")
        before = builds_on(text)
        needs = (("Chapter " if len(before) == 1 else "Chapters ")
                 + ", ".join(f"`{c}`" for c in before) + "; " if before else "")
        maths = self.options.get("maths", "")
        md = "\n".join([
            readme_summary(text), "",
            f"**Prerequisites.** {needs}{maths}", "",
            f"**Time.** About {_fmt(total)} for the chapter.", "",
            "| notebook | the question it answers | time |", "| --- | --- | --- |", *rows])
        return self.parse_text_to_nodes(md)


class TimeRule(SphinxDirective):
    """The rule behind the map's times, in words (:data:`TIME_RULE`)."""

    def run(self) -> list[Any]:
        return self.parse_text_to_nodes(TIME_RULE)


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("chapter-map", ChapterMap)
    app.add_directive("time-rule", TimeRule)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
