"""Trusted grading against the red team's ways in: the class secret in the sandbox's init
process, racing the audit hook's path checks, forged events, carried-in code objects and hidden
cases that stay the same across resubmissions."""

from __future__ import annotations

from pathlib import Path

import pytest

from edulib.grading import sandbox, session
from edulib.grading.sandbox import Limits

SECRET = "hardening-test-secret-0123456789"


def _fresh_base() -> None:
    """Close this thread's base, so that the next session starts one with the current env."""
    base = getattr(session._BASES, "base", None)
    if base is not None:
        base.close()
        session._BASES.base = None


# --------------------------------------------------------------------------- 1. the secret
_SCAN = f"""
import os
secret = {SECRET!r}.encode()
seen, leaked = 0, []
for pid in os.listdir('/proc'):
    if not pid.isdigit() and pid not in ('self', 'thread-self'):
        continue
    try:
        with open('/proc/' + pid + '/environ', 'rb') as f:
            data = f.read()
    except OSError:
        continue
    seen += 1
    if secret in data or b'EDULIB_CLASS_SECRET' in data:
        leaked.append(pid)
raise RuntimeError(f'scanned {{seen}} leaked {{leaked}}')
"""


def test_no_process_in_the_sandbox_holds_the_secret(monkeypatch):
    """Bubblewrap's own init (PID 1 in the sandbox) starts with a bare environment: reading every
    /proc/*/environ from inside (here from an instructor cell, which runs before the audit hook)
    finds no secret."""
    if not sandbox.bwrap_works():
        pytest.skip("bubblewrap is not available here: the sandbox has no PID namespace")
    monkeypatch.setenv("EDULIB_CLASS_SECRET", SECRET)
    _fresh_base()
    try:
        s = session.Session([(0, _SCAN)], (), Limits(), 120.0)
        report = s.prelude[0]
        s.close()
    finally:
        _fresh_base()
    assert "scanned" in report, report
    assert "leaked []" in report, report
    assert int(report.split("scanned ")[1].split()[0]) >= 2, report    # bwrap's init and the child


# --------------------------------------------------------------------------- 2. path races
_GUARD = r"""
import os, sys, tempfile, threading
from edulib.grading import child
root = tempfile.mkdtemp()
own = os.path.join(root, 'item')
os.mkdir(own)
os.chdir(own)
edulib_dir = os.path.dirname(os.path.realpath(child.__file__)).rsplit('/', 1)[0]
open(own + '/mine.txt', 'w').write('mine')
os.mkdir(own + '/sub')
dfd = os.open(own + '/sub', os.O_RDONLY)
child.install_guard((), own, edulib_dir, root)
me = os.getpid()
tid = threading.get_native_id()
def attempt(name, f):
    try:
        f()
    except PermissionError:
        print(name, 'refused')
    except OSError as e:
        print(name, 'error', type(e).__name__)
    else:
        print(name, 'allowed')
attempt('symlink', lambda: os.symlink(own + '/sub', own + '/d'))
attempt('link', lambda: os.link(own + '/mine.txt', own + '/hard'))
attempt('chdir', lambda: os.chdir('/'))
attempt('fchdir', lambda: os.fchdir(dfd))
attempt('dotdot', lambda: open(own + '/sub/../mine.txt').read())
attempt('cwd', lambda: open(f'/proc/{me}/cwd/mine.txt').read())
attempt('selfcwd', lambda: open('/proc/self/cwd/mine.txt').read())
attempt('fd', lambda: open(f'/proc/{me}/fd/{dfd}/x').read())
attempt('selffd', lambda: open(f'/proc/self/fd/{dfd}/x').read())
attempt('devfd', lambda: open(f'/dev/fd/{dfd}/x').read())
attempt('root', lambda: open(f'/proc/{me}/root' + edulib_dir + '/__init__.py').read())
attempt('environ', lambda: open('/proc/self/environ', 'rb').read())
attempt('mem', lambda: open(f'/proc/{me}/mem', 'rb').read(1))
attempt('taskmem', lambda: open(f'/proc/{me}/task/{tid}/mem', 'rb').read(1))
attempt('threadmem', lambda: open('/proc/thread-self/mem', 'rb').read(1))
attempt('init', lambda: open('/proc/1/status').read())
attempt('edulib', lambda: open(edulib_dir + '/__init__.py').read())
attempt('listfd', lambda: os.listdir(f'/proc/{me}/fd'))
attempt('status', lambda: open('/proc/self/status').read())
attempt('maps', lambda: open(f'/proc/{me}/maps').read())
attempt('taskstat', lambda: open(f'/proc/{me}/task/{tid}/stat').read())
attempt('own', lambda: open(own + '/mine.txt').read())
attempt('write', lambda: open(own + '/new.txt', 'w').write('x'))
attempt('listown', lambda: os.listdir(own))
attempt('listrel', lambda: os.listdir())
"""


