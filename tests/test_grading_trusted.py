"""Trusted grading, piece by piece: the wire format, the item table against the notebooks, the
program a submission becomes, the judge's no-credit rules, and two gradings end to end (the
slow red team through nbgrader is tests/test_grading_roundtrip.py)."""

from __future__ import annotations

import json
import math
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest

from edulib import exercises
from edulib.exercises import SPEC, Recipe, ch02, ch03, ch04, ch05
from edulib.grading import child, classroom, items, release, trusted, wire
from edulib.grading.items import ITEMS, hidden_seeds

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "course" / "instructor" / "source"
NOTEBOOK = {"01_losses": "03_exercises", "02_gradient_descent": "05_exercises",
            "03_adaptive": "05_exercises", "04_second_order": "05_exercises",
            "05_in_practice": "05_exercises"}


def _source(chapter: str):
    return nbformat.read(SOURCE / chapter / f"{NOTEBOOK[chapter]}.ipynb", as_version=4)


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


# --------------------------------------------------------------------------- the wire
@pytest.mark.parametrize("value", [
    np.arange(6, dtype=np.float32).reshape(2, 3), np.array(3.5), np.float64(-0.25), np.int64(7),
    np.array([True, False]), np.zeros((0, 4)), [1, 2.5, "b", None, True],
    (np.ones(2), {"W": np.eye(2), "b": np.zeros(2)}), float("nan"), -math.inf, 2**70,
    Recipe("digits_split", (3,))])
def test_plain_data_survives_the_wire(value):
    back = wire.decode(wire.encode(value))
    assert type(back) is type(value) or isinstance(value, int)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        assert np.array_equal(back, value)
    elif isinstance(value, float) and math.isnan(value):
        assert math.isnan(back)
    elif isinstance(value, tuple):
        assert np.array_equal(back[0], value[0]) and np.array_equal(back[1]["W"], value[1]["W"])
    elif not isinstance(value, int) or abs(value) < 2**63:
        assert back == value


class _Sneaky(float):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value, kind", [
    (_Sneaky(1.0), "_Sneaky"), (np.array([1 + 2j]), "complex128"),
    (np.array([object()]), "object"), ((x for x in [1]), "generator"), ({1: 2}, "non-string")])
def test_no_learner_object_crosses_the_wire(value, kind):
    back = wire.decode(wire.encode(value))
    assert isinstance(back, wire.Unreadable) and kind in back.type_name


@pytest.mark.parametrize("text", [
    '{"__pickle__": "x"}', '{"__ndarray__": "|O", "shape": [1], "data": ""}',
    '{"__ndarray__": "<f8", "shape": [3], "data": "AAAAAAAA+D8="}', '{"__float__": "1e999"}'])
def test_the_judge_refuses_anything_else(text):
    with pytest.raises(ValueError):
        wire.decode(text)


# --------------------------------------------------------------------------- the item table
def test_every_item_matches_its_notebook_cells():
    for chapter, chapter_items in ITEMS.items():
        cells = {_meta(c).get("grade_id"): c for c in _source(chapter).cells if _meta(c)}
        tests = {g for g, c in cells.items() if _meta(c).get("grade")}
        assert {it.test_id for it in chapter_items} == tests, chapter
        for it in chapter_items:
            assert float(_meta(cells[it.test_id])["points"]) == it.points, it.test_id
            assert _meta(cells[it.solution_id]).get("solution"), it.solution_id
            assert it.n_hidden >= 1 or it.hidden_note, it.test_id


