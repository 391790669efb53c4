"""A whole class: trusted grading in parallel, then nbgrader's gradebook, then the report.

``python -m edulib.grading autograde ASSIGNMENT`` (run in the nbgrader course folder):

1. finds every ``submitted/<student>/<ASSIGNMENT>/*.ipynb`` and grades each with
   :func:`edulib.grading.trusted.grade_notebook` through an executor -- a local process pool by
   default (``--workers``), or the workers of an existing Dask distributed scheduler
   (``--scheduler tcp://host:8786``, e.g. a cluster started with dask-jobqueue on SLURM or
   dask-kubernetes) -- with a progress bar and ETA (tqdm);
2. this process alone writes the results (``trusted/<assignment>/<student>/<notebook>.json``)
   and then runs ``nbgrader autograde ASSIGNMENT``, whose :class:`TrustedGrades` step finds the
   results for the same cells and writes them to nbgrader's gradebook;
3. prints the class report (:func:`report`).
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from .items import class_secret
from .trusted import NotebookGrade, grade_notebook, result_path

__all__ = ["Submission", "grade_class", "grade_submission", "report", "submissions"]


@dataclass(frozen=True)
class Submission:
    student: str
    assignment: str
    notebook: str
    path: str
    source: str


def submissions(course: str | Path, assignment: str) -> list[Submission]:
    """Every submitted notebook of ``assignment`` that has a source notebook."""
    course = Path(course)
    src_dir = course / "source" / assignment
    if not src_dir.is_dir():
        raise ValueError(f"no source folder {src_dir}: run this in the nbgrader course folder "
                         f"and name an assignment (one of "
                         f"{sorted(p.name for p in (course / 'source').glob('*'))})")
    out = []
    for path in sorted((course / "submitted").glob(f"*/{assignment}/*.ipynb")):
        source = src_dir / path.name
        if source.exists():
            out.append(Submission(path.parts[-3], assignment, path.stem, str(path), str(source)))
    return out


def grade_submission(sub: Submission, secret: str, cell_timeout: float = 30.0,
                     deny_read: tuple[str, ...] = (), texts: tuple[str, str] | None = None
                     ) -> dict[str, Any]:
    """One submission's trusted grade as plain data (what a worker returns). ``texts`` (the
    submission's and the source's JSON) spare a worker on another machine the files."""
    try:
        sub_text, src_text = texts or (Path(sub.path).read_text(), Path(sub.source).read_text())
        nb = nbformat.reads(sub_text, as_version=4)
        source = nbformat.reads(src_text, as_version=4)
        grade = grade_notebook(nb, source, secret=secret, cell_timeout=cell_timeout,
                               deny_read=deny_read, name=sub.notebook)
        return {"ok": True, "grade": grade.to_dict()}
    except Exception as exc:  # noqa: BLE001 - one unreadable notebook must not stop the class
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _executor(workers: int | None, scheduler: str | None) -> tuple[Any, Callable[[], None]]:
    """(a concurrent.futures-style executor or None for serial, what closes it)."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError("--scheduler needs Dask distributed: pip install -e \".[cluster]\" "
                             "(from the repository)") from None
        client = Client(scheduler)
        return client.get_executor(), client.close
    if workers == 1:
        return None, lambda: None
    pool = cf.ProcessPoolExecutor(max_workers=workers or os.cpu_count())
    return pool, pool.shutdown


def grade_class(course: str | Path, assignment: str, *, workers: int | None = None,
                scheduler: str | None = None, cell_timeout: float = 30.0,
                progress: bool = True, run_nbgrader: bool = True) -> list[Submission]:
    """Steps 1 and 2 of the module docstring; returns the submissions graded."""
    course = Path(course).resolve()
    secret = class_secret()
    subs = submissions(course, assignment)
    deny = (str(course),)
    executor, close = _executor(workers, scheduler)
    bar = _bar(len(subs), progress, f"trusted grading of {assignment}")
    try:
        if executor is None:
            results: Iterable[tuple[Submission, dict[str, Any]]] = (
                (s, grade_submission(s, secret, cell_timeout, deny)) for s in subs)
        else:
            futures = {executor.submit(grade_submission, s, secret, cell_timeout, deny,
                                       (Path(s.path).read_text(), Path(s.source).read_text())): s
                       for s in subs}
            results = ((futures[f], f.result()) for f in cf.as_completed(futures))
        for sub, res in results:           # results are written here, by one process
            if res["ok"]:
                path = result_path(course, assignment, sub.student, sub.notebook)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(res["grade"], indent=1))
            else:
                print(f"{sub.student}/{sub.notebook}: not graded: {res['error']}", file=sys.stderr)
            bar.update(1)
    finally:
        bar.close()
        close()
    if run_nbgrader and subs:
        bindir = os.path.dirname(sys.executable)    # nbgrader runs alembic from the same venv
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
        subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"],
                       cwd=course, env=env, check=True)
    return subs


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, show: bool, desc: str) -> Any:
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="notebook")


# --------------------------------------------------------------------------- the report
def _mistake(hint: str) -> str:
    """A hint with its case-specific numbers left out, so that one mistake counts once."""
    return re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", hint)


