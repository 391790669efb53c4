r"""Self-checks for the exercises, shared by learners and the auto-grader (nbgrader).

Each ``check_*`` function runs the learner's answer on seeded inputs and edge cases (large
logits, one example, float32 ...), compares it with a reference and returns a
:class:`CheckResult`:

>>> res = check_mse_grad(mse_grad)    # prints a verdict: what was tested, expected vs received
>>> bool(res), res.score               # (True, 1.0) for a right answer, partial score otherwise
>>> res.points(2)                      # 2.0 * score: the last line of an nbgrader test cell

A wrong answer never raises. Each case runs the learner's function in a forked child process
(Linux, macOS) with a time limit (``timeout`` seconds for the whole check, default
``EDULIB_CHECK_TIMEOUT`` or 10): an exception of any kind (``SystemExit`` and
``KeyboardInterrupt`` included), a crash, an endless loop, a forgotten ``return`` (``None``), a
wrong shape, dtype or type, NaN, or changing the inputs in place is reported as a failed case
with a hint aimed at the likely mistake (off by a factor N, 2 or -1, transposed, float32
round-off, overflow at large logits, wrong reduction ...). Where ``fork`` is missing (Windows)
the function runs in the notebook's own process, without the time limit.

Only bad arguments to the check itself raise (``TypeError``/``ValueError`` naming the argument:
a string ``delta``, a negative ``timeout``). Learners' functions receive NumPy arrays.

Exercise checks by chapter (``CHECKS`` maps names to functions):

* chapter 01: ``mse_grad``, ``huber_grad``, ``hinge_grad``, ``bce_with_logits``,
  ``softmax_cross_entropy``, ``softmax_cross_entropy_grad``, ``loss_at_init`` (a number),
  ``robust_line`` (lab);
* chapter 02: ``numerical_gradient``, ``bug_location`` (a choice), ``fixed_loss_and_grad``,
  ``minibatch_sgd``, ``lr_max`` (a number), ``digits_lab`` (lab).
* chapter 03: ``momentum_step``, ``adam_step``, ``warmup_cosine`` (checked over whole
  trajectories against ``edulib.optim`` / ``edulib.schedules``), ``mu_star`` (a number),
  ``adaptive_lab`` (lab);
* chapter 04: ``softmax_hvp``, ``classify_point``, ``two_loop``, ``lbfgs_lab`` (lab); the
  learning rate from power iteration is checked by ``check_lr_max``.
"""

from __future__ import annotations

import functools
import io
import math
import os
import pickle
import select
import signal
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _checks as chk
from . import losses
from .backend import rng as make_rng

__all__ = [
    "CHECKS",
    "CaseResult",
    "CheckResult",
    "Outcome",
    "check_bce_with_logits",
    "check_bug_location",
    "check_digits_lab",
    "check_fixed_loss_and_grad",
    "check_hinge_grad",
    "check_huber_grad",
    "check_loss_at_init",
    "check_lr_max",
    "check_minibatch_sgd",
    "check_mse_grad",
    "check_numerical_gradient",
    "check_robust_line",
    "check_softmax_cross_entropy",
    "check_softmax_cross_entropy_grad",
    "digits_lab_baseline",
    "planted_bug_loss_and_grad",
    "run_isolated",
]

_CAN_FORK = hasattr(os, "fork") and sys.platform != "win32"


def default_timeout() -> float:
    """Seconds allowed for one whole check: ``EDULIB_CHECK_TIMEOUT`` if set, else 10."""
    raw = os.environ.get("EDULIB_CHECK_TIMEOUT", "10")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"EDULIB_CHECK_TIMEOUT must be a number of seconds, received {raw!r}") from None
    if not value > 0:
        raise ValueError(f"EDULIB_CHECK_TIMEOUT must be > 0, received {raw!r}")
    return value


# =========================================================================== results
@dataclass
class CaseResult:
    """One tested case: its name, whether it passed, and (when not) what differed and a hint."""

    name: str
    passed: bool
    message: str = ""
    hint: str = ""

    def __str__(self) -> str:
        if self.passed:
            return f"  ok    {self.name}" + (f": {self.message}" if self.message else "")
        text = f"  FAIL  {self.name}: {self.message}"
        if self.hint:
            text += f"\n        hint: {self.hint}"
        return text


@dataclass
class CheckResult:
    """Outcome of a self-check: truthy when every case passed.

    ``cases`` holds one :class:`CaseResult` per case; ``score`` is the fraction passed;
    ``failures`` one line per failed case ("case: what differed. Hint: ...");
    ``points(p)`` the partial credit ``p * score`` as a plain float (nbgrader reads it).
    """

    name: str
    cases: list[CaseResult] = field(default_factory=list)
    tested: str = ""

    @property
    def n_cases(self) -> int:
        return len(self.cases)

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(c.passed for c in self.cases)

    @property
    def score(self) -> float:
        if not self.cases:
            return 0.0
        return sum(c.passed for c in self.cases) / len(self.cases)

    @property
    def failures(self) -> list[str]:
        return [f"{c.name}: {c.message}" + (f" Hint: {c.hint}" if c.hint else "")
                for c in self.cases if not c.passed]

    @property
    def hints(self) -> list[str]:
        return [c.hint for c in self.cases if not c.passed and c.hint]

    def points(self, max_points: float) -> float:
        """Partial credit ``max_points * score``, rounded to 1e-4, as a Python float."""
        m = chk.check_number(max_points, "max_points", low=0.0, low_open=True)
        return float(round(m * self.score, 4))

    def __bool__(self) -> bool:
        return self.passed

    def __add__(self, other: CheckResult) -> CheckResult:
        """Both checks' cases in one result (e.g. visible plus hidden tests of one exercise)."""
        if not isinstance(other, CheckResult):
            return NotImplemented
        extra = other.cases
        if other.name != self.name:
            extra = [CaseResult(f"{other.name}: {c.name}", c.passed, c.message, c.hint)
                     for c in other.cases]
        return CheckResult(self.name, self.cases + extra, self.tested)

    def __str__(self) -> str:
        head = f" ({self.tested})" if self.tested else ""
        if self.passed:
            what = f"all {self.n_cases} cases pass" if self.n_cases > 1 else "correct"
            lines = [f"PASS {self.name}: {what}{head}."]
            lines += [f"  ok    {c.name}: {c.message}" for c in self.cases if c.message]
            return "\n".join(lines)
        n_ok = sum(c.passed for c in self.cases)
        lines = [f"FAIL {self.name}: {n_ok} of {self.n_cases} cases pass, score "
                 f"{self.score:.2f}{head}."]
        # cases failing with the same message and hint are listed once, on one line
        groups: list[list[CaseResult]] = []
        for c in self.cases:
            prev = groups[-1][0] if groups else None
            if (prev is not None and not c.passed and not prev.passed
                    and (c.message, c.hint) == (prev.message, prev.hint)):
                groups[-1].append(c)
            else:
                groups.append([c])
        for g in groups:
            names = ", ".join(c.name for c in g)
            lines.append(str(CaseResult(names, g[0].passed, g[0].message, g[0].hint)))
        return "\n".join(lines)

    __repr__ = __str__


# =========================================================================== sandbox
@dataclass
class Outcome:
    """What happened when the learner's function was called.

    ``status``: ``"ok"`` (``value`` holds the result), ``"raised"`` (``error`` says what),
    ``"timeout"``, ``"crashed"`` (the child process died) or ``"unreadable"`` (the result could
    not be sent back). ``mutated`` names the inputs changed in place; ``dtype`` is the result's
    dtype where it has one; ``stdout`` what the function printed.
    """

    status: str
    value: Any = None
    error: str = ""
    mutated: list[str] = field(default_factory=list)
    dtype: str = ""
    stdout: str = ""


def _same(a: Any, b: Any) -> bool:
    """Exact equality of (nested) inputs, NaN equal to NaN."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, Mapping):
        return (isinstance(b, Mapping) and set(a) == set(b)
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, (list, tuple)):
        return (isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b, strict=True)))
    try:
        return bool(a is b or a == b)
    except Exception:  # noqa: BLE001 - an odd object compares unequal
        return False


def _change(a: Any, b: Any) -> str:
    """How much array ``a`` moved away from ``b`` (for the mutation message)."""
    if (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
            and a.dtype.kind in "fiu" and b.dtype.kind in "fiu"):
        with np.errstate(all="ignore"):
            d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        d = d[np.isfinite(d)]
        if d.size:
            return f" (largest change {float(d.max()):.2g})"
    return ""


def _mutations(names: Sequence[str], args: Sequence[Any], pristine: Sequence[Any]) -> list[str]:
    return [n + _change(a, p) for n, a, p in zip(names, args, pristine, strict=True)
            if not _same(a, p)]


def _copy(a: Any) -> Any:
    if isinstance(a, np.ndarray):
        return a.copy()
    if isinstance(a, Mapping):
        return {k: _copy(v) for k, v in a.items()}
    if isinstance(a, list):
        return [_copy(v) for v in a]
    if isinstance(a, tuple):
        items = [_copy(v) for v in a]
        return type(a)(*items) if hasattr(a, "_fields") else tuple(items)
    return a


def _portable(value: Any) -> tuple[Any, str]:
    """The value as NumPy/Python data (arrays from other libraries converted) and its dtype."""
    dtype = str(getattr(value, "dtype", ""))
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, np.generic,
                                           np.ndarray)):
        return value, dtype
    if isinstance(value, Mapping):
        return {k: _portable(v)[0] for k, v in value.items()}, dtype
    if isinstance(value, (list, tuple)):
        items = [_portable(v)[0] for v in value]
        return (type(value)(*items) if hasattr(value, "_fields") else type(value)(items)), dtype
    if hasattr(value, "__array__") or hasattr(value, "__dlpack__"):
        try:
            from .backend import to_numpy

            return to_numpy(value), dtype
        except Exception:  # noqa: BLE001 - fall through: sent as it is, or reported unreadable
            pass
    return value, dtype


def _call_here(fn: Callable[..., Any], args: Sequence[Any], names: Sequence[str]) -> Outcome:
    """Call ``fn(*args)`` in this process; every exception becomes an Outcome."""
    pristine = _copy(list(args))
    buf = io.StringIO()
    old_out, old_err = sys.stdout, sys.stderr
    try:
        sys.stdout = sys.stderr = buf
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = fn(*args)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and friends are learner errors too
        sys.stdout, sys.stderr = old_out, old_err
        mutated = _mutations(names, args, pristine)
        return Outcome("raised", error=_describe_exception(exc), mutated=mutated,
                       stdout=buf.getvalue()[-2000:])
    finally:
        sys.stdout, sys.stderr = old_out, old_err
    mutated = _mutations(names, args, pristine)
    value, dtype = _portable(value)
    return Outcome("ok", value=value, mutated=mutated, dtype=dtype, stdout=buf.getvalue()[-2000:])


def _describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0][:300] if text else ""
    name = type(exc).__name__
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}): the function called sys.exit() or exit()"
    return f"{name}: {first}" if first else name


def _child(fn: Callable[..., Any], args: Sequence[Any], names: Sequence[str], wfd: int) -> None:
    """Runs in the forked child: call, pickle the Outcome into the pipe, leave with _exit."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # nothing the learner prints reaches the notebook's stderr
            os.dup2(devnull, fd)
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        except (ValueError, OSError):
            pass
        out = _call_here(fn, args, names)
        try:
            data = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - e.g. a generator or a lambda was returned
            data = pickle.dumps(Outcome("unreadable", error=type(out.value).__name__,
                                        mutated=out.mutated))
        view = memoryview(data)
        while view:
            n = os.write(wfd, view)
            view = view[n:]
    finally:
        os._exit(0)