def test_every_forbidden_function_exists():
    targets = {t for its in ITEMS.values() for it in its
               for t in child.expand(list(it.forbidden), list(it.allowed))}
    assert len(targets) > 250 and "edulib.losses:MSE._grad_sum" in targets
    assert "edulib.hessian:hvp" in targets and "edulib.quasi_newton:_Run.accept" in targets
    lr_sharp = next(it for it in ITEMS["04_second_order"] if it.answer == "lr_sharp")
    assert "edulib.hessian:hvp" not in child.expand(list(lr_sharp.forbidden), list(lr_sharp.allowed))
    targets |= set(child._exercise_targets())
    for target in targets:
        _, _, fn = child._resolve(target)
        assert isinstance(fn, types.FunctionType) or callable(fn), target
    # the child's own helpers are not among the tripwires, the references are
    assert "edulib.exercises.ch03:_drive_momentum" not in targets
    assert {"edulib.exercises.ch03:_adam_reference", "edulib.exercises.ch02:_sgd_reference",
            "edulib.exercises.ch01:check_mse_grad"} <= targets
    assert {"edulib.exercises.ch05:_drive_ema", "edulib.exercises.ch05:search_lab_split",
            "edulib.exercises.ch05:_log_uniform_off"}.isdisjoint(targets)
    assert {"edulib.exercises.ch05:_batchnorm_reference", "edulib.exercises.ch05:_ema_reference",
            "edulib.exercises.ch05:_search_lab_baseline"} <= targets
    # chapter 05's lab may run the trials through edulib.search, never its samplers
    lab = next(it for it in ITEMS["05_in_practice"] if it.answer == "tune_digits")
    lab_targets = set(child.expand(list(lab.forbidden), list(lab.allowed)))
    assert {"edulib.search:random", "edulib.search:sobol", "edulib.search:Real.from_unit"} <= lab_targets
    assert lab_targets.isdisjoint({"edulib.search:run_trials", "edulib.search:_run_trial",
                                   "edulib.search:Trials.best"})
    assert set(lab.allowed) <= set(child.expand(["edulib.search:*"]))


def test_hidden_seeds_come_from_the_secret():
    item = ITEMS["01_losses"][0]
    a, b = hidden_seeds("secret-one", item), hidden_seeds("secret-two", item)
    assert a == hidden_seeds("secret-one", item) and a != b and min(a + b) >= 1000
    assert hidden_seeds("secret-one", ITEMS["01_losses"][1]) != a   # another item, other seeds
    with pytest.raises(ValueError, match="EDULIB_CLASS_SECRET"):
        hidden_seeds("short", item)


@pytest.mark.parametrize("chapter, gid, name, expected", [
    ("02_gradient_descent", "quadratic", "A", lambda: ch02.lr_max_matrix(5)),
    ("03_adaptive", "valley", "A", lambda: ch03.valley_matrix(3)),
    ("04_second_order", "sharpness_setup", "X_lin", lambda: ch04.sharpness_problem(4)[2])])
def test_value_items_see_the_notebooks_own_inputs_first(chapter, gid, name, expected):
    cell = next(c for c in _source(chapter).cells if _meta(c).get("grade_id") == gid)
    ns: dict = {}
    from edulib import hessian, models

    exec("import numpy as np\n" + cell.source.replace("print(", "str("),
         {"np": np, "models": models, "hessian": hessian}, ns)
    assert np.array_equal(ns[name], expected())


def test_hidden_matrices_differ_and_keep_their_kind():
    for seed in (1234, 98765):
        A = ch03.valley_matrix(seed)
        lam = np.linalg.eigvalsh(A)
        assert np.allclose(A, A.T) and lam[0] > 0 and not np.allclose(A, ch03.valley_matrix(3))
        assert np.linalg.eigvalsh(ch02.lr_max_matrix(seed))[0] > 0


# --------------------------------------------------------------------------- the program
def _toy():
    src = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import numpy as np", metadata={"nbgrader": {
            "grade_id": "setup", "locked": True, "solution": False, "grade": False}}),
        nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION",
                                  metadata={"nbgrader": {"grade_id": "f", "solution": True,
                                                         "grade": False}}),
        nbformat.v4.new_code_cell("helper = 3\nplot_it = 1", metadata={}),
        nbformat.v4.new_code_cell("unused = f(2)", metadata={}),
        nbformat.v4.new_code_cell("check(f)", metadata={"nbgrader": {
            "grade_id": "test_f", "grade": True, "solution": False, "points": 1}})])
    sub = nbformat.from_dict(json.loads(nbformat.writes(src)))
    sub.cells[0].source = "import os; os._exit(0)"            # a changed read-only cell
    sub.cells[1].source = "def f(x):\n    return x * helper"  # reads a demo cell's name
    sub.cells[4].source = "print(1.0)"                        # a changed test cell
    sub.cells.insert(2, nbformat.v4.new_code_cell("mine = 1"))
    return src, sub


