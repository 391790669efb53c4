"""The engine behind every exercise check: cases as data, one sandboxed call per case, a judge
that names the likely mistake.

A check is a :class:`Check`: a list of :class:`Case` objects (inputs, and what the answer must
be or a function judging it) plus how to call the learner's function. The same Check serves
two masters:

* instant feedback in the learner's notebook: :meth:`Check.run` calls the learner's function
  on each case in a forked child process with a time limit (:func:`run_isolated`), so an
  exception, ``sys.exit()``, a crash, an endless loop, a forgotten ``return`` or a mutated input
  becomes a failed case with a hint;
* the trusted grader (:mod:`edulib.grading`): the cases travel as plain data to a sandboxed
  interpreter, only the answers come back, and :meth:`Check.judge` scores them in the
  instructor's process.

Every ``check_*`` function of the chapter modules returns its Check when called with
:data:`SPEC` in place of the learner's function.
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

from .. import _checks as chk

__all__ = ["RECIPES", "SPEC", "Case", "CaseResult", "Check", "CheckResult", "Expect", "NoCredit",
           "Outcome", "Recipe", "default_timeout", "materialize", "recipe", "run_isolated"]

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
    no_credit: bool = False   # a sign error or a wrong order: the whole check scores 0

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
    ``points(p)`` the partial credit ``p * score`` as a plain float (nbgrader reads it). A sign
    error or a wrong order (a failed case marked ``no_credit``) earns no partial credit.
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
        if not self.cases or any(c.no_credit and not c.passed for c in self.cases):
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
            extra = [CaseResult(f"{other.name}: {c.name}", c.passed, c.message, c.hint,
                                c.no_credit) for c in other.cases]
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
        if n_ok and self.score == 0.0:
            lines.append("  (no partial credit: a sign error or a wrong order fails the exercise)")
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
            from ..backend import to_numpy

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

class NoCredit(str):
    """A hint naming a mistake that earns no partial credit (a sign error, a wrong order): a
    case failing with it sets the whole check's score to 0."""

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
class Expect:
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
                      (-n, NoCredit(f"-{name} times the reference: a sign flip and a missing "
                                    f"1/{name}"))]
    known += [(2.0, "twice the reference: an extra factor 2"),
              (0.5, "half the reference: a missing factor 2 (the derivative of r^2 is 2r)"),
              (-1.0, NoCredit("the sign is flipped: the gradient points uphill, check which "
                              "term is subtracted")),
              (-2.0, NoCredit("-2 times the reference: a sign flip and an extra factor 2")),
              (-0.5, NoCredit("-1/2 times the reference: a sign flip and a missing factor 2"))]
    for value, text in known:
        if abs(c - value) <= 1e-6 * abs(value):
            return text
    if want.size < 2:   # one number is always "a multiple": only the named slips say something
        return ""
    if c < 0:
        return NoCredit(f"your answer is {c:.4g} times the reference everywhere: the sign and a "
                        "constant factor are wrong")
    return f"your answer is {c:.4g} times the reference everywhere: a constant factor is wrong"


def _diagnose(value: Any, out_dtype: str, exp: Expect) -> tuple[bool, str, str]:
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
    if not np.any(got) and np.any(want):
        return False, msg, ("your answer is all zeros: is the array filled in (or returned before "
                            "the loop wrote into it)?")
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
class Case:
    """One input of a check: ``args`` for the learner's function, and either ``expect`` (an
    array answer, judged by :func:`_diagnose`) or ``judge`` (any other answer). With ``driver``,
    the child runs ``driver(fn, *args)`` instead of ``fn(*args)`` (e.g. a whole trajectory of
    optimizer steps). ``args`` hold arrays, numbers, strings and :class:`Recipe` objects only."""

    name: str
    args: tuple[Any, ...]
    expect: Expect | None = None
    judge: Callable[[Any], tuple[bool, str, str]] | None = None
    driver: Callable[..., Any] | None = None


