"""Grading a class: stock nbgrader (a Jupyter kernel per notebook) vs trusted grading, serial and
in parallel, on N synthetic submissions of chapter 01 (``01_losses/03_exercises.ipynb``, 11
points), all in one run.

A throwaway nbgrader course folder is built in a temporary folder: the course's own
``nbgrader_config.py`` and ``source/01_losses``, ``nbgrader generate_assignment 01_losses``, then
``submitted/<student>/01_losses/03_exercises.ipynb`` for N students cycling through four kinds:

- ``honest``: the release with every ``# YOUR CODE HERE`` stub replaced by the instructor's
  solution (full marks: 11 of 11);
- ``wrong``: honest, except ``mse_grad`` returns ``2.0 * (y_hat - y)`` (no 1/N: half of that
  item's cases pass, 10.5 of 11 in trusted grading);
- ``crashing``: honest plus a first cell ``import os; os._exit(0)``;
- ``hanging``: honest plus a first cell ``while True: pass``.

Every timed run starts from a fresh copy of that folder (no shared ``trusted/`` results, no
shared gradebook). Wall time of each command, as a subprocess:

1. ``stock nbgrader``: ``nbgrader autograde 01_losses --force`` with a config holding only the
   course id and ``c.Execute.timeout`` (= ``--cell-timeout``, 10 s): nbgrader's default pipeline,
   one Jupyter kernel per notebook, serial. A hanging submission costs that timeout. Its scores
   are read from what the learner's kernel printed (not trustworthy): it is only the speed
   reference.
2. ``trusted, serial``: ``python -m edulib.grading autograde 01_losses --workers 1
   --cell-timeout 10 --no-progress``: trusted grading in one process, then ``nbgrader autograde``
   (the course's config; ``TrustedGrades`` reuses the cached results), then the class report.
3. ``trusted, W workers``: the same with ``--workers W`` (a process pool).
4. The two phases of 3 apart, on another fresh copy: ``... --no-nbgrader`` (trusted grading and
   the report only), then ``nbgrader autograde 01_losses --force`` alone on the cached results
   (the gradebook phase: serial, one process, whatever W is).

Before them, one ``python -m edulib.grading grade`` of an honest submission (which also warms
the sandbox's matplotlib cache) measures a worker's memory: the largest single process
(``ru_maxrss`` from ``wait4``: the grading process, its sandboxed child or an item's fork) and,
with psutil, the peak of the summed RSS and PSS of the whole process tree, sampled every 20 ms
(PSS counts the pages forks share with the sandbox's zygote once). A pool worker is a fork of
the classroom process rather than a fresh ``grade`` process, so this is an estimate.

All subprocesses get ``EDULIB_CLASS_SECRET`` (a fixed 32-character string) and one BLAS/OpenMP
thread each (``OMP_NUM_THREADS`` ... = 1: the work happens in subprocesses, out of threadpoolctl's
reach; the trusted sandbox pins them to 1 anyway, this pins the stock kernels too, so W workers
do not oversubscribe the cores).

    python benchmarks/autograde_class.py                      # N = 16, W = os.cpu_count()
    python benchmarks/autograde_class.py --n 8 --workers 2
    python benchmarks/autograde_class.py --keep               # keep the course folders

Prints a markdown table (seconds per submission per method, throughput ratios), the scores per
kind of submission for each method (a mismatch on honest submissions is flagged), the worker's
memory and a projection for 300 students x 4 chapters on 16 cores. The default run (N = 16,
4 of them hanging) takes about 5 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR = ROOT / "course" / "instructor"
ASSIGNMENT, NOTEBOOK, MAX_SCORE = "01_losses", "03_exercises", 11.0
SECRET = "bench-class-secret-0123456789abc"  # 32 characters
assert len(SECRET) == 32
KINDS = ("honest", "wrong", "crashing", "hanging")
WRONG = {"mse_grad": "return 2.0 * (y_hat - y)"}       # no 1/N
FIRST_CELL = {"crashing": "import os\nos._exit(0)", "hanging": "while True:\n    pass"}
# trusted grading's expected scores (honest: every item; wrong: mse_grad passes half its cases;
# a crashing or hanging first cell defines nothing an item needs, so it costs nothing)
EXPECTED = {"honest": 11.0, "wrong": 10.5, "crashing": 11.0, "hanging": 11.0}
STOCK_CONFIG = ('c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = "bench"\n'
                "c.Execute.timeout = {timeout:g}\n")
CLASS = (300, 4, 16)     # the projection: students, chapters, cores


# --------------------------------------------------------------------------- the submissions
# _solutions and _fill: copied from tests/test_grading_roundtrip.py
def _solutions(source: Path) -> dict[str, str]:
    """grade_id -> the code between the solution markers of the instructor source (dedented)."""
    out = {}
    for cell in nbformat.read(source, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            m = re.search(r"^[ \t]*### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION", cell.source,
                          flags=re.M | re.S)
            out[meta["grade_id"]] = textwrap.dedent(m.group(1)).rstrip("\n")
    return out


def _fill(release: Path, answers: dict[str, str], dest: Path, first: list[str] = ()) -> None:
    """The released notebook with each stub replaced by ``answers[grade_id]`` (indented), and
    the cells ``first`` added at the top."""
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            m = re.search(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)",
                          cell.source, flags=re.M)
            if not m:
                raise RuntimeError(f"no stub in cell {gid}")
            body = textwrap.indent(answers[gid], m.group(1))
            cell.source = cell.source[:m.start()] + body + cell.source[m.end():]
    nb.cells = [nbformat.v4.new_code_cell(c) for c in first] + nb.cells
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


def _env() -> dict[str, str]:
    bindir = os.path.dirname(sys.executable)       # nbgrader runs alembic from the same venv
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "EDULIB_CLASS_SECRET": SECRET, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _run(args: list[str], cwd: Path, log: Path) -> tuple[float, int]:
    """Run ``python ARGS`` in ``cwd``, output to ``log``; (wall seconds, exit status)."""
    with open(log, "w") as out:
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), stdout=out,
                            stderr=subprocess.STDOUT, timeout=3600).returncode
        seconds = time.perf_counter() - t0
    if rc != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        print(f"\n! `python {' '.join(args)}` exited with {rc} (log: {log}); last lines:\n"
              f"{textwrap.indent(tail, '    ')}", file=sys.stderr)
    return seconds, rc


def _course(folder: Path, config: str) -> Path:
    """A course folder with ``config`` and the chapter's source; generated in the background."""
    folder.mkdir(parents=True)
    (folder / "nbgrader_config.py").write_text(config)
    shutil.copytree(INSTRUCTOR / "source" / ASSIGNMENT, folder / "source" / ASSIGNMENT)
    return folder