def test_a_submission_becomes_the_instructors_cells_plus_the_learners():
    src, sub = _toy()
    cells = trusted.program(sub, src)
    assert [(c.index, c.role) for c in cells] == [(0, "locked"), (1, "solution"), (2, "learner"),
                                                  (3, "demo"), (4, "demo"), (5, "test")]
    assert cells[0].source == "import numpy as np" and cells[-1].source == "check(f)"
    plan = trusted._plan(cells, prelude_ok={0})
    assert [i for i, _ in plan] == [1, 2, 3]      # the demo defining `helper` runs, not the other


def test_the_published_solution_is_recognised_under_new_names():
    ours = "def f(a, b):\n    '''doc'''\n    # a comment\n    s = a + b\n    return s * 2"
    theirs = "def g(x,y):\n    total = x+y\n    return total*2\n"
    assert trusted._normalized(ours) == trusted._normalized(theirs)
    assert trusted._normalized(ours) != trusted._normalized(theirs.replace("*2", "*3"))


# --------------------------------------------------------------------------- the judge's rules
def test_a_check_judges_outcomes_it_did_not_run():
    check = exercises.check_mse_grad(SPEC)
    good = [exercises.Outcome("ok", value=c.expect.want.copy(), dtype="float64") for c in check.cases]
    assert check.judge(good).score == 1.0
    bad = [exercises.Outcome("ok", value=-c.expect.want, dtype="float64") for c in check.cases]
    res = check.judge(bad)
    assert res.score == 0.0 and 0 < sum(c.passed for c in res.cases) < len(res.cases)
    with pytest.raises(ValueError, match="one Outcome per case"):
        check.judge(good[:1])


def test_wrong_orders_and_labs_without_their_technique_earn_no_credit():
    def newest_first(g, pairs, gamma):             # both loops over the list the wrong way
        q, a = g.copy(), []
        for s, y, rho in pairs:
            a.append(rho * (s @ q))
            q = q - a[-1] * y
        r = gamma * q
        for (s, y, rho), ai in zip(reversed(pairs), reversed(a), strict=True):
            r = r + (ai - rho * (y @ r)) * s
        return r

    res = exercises.check_two_loop(newest_first, verbose=False)
    assert res.cases[0].passed and res.score == 0.0 and "wrong order" in res.hints[0]
    uses = exercises.engine.uses_case("adam_step", (), "train_mlp",
                                      lambda v: (v["W"][0] > 0, "", ""))
    good, bad = {"W": np.ones(2)}, {"W": np.zeros(2)}
    ok, _, hint = uses.judge({"on": good, "off": good})   # the target met with adam_step off
    assert not ok and isinstance(hint, exercises.engine.NoCredit)
    assert uses.judge({"on": good, "off": "raised"})[0]   # failing without it: it is used
    assert uses.judge({"on": good, "off": bad})[0]
    assert not uses.judge({"on": bad, "off": bad})[0]     # a lab missing its target: no credit


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def solved_ch01():
    src = _source("01_losses")
    return trusted.grade_notebook(src, src, secret="unit-test-secret", cell_timeout=10)


def test_the_solved_notebook_gets_full_marks_with_hidden_cases(solved_ch01):
    g = solved_ch01
    assert g.score == g.max_score == 11
    assert all(it.total > 4 and it.passed == it.total for it in g.items if it.answer != "loss_at_init")
    assert all(it.matches_published for it in g.items)
    assert "hidden cases: 4 of 4 pass" in g.item("test_mse_grad").feedback


def test_library_calls_score_zero_and_a_dying_cell_costs_nothing(tmp_path):
    src = _source("01_losses")
    sub = nbformat.from_dict(json.loads(nbformat.writes(src)))
    for cell in sub.cells:
        if _meta(cell).get("grade_id") == "mse_grad":
            cell.source = "from edulib.losses import mse as renamed\ndef mse_grad(a, b):\n" \
                          "    return renamed.grad(a, b)"
    sub.cells.insert(1, nbformat.v4.new_code_cell("import os\nos._exit(3)"))
    g = trusted.grade_notebook(sub, src, secret="unit-test-secret", cell_timeout=10)
    assert g.item("test_mse_grad").points == 0.0
    assert g.item("test_mse_grad").forbidden[0].startswith("edulib.losses:")
    assert g.score == 10.0
    assert any(c.status == "crashed" and c.index == 1 for c in g.cells)