def test_the_guard_refuses_what_would_retarget_a_checked_path():
    """The red team's races swap a symlink, the working directory or a directory fd between the
    hook's check and the kernel's open: the guard refuses links, chdir, '..', and /proc/<me>
    (or /dev/fd) entries other than harmless files."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-I", "-c", _GUARD], capture_output=True, text=True,
                         timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    got = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    refused = ["symlink", "link", "chdir", "fchdir", "dotdot", "cwd", "selfcwd", "fd", "selffd",
               "devfd", "root", "environ", "mem", "taskmem", "threadmem", "init", "edulib", "listfd"]
    assert {k: got[k] for k in refused} == dict.fromkeys(refused, "refused"), got
    allowed = ["status", "maps", "taskstat", "own", "write", "listown", "listrel"]
    assert {k: got[k] for k in allowed} == dict.fromkeys(allowed, "allowed"), got


def _run_cells(cells: list[str], cell_timeout: float = 20.0) -> list[dict]:
    """Run learner cells in an item's fork, as grading does; their cell_done events."""
    s = session.Session([], (), Limits(), 120.0)
    try:
        req = {"answer": "", "kind": "cells", "cases": [], "timeout": 0.0,
               "cell_timeout": cell_timeout, "cells": [[i, c] for i, c in enumerate(cells)]}
        events = s.request(req, cell_timeout * (len(cells) + 1) + 30)
    finally:
        s.close()
    return [e for e in events if e.get("event") == "cell_done"]


def test_the_red_teams_races_read_nothing():
    """The three races of the red team's report, one second each, get nothing but errors."""
    import edulib

    target = str(Path(edulib.__file__).resolve().parent / "exercises" / "ch05.py")
    done = _run_cells([_RACES.replace("TARGET", target)])
    assert done[0]["status"] == "ok", done
    lines = done[0]["stdout"].splitlines()
    assert lines == ["symlink stolen False", "cwd stolen False", "fd stolen False"], lines
