"""Trusted grading of one submitted notebook: learner code runs in the sandboxed child
(:mod:`edulib.grading.child`), answers come back as plain data, and every score is computed
here, in the instructor's process, from checks the learner's kernel never touched.

>>> grade = grade_notebook(submitted_nb, source_nb, secret=os.environ["EDULIB_CLASS_SECRET"])
>>> grade.score, grade.max_score, grade.items[0].feedback

Which cells run: the instructor's locked cells come from the source notebook (never from the
submission) and run once, before any learner code; then, for each item, a fresh fork runs the
learner's cells (solution cells, and cells the learner added or changed) in notebook order,
the instructor's unchanged demo cells only where a learner cell reads a name they define, and
never the test cells. A cell that crashes or hangs is reported ("crashed at cell N: ...") and
skipped on the next try, so it costs only the items that depend on it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..exercises import Case, CaseResult, Check, CheckResult, Outcome
from . import wire
from .child import _exercise_targets, expand
from .items import Item, hidden_seeds, items_for
from .sandbox import Limits, isolation
from .session import Session

__all__ = ["CellRun", "ItemGrade", "NotebookGrade", "code_digest", "grade_notebook", "program",
           "program_key", "result_path"]

VERSION = "1"          # bump when grading changes, so cached results are recomputed


# --------------------------------------------------------------------------- results
@dataclass
class CellRun:
    index: int
    status: str          # "ok", "error", "crashed", "hung"
    error: str = ""
    stdout: str = ""


@dataclass
class ItemGrade:
    test_id: str
    answer: str
    points: float
    max_points: float
    feedback: str
    passed: int = 0
    total: int = 0
    mistakes: list[str] = field(default_factory=list)     # hints of the failed cases
    forbidden: list[str] = field(default_factory=list)    # library functions the answer called
    problems: list[str] = field(default_factory=list)     # crashes and hangs that cost cases
    matches_published: bool = False                       # for the instructor's review


@dataclass
class NotebookGrade:
    notebook: str
    items: list[ItemGrade]
    cells: list[CellRun]
    isolation: str
    seconds: float
    key: str = ""

    @property
    def score(self) -> float:
        return round(sum(i.points for i in self.items), 4)

    @property
    def max_score(self) -> float:
        return sum(i.max_points for i in self.items)

    def item(self, test_id: str) -> ItemGrade:
        return next(i for i in self.items if i.test_id == test_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NotebookGrade:
        return cls(d["notebook"], [ItemGrade(**i) for i in d["items"]],
                   [CellRun(**c) for c in d["cells"]], d["isolation"], d["seconds"], d.get("key", ""))


# --------------------------------------------------------------------------- the program
@dataclass
class Cell:
    index: int
    role: str            # locked, test, solution, learner, demo
    source: str
    grade_id: str = ""


def _meta(cell: Any) -> dict[str, Any]:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def _text(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def program(submission: Any, source: Any) -> list[Cell]:
    """The code cells of ``submission`` with their roles; locked and test cells carry the
    instructor's text from ``source`` whatever the submission says."""
    by_id = {_meta(c).get("grade_id"): c for c in source.cells if _meta(c).get("grade_id")}
    demo_text = {_text(c).strip() for c in source.cells
                 if c.cell_type == "code" and not _meta(c).get("grade_id")}
    out = []
    for index, cell in enumerate(submission.cells):
        if cell.get("cell_type") != "code":
            continue
        gid = _meta(cell).get("grade_id") or ""
        src_cell = by_id.get(gid)
        if src_cell is not None:
            m = _meta(src_cell)
            if m.get("solution"):
                out.append(Cell(index, "solution", _text(cell), gid))
            elif m.get("grade"):
                out.append(Cell(index, "test", _text(src_cell), gid))
            else:
                out.append(Cell(index, "locked", _text(src_cell), gid))
        elif _text(cell).strip() in demo_text:
            out.append(Cell(index, "demo", _text(cell)))
        else:
            out.append(Cell(index, "learner", _text(cell)))
    return out


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell binds at its top level, names it reads anywhere); empty if it does not
    parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set()
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    defined: set[str] = set()
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
            continue
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Name) and not isinstance(child.ctx, ast.Load):
                defined.add(child.id)
            elif isinstance(child, ast.alias):
                defined.add((child.asname or child.name).split(".")[0])
            elif not isinstance(child, (ast.Lambda, ast.GeneratorExp, ast.ListComp, ast.SetComp,
                                        ast.DictComp)):
                todo.append(child)
    return defined, loaded


