"""edulib.quasi_newton: Newton, BFGS, L-BFGS and the strong-Wolfe line search.

Checked against the maths (one Newton step solves a quadratic, strong Wolfe on every accepted
step, L-BFGS with full memory reproduces BFGS's first steps), against SciPy's BFGS/L-BFGS-B and
against scikit-learn's LogisticRegression on the same digits objective.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from edulib import data, functions, models
from edulib import quasi_newton as qn
from edulib.hessian import flatten, unflatten

ROSEN = functions.Rosenbrock()


def rosen_fun(x):
    return ROSEN.value_and_grad(x)


def quadratic(xp, n=6, seed=0):
    """f = ½ (x - x*)ᵀA(x - x*), x* = A⁻¹b, with a seeded SPD A (condition number 50).

    Written around x* so that f* = 0: f's rounding error then shrinks with f and the line search
    can resolve decreases down to tiny gradients (with f* = O(1) it cannot go below
    ‖g‖ ~ sqrt(eps·|f*|·λ_max) ≈ 1e-7, see notebook 04/03)."""
    g = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(g.standard_normal((n, n)))
    A_np = (Q * np.linspace(1.0, 50.0, n)) @ Q.T
    x_star = np.linalg.solve(A_np, g.standard_normal(n))
    A, xs = xp.asarray(A_np), xp.asarray(x_star)

    def fun(x):
        Ar = A @ (x - xs)
        return 0.5 * xp.vecdot(x - xs, Ar), Ar

    return fun, A, x_star


# --------------------------------------------------------------------------- Newton
def test_newton_solves_a_quadratic_in_one_step(xp, to_np):
    fun, A, x_star = quadratic(xp)
    res = qn.newton(fun, xp.zeros(6, dtype=xp.float64), lambda x: A, gtol=1e-10)
    assert res.success and res.nit == 1, res
    np.testing.assert_allclose(to_np(res.x), x_star, rtol=1e-10, atol=1e-12)
    assert res.history["step"] == [0.0, 1.0] and res.history["shift"] == [0.0, 0.0]


@pytest.mark.parametrize("method", ["newton", "bfgs", "lbfgs"])
def test_every_method_reaches_the_rosenbrock_minimum(xp, to_np, method):
    x0 = xp.asarray([-1.2, 1.0])
    if method == "newton":
        res = qn.newton(rosen_fun, x0, ROSEN.hessian, gtol=1e-8)
    else:
        res = getattr(qn, method)(rosen_fun, x0, gtol=1e-8, ftol=0.0)
    assert res.success, res
    np.testing.assert_allclose(to_np(res.x), [1.0, 1.0], atol=1e-6)
    assert res.fun < 1e-12
    assert 5 <= res.nit <= 60 and res.nfev >= res.nit
    f = res.history["f"]
    assert len(f) == res.nit + 1 and all(b <= a for a, b in zip(f, f[1:], strict=False))  # monotone
    assert res.history["nfev"][-1] == res.nfev


def test_modified_newton_shifts_an_indefinite_hessian_and_pure_newton_goes_uphill():
    # At (-1.6, 2.6), x2 > x1² + 1/200: the Rosenbrock Hessian is indefinite.
    x0 = np.array([-1.6, 2.6])
    assert np.linalg.eigvalsh(ROSEN.hessian(x0))[0] < 0
    safe = qn.newton(rosen_fun, x0, ROSEN.hessian, gtol=1e-8)
    assert safe.success and safe.history["shift"][1] > 0 and all(safe.history["descent"])
    assert all(b <= a for a, b in zip(safe.history["f"], safe.history["f"][1:], strict=False))
    pure = qn.newton(rosen_fun, x0, ROSEN.hessian, gtol=1e-8, damped=False, modify=False)
    assert not pure.history["descent"][1]                     # the first step points uphill
    assert max(pure.history["f"]) > 100 * pure.history["f"][0]
    assert all(s == 0.0 for s in pure.history["shift"])


def test_pure_newton_stops_at_a_saddle_modified_newton_does_not_call_it_converged():
    saddle = functions.Saddle()
    fun = saddle.value_and_grad
    pure = qn.newton(fun, np.array([0.7, 0.3]), saddle.hessian, damped=False, modify=False)
    assert pure.success and pure.nit == 1
    np.testing.assert_allclose(pure.x, [0.0, 0.0], atol=1e-12)   # "converged" to the saddle
    safe = qn.newton(fun, np.array([0.7, 0.3]), saddle.hessian, maxiter=5)
    assert safe.fun < pure.fun - 0.05 and all(safe.history["descent"])


def test_cholesky_shift_follows_its_documented_sequence():
    eye = np.eye(2)
    # positive definite: no shift
    assert qn._cholesky_shift(np, np.array([[2.0, 1.0], [1.0, 2.0]]), eye) == 0.0
    # a negative diagonal entry: start at beta - min H_ii = 2e-3 + 2, which already works
    assert qn._cholesky_shift(np, np.diag([-2.0, 1.0]), eye) == pytest.approx(2.002, rel=1e-15)
    # positive diagonal but indefinite (eigenvalues -1 and 3): 0 fails, then beta = 1e-3
    # doubles until it exceeds 1: 1e-3 * 2**10 = 1.024 (the smallest working shift is 1)
    assert qn._cholesky_shift(np, np.array([[1.0, 2.0], [2.0, 1.0]]), eye) == pytest.approx(
        1.024, rel=1e-12)
    # beta = 1e-3 max(1, max |H_ii|): with H_ii = -5000 it is 5, so tau_0 = 5005
    assert qn._cholesky_shift(np, np.diag([-5000.0, 1.0]), eye) == pytest.approx(5005.0)
    assert qn._cholesky_shift(np, np.diag([-1.0, 1.0]), eye, max_tries=0) is None


# --------------------------------------------------------------------------- line search
class Recorder:
    """Wraps fun and keeps every evaluation, to check the line search from outside."""

    def __init__(self, fun):
        self.fun, self.calls = fun, []

    def __call__(self, x):
        f, g = self.fun(x)
        self.calls.append((np.array(x, copy=True), float(f), np.array(g, copy=True)))
        return f, g


def softmax_problem(n=120, d=5, c=3, seed=0, lam=1e-2):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d))
    y = (X @ g.standard_normal((d, c))).argmax(axis=1) ^ (g.random(n) < 0.1)
    y = np.clip(y, 0, c - 1).astype(np.int64)
    model = models.SoftmaxRegression(d, c, weight_decay=lam)
    params = model.init_params(seed=seed)
    return model, X, y, params


@pytest.mark.parametrize("method", ["bfgs", "lbfgs"])
@pytest.mark.parametrize("problem", ["rosenbrock", "softmax"])
def test_every_accepted_step_meets_the_strong_wolfe_conditions(method, problem):
    if problem == "rosenbrock":
        fun, x0 = rosen_fun, np.array([-1.2, 1.0])
    else:
        model, X, y, params = softmax_problem()
        fun, x0 = qn.model_objective(model, X, y, params)
    rec = Recorder(fun)
    c1, c2 = 1e-4, 0.9
    res = getattr(qn, method)(rec, x0, gtol=1e-9, ftol=0.0, c1=c1, c2=c2, record_x=True)
    assert res.success and res.nit >= 10
    xs = res.history["x"]
    evals = {tuple(x): (f, g) for x, f, g in rec.calls}
    n_checked = 0
    for k in range(res.nit):
        (fk, gk), (f1, g1) = evals[tuple(xs[k])], evals[tuple(xs[k + 1])]
        s = xs[k + 1] - xs[k]                  # = alpha_k d_k
        slope = gk @ s
        assert slope < 0                       # a descent direction
        assert f1 <= fk + c1 * slope + 1e-14 * abs(fk), k            # sufficient decrease
        assert abs(g1 @ s) <= c2 * abs(slope) * (1 + 1e-9), k        # curvature (strong)
        n_checked += 1
    assert n_checked == res.nit and res.n_skipped == 0


def test_line_search_zooms_and_interpolates():
    # phi(alpha) = f(x + alpha d) on a 1-D quadratic with minimum at alpha = 0.3: trial 1 is
    # too long, the zoom's quadratic interpolation lands on 0.3 exactly.
    def fun(x):
        return 0.5 * (x[0] - 0.3) ** 2, x - 0.3

    ls = qn.wolfe_line_search(fun, np.array([0.0]), np.array([1.0]), 0.045, np.array([-0.3]))
    assert ls.alpha == pytest.approx(0.3, rel=1e-12) and ls.nfev == 2
    ls = qn.wolfe_line_search(fun, np.array([0.0]), np.array([1.0]), 0.045, np.array([-0.3]),
                              alpha1=0.01)            # too short: doubles, then zooms
    assert 0.01 < ls.alpha < 0.6 and ls.nfev >= 3
    bad = qn.wolfe_line_search(fun, np.array([0.0]), np.array([-1.0]), 0.045, np.array([-0.3]))
    assert bad.alpha is None and "not a descent direction" in bad.message


def test_a_first_trial_ten_thousand_times_too_long_is_fixed_in_one_zoom_step():
    # f = 5e5 x² from x = 1e-4 along d = -g: the trial 1/|g| = 0.01 moves x by 1, 10⁴ times the
    # distance to the minimum (alpha* = 1e-6). The parabola through phi(0), phi'(0) and
    # phi(0.01) is phi itself: its minimiser is taken although it lies at 1e-4 of the bracket
    # (halving the bracket instead would need 14 trials).
    def stiff(x):
        return 5e5 * float(x[0] ** 2), 1e6 * x

    x0 = np.array([1e-4])
    f0, g0 = stiff(x0)
    ls = qn.wolfe_line_search(stiff, x0, -g0, f0, g0, alpha1=1.0 / abs(float(g0[0])))
    assert ls.alpha == pytest.approx(1e-6, rel=1e-9) and ls.nfev == 2 and ls.wolfe


def test_stiff_problems_no_longer_stop_at_iteration_0():
    """f = 5e5 x² from 1e-4 (SciPy: 1 iteration, 3 evaluations for L-BFGS-B and BFGS alike) and
    a 50-D quadratic with condition number 1e6 started 1e-4 from its minimum."""
    scipy_opt = pytest.importorskip("scipy.optimize")

    def stiff(x):
        return 5e5 * float(x[0] ** 2), 1e6 * x

    for ours, theirs in (("lbfgs", "L-BFGS-B"), ("bfgs", "BFGS")):
        res = getattr(qn, ours)(stiff, np.array([1e-4]), gtol=1e-9)
        ref = scipy_opt.minimize(stiff, np.array([1e-4]), jac=True, method=theirs,
                                 options={"gtol": 1e-9})
        assert res.success and (res.nit, res.nfev) == (ref.nit, ref.nfev) == (1, 3), res
        assert abs(float(res.x[0])) < 1e-15
    g = np.random.default_rng(0)
    Q, _ = np.linalg.qr(g.standard_normal((50, 50)))
    A = (Q * np.logspace(0, 6, 50)) @ Q.T
    x0 = 1e-4 * g.standard_normal(50)

    def quad50(x):
        r = A @ x
        return 0.5 * float(x @ r), r

    for res in (qn.lbfgs(quad50, x0, gtol=1e-9, ftol=0.0), qn.bfgs(quad50, x0, gtol=1e-9)):
        assert res.success and res.grad_norm <= 1e-9 and res.nit > 1, res
        assert np.max(np.abs(res.x)) < 1e-8          # x* = 0; ||x|| <= ||g|| / lambda_min = 1


def test_line_search_falls_back_to_the_lowest_sufficient_decrease():
    def sq(x):
        return float(x[0] ** 2), 2.0 * x

    x0 = np.array([1.0])
    f0, g0 = sq(x0)
    # one trial allowed: alpha = 0.01 lowers f but the slope is still steep (not Wolfe)
    ls = qn.wolfe_line_search(sq, x0, np.array([-1.0]), f0, g0, alpha1=0.01, maxiter=1)
    assert ls.alpha == 0.01 and not ls.wolfe and ls.f < f0 and "no strong-Wolfe" in ls.message
    # the only trial raises f: no step at all
    ls = qn.wolfe_line_search(sq, x0, np.array([-1.0]), f0, g0, alpha1=5.0, maxiter=1)
    assert ls.alpha is None and ls.f == f0


def test_line_search_stops_at_the_resolution_of_x():
    # phi's minimiser, x = 1 + 1.5 ulp, lies between two floats: with c2 = 0.1 no float meets
    # the curvature condition. The search stops as soon as every new trial would round to a
    # point it has seen and returns the lowest one (1 + 2 ulp), instead of spending its budget
    # on the same two points.
    ulp = float(np.spacing(1.0))

    def between_floats(x):
        r = (x - 1.0) - 1.5 * ulp
        return 0.5 * float(r[0] ** 2), r

    x0 = np.array([1.0])
    f0, g0 = between_floats(x0)
    ls = qn.wolfe_line_search(between_floats, x0, -g0, f0, g0, c2=0.1)
    assert ls.nfev <= 3 and "resolution" in ls.message and not ls.wolfe
    assert float(ls.x[0]) == 1.0 + 2 * ulp and ls.f < f0


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"alpha1": 0.0}, ValueError, ["alpha1", "0.0"]),
        ({"alpha1": -1.0}, ValueError, ["alpha1", "-1.0"]),
        ({"alpha1": math.nan}, ValueError, ["alpha1", "nan"]),
        ({"alpha1": "1"}, TypeError, ["alpha1"]),
        ({"maxiter": 0}, ValueError, ["maxiter", "received 0"]),
        ({"maxiter": 2.5}, TypeError, ["maxiter", "int"]),
        ({"amax": -1.0}, ValueError, ["amax", "-1.0"]),
        ({"amax": math.inf}, ValueError, ["amax", "inf"]),
        ({"c1": 0.0}, ValueError, ["c1"]),
        ({"c2": 1.0}, ValueError, ["c2"]),
        ({"c1": 0.5, "c2": 0.5}, ValueError, ["c1", "c2", "0 < c1 < c2 < 1"]),
        ({"fun": None}, TypeError, ["fun", "callable"]),
        ({"x": np.zeros((2, 1))}, ValueError, ["x", "1-D", "(2, 1)"]),
        ({"d": np.ones(3)}, ValueError, ["d", "(2,)", "(3,)"]),
        ({"g0": np.ones(3)}, ValueError, ["g0", "(2,)", "(3,)"]),
        ({"d": np.array([np.nan, 1.0])}, ValueError, ["d", "finite"]),
        ({"f0": math.nan}, ValueError, ["f0", "nan"]),
        ({"x": "ab"}, TypeError, ["x"]),
    ],
)
def test_line_search_bad_arguments_name_themselves(kwargs, exc, words):
    args = {"fun": rosen_fun, "x": np.zeros(2), "d": np.array([1.0, 0.0]), "f0": 1.0,
            "g0": np.array([-2.0, 0.0])} | kwargs
    with pytest.raises(exc) as info:
        qn.wolfe_line_search(**args)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


# --------------------------------------------------------------------------- BFGS vs L-BFGS
def test_lbfgs_with_full_memory_matches_bfgs_on_a_quadratic(xp, to_np):
    fun, _, x_star = quadratic(xp, n=6)
    x0 = xp.zeros(6, dtype=xp.float64)
    rb = qn.bfgs(fun, x0, gtol=1e-10, record_x=True)
    rl = qn.lbfgs(fun, x0, m=20, gtol=1e-10, ftol=0.0, record_x=True)    # m >= n and >= nit
    assert rb.success and rl.success
    # the first two iterates are the same maths (H_1 = BFGS update of gamma_0 I) ...
    for k in (1, 2):
        np.testing.assert_allclose(rl.history["x"][k], rb.history["x"][k], rtol=1e-9, atol=1e-12)
    # ... then only gamma differs; both land on A^-1 b in a similar number of steps
    np.testing.assert_allclose(to_np(rl.x), x_star, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(to_np(rb.x), x_star, rtol=1e-7, atol=1e-9)
    assert rl.nit <= 20 and abs(rl.nit - rb.nit) <= 3, (rl.nit, rb.nit)
    small = qn.lbfgs(fun, x0, m=2, gtol=1e-10, ftol=0.0)
    assert small.success and small.nit > rl.nit + 5       # less memory, more iterations


def test_bfgs_hess_inv0_is_used_as_given(xp, to_np):
    # Started from the exact inverse Hessian, BFGS keeps it (the update of B = A^-1 with the
    # pair (s, A s) is B itself): after its first step the direction is Newton's and alpha = 1
    # lands on the minimum. Rescaling B0 by gamma_0 (the default start) would spoil it.
    fun, A, x_star = quadratic(xp, n=6)
    x0 = xp.zeros(6, dtype=xp.float64)
    A_inv = xp.asarray(np.linalg.inv(to_np(A)))
    A_inv = (A_inv + A_inv.T) / 2.0
    res = qn.bfgs(fun, x0, gtol=1e-10, hess_inv0=A_inv)
    assert res.success and res.nit <= 2, res
    np.testing.assert_allclose(to_np(res.x), x_star, rtol=1e-9, atol=1e-11)
    assert qn.bfgs(fun, x0, gtol=1e-10).nit > res.nit + 2
    # hess_inv0 = I is SciPy's start: the first iterate is a step along -g, as the default's
    eye = qn.bfgs(fun, x0, gtol=1e-10, hess_inv0=xp.eye(6, dtype=xp.float64), record_x=True)
    default = qn.bfgs(fun, x0, gtol=1e-10, record_x=True)
    np.testing.assert_allclose(eye.history["x"][1], default.history["x"][1], rtol=1e-12)
    assert eye.success and not np.allclose(eye.history["x"][2], default.history["x"][2])


@pytest.mark.parametrize(
    ("hess_inv0", "exc", "words"),
    [
        (np.eye(3), ValueError, ["hess_inv0", "(2, 2)", "(3, 3)"]),
        (np.array([[1.0, 0.5], [0.0, 1.0]]), ValueError, ["hess_inv0", "symmetric"]),
        (np.diag([1.0, -1.0]), ValueError, ["hess_inv0", "positive definite"]),
        (np.array([[np.nan, 0.0], [0.0, 1.0]]), ValueError, ["hess_inv0", "finite"]),
        ("I", TypeError, ["hess_inv0"]),
    ],
)
def test_bfgs_bad_hess_inv0_names_itself(hess_inv0, exc, words):
    with pytest.raises(exc) as info:
        qn.bfgs(rosen_fun, np.zeros(2), hess_inv0=hess_inv0)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


@pytest.mark.parametrize(("ours", "theirs"), [("bfgs", "BFGS"), ("lbfgs", "L-BFGS-B")])
def test_matches_scipy_on_rosenbrock_10d_and_softmax(ours, theirs):
    scipy_opt = pytest.importorskip("scipy.optimize")

    def rosen(x):
        return scipy_opt.rosen(x), scipy_opt.rosen_der(x)

    x0 = np.random.default_rng(0).uniform(-0.5, 1.5, 10)   # basin of the global minimum
    model, X, y, params = softmax_problem(seed=1)
    soft, s0 = qn.model_objective(model, X, y, params)
    for fun, start in ((rosen, x0), (soft, s0)):
        opts = {"gtol": 1e-9} if theirs == "BFGS" else {"gtol": 1e-9, "ftol": 1e-15}
        ref = scipy_opt.minimize(fun, start, jac=True, method=theirs, options=opts)
        res = getattr(qn, ours)(fun, start, gtol=1e-9, ftol=0.0)
        assert res.success, res
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-6, atol=1e-6)
        assert res.fun <= ref.fun + 1e-10 * max(1.0, abs(ref.fun))
        assert 0.5 * ref.nit - 5 <= res.nit <= 2 * ref.nit + 5, (res.nit, ref.nit)


def test_lbfgs_on_digits_reaches_sklearns_logistic_regression_optimum():
    """The headline: edulib's L-BFGS and scikit-learn's lbfgs solver find the same optimum of
    mean CE + λ/2 ||W||² (sklearn minimises C·Σ CE + ½||W||², the same problem when C = 1/(λN))."""
    linear_model = pytest.importorskip("sklearn.linear_model")
    split = data.digits()
    X, y = split.X_train, split.y_train
    lam, n = 1e-3, X.shape[0]
    model = models.SoftmaxRegression(64, 10, weight_decay=lam)
    params = model.init_params(seed=0, scale=0.0)
    fun, x0 = qn.model_objective(model, X, y, params)
    res = qn.lbfgs(fun, x0, m=10, gtol=1e-9, ftol=0.0)
    assert res.success, res
    clf = linear_model.LogisticRegression(C=1.0 / (lam * n), tol=1e-12, max_iter=10_000)
    clf.fit(X, y)
    theirs = {"W": clf.coef_.T.copy(), "b": clf.intercept_.copy()}
    f_ours = float(model.loss(unflatten(res.x, params), X, y))
    f_theirs = float(model.loss(theirs, X, y))
    assert f_ours == pytest.approx(res.fun, rel=1e-14)
    assert abs(f_ours - f_theirs) <= 1e-6 * f_theirs, (f_ours, f_theirs)
    assert f_ours <= f_theirs * (1 + 1e-9)                  # ours is at least as low
    n_sk = int(clf.n_iter_[0])
    print(f"edulib L-BFGS: {res.nit} iterations, {res.nfev} evaluations, f={f_ours:.12f}; "
          f"sklearn lbfgs: {n_sk} iterations, f={f_theirs:.12f}")
    assert 0.5 * n_sk <= res.nit <= 2 * n_sk, (res.nit, n_sk)
    # same predictions (the intercept differs only by a constant shift across classes)
    np.testing.assert_array_equal(model.predict(unflatten(res.x, params), split.X_val),
                                  clf.predict(split.X_val))


# --------------------------------------------------------------------------- precision
def test_float32_stays_float32_and_stops_cleanly_below_its_resolution(xp):
    model, X, y, params64 = softmax_problem(seed=2)
    p32 = {k: xp.asarray(v, dtype=xp.float32) for k, v in params64.items()}
    fun, x0 = qn.model_objective(model, xp.asarray(X, dtype=xp.float32), xp.asarray(y), p32)
    res = qn.lbfgs(fun, x0, gtol=1e-12, ftol=0.0)          # far below float32's resolution
    assert res.x.dtype == xp.float32 and x0.dtype == xp.float32
    assert not res.success and "line search failed" in res.message
    assert res.grad_norm > 1e-12 and res.nit < 500
    fun64, x64 = qn.model_objective(model, X, y, params64)
    ref = qn.lbfgs(fun64, x64, gtol=1e-10, ftol=0.0)
    assert abs(res.fun - ref.fun) < 1e-5 * ref.fun          # float32-accurate anyway


# --------------------------------------------------------------------------- model_objective
def test_model_objective_flattens_in_hessian_order_and_penalises_weights_only():
    model, X, y, params = softmax_problem(lam=0.0)
    fun, x0 = qn.model_objective(model, X, y, params)
    np.testing.assert_array_equal(x0, flatten(params))
    assert x0 is not params["W"]
    f0, g0 = fun(x0)
    lam = 0.3
    fun_l2, _ = qn.model_objective(model, X, y, params, weight_decay=lam)
    f1, g1 = fun_l2(x0)
    assert model.weight_decay == 0.0                             # the model is not changed
    W, b = params["W"], params["b"]
    assert float(f1) - float(f0) == pytest.approx(0.5 * lam * float(np.sum(W * W)), rel=1e-12)
    dg = unflatten(g1 - g0, params)
    np.testing.assert_allclose(dg["W"], lam * W, rtol=1e-12)
    np.testing.assert_array_equal(dg["b"], np.zeros_like(b))    # no penalty on the bias
    # the flat gradient is the gradient: centred differences along a random direction
    v = np.random.default_rng(0).standard_normal(x0.shape)
    h = 1e-6
    fd = (float(fun_l2(x0 + h * v)[0]) - float(fun_l2(x0 - h * v)[0])) / (2 * h)
    assert fd == pytest.approx(float(g1 @ v), rel=1e-7)


# --------------------------------------------------------------------------- stopping
def test_stopping_rules_and_counters():
    x0 = np.array([-1.2, 1.0])
    r = qn.lbfgs(rosen_fun, x0, maxiter=3)
    assert not r.success and r.nit == 3 and "maxiter=3" in r.message
    r = qn.bfgs(rosen_fun, x0, maxfun=7)
    assert not r.success and r.nfev >= 7 and "maxfun=7" in r.message
    r = qn.lbfgs(rosen_fun, x0, ftol=1e-3)
    assert r.success and "ftol" in r.message and r.fun > 1e-12
    r = qn.lbfgs(rosen_fun, np.array([1.0, 1.0]))
    assert r.success and r.nit == 0 and r.nfev == 1
    r = qn.bfgs(rosen_fun, x0, maxiter=0)
    assert not r.success and r.nit == 0
    assert "lbfgs" in repr(qn.lbfgs(rosen_fun, x0))


def test_a_wrong_gradient_ends_in_a_line_search_failure():
    def wrong(x):
        f, g = ROSEN.value_and_grad(x)
        return f, -g                               # -g is an ascent direction for f

    res = qn.lbfgs(wrong, np.array([-1.2, 1.0]))
    assert not res.success and "line search failed" in res.message and res.nit == 0
    res = qn.newton(wrong, np.array([-1.2, 1.0]), ROSEN.hessian)
    assert not res.success and "line search" in res.message


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("method", ["newton", "bfgs", "lbfgs"])
def test_non_finite_values_stop_with_a_message(method):
    def nan_at_start(x):
        return math.nan, np.zeros_like(x)

    def nan_far_away(x):                           # NaN beyond x1 > 0: the search must back off
        f, g = ROSEN.value_and_grad(x)
        return (math.nan, g) if x[0] > 0.0 else (f, g)

    kw = {"hess": ROSEN.hessian} if method == "newton" else {}
    run = getattr(qn, method)
    res = run(nan_at_start, np.array([-1.2, 1.0]), **kw)
    assert not res.success and "non-finite" in res.message and res.nfev == 1
    res = run(nan_far_away, np.array([-1.2, 1.0]), maxiter=200, **kw)
    assert not res.success and res.nfev < 2000 and math.isfinite(res.fun)
    assert float(res.x[0]) <= 0.0


@pytest.mark.parametrize(
    ("call", "exc", "words"),
    [
        (lambda: qn.lbfgs(rosen_fun, np.zeros((2, 1))), ValueError, ["x0", "1-D", "(2, 1)"]),
        (lambda: qn.lbfgs(rosen_fun, np.array([np.nan, 1.0])), ValueError, ["x0", "finite"]),
        (lambda: qn.lbfgs(rosen_fun, np.zeros(0)), ValueError, ["x0", "empty"]),
        (lambda: qn.lbfgs(rosen_fun, "ab"), TypeError, ["x0"]),
        (lambda: qn.lbfgs(rosen_fun, np.zeros(2), m=0), ValueError, ["m", "received 0"]),
        (lambda: qn.lbfgs(rosen_fun, np.zeros(2), m=2.5), TypeError, ["m", "int"]),
        (lambda: qn.bfgs(rosen_fun, np.zeros(2), gtol=-1.0), ValueError, ["gtol", "-1.0"]),
        (lambda: qn.lbfgs(rosen_fun, np.zeros(2), ftol=math.nan), ValueError, ["ftol"]),
        (lambda: qn.lbfgs(rosen_fun, np.zeros(2), maxiter=-1), ValueError, ["maxiter"]),
        (lambda: qn.lbfgs(rosen_fun, np.zeros(2), c1=0.9, c2=0.5), ValueError, ["c1", "c2"]),
        (lambda: qn.bfgs(rosen_fun, np.zeros(2), c2=1.0), ValueError, ["c2"]),
        (lambda: qn.lbfgs(42, np.zeros(2)), TypeError, ["fun", "callable"]),
        (lambda: qn.lbfgs(lambda x: (0.0, np.zeros(3)), np.zeros(2)), ValueError,
         ["fun", "gradient", "(2,)", "(3,)"]),
        (lambda: qn.lbfgs(lambda x: 1.0, np.zeros(2)), TypeError, ["fun", "pair"]),
        (lambda: qn.lbfgs(lambda x: (np.ones(2), x), np.zeros(2)), TypeError, ["fun", "scalar"]),
        (lambda: qn.newton(rosen_fun, np.zeros(2), lambda x: np.eye(3)), ValueError,
         ["hess", "(2, 2)", "(3, 3)"]),
        (lambda: qn.newton(rosen_fun, np.zeros(2), None), TypeError, ["hess"]),
        (lambda: qn.model_objective(object(), np.zeros((2, 2)), np.zeros(2), {}), TypeError,
         ["model"]),
        (lambda: qn.model_objective(models.SoftmaxRegression(2, 2), np.zeros((2, 2)),
                                    np.zeros(2, dtype=np.int64), [1.0]), TypeError,
         ["params_like"]),
        (lambda: qn.model_objective(models.SoftmaxRegression(2, 2), np.zeros((2, 3)),
                                    np.zeros(2, dtype=np.int64),
                                    models.SoftmaxRegression(2, 2).init_params()), ValueError,
         ["X"]),
    ],
)
def test_bad_input_names_the_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_unbounded_below_stops_with_a_message_and_no_warning():
    # x1^2 - x2^2 has no minimum: guarded Newton follows the negative curvature until f is
    # hopeless; it must stop with success=False and say why, without an overflow warning.
    s = functions.Saddle()
    res = qn.newton(lambda x: (s.f(x), s.grad(x)), np.array([0.5, 0.1]), hess=s.hessian)
    assert not res.success
    assert "unbounded below" in res.message
    assert res.fun < -1e15