_RACES = r'''
import os, threading, time, sys
def race(flip, path, budget=1.0):
    stop = [False]
    def loop():
        i = 0
        while not stop[0]:
            try:
                flip(i)
            except OSError:
                pass
            i += 1
    th = threading.Thread(target=loop, daemon=True)
    sys.setswitchinterval(1e-6)
    th.start()
    got, t0 = None, time.time()
    while time.time() - t0 < budget and got is None:
        try:
            with open(path) as f:
                text = f.read()
            if not text.startswith("DECOY"):
                got = text
        except OSError:
            pass
    stop[0] = True
    th.join()
    sys.setswitchinterval(0.005)
    return got
W = os.getcwd()
target = "TARGET"
shallow = W + "/s"
deep = shallow + "/1/2/3/4/5"
os.makedirs(deep, exist_ok=True)
k = len([p for p in shallow.split("/") if p])
os.makedirs(os.path.dirname(shallow + target), exist_ok=True)
open(shallow + target, "w").write("DECOY")
def swap(i):
    os.symlink(shallow if i % 2 == 0 else deep, W + "/t")
    os.replace(W + "/t", W + "/d")
try:
    os.symlink(deep, W + "/d")
except OSError:
    pass
print("symlink stolen", race(swap, W + "/d/" + "../" * k + target.lstrip("/")) is not None)
rel = target.split("/edulib/", 1)[1]
os.makedirs(os.path.dirname(W + "/" + rel), exist_ok=True)
open(W + "/" + rel, "w").write("DECOY")
edu = target.split("/edulib/", 1)[0] + "/edulib"
print("cwd stolen", race(lambda i: os.chdir(edu if i % 2 == 0 else W),
                         f"/proc/{os.getpid()}/cwd/" + rel) is not None)
fs, fdp = os.open(shallow, os.O_RDONLY), os.open(deep, os.O_RDONLY)
N = os.dup(fdp)
print("fd stolen", race(lambda i: os.dup2(fs if i % 2 == 0 else fdp, N),
                        f"/proc/{os.getpid()}/fd/{N}/" + "../" * k + target.lstrip("/")) is not None)
'''


# --------------------------------------------------------------------------- 3. forged events
_KEEPALIVE = """import os, sys, time
f = sys._getframe()
while f is not None and "fd" not in f.f_locals:
    f = f.f_back
fd = f.f_locals["fd"]
k = 0
while True:                 # never ends, and keeps saying that a new cell started
    for index in (k, 0, 1, 999):
        os.write(fd, ('{"event": "cell", "index": %d}\\n' % index).encode())
    k += 1
    time.sleep(0.05)
"""


def test_forged_cell_events_do_not_keep_a_cell_alive():
    """A cell writing fake "cell" events for every index is stopped: only the next cell's event
    counts, and never past the absolute deadline, cell_timeout x (cells + 1) + the item's limit."""
    import time

    s = session.Session([], (), Limits(), 120.0)
    t0 = time.monotonic()
    try:
        req = {"answer": "", "kind": "cells", "cases": [], "timeout": 1.0, "cell_timeout": 2.0,
               "cells": [[0, "x = 1"], [1, _KEEPALIVE]]}
        events = s.request(req, 60.0)
    finally:
        s.close()
    took = time.monotonic() - t0
    assert any(e.get("event") == "killed" and not e.get("child") for e in events), events[-3:]
    assert 2.0 <= took < 2.0 * 3 + 1.0 + 5.0, took


_FORGE_LAB = """import sys, os, json
def _forge():
    f = sys._getframe()
    while f is not None and "req" not in f.f_locals:
        f = f.f_back
    if f is None or f.f_locals["req"].get("answer") != "tune_digits":
        return
    req, fd = f.f_locals["req"], f.f_locals["fd"]
    from edulib.grading import wire
    from edulib.exercises import engine
    for k, case in enumerate(req["cases"]):
        args = engine.materialize(wire.decode(case["args"]))
        split_ = args[-1]
        model = models.SoftmaxRegression(64, 10)
        params = model.init_params(seed=0)
        train.train(model, params, optim.SGD(params, lr=1.0), split_, epochs=3, batch_size=64)
        value = {"on": params, "off": "raised"} if case.get("driver") else params
        os.write(fd, (json.dumps({"event": "case_done", "index": k, "status": "ok",
                                  "value": wire.encode(value), "error": "", "mutated": [],
                                  "dtype": ""}) + "\\n").encode())
_forge()"""


