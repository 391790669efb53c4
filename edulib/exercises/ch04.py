"""Checks of chapter 04 (second order): ``softmax_hvp``, ``classify_point``, ``two_loop`` and
the ``lbfgs_lab``; the learning rate from power iteration is checked by
:func:`edulib.exercises.ch02.check_lr_max` on the dense Hessian."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import _checks as chk
from ..backend import rng as make_rng
from .engine import (
    Case,
    CheckResult,
    Expect,
    NoCredit,
    _as_numbers,
    _check_seeds,
    _diagnose,
    _digits_split,
    _run,
    _titled,
    recipe,
    uses_case,
)


def _hvp_cases(seed: int = 0) -> list[tuple[str, tuple[Any, ...]]]:
    from ..models import SoftmaxRegression

    out = []
    for name, (n, d, c, case_seed) in {"(20, 6) -> 4 classes": (20, 6, 4, 50),
                                  "one example (1, 3) -> 3 classes": (1, 3, 3, 51),
                                  "(9, 2) -> 5 classes, large logits": (9, 2, 5, 52)}.items():
        case_seed += 1000 * seed
        g = make_rng(case_seed)
        X = g.standard_normal((n, d)) * (3.0 if c == 5 else 1.0)
        y = g.integers(0, c, n)
        params = SoftmaxRegression(d, c).init_params(seed=case_seed)
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


def check_softmax_hvp(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                      timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(params, X, y, v) -> {"W": ..., "b": ...}``: the Hessian-vector product
    :math:`Hv` of the mean softmax cross-entropy of :math:`Z = XW + b` (no weight decay):
    :math:`dZ = XV_W + V_b`, :math:`R = \frac1N\bigl(P\odot dZ - P\odot\sum_c(P\odot dZ)_{:c}\bigr)`,
    :math:`Hv_W = X^\top R`, :math:`Hv_b = \sum_i R_{i:}`, compared with
    :func:`edulib.hessian.hvp` (analytic)."""
    from .. import hessian
    from ..models import SoftmaxRegression

    seed = chk.check_int(seed, "seed", low=0)
    cases = []
    for name, (params, X, y, v) in _hvp_cases(seed):
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
                             Expect(want, 1e-8, 1e-12, factors={"N": n}, alternatives=alts))

        cases.append(Case(name, (params, X, y, v), judge=judge))
    return _run(_titled("softmax_hvp", seed), fn, cases, ["params", "X", "y", "v"], timeout=timeout,
                verbose=verbose, tested="Hv of softmax regression vs edulib.hessian.hvp",
                label="softmax_hvp")


_KINDS = ("minimum", "maximum", "saddle", "degenerate", "not critical")