# chapter 05: cheats that score nothing on their items (one submission each), answers copied for
# the visible inputs that keep only the visible share, and checks patched in the kernel
_CH05_CHEATS = {
    # a sampler uniform in x, not in log x
    "log_uniform": "return rng.uniform(low, high, n)",
    # edulib's own average, renamed
    "ema_update": "from edulib.averaging import AveragedParams as _A, get_ema_multi_avg_fn as _f\n"
                  "a = _A(avg, multi_avg_fn=_f(decay))\na.n_averaged = n_averaged\n"
                  "a.update_parameters(params)\nreturn a.params",
    # the reference inside the checks
    "batchnorm_forward": "return exercises.ch05._batchnorm_reference(x, gamma, beta, running_mean, "
                         "running_var, momentum, eps, training)",
    # a search drawn by edulib's sampler instead of the learner's log_uniform
    "tune_digits": "space = [search.Real('lr', 1e-4, 10.0, log=True)]\n"
                   "best, best_acc = None, -1.0\nfor hp in search.random(space, 12, seed=0):\n"
                   "    model = models.SoftmaxRegression(64, 10)\n    params = model.init_params(seed=0)\n"
                   "    train.train(model, params, optim.SGD(params, lr=hp['lr']), split, epochs=3, "
                   "batch_size=64)\n"
                   "    acc = float(model.accuracy(params, split.X_val, split.y_val))\n"
                   "    if acc > best_acc:\n        best, best_acc = params, acc\nreturn best",
}


def _ch05_submission(tmp_path, answers, first=()):
    """The learner version of chapter 05 solved, with ``answers`` in place of some solutions."""
    solved = release.solutions(SOURCE / "05_in_practice" / "05_exercises.ipynb")
    out = tmp_path / "submission.ipynb"
    release.fill(ROOT / "course" / "05_in_practice" / "05_exercises.ipynb", {**solved, **answers},
                 out, first)
    return nbformat.read(out, as_version=4)


def _one_cycle_lookup() -> str:
    """one_cycle_lr as a table of the notebook's visible cases, and 0 anywhere else."""
    table = {}
    for args in ch05._one_cycle_runs(0):
        for t, lr in enumerate(ch05._one_cycle_reference(*args)):
            table[(t, *args)] = float(lr)
    return (f"table = {table!r}\n"
            "return table.get((step, total_steps, max_lr, pct_start, div_factor, final_div_factor), 0.0)")


def test_chapter05_cheats_score_zero_on_their_items(tmp_path):
    src = _source("05_in_practice")
    sub = _ch05_submission(tmp_path, {**_CH05_CHEATS, "one_cycle_lr": _one_cycle_lookup()})
    g = trusted.grade_notebook(sub, src, secret="unit-test-secret", cell_timeout=30)
    points = {it.test_id: it.points for it in g.items}
    assert points == {"test_log_uniform": 0.0, "test_ema_update": 0.0, "test_batchnorm_forward": 0.0,
                      "test_one_cycle_lr": 1.0, "test_tune_digits": 0.0}, points
    assert "uniform in x, not in log x" in g.item("test_log_uniform").feedback
    assert "hidden cases: 0 of 3 pass" in g.item("test_log_uniform").feedback
    assert g.item("test_ema_update").forbidden[0].startswith("edulib.averaging:")
    assert g.item("test_batchnorm_forward").forbidden == ["edulib.exercises.ch05:_batchnorm_reference"]
    assert g.item("test_tune_digits").forbidden[0].startswith("edulib.search:")
    # the table passes the 3 visible cases and no hidden one: the visible share, 1 of 2 points
    assert "PASS one_cycle_lr" in g.item("test_one_cycle_lr").feedback
    assert "hidden cases: 0 of 3 pass" in g.item("test_one_cycle_lr").feedback