def _grades(course: Path, assignment: str) -> dict[str, NotebookGrade]:
    out = {}
    for path in sorted((course / "trusted" / assignment).glob("*/*.json")):
        out[f"{path.parent.name}/{path.stem}"] = NotebookGrade.from_dict(json.loads(path.read_text()))
    return out


def report(course: str | Path, assignment: str, *, out_dir: str | Path | None = None,
           echo: Callable[[str], Any] = print) -> dict[str, Any]:
    """Per item: the score distribution and how often each recognised mistake occurred, as a
    table (printed), ``report.csv`` (one row per student and item), ``mistakes.csv`` and
    ``report.png`` in ``out_dir`` (default ``<course>/trusted/<assignment>/``)."""
    course = Path(course)
    grades = _grades(course, assignment)
    if not grades:
        raise ValueError(f"no trusted results under {course / 'trusted' / assignment}: run "
                         f"`python -m edulib.grading autograde {assignment}` first")
    out = Path(out_dir) if out_dir else course / "trusted" / assignment
    out.mkdir(parents=True, exist_ok=True)
    items: dict[str, dict[str, Any]] = {}
    with open(out / "report.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "item", "points", "max_points", "cases_passed",
                    "cases", "forbidden_call", "matches_published", "problems"])
        for key, g in grades.items():
            student = key.split("/")[0]
            for it in g.items:
                w.writerow([student, g.notebook, it.test_id, it.points, it.max_points, it.passed,
                            it.total, ";".join(it.forbidden), it.matches_published,
                            ";".join(it.problems)])
                s = items.setdefault(it.test_id, {"max": it.max_points, "points": [],
                                                  "mistakes": Counter(), "forbidden": 0,
                                                  "published": 0, "crashes": 0})
                s["points"].append(it.points)
                s["mistakes"].update({_mistake(m) for m in it.mistakes})
                s["forbidden"] += bool(it.forbidden)
                s["published"] += it.matches_published
                s["crashes"] += bool(it.problems)
    n = len(grades)
    echo(f"{assignment}: {n} submissions")
    echo(f"{'item':34s} {'mean':>6s} {'full':>5s} {'zero':>5s}  most common mistakes")
    with open(out / "mistakes.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item", "mistake", "students", "fraction"])
        for test_id, s in items.items():
            pts = s["points"]
            full = sum(p >= s["max"] for p in pts) / len(pts)
            zero = sum(p == 0 for p in pts) / len(pts)
            top = s["mistakes"].most_common(2)
            text = "; ".join(f"{c / len(pts):.0%} {m[:60]}" for m, c in top)
            echo(f"{test_id:34s} {sum(pts) / len(pts):6.2f} {full:5.0%} {zero:5.0%}  {text}")
            for m, c in s["mistakes"].most_common():
                w.writerow([test_id, m, c, round(c / len(pts), 4)])
            flags = [f"{s[k]} {label}" for k, label in (("forbidden", "called the library"),
                     ("published", "match the published solution"), ("crashes", "crashed or hung"))
                     if s[k]]
            if flags:
                echo(f"{'':34s} {', '.join(flags)}")
    _plot(items, out / "report.png", assignment, n)
    echo(f"written: {out / 'report.csv'}, {out / 'mistakes.csv'}, {out / 'report.png'}")
    return items


def _plot(items: dict[str, dict[str, Any]], path: Path, assignment: str, n: int) -> None:
    """Left: each item's share of full, partial and zero scores. Right: the most common
    mistakes of the class (up to 8), as the share of submissions making them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [t.removeprefix("test_") for t in items]
    mistakes = sorted(((c / len(s["points"]), f"{t.removeprefix('test_')}: {m[:50]}")
                       for t, s in items.items() for m, c in s["mistakes"].items()), reverse=True)[:8]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.42 * max(len(items), len(mistakes), 3) + 1.6),
                             layout="constrained", width_ratios=[1, 1.3])
    left = [0.0] * len(names)
    for k, (label, color) in enumerate((("full marks", "tab:green"), ("partial", "tab:orange"),
                                        ("zero", "tab:red"))):
        vals = []
        for s in items.values():
            pts, top = s["points"], s["max"]
            share = (sum(p >= top for p in pts), sum(0 < p < top for p in pts), sum(p == 0 for p in pts))
            vals.append(share[k] / len(pts))
        axes[0].barh(names, vals, left=left, color=color, label=label, height=0.6)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    axes[0].invert_yaxis()
    axes[0].set_xlim(0, 1)
    axes[0].set_xlabel(f"share of the {n} submissions")
    axes[0].legend(frameon=False, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8)
    if mistakes:
        axes[1].barh([m for _, m in mistakes], [v for v, _ in mistakes], color="tab:purple",
                     height=0.6)
        axes[1].set_ylim(max(len(mistakes), len(items)) - 0.5, -0.5)   # bars as thick as left
        axes[1].tick_params(axis="y", labelsize=7)
    else:
        axes[1].text(0.5, 0.5, "no recognised mistakes", ha="center", va="center")
        axes[1].set_yticks([])
    axes[1].set_xlim(0, 1)
    axes[1].set_xlabel("share of submissions with the mistake")
    fig.suptitle(f"{assignment}: scores and the most common mistakes")
    fig.savefig(path, dpi=110)
    plt.close(fig)
