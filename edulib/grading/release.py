"""Learner versions of the exercise notebooks, generated from the instructor sources.

One source of truth per chapter: ``course/instructor/source/<chapter>/<notebook>.ipynb`` is an
nbgrader source notebook (``course/instructor`` is an nbgrader course directory, each chapter an
assignment). Its learner version ``course/<chapter>/<notebook>.ipynb`` is what learners open:
the same notebook with every solution region replaced by nbgrader's stub
(``# YOUR CODE HERE`` / ``raise NotImplementedError()``), hidden tests removed and outputs
cleared -- what ``nbgrader generate_assignment`` releases, produced here without nbgrader::

    python -m edulib.grading generate          # rewrite the learner versions
    python -m edulib.grading generate --check  # exit 1 and name the files that drifted

Run it from the repository root (or pass ``--course PATH``). Learner versions carry the
notebook metadata ``edulib.learner_version_of`` (the source's path) and keep the nbgrader cell
metadata, so a learner's copy can still be autograded.
"""

from __future__ import annotations

import copy
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat

__all__ = ["CODE_STUB", "TEXT_STUB", "fill", "generate", "learner_version", "render", "solutions",
           "sources"]

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _nbgrader(cell: Any) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {})


def _replace_regions(source: str, begin: str, end: str, stub: str | None, where: str) -> tuple[str, bool]:
    """Lines between ``begin`` and ``end`` (markers included) replaced by ``stub`` (indented like
    the begin marker) or dropped when ``stub`` is None -- nbgrader's own rule."""
    out: list[str] = []
    inside = found = False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise ValueError(f"{where}: nested '{begin}' markers")
            inside = found = True
            if stub is not None:
                indent = re.match(r"\s*", line).group(0)
                out += [indent + s for s in stub.split("\n")]
        elif end in line:
            if not inside:
                raise ValueError(f"{where}: '{end}' without '{begin}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{begin}' without '{end}'")
    return "\n".join(out), found


def learner_version(nb: Any, source_name: str = "") -> Any:
    """The learner version of an nbgrader source notebook ``nb`` (a new notebook).

    Raises ValueError when a solution region sits in a cell without nbgrader's
    ``solution: true`` metadata (nbgrader would refuse it too) or when markers do not pair up.
    """
    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.cells):
        where = f"{source_name or 'notebook'} cell {i}"
        meta = _nbgrader(cell)
        stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
        cell.source, replaced = _replace_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, stub,
                                                 where)
        if replaced and not meta.get("solution"):
            raise ValueError(f"{where}: solution region in a cell without nbgrader metadata "
                             "'solution: true' and a grade_id")
        if meta.get("solution") and not replaced:
            cell.source = stub
        if meta.get("grade") and cell.cell_type == "code":
            cell.source, _ = _replace_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, None, where)
        if meta:
            if not meta.get("grade_id"):
                raise ValueError(f"{where}: nbgrader cell without a grade_id")
            if meta.get("locked") or meta.get("grade") and not meta.get("solution"):
                cell.metadata["editable"] = False
            if meta.get("locked") or meta.get("solution") or meta.get("grade"):
                cell.metadata["deletable"] = False
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    out.metadata = nbformat.from_dict({
        "kernelspec": dict(KERNELSPEC),
        "language_info": copy.deepcopy(nb.metadata.get("language_info", {"name": "python"})),
        "edulib": {"learner_version_of": source_name},
    })
    return out


def sources(course: Path) -> list[tuple[Path, Path]]:
    """(source, learner version) pairs: ``instructor/source/<chapter>/<nb>.ipynb`` maps to
    ``<chapter>/<nb>.ipynb`` under ``course``."""
    root = course / "instructor" / "source"
    return [(src, course / src.parent.name / src.name)
            for src in sorted(root.glob("*/*.ipynb")) if ".ipynb_checkpoints" not in src.parts]


def render(src: Path, course: Path) -> str:
    """The learner version of ``src`` as the exact text written to disk."""
    nb = nbformat.read(src, as_version=4)
    learner = learner_version(nb, src.relative_to(course).as_posix())
    return nbformat.writes(learner) + "\n"


def generate(course: Path | str = "course", check: bool = False) -> list[Path]:
    """Write (or with ``check`` only compare) every learner version; returns the paths whose
    committed text differs from the generated one."""
    course = Path(course)
    if not (course / "instructor" / "source").is_dir():
        raise ValueError(f"course must be the course folder holding instructor/source/, "
                         f"received {str(course)!r}")
    stale = []
    for src, dst in sources(course):
        text = render(src, course)
        if not dst.exists() or dst.read_text(encoding="utf-8") != text:
            stale.append(dst)
            if not check:
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_text(text, encoding="utf-8")
    return stale


def solutions(source: Path | str) -> dict[str, str]:
    """grade_id -> the code between the solution markers of an nbgrader source (dedented)."""
    out = {}
    for cell in nbformat.read(source, as_version=4).cells:
        meta = _nbgrader(cell)
        m = re.search(r"^[ \t]*### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION", cell.source,
                      flags=re.M | re.S)
        if meta.get("solution") and m:
            out[meta["grade_id"]] = textwrap.dedent(m.group(1)).rstrip("\n")
    return out


def fill(release: Path | str, answers: Mapping[str, str], dest: Path | str,
         first: Sequence[str] = (), last: Sequence[str] = ()) -> None:
    """Write to ``dest`` the released notebook with each stub replaced by ``answers[grade_id]``
    (indented like the stub), code cells ``first`` added at the top and ``last`` at the end: a
    submission as a learner sends it (model answers, tests, benchmarks)."""
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        gid = _nbgrader(cell).get("grade_id")
        if gid in answers:
            m = re.search(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)",
                          cell.source, flags=re.M)
            if not m:
                raise ValueError(f"answers[{gid!r}]: the cell has no `# YOUR CODE HERE` stub")
            cell.source = cell.source[:m.start()] + textwrap.indent(answers[gid], m.group(1)) \
                + cell.source[m.end():]
    nb.cells = ([nbformat.v4.new_code_cell(c) for c in first] + nb.cells
                + [nbformat.v4.new_code_cell(c) for c in last])
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