def _plan(cells: list[Cell], prelude_ok: set[int]) -> list[tuple[int, str]]:
    """The cells each item's fork runs, in order (see the module docstring)."""
    wanted: set[str] = set()
    for c in cells:
        if c.role in ("solution", "learner"):
            wanted |= _names(c.source)[1]
    run = []
    for c in cells:
        if c.role in ("solution", "learner") or (c.role == "locked" and c.index not in prelude_ok) \
                or (c.role == "demo" and _names(c.source)[0] & wanted):
            run.append((c.index, c.source))
    return run


def program_key(cells: list[Cell], secret: str) -> str:
    """A digest of what grading depends on: the cells, the secret and the grader's version."""
    h = hashlib.sha256()
    h.update(VERSION.encode())
    h.update(hashlib.sha256(secret.encode()).digest())
    h.update(json.dumps([(c.index, c.role, c.source) for c in cells]).encode())
    return h.hexdigest()


def code_digest(cells: list[Cell]) -> str:
    """A digest of the learner's code in a notebook (solution cells and cells they added or
    changed): the hidden cases are drawn from it and the secret (:func:`items.hidden_seeds`)."""
    h = hashlib.sha256()
    h.update(json.dumps([c.source for c in cells if c.role in ("solution", "learner")]).encode())
    return h.hexdigest()


def _normalized(source: str) -> str:
    """A cell's code with names, comments, docstrings and layout normalised away."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source.strip()
    names: dict[str, str] = {}

    def canon(n: str) -> str:
        return names.setdefault(n, f"v{len(names)}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            node.id = canon(node.id)
        elif isinstance(node, ast.arg):
            node.arg = canon(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.name = canon(node.name)
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


def _published(source_cell_text: str) -> str:
    return "\n".join(line for line in source_cell_text.split("\n")
                     if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)


# --------------------------------------------------------------------------- the child
def _encode_case(check: Check, case: Case) -> dict[str, Any]:
    d = case.driver
    return {"args": wire.encode(case.args),
            "driver": f"{d.__module__}:{d.__qualname__}" if d is not None else None,
            "names": check.arg_names(case)}


def _outcome(event: dict[str, Any]) -> Outcome:
    value = None
    if event.get("value") is not None:
        try:
            value = wire.decode(str(event["value"]))
        except (ValueError, TypeError, RecursionError) as exc:
            return Outcome("unreadable", error=f"data ({str(exc)[:100]})")
    if isinstance(value, wire.Unreadable):
        return Outcome("unreadable", error=value.type_name)
    return Outcome(str(event.get("status", "crashed")), value=value,
                   error=str(event.get("error", ""))[:500],
                   mutated=[str(m) for m in event.get("mutated", []) or []][:10],
                   dtype=str(event.get("dtype", ""))[:20])


@functools.lru_cache(maxsize=64)
def _targets(forbidden: tuple[str, ...], allowed: tuple[str, ...]) -> frozenset[str]:
    """Every tripwire an item's fork installs (a "forbidden" event naming anything else is the
    learner's writing, not ours)."""
    return frozenset(expand(list(forbidden), list(allowed)) + _exercise_targets())