def _point_cases(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    g = make_rng(60 + 1000 * seed)
    out = []
    for name, eigs, gnorm in (("minimum in 3-D", [0.5, 2.0, 7.0], 0.0),
                              ("maximum in 2-D", [-1.0, -4.0], 1e-9),
                              ("saddle in 3-D", [3.0, -0.2, 1.0], 0.0),
                              ("positive diagonal, but a saddle", None, 0.0),
                              ("degenerate: a zero eigenvalue", [2.0, 0.0, 1.0], 0.0),
                              ("not critical: the gradient is 1e-2", [1.0, 2.0], 1e-2)):
        if eigs is not None and seed:     # the same signs, other sizes
            eigs = [e * float(g.uniform(0.5, 2.0)) for e in eigs]
        if eigs is None:
            a = 1.0 if not seed else float(g.uniform(0.5, 2.0))
            H = np.array([[a, 2.0 * a], [2.0 * a, a]])  # eigenvalues 3a and -a
        else:
            Q, _ = np.linalg.qr(g.standard_normal((len(eigs), len(eigs))))
            H = Q @ np.diag(eigs) @ Q.T
            H = (H + H.T) / 2
        grad = g.standard_normal(H.shape[0])
        grad *= gnorm / np.linalg.norm(grad)
        out.append((name, grad, H))
    return out


def check_classify_point(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                         timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(grad, H)`` returns the kind of point, as
    :func:`edulib.hessian.classify_critical_point` (``tol=1e-6``, ``eig_tol=1e-8``): "not
    critical" when :math:`\lVert g\rVert > 10^{-6}`, else from the eigenvalues of :math:`H`
    ("minimum", "maximum", "saddle", "degenerate" when one is within
    :math:`10^{-8}\max(1, \max|\lambda|)` of 0)."""
    from ..hessian import classify_critical_point

    cases = []
    seed = chk.check_int(seed, "seed", low=0)
    for name, grad, H in _point_cases(seed):
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

        cases.append(Case(name, (grad, H), judge=judge))
    return _run(_titled("classify_point", seed), fn, cases, ["grad", "H"], timeout=timeout, verbose=verbose,
                tested="kind of point vs edulib.hessian.classify_critical_point",
                label="classify_point")


def _two_loop_cases(seed: int = 0) -> list[tuple[str, tuple[Any, ...]]]:
    out = []
    for name, (n, m, case_seed) in {"n=4, one pair": (4, 1, 70), "n=6, three pairs": (6, 3, 71),
                                    "n=5, five pairs": (5, 5, 72)}.items():
        g = make_rng(case_seed + 1000 * seed)
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
    if kind == "pairs_newest_first":       # both loops run over the list the wrong way round
        return _two_loop_variant(g, pairs[::-1], gamma, "right")
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


def check_two_loop(fn: Callable[..., Any], *, seed: int = 0, verbose: bool = True,
                   timeout: float | None = None) -> CheckResult:
    r"""Check ``fn(g, pairs, gamma)`` = :math:`B_k g` by the L-BFGS two-loop recursion over
    ``pairs`` = [(s_i, y_i, ρ_i)] (oldest first), compared with
    :func:`edulib.quasi_newton.two_loop`: :math:`q \leftarrow g`; newest to oldest
    :math:`a_i = \rho_i s_i^\top q,\ q \leftarrow q - a_i y_i`; :math:`r = \gamma q`; oldest to
    newest :math:`b = \rho_i y_i^\top r,\ r \leftarrow r + s_i(a_i - b)`."""
    from ..quasi_newton import two_loop

    hints = {"first_loop_oldest_first": NoCredit("wrong order: the first loop runs from the newest "
                                                 "pair to the oldest"),
             "second_loop_newest_first": NoCredit("wrong order: the second loop runs from the "
                                                  "oldest pair to the newest, each with its own a_i"),
             "pairs_newest_first": NoCredit("wrong order: pairs are given oldest first, so the first "
                                            "loop walks reversed(pairs) and the second loop pairs"),
             "no_gamma": "the middle step scales by gamma: r = gamma * q",
             "no_second_loop": "the second loop is missing: r <- r + s_i (a_i - b_i), oldest first"}
    seed = chk.check_int(seed, "seed", low=0)
    cases = []
    for name, (g, pairs, gamma) in _two_loop_cases(seed):
        want = np.asarray(two_loop(np, g, pairs, gamma))
        alts = []
        for kind, text in hints.items():
            alt = _two_loop_variant(g, pairs, gamma, kind)
            if not np.allclose(alt, want, rtol=1e-9, atol=1e-12):
                alts.append((alt, text))
        alts.append((-want, NoCredit("the sign: the recursion returns B g; the direction is its "
                                     "negative, taken outside")))
        cases.append(Case(name, (g, pairs, gamma), Expect(want, 1e-9, 1e-12, alternatives=alts)))
    return _run(_titled("two_loop", seed), fn, cases, ["g", "pairs", "gamma"], timeout=timeout,
                verbose=verbose,
                tested="B g vs edulib.quasi_newton.two_loop", label="two_loop")


def sharpness_problem(seed: int = 4) -> tuple[Any, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(model, params, X, y) of chapter 04's ``lr_sharp`` exercise: linear regression on
    correlated features (the notebook uses seed 4)."""
    from ..models import LinearRegression

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, 6)) @ (np.eye(6) + 0.8 * rng.standard_normal((6, 6)))
    y = X @ rng.standard_normal(6) + 0.1 * rng.standard_normal(200)
    model = LinearRegression(6)
    return model, model.init_params(seed=0), X, y


@recipe
def sharpness_matvec(seed: int = 4) -> Callable[[np.ndarray], np.ndarray]:
    """``H_matvec`` of the ``lr_sharp`` exercise for data set ``seed``: u -> H u (flat)."""
    from .. import hessian

    model, params, X, y = sharpness_problem(seed)
    return lambda u: hessian.flatten(hessian.hvp(model, params, X, y, hessian.unflatten(u, params)))


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
    from .. import quasi_newton
    from ..models import SoftmaxRegression

    X, y, lam = _lbfgs_lab_problem(seed)
    model = SoftmaxRegression(X.shape[1], 10, weight_decay=lam)
    fun, x0 = quasi_newton.model_objective(model, X, y, model.init_params(seed=0, scale=0.0))
    return float(quasi_newton.lbfgs(fun, x0, gtol=1e-9, ftol=0.0, maxiter=2000).fun)


def check_lbfgs_lab(fn: Callable[..., Any], *, seeds: Sequence[int] = (0, 1), rtol: float = 1e-6,
                    requires: Sequence[str] = ("two_loop",), verbose: bool = True,
                    timeout: float | None = 60.0) -> CheckResult:
    r"""Lab (chapter 04): ``fn(X, y, lam)`` minimises L2 softmax regression
    (``SoftmaxRegression(64, 10, weight_decay=lam)``) on the training part of the digits split
    ``seed`` and returns its params. The objective at what it returns must be within ``rtol``
    (relative) of :func:`lbfgs_lab_reference`; with the notebook's own function of each name in
    ``requires`` switched off (``engine.SWITCHED_OFF``) it must not be: the result depends on it."""
    from ..models import SoftmaxRegression

    seeds = _check_seeds(seeds)
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

        cases.append(Case(f"digits split seed={s}", (X, y, np.float64(lam)), judge=judge))
    X, y, lam = _lbfgs_lab_problem(seeds[0])
    cases += [uses_case(name, (X, y, np.float64(lam)), "fit_lbfgs", cases[0].judge)
              for name in requires]
    return _run("lbfgs lab", fn, cases, ["X", "y", "lam"], timeout=timeout, verbose=verbose,
                tested=f"objective within {rtol:g} of the reference minimum", label="fit_lbfgs")