@dataclass
class Check:
    """A check as data: its cases and how to call the learner's function.

    ``run(fn)`` is the instant feedback in a notebook (each case in a forked child);
    ``judge(outcomes)`` scores outcomes obtained elsewhere, e.g. by the trusted grader's
    sandboxed child (:mod:`edulib.grading`). Every ``check_*(SPEC, ...)`` returns its Check.
    """

    title: str
    cases: list[Case]
    names: list[str]
    tested: str
    label: str
    timeout: float

    def arg_names(self, case: Case) -> list[str]:
        return self.names if case.driver is None else [f"argument {i}" for i in range(len(case.args))]

    def run(self, fn: Any, verbose: bool = True) -> CheckResult:
        """Run every case on ``fn`` here (forked children, one shared time limit)."""
        res = CheckResult(name=self.title, tested=self.tested)
        problem = _learner_answer_problem(fn, self.label)
        if problem:
            res.cases = [CaseResult(c.name, False, problem) for c in self.cases]
        else:
            deadline = time.monotonic() + self.timeout
            outcomes: list[Outcome] = []
            for case in self.cases:
                left = deadline - time.monotonic()
                if outcomes and outcomes[-1].status == "timeout" or left <= 0:
                    outcomes.append(Outcome("skipped"))
                    continue
                call = fn if case.driver is None else functools.partial(case.driver, fn)
                outcomes.append(run_isolated(call, materialize(case.args),
                                             names=self.arg_names(case), timeout=left))
            res = self.judge(outcomes)
        if verbose:
            print(res)
        return res

    def judge(self, outcomes: Sequence[Outcome]) -> CheckResult:
        """The CheckResult of one Outcome per case (in order)."""
        if len(outcomes) != len(self.cases):
            raise ValueError(f"outcomes must hold one Outcome per case ({len(self.cases)}), "
                             f"received {len(outcomes)}")
        return CheckResult(self.title, [_judge(c, o, self.timeout)
                                        for c, o in zip(self.cases, outcomes, strict=True)],
                           self.tested)


class _SpecRequest:
    """The type of :data:`SPEC`."""

    def __repr__(self) -> str:
        return "SPEC"


#: pass as the learner's function to any ``check_*`` to receive its :class:`Check` instead
SPEC = _SpecRequest()


def _adam_step_off(theta: Any, m: Any, v: Any, *args: Any, **kwargs: Any) -> Any:
    return theta, m, v                      # no step


def _warmup_cosine_off(*args: Any, **kwargs: Any) -> float:
    return 0.0                              # a learning rate of 0


def _two_loop_off(g: Any, *args: Any, **kwargs: Any) -> Any:
    return 0.0 * g                          # no direction


#: a lab's own functions switched off: plain functions with the same names that do nothing useful
SWITCHED_OFF: dict[str, Callable[..., Any]] = {}
for _name, _off in (("adam_step", _adam_step_off), ("warmup_cosine", _warmup_cosine_off),
                    ("two_loop", _two_loop_off)):
    _off.__name__ = _off.__qualname__ = _name
    SWITCHED_OFF[_name] = _off
del _name, _off


def _drive_without(fn: Callable[..., Any], name: str, *args: Any) -> dict[str, Any]:
    """``fn(*args)`` as it is ("on") and with the global ``name`` of ``fn``'s module switched
    off ("off", :data:`SWITCHED_OFF`): what ``fn`` returns each time, or "raised"."""
    namespace = getattr(fn, "__globals__", None)
    out: dict[str, Any] = {}
    for mode in ("on", "off"):
        if mode == "off" and not isinstance(namespace, dict):
            out[mode] = "cannot tell"
            break
        missing = object()
        old = namespace.get(name, missing) if mode == "off" else missing
        if mode == "off":
            namespace[name] = SWITCHED_OFF[name]
        try:
            out[mode] = fn(*args)
        except BaseException:  # noqa: BLE001 - failing without it is what a lab using it does
            out[mode] = "raised"
        finally:
            if mode == "off":
                if old is missing:
                    namespace.pop(name, None)
                else:
                    namespace[name] = old
    return out


def uses_case(name: str, args: tuple[Any, ...], lab: str,
              lab_judge: Callable[[Any], tuple[bool, str, str]]) -> Case:
    """A case passing when the lab's result depends on the learner's own ``name`` (found through
    the function's globals, as a notebook defines it): the lab meets its target (``lab_judge``)
    as it is, and misses it with ``name`` switched off. A lab must use the technique it teaches."""

    def met(value: Any) -> bool:
        return not isinstance(value, str) and lab_judge(value)[0]

    def judge(value: Any) -> tuple[bool, str, str]:
        if not isinstance(value, dict) or set(value) != {"on", "off"}:
            return False, f"received {type(value).__name__}", ""
        if not met(value["on"]):
            return False, f"{lab} misses its target", ""
        if not met(value["off"]):
            return True, "", ""
        return False, f"{lab} still reaches its target with your {name} switched off", NoCredit(
            f"this lab is about {name}: train with your own {name} from the exercise above (a "
            "lab passed without the technique it teaches earns no credit)")

    return Case(f"uses your {name}", (name, *args), judge=judge, driver=_drive_without)


