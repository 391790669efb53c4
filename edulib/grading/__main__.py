"""``python -m edulib.grading COMMAND``: the course's grading from the command line.

    generate [--check]             learner versions from course/instructor/source (repo root)
    doctor                         what the grading sandbox isolates on this machine
    grade SUBMISSION.ipynb         trusted grade of one notebook, feedback printed (course folder)
    autograde ASSIGNMENT           a whole class in parallel, then nbgrader's gradebook (course folder)
    report ASSIGNMENT              per item: scores, mistakes, CSV and a plot (course folder)

The commands that grade read the class secret from ``EDULIB_CLASS_SECRET``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .release import generate


def _generate(args: argparse.Namespace) -> int:
    stale = generate(args.course, check=args.check)
    verb = "out of date" if args.check else "written"
    for path in stale:
        print(f"{verb}: {path}")
    if args.check and stale:
        print("run `python -m edulib.grading generate` and commit the result", file=sys.stderr)
        return 1
    if not stale:
        print("learner versions are up to date")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from .sandbox import isolation

    print(isolation())
    return 0


def _grade(args: argparse.Namespace) -> int:
    import nbformat

    from .items import class_secret
    from .trusted import grade_notebook

    sub = Path(args.submission)
    source = Path(args.source) if args.source else None
    if source is None:
        matches = sorted(Path(args.course).glob(f"source/*/{sub.name}"))
        if len(matches) != 1:
            raise ValueError(f"cannot tell which source notebook {sub.name} belongs to "
                             f"({len(matches)} candidates): pass --source")
        source = matches[0]
    grade = grade_notebook(nbformat.read(sub, as_version=4), nbformat.read(source, as_version=4),
                           secret=class_secret(), cell_timeout=args.cell_timeout,
                           deny_read=[str(Path(args.course).resolve())], name=sub.stem)
    if args.json:
        print(json.dumps(grade.to_dict(), indent=1))
        return 0
    for it in grade.items:
        print(f"--- {it.test_id} ({it.points:g} of {it.max_points:g})")
        print(it.feedback)
    print(f"\ntotal {grade.score:g} of {grade.max_score:g} in {grade.seconds:.1f} s; {grade.isolation}")
    return 0


def _autograde(args: argparse.Namespace) -> int:
    from .classroom import grade_class, report

    grade_class(args.course, args.assignment, workers=args.workers, scheduler=args.scheduler,
                cell_timeout=args.cell_timeout, progress=not args.no_progress,
                run_nbgrader=not args.no_nbgrader)
    report(args.course, args.assignment)
    return 0


def _report(args: argparse.Namespace) -> int:
    from .classroom import report

    report(args.course, args.assignment, out_dir=args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edulib.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("generate", help="write the learner versions from the instructor sources")
    p.add_argument("--course", default="course", help="the course folder (default: course)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if a committed learner version differs")
    p.set_defaults(run=_generate)
    p = sub.add_parser("doctor", help="what the grading sandbox isolates here")
    p.set_defaults(run=_doctor)
    p = sub.add_parser("grade", help="trusted grade of one submitted notebook")
    p.add_argument("submission")
    p.add_argument("--source", help="its nbgrader source notebook (default: found by name)")
    p.add_argument("--course", default=".", help="the nbgrader course folder (default: .)")
    p.add_argument("--cell-timeout", type=float, default=30.0)
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.set_defaults(run=_grade)
    p = sub.add_parser("autograde", help="grade a whole class in parallel, then nbgrader's gradebook")
    p.add_argument("assignment")
    p.add_argument("--course", default=".", help="the nbgrader course folder (default: .)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per core; 1: no pool)")
    p.add_argument("--scheduler", default=None,
                   help="address of a Dask distributed scheduler (e.g. tcp://10.0.0.5:8786)")
    p.add_argument("--cell-timeout", type=float, default=30.0)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-nbgrader", action="store_true",
                   help="only the trusted results and the report, no gradebook")
    p.set_defaults(run=_autograde)
    p = sub.add_parser("report", help="the class report of an assignment")
    p.add_argument("assignment")
    p.add_argument("--course", default=".", help="the nbgrader course folder (default: .)")
    p.add_argument("--out", default=None, help="folder for report.csv/mistakes.csv/report.png")
    p.set_defaults(run=_report)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