def test_chapter05_patched_checks_and_a_lab_without_the_search_earn_nothing(tmp_path):
    src = _source("05_in_practice")
    patch = ("from edulib import exercises\n"
             "exercises.CheckResult.points = lambda self, m: float(m)\n"
             "for name in list(vars(exercises)):\n"
             "    if name.startswith('check_'):\n"
             "        setattr(exercises, name, lambda *a, **k: exercises.CheckResult('x'))\n"
             "import numpy as np\nnp.allclose = np.array_equal = lambda *a, **k: True")
    stubs = {gid: "raise NotImplementedError()" for gid in release.solutions(
        SOURCE / "05_in_practice" / "05_exercises.ipynb")}
    g = trusted.grade_notebook(_ch05_submission(tmp_path, stubs, first=[patch]), src,
                               secret="unit-test-secret", cell_timeout=30)
    assert g.score == 0.0
    # a right sampler called for show, then one fixed learning rate: the lab only
    fixed = ("log_uniform(1e-4, 10.0, 12, np.random.default_rng(0))\n"
             "model = models.SoftmaxRegression(64, 10)\nparams = model.init_params(seed=0)\n"
             "train.train(model, params, optim.SGD(params, lr=1.0), split, epochs=3, batch_size=64)\n"
             "return params")
    g = trusted.grade_notebook(_ch05_submission(tmp_path, {"tune_digits": fixed}), src,
                               secret="unit-test-secret", cell_timeout=30)
    assert g.item("test_tune_digits").points == 0.0 and g.score == 8.0
    assert "with your log_uniform switched off" in g.item("test_tune_digits").feedback


def test_the_class_report(tmp_path, solved_ch01):
    for student, points in (("ann", None), ("bob", 0.0)):
        d = solved_ch01.to_dict()
        if points is not None:
            d["items"][0].update(points=points, mistakes=["the sign is flipped"])
        path = tmp_path / "trusted" / "01_losses" / student / "03_exercises.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(d))
    lines: list[str] = []
    stats = classroom.report(tmp_path, "01_losses", echo=lines.append)
    assert stats["test_mse_grad"]["points"] == [1.0, 0.0]
    assert any("50% the sign is flipped" in line for line in lines)
    rows = (tmp_path / "trusted" / "01_losses" / "report.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 6
    assert (tmp_path / "trusted" / "01_losses" / "report.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match="autograde"):
        classroom.report(tmp_path, "02_gradient_descent")


def test_items_module_lists_every_chapter():
    assert sorted(items.ITEMS) == sorted(NOTEBOOK)


def test_without_bubblewrap_the_audit_hook_still_guards_the_course(monkeypatch):
    from edulib.grading import sandbox

    monkeypatch.setattr(sandbox, "bwrap_works", lambda: False)
    src = _source("01_losses")
    sub = nbformat.reads(nbformat.writes(src), as_version=4)
    for cell in sub.cells:
        if _meta(cell).get("solution"):
            cell.source = "raise NotImplementedError()"
    sub.cells.append(nbformat.v4.new_code_cell(
        "import json, os\n"
        f"print(os.listdir({str(SOURCE)!r}))\n"))
    sub.cells.append(nbformat.v4.new_code_cell(
        "import json\n"
        f"for c in json.load(open({str(SOURCE / '01_losses' / '03_exercises.ipynb')!r}))['cells']:\n"
        "    if c['metadata'].get('nbgrader', {}).get('solution'):\n"
        "        exec(''.join(c['source']))\n"))
    sub.cells.append(nbformat.v4.new_code_cell("import os\nos.kill(os.getppid(), 9)"))
    g = trusted.grade_notebook(sub, src, secret="unit-test-secret", cell_timeout=10,
                               deny_read=[str(ROOT / "course")])
    assert g.isolation.startswith("PARTLY ISOLATED")
    assert g.score == 0.0
    errors = " ".join(c.error for c in g.cells)
    assert "PermissionError: not allowed while grading: reading" in errors
    assert "PermissionError: not allowed while grading: listing" in errors
    assert "os.kill" in errors


def test_trusted_grading_needs_no_nbgrader():
    """Only the nbgrader plugin imports nbgrader: the main suite runs without the grading extra."""
    import subprocess
    import sys

    code = ("import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('nbgrader', 'tqdm', 'distributed'):\n"
            "            raise ImportError(name)\nsys.meta_path.insert(0, Block())\n"
            "from edulib.grading import child, classroom, items, release, session, trusted, wire\n"
            "import edulib.grading.__main__\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
