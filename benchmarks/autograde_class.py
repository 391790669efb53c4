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
shared gradebook). Wall time of each command, run as a subprocess:

1. ``stock nbgrader``: ``nbgrader autograde 01_losses --force`` with a config holding only the
   course id and ``c.Execute.timeout`` (= ``--cell-timeout``, 10 s): nbgrader's default pipeline,
   one Jupyter kernel per notebook, serial. A hanging cell costs that timeout (nbgrader then
   interrupts the kernel and goes on); a crashing one kills the kernel, nbgrader gives up on that
   notebook (0 points) and exits with status 1 at the end, which is reported, not treated as a
   failure. Its scores come from what the learner's kernel printed (not trustworthy): this is
   only the speed reference.
2. ``trusted, serial``: ``python -m edulib.grading autograde 01_losses --workers 1
   --cell-timeout 10 --no-progress`` grades every notebook in one process, writes the results to
   ``trusted/`` and the class report, then runs ``nbgrader autograde 01_losses --force`` with the
   course's config, whose ``TrustedGrades`` reuses those results for the gradebook. The two
   phases are timed apart: the command with ``--no-nbgrader``, then that ``nbgrader autograde``
   (the same subprocess the command would start); "whole" is their sum.
3. ``trusted, W workers``: the same with ``--workers W`` (a process pool; the gradebook phase is
   serial whatever W is).

``--whole`` also times the command in one piece (without ``--no-nbgrader``), serial and with W
workers, on two more fresh copies: a check that the sum of the phases is the command's time
(within a second: one interpreter start), left out by default to keep the run short.

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
    python benchmarks/autograde_class.py --whole              # + the command in one piece
    python benchmarks/autograde_class.py --keep               # keep the course folders, logs

Prints a markdown table (seconds per submission per method, throughput ratios), the scores per
kind of submission for each method (a mismatch on honest submissions is flagged), the worker's
memory and a projection for 300 students x 4 chapters on 16 cores (every chapter assumed to
cost what chapter 01 costs). The default run (N = 16, 4 of them hanging) takes about 4-5
minutes on a 2-core machine.
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

from edulib.grading.release import fill, solutions

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
def _env() -> dict[str, str]:
    bindir = os.path.dirname(sys.executable)       # nbgrader runs alembic from the same venv
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "EDULIB_CLASS_SECRET": SECRET, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


def _run(args: list[str], cwd: Path, log: Path) -> tuple[float, int]:
    """Run ``python ARGS`` in ``cwd``, output to ``log``; (wall seconds, exit status)."""
    with open(log, "w") as out:
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(), stdout=out,
                            stderr=subprocess.STDOUT, timeout=3600).returncode
        return time.perf_counter() - t0, rc


