"""The sandboxed side of trusted grading: runs a learner's cells and calls their answers.

Started by :mod:`edulib.grading.trusted` as ``python -I -m edulib.grading.child`` (inside
bubblewrap where available), it speaks JSON lines: stdin brings requests, stdout carries events.

1. The process (the *base*) imports the libraries once and serves notebook after notebook:
   each first line names a notebook's locked cells (setup, data), for which the base forks the
   notebook's *zygote*, which runs those cells; no learner code runs in either.
2. Every further line asks for one graded item. The zygote forks a child for it, which

   * replaces the code of the library functions the item must not call (and of every
     reference answer in :mod:`edulib.exercises`) with a tripwire that reports and raises, so
     renaming, ``__import__`` or keeping a reference in a variable all reach the tripwire;
   * installs an audit hook (:func:`sys.addaudithook` cannot be undone) that refuses
     processes, signals, sockets, ``ctypes``, the garbage collector's object lists, new code
     objects, other autograd libraries, reading edulib's own source files or the instructor's
     files, and writing outside the working directory;
   * runs the learner's cells, reporting each cell's start and end, then the item's cases,
     each answer sent back as plain data (:mod:`edulib.grading.wire`).

   The zygote enforces the time limits (per cell, per item) and reports a child that dies
   or hangs, so the instructor's side knows the cell or case at fault.

Nothing here scores anything: the instructor's process judges the answers.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib
import io
import json
import linecache
import marshal
import os
import pkgutil
import select
import shutil
import signal
import sys
import time
import traceback
import types
import warnings
from typing import Any

__all__ = ["main"]

# functions of edulib.exercises the child itself calls (drivers, recipes, the call wrapper);
# every other function there holds or computes reference answers and is tripwired
CHILD_SAFE = frozenset({
    "engine._call_here", "engine._copy", "engine._mutations", "engine._same", "engine._change",
    "engine._portable", "engine._describe_exception", "engine.materialize", "engine.Recipe.build",
    "engine._digits_split", "engine.recipe", "engine._returned", "engine._drive_without",
    "engine._schedule_values",
    "engine._adam_step_off", "engine._warmup_cosine_off", "engine._two_loop_off",
    "ch02.test_function", "ch02._quadratic_matrix", "ch02.lr_max_matrix",
    "ch03._drive_momentum", "ch03._drive_adam", "ch03._drive_schedule", "ch03._halved",
    "ch03.valley_matrix", "ch04.sharpness_problem", "ch04.sharpness_matvec",
    "ch05._drive_log_uniform", "ch05._drive_ema", "ch05._drive_one_cycle", "ch05._log_uniform_off",
    "ch05.search_lab_split",
})
# modules whose autograd would do an exercise's work
DENIED_IMPORTS = frozenset({"torch", "jax", "jaxlib", "tensorflow", "autograd", "mxnet",
                            "cffi", "_posixsubprocess"})
DENIED_EVENTS = ("os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                 "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill", "pty.",
                 "socket.", "ctypes.", "gc.get_", "sys._current_frames", "code.__new__",
                 "sys.remote_exec", "_winapi.", "winreg.",
                 # links and a changing working directory would retarget a path between the
                 # hook's check and the kernel's open (os.chdir also covers os.fchdir)
                 "os.symlink", "os.link", "os.chdir")
WRITE_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
                "os.truncate", "os.utime", "shutil.")
# what a process may read of its own /proc entry (and of its threads' task/<tid>/ entries):
# never fd/, cwd, root, exe, map_files, mem or environ
PROC_SELF_SAFE = frozenset({"status", "stat", "statm", "maps", "smaps", "smaps_rollup", "limits",
                            "cgroup", "mountinfo", "mounts", "sched", "io", "comm", "cpuset",
                            "numa_maps", "oom_score", "personality", "schedstat", "wchan"})

EXERCISE_MODULES = ("engine", "ch01", "ch02", "ch03", "ch04", "ch05")
MAX_EVENT_BYTES = 64 * 1024 * 1024


class ForbiddenCall(Exception):
    """Raised by a tripwire: the answer called what the exercise asks the learner to write."""


# ------------------------------------------------------------------ events
_OUT = 1


def emit(event: dict[str, Any], fd: int | None = None) -> None:
    data = (json.dumps(event, separators=(",", ":")) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(_OUT if fd is None else fd, view):]


def _error_text(exc: BaseException, cell: str) -> str:
    """``Type: message (line L)`` using only the traceback's line numbers, so that formatting
    touches no frame and loads no source into linecache."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        line, tb = tb.tb_lineno, tb.tb_next
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    where = f" ({cell}, line {line})" if line else f" ({cell})"
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}){where}"
    return f"{type(exc).__name__}: {first}{where}" if first else f"{type(exc).__name__}{where}"