def _run_cases(session: Session, base: dict[str, Any], cases: list[dict[str, Any]],
               plan: list[tuple[int, str]], timeout: float, cell_timeout: float,
               cells_seen: dict[int, CellRun], skip: set[int]
               ) -> tuple[list[Outcome], list[str], list[str]]:
    """Run one item's cases in forks, retrying around cells that crash or hang (``skip``
    collects them, so later items skip them at once)."""
    outcomes: list[Outcome | None] = [None] * len(cases)
    forbidden: list[str] = []
    targets = _targets(tuple(base.get("forbidden", ())), tuple(base.get("allowed", ())))
    problems = [f"cell {i} skipped: it {cells_seen[i].error}" for i in sorted(skip)
                if i in cells_seen and any(i == j for j, _ in plan)]
    first = 0
    for _ in range(len(plan) + len(cases) + 2):
        req = dict(base, cases=cases, first_case=first, timeout=timeout, cell_timeout=cell_timeout,
                   cells=[[i, s] for i, s in plan if i not in skip])
        budget = cell_timeout * (len(req["cells"]) + 1) + timeout + 30
        events = session.request(req, budget)
        phase, done, killed, current_cell, current_case = "cells", False, False, None, None
        for ev in events:
            try:                     # the learner can write lines too: anything odd is dropped
                kind = ev.get("event") if ev.get("child") else "zygote:" + str(ev.get("event"))
                if kind == "cell":
                    current_cell = int(ev["index"])
                elif kind == "cell_done":
                    current_cell = None
                    if not cases:            # the feedback run: no case data in the process
                        i = int(ev["index"])
                        cells_seen[i] = CellRun(i, str(ev.get("status")), str(ev.get("error", ""))[:1000],
                                                str(ev.get("stdout", ""))[:4000])
                elif kind == "cells_done":
                    phase = "cases"
                elif kind == "case":
                    if phase == "cases":
                        current_case = int(ev["index"])
                elif kind == "case_done":
                    # only the answer to the case being run counts: the learner's code can
                    # write lines to the pipe too, e.g. from a cell before any case ran
                    k = int(ev["index"])
                    if phase != "cases" or k != current_case:
                        continue
                    if 0 <= k < len(cases) and outcomes[k] is None:
                        outcomes[k] = _outcome(ev)
                    current_case = None
                elif kind == "forbidden" and phase == "cases" and ev.get("name") in targets:
                    forbidden.append(str(ev["name"]))
                elif kind == "zygote:killed":
                    killed = True
                elif kind == "item_done":
                    done = True
                elif kind == "internal_error":
                    problems.append("internal grading error")
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
        if done:
            break
        how = "hung (no end within the time limit)" if killed else "crashed the process"
        if phase == "cells" and current_cell is not None:
            i = int(current_cell)
            skip.add(i)
            problems.append(f"cell {i} {how}")
            cells_seen[i] = CellRun(i, "hung" if killed else "crashed", how)
            continue
        if current_case is not None:
            outcomes[current_case] = Outcome("timeout" if killed else "crashed",
                                             error=f"the function {how}")
            problems.append(f"case {current_case + 1} {how}")
            if killed:
                break
            first = current_case + 1
            continue
        problems.append(f"the grading child stopped ({how})")
        break
    filled = [o if o is not None else Outcome("skipped") for o in outcomes]
    return filled, forbidden, problems


# --------------------------------------------------------------------------- judging
_HIDDEN_MESSAGES = (("raised", "raised an exception"), ("timed out", "timed out"),
                    ("changed its input", "changed its input in place"),
                    ("the function crashed", "crashed the process"),
                    ("not run", "not run: the time limit was used up"))


def _anonymised(res: CheckResult, start: int) -> list[CaseResult]:
    """Hidden cases in the feedback: pass/fail, a fixed word on what went wrong and the judge's
    hint; never their inputs, expected values or anything the learner's code wrote."""
    def message(c: CaseResult) -> str:
        if c.passed:
            return ""
        return next((m for prefix, m in _HIDDEN_MESSAGES if c.message.startswith(prefix)),
                    "wrong answer")

    return [CaseResult(f"hidden case {start + j}", c.passed, message(c), c.hint, c.no_credit)
            for j, c in enumerate(res.cases)]