def run_isolated(fn: Callable[..., Any], args: Sequence[Any], *, names: Sequence[str] | None = None,
                 timeout: float | None = None) -> Outcome:
    """Call ``fn(*args)`` in a forked child process with a time limit; never raises for
    anything ``fn`` does. ``args`` are copied, so the caller's arrays stay intact; ``names``
    label the arguments in ``Outcome.mutated``."""
    chk.check_callable(fn, "fn", "a function")
    timeout = default_timeout() if timeout is None else chk.check_number(
        timeout, "timeout", low=0.0, low_open=True)
    args = [_copy(a) for a in args]
    names = list(names) if names is not None else [f"argument {i}" for i in range(len(args))]
    if not _CAN_FORK:
        return _call_here(fn, args, names)
    rfd, wfd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Python 3.12+: "multi-threaded, fork() may deadlock"
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(rfd)
        _child(fn, args, names, wfd)
    os.close(wfd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    finished = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(rfd, 1 << 16)
            if not chunk:
                finished = True
                break
            chunks.append(chunk)
    finally:
        os.close(rfd)
        if not finished:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.waitpid(pid, 0)
    if not finished:
        return Outcome("timeout", error=f"no result within the time limit of {timeout:g} s")
    try:
        return pickle.loads(b"".join(chunks))
    except Exception:  # noqa: BLE001 - the child died before sending a whole result
        return Outcome("crashed", error="the function crashed the process (os._exit, a "
                                        "segmentation fault or out of memory)")


# =========================================================================== comparing
def _fmt_index(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def _as_numbers(value: Any) -> tuple[np.ndarray | None, str]:
    """``value`` as a float64 array, or None and a sentence saying why it is not numbers."""
    if value is None:
        return None, ("received None: the function returns nothing -- did you forget the "
                      "`return` statement?")
    if isinstance(value, (str, bytes)):
        return None, f"expected an array of numbers, received the text {value!r:.40}"
    if isinstance(value, Mapping):
        return None, f"expected an array of numbers, received a dict with keys {sorted(value)}"
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - ragged lists and odd objects
        return None, f"expected an array of numbers, received {type(value).__name__}"
    if arr.dtype.kind == "c":
        return None, "expected real numbers, received complex numbers"
    if arr.dtype.kind not in "biuf":
        return None, f"expected an array of numbers, received {type(value).__name__} " \
                     f"(dtype {arr.dtype})"
    return arr.astype(np.float64), ""


@dataclass
class _Expect:
    """What a case expects, and what it knows about the likely mistakes."""

    want: np.ndarray
    rtol: float = 1e-7
    atol: float = 1e-10
    factors: dict[str, float] = field(default_factory=dict)     # name -> size (N, C ...)
    alternatives: list[tuple[np.ndarray, str]] = field(default_factory=list)
    overflow_hint: str = ""
    float32_input: bool = False


def _close(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> bool:
    return got.shape == want.shape and bool(
        np.all(np.abs(got - want) <= atol + rtol * np.abs(want)))


def _factor_hint(got: np.ndarray, want: np.ndarray, factors: Mapping[str, float]) -> str:
    """A sentence when ``got`` is a constant multiple of ``want`` that a classic slip explains."""
    ww = float(np.sum(want * want))
    if ww == 0.0 or not np.all(np.isfinite(got)):
        return ""
    c = float(np.sum(got * want)) / ww
    if np.linalg.norm(got - c * want) > 1e-6 * math.sqrt(ww) or abs(c - 1.0) < 1e-9:
        return ""
    known: list[tuple[float, str]] = []
    for name, n in factors.items():
        if n > 1:
            known += [(n, f"{c:.6g} = {name} times the reference: you summed over the {name} "
                          f"entries instead of averaging (a missing 1/{name})"),
                      (1.0 / n, f"the reference divided by {name}: you divided by {name} "
                                f"twice, or averaged over the wrong axis"),
                      (-n, f"-{name} times the reference: a sign flip and a missing 1/{name}")]
    known += [(2.0, "twice the reference: an extra factor 2"),
              (0.5, "half the reference: a missing factor 2 (the derivative of r^2 is 2r)"),
              (-1.0, "the sign is flipped: the gradient points uphill, check which term is "
                     "subtracted"),
              (-2.0, "-2 times the reference: a sign flip and an extra factor 2"),
              (-0.5, "-1/2 times the reference: a sign flip and a missing factor 2")]
    for value, text in known:
        if abs(c - value) <= 1e-6 * abs(value):
            return text
    if want.size < 2:   # one number is always "a multiple": only the named slips say something
        return ""
    return f"your answer is {c:.4g} times the reference everywhere: a constant factor is wrong"


def _diagnose(value: Any, out_dtype: str, exp: _Expect) -> tuple[bool, str, str]:
    """(passed, message, hint) for the learner's ``value`` against ``exp``."""
    want = exp.want
    got, why = _as_numbers(value)
    if got is None:
        return False, why, ""
    # ------------------------------------------------------------------ shape
    if got.shape != want.shape:
        msg = f"expected shape {want.shape}, received shape {got.shape}"
        if want.ndim == 0 and got.ndim >= 1 and got.size > 1:
            if np.all(np.isfinite(got)) and abs(float(np.mean(got)) - float(want)) <= \
                    exp.atol + exp.rtol * abs(float(want)):
                return False, msg, ("wrong reduction: you returned one value per example; "
                                    "the loss is their mean (np.mean)")
            return False, msg, "the loss is a single number: reduce with a mean over the batch"
        if want.ndim >= 1 and got.ndim == 0:
            return False, msg, ("you returned a single number; the answer has one entry per "
                                f"input element, shape {want.shape}")
        if want.ndim == 2 and got.shape == want.shape[::-1]:
            if _close(got.T, want, exp.rtol, exp.atol):
                return False, msg, "transposed: your answer is the reference's transpose (.T)"
            return False, msg, "the axes are swapped: return shape (N, C), one row per example"
        if got.size == want.size:
            return False, msg, "the right number of entries in the wrong shape: keep the input's shape"
        return False, msg, ""
    low_precision = out_dtype in ("float16", "float32", "bfloat16")
    if _close(got, want, exp.rtol, exp.atol):
        if low_precision and not exp.float32_input:
            return False, f"received {out_dtype} where the inputs are float64", (
                "float32 round-off: the numbers agree to float32 precision, but the answer "
                "should keep the inputs' float64")
        return True, "", ""
    if want.ndim == 2 and want.shape[0] == want.shape[1] and _close(got.T, want, exp.rtol, exp.atol):
        return False, "the entries sit in transposed places", \
            "transposed: use .T (or swap the matrix product)"
    # ------------------------------------------------------------------ where and how much
    finite_want = np.isfinite(want)
    bad_finite = ~np.isfinite(got) & finite_want
    diff = np.where(np.isfinite(got), np.abs(got - want), np.inf)
    tol = exp.atol + exp.rtol * np.abs(want)
    wrong = diff > tol
    k = int(np.argmax(np.where(wrong, diff - tol, -np.inf)))
    where = f" at index {_fmt_index(np.unravel_index(k, want.shape))}" if want.ndim else ""
    n_wrong = int(np.sum(wrong))
    count = f" ({n_wrong} of {want.size} entries differ)" if want.ndim else ""
    w_k, g_k = float(want.reshape(-1)[k]) + 0.0, float(got.reshape(-1)[k]) + 0.0
    digits = 10 if abs(g_k - w_k) < 1e-4 * abs(w_k) else 6   # show where close numbers differ
    msg = f"expected {w_k:.{digits}g}, received {g_k:.{digits}g}{where}{count}"
    if np.any(bad_finite):
        n_bad = int(np.sum(bad_finite))
        msg = (f"{n_bad} non-finite value(s) (nan/inf) where the reference is finite; "
               f"expected {want.reshape(-1)[k]:.6g}, received {got.reshape(-1)[k]}{where}")
        return False, msg, exp.overflow_hint or (
            "NaN or inf: something overflowed or divided by zero -- is the computation stable "
            "for large inputs?")
    for alt, text in exp.alternatives:
        if alt.shape == got.shape and _close(got, alt, max(exp.rtol, 1e-9), max(exp.atol, 1e-12)):
            return False, msg, text
    hint = _factor_hint(got, want, exp.factors)
    if hint:
        return False, msg, hint
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    rel = float(np.max(diff)) / max(scale, 1e-300)
    if rel < 1e-4:
        if low_precision and not exp.float32_input:
            return False, msg + f", relative error {rel:.1e}", (
                "float32 round-off, not a wrong formula: your result is float32 -- compute in "
                "float64 like the inputs")
        if exp.float32_input:
            return False, msg + f", relative error {rel:.1e}", (
                "small, but more than float32 round-off allows here")
        return False, msg + f", relative error {rel:.1e}", (
            "close but not equal: more than round-off -- an epsilon, a clip or an "
            "approximation changes the result slightly")
    if exp.float32_input:
        return False, msg, ("a real error, far beyond float32 round-off (relative error "
                            f"{rel:.1e})")
    return False, msg, ""


# =========================================================================== running cases
@dataclass
class _Case:
    name: str
    args: tuple[Any, ...]
    expect: _Expect | None = None
    judge: Callable[[Any], tuple[bool, str, str]] | None = None   # for non-array answers


def _learner_answer_problem(fn: Any, label: str) -> str:
    if fn is None:
        return (f"{label} is None: run the cell that defines it (and replace `raise "
                f"NotImplementedError()` with your code)")
    if not callable(fn):
        return f"{label} must be a function, received {type(fn).__name__}"
    return ""


def _run(title: str, fn: Any, cases: list[_Case], names: Sequence[str], *, timeout: float | None,
         verbose: bool, tested: str, label: str = "fn") -> CheckResult:
    timeout = default_timeout() if timeout is None else chk.check_number(
        timeout, "timeout", low=0.0, low_open=True)
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be True or False, received {type(verbose).__name__}")
    res = CheckResult(name=title, tested=tested)
    problem = _learner_answer_problem(fn, label)
    if problem:
        res.cases = [CaseResult(c.name, False, problem) for c in cases]
        if verbose:
            print(res)
        return res
    deadline = time.monotonic() + timeout
    timed_out = False
    for case in cases:
        left = deadline - time.monotonic()
        if timed_out or left <= 0:
            res.cases.append(CaseResult(case.name, False, "not run: the time limit was used up",
                                        "make the function faster (no endless loop?)"))
            continue
        out = run_isolated(fn, case.args, names=names, timeout=left)
        res.cases.append(_judge(case, out, timeout))
        timed_out = out.status == "timeout"
    if verbose:
        print(res)
    return res


def _judge(case: _Case, out: Outcome, timeout: float) -> CaseResult:
    if out.status == "timeout":
        return CaseResult(case.name, False, f"timed out: no answer within {timeout:g} s",
                          "an endless loop? check the loop's stopping condition")
    if out.status == "crashed":
        return CaseResult(case.name, False, out.error, "")
    if out.status == "raised":
        hint = ""
        if out.error.startswith("NotImplementedError"):
            hint = "replace `raise NotImplementedError()` with your code"
        elif out.error.startswith("SystemExit"):
            hint = "return the answer instead of exiting"
        elif out.error.startswith(("KeyboardInterrupt", "GeneratorExit")):
            hint = "your code raised a BaseException: let it return the answer"
        return CaseResult(case.name, False, f"raised {out.error}", hint)
    if out.status == "unreadable":
        return CaseResult(case.name, False, f"returned a {out.error}, which is not an answer",
                          "return an array of numbers")
    if out.mutated:
        hint = "work on a copy (x = x.copy()) or restore every entry you change"
        if any("largest change" in m and float(m.rsplit(" ", 1)[1].rstrip(")")) < 1e-9
               for m in out.mutated):
            hint = ("round-off left behind: x[i] += h followed by x[i] -= h does not give back "
                    "x[i] exactly -- save old = x[i] and restore x[i] = old")
        return CaseResult(case.name, False, f"changed its input {', '.join(out.mutated)} in place",
                          hint)
    if case.judge is not None:
        ok, msg, hint = case.judge(out.value)
    else:
        assert case.expect is not None
        ok, msg, hint = _diagnose(out.value, out.dtype, case.expect)
    return CaseResult(case.name, ok, msg, hint)


# =========================================================================== chapter 01 inputs
def _regression_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, np.ndarray]]]:
    g = make_rng(seed)
    y_hat, y = g.standard_normal(7), g.standard_normal(7)
    return [
        ("random (7,)", (y_hat, y)),
        ("2-D input (3, 4)", (50.0 * g.standard_normal((3, 4)), g.standard_normal((3, 4)))),
        ("one element", (np.array([0.3]), np.array([-1.2]))),
        ("zero residual", (y.copy(), y.copy())),
    ]