# ------------------------------------------------------------------ running cells
def _display(*objs: Any, **_: Any) -> None:
    for o in objs:
        print(repr(o))


def _strip_magics(source: str) -> str:
    """IPython magics and shell escapes commented out (no kernel here)."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.split("\n"))


def run_cell(ns: dict[str, Any], index: int, source: str) -> tuple[str, str, str]:
    """Execute one cell in ``ns``: (status "ok"/"error", error text, what it printed)."""
    buf = io.StringIO()
    status, error = "ok", ""
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = buf
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = compile(_strip_magics(source), f"<cell {index}>", "exec")
            exec(code, ns)  # noqa: S102 - running the learner's cell is the point
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
        status, error = "error", _error_text(exc, f"cell {index}")
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        _close_figures()
    return status, error, buf.getvalue()[-4000:]


def _close_figures() -> None:
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        with contextlib.suppress(Exception):
            plt.close("all")


# ------------------------------------------------------------------ tripwires
def _resolve(target: str) -> tuple[Any, str, Any]:
    """(owner, attribute name, function) of ``"package.module:Qual.name"``."""
    modname, qual = target.split(":")
    owner: Any = importlib.import_module(modname)
    parts = qual.split(".")
    for part in parts[:-1]:
        owner = getattr(owner, part)
    raw = owner.__dict__.get(parts[-1]) if isinstance(owner, type) else getattr(owner, parts[-1])
    if isinstance(raw, (staticmethod, classmethod)):
        raw = raw.__func__
    return owner, parts[-1], raw


def _exercise_targets() -> list[str]:
    """Every function and method defined in edulib.exercises that is not child-safe."""
    out = []
    for short in EXERCISE_MODULES:
        mod = importlib.import_module(f"edulib.exercises.{short}")
        for name, obj in vars(mod).items():
            if getattr(obj, "__module__", None) != mod.__name__:
                continue
            if isinstance(obj, type):           # methods; dunders hold no answers
                out += [f"{mod.__name__}:{name}.{attr}" for attr, v in vars(obj).items()
                        if isinstance(v, (types.FunctionType, staticmethod, classmethod))
                        and not (attr.startswith("__") and attr.endswith("__"))
                        and f"{short}.{name}.{attr}" not in CHILD_SAFE]
            elif callable(obj) and f"{short}.{name}" not in CHILD_SAFE:
                out.append(f"{mod.__name__}:{name}")
    return out


def _module_targets(module: str, allowed: set[str]) -> list[str]:
    """``module:*``: every function and method defined in ``module`` (dunders excepted)."""
    mod = importlib.import_module(module)
    out = []
    for name, obj in vars(mod).items():
        if getattr(obj, "__module__", None) != module:
            continue
        if isinstance(obj, type):
            out += [f"{module}:{name}.{attr}" for attr, v in vars(obj).items()
                    if isinstance(v, (types.FunctionType, staticmethod, classmethod))
                    and not (attr.startswith("__") and attr.endswith("__"))]
        elif isinstance(obj, types.FunctionType) or hasattr(obj, "__wrapped__"):
            out.append(f"{module}:{name}")
    return [t for t in out if t not in allowed]


def expand(targets: list[str], allowed: list[str] = ()) -> list[str]:
    """Targets with every ``module:*`` replaced by that module's functions (minus ``allowed``)."""
    keep = set(allowed)
    out: list[str] = []
    for t in targets:
        if t.endswith(":*"):
            out += _module_targets(t[:-2], keep)
        elif t.endswith(".*"):                  # module:Class.* -- every method of a class
            prefix = t[:-1]
            out += [u for u in _module_targets(t.split(":")[0], keep) if u.startswith(prefix)]
        else:
            out.append(t)
    return out