def test_case_answers_forged_before_the_cases_do_not_score(tmp_path):
    """The red team's L4: the lab left as a stub, a cell writing case_done events for every lab
    case before the function ever runs. Only the answer to the case being run counts."""
    import nbformat

    from edulib.grading import release, trusted
    from edulib.grading.items import items_for

    root = Path(__file__).resolve().parents[1]
    source = root / "course" / "instructor" / "source" / "05_in_practice" / "05_exercises.ipynb"
    solved = release.solutions(source)
    out = tmp_path / "submission.ipynb"
    release.fill(root / "course" / "05_in_practice" / "05_exercises.ipynb",
                 {**solved, "tune_digits": "raise NotImplementedError()"}, out, (), [_FORGE_LAB])
    src = nbformat.read(source, as_version=4)
    sub = nbformat.read(out, as_version=4)
    cells = trusted.program(sub, src)
    item = next(it for it in items_for({"test_tune_digits"}) if it.test_id == "test_tune_digits")
    s = trusted.Session([(c.index, c.source) for c in cells if c.role == "locked"], (), Limits(),
                        120.0)
    try:
        plan = trusted._plan(cells, {i for i, e in s.prelude.items() if not e})
        grade = trusted._grade_item(s, item, cells, plan, SECRET, 30.0, {}, {}, set())
    finally:
        s.close()
    assert grade.points == 0.0, grade.feedback
    assert grade.passed == 0, grade.feedback


# --------------------------------------------------------------------------- 4. marshal
def test_edulib_code_carried_in_with_marshal_is_refused():
    """The red team's M1: edulib's reference, its code object marshalled with another file name,
    loaded and made a function again in a learner cell."""
    import base64
    import marshal

    from edulib.exercises import ch05

    code = ch05._batchnorm_reference.__code__.replace(co_filename="<mine>")
    blob = base64.b64encode(marshal.dumps(code)).decode()
    cell = ("import base64, marshal, types\n"
            f"code = marshal.loads(base64.b64decode({blob!r}))\n"
            "for how in ('function', 'exec'):\n"
            "    try:\n"
            "        types.FunctionType(code, globals()) if how == 'function' else exec(code, {})\n"
            "        print(how, 'allowed')\n"
            "    except PermissionError:\n"
            "        print(how, 'refused')\n"
            "mine = compile('def f(x):\\n    return x + 1\\n', '<mine>', 'exec').co_consts[0]\n"
            "print('own', types.FunctionType(mine, {})(1))\n")
    done = _run_cells([cell])
    assert done[0]["status"] == "ok", done
    assert done[0]["stdout"].splitlines() == ["function refused", "exec refused", "own 2"], done


# --------------------------------------------------------------------------- 5. hidden cases
def test_hidden_cases_change_with_the_learners_code():
    """The red team's A5: inputs leaked through a scout submission's feedback must not be the
    next submission's hidden cases. The seeds follow the learner's code; regrading the same
    notebook draws the same ones, and the instructor's cells do not count."""
    import nbformat

    from edulib.grading import trusted
    from edulib.grading.items import ITEMS, hidden_seeds

    item = ITEMS["01_losses"][0]
    base = hidden_seeds(SECRET, item)
    a, b = hidden_seeds(SECRET, item, "digest-a"), hidden_seeds(SECRET, item, "digest-b")
    assert a == hidden_seeds(SECRET, item, "digest-a") and len({tuple(base), tuple(a), tuple(b)}) == 3
    assert min(a + b) >= 1000
    with pytest.raises(TypeError, match="code"):
        hidden_seeds(SECRET, item, b"digest")

    def nb(solution: str, locked: str = "import numpy as np"):
        return nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell(locked, metadata={"nbgrader": {
                "grade_id": "setup", "locked": True, "solution": False, "grade": False}}),
            nbformat.v4.new_code_cell(solution, metadata={"nbgrader": {
                "grade_id": "f", "solution": True, "grade": False}})])

    src = nb("def f(x):\n    return x")
    one = trusted.code_digest(trusted.program(nb("def f(x):\n    return x"), src))
    again = trusted.code_digest(trusted.program(nb("def f(x):\n    return x", "import os"), src))
    other = trusted.code_digest(trusted.program(nb("def f(x):\n    return x  # v2"), src))
    assert one == again != other
    assert hidden_seeds(SECRET, item, one) != hidden_seeds(SECRET, item, other)