def _failed(what: str, rc: int, log: Path) -> str:
    tail = "".join(log.read_text().splitlines(keepends=True)[-12:])
    return f"{what}: exit status {rc}, log {log} (--keep keeps it); last lines:\n" + \
        textwrap.indent(tail, "    ")


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
    solved = solutions(base / "source" / ASSIGNMENT / name)
    kinds = {}
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        student = f"s{i:03d}_{kind}"
        kinds[student] = kind
        answers = {**solved, **WRONG} if kind == "wrong" else solved
        fill(release, answers, base / "submitted" / student / ASSIGNMENT / name,
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


def _stock_failures(log: Path) -> list[str]:
    """Students whose notebook stock nbgrader could not process (e.g. the kernel died)."""
    return re.findall(r"error processing assignment '[^']*' for student '([^']*)'", log.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=16, help="submissions (default 16)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(),
                        help="workers of the parallel run (default: os.cpu_count())")
    parser.add_argument("--cell-timeout", type=float, default=10.0,
                        help="seconds before a hung cell is stopped, both pipelines (default 10)")
    parser.add_argument("--whole", action="store_true",
                        help="also time the trusted command in one piece, serial and parallel "
                             "(two more runs)")
    parser.add_argument("--keep", action="store_true", help="keep the course folders and logs")
    args = parser.parse_args()
    n, w, timeout = args.n, args.workers, args.cell_timeout
    if n < 1 or w < 1:
        parser.error("--n and --workers must be at least 1")

    tmp = Path(tempfile.mkdtemp(prefix="autograde-bench-"))
    problems: list[str] = []
    load0 = os.getloadavg()[0]
    t_start = time.perf_counter()
    try:
        print(f"building the course: {ASSIGNMENT}/{NOTEBOOK}.ipynb, N = {n} submissions "
              f"({', '.join(KINDS)} in turn), in {tmp}", flush=True)
        base, stock_base, kinds = build(tmp, n, timeout)
        students = sorted(kinds)
        honest = next(s for s in students if kinds[s] == "honest")
        print("measuring a worker's memory (one honest submission) ...", flush=True)
        mem = worker_memory(fresh(base, tmp / "memory"),
                            base / "submitted" / honest / ASSIGNMENT / f"{NOTEBOOK}.ipynb",
                            timeout, tmp / "memory.log")

        times: dict[str, float] = {}
        scores: dict[str, dict[str, float | None]] = {}
        grading_s: dict[str, float] = {}
        stock_failed: list[str] = []
        nbgrader = ["-m", "nbgrader", "autograde", ASSIGNMENT, "--force"]

        def trusted(course: Path, workers: int, *extra: str) -> list[str]:
            return ["-m", "edulib.grading", "autograde", ASSIGNMENT, "--course", str(course),
                    "--workers", str(workers), "--cell-timeout", f"{timeout:g}", "--no-progress",
                    *extra]

        runs = [("stock", "stock nbgrader (kernel per notebook), serial"),
                ("serial", "trusted, serial: --no-nbgrader, then nbgrader autograde"),
                ("parallel", f"trusted, {w} workers: --no-nbgrader, then nbgrader autograde")]
        if args.whole:
            runs += [("serial_whole", "trusted, serial, one command"),
                     ("parallel_whole", f"trusted, {w} workers, one command")]
        for key, label in runs:
            print(f"timing: {label} ...", flush=True)
            course = fresh(stock_base if key == "stock" else base, tmp / key)
            log = tmp / f"{key}.log"
            workers = 1 if key.startswith("serial") else w
            if key == "stock":
                times[key], rc = _run(nbgrader, course, log)
                stock_failed = _stock_failures(log)
                rc = 0 if rc == 1 and stock_failed else rc     # nbgrader's exit status for those
            elif key.endswith("_whole"):
                times[key], rc = _run(trusted(course, workers), course, log)
            else:
                times[f"{key}_trusted"], rc = _run(trusted(course, workers, "--no-nbgrader"),
                                                   course, log)
                if rc == 0:
                    log = tmp / f"{key}-nbgrader.log"
                    times[f"{key}_gradebook"], rc = _run(nbgrader, course, log)
                else:
                    times[f"{key}_gradebook"] = float("nan")
                times[key] = times[f"{key}_trusted"] + times[f"{key}_gradebook"]
            if rc != 0:
                problems.append(_failed(label, rc, log))
                print(problems[-1], file=sys.stderr)
            scores[key] = gradebook_scores(course, students)
            if key != "stock":
                results = trusted_results(course, students)
                scores[f"{key}_json"] = {s: None if r is None else r[0] for s, r in results.items()}
                if key == "serial":
                    grading_s = {s: r[1] for s, r in results.items() if r is not None}

        # ---------------------------------------------------------------- the table
        per = {k: t / n for k, t in times.items()}
        hanging = sum(k == "hanging" for k in kinds.values())
        print()
        print(f"N = {n} submissions of {ASSIGNMENT}/{NOTEBOOK}.ipynb ({hanging} hanging), "
              f"W = {w} workers, {os.cpu_count()} cores, cell timeout {timeout:g} s (a hanging "
              f"submission costs at least that in every pipeline)")
        print()
        print("| method | wall s | s / submission | submissions / min |")
        print("| --- | ---: | ---: | ---: |")
        rows = [("stock", "stock nbgrader: a kernel per notebook, serial (speed reference only)")]
        for key, who in (("serial", "serial"), ("parallel", f"{w} workers")):
            rows += [(key, f"trusted, {who}: whole (sum of the two phases below)"),
                     (f"{key}_trusted", "... trusted grading + class report (--no-nbgrader)"),
                     (f"{key}_gradebook", "... nbgrader autograde on the cached results")]
            if args.whole:
                rows.append((f"{key}_whole", f"trusted, {who}: the whole command in one piece"))
        for key, label in rows:
            print(f"| {label} | {times[key]:.1f} | {per[key]:.2f} | {60 / per[key]:.1f} |")
        print()
        print(f"throughput, trusted {w} workers / serial: {times['serial'] / times['parallel']:.2f}x "
              f"whole, {times['serial_trusted'] / times['parallel_trusted']:.2f}x trusted phase "
              f"(ideal {min(w, os.cpu_count() or 1)}x; the gradebook phase is serial either way)")
        print(f"trusted serial / stock nbgrader: {times['serial'] / times['stock']:.2f}x the time "
              f"per submission ({times['stock'] / times['serial']:.2f}x the throughput); "
              f"trusted {w} workers / stock: {times['parallel'] / times['stock']:.2f}x the time "
              f"({times['stock'] / times['parallel']:.2f}x the throughput)")
        by_kind = {k: [grading_s[s] for s in students if kinds[s] == k and s in grading_s]
                   for k in KINDS}
        print("trusted grading seconds per notebook in the worker (serial run, mean by kind): "
              + ", ".join(f"{k} {sum(v) / len(v):.2f}" for k, v in by_kind.items() if v))
        line = (f"worker memory (one `edulib.grading grade` of an honest submission, "
                f"{mem['seconds']:.1f} s): largest single process {mem['maxrss']:.0f} MiB")
        if "tree_pss" in mem:
            line += (f"; whole process tree at its peak {mem['tree_pss']:.0f} MiB PSS "
                     f"({mem['tree_rss']:.0f} MiB summed RSS, shared pages counted per process)")
        print(line)

        # ---------------------------------------------------------------- the scores
        print()
        print(f"scores by kind of submission (of {MAX_SCORE:g}; '-': not in the gradebook; "
              f"a/b: several values)")
        print()
        print("| source of the score | " + " | ".join(KINDS) + " |")
        print("| --- |" + " ---: |" * len(KINDS))
        score_rows = [("stock", "stock nbgrader: gradebook")]
        for key, label in runs[1:]:
            score_rows += [(key, f"{label.split(':')[0]}: gradebook"), (f"{key}_json", "... trusted/ JSON")]
        for key, label in score_rows:
            ks = _kind_scores(scores[key], kinds)
            print(f"| {label} | " + " | ".join(ks[k] for k in KINDS) + " |")
        print("| expected of trusted grading | " + " | ".join(f"{EXPECTED[k]:g}" for k in KINDS)
              + " |")
        notes = []
        if stock_failed:
            notes.append(f"stock nbgrader could not process {len(stock_failed)} notebook(s) and "
                         f"exited with status 1: " + ", ".join(stock_failed))
        for key, label in score_rows:
            if key == "stock":
                bad = [s for s in students if kinds[s] == "honest" and scores[key][s] != MAX_SCORE]
            else:
                bad = [s for s in students if scores[key][s] != EXPECTED[kinds[s]]]
            if bad:
                problems.append(f"{label}: not the expected score: "
                                + ", ".join(f"{s} {scores[key][s]}" for s in bad))

        # ---------------------------------------------------------------- the projection
        students_c, chapters, cores = CLASS
        total = students_c * chapters
        speedup = times["serial_trusted"] / times["parallel_trusted"]
        ideal = total * per["serial_trusted"] / cores
        measured = ideal * min(cores, w) / speedup
        gradebook = total * per["parallel_gradebook"]
        print()
        print(f"projection: {students_c} students x {chapters} chapters = {total} notebooks on "
              f"{cores} cores, assuming every chapter costs what chapter 01 costs here (its "
              f"notebook, this mix of submissions: {hanging} of {n} hanging for {timeout:g} s):")
        print(f"- stock nbgrader, serial: {total * per['stock'] / 60:.0f} min")
        print(f"- trusted grading, {cores} workers: {ideal / 60:.1f} min if it scales linearly from "
              f"the serial run ({per['serial_trusted']:.2f} s per notebook), {measured / 60:.1f} min "
              f"at the efficiency measured here ({speedup:.2f}x on {w} workers = "
              f"{speedup / min(w, os.cpu_count() or 1):.0%} of the cores used)")
        print(f"- then nbgrader's gradebook phase, serial: {gradebook / 60:.1f} min "
              f"({per['parallel_gradebook']:.2f} s per notebook); total "
              f"{(ideal + gradebook) / 60:.0f}-{(measured + gradebook) / 60:.0f} min")
        print(f"  (per-notebook times here include each command's fixed start-up, and the class "
              f"report's plot, spread over {n} notebooks: upper bounds, most of all for the "
              f"gradebook phase at small N)")
        if "tree_pss" in mem:
            print(f"- memory: {cores} workers x {mem['tree_pss']:.0f} MiB = "
                  f"{cores * mem['tree_pss'] / 1024:.1f} GiB")
        print()
        print(f"run took {time.perf_counter() - t_start:.0f} s; load average (1 min) "
              f"{load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (other processes "
              f"on the machine skew the times)")
        for title, lines in (("notes", notes), ("problems", problems)):
            if lines:
                print(f"\n{title}:")
                for p in lines:
                    print(f"- {p}")
    finally:
        if args.keep:
            print(f"\ncourse folders and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