def install_tripwires(targets: list[str], report_fd: int) -> None:
    """Make every target report ``{"event": "forbidden"}`` on ``report_fd`` and raise."""

    def tripped(name: str) -> None:
        emit({"event": "forbidden", "name": name}, report_fd)
        raise ForbiddenCall(f"{name.replace(':', '.')} is edulib's own implementation of what "
                            "this exercise asks you to write")

    for target in targets:
        owner, attr, func = _resolve(target)
        wrapped = getattr(func, "__wrapped__", None)          # functools.lru_cache and friends
        if not isinstance(func, types.FunctionType) and isinstance(wrapped, types.FunctionType):
            func = wrapped
        if not isinstance(func, types.FunctionType):
            continue
        # a tripwire with the function's own globals, so that every reference to the function
        # object -- renamed, imported twice, stored in a list -- runs it
        func.__globals__["__edulib_tripped__"] = tripped
        src = f"def _tripwire(*args, **kwargs):\n    return __edulib_tripped__({target!r})\n"
        scratch: dict[str, Any] = {}
        exec(compile(src, func.__code__.co_filename, "exec"), scratch)  # noqa: S102
        code = scratch["_tripwire"].__code__.replace(co_name=func.__code__.co_name)
        if func.__code__.co_freevars:
            setattr(owner, attr, types.FunctionType(code, func.__globals__, func.__name__))
        else:
            func.__code__ = code
        func.__defaults__ = func.__kwdefaults__ = None