def build(tmp: Path, n: int, timeout: float) -> tuple[Path, Path, dict[str, str]]:
    """(trusted course, stock course, student -> kind): both generated, both with the same N
    submitted notebooks."""
    base = _course(tmp / "base", (INSTRUCTOR / "nbgrader_config.py").read_text())
    stock = _course(tmp / "stock-base", STOCK_CONFIG.format(timeout=timeout))
    procs = [subprocess.Popen([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT,
                               "--force"], cwd=c, env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for c in (base, stock)]
    for c, p in zip((base, stock), procs, strict=True):
        out, _ = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed in {c}:\n{out}")
    name = f"{NOTEBOOK}.ipynb"
    release = base / "release" / ASSIGNMENT / name
    solved = _solutions(base / "source" / ASSIGNMENT / name)
    kinds = {}
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        student = f"s{i:03d}_{kind}"
        kinds[student] = kind
        answers = {**solved, **WRONG} if kind == "wrong" else solved
        _fill(release, answers, base / "submitted" / student / ASSIGNMENT / name,
              [FIRST_CELL[kind]] if kind in FIRST_CELL else [])
    shutil.copytree(base / "submitted", stock / "submitted")
    return base, stock, kinds


def fresh(base: Path, dest: Path) -> Path:
    """A copy of ``base`` without cached trusted results."""
    shutil.copytree(base, dest)
    shutil.rmtree(dest / "trusted", ignore_errors=True)
    return dest


# --------------------------------------------------------------------------- scores
def gradebook_scores(course: Path, students: list[str]) -> dict[str, float | None]:
    """student -> total score in nbgrader's gradebook (None: not graded)."""
    from nbgrader.api import Gradebook, MissingEntry

    out: dict[str, float | None] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for s in students:
            try:
                out[s] = float(gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, s).score)
            except MissingEntry:
                out[s] = None
    return out