def _grade_item(session: Session, item: Item, cells: list[Cell], plan: list[tuple[int, str]],
                secret: str, cell_timeout: float, cells_seen: dict[int, CellRun],
                published: dict[str, str], skip: set[int]) -> ItemGrade:
    seeds = [0] + hidden_seeds(secret, item, code_digest(cells))
    solution = next((c for c in cells if c.role == "solution" and c.grade_id == item.solution_id),
                    None)
    base = {"answer": item.answer, "kind": item.kind, "forbidden": list(item.forbidden),
            "allowed": list(item.allowed)}
    if item.kind == "function":
        checks = [item.check(s) for s in seeds]
        cases = [_encode_case(ch, c) for ch in checks for c in ch.cases]
        timeout = sum(ch.timeout for ch in checks)
    else:
        checks = []
        cases = [{"bind": None}] + [{"bind": wire.encode(item.bind(s))} for s in seeds[1:]]
        base["solution_source"] = solution.source if solution else ""
        timeout = 30.0 * len(cases)
    outcomes, forbidden, problems = _run_cases(session, base, cases, plan, timeout, cell_timeout,
                                               cells_seen, skip)
    results: list[CheckResult] = []
    if item.kind == "function":
        at = 0
        for ch in checks:
            results.append(ch.judge(outcomes[at:at + len(ch.cases)]))
            at += len(ch.cases)
    else:
        for s, out in zip(seeds, outcomes, strict=True):
            if out.status == "ok":
                res = item.judge_value(out.value, s)
                if out.error:
                    res.cases = [CaseResult(c.name, c.passed, c.message or out.error, c.hint)
                                 for c in res.cases]
            else:
                res = CheckResult(item.answer, [CaseResult("your answer", False,
                                                           out.error or out.status)])
            results.append(res)
    visible = results[0]
    hidden_cases: list[CaseResult] = []
    for res in results[1:]:
        hidden_cases += _anonymised(res, len(hidden_cases) + 1)
    combined = CheckResult(visible.name, visible.cases + hidden_cases, visible.tested)
    points = combined.points(item.points)
    lines = [str(visible)]
    if hidden_cases:
        n_ok = sum(c.passed for c in hidden_cases)
        lines.append(f"hidden cases: {n_ok} of {len(hidden_cases)} pass")
        lines += [str(c) for c in hidden_cases if not c.passed]
    elif item.hidden_note:
        lines.append(f"(no hidden cases: {item.hidden_note})")
    if forbidden:
        points = 0.0
        names = ", ".join(sorted({f.replace(":", ".") for f in forbidden}))
        lines.insert(0, f"0 points: the answer calls {names}, edulib's own implementation of what "
                        f"this exercise asks you to write")
    lines += [f"problem: {p}" for p in problems]
    lines.append(f"score: {points:g} of {item.points:g}")
    matches = solution is not None and item.solution_id in published and _normalized(
        solution.source) == _normalized(_published(published[item.solution_id]))
    return ItemGrade(item.test_id, item.answer, points, float(item.points), "\n".join(lines),
                     sum(c.passed for c in combined.cases), combined.n_cases,
                     sorted({c.hint for c in combined.cases if not c.passed and c.hint}),
                     sorted(set(forbidden)), problems, matches)


def grade_notebook(submission: Any, source: Any, *, secret: str, cell_timeout: float = 30.0,
                   limits: Limits | None = None, deny_read: Sequence[str] = (), name: str = "",
                   startup_timeout: float = 120.0) -> NotebookGrade:
    """Grade ``submission`` (an nbformat notebook) against its nbgrader ``source`` notebook.

    ``secret`` derives the hidden cases; ``deny_read`` lists folders the child must not read
    even without bubblewrap (the course directory, the gradebook's folder)."""
    t0 = time.perf_counter()
    cells = program(submission, source)
    published = {_meta(c)["grade_id"]: c.source for c in source.cells
                 if _meta(c).get("solution") and _meta(c).get("grade_id")}
    items = items_for({_meta(c).get("grade_id") for c in source.cells if _meta(c).get("grade")})
    prelude = [(c.index, c.source) for c in cells if c.role == "locked"]
    def start() -> Session:
        return Session(prelude, deny_read, limits or Limits(), startup_timeout)

    session = start()
    seen: dict[int, CellRun] = {}
    skip: set[int] = set()
    grades = []
    try:
        ok = {i for i, _ in prelude if not session.prelude.get(i)}
        plan = _plan(cells, ok)
        # what the cells print, for the feedback, from a run that holds no case data
        try:
            _run_cases(session, {"answer": "", "kind": "cells"}, [], plan, 0.0, cell_timeout,
                       seen, skip)
        except RuntimeError:            # the child stopped answering: the items still run
            session.base.close()
            session = start()
        for item in items:
            try:
                grades.append(_grade_item(session, item, cells, plan, secret, cell_timeout, seen,
                                          published, skip))
            except RuntimeError as exc:     # the child stopped answering: this item only
                session.base.close()
                session = start()
                grades.append(ItemGrade(item.test_id, item.answer, 0.0, float(item.points),
                                        f"0 points: {exc}", problems=[str(exc)]))
    finally:
        session.close()
    return NotebookGrade(name, grades, [seen[i] for i in sorted(seen)], isolation(),
                         round(time.perf_counter() - t0, 3), program_key(cells, secret))


def result_path(course: str | Path, assignment: str, student: str, notebook: str) -> Path:
    return Path(course) / "trusted" / assignment / student / f"{notebook}.json"