# ------------------------------------------------------------------ the audit hook
def fingerprint(code: types.CodeType) -> bytes:
    """What a code object computes, whatever its file name: a digest of its bytecode, names and
    constants (nested code objects by their own fingerprints)."""
    consts = tuple(fingerprint(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    try:
        blob = marshal.dumps((code.co_code, consts, code.co_names))
    except ValueError:                  # a constant marshal cannot write: its repr
        blob = marshal.dumps((code.co_code, repr(consts), code.co_names))
    return hashlib.sha256(blob).digest()


def edulib_fingerprints() -> frozenset[bytes]:
    """The fingerprint of every code object of edulib's loaded modules (module code, functions,
    methods, nested functions, comprehensions), from their source files."""
    out: set[bytes] = set()
    todo = []
    for name, mod in list(sys.modules.items()):
        path = getattr(mod, "__file__", None) or ""
        if not (name == "edulib" or name.startswith("edulib.")) or not path.endswith(".py"):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                todo.append(compile(f.read(), path, "exec"))
        except (OSError, SyntaxError, ValueError):
            continue
    while todo:
        code = todo.pop()
        out.add(fingerprint(code))
        todo += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return frozenset(out)


_EDULIB_FINGERPRINTS: frozenset[bytes] = frozenset()


def install_guard(deny_read: tuple[str, ...], write_root: str, edulib_dir: str,
                  sandbox_root: str) -> None:
    """An audit hook for learner code (see the module docstring); it cannot be removed.

    Paths must be absolute (a relative one may hide an ``os.open(..., dir_fd=...)`` whose folder
    the event does not show); reading is refused under ``deny_read``, edulib's folder, other
    processes' ``/proc`` entries and the other items' folders under ``sandbox_root``; writing is
    allowed in ``write_root`` only."""
    deny_read = tuple(os.path.realpath(p) for p in deny_read) + (edulib_dir,)
    write_root, sandbox_root = os.path.realpath(write_root), os.path.realpath(sandbox_root)
    me = str(os.getpid())

    def real(path: Any) -> str | None:
        """The path resolved, or None when it is refused outright: not absolute, with a ``..``
        component, or reaching a /proc entry other than the process's own harmless files on
        the way (``/proc/<me>/fd/N/...``, ``/dev/fd/N/...``, ``/proc/self/cwd/...``)."""
        if type(path) is bytes:
            path = path.decode("utf-8", "surrogateescape")
        if type(path) is not str or not path.startswith("/") or "\0" in path:
            return None
        if ".." in path.split("/"):
            return None
        final, links = walk(path)
        if final is None or not all(proc_ok(p) for p in [path, final, *links]):
            return None
        return final

    def walk(path: str) -> tuple[str | None, list[str]]:
        """Like os.path.realpath, also returning every symbolic link passed on the way."""
        todo = [p for p in reversed(path.split("/")) if p not in ("", ".")]
        cur, links = "/", []
        while todo:
            comp = todo.pop()
            if comp == "..":                # only from a link's target
                cur = os.path.dirname(cur)
                continue
            nxt = os.path.join(cur, comp)
            try:
                target = os.readlink(nxt)
            except OSError:
                cur = nxt
                continue
            links.append(nxt)
            if len(links) > 40:
                return None, links
            if target.startswith("/"):
                cur = "/"
            todo += [p for p in reversed(target.split("/")) if p not in ("", ".")]
        return cur, links

    def proc_ok(path: str) -> bool:
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2 or parts[0] != "proc":
            return True
        if parts[1].isdigit() and parts[1] != me:
            return False                    # another process
        if parts[1] not in (me, "self", "thread-self"):
            return True
        rest = parts[2:]
        if parts[1] == "thread-self":
            rest = ["task", "0", *rest]
        if rest[:1] == ["task"]:
            rest = rest[2:] if len(rest) > 2 else []
        return not rest or (len(rest) == 1 and rest[0] in PROC_SELF_SAFE)

    def inside(path: str, root: str) -> bool:
        return path == root or path.startswith(root.rstrip("/") + "/")

    def readable(path: str) -> bool:
        if any(inside(path, d) for d in deny_read):
            return False
        if inside(path, sandbox_root) and not inside(path, write_root):
            return False
        return proc_ok(path)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith(DENIED_EVENTS):
            raise PermissionError(f"not allowed while grading: {event}")
        if event == "open":
            if type(args[0]) is int:
                return
            path = real(args[0])
            if path is None and type(args[0]) in (str, bytes) and (
                    args[0][:1] in ("/", b"/")):    # '..', or through /proc/<me>/fd, cwd ...
                text = args[0] if type(args[0]) is str else args[0].decode("utf-8", "replace")
                raise PermissionError(f"not allowed while grading: reading {text}")
            if path is None:
                raise PermissionError("not allowed while grading: open() of a relative path or a "
                                      "non-path object (use an absolute path)")
            if not readable(path):
                raise PermissionError(f"not allowed while grading: reading {path}")
            mode, flags = args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else 0
            writes = (type(mode) is str and any(c in mode for c in "wax+")) or (
                type(flags) is int and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writes and not inside(path, write_root):
                raise PermissionError(f"not allowed while grading: writing {path}")
        elif event in ("os.listdir", "os.scandir"):
            if args and args[0] is not None and type(args[0]) is not int:
                arg = args[0].decode("utf-8", "surrogateescape") if type(args[0]) is bytes \
                    else args[0]
                path = real(os.path.join(os.getcwd(), arg) if type(arg) is str else arg)
                if path is None or not readable(path):
                    raise PermissionError(f"not allowed while grading: listing {args[0]!r}")
        elif event.startswith(WRITE_EVENTS):
            for a in args[:2]:
                if type(a) not in (str, bytes):
                    continue
                path = real(a)
                if path is None or not inside(path, write_root):
                    raise PermissionError(f"not allowed while grading: {event} {a!r}")
        elif event == "import":
            if type(args[0]) is str and args[0].split(".")[0] in DENIED_IMPORTS:
                raise ImportError(f"{args[0]} is not available while grading")
        elif event == "object.__setattr__":
            if len(args) > 1 and args[1] in ("__code__", "__globals__", "__closure__"):
                raise PermissionError(f"not allowed while grading: setting {args[1]}")
        elif event in ("function.__new__", "exec"):
            code = args[0]
            if isinstance(code, types.CodeType) and (
                    inside(real(code.co_filename) or "", edulib_dir)
                    or fingerprint(code) in _EDULIB_FINGERPRINTS):   # e.g. from marshal.loads
                raise PermissionError("not allowed while grading: running edulib's code objects")

    sys.addaudithook(hook)


# ------------------------------------------------------------------ one item, in a fork
def _call(fn: Any, case: dict[str, Any], wire: Any, engine: Any) -> dict[str, Any]:
    import functools

    try:            # building the inputs runs edulib code the learner's cells may have broken
        args = engine.materialize(wire.decode(case["args"]))
    except Exception as exc:  # noqa: BLE001
        return {"status": "raised", "value": None, "mutated": [], "dtype": "",
                "error": f"the case's inputs could not be built here: {_error_text(exc, 'grader')}"}
    names = case.get("names") or [f"argument {i}" for i in range(len(args))]
    driver = case.get("driver")
    if driver:
        modname, qual = driver.split(":")
        fn = functools.partial(getattr(importlib.import_module(modname), qual), fn)
    out = engine._call_here(fn, args, names)
    return {"status": out.status, "value": wire.encode(out.value) if out.status == "ok" else None,
            "error": out.error, "mutated": out.mutated, "dtype": out.dtype}


def run_item(ns: dict[str, Any], req: dict[str, Any], fd: int, cfg: dict[str, Any]) -> None:
    """Runs in the forked child: tripwires, guard, cells, then the item's cases or values."""
    from edulib.exercises import engine

    from . import wire

    devnull = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(devnull, std)
    os.close(_OUT)                          # only the zygote talks to the grader
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    install_tripwires(expand(req.get("forbidden", []), req.get("allowed", []))
                      + _exercise_targets(), fd)
    linecache.clearcache()
    own = os.path.join(cfg["workdir"], f"item-{os.getpid()}")   # nothing shared between items
    os.mkdir(own, 0o700)
    os.chdir(own)
    install_guard(tuple(cfg.get("deny_read", ())), own, cfg["edulib_dir"], cfg["root"])
    ns = dict(ns)
    for index, source in req["cells"]:
        emit({"event": "cell", "index": index}, fd)
        status, error, printed = run_cell(ns, index, source)
        emit({"event": "cell_done", "index": index, "status": status, "error": error,
              "stdout": printed}, fd)
    emit({"event": "cells_done"}, fd)
    answer = req["answer"]
    if req["kind"] == "cells":              # the feedback run: cells only
        pass
    elif req["kind"] == "function":
        fn = ns.get(answer)
        for k, case in enumerate(req["cases"]):
            if k < req.get("first_case", 0):
                continue
            emit({"event": "case", "index": k}, fd)
            emit({"event": "case_done", "index": k, **_call(fn, case, wire, engine)}, fd)
    else:
        solution = req.get("solution_source")
        for k, case in enumerate(req["cases"]):
            if k < req.get("first_case", 0):
                continue
            emit({"event": "case", "index": k}, fd)
            error = ""
            if case.get("bind") is not None:          # the solution cell again, other inputs
                try:
                    ns.update(engine.materialize(wire.decode(case["bind"])))
                except Exception as exc:  # noqa: BLE001
                    error = f"the case's inputs could not be built here: {_error_text(exc, 'grader')}"
                ns[answer] = None
                status, err, _ = run_cell(ns, -1, solution or "")
                error = error or err
            value = ns.get(answer)
            emit({"event": "case_done", "index": k, "status": "ok", "error": error,
                  "value": wire.encode(value)}, fd)
    emit({"event": "item_done"}, fd)


def _supervise(pid: int, rfd: int, req: dict[str, Any]) -> None:
    """Forward the child's events; kill it when a cell or the item overruns its limit.

    The learner's code can write to the event pipe too: a ``"cell"`` event counts only for the
    next cell of the request (each once), ``"cells_done"`` only once, and no event moves the
    absolute deadline, ``cell_limit * (cells + 1) + item_limit`` from the start."""
    cell_limit, item_limit = float(req["cell_timeout"]), float(req["timeout"])
    expected = [int(i) for i, _ in req.get("cells", [])]
    start = time.monotonic()
    hard = start + cell_limit * (len(expected) + 1) + item_limit
    deadline = start + cell_limit
    phase, buf, done, next_cell = "starting", b"", False, 0
    while True:
        left = min(deadline, hard) - time.monotonic()
        ready = select.select([rfd], [], [], max(left, 0.0))[0] if left > 0 else []
        if not ready:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            emit({"event": "killed", "phase": phase,
                  "limit": cell_limit if phase.startswith(("cell", "starting")) else item_limit})
            break
        chunk = os.read(rfd, 1 << 16)
        if not chunk:
            break
        buf += chunk
        if len(buf) > MAX_EVENT_BYTES:            # a flood without line ends: stop the child
            deadline = 0.0
            buf = b""
            continue
        *lines, buf = buf.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue                       # not ours: the learner wrote to the pipe
            if not isinstance(event, dict):
                continue
            event["child"] = True              # marks what the fork said (it cannot say "exit")
            kind = event.get("event")
            if kind == "cell":
                if phase == "cases" or next_cell >= len(expected) \
                        or event.get("index") != expected[next_cell]:
                    continue                   # forged: not the next cell
                next_cell += 1
                phase, deadline = f"cell {event['index']}", time.monotonic() + cell_limit
            elif kind == "cells_done":
                if phase == "cases":
                    continue
                phase, deadline = "cases", time.monotonic() + item_limit
            elif kind == "item_done":
                done = True
            emit(event)
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    emit({"event": "exit", "done": done, "code": os.waitstatus_to_exitcode(status)})


# ------------------------------------------------------------------ the zygote
def _preload() -> str:
    """Import what notebooks use, once, before any fork; returns edulib's folder."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import edulib

    for mod in pkgutil.walk_packages(edulib.__path__, "edulib."):
        if not mod.name.startswith(("edulib.grading", "edulib.widgets")):
            importlib.import_module(mod.name)
    for name in ("edulib.widgets", "ipywidgets", "matplotlib.pyplot", "sklearn.datasets",
                 "scipy.linalg", "scipy.special", "scipy.optimize"):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    from edulib import data

    with contextlib.suppress(Exception):
        data.digits(seed=0)                 # warms scikit-learn's loader cache
    builtins.display = _display             # type: ignore[attr-defined]
    global _EDULIB_FINGERPRINTS
    _EDULIB_FINGERPRINTS = edulib_fingerprints()
    return os.path.dirname(os.path.realpath(edulib.__file__))


def _readline() -> bytes:
    """One line from stdin without reading ahead (a forked zygote and the base share the pipe)."""
    out = bytearray()
    while True:
        ch = os.read(0, 1)
        if not ch or ch == b"\n":
            return bytes(out)
        out += ch


def serve_notebook(cfg: dict[str, Any]) -> None:
    """A notebook's zygote (a fork of the base): the instructor's locked cells, then one fork per
    item request, until the request ``{"end": true}``."""
    own = os.path.join(cfg["root"], f"notebook-{os.getpid()}")
    os.mkdir(own, 0o700)
    os.chdir(own)
    cfg = dict(cfg, workdir=own)
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    prelude = {}
    for index, source in cfg["prelude"]:
        status, error, _ = run_cell(ns, index, source)
        prelude[str(index)] = error if status == "error" else ""
    emit({"event": "ready", "prelude": prelude})
    while True:
        line = _readline()
        if not line:
            return
        req = json.loads(line)
        if req.get("end"):
            emit({"event": "ended"})
            return
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:                        # pragma: no cover - runs in the child
            os.close(rfd)
            try:
                run_item(ns, req, wfd, cfg)
            except BaseException:           # noqa: BLE001 - reported as a crash by the zygote
                with contextlib.suppress(Exception):
                    emit({"event": "internal_error",
                          "error": traceback.format_exc(limit=3)[-2000:]}, wfd)
            finally:
                os._exit(0)
        os.close(wfd)
        _supervise(pid, rfd, req)


def main() -> int:
    """The base process: imports once, then forks a zygote per notebook (one at a time)."""
    global _OUT
    _OUT = os.dup(1)                        # events go here; fd 1 goes to /dev/null
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = io.StringIO()
    edulib_dir = _preload()
    emit({"event": "base_ready"})
    while True:
        line = _readline()
        if not line:
            return 0
        cfg = dict(json.loads(line), edulib_dir=edulib_dir)
        pid = os.fork()
        if pid == 0:                        # pragma: no cover - runs in the notebook's zygote
            try:
                serve_notebook(cfg)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        shutil.rmtree(os.path.join(cfg["root"], f"notebook-{pid}"), ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