def trusted_results(course: Path, students: list[str]) -> dict[str, tuple[float, float] | None]:
    """student -> (score, grading seconds) from ``trusted/`` (None: no result)."""
    out: dict[str, tuple[float, float] | None] = {}
    for s in students:
        path = course / "trusted" / ASSIGNMENT / s / f"{NOTEBOOK}.json"
        if path.exists():
            d = json.loads(path.read_text())
            out[s] = (round(sum(i["points"] for i in d["items"]), 4), float(d["seconds"]))
        else:
            out[s] = None
    return out


# --------------------------------------------------------------------------- memory
def worker_memory(course: Path, submission: Path, timeout: float, log: Path) -> dict[str, float]:
    """Peak memory (MiB) of ``python -m edulib.grading grade SUBMISSION``: ``maxrss`` (largest
    single process, from wait4) and, with psutil, ``tree_rss``/``tree_pss`` (peak sums over the
    process tree), plus ``seconds``."""
    try:
        import psutil
    except ImportError:
        psutil = None
    cmd = [sys.executable, "-m", "edulib.grading", "grade", str(submission), "--course",
           str(course), "--cell-timeout", f"{timeout:g}"]
    peak_rss = peak_pss = 0
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=course, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid) if psutil else None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if root is not None:
                rss = pss = 0
                try:
                    tree = [root, *root.children(recursive=True)]
                except psutil.Error:
                    tree = []
                for p in tree:
                    try:
                        mem = p.memory_full_info()
                        rss, pss = rss + mem.rss, pss + getattr(mem, "pss", mem.rss)
                    except psutil.Error:
                        pass
                peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.02)
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{log.read_text()}")
    mib = 1024.0**2
    res = {"maxrss": usage.ru_maxrss * 1024 / mib, "seconds": seconds}  # ru_maxrss: KiB on Linux
    if psutil is not None:
        res |= {"tree_rss": peak_rss / mib, "tree_pss": peak_pss / mib}
    return res


