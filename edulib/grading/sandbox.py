"""Starting the grading child in a sandbox, and saying plainly what the sandbox isolates.

On Linux with bubblewrap (Debian: ``apt-get install bubblewrap``) the child runs in fresh
namespaces (no network, its own process tree, an empty ``/tmp`` as its working directory) and
sees only the system's libraries, the Python installation and edulib's own package folder,
read-only: not the course, the instructor's sources, the gradebook or the home folder. On every
POSIX system it also runs from a clean interpreter (``python -I``) with an empty environment
(the class secret never reaches it) and resource limits (CPU time, address space, file size,
open files); inside, an audit hook refuses processes, sockets, ``ctypes`` and reading the
instructor's folders (:mod:`edulib.grading.child`). Without bubblewrap, grading goes on and
:func:`isolation` says what is missing.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass

__all__ = ["Limits", "bwrap_works", "isolation", "start_child"]


@dataclass(frozen=True)
class Limits:
    """Resource limits of one grading child (and each item's fork)."""

    cpu_seconds: int = 600
    memory_bytes: int = 4 * 1024**3
    file_bytes: int = 64 * 1024**2
    open_files: int = 256


def _bwrap() -> str | None:
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def bwrap_works() -> bool:
    """Whether bubblewrap is installed and may create namespaces here."""
    exe = _bwrap()
    if exe is None or not sys.platform.startswith("linux"):
        return False
    try:
        res = subprocess.run([exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                              "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


def isolation() -> str:
    """One sentence on what the grading child is isolated from on this machine."""
    if not hasattr(os, "fork"):
        return ("NOT ISOLATED: trusted grading needs fork() and POSIX resource limits "
                "(Linux or macOS; on Windows use WSL)")
    if bwrap_works():
        return ("sandboxed with bubblewrap: no network, own process tree, empty working "
                "directory, read-only view of Python and edulib only (no course files, no "
                "gradebook, no secret); CPU, memory, file-size and open-file limits; audit hook")
    return ("PARTLY ISOLATED (bubblewrap not available): clean interpreter, empty environment "
            "and working directory, CPU/memory/file-size limits and an audit hook that refuses "
            "processes, sockets and reading the course folder -- but no namespaces: install "
            "bubblewrap (Linux) for filesystem and network isolation")


def _site_dirs() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(sysconfig.get_paths()[key])
    paths |= {p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p}
    real = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})
    return [p for p in real if not any(p != q and p.startswith(q + "/") for q in real)]


def _edulib_dir() -> str:
    import edulib

    return os.path.dirname(os.path.realpath(edulib.__file__))


def _mpl_cache() -> str:
    """A matplotlib font cache the children read (built once here, so no child rebuilds it)."""
    path = os.path.join(tempfile.gettempdir(), f"edulib-grading-mpl-{os.getuid()}")
    if not os.path.exists(os.path.join(path, "ready")):
        os.makedirs(path, exist_ok=True)
        env = dict(os.environ, MPLCONFIGDIR=path, MPLBACKEND="Agg")
        subprocess.run([sys.executable, "-c", "import matplotlib.pyplot"], env=env,
                       capture_output=True, timeout=300)
        open(os.path.join(path, "ready"), "w").close()
    return path


def _child_env(workdir: str, mpl: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": workdir, "MPLBACKEND": "Agg", "MPLCONFIGDIR": mpl,
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8"}


def _set_limits(limits: Limits) -> None:
    import resource

    os.setsid()
    for res, value in ((resource.RLIMIT_CPU, limits.cpu_seconds),
                       (resource.RLIMIT_AS, limits.memory_bytes),
                       (resource.RLIMIT_FSIZE, limits.file_bytes),
                       (resource.RLIMIT_NOFILE, limits.open_files),
                       (resource.RLIMIT_CORE, 0)):
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            pass


def start_child(limits: Limits | None = None) -> tuple[subprocess.Popen, str, str]:
    """Start ``python -I -m edulib.grading.child`` in the best sandbox available; returns the
    process (stdin/stdout pipes), its working directory as the child sees it, and the host
    folder to remove afterwards."""
    if not hasattr(os, "fork"):
        raise RuntimeError(isolation())
    mpl = _mpl_cache()
    workdir = tempfile.mkdtemp(prefix="edulib-grade-")
    cmd = [sys.executable, "-I", "-m", "edulib.grading.child"]
    if bwrap_works():
        inner = "/tmp/work"
        args = [_bwrap(), "--unshare-all", "--die-with-parent", "--new-session",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", inner]
        for d in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/alternatives",
                  "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
            if os.path.islink(d):           # merged /usr: /lib -> usr/lib
                args += ["--symlink", os.readlink(d), d]
            else:
                args += ["--ro-bind-try", d, d]
        for d in _site_dirs() + [_edulib_dir()]:
            args += ["--ro-bind", d, d]
        args += ["--ro-bind", mpl, mpl, "--chdir", inner, "--clearenv"]
        for k, v in _child_env(inner, mpl).items():
            args += ["--setenv", k, v]
        # bubblewrap itself (PID 1 in the sandbox, whose /proc/1/environ the child can see)
        # starts with a bare environment too: nothing of the grader's, the class secret above all
        cmd, env, cwd = args + cmd, {"PATH": "/usr/bin:/bin"}, workdir
    else:
        env, cwd = _child_env(workdir, mpl), workdir
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, cwd=cwd,
                            preexec_fn=lambda: _set_limits(limits or Limits()))  # noqa: PLW1509
    return proc, ("/tmp/work" if bwrap_works() else workdir), workdir