def _learner_answer_problem(fn: Any, label: str) -> str:
    if fn is None:
        return (f"{label} is None: run the cell that defines it (and replace `raise "
                f"NotImplementedError()` with your code)")
    if not callable(fn):
        return f"{label} must be a function, received {type(fn).__name__}"
    return ""


def _run(title: str, fn: Any, cases: list[Case], names: Sequence[str], *, timeout: float | None,
         verbose: bool, tested: str, label: str = "fn") -> CheckResult | Check:
    """The Check of ``cases``, run on ``fn`` (or returned when ``fn`` is :data:`SPEC`)."""
    timeout = default_timeout() if timeout is None else chk.check_number(
        timeout, "timeout", low=0.0, low_open=True)
    if not isinstance(verbose, bool):
        raise TypeError(f"verbose must be True or False, received {type(verbose).__name__}")
    check = Check(title, cases, list(names), tested, label, timeout)
    return check if fn is SPEC else check.run(fn, verbose)


# =========================================================================== recipes
@dataclass(frozen=True)
class Recipe:
    """An argument built where the function runs: ``RECIPES[target](*args)``, e.g. a test
    function ``f`` or a data split. Lets a case travel as plain data to a sandboxed child."""

    target: str
    args: tuple[Any, ...] = ()

    def build(self) -> Any:
        if self.target not in RECIPES:
            raise ValueError(f"unknown recipe {self.target!r}; known: {sorted(RECIPES)}")
        return RECIPES[self.target](*self.args)


#: the functions a :class:`Recipe` may name (filled by the chapter modules with :func:`recipe`)
RECIPES: dict[str, Callable[..., Any]] = {}


def recipe(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``fn`` as a recipe target under its ``__name__``."""
    RECIPES[fn.__name__] = fn
    return fn


def materialize(args: Any) -> Any:
    """``args`` with every :class:`Recipe` replaced by what it builds (tuples, lists and dicts
    walked)."""
    if isinstance(args, Recipe):
        return args.build()
    if isinstance(args, tuple):
        return tuple(materialize(a) for a in args)
    if isinstance(args, list):
        return [materialize(a) for a in args]
    if isinstance(args, dict):
        return {k: materialize(v) for k, v in args.items()}
    return args


def _judge(case: Case, out: Outcome, timeout: float) -> CaseResult:
    if out.status == "skipped":
        return CaseResult(case.name, False, "not run: the time limit was used up",
                          "make the function faster (no endless loop?)")
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
    return CaseResult(case.name, ok, msg, hint, no_credit=isinstance(hint, NoCredit))




def _ref_expect(want: Any, args: tuple[Any, ...], **kw: Any) -> Expect:
    f32 = any(getattr(a, "dtype", None) == np.float32 for a in args)
    if f32:
        kw.setdefault("rtol", 1e-5)
        kw.setdefault("atol", 1e-6)
    return Expect(np.asarray(want, dtype=np.float64), float32_input=f32, **kw)


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
        res.cases.append(CaseResult(case, False, f"expected {want:.6g}, received {v:.6g}", hint,
                                    no_credit=isinstance(hint, NoCredit)))
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


def _schedule_values(fn: Callable[..., Any], what: str, n_steps: int, *args: Any) -> np.ndarray:
    """``fn(t, *args)`` for ``t = 0 .. n_steps - 1`` as floats (a learning-rate schedule), or a
    ValueError naming ``what`` and the step when a value is None or not one number."""
    out = []
    for t in range(n_steps):
        value = fn(t, *args)
        if value is None:
            raise ValueError(f"{what} returned None at step {t}: did you forget the `return` "
                             "statement?")
        arr = np.asarray(_portable(value)[0], dtype=np.float64)
        if arr.size != 1:
            raise ValueError(f"{what} must return one number, received shape {arr.shape} "
                             f"at step {t}")
        out.append(float(arr.reshape(())))
    return np.array(out)


def _check_seeds(seeds: Any) -> list[int]:
    """A lab's ``seeds``: a non-empty sequence of ints >= 0 (TypeError/ValueError otherwise)."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise TypeError(f"seeds must be a non-empty sequence of ints, received {seeds!r}")
    return [chk.check_int(s, "seeds", low=0) for s in seeds]


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


def _digits_split(seed: int) -> Any:
    """The digits data split ``seed`` (a recipe: labs receive it as data)."""
    from ..data import digits

    return digits(seed=seed)


RECIPES["digits_split"] = _digits_split
