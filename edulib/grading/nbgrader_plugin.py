"""Trusted scores inside ``nbgrader autograde``.

nbgrader normally runs a submission in a Jupyter kernel and reads each test cell's score from
what the kernel printed, which the learner controls. The course's ``nbgrader_config.py``
replaces that step (nbgrader's ``Execute`` preprocessor) with :class:`TrustedGrades`, which
runs in nbgrader's own process, the instructor's:

* it grades the submission with :func:`edulib.grading.trusted.grade_notebook` (learner code in
  the sandboxed child, answers judged here, hidden cases from ``EDULIB_CLASS_SECRET``), or reuses
  the result that ``python -m edulib.grading autograde`` computed for the very same cells;
* it writes each test cell's outputs itself: the feedback text and, last, the score as a
  number, which nbgrader's ``SaveAutoGrades`` reads; each other code cell gets what it printed
  in the sandbox. No Jupyter kernel starts, so nothing a learner's kernel does reaches a grade
  (and widget cells cannot stall grading);
* it stores the result as JSON under ``<course>/trusted/<assignment>/<student>/`` for the class
  report (``python -m edulib.grading report``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Float, Unicode

from .items import class_secret
from .trusted import NotebookGrade, grade_notebook, program, program_key, result_path

__all__ = ["TrustedGrades", "class_secret", "result_path"]


def _stream(text: str) -> Any:
    return nbformat.v4.new_output("stream", name="stdout", text=text)


class TrustedGrades(NbGraderPreprocessor):
    """nbgrader preprocessor: test cells' outputs from trusted grading (see the module)."""

    cell_timeout = Float(30.0, help="seconds a learner's cell may run in the sandbox").tag(config=True)
    secret_env = Unicode("EDULIB_CLASS_SECRET", help="environment variable holding the class "
                         "secret").tag(config=True)

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        info = resources["nbgrader"]
        coursedir = CourseDirectory(parent=self)
        root = Path(coursedir.root)
        src_path = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"])) \
            / f"{info['notebook']}.ipynb"
        source = nbformat.read(src_path, as_version=4)
        secret = class_secret(self.secret_env)
        saved = result_path(root, info["assignment"], info["student"], info["notebook"])
        grade = None
        if saved.exists():
            try:
                old = NotebookGrade.from_dict(json.loads(saved.read_text()))
                if old.key == program_key(program(nb, source), secret):
                    grade = old
            except (ValueError, KeyError, TypeError):
                grade = None
        if grade is None:
            grade = grade_notebook(nb, source, secret=secret, cell_timeout=self.cell_timeout,
                                   deny_read=[str(root)], name=info["notebook"])
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(grade.to_dict(), indent=1))
        self.log.info("trusted grading of %s/%s: %g of %g (%s)", info["student"],
                      info["notebook"], grade.score, grade.max_score, grade.isolation.split(":")[0])
        for it in grade.items:
            if it.matches_published:
                self.log.warning("%s/%s %s matches the published solution after normalisation: "
                                 "review it", info["student"], info["notebook"], it.answer)
        write_outputs(nb, grade)
        return nb, resources


def write_outputs(nb: Any, grade: NotebookGrade) -> None:
    """Every code cell's outputs from ``grade``: feedback and score in test cells."""
    by_test = {it.test_id: it for it in grade.items}
    runs = {c.index: c for c in grade.cells}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        cell.execution_count = None
        if meta.get("grade") and not meta.get("solution"):
            it = by_test.get(meta.get("grade_id"))
            if it is None:
                cell.outputs = [nbformat.v4.new_output(
                    "error", ename="NotGraded", evalue="no trusted check for this cell",
                    traceback=["this test cell has no trusted check: 0 points"])]
                continue
            cell.outputs = [_stream(it.feedback + "\n"), nbformat.v4.new_output(
                "execute_result", data={"text/plain": repr(float(it.points))}, execution_count=None)]
        else:
            run = runs.get(index)
            text = "" if run is None else run.stdout + (f"\n[{run.status}] {run.error}\n"
                                                        if run.error else "")
            cell.outputs = [_stream(text)] if text.strip() else []