_LSE_HINT = ("overflow at large logits: exp(1000) is inf in float64 -- subtract each row's "
             "maximum before exponentiating (log-sum-exp)")
_BCE_HINT = ("overflow at large logits: exp(-z) is inf for z << 0 -- use "
             "max(z, 0) - z*y + log1p(exp(-|z|))")


def _multiclass_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, np.ndarray]]]:
    g = make_rng(seed)
    return [
        ("random logits (8, 5)", (g.standard_normal((8, 5)), g.integers(0, 5, 8))),
        ("large logits (4, 3) ~1000", (np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 999.0],
                                                 [-1000.0, -1000.0, -999.0],
                                                 [800.0, 800.0, 800.0]]),
                                       np.array([0, 2, 1, 1]))),
        ("one example, 10 classes", (g.standard_normal((1, 10)), np.array([7]))),
        ("uniform logits = ln C", (np.zeros((3, 10)), np.array([0, 4, 9]))),
        ("float32 logits (6, 4)", (g.standard_normal((6, 4)).astype(np.float32),
                                   g.integers(0, 4, 6))),
    ]


def _ref_expect(want: Any, args: tuple[Any, ...], **kw: Any) -> _Expect:
    f32 = any(getattr(a, "dtype", None) == np.float32 for a in args)
    if f32:
        kw.setdefault("rtol", 1e-5)
        kw.setdefault("atol", 1e-6)
    return _Expect(np.asarray(want, dtype=np.float64), float32_input=f32, **kw)


# =========================================================================== chapter 01 checks
def check_mse_grad(fn: Callable[[Any, Any], Any], *, seed: int = 0, verbose: bool = True,
                   rtol: float = 1e-7, atol: float = 1e-10, timeout: float | None = None
                   ) -> CheckResult:
    r"""Check ``fn(y_hat, y)`` = :math:`\partial L/\partial \hat y` of
    :math:`L = \frac1N\sum_i(\hat y_i - y_i)^2`, i.e. :math:`\frac2N(\hat y - y)`."""
    seed, rtol, atol = _common(seed, rtol, atol)
    cases = []
    for name, (a, b) in _regression_cases(seed):
        cases.append(_Case(name, (a, b), _Expect(losses.mse.grad(a, b), rtol, atol,
                                                 factors={"N": a.size})))
    return _run(_titled("mse_grad", seed), fn, cases, ["y_hat", "y"], timeout=timeout, verbose=verbose,
                tested="dL/dy_hat of the mean squared error", label="mse_grad")


