"""Checks of chapter 02 (gradient descent): ``numerical_gradient``, ``bug_location`` (a
choice), ``fixed_loss_and_grad``, ``minibatch_sgd``, ``lr_max`` (a number) and the
``digits_lab``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import _checks as chk
from ..backend import rng as make_rng
from .engine import (
    Case,
    CaseResult,
    CheckResult,
    Expect,
    Recipe,
    _as_numbers,
    _check_number,
    _check_seeds,
    _diagnose,
    _digits_split,
    _eigen_range,
    _run,
    _titled,
    recipe,
)


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


def _quadratic_matrix(seed: int) -> np.ndarray:
    g = make_rng(3 + seed)
    A = g.standard_normal((4, 4))
    return A @ A.T + np.eye(4)


@recipe
def test_function(kind: str, seed: int = 0) -> Callable[[np.ndarray], Any]:
    """The scalar test function ``kind`` of :func:`check_numerical_gradient` (a recipe, so that
    a case can name it as data)."""
    if kind == "sin_x2":
        return lambda x: np.sum(np.sin(x) * x**2)
    if kind == "quadratic":
        A = _quadratic_matrix(seed)
        return lambda x: 0.5 * x @ A @ x
    if kind == "logsumexp":
        return lambda x: np.log(np.sum(np.exp(x)))
    if kind == "cubic":
        return lambda x: np.sum(x**3)
    raise ValueError(f"kind must be one of 'sin_x2', 'quadratic', 'logsumexp', 'cubic', received {kind!r}")


def _test_functions(seed: int = 0) -> list[tuple[str, Recipe, np.ndarray]]:
    g = make_rng(3 + seed)
    g.standard_normal((4, 4))            # the quadratic's matrix (drawn in _quadratic_matrix)
    xs = [g.standard_normal(5), g.standard_normal(4), g.standard_normal((3, 2)),
          np.array([1.5]) if seed == 0 else g.uniform(-2.0, 2.0, 1)]
    return [(name, Recipe("test_function", (kind, seed)), x) for (name, kind), x in zip(
        [("sum(sin(x) * x**2), x (5,)", "sin_x2"), ("quadratic 0.5 x^T A x, x (4,)", "quadratic"),
         ("log-sum-exp, x (3, 2)", "logsumexp"), ("cubic, one entry", "cubic")], xs, strict=True)]


def check_numerical_gradient(fn: Callable[..., Any], *, h: float = 1e-5, seed: int = 0,
                             verbose: bool = True, timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(f, x, h)`` = centred differences
    :math:`\frac{f(x + h e_k) - f(x - h e_k)}{2h}` for every entry k of ``x`` (any shape),
    leaving ``x`` unchanged. Tolerance 1e-7 absolute + 1e-6 relative: far below the O(h)
    error of forward differences, far above the O(h²) error of centred ones."""
    h = chk.check_number(h, "h", low=0.0, high=1e-2, low_open=True)
    seed = chk.check_int(seed, "seed", low=0)
    cases = []
    for name, f_recipe, x in _test_functions(seed):
        f = f_recipe.build()
        want = _centred(f, x, h)
        alts = [(_centred(f, x, h, "forward"), "this is the forward difference (f(x+h)-f(x))/h, "
                 "whose error is O(h): use (f(x+h) - f(x-h)) / (2h)"),
                (_centred(f, x, h, "half"), "you divided by h: the centred difference spans 2h")]
        cases.append(Case(name, (f_recipe, x, np.float64(h)),
                           Expect(want, rtol=1e-6, atol=1e-7, alternatives=alts)))
    return _run(_titled("numerical_gradient", seed), fn, cases, ["f", "x", "h"], timeout=timeout,
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


def _bug_cases(seed: int = 0) -> list[tuple[str, tuple[Any, ...]]]:
    from ..models import SoftmaxRegression

    out = []
    for name, (n, d, c, case_seed) in {"digits-like (20, 6) -> 4 classes": (20, 6, 4, 0),
                                       "one example (1, 3) -> 3 classes": (1, 3, 3, 1),
                                       "(9, 2) -> 5 classes": (9, 2, 5, 2)}.items():
        case_seed += 1000 * seed
        g = make_rng(case_seed)
        X = g.standard_normal((n, d))
        y = g.integers(0, c, n)
        params = SoftmaxRegression(d, c).init_params(seed=case_seed)
        params["b"] = 0.1 * g.standard_normal(c)
        out.append((name, (params, X, y, np.float64(0.1))))
    return out


def check_fixed_loss_and_grad(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                              timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(params, X, y, lam)`` returns ``(loss, grads)`` of softmax regression with
    weight decay, grads ``{"W": X^T G + λW, "b": Σ_i G_i}``,
    :math:`G = (\mathrm{softmax}(Z) - \mathrm{onehot}(y))/N`."""
    from ..models import SoftmaxRegression

    cases = []
    seed = chk.check_int(seed, "seed", low=0)
    for name, (params, X, y, lam) in _bug_cases(seed):
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
            ok_l, msg_l, _ = _diagnose(got_loss, "", Expect(np.asarray(loss)))
            if not ok_l:
                return False, f"loss: {msg_l}", "the loss itself was right in the given code"
            for key in ("W", "b"):
                alts = ([(buggy_b, "this is still the planted bug: the bias gradient sums G "
                                   "over the examples (G already carries the 1/N)")]
                        if key == "b" else [])
                ok, msg, hint = _diagnose(got[key], "", Expect(np.asarray(grads[key]),
                                                                factors={"N": n},
                                                                alternatives=alts))
                if not ok:
                    return False, f"grads['{key}']: {msg}", hint
            return True, "", ""

        cases.append(Case(name, (params, X, y, lam), judge=judge))
    return _run(_titled("fixed_loss_and_grad", seed), fn, cases, ["params", "X", "y", "lam"], timeout=timeout,
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


def check_minibatch_sgd(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                        timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(X, y, lr, batch_size, epochs, seed)``: mini-batch SGD on the mean squared
    error of :math:`\hat y = Xw` from :math:`w = 0`, returning w. Each epoch draws
    ``perm = rng.permutation(N)`` from one ``rng = np.random.default_rng(seed)`` made before
    the loop; the batches are ``perm[k:k+B]`` (the last one may be smaller); each step is
    :math:`w \leftarrow w - \eta\,\frac2{|B|}X_B^\top(X_Bw - y_B)`."""
    data_seed = chk.check_int(seed, "seed", low=0)
    g = make_rng(11 + data_seed)
    X = g.standard_normal((50, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * g.standard_normal(50)
    runs = {"B=8 (last batch of 2), 3 epochs": (0.05, 8, 3, 0),
            "B=1 (pure SGD), 1 epoch": (0.01, 1, 1, 4),
            "B=N=50 (full batch), 5 epochs": (0.1, 50, 5, 2),
            "B=16, 2 epochs, seed 7": (0.05, 16, 2, 7)}
    if data_seed:       # other batch sizes and seeds: a last batch of another size
        b1, b2 = int(g.integers(3, 12)), int(g.integers(12, 24))
        runs = {f"B={b1}, 3 epochs": (0.05, b1, 3, int(g.integers(100))),
                "B=1 (pure SGD), 1 epoch": (0.01, 1, 1, int(g.integers(100))),
                "B=N=50 (full batch), 5 epochs": (0.1, 50, 5, int(g.integers(100))),
                f"B={b2}, 2 epochs": (0.05, b2, 2, int(g.integers(100)))}
    cases = []
    for name, (lr, b, ep, seed) in runs.items():
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
        cases.append(Case(name, args, Expect(want, rtol=1e-8, atol=1e-10, alternatives=alts)))
    return _run(_titled("minibatch_sgd", data_seed), fn, cases,
                ["X", "y", "lr", "batch_size", "epochs", "seed"],
                timeout=timeout, verbose=verbose, tested="w after mini-batch SGD on seeded data",
                label="minibatch_sgd")



@recipe
def lr_max_matrix(seed: int = 5) -> np.ndarray:
    """The symmetric positive definite matrix A of chapter 02's ``lr_max`` exercise (the notebook
    draws it with seed 5; the grader's hidden cases with other seeds)."""
    M = np.random.default_rng(seed).standard_normal((3, 3))
    return M @ M.T + 0.5 * np.eye(3)


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



def digits_lab_baseline(seed: int = 0) -> float:
    """Validation accuracy of the chapter 02 lab's baseline on split ``seed``: softmax
    regression from ``init_params(seed=0)``, plain SGD η = 0.1, batch 32, 5 epochs (an untuned
    first try)."""
    return _digits_lab_baseline(chk.check_int(seed, "seed", low=0))


@functools.lru_cache(maxsize=8)
def _digits_lab_baseline(seed: int) -> float:
    from .. import models, optim, train

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
    from ..models import SoftmaxRegression

    seeds = _check_seeds(seeds)
    ratio = chk.check_number(ratio, "ratio", low=0.0, high=2.0, low_open=True)
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
            if acc >= need - 1e-9:        # accuracies are multiples of 1/N
                return True, msg, ""
            return False, msg, ("tune the learning rate first (a sweep over a few powers of "
                                "10), then the number of epochs")

        cases.append(Case(f"digits split seed={s}", (Recipe("digits_split", (s,)),), judge=judge))
    return _run("digits lab", fn, cases, ["split"], timeout=timeout, verbose=verbose,
                tested=f"validation error <= {ratio:g} x the baseline's", label="train_digits")


#: every check by exercise name (for an auto-grader looping over a submission)
