"""Learner versions: generated from the instructor sources, committed, and never drifting apart.

Fast and without nbgrader, except the cross-check against nbgrader's own preprocessors (skipped
with the reason where the ``grading`` extra is missing). The full nbgrader round trip lives in
``test_grading_roundtrip.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from edulib.grading import release as grading
from edulib.grading.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
PAIRS = grading.sources(COURSE)


def _meta(kind, gid, points=None):
    m = {"grade": kind == "test", "grade_id": gid, "locked": kind != "solution",
         "schema_version": 3, "solution": kind == "solution", "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def _toy():
    return new_notebook(cells=[
        new_markdown_cell("# toy"),
        new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
                      metadata=_meta("solution", "f")),
        new_code_cell("v = None\n### BEGIN SOLUTION\nv = 3\n### END SOLUTION",
                      metadata=_meta("solution", "v")),
        new_code_cell("assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(5) == 10\n"
                      "### END HIDDEN TESTS\n1.0", metadata=_meta("test", "t", 1),
                      execution_count=3, outputs=[nbformat.v4.new_output(
                          "execute_result", {"text/plain": "1.0"}, execution_count=3)]),
        new_code_cell("print('given')", metadata=_meta("readonly", "given")),
        new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                          metadata=_meta("solution", "why")),
    ], metadata={"kernelspec": dict(grading.KERNELSPEC)})


def test_there_is_a_source_for_every_chapter():
    names = {dst.relative_to(COURSE).as_posix() for _, dst in PAIRS}
    assert {"01_losses/03_exercises.ipynb", "02_gradient_descent/05_exercises.ipynb",
            "03_adaptive/05_exercises.ipynb", "04_second_order/05_exercises.ipynb",
            "05_in_practice/05_exercises.ipynb"} <= names


@pytest.mark.parametrize("src, dst", PAIRS, ids=[d.name for _, d in PAIRS])
def test_committed_learner_version_is_generated_from_its_source(src, dst):
    assert dst.exists(), f"{dst} missing: run `python -m edulib.grading generate`"
    assert dst.read_text(encoding="utf-8") == grading.render(src, COURSE), (
        f"{dst.relative_to(ROOT)} drifted from {src.relative_to(ROOT)}: run "
        "`python -m edulib.grading generate` and commit both")


@pytest.mark.parametrize("src, dst", PAIRS, ids=[d.name for _, d in PAIRS])
def test_learner_version_holds_no_solution_and_every_item_is_graded(src, dst):
    source = nbformat.read(src, as_version=4)
    learner = nbformat.read(dst, as_version=4)
    text = "\n".join(c.source for c in learner.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    for cell in learner.cells:
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None
    solution_ids = [c.metadata["nbgrader"]["grade_id"] for c in source.cells
                    if c.metadata.get("nbgrader", {}).get("solution")]
    tests = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
             for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")}
    assert len(tests) >= 5 and all(p > 0 for p in tests.values())
    assert {f"test_{gid}" for gid in solution_ids} == set(tests)   # every answer has its test
    # each solved answer is replaced by the stub, each test cell ends with the partial score
    for cell in learner.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            assert "# YOUR CODE HERE\n" in cell.source and "raise NotImplementedError()" in cell.source
            assert cell.metadata["deletable"] is False
        if meta.get("grade"):
            assert re.search(rf"^res\.points\({meta['points']}\)$", cell.source, flags=re.M)
            assert cell.metadata["editable"] is False
    assert learner.metadata["edulib"]["learner_version_of"] == src.relative_to(COURSE).as_posix()
    assert learner.metadata["kernelspec"] == grading.KERNELSPEC


def test_solved_sources_carry_outputs_and_the_ipykernel_kernelspec():
    for src, _ in PAIRS:
        nb = json.loads(src.read_text())
        assert nb["metadata"]["kernelspec"] == grading.KERNELSPEC
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(c.get("execution_count") for c in code), f"{src}: unexecuted cells"


def test_learner_version_of_a_toy_notebook():
    out = grading.learner_version(_toy(), "toy.ipynb")
    src = [c.source for c in out.cells]
    assert src[1] == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert src[2] == "v = None\n# YOUR CODE HERE\nraise NotImplementedError()"
    assert src[3] == "assert f(1) == 2\n1.0" and out.cells[3].outputs == []
    assert src[4] == "print('given')" and out.cells[4].metadata["editable"] is False
    assert src[5] == "Why?\nYOUR ANSWER HERE"
    assert out.metadata["edulib"] == {"learner_version_of": "toy.ipynb"}


@pytest.mark.parametrize("cell, match", [
    (new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"), "without nbgrader metadata"),
    (new_code_cell("### BEGIN SOLUTION\nx = 1", metadata=_meta("solution", "s")), "without"),
    (new_code_cell("x = 1\n### END SOLUTION", metadata=_meta("solution", "s")), "without"),
    (new_code_cell("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
                   metadata=_meta("solution", "s")), "nested"),
    (new_code_cell("x = 1", metadata={"nbgrader": {"solution": True, "grade": False}}),
     "grade_id"),
])
def test_malformed_sources_are_refused(cell, match):
    with pytest.raises(ValueError, match=match):
        grading.learner_version(new_notebook(cells=[cell]), "bad.ipynb")


def test_command_line_generate_and_check(tmp_path, capsys):
    course = tmp_path / "course"
    (course / "instructor" / "source" / "ch").mkdir(parents=True)
    nbformat.write(_toy(), course / "instructor" / "source" / "ch" / "ex.ipynb")
    assert main(["generate", "--course", str(course), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert main(["generate", "--course", str(course)]) == 0
    assert (course / "ch" / "ex.ipynb").exists()
    assert main(["generate", "--course", str(course), "--check"]) == 0
    assert "up to date" in capsys.readouterr().out
    learner = course / "ch" / "ex.ipynb"
    learner.write_text(learner.read_text().replace("YOUR ANSWER HERE", "edited"))
    assert main(["generate", "--course", str(course), "--check"]) == 1
    assert main(["generate", "--course", str(tmp_path / "nowhere")]) == 2
    assert "course must be the course folder" in capsys.readouterr().err


def test_same_sources_as_nbgraders_own_preprocessors():
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[grading]')")
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    for src, dst in PAIRS:
        nb = nbformat.read(src, as_version=4)
        resources = {}
        nb, resources = ClearSolutions().preprocess(nb, resources)
        nb, resources = ClearHiddenTests().preprocess(nb, resources)
        learner = nbformat.read(dst, as_version=4)
        assert [c.source for c in nb.cells] == [c.source for c in learner.cells], dst


def test_nbval_skips_learner_versions_and_runs_the_sources():
    import importlib.util

    spec = importlib.util.spec_from_file_location("course_conftest", COURSE / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for src, dst in PAIRS:
        assert mod.pytest_ignore_collect(dst, None) is True
        assert mod.pytest_ignore_collect(src, None) is None
    assert mod.pytest_ignore_collect(COURSE / "instructor" / "release", None) is True
    assert mod.pytest_ignore_collect(COURSE / "02_gradient_descent" / "01_gd_learning_rate.ipynb",
                                     None) is None