def check_huber_grad(fn: Callable[..., Any], *, delta: float = 1.0, seed: int = 0,
                     verbose: bool = True, rtol: float = 1e-7, atol: float = 1e-10,
                     timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(y_hat, y, delta)`` = gradient of the mean Huber loss:
    :math:`\frac1N \operatorname{clip}(\hat y - y, -\delta, \delta)`."""
    seed, rtol, atol = _common(seed, rtol, atol)
    delta = chk.check_number(delta, "delta", low=0.0, low_open=True)
    cases = []
    for name, (a, b) in _regression_cases(seed):
        r = a - b
        alts = [((r) / a.size, "you never clip: for |r| > delta the gradient is "
                               "delta*sign(r)/N"),
                (np.sign(r) * delta / a.size, "inside |r| <= delta the gradient is r/N, "
                                              "not delta*sign(r)/N")]
        cases.append(_Case(name, (a, b, np.float64(delta)),
                           _Expect(losses.huber.grad(a, b, delta=delta), rtol, atol,
                                   factors={"N": a.size}, alternatives=alts)))
    return _run(_titled(f"huber_grad (delta={delta:g})", seed), fn, cases, ["y_hat", "y", "delta"],
                timeout=timeout, verbose=verbose, tested="dL/dy_hat of the mean Huber loss",
                label="huber_grad")


def _hinge_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, np.ndarray]]]:
    g = make_rng(seed)
    s = 2.0 * g.standard_normal(10)
    y = np.where(g.uniform(size=10) < 0.5, -1.0, 1.0)
    # keep every margin away from the kink y*s = 1, where the gradient is not defined
    s = np.where(np.abs(y * s - 1.0) < 0.05, s + 0.2 * y, s)
    return [
        ("random scores (10,)", (s, y)),
        ("all margins satisfied", (np.array([3.0, -2.5, 1.5]), np.array([1.0, -1.0, 1.0]))),
        ("all violated (2, 3)", (np.array([[0.5, -0.2, 0.0], [0.9, -3.0, 0.1]]),
                                 np.array([[1.0, 1.0, -1.0], [1.0, 1.0, 1.0]]))),
        ("one example", (np.array([-0.4]), np.array([1.0]))),
    ]


def check_hinge_grad(fn: Callable[[Any, Any], Any], *, seed: int = 0, verbose: bool = True,
                     rtol: float = 1e-7, atol: float = 1e-10, timeout: float | None = None
                     ) -> CheckResult:
    r"""Check ``fn(s, y)`` = :math:`\partial L/\partial s` of the mean binary hinge loss
    :math:`L = \frac1N\sum_i \max(0, 1 - y_i s_i)`, labels ±1:
    :math:`-y_i\,[1 - y_i s_i > 0]/N`."""
    seed, rtol, atol = _common(seed, rtol, atol)
    cases = []
    for name, (s, y) in _hinge_cases(seed):
        active = (1.0 - y * s > 0).astype(float)
        alts = [(-y / s.size, "you forgot the indicator: the gradient is 0 where the margin "
                              "y*s >= 1 is already met"),
                (-y * (y * s < 0) / s.size, "the active set is 1 - y*s > 0 (margin < 1), not "
                                            "y*s < 0 (misclassified)"),
                (-y * (1.0 - active) / s.size, "the indicator is inverted: only examples with "
                                               "1 - y*s > 0 contribute")]
        want = losses.hinge.grad(s, y)
        cases.append(_Case(name, (s, y), _Expect(want, rtol, atol, factors={"N": s.size},
                                                 alternatives=alts)))
    return _run(_titled("hinge_grad", seed), fn, cases, ["s", "y"], timeout=timeout, verbose=verbose,
                tested="dL/ds of the mean hinge loss, labels +-1", label="hinge_grad")


def _binary_cases(seed: int) -> list[tuple[str, tuple[np.ndarray, np.ndarray]]]:
    g = make_rng(seed)
    return [
        ("random logits (16,)", (g.standard_normal(16), g.integers(0, 2, 16).astype(float))),
        ("large logits +-1000", (np.array([1000.0, -1000.0, 1000.0, -1000.0]),
                                 np.array([1.0, 0.0, 0.0, 1.0]))),
        ("moderate logits +-40", (np.array([40.0, -40.0]), np.array([1.0, 1.0]))),
        ("soft labels", (g.standard_normal(5), g.uniform(0, 1, 5))),
    ]


def check_bce_with_logits(fn: Callable[[Any, Any], Any], *, seed: int = 0,
                          verbose: bool = True, rtol: float = 1e-7, atol: float = 1e-10,
                          timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(z, y)`` = mean binary cross-entropy on logits, finite for any logit:
    :math:`\frac1N\sum_i \max(z_i,0) - z_i y_i + \log(1+e^{-|z_i|})`."""
    seed, rtol, atol = _common(seed, rtol, atol)
    cases = [_Case(name, (z, y), _Expect(np.asarray(losses.bce_with_logits(z, y)), rtol, atol,
                                         factors={"N": z.size}, overflow_hint=_BCE_HINT))
             for name, (z, y) in _binary_cases(seed)]
    return _run(_titled("bce_with_logits", seed), fn, cases, ["z", "y"], timeout=timeout, verbose=verbose,
                tested="mean binary cross-entropy on logits", label="bce_with_logits")


def check_softmax_cross_entropy(fn: Callable[[Any, Any], Any], *, seed: int = 0,
                                verbose: bool = True, rtol: float = 1e-7, atol: float = 1e-10,
                                timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(z, y)`` = mean softmax cross-entropy, logits (N, C), integer labels (N,):
    :math:`\frac1N\sum_i \log\sum_c e^{z_{ic}} - z_{i y_i}`."""
    seed, rtol, atol = _common(seed, rtol, atol)
    cases = []
    for name, (z, y) in _multiclass_cases(seed):
        z64 = z.astype(np.float64)
        want = losses.softmax_cross_entropy(z64, y)
        n, c = z.shape
        exp = _ref_expect(want, (z,), factors={"N": n, "C": c, "N*C": n * c},
                          overflow_hint=_LSE_HINT)
        exp.alternatives.append((np.asarray(-float(want)), "the sign is flipped: the loss is "
                                 "-log softmax(z)[y] = logsumexp(z) - z[y] >= 0"))
        cases.append(_Case(name, (z, y), exp))
    return _run(_titled("softmax_cross_entropy", seed), fn, cases, ["z", "y"], timeout=timeout,
                verbose=verbose, tested="mean softmax cross-entropy, logits (N, C), labels (N,)",
                label="softmax_cross_entropy")


def check_softmax_cross_entropy_grad(fn: Callable[[Any, Any], Any], *, seed: int = 0,
                                     verbose: bool = True, rtol: float = 1e-7,
                                     atol: float = 1e-10, timeout: float | None = None
                                     ) -> CheckResult:
    r"""Check ``fn(z, y)`` = :math:`\partial L/\partial z =
    (\mathrm{softmax}(z) - \mathrm{onehot}(y))/N`, shape (N, C)."""
    seed, rtol, atol = _common(seed, rtol, atol)
    cases = []
    for name, (z, y) in _multiclass_cases(seed):
        z64 = z.astype(np.float64)
        n, c = z.shape
        want = losses.softmax_cross_entropy.grad(z64, y)
        p = losses.softmax(z64, axis=1)
        onehot = p - want * n
        alts = [(p / n, "you left out the one-hot term: subtract 1 at each example's label"),
                ((losses.softmax(z64, axis=0) - onehot) / n,
                 "softmax over the wrong axis: normalise each row (axis=1), one per example")]
        exp = _ref_expect(want, (z,), factors={"N": n, "C": c, "N*C": n * c},
                          overflow_hint=_LSE_HINT, alternatives=alts)
        cases.append(_Case(name, (z, y), exp))
    return _run(_titled("softmax_cross_entropy_grad", seed), fn, cases, ["z", "y"], timeout=timeout,
                verbose=verbose, tested="dL/dz of the mean softmax cross-entropy, shape (N, C)",
                label="softmax_cross_entropy_grad")


def _titled(name: str, seed: int) -> str:
    return f"{name} (seed={seed})" if seed else name


def _common(seed: Any, rtol: Any, atol: Any) -> tuple[int, float, float]:
    return (chk.check_int(seed, "seed", low=0), chk.check_number(rtol, "rtol", low=0.0),
            chk.check_number(atol, "atol", low=0.0))


def _number_answer(value: Any, label: str) -> tuple[float | None, str]:
    if value is None:
        return None, (f"{label} is None: write your answer in the cell above (replace `raise "
                      f"NotImplementedError()`) and run it")
    if isinstance(value, bool) or isinstance(value, (str, bytes)):
        return None, f"{label} must be a number, received {type(value).__name__} {value!r:.40}"
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None, f"{label} must be a number, received {type(value).__name__}"
    if arr.size != 1:
        return None, f"{label} must be a single number, received shape {arr.shape}"
    v = float(arr.reshape(-1)[0])
    if not math.isfinite(v):
        return None, f"{label} must be a finite number, received {v}"
    return v, ""


def _check_number(title: str, value: Any, label: str, want: float, rtol: float,
                  wrong: Sequence[tuple[float, str]], tested: str, verbose: bool,
                  case: str = "your answer") -> CheckResult:
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be True or False, received {type(verbose).__name__}")
    res = CheckResult(name=title, tested=tested)
    v, why = _number_answer(value, label)
    if v is None:
        res.cases.append(CaseResult(case, False, why))
    elif abs(v - want) <= rtol * abs(want):
        res.cases.append(CaseResult(case, True))
    else:
        hint = next((text for w, text in wrong if abs(v - w) <= max(rtol, 1e-3) * abs(w)), "")
        res.cases.append(CaseResult(case, False, f"expected {want:.6g}, received {v:.6g}", hint))
    if verbose:
        print(res)
    return res


def check_loss_at_init(value: Any, *, n_classes: int = 10, verbose: bool = True) -> CheckResult:
    r"""Check a number: the softmax cross-entropy of all-zero logits over ``n_classes`` classes,
    :math:`\ln C` (every class gets probability 1/C), to 4 significant digits."""
    c = chk.check_int(n_classes, "n_classes", low=2)
    want = math.log(c)
    wrong = [(1.0 / c, "that is the probability 1/C; the loss is -log of it"),
             (math.log10(c), "that is log10(C): cross-entropy uses the natural log"),
             (-want, "the loss is -log(1/C) = +ln C, a positive number"),
             (math.log2(c), "that is log2(C) (bits): use the natural log"),
             (0.0, "zero logits do not give zero loss: every class gets probability 1/C")]
    return _check_number(f"loss_at_init (C={c})", value, "loss_at_init", want, 5e-4, wrong,
                         "softmax cross-entropy of zero logits", verbose)


def _line_data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from .data import regression_with_outliers

    return regression_with_outliers(n=60, n_outliers=8, seed=seed)


def _clean_rmse(x: np.ndarray, y: np.ndarray, out: np.ndarray, slope: float, b: float) -> float:
    keep = ~out
    return float(np.sqrt(np.mean((slope * x[keep] + b - y[keep]) ** 2)))


@functools.lru_cache(maxsize=8)
def _robust_line_baseline(seed: int) -> float:
    x, y, out = _line_data(seed)
    A = np.stack([x, np.ones_like(x)], axis=1)
    w = np.linalg.lstsq(A, y, rcond=None)[0]
    return _clean_rmse(x, y, out, float(w[0]), float(w[1]))


def robust_line_baseline(seed: int = 0) -> float:
    """Clean-point RMSE of the least-squares line on the lab's data set ``seed`` (the baseline
    the chapter 01 lab must beat)."""
    return _robust_line_baseline(chk.check_int(seed, "seed", low=0))


def check_robust_line(fn: Callable[[Any, Any], Any], *, seeds: Sequence[int] = (0, 1, 2),
                      ratio: float = 0.4, verbose: bool = True, timeout: float | None = 30.0
                      ) -> CheckResult:
    r"""Lab (chapter 01): ``fn(x, y)`` fits a line to data with outliers and returns
    ``(slope, intercept)``. On each data set ``seeds`` (seeded, 8 outliers out of 60 points),
    the line's RMSE on the clean points must be at most ``ratio`` times the least-squares
    line's (the baseline :func:`robust_line_baseline`)."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise TypeError(f"seeds must be a non-empty sequence of ints, received {seeds!r}")
    seeds = [chk.check_int(s, "seeds", low=0) for s in seeds]
    ratio = chk.check_number(ratio, "ratio", low=0.0, high=1.0, low_open=True)
    cases = []
    for s in seeds:
        x, y, out = _line_data(s)
        base = robust_line_baseline(s)

        def judge(value: Any, x=x, y=y, out=out, base=base) -> tuple[bool, str, str]:
            arr, why = _as_numbers(value)
            if arr is None:
                return False, why, "return the two numbers (slope, intercept)"
            if arr.shape != (2,):
                return False, f"expected (slope, intercept), received shape {arr.shape}", ""
            if not np.all(np.isfinite(arr)):
                return False, f"received {arr.tolist()}", "the fit diverged: smaller step?"
            rmse = _clean_rmse(x, y, out, float(arr[0]), float(arr[1]))
            msg = (f"clean-point RMSE {rmse:.3f}, needs <= {ratio * base:.3f} "
                   f"({ratio:g} x least squares' {base:.3f})")
            if rmse <= ratio * base:
                return True, msg, ""
            hint = ("no better than least squares: a squared loss lets the outliers pull the "
                    "line; try MAE or Huber" if rmse >= 0.9 * base else
                    "better than least squares but not enough: a smaller delta, or more steps")
            return False, msg, hint

        cases.append(_Case(f"data set seed={s}", (x, y), judge=judge))
    return _run("robust_line lab", fn, cases, ["x", "y"], timeout=timeout, verbose=verbose,
                tested=f"clean-point RMSE <= {ratio:g} x the least-squares line's",
                label="fit_line")


# =========================================================================== chapter 02
def _centred(f: Callable[[np.ndarray], Any], x: np.ndarray, h: float, kind: str = "centred"
             ) -> np.ndarray:
    x = x.astype(np.float64).copy()
    g = np.zeros_like(x)
    f0 = float(f(x))
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = float(f(x))
        x[i] = old - h
        fm = float(f(x))
        x[i] = old
        g[i] = {"centred": (fp - fm) / (2 * h), "forward": (fp - f0) / h,
                "half": (fp - fm) / h}[kind]
    return g


def _test_functions() -> list[tuple[str, Callable[[np.ndarray], Any], np.ndarray]]:
    g = make_rng(3)
    A = g.standard_normal((4, 4))
    A = A @ A.T + np.eye(4)
    return [
        ("sum(sin(x) * x**2), x (5,)", lambda x: np.sum(np.sin(x) * x**2), g.standard_normal(5)),
        ("quadratic 0.5 x^T A x, x (4,)", lambda x: 0.5 * x @ A @ x, g.standard_normal(4)),
        ("log-sum-exp, x (3, 2)", lambda x: np.log(np.sum(np.exp(x))), g.standard_normal((3, 2))),
        ("cubic, one entry", lambda x: np.sum(x**3), np.array([1.5])),
    ]


def check_numerical_gradient(fn: Callable[..., Any], *, h: float = 1e-5, verbose: bool = True,
                             timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(f, x, h)`` = centred differences
    :math:`\frac{f(x + h e_k) - f(x - h e_k)}{2h}` for every entry k of ``x`` (any shape),
    leaving ``x`` unchanged. Tolerance 1e-7 absolute + 1e-6 relative: far below the O(h)
    error of forward differences, far above the O(h²) error of centred ones."""
    h = chk.check_number(h, "h", low=0.0, high=1e-2, low_open=True)
    cases = []
    for name, f, x in _test_functions():
        want = _centred(f, x, h)
        alts = [(_centred(f, x, h, "forward"), "this is the forward difference (f(x+h)-f(x))/h, "
                 "whose error is O(h): use (f(x+h) - f(x-h)) / (2h)"),
                (_centred(f, x, h, "half"), "you divided by h: the centred difference spans 2h")]
        cases.append(_Case(name, (f, x, np.float64(h)),
                           _Expect(want, rtol=1e-6, atol=1e-7, alternatives=alts)))
    return _run("numerical_gradient", fn, cases, ["f", "x", "h"], timeout=timeout,
                verbose=verbose, tested="centred differences against known gradients",
                label="numerical_gradient")


def planted_bug_loss_and_grad(params: Mapping[str, Any], X: Any, y: Any, lam: float = 0.1
                              ) -> tuple[float, dict[str, np.ndarray]]:
    r"""Chapter 02's given code, with one planted bug: softmax regression
    :math:`Z = XW + b`, loss :math:`\frac1N\sum_i[\log\sum_c e^{z_{ic}} - z_{iy_i}] +
    \frac\lambda2\lVert W\rVert^2`, and a hand-written gradient in which one entry is wrong."""
    W, b = np.asarray(params["W"]), np.asarray(params["b"])
    X, y = np.asarray(X), np.asarray(y)
    n = X.shape[0]
    Z = X @ W + b
    Z = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    loss = float(-np.mean(np.log(P[np.arange(n), y])) + 0.5 * lam * np.sum(W * W))
    G = P.copy()
    G[np.arange(n), y] -= 1.0
    G /= n
    return loss, {"W": X.T @ G + lam * W, "b": G.mean(axis=0)}


def check_bug_location(answer: Any, *, verbose: bool = True) -> CheckResult:
    """Check the name of the parameter whose gradient :func:`planted_bug_loss_and_grad` gets
    wrong (one of ``"W"``, ``"b"``, ``"none"``)."""
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be True or False, received {type(verbose).__name__}")
    res = CheckResult(name="bug_location", tested="which gradient entry is wrong")
    if answer is None:
        res.cases.append(CaseResult("your answer", False, "bug_location is None: set it to "
                                    "\"W\", \"b\" or \"none\" and run the cell"))
    elif not isinstance(answer, str) or answer.strip() not in ("W", "b", "none"):
        res.cases.append(CaseResult("your answer", False, f"expected one of 'W', 'b', 'none', "
                                    f"received {answer!r:.40}"))
    elif answer.strip() != "b":
        hint = ("the check's relative error for W is ~1e-10: W is right" if answer.strip() == "W"
                else "the check shows a relative error near 1 for one parameter")
        res.cases.append(CaseResult("your answer", False, f"received {answer.strip()!r}", hint))
    else:
        res.cases.append(CaseResult("your answer", True))
    if verbose:
        print(res)
    return res


def _bug_cases() -> list[tuple[str, tuple[Any, ...]]]:
    from .models import SoftmaxRegression

    out = []
    for name, (n, d, c, seed) in {"digits-like (20, 6) -> 4 classes": (20, 6, 4, 0),
                                  "one example (1, 3) -> 3 classes": (1, 3, 3, 1),
                                  "(9, 2) -> 5 classes": (9, 2, 5, 2)}.items():
        g = make_rng(seed)
        X = g.standard_normal((n, d))
        y = g.integers(0, c, n)
        params = SoftmaxRegression(d, c).init_params(seed=seed)
        params["b"] = 0.1 * g.standard_normal(c)
        out.append((name, (params, X, y, np.float64(0.1))))
    return out


def check_fixed_loss_and_grad(fn: Callable[..., Any], *, verbose: bool = True,
                              timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(params, X, y, lam)`` returns ``(loss, grads)`` of softmax regression with
    weight decay, grads ``{"W": X^T G + λW, "b": Σ_i G_i}``,
    :math:`G = (\mathrm{softmax}(Z) - \mathrm{onehot}(y))/N`."""
    from .models import SoftmaxRegression

    cases = []
    for name, (params, X, y, lam) in _bug_cases():
        model = SoftmaxRegression(X.shape[1], params["b"].shape[0], weight_decay=float(lam))
        loss, grads = model.loss_and_grad(params, X, y)
        n = X.shape[0]
        buggy_b = grads["b"] / n

        def judge(value: Any, loss=float(loss), grads=grads, n=n, buggy_b=buggy_b
                  ) -> tuple[bool, str, str]:
            if value is None:
                return False, _as_numbers(None)[1], ""
            if not (isinstance(value, (tuple, list)) and len(value) == 2
                    and isinstance(value[1], Mapping)):
                return False, (f"expected (loss, {{'W': ..., 'b': ...}}), received "
                               f"{type(value).__name__}"), "return loss, grads like the given code"
            got_loss, got = value
            if set(got) != {"W", "b"}:
                return False, f"expected grads with keys ['W', 'b'], received {sorted(got)}", ""
            ok_l, msg_l, _ = _diagnose(got_loss, "", _Expect(np.asarray(loss)))
            if not ok_l:
                return False, f"loss: {msg_l}", "the loss itself was right in the given code"
            for key in ("W", "b"):
                alts = ([(buggy_b, "this is still the planted bug: the bias gradient sums G "
                                   "over the examples (G already carries the 1/N)")]
                        if key == "b" else [])
                ok, msg, hint = _diagnose(got[key], "", _Expect(np.asarray(grads[key]),
                                                                factors={"N": n},
                                                                alternatives=alts))
                if not ok:
                    return False, f"grads['{key}']: {msg}", hint
            return True, "", ""

        cases.append(_Case(name, (params, X, y, lam), judge=judge))
    return _run("fixed_loss_and_grad", fn, cases, ["params", "X", "y", "lam"], timeout=timeout,
                verbose=verbose, tested="loss and both gradients of softmax regression",
                label="fixed_loss_and_grad")


def _sgd_reference(X: np.ndarray, y: np.ndarray, lr: float, batch_size: int, epochs: int,
                   seed: int, *, shuffle: bool = True, drop_last: bool = False,
                   reseed: bool = False, divide: str = "batch") -> np.ndarray:
    n, d = X.shape
    w = np.zeros(d)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        if reseed:
            rng = np.random.default_rng(seed)
        perm = rng.permutation(n) if shuffle else np.arange(n)
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            if drop_last and idx.size < batch_size:
                continue
            r = X[idx] @ w - y[idx]
            denom = {"batch": idx.size, "none": 1, "N": n, "B": batch_size}[divide]
            w = w - lr * 2.0 * X[idx].T @ r / denom
    return w


def check_minibatch_sgd(fn: Callable[..., Any], *, verbose: bool = True,
                        timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(X, y, lr, batch_size, epochs, seed)``: mini-batch SGD on the mean squared
    error of :math:`\hat y = Xw` from :math:`w = 0`, returning w. Each epoch draws
    ``perm = rng.permutation(N)`` from one ``rng = np.random.default_rng(seed)`` made before
    the loop; the batches are ``perm[k:k+B]`` (the last one may be smaller); each step is
    :math:`w \leftarrow w - \eta\,\frac2{|B|}X_B^\top(X_Bw - y_B)`."""
    g = make_rng(11)
    X = g.standard_normal((50, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * g.standard_normal(50)
    cases = []
    for name, (lr, b, ep, seed) in {"B=8 (last batch of 2), 3 epochs": (0.05, 8, 3, 0),
                                    "B=1 (pure SGD), 1 epoch": (0.01, 1, 1, 4),
                                    "B=N=50 (full batch), 5 epochs": (0.1, 50, 5, 2),
                                    "B=16, 2 epochs, seed 7": (0.05, 16, 2, 7)}.items():
        args = (X, y, np.float64(lr), b, ep, seed)
        want = _sgd_reference(X, y, lr, b, ep, seed)
        alts = []
        for kw, text in (({"shuffle": False}, "no shuffling: draw perm = rng.permutation(N) each "
                                              "epoch"),
                         ({"drop_last": True}, "the last, smaller batch was dropped: keep it"),
                         ({"reseed": True}, "the same order every epoch: make the rng once, "
                                            "before the epoch loop"),
                         ({"divide": "none"}, "the gradient is summed over the batch: divide by "
                                              "the batch size |B|"),
                         ({"divide": "N"}, "divided by N (all examples): divide by the batch "
                                           "size |B|"),
                         ({"divide": "B"}, "the last batch is smaller: divide by its own size "
                                           "len(idx), not by batch_size")):
            alt = _sgd_reference(X, y, lr, b, ep, seed, **kw)
            if not np.allclose(alt, want, rtol=1e-9, atol=1e-12):
                alts.append((alt, text))
        cases.append(_Case(name, args, _Expect(want, rtol=1e-8, atol=1e-10, alternatives=alts)))
    return _run("minibatch_sgd", fn, cases, ["X", "y", "lr", "batch_size", "epochs", "seed"],
                timeout=timeout, verbose=verbose, tested="w after mini-batch SGD on seeded data",
                label="minibatch_sgd")


def _eigen_range(A: Any) -> tuple[float, float]:
    try:
        A = np.asarray(A, dtype=np.float64) if not isinstance(A, (str, bytes)) else A
    except (TypeError, ValueError):
        raise TypeError(f"A must be a square matrix of numbers, received {type(A).__name__}") from None
    if not isinstance(A, np.ndarray) or A.ndim != 2 or A.shape[0] != A.shape[1]:
        got = f"shape {A.shape}" if isinstance(A, np.ndarray) else type(A).__name__
        raise TypeError(f"A must be a square matrix, received {got}")
    if not np.all(np.isfinite(A)):
        raise ValueError("A must be finite, received NaN or inf entries")
    if not np.allclose(A, A.T):
        raise ValueError("A must be symmetric")
    lam = np.linalg.eigvalsh(A)
    if lam[0] <= 0:
        raise ValueError(f"A must be positive definite, received smallest eigenvalue {lam[0]:.3g}")
    return float(lam[0]), float(lam[-1])


def check_lr_max(value: Any, A: Any, *, verbose: bool = True) -> CheckResult:
    r"""Check a number: the largest stable learning rate of gradient descent on
    :math:`f(x) = \tfrac12 x^\top A x`, :math:`\eta_{max} = 2/\lambda_{max}(A)` (relative
    tolerance 1e-4)."""
    lmin, lmax = _eigen_range(A)
    wrong = [(1.0 / lmax, "that is 1/lambda_max: GD on a quadratic is stable up to 2/lambda_max"),
             (2.0 / lmin, "that is 2/lambda_min: the largest eigenvalue, the steepest direction, "
                          "sets the limit"),
             (1.0 / lmin, "1/lambda_min: the limit is 2/lambda_max"),
             (lmax, "that is lambda_max itself; the learning rate limit is 2/lambda_max"),
             (2.0 / float(np.max(np.diag(A))), "2/max(diag A): use the eigenvalues of A, not "
                                               "its diagonal"),
             (2.0 / float(np.trace(A)), "2/trace(A) is safe but too small: use lambda_max")]
    return _check_number("lr_max", value, "lr_max", 2.0 / lmax, 1e-4, wrong,
                         "largest stable learning rate 2/lambda_max", verbose)


def _digits_split(seed: int) -> Any:
    from .data import digits

    return digits(seed=seed)


def digits_lab_baseline(seed: int = 0) -> float:
    """Validation accuracy of the chapter 02 lab's baseline on split ``seed``: softmax
    regression from ``init_params(seed=0)``, plain SGD η = 0.1, batch 32, 5 epochs (an untuned
    first try)."""
    return _digits_lab_baseline(chk.check_int(seed, "seed", low=0))


@functools.lru_cache(maxsize=8)
def _digits_lab_baseline(seed: int) -> float:
    from . import models, optim, train

    split = _digits_split(seed)
    model = models.SoftmaxRegression(64, 10)
    params = model.init_params(seed=0)
    train.train(model, params, optim.SGD(params, lr=0.1), split, epochs=5, batch_size=32)
    return float(model.accuracy(params, split.X_val, split.y_val))


def check_digits_lab(fn: Callable[[Any], Any], *, seeds: Sequence[int] = (0, 1),
                     ratio: float = 0.8, verbose: bool = True, timeout: float | None = 60.0
                     ) -> CheckResult:
    r"""Lab (chapter 02): ``fn(split)`` trains softmax regression (64 features, 10 classes) on
    ``split`` (an :func:`edulib.data.digits` split) and returns its params. On each split
    ``seeds`` the validation error must be at most ``ratio`` times the baseline's
    (:func:`digits_lab_baseline`), measured here on the returned params. ``timeout`` (60 s)
    covers the training runs."""
    from .models import SoftmaxRegression

    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise TypeError(f"seeds must be a non-empty sequence of ints, received {seeds!r}")
    seeds = [chk.check_int(s, "seeds", low=0) for s in seeds]
    ratio = chk.check_number(ratio, "ratio", low=0.0, high=1.0, low_open=True)
    model = SoftmaxRegression(64, 10)
    cases = []
    for s in seeds:
        split = _digits_split(s)
        base = digits_lab_baseline(s)
        need = 1.0 - ratio * (1.0 - base)

        def judge(value: Any, split=split, base=base, need=need) -> tuple[bool, str, str]:
            if value is None:
                return False, _as_numbers(None)[1], "return the trained params dict"
            if not isinstance(value, Mapping) or set(value) != {"W", "b"}:
                return False, (f"expected params {{'W': (64, 10), 'b': (10,)}}, received "
                               f"{type(value).__name__}"), "return the params dict you trained"
            try:
                acc = float(model.accuracy({k: np.asarray(v, dtype=np.float64)
                                            for k, v in value.items()}, split.X_val, split.y_val))
            except (TypeError, ValueError) as exc:
                return False, f"params do not fit the model: {exc}", ""
            msg = f"validation accuracy {acc:.3f}, needs >= {need:.3f} (baseline {base:.3f})"
            if acc >= need:
                return True, msg, ""
            return False, msg, ("tune the learning rate first (a sweep over a few powers of "
                                "10), then the number of epochs")

        cases.append(_Case(f"digits split seed={s}", (split,), judge=judge))
    return _run("digits lab", fn, cases, ["split"], timeout=timeout, verbose=verbose,
                tested=f"validation error <= {ratio:g} x the baseline's", label="train_digits")


#: every check by exercise name (for an auto-grader looping over a submission)
CHECKS: dict[str, Callable[..., CheckResult]] = {
    "mse_grad": check_mse_grad,
    "huber_grad": check_huber_grad,
    "hinge_grad": check_hinge_grad,
    "bce_with_logits": check_bce_with_logits,
    "softmax_cross_entropy": check_softmax_cross_entropy,
    "softmax_cross_entropy_grad": check_softmax_cross_entropy_grad,
    "loss_at_init": check_loss_at_init,
    "robust_line": check_robust_line,
    "numerical_gradient": check_numerical_gradient,
    "bug_location": check_bug_location,
    "fixed_loss_and_grad": check_fixed_loss_and_grad,
    "minibatch_sgd": check_minibatch_sgd,
    "lr_max": check_lr_max,
    "digits_lab": check_digits_lab,
}


# =========================================================================== chapter 03
# Exercise checks of chapter 03 (adaptive methods): ``momentum_step``, ``adam_step``,
# ``warmup_cosine``, ``mu_star`` (a number) and ``adaptive_lab`` (lab). Steps and schedules are
# checked over whole trajectories: a driver calls the learner's function step after step inside
# the sandboxed child, and the trajectory is compared with edulib.optim / edulib.schedules.

def _run_driven(title: str, fn: Any, cases: list[tuple[_Case, Callable[..., Any] | None]],
                names: Sequence[str], *, timeout: float | None, verbose: bool, tested: str,
                label: str) -> CheckResult:
    """Like :func:`_run`, but a case with a driver runs ``driver(fn, *args)`` in the child
    (several calls of ``fn``, e.g. a trajectory of optimizer steps)."""
    timeout = default_timeout() if timeout is None else chk.check_number(
        timeout, "timeout", low=0.0, low_open=True)
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be True or False, received {type(verbose).__name__}")
    res = CheckResult(name=title, tested=tested)
    problem = _learner_answer_problem(fn, label)
    if problem:
        res.cases = [CaseResult(c.name, False, problem) for c, _ in cases]
        if verbose:
            print(res)
        return res
    deadline = time.monotonic() + timeout
    timed_out = False
    for case, driver in cases:
        left = deadline - time.monotonic()
        if timed_out or left <= 0:
            res.cases.append(CaseResult(case.name, False, "not run: the time limit was used up",
                                        "make the function faster (no endless loop?)"))
            continue
        call = fn if driver is None else functools.partial(driver, fn)
        out = run_isolated(call, case.args, names=names if driver is None else
                           [f"argument {i}" for i in range(len(case.args))], timeout=left)
        res.cases.append(_judge(case, out, timeout))
        timed_out = out.status == "timeout"
    if verbose:
        print(res)
    return res


def _returned(value: Any, n: int, what: str, step: int) -> tuple[np.ndarray, ...]:
    """The learner's ``n``-tuple of arrays at ``step``, or a ValueError saying what is wrong."""
    if value is None:
        raise ValueError(f"{what} returned None at step {step}: did you forget the `return` "
                         "statement?")
    if not isinstance(value, (tuple, list)) or len(value) != n:
        raise ValueError(f"{what} must return {n} arrays, received {type(value).__name__}"
                         + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "")
                         + f" at step {step}")
    return tuple(np.array(_portable(v)[0], dtype=np.float64) for v in value)


def _quad_grads(seed: int, shape: tuple[int, ...], steps: int, scale: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """theta0, curvatures and per-step noise of the gradient g_t = c * theta + noise_t."""
    g = make_rng(seed)
    theta0 = g.standard_normal(shape)
    curv = g.uniform(0.5, 3.0, shape)
    noise = scale * 0.3 * g.standard_normal((steps, *shape))
    return theta0, scale * curv, noise


# ------------------------------------------------------------------ momentum
def _momentum_variant(theta0: np.ndarray, curv: np.ndarray, noise: np.ndarray, lr: float,
                      mu: float, kind: str = "torch") -> np.ndarray:
    theta, b, out = theta0.copy(), np.zeros_like(theta0), []
    for n in noise:
        g = curv * theta + n
        if kind == "torch":
            b = mu * b + g
            theta = theta - lr * b
        elif kind == "ema":
            b = mu * b + (1.0 - mu) * g
            theta = theta - lr * b
        elif kind == "plain":
            theta = theta - lr * g
        elif kind == "nesterov":
            b = mu * b + g
            theta = theta - lr * (g + mu * b)
        elif kind == "old_buffer":
            theta = theta - lr * b
            b = mu * b + g
        out.append(theta)
    return np.stack(out)


def _momentum_reference(theta0: np.ndarray, curv: np.ndarray, noise: np.ndarray, lr: float,
                        mu: float) -> np.ndarray:
    from . import optim

    params = {"theta": theta0.copy()}
    opt = optim.SGD(params, lr=lr, momentum=mu)
    out = []
    for n in noise:
        opt.step({"theta": curv * params["theta"] + n})
        out.append(params["theta"].copy())
    return np.stack(out)


def _drive_momentum(fn: Callable[..., Any], theta0: np.ndarray, curv: np.ndarray,
                    noise: np.ndarray, lr: float, mu: float) -> np.ndarray:
    theta, b, out = theta0.copy(), np.zeros_like(theta0), []
    for t, n in enumerate(noise, start=1):
        g = curv * theta + n
        theta, b = _returned(fn(theta, b, g, lr, mu), 2, "momentum_step", t)
        out.append(theta.copy())   # the next call may change theta in place
    return np.stack(out)


_MOMENTUM_HINTS = {
    "ema": "you averaged b = mu*b + (1 - mu)*g (an EMA, dampening): torch's buffer is b = mu*b + g",
    "plain": "momentum is ignored: theta moves by lr*g only -- update b and step along b",
    "nesterov": "that is Nesterov's step theta -= lr*(g + mu*b); the plain form is theta -= lr*b",
    "old_buffer": "theta moved along the old buffer: update b = mu*b + g first, then theta -= lr*b",
}


def check_momentum_step(fn: Callable[..., Any], *, verbose: bool = True,
                        timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(theta, b, g, lr, mu) -> (theta_new, b_new)``: one step of SGD with momentum
    in PyTorch's form :math:`b \leftarrow \mu b + g,\ \theta \leftarrow \theta - \eta b`
    (η = ``lr``, μ = ``mu``, :math:`b_0 = 0`), compared over whole trajectories (gradients
    :math:`g_t = c\odot\theta_t + \xi_t`) with :class:`edulib.optim.SGD` ``(lr, momentum)``."""
    cases: list[tuple[_Case, Callable[..., Any] | None]] = []
    # one step from a non-zero buffer, called directly (inputs must stay intact)
    g0 = make_rng(30)
    theta, b, grad = g0.standard_normal(5), g0.standard_normal(5), g0.standard_normal(5)
    want_b = 0.9 * b + grad
    want = np.concatenate([theta - 0.1 * want_b, want_b])

    def judge_one(value: Any) -> tuple[bool, str, str]:
        try:
            th, bb = _returned(value, 2, "momentum_step", 1)
        except ValueError as exc:
            return False, str(exc), ""
        if th.shape != (5,) or bb.shape != (5,):
            return False, f"expected two arrays of shape (5,), received {th.shape} and {bb.shape}", ""
        alts = [(np.concatenate([theta - 0.1 * (0.9 * b + 0.1 * grad), 0.9 * b + 0.1 * grad]),
                 _MOMENTUM_HINTS["ema"]),
                (np.concatenate([theta - 0.1 * b, want_b]), _MOMENTUM_HINTS["old_buffer"])]
        return _diagnose(np.concatenate([th, bb]), "", _Expect(want, 1e-10, 1e-12,
                                                               alternatives=alts))

    cases.append((_Case("one step, b != 0 (theta and b)", (theta, b, grad, 0.1, 0.9),
                        judge=judge_one), None))
    for name, (seed, shape, steps, lr, mu) in {
            "20 steps, (6,), lr=0.05, mu=0.9": (31, (6,), 20, 0.05, 0.9),
            "15 steps, (3, 4), lr=0.1, mu=0.5": (32, (3, 4), 15, 0.1, 0.5),
            "10 steps, (4,), lr=0.2, mu=0": (33, (4,), 10, 0.2, 0.0)}.items():
        theta0, curv, noise = _quad_grads(seed, shape, steps, 1.0)
        want_traj = _momentum_reference(theta0, curv, noise, lr, mu)
        alts = []
        for kind, text in _MOMENTUM_HINTS.items():
            alt = _momentum_variant(theta0, curv, noise, lr, mu, kind)
            if not np.allclose(alt, want_traj, rtol=1e-9, atol=1e-12):
                alts.append((alt, text))
        cases.append((_Case(name, (theta0, curv, noise, lr, mu),
                            _Expect(want_traj, 1e-9, 1e-12, alternatives=alts)), _drive_momentum))
    return _run_driven("momentum_step", fn, cases, ["theta", "b", "g", "lr", "mu"],
                       timeout=timeout, verbose=verbose,
                       tested="theta after each step vs edulib.optim.SGD(lr, momentum)",
                       label="momentum_step")


# ------------------------------------------------------------------ Adam
def _adam_variant(theta0: np.ndarray, curv: np.ndarray, noise: np.ndarray, lr: float,
                  b1: float, b2: float, eps: float, kind: str = "right") -> np.ndarray:
    theta, m, v, out = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0), []
    for t, n in enumerate(noise, start=1):
        g = curv * theta + n
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mh, vh = m / (1 - b1**t), v / (1 - b2**t)
        if kind == "right":
            theta = theta - lr * mh / (np.sqrt(vh) + eps)
        elif kind == "no_bias_correction":
            theta = theta - lr * m / (np.sqrt(v) + eps)
        elif kind == "eps_inside":
            theta = theta - lr * mh / np.sqrt(vh + eps)
        elif kind == "only_m_corrected":
            theta = theta - lr * mh / (np.sqrt(v) + eps)
        elif kind == "no_sqrt":
            theta = theta - lr * mh / (vh + eps)
        out.append(theta)
    return np.stack(out)


def _adam_reference(theta0: np.ndarray, curv: np.ndarray, noise: np.ndarray, lr: float,
                    b1: float, b2: float, eps: float) -> np.ndarray:
    from . import optim

    params = {"theta": theta0.copy()}
    opt = optim.Adam(params, lr=lr, betas=(b1, b2), eps=eps)
    out = []
    for n in noise:
        opt.step({"theta": curv * params["theta"] + n})
        out.append(params["theta"].copy())
    return np.stack(out)


def _drive_adam(fn: Callable[..., Any], theta0: np.ndarray, curv: np.ndarray, noise: np.ndarray,
                lr: float, b1: float, b2: float, eps: float) -> np.ndarray:
    theta, m, v, out = theta0.copy(), np.zeros_like(theta0), np.zeros_like(theta0), []
    for t, n in enumerate(noise, start=1):
        g = curv * theta + n
        theta, m, v = _returned(fn(theta, m, v, g, t, lr, b1, b2, eps), 3, "adam_step", t)
        out.append(theta.copy())   # the next call may change theta in place
    return np.stack(out)


_ADAM_HINTS = {
    "no_bias_correction": "missing bias correction: divide m by (1 - beta1**t) and v by "
                          "(1 - beta2**t) before the step",
    "eps_inside": "eps inside the square root: the step is lr * m_hat / (sqrt(v_hat) + eps), "
                  "eps added after the root",
    "only_m_corrected": "only m is bias-corrected: v needs v / (1 - beta2**t) too",
    "no_sqrt": "missing square root: divide by sqrt(v_hat) + eps",
}


def check_adam_step(fn: Callable[..., Any], *, verbose: bool = True,
                    timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(theta, m, v, g, t, lr, beta1, beta2, eps) -> (theta, m, v)``: step
    :math:`t = 1, 2, \dots` of Adam,
    :math:`m \leftarrow \beta_1 m + (1-\beta_1)g`, :math:`v \leftarrow \beta_2 v + (1-\beta_2)g^2`,
    :math:`\hat m = m/(1-\beta_1^t)`, :math:`\hat v = v/(1-\beta_2^t)`,
    :math:`\theta \leftarrow \theta - \eta\,\hat m/(\sqrt{\hat v} + \epsilon)`, compared over
    trajectories with :class:`edulib.optim.Adam`. A large ε (1e-3 with gradients near 1e-3) tells
    "ε inside the root" apart."""
    cases: list[tuple[_Case, Callable[..., Any] | None]] = []
    g0 = make_rng(40)
    theta, grad = g0.standard_normal(4), g0.standard_normal(4)
    m, v = 0.1 * g0.standard_normal(4), 0.05 * g0.uniform(0.1, 1.0, 4)
    m1, v1 = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad**2
    step3 = theta - 0.01 * (m1 / (1 - 0.9**3)) / (np.sqrt(v1 / (1 - 0.999**3)) + 1e-8)
    want = np.concatenate([step3, m1, v1])

    def judge_one(value: Any) -> tuple[bool, str, str]:
        try:
            th, mm, vv = _returned(value, 3, "adam_step", 3)
        except ValueError as exc:
            return False, str(exc), ""
        if not th.shape == mm.shape == vv.shape == (4,):
            return False, (f"expected three arrays of shape (4,), received {th.shape}, "
                           f"{mm.shape} and {vv.shape}"), ""
        alts = [(np.concatenate([theta - 0.01 * m1 / (np.sqrt(v1) + 1e-8), m1, v1]),
                 _ADAM_HINTS["no_bias_correction"])]
        return _diagnose(np.concatenate([th, mm, vv]), "", _Expect(want, 1e-9, 1e-12,
                                                                    alternatives=alts))

    cases.append((_Case("step t=3 from given m, v (theta, m, v)",
                        (theta, m, v, grad, 3, 0.01, 0.9, 0.999, 1e-8), judge=judge_one), None))
    for name, (seed, shape, steps, lr, b1, b2, eps, scale) in {
            "20 steps, (5,), defaults, lr=0.05": (41, (5,), 20, 0.05, 0.9, 0.999, 1e-8, 1.0),
            "10 steps, (2, 3), betas (0.8, 0.99)": (42, (2, 3), 10, 0.1, 0.8, 0.99, 1e-8, 1.0),
            "15 steps, eps=1e-3, gradients ~1e-3": (43, (4,), 15, 0.01, 0.9, 0.999, 1e-3, 1e-3),
            "12 steps, eps=0.1, (3,)": (44, (3,), 12, 0.05, 0.9, 0.99, 0.1, 0.5)}.items():
        theta0, curv, noise = _quad_grads(seed, shape, steps, scale)
        want_traj = _adam_reference(theta0, curv, noise, lr, b1, b2, eps)
        alts = []
        for kind, text in _ADAM_HINTS.items():
            alt = _adam_variant(theta0, curv, noise, lr, b1, b2, eps, kind)
            if not np.allclose(alt, want_traj, rtol=1e-7, atol=1e-10):
                alts.append((alt, text))
        cases.append((_Case(name, (theta0, curv, noise, lr, b1, b2, eps),
                            _Expect(want_traj, 1e-7, 1e-10, alternatives=alts)), _drive_adam))
    return _run_driven("adam_step", fn, cases,
                       ["theta", "m", "v", "g", "t", "lr", "beta1", "beta2", "eps"],
                       timeout=timeout, verbose=verbose,
                       tested="theta after each step vs edulib.optim.Adam", label="adam_step")


# ------------------------------------------------------------------ warm-up + cosine
def _warmup_cosine_reference(lr0: float, warmup: int, total: int, start_factor: float
                             ) -> np.ndarray:
    from . import optim, schedules

    opt = optim.SGD({"w": np.zeros(1)}, lr=lr0)
    warm = schedules.LinearLR(opt, start_factor=start_factor, total_iters=warmup)
    cos = schedules.CosineAnnealingLR(opt, T_max=total - warmup)
    sched = schedules.SequentialLR(opt, [warm, cos], milestones=[warmup])
    out = []
    for _ in range(total):
        out.append(float(opt.lr))
        sched.step()
    return np.array(out)


def _warmup_cosine_variant(lr0: float, warmup: int, total: int, f: float, kind: str) -> np.ndarray:
    t = np.arange(total, dtype=np.float64)
    span, shift = total - warmup, warmup
    ramp = lr0 * (f + (1 - f) * t / warmup)
    if kind == "cosine_over_total":
        span = total
    elif kind == "cosine_not_shifted":
        shift = 0
    elif kind == "ramp_one_early":
        ramp = lr0 * (f + (1 - f) * np.minimum(t + 1, warmup) / warmup)
    elif kind == "ramp_from_zero":
        ramp = lr0 * t / warmup
    cos = 0.5 * lr0 * (1 + np.cos(np.pi * (t - shift) / span))
    return np.where(t < warmup, ramp, cos)


def _drive_schedule(fn: Callable[..., Any], lr0: float, warmup: int, total: int,
                    start_factor: float) -> np.ndarray:
    out = []
    for t in range(total):
        value = fn(t, lr0, warmup, total, start_factor)
        if value is None:
            raise ValueError(f"warmup_cosine returned None at t={t}: did you forget the `return` "
                             "statement?")
        arr = np.asarray(_portable(value)[0], dtype=np.float64)
        if arr.size != 1:
            raise ValueError(f"warmup_cosine must return one number, received shape {arr.shape} "
                             f"at t={t}")
        out.append(float(arr.reshape(())))
    return np.array(out)


_SCHEDULE_HINTS = {
    "cosine_over_total": "the cosine runs over T - warmup steps: use cos(pi*(t - warmup)/(T - warmup))",
    "cosine_not_shifted": "the cosine starts when the warm-up ends: use t - warmup, not t",
    "ramp_one_early": "the warm-up is one step ahead: eta_t = lr0*(f + (1 - f)*t/warmup), t from 0",
    "ramp_from_zero": "the warm-up starts at start_factor*lr0, not at 0",
}


def check_warmup_cosine(fn: Callable[..., Any], *, verbose: bool = True,
                        timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(t, lr0, warmup, total, start_factor) -> η_t`` for ``t = 0..total-1``:
    :math:`\eta_t = \eta_0\bigl(f + (1-f)\,t/w\bigr)` for :math:`t < w` and
    :math:`\eta_t = \tfrac12\eta_0\bigl(1 + \cos(\pi (t - w)/(T - w))\bigr)` for :math:`t \ge w`
    (:math:`w` = ``warmup``, :math:`T` = ``total``, :math:`f` = ``start_factor``), compared with
    :class:`edulib.schedules.SequentialLR` of ``LinearLR(start_factor, total_iters=w)`` and
    ``CosineAnnealingLR(T_max=T - w)`` with ``milestones=[w]``."""
    cases: list[tuple[_Case, Callable[..., Any] | None]] = []
    for name, args in {"lr0=0.1, warmup 5 of 50, f=0.1": (0.1, 5, 50, 0.1),
                       "lr0=0.003, warmup 10 of 30, f=0.01": (0.003, 10, 30, 0.01),
                       "lr0=1, warmup 1 of 10, f=0.5": (1.0, 1, 10, 0.5),
                       "lr0=0.02, warmup 8 of 9, f=0.25": (0.02, 8, 9, 0.25)}.items():
        want = _warmup_cosine_reference(*args)
        alts = []
        for kind, text in _SCHEDULE_HINTS.items():
            alt = _warmup_cosine_variant(*args, kind)
            if not np.allclose(alt, want, rtol=1e-9, atol=1e-14):
                alts.append((alt, text))
        cases.append((_Case(name, args, _Expect(want, 1e-9, 1e-14, alternatives=alts)),
                      _drive_schedule))
    return _run_driven("warmup_cosine", fn, cases, ["t", "lr0", "warmup", "total", "start_factor"],
                       timeout=timeout, verbose=verbose,
                       tested="eta_t for every t vs SequentialLR(LinearLR, CosineAnnealingLR)",
                       label="warmup_cosine")


# ------------------------------------------------------------------ optimal momentum
def check_mu_star(value: Any, A: Any, *, verbose: bool = True) -> CheckResult:
    r"""Check a number: the optimal momentum of the heavy ball on :math:`f(x) = \tfrac12
    x^\top A x`, :math:`\mu^* = \bigl(\frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}\bigr)^2` with
    :math:`\kappa = \lambda_{max}/\lambda_{min}` (relative tolerance 1e-4)."""
    lmin, lmax = _eigen_range(A)
    kappa = lmax / lmin
    r = (math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0)
    wrong = [(r, "that is (sqrt(kappa) - 1)/(sqrt(kappa) + 1), the convergence rate: mu* is its "
                 "square"),
             ((kappa - 1.0) / (kappa + 1.0), "that is (kappa - 1)/(kappa + 1), plain GD's rate: "
                                             "mu* uses sqrt(kappa), squared"),
             (((kappa - 1.0) / (kappa + 1.0)) ** 2, "use sqrt(kappa) = sqrt(lambda_max/lambda_min), "
                                                    "not kappa"),
             (1.0 - 1.0 / kappa, "1 - 1/kappa is not the optimum: mu* = ((sqrt k - 1)/(sqrt k + 1))^2"),
             (1.0 - 1.0 / math.sqrt(kappa), "1 - 1/sqrt(kappa) is only the rough size: mu* = "
                                            "((sqrt k - 1)/(sqrt k + 1))^2")]
    return _check_number("mu_star", value, "mu_star", r * r, 1e-4, wrong,
                         "optimal heavy-ball momentum ((sqrt k - 1)/(sqrt k + 1))^2", verbose)


# ------------------------------------------------------------------ lab
def adaptive_lab_baseline(seed: int = 0) -> float:
    """Validation accuracy of the chapter 03 lab's baseline on digits split ``seed``:
    ``MLP(64, 32, 10)`` from ``init_params(seed=0)``, plain SGD η = 0.01, batch 64, 3 epochs."""
    return _adaptive_lab_baseline(chk.check_int(seed, "seed", low=0))


@functools.lru_cache(maxsize=8)
def _adaptive_lab_baseline(seed: int) -> float:
    from . import models, optim, train

    split = _digits_split(seed)
    model = models.MLP(64, 32, 10)
    params = model.init_params(seed=0)
    train.train(model, params, optim.SGD(params, lr=0.01), split, epochs=3, batch_size=64)
    return float(model.accuracy(params, split.X_val, split.y_val))


def check_adaptive_lab(fn: Callable[[Any], Any], *, seeds: Sequence[int] = (0, 1),
                       ratio: float = 0.5, verbose: bool = True, timeout: float | None = 60.0
                       ) -> CheckResult:
    r"""Lab (chapter 03): ``fn(split)`` trains ``MLP(64, 32, 10)`` on ``split`` (a digits split)
    and returns its params. On each split ``seeds`` the validation error must be at most
    ``ratio`` times the baseline's (:func:`adaptive_lab_baseline`, plain SGD for the same 3
    epochs), measured here on the returned params."""
    from .models import MLP

    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise TypeError(f"seeds must be a non-empty sequence of ints, received {seeds!r}")
    seeds = [chk.check_int(s, "seeds", low=0) for s in seeds]
    ratio = chk.check_number(ratio, "ratio", low=0.0, high=1.0, low_open=True)
    model = MLP(64, 32, 10)
    shapes = model.param_shapes
    cases = []
    for s in seeds:
        split = _digits_split(s)
        base = adaptive_lab_baseline(s)
        need = 1.0 - ratio * (1.0 - base)

        def judge(value: Any, split=split, base=base, need=need) -> tuple[bool, str, str]:
            if value is None:
                return False, _as_numbers(None)[1], "return the trained params dict"
            if not isinstance(value, Mapping) or set(value) != set(shapes):
                return False, (f"expected params with keys {sorted(shapes)}, received "
                               f"{type(value).__name__}"
                               + (f" with keys {sorted(value)}" if isinstance(value, Mapping) else "")),\
                    "return the params dict of models.MLP(64, 32, 10) you trained"
            try:
                p = {k: np.asarray(v, dtype=np.float64) for k, v in value.items()}
                if any(p[k].shape != shapes[k] for k in shapes):
                    return False, (f"expected shapes {shapes}, received "
                                   f"{ {k: p[k].shape for k in shapes} }"), "did you transpose a weight?"
                acc = float(model.accuracy(p, split.X_val, split.y_val))
            except (TypeError, ValueError) as exc:
                return False, f"params do not fit the model: {exc}", ""
            msg = f"validation accuracy {acc:.3f}, needs >= {need:.3f} (baseline {base:.3f})"
            if acc >= need:
                return True, msg, ""
            return False, msg, ("tune Adam's peak learning rate first (a sweep over a few powers "
                                "of 10), then the warm-up length")

        cases.append(_Case(f"digits split seed={s}", (split,), judge=judge))
    return _run("adaptive lab", fn, cases, ["split"], timeout=timeout, verbose=verbose,
                tested=f"validation error <= {ratio:g} x the baseline's", label="train_mlp")


CHECKS.update({
    "momentum_step": check_momentum_step,
    "adam_step": check_adam_step,
    "warmup_cosine": check_warmup_cosine,
    "mu_star": check_mu_star,
    "adaptive_lab": check_adaptive_lab,
})
__all__ += ["adaptive_lab_baseline", "check_adam_step", "check_adaptive_lab",
            "check_momentum_step", "check_mu_star", "check_warmup_cosine"]


# =========================================================================== chapter 04
# Exercise checks of chapter 04 (second order): ``softmax_hvp``, ``classify_point``,
# ``two_loop``, ``lbfgs_lab`` (lab); the learning rate from power iteration is checked with
# :func:`check_lr_max` on the dense Hessian.

def _hvp_cases() -> list[tuple[str, tuple[Any, ...]]]:
    from .models import SoftmaxRegression

    out = []
    for name, (n, d, c, seed) in {"(20, 6) -> 4 classes": (20, 6, 4, 50),
                                  "one example (1, 3) -> 3 classes": (1, 3, 3, 51),
                                  "(9, 2) -> 5 classes, large logits": (9, 2, 5, 52)}.items():
        g = make_rng(seed)
        X = g.standard_normal((n, d)) * (3.0 if c == 5 else 1.0)
        y = g.integers(0, c, n)
        params = SoftmaxRegression(d, c).init_params(seed=seed)
        params["b"] = 0.1 * g.standard_normal(c)
        v = {"W": g.standard_normal((d, c)), "b": g.standard_normal(c)}
        out.append((name, (params, X, y, v)))
    return out


def _softmax_hvp_variant(params: Mapping[str, np.ndarray], X: np.ndarray, v: Mapping[str, np.ndarray],
                         kind: str) -> np.ndarray:
    Z = X @ params["W"] + params["b"]
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    dZ = X @ v["W"] + v["b"]
    R = P * dZ / X.shape[0]
    if kind != "diagonal_only":
        R = R - P * R.sum(axis=1, keepdims=True)
    if kind == "no_bias_direction":
        dZ = X @ v["W"]
        R = P * dZ / X.shape[0]
        R = R - P * R.sum(axis=1, keepdims=True)
    return np.concatenate([(X.T @ R).ravel(), R.sum(axis=0)])


def check_softmax_hvp(fn: Callable[..., Any], *, verbose: bool = True,
                      timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(params, X, y, v) -> {"W": ..., "b": ...}``: the Hessian-vector product
    :math:`Hv` of the mean softmax cross-entropy of :math:`Z = XW + b` (no weight decay):
    :math:`dZ = XV_W + V_b`, :math:`R = \frac1N\bigl(P\odot dZ - P\odot\sum_c(P\odot dZ)_{:c}\bigr)`,
    :math:`Hv_W = X^\top R`, :math:`Hv_b = \sum_i R_{i:}`, compared with
    :func:`edulib.hessian.hvp` (analytic)."""
    from . import hessian
    from .models import SoftmaxRegression

    cases = []
    for name, (params, X, y, v) in _hvp_cases():
        model = SoftmaxRegression(X.shape[1], params["b"].shape[0])
        ref = hessian.hvp(model, params, X, y, v, method="analytic")
        want = np.concatenate([np.asarray(ref["W"]).ravel(), np.asarray(ref["b"])])
        alts = [(_softmax_hvp_variant(params, X, v, "diagonal_only"),
                 "only P*dZ: the softmax Jacobian also has the term -P * sum_c(P*dZ) (the "
                 "probabilities sum to 1)"),
                (_softmax_hvp_variant(params, X, v, "no_bias_direction"),
                 "dZ must include the bias part of the direction: dZ = X V_W + V_b")]
        n, shapes = X.shape[0], (params["W"].shape, params["b"].shape)

        def judge(value: Any, want=want, alts=alts, n=n, shapes=shapes) -> tuple[bool, str, str]:
            if value is None:
                return False, _as_numbers(None)[1], ""
            if not isinstance(value, Mapping) or set(value) != {"W", "b"}:
                return False, (f"expected a dict {{'W': ..., 'b': ...}}, received "
                               f"{type(value).__name__}"), "return a dict shaped like params"
            W, b = _as_numbers(value["W"])[0], _as_numbers(value["b"])[0]
            if W is None or b is None:
                return False, "Hv['W'] and Hv['b'] must be arrays of numbers", ""
            if W.shape != shapes[0] or b.shape != shapes[1]:
                hint = "transposed: Hv['W'] has the shape of W, (d, C)" if \
                    W.shape == shapes[0][::-1] else ""
                return False, (f"expected shapes {shapes[0]} and {shapes[1]}, received "
                               f"{W.shape} and {b.shape}"), hint
            return _diagnose(np.concatenate([W.ravel(), b]), "",
                             _Expect(want, 1e-8, 1e-12, factors={"N": n}, alternatives=alts))

        cases.append(_Case(name, (params, X, y, v), judge=judge))
    return _run("softmax_hvp", fn, cases, ["params", "X", "y", "v"], timeout=timeout,
                verbose=verbose, tested="Hv of softmax regression vs edulib.hessian.hvp",
                label="softmax_hvp")


_KINDS = ("minimum", "maximum", "saddle", "degenerate", "not critical")


def _point_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    g = make_rng(60)
    out = []
    for name, eigs, gnorm in (("minimum in 3-D", [0.5, 2.0, 7.0], 0.0),
                              ("maximum in 2-D", [-1.0, -4.0], 1e-9),
                              ("saddle in 3-D", [3.0, -0.2, 1.0], 0.0),
                              ("positive diagonal, but a saddle", None, 0.0),
                              ("degenerate: a zero eigenvalue", [2.0, 0.0, 1.0], 0.0),
                              ("not critical: the gradient is 1e-2", [1.0, 2.0], 1e-2)):
        if eigs is None:
            H = np.array([[1.0, 2.0], [2.0, 1.0]])       # eigenvalues 3 and -1
        else:
            Q, _ = np.linalg.qr(g.standard_normal((len(eigs), len(eigs))))
            H = Q @ np.diag(eigs) @ Q.T
            H = (H + H.T) / 2
        grad = g.standard_normal(H.shape[0])
        grad *= gnorm / np.linalg.norm(grad)
        out.append((name, grad, H))
    return out


def check_classify_point(fn: Callable[..., Any], *, verbose: bool = True,
                         timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(grad, H)`` returns the kind of point, as
    :func:`edulib.hessian.classify_critical_point` (``tol=1e-6``, ``eig_tol=1e-8``): "not
    critical" when :math:`\lVert g\rVert > 10^{-6}`, else from the eigenvalues of :math:`H`
    ("minimum", "maximum", "saddle", "degenerate" when one is within
    :math:`10^{-8}\max(1, \max|\lambda|)` of 0)."""
    from .hessian import classify_critical_point

    cases = []
    for name, grad, H in _point_cases():
        want = classify_critical_point(grad, H).kind
        lam = np.linalg.eigvalsh(H)

        def judge(value: Any, want=want, H=H, lam=lam) -> tuple[bool, str, str]:
            if value is None:
                return False, _as_numbers(None)[1], ""
            if not isinstance(value, str) or value.strip() not in _KINDS:
                return False, f"expected one of {list(_KINDS)}, received {value!r:.40}", ""
            got = value.strip()
            if got == want:
                return True, "", ""
            msg = f"expected {want!r}, received {got!r}"
            if want == "not critical":
                return False, msg, "check the gradient first: where it is not ~0 the point is not critical"
            if want == "degenerate":
                return False, msg, (f"one eigenvalue is ~0 ({lam[np.argmin(np.abs(lam))]:.1e}): "
                                    "the second-derivative test decides nothing")
            if np.all(np.diag(H) > 0) and got == "minimum":
                return False, msg, ("a positive diagonal is not enough: look at the signs of the "
                                    "eigenvalues (np.linalg.eigvalsh)")
            return False, msg, f"the eigenvalues are {np.round(lam, 3).tolist()}"

        cases.append(_Case(name, (grad, H), judge=judge))
    return _run("classify_point", fn, cases, ["grad", "H"], timeout=timeout, verbose=verbose,
                tested="kind of point vs edulib.hessian.classify_critical_point",
                label="classify_point")


def _two_loop_cases() -> list[tuple[str, tuple[Any, ...]]]:
    out = []
    for name, (n, m, seed) in {"n=4, one pair": (4, 1, 70), "n=6, three pairs": (6, 3, 71),
                               "n=5, five pairs": (5, 5, 72)}.items():
        g = make_rng(seed)
        M = g.standard_normal((n, n))
        A = M @ M.T + n * np.eye(n)
        pairs = []
        for _ in range(m):
            s = g.standard_normal(n)
            yv = A @ s
            pairs.append((s, yv, float(1.0 / (yv @ s))))
        s, yv, _ = pairs[-1]
        out.append((name, (g.standard_normal(n), pairs, float(s @ yv / (yv @ yv)))))
    return out


def _two_loop_variant(g: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray, float]],
                      gamma: float, kind: str) -> np.ndarray:
    order = pairs if kind == "first_loop_oldest_first" else list(reversed(pairs))
    q, a = g.copy(), []
    for s, y, rho in order:
        ai = rho * (s @ q)
        q = q - ai * y
        a.append(ai)
    r = (1.0 if kind == "no_gamma" else gamma) * q
    if kind == "no_second_loop":
        return r
    a_old_first = a if kind == "first_loop_oldest_first" else a[::-1]
    second = list(zip(pairs, a_old_first, strict=True))
    if kind == "second_loop_newest_first":
        second = list(zip(reversed(pairs), a, strict=True))
    for (s, y, rho), ai in second:
        b = rho * (y @ r)
        r = r + (ai - b) * s
    return r


def check_two_loop(fn: Callable[..., Any], *, verbose: bool = True,
                   timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(g, pairs, gamma)`` = :math:`B_k g` by the L-BFGS two-loop recursion over
    ``pairs`` = [(s_i, y_i, ρ_i)] (oldest first), compared with
    :func:`edulib.quasi_newton.two_loop`: :math:`q \leftarrow g`; newest to oldest
    :math:`a_i = \rho_i s_i^\top q,\ q \leftarrow q - a_i y_i`; :math:`r = \gamma q`; oldest to
    newest :math:`b = \rho_i y_i^\top r,\ r \leftarrow r + s_i(a_i - b)`."""
    from .quasi_newton import two_loop

    hints = {"first_loop_oldest_first": "the first loop runs from the newest pair to the oldest",
             "second_loop_newest_first": "the second loop runs from the oldest pair to the newest, "
                                         "each with its own a_i",
             "no_gamma": "the middle step scales by gamma: r = gamma * q",
             "no_second_loop": "the second loop is missing: r <- r + s_i (a_i - b_i), oldest first"}
    cases = []
    for name, (g, pairs, gamma) in _two_loop_cases():
        want = np.asarray(two_loop(np, g, pairs, gamma))
        alts = []
        for kind, text in hints.items():
            alt = _two_loop_variant(g, pairs, gamma, kind)
            if not np.allclose(alt, want, rtol=1e-9, atol=1e-12):
                alts.append((alt, text))
        alts.append((-want, "the sign: the recursion returns B g; the direction is its negative, "
                            "taken outside"))
        cases.append(_Case(name, (g, pairs, gamma), _Expect(want, 1e-9, 1e-12, alternatives=alts)))
    return _run("two_loop", fn, cases, ["g", "pairs", "gamma"], timeout=timeout, verbose=verbose,
                tested="B g vs edulib.quasi_newton.two_loop", label="two_loop")


def _lbfgs_lab_problem(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    split = _digits_split(seed)
    return split.X_train, split.y_train, 1e-2


def lbfgs_lab_reference(seed: int = 0) -> float:
    """The minimum of the chapter 04 lab's objective on digits split ``seed``: L2 softmax
    regression, :math:`F = \\frac1N\\sum_i \\ell_i + \\frac\\lambda2\\lVert W\\rVert^2`, λ = 0.01,
    found by :func:`edulib.quasi_newton.lbfgs` to ``gtol=1e-9``."""
    return _lbfgs_lab_reference(chk.check_int(seed, "seed", low=0))


@functools.lru_cache(maxsize=8)
def _lbfgs_lab_reference(seed: int) -> float:
    from . import quasi_newton
    from .models import SoftmaxRegression

    X, y, lam = _lbfgs_lab_problem(seed)
    model = SoftmaxRegression(X.shape[1], 10, weight_decay=lam)
    fun, x0 = quasi_newton.model_objective(model, X, y, model.init_params(seed=0, scale=0.0))
    return float(quasi_newton.lbfgs(fun, x0, gtol=1e-9, ftol=0.0, maxiter=2000).fun)


def check_lbfgs_lab(fn: Callable[..., Any], *, seeds: Sequence[int] = (0, 1), rtol: float = 1e-6,
                    verbose: bool = True, timeout: float | None = 60.0) -> CheckResult:
    r"""Lab (chapter 04): ``fn(X, y, lam)`` minimises L2 softmax regression
    (``SoftmaxRegression(64, 10, weight_decay=lam)``) on the training part of the digits split
    ``seed`` and returns its params. The objective at what it returns must be within ``rtol``
    (relative) of :func:`lbfgs_lab_reference`."""
    from .models import SoftmaxRegression

    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise TypeError(f"seeds must be a non-empty sequence of ints, received {seeds!r}")
    seeds = [chk.check_int(s, "seeds", low=0) for s in seeds]
    rtol = chk.check_number(rtol, "rtol", low=0.0, low_open=True)
    cases = []
    for s in seeds:
        X, y, lam = _lbfgs_lab_problem(s)
        ref = lbfgs_lab_reference(s)
        model = SoftmaxRegression(64, 10, weight_decay=lam)

        def judge(value: Any, X=X, y=y, ref=ref, model=model) -> tuple[bool, str, str]:
            if value is None:
                return False, _as_numbers(None)[1], "return the params dict"
            if not isinstance(value, Mapping) or set(value) != {"W", "b"}:
                return False, (f"expected params {{'W': (64, 10), 'b': (10,)}}, received "
                               f"{type(value).__name__}"), "return the params dict you fitted"
            try:
                p = {k: np.asarray(v, dtype=np.float64) for k, v in value.items()}
                if p["W"].shape != (64, 10) or p["b"].shape != (10,):
                    return False, (f"expected shapes (64, 10) and (10,), received {p['W'].shape} "
                                   f"and {p['b'].shape}"), "did you transpose W?"
                f = float(model.loss(p, X, y))
            except (TypeError, ValueError) as exc:
                return False, f"params do not fit the model: {exc}", ""
            gap = (f - ref) / abs(ref)
            msg = f"objective {f:.8f}, reference {ref:.8f}, relative gap {gap:.1e} (needs <= {rtol:g})"
            if gap <= rtol:
                return True, msg, ""
            return False, msg, ("not converged: run more iterations, or check the curvature pairs "
                                "(s = x_new - x, y = g_new - g) and gamma = s.y / y.y")

        cases.append(_Case(f"digits split seed={s}", (X, y, np.float64(lam)), judge=judge))
    return _run("lbfgs lab", fn, cases, ["X", "y", "lam"], timeout=timeout, verbose=verbose,
                tested=f"objective within {rtol:g} of the reference minimum", label="fit_lbfgs")


CHECKS.update({
    "softmax_hvp": check_softmax_hvp,
    "classify_point": check_classify_point,
    "two_loop": check_two_loop,
    "lbfgs_lab": check_lbfgs_lab,
})
__all__ += ["check_classify_point", "check_lbfgs_lab", "check_softmax_hvp", "check_two_loop",
            "lbfgs_lab_reference"]