# --------------------------------------------------------------------------- report
def _kind_scores(scores: dict[str, float | None], kinds: dict[str, str]) -> dict[str, str]:
    """kind -> the distinct scores its submissions got ("-" for not graded)."""
    out = {}
    for kind in KINDS:
        got = sorted({"-" if scores[s] is None else f"{scores[s]:g}"
                      for s, k in kinds.items() if k == kind})
        out[kind] = "/".join(got) if got else "n/a"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=16, help="submissions (default 16)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(),
                        help="workers of the parallel run (default: os.cpu_count())")
    parser.add_argument("--cell-timeout", type=float, default=10.0,
                        help="seconds before a hung cell is stopped, both pipelines (default 10)")
    parser.add_argument("--keep", action="store_true", help="keep the course folders")
    args = parser.parse_args()
    n, w, timeout = args.n, args.workers, args.cell_timeout
    if n < 1 or w < 1:
        parser.error("--n and --workers must be at least 1")

    tmp = Path(tempfile.mkdtemp(prefix="autograde-bench-"))
    problems: list[str] = []
    try:
        print(f"building the course: {ASSIGNMENT}/{NOTEBOOK}.ipynb, N = {n} submissions "
              f"({', '.join(KINDS)} in turn), in {tmp}", flush=True)
        base, stock_base, kinds = build(tmp, n, timeout)
        students = sorted(kinds)
        honest = next(s for s in students if kinds[s] == "honest")
        mem = worker_memory(fresh(base, tmp / "memory"),
                            base / "submitted" / honest / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                            timeout, tmp / "memory.log")

        times: dict[str, float] = {}
        scores: dict[str, dict[str, float | None]] = {}
        auto = ["-m", "edulib.grading", "autograde", ASSIGNMENT, "--cell-timeout", f"{timeout:g}",
                "--no-progress", "--course"]
        runs = [("stock", "stock nbgrader (kernel per notebook)"),
                ("serial", "trusted, serial (--workers 1)"),
                ("parallel", f"trusted, {w} workers"),
                ("split", f"phases apart, {w} workers")]
        for key, label in runs:
            print(f"timing: {label} ...", flush=True)
            course = fresh(stock_base if key == "stock" else base, tmp / key)
            if key == "stock":
                times[key], rc = _run(["-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
                                      course, tmp / f"{key}.log")
            elif key == "split":
                times["trusted_phase"], rc = _run([*auto, str(course), "--workers", str(w),
                                                   "--no-nbgrader"], course, tmp / "trusted.log")
                times["gradebook_phase"], rc2 = _run(["-m", "nbgrader", "autograde", ASSIGNMENT,
                                                      "--force"], course, tmp / "gradebook.log")
                rc = rc or rc2
            else:
                workers = 1 if key == "serial" else w
                times[key], rc = _run([*auto, str(course), "--workers", str(workers)], course,
                                      tmp / f"{key}.log")
            if rc != 0:
                problems.append(f"{label}: exit status {rc} (log {tmp / key}.log)")
            scores[key] = gradebook_scores(course, students)
            if key != "stock":
                results = trusted_results(course, students)
                scores[f"{key}_json"] = {s: None if r is None else r[0]
                                         for s, r in results.items()}
                if key == "serial":
                    grading_s = {s: r[1] for s, r in results.items() if r is not None}

        # ---------------------------------------------------------------- the table
        per = {k: t / n for k, t in times.items()}
        print()
        hanging = sum(k == "hanging" for k in kinds.values())
        print(f"N = {n} submissions of {ASSIGNMENT}/{NOTEBOOK}.ipynb ({hanging} "
              f"hanging), W = {w} workers, {os.cpu_count()} cores, cell timeout {timeout:g} s "
              f"(a hanging submission costs at least that in every pipeline)")
        print()
        print("| method | wall s | s / submission | submissions / min |")
        print("| --- | ---: | ---: | ---: |")
        rows = [("stock", "stock nbgrader: kernel per notebook, serial (speed reference only)"),
                ("serial", "trusted, serial: grading + nbgrader gradebook + report"),
                ("parallel", f"trusted, {w} workers: grading + nbgrader gradebook + report"),
                ("trusted_phase", f"... trusted grading + report only ({w} workers, --no-nbgrader)"),
                ("gradebook_phase", "... nbgrader autograde on the cached results (serial)")]
        for key, label in rows:
            print(f"| {label} | {times[key]:.1f} | {per[key]:.2f} | {60 / per[key]:.1f} |")
        print()
        print(f"throughput, trusted {w} workers / trusted serial: {times['serial'] / times['parallel']:.2f}x"
              f" (whole command; ideal {w}x: the gradebook phase stays serial)")
        print(f"trusted serial vs stock nbgrader: {times['serial'] / times['stock']:.2f}x the time "
              f"({times['stock'] / times['serial']:.2f}x the throughput)")
        print(f"trusted {w} workers vs stock nbgrader: {times['parallel'] / times['stock']:.2f}x the "
              f"time ({times['stock'] / times['parallel']:.2f}x the throughput)")
        by_kind = {k: [grading_s[s] for s in students if kinds[s] == k and s in grading_s]
                   for k in KINDS}
        print("trusted grading time per submission, in its worker (serial run, mean): " + ", ".join(
            f"{k} {sum(v) / len(v):.2f} s" for k, v in by_kind.items() if v))
        line = f"worker memory (one `edulib.grading grade` of an honest submission, " \
               f"{mem['seconds']:.1f} s): largest process {mem['maxrss']:.0f} MiB"
        if "tree_pss" in mem:
            line += (f"; whole process tree at peak {mem['tree_pss']:.0f} MiB PSS "
                     f"({mem['tree_rss']:.0f} MiB summed RSS, counting shared pages per process)")
        print(line)

        # ---------------------------------------------------------------- the scores
        print()
        print(f"scores per kind (of {MAX_SCORE:g}; '-': no score in the gradebook)")
        print()
        print("| source of the score | " + " | ".join(KINDS) + " |")
        print("| --- |" + " ---: |" * len(KINDS))
        score_rows = [("stock", "stock nbgrader gradebook"),
                      ("serial", "trusted serial: gradebook"), ("serial_json", "... trusted/ JSON"),
                      ("parallel", f"trusted {w} workers: gradebook"),
                      ("parallel_json", "... trusted/ JSON"),
                      ("split", "phases apart: gradebook"), ("split_json", "... trusted/ JSON")]
        for key, label in score_rows:
            ks = _kind_scores(scores[key], kinds)
            print(f"| {label} | " + " | ".join(ks[k] for k in KINDS) + " |")
        print("| expected (trusted) | " + " | ".join(f"{EXPECTED[k]:g}" for k in KINDS) + " |")
        for key, label in score_rows:
            if key == "stock":
                bad = [s for s in students if kinds[s] == "honest" and scores[key][s] != MAX_SCORE]
                if bad:
                    problems.append(f"{label}: honest submissions without {MAX_SCORE:g}: "
                                    + ", ".join(f"{s}={scores[key][s]}" for s in bad))
                continue
            bad = [s for s in students if scores[key][s] != EXPECTED[kinds[s]]]
            if bad:
                problems.append(f"{label}: not the expected score: "
                                + ", ".join(f"{s}={scores[key][s]}" for s in bad))

        # ---------------------------------------------------------------- the projection
        students_c, chapters, cores = CLASS
        total = students_c * chapters
        # the trusted phase alone: serial = the serial command less its gradebook phase
        serial_phase = max(times["serial"] - times["gradebook_phase"], 1e-9)
        speedup = serial_phase / times["trusted_phase"]
        ideal = total * serial_phase / n / cores
        measured = ideal * min(cores, w) / speedup
        gradebook = total * per["gradebook_phase"]
        print()
        print(f"projection: {students_c} students x {chapters} chapters = {total} notebooks on "
              f"{cores} cores, assuming every chapter costs what chapter 01 costs here and the "
              f"same mix of submissions (1 in 4 hanging for {timeout:g} s):")
        print(f"- stock nbgrader, serial: {total * per['stock'] / 60:.0f} min")
        print(f"- trusted grading with {cores} workers: {ideal / 60:.1f} min if it scales "
              f"linearly from the serial run ({serial_phase / n:.2f} s per notebook, "
              f"= serial command - gradebook phase); {measured / 60:.1f} min at the efficiency "
              f"measured here ({speedup:.2f}x on {w} workers, {speedup / w:.0%})")
        print(f"- then nbgrader's gradebook phase, serial: {gradebook / 60:.1f} min "
              f"({per['gradebook_phase']:.2f} s per notebook); total {(measured + gradebook) / 60:.1f} "
              f"min")
        if "tree_pss" in mem:
            print(f"- memory: {cores} workers x {mem['tree_pss']:.0f} MiB = "
                  f"{cores * mem['tree_pss'] / 1024:.1f} GiB")
        if problems:
            print()
            print("problems:")
            for p in problems:
                print(f"- {p}")
    finally:
        if args.keep:
            print(f"\ncourse folders and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
