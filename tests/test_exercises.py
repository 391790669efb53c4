"""edulib.exercises: right answers pass, classic mistakes fail with the hint aimed at them, and
nothing a learner writes (exceptions, sys.exit, endless loops, None, NaN, mutation) escapes."""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np
import pytest

from edulib import exercises, fitting, gradcheck, hessian, losses, models, optim, train

# ----------------------------------------------------------------- right answers (plain NumPy)


def mse_grad(y_hat, y):
    return 2.0 * (y_hat - y) / y_hat.size


def huber_grad(y_hat, y, delta):
    return np.clip(y_hat - y, -delta, delta) / y_hat.size


def hinge_grad(s, y):
    return -y * (1.0 - y * s > 0) / s.size


def bce(z, y):
    return np.mean(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z))))


def softmax_ce(z, y):
    z = z.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    return np.mean(m[:, 0] + np.log(np.exp(z - m).sum(axis=1)) - z[np.arange(len(y)), y])


def softmax_ce_grad(z, y):
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def numerical_gradient(f, x, h=1e-5):
    g = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def fixed_loss_and_grad(params, X, y, lam):
    loss, grads = exercises.planted_bug_loss_and_grad(params, X, y, lam)
    return loss, {"W": grads["W"], "b": grads["b"] * X.shape[0]}


def minibatch_sgd(X, y, lr, batch_size, epochs, seed):
    rng = np.random.default_rng(seed)
    w = np.zeros(X.shape[1])
    for _ in range(epochs):
        perm = rng.permutation(len(y))
        for k in range(0, len(y), batch_size):
            i = perm[k:k + batch_size]
            w = w - lr * 2.0 * X[i].T @ (X[i] @ w - y[i]) / len(i)
    return w


def robust_line(x, y):
    fit = fitting.fit_line(x, y, losses.huber, delta=1.0)
    return fit.slope, fit.intercept


def train_digits(split):
    model = models.SoftmaxRegression(64, 10)
    params = model.init_params(seed=0)
    train.train(model, params, optim.SGD(params, lr=0.03, momentum=0.9), split, epochs=20,
                batch_size=32)
    return params


RIGHT = {
    "mse_grad": mse_grad,
    "huber_grad": huber_grad,
    "hinge_grad": hinge_grad,
    "bce_with_logits": bce,
    "softmax_cross_entropy": softmax_ce,
    "softmax_cross_entropy_grad": softmax_ce_grad,
    "numerical_gradient": numerical_gradient,
    "fixed_loss_and_grad": fixed_loss_and_grad,
    "minibatch_sgd": minibatch_sgd,
}
SEEDED = ["mse_grad", "huber_grad", "hinge_grad", "bce_with_logits", "softmax_cross_entropy",
          "softmax_cross_entropy_grad"]


@pytest.mark.parametrize("name", SEEDED)
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_right_answers_pass_on_every_seed(name, seed):
    res = exercises.CHECKS[name](RIGHT[name], seed=seed, verbose=False)
    assert res and res.passed and res.score == 1.0 and res.failures == []
    assert str(res).startswith("PASS") and res.n_cases >= 4


@pytest.mark.parametrize("name", ["numerical_gradient", "fixed_loss_and_grad", "minibatch_sgd"])
def test_right_answers_pass_chapter02(name):
    res = exercises.CHECKS[name](RIGHT[name], verbose=False)
    assert res.passed and res.points(2) == 2.0, str(res)


def test_value_answers():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    lmax = float(np.linalg.eigvalsh(A)[-1])
    assert exercises.check_lr_max(2.0 / lmax, A, verbose=False)
    assert not exercises.check_lr_max(2.0 / lmax * 1.01, A, verbose=False)
    assert exercises.check_loss_at_init(np.log(10.0), verbose=False)
    assert exercises.check_loss_at_init(2.3026, verbose=False)          # 4 significant digits
    assert not exercises.check_loss_at_init(2.31, verbose=False)
    assert exercises.check_loss_at_init(np.log(3.0), n_classes=3, verbose=False)
    assert exercises.check_bug_location("b", verbose=False)
    assert exercises.check_bug_location(" b ", verbose=False)


def test_checks_cover_every_exercise():
    assert set(RIGHT) | {"loss_at_init", "robust_line", "bug_location", "lr_max",
                         "digits_lab"} | CHAPTER03 | CHAPTER04 | CHAPTER05 == set(exercises.CHECKS)


def test_labs_right_and_wrong():
    good = exercises.check_robust_line(robust_line, verbose=False)
    assert good.passed and good.n_cases == 3
    lsq = exercises.check_robust_line(lambda x, y: tuple(np.polyfit(x, y, 1)), verbose=False)
    assert lsq.score == 0.0 and "try MAE or Huber" in lsq.hints[0]
    for s in (0, 1, 2):  # the baseline really is the least-squares line, as the message says
        x, y, out = exercises.ch01._line_data(s)
        slope, b = np.polyfit(x, y, 1)
        base = exercises.robust_line_baseline(s)
        assert base == pytest.approx(np.sqrt(np.mean((slope * x[~out] + b - y[~out]) ** 2)))
    half = exercises.check_robust_line(
        lambda x, y: robust_line(x, y) if x[0] < -2.9 else (0.0, 0.0), verbose=False)
    assert 0.0 < half.score < 1.0    # data sets differ: partial credit per data set


def test_digits_lab():
    res = exercises.check_digits_lab(train_digits, verbose=False)
    assert res.passed, str(res)
    # the baseline recipe itself is not enough: the lab asks for a tuned run
    def baseline_recipe(split):
        model = models.SoftmaxRegression(64, 10)
        params = model.init_params(seed=0)
        train.train(model, params, optim.SGD(params, lr=0.1), split, epochs=5, batch_size=32)
        return params

    res = exercises.check_digits_lab(baseline_recipe, verbose=False)
    assert res.score == 0.0 and "needs >=" in res.failures[0]
    bad = exercises.check_digits_lab(lambda split: {"W": np.zeros((3, 3))}, verbose=False)
    assert bad.score == 0.0 and "expected params" in bad.failures[0]


# ----------------------------------------------------------------- classic mistakes -> hint


def naive_bce(z, y):
    s = 1.0 / (1.0 + np.exp(-z))
    return np.mean(-y * np.log(s) - (1 - y) * np.log(1 - s))


def naive_softmax_ce(z, y):
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return np.mean(-np.log(p[np.arange(len(y)), y]))


def forward_difference(f, x, h=1e-5):
    g, f0 = np.zeros(x.shape), f(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        g[i] = (f(x) - f0) / h
        x[i] = old
    return g


def add_back_difference(f, x, h=1e-5):
    g = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        x[i] += h
        fp = f(x)
        x[i] -= 2 * h
        fm = f(x)
        x[i] += h            # leaves round-off behind
        g[i] = (fp - fm) / (2 * h)
    return g


def sgd_variant(**kw):
    return lambda X, y, lr, b, ep, seed: exercises.ch02._sgd_reference(X, y, lr, b, ep, seed, **kw)


WRONG = [
    ("mse_grad", lambda a, b: 2.0 * (a - b), "missing 1/N"),
    ("mse_grad", lambda a, b: (a - b) / a.size, "missing factor 2"),
    ("mse_grad", lambda a, b: 2.0 * (b - a) / a.size, "sign is flipped"),
    ("mse_grad", lambda a, b: np.float32(2.0) * (a - b).astype(np.float32) / a.size,
     "float32 round-off"),
    ("huber_grad", lambda a, b, d: np.sign(a - b) * d / a.size, "inside |r| <= delta"),
    ("huber_grad", lambda a, b, d: (a - b) / a.size, "never clip"),
    ("hinge_grad", lambda s, y: -y / s.size, "forgot the indicator"),
    ("hinge_grad", lambda s, y: -y * (y * s < 0) / s.size, "not y*s < 0"),
    ("hinge_grad", lambda s, y: y * (1.0 - y * s > 0) / s.size, "sign is flipped"),
    ("hinge_grad", lambda s, y: -y * (1.0 - y * s > 0), "missing 1/N"),
    ("bce_with_logits", naive_bce, "overflow at large logits"),
    ("bce_with_logits", lambda z, y: bce(z, y) * len(z), "missing 1/N"),
    ("bce_with_logits", lambda z, y: np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))),
     "wrong reduction"),
    ("softmax_cross_entropy", naive_softmax_ce, "subtract each row's maximum"),
    ("softmax_cross_entropy", lambda z, y: softmax_ce(z, y) * len(y), "missing 1/N"),
    ("softmax_cross_entropy", lambda z, y: -softmax_ce(z, y), "sign is flipped"),
    ("softmax_cross_entropy", lambda z, y: softmax_ce(z, y) / z.shape[1], "divided by C"),
    ("softmax_cross_entropy_grad", lambda z, y: -softmax_ce_grad(z, y), "sign is flipped"),
    ("softmax_cross_entropy_grad", lambda z, y: softmax_ce_grad(z, y).T, "transposed"),
    ("softmax_cross_entropy_grad", lambda z, y: softmax_ce_grad(z, y) * len(y), "missing 1/N"),
    ("softmax_cross_entropy_grad", lambda z, y: softmax_ce_grad(z, y)[:, :-1], "expected shape"),
    ("softmax_cross_entropy_grad",
     lambda z, y: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) / len(y), "one-hot term"),
    ("numerical_gradient", forward_difference, "forward difference"),
    ("numerical_gradient", lambda f, x, h: 2 * numerical_gradient(f, x, h), "spans 2h"),
    ("numerical_gradient", add_back_difference, "save old = x[i]"),
    ("fixed_loss_and_grad", exercises.planted_bug_loss_and_grad, "still the planted bug"),
    ("fixed_loss_and_grad", lambda p, X, y, lam: fixed_loss_and_grad(p, X, y, lam)[1],
     "return loss, grads"),
    ("minibatch_sgd", sgd_variant(shuffle=False), "no shuffling"),
    ("minibatch_sgd", sgd_variant(drop_last=True), "last, smaller batch was dropped"),
    ("minibatch_sgd", sgd_variant(reseed=True), "make the rng once"),
    ("minibatch_sgd", sgd_variant(divide="none"), "summed over the batch"),
    ("minibatch_sgd", sgd_variant(divide="B"), "len(idx)"),
]


@pytest.mark.parametrize("name, fn, hint", WRONG)
def test_classic_mistakes_fail_with_their_hint(name, fn, hint):
    res = exercises.CHECKS[name](fn, verbose=False)
    assert not res and res.score < 1.0
    assert any(hint in f for f in res.failures), str(res)
    assert str(res).startswith("FAIL") and hint in str(res)
    assert 0.0 <= res.points(3) < 3.0 and isinstance(res.points(3), float)


def test_feedback_names_the_case_expected_received_and_plain_index():
    res = exercises.check_mse_grad(lambda a, b: 2.0 * (a - b), verbose=False)
    first = res.failures[0]
    assert first.startswith("random (7,): expected ") and "received" in first
    assert "at index [5]" in first and "np.int64" not in str(res)
    assert res.score == 0.5 and res.points(2) == 1.0      # N = 1 and zero residual still pass


def test_partial_float32_and_real_error_in_float32():
    def keeps_dtype(z, y):
        return softmax_ce(z, y).astype(z.dtype)

    assert exercises.check_softmax_cross_entropy(keeps_dtype, verbose=False)  # float32: loose tol

    def all_float32(z, y):
        return softmax_ce(z.astype(np.float32), y).astype(np.float32)

    res = exercises.check_softmax_cross_entropy(all_float32, verbose=False)
    assert res.score == pytest.approx(0.2) and "float32 round-off" in res.hints[0]

    def wrong_on_float32(z, y):
        return softmax_ce(z, y) * (1.01 if z.dtype == np.float32 else 1.0)

    res = exercises.check_softmax_cross_entropy(wrong_on_float32, verbose=False)
    assert res.score == pytest.approx(0.8)
    assert "far beyond float32 round-off" in res.hints[0]


def test_numeric_answer_hints():
    A = np.diag([4.0, 1.0])
    for value, hint in [(0.25, "1/lambda_max"), (2.0, "2/lambda_min"), (4.0, "lambda_max itself"),
                        (0.4, "2/trace(A)")]:
        res = exercises.check_lr_max(value, A, verbose=False)
        assert not res and hint in res.hints[0], (value, str(res))
    for value, hint in [(0.1, "probability 1/C"), (1.0, "log10"), (-np.log(10), "positive"),
                        (np.log2(10), "log2"), (0.0, "zero logits")]:
        res = exercises.check_loss_at_init(value, verbose=False)
        assert not res and hint in res.hints[0], (value, str(res))
    assert "W is right" in exercises.check_bug_location("W", verbose=False).hints[0]
    assert "expected one of" in exercises.check_bug_location("bias", verbose=False).failures[0]


# ----------------------------------------------------------------- anything a learner writes


def _raises(exc):
    def fn(a, b):
        raise exc
    return fn


class Custom(BaseException):
    pass


@pytest.mark.parametrize("fn, text", [
    (_raises(ZeroDivisionError("oops")), "raised ZeroDivisionError: oops"),
    (_raises(SystemExit(3)), "SystemExit(3)"),
    (lambda a, b: sys.exit(), "SystemExit(None)"),
    (_raises(KeyboardInterrupt()), "raised KeyboardInterrupt"),
    (_raises(Custom("x")), "raised Custom: x"),
    (_raises(NotImplementedError()), "raised NotImplementedError"),
    (lambda a, b: None, "forget the `return`"),
    (lambda a, b: "nope", "received the text 'nope'"),
    (lambda a, b: {"g": a}, "received a dict"),
    (lambda a, b: (a - b) * 1j, "complex"),
    (lambda a, b: np.array([object()]), "expected an array of numbers"),
    (lambda a, b: (x for x in a), "returned a generator"),
    (lambda a, b: np.full(a.shape, np.nan), "non-finite"),
    (lambda a, b: os._exit(0), "crashed"),
    (lambda a, b: np.sum(mse_grad(a, b)), "a single number"),
])
def test_nothing_a_learner_writes_escapes(fn, text, capfd):
    res = exercises.check_mse_grad(fn, verbose=True)
    assert not res and res.score < 1.0
    assert text in str(res), str(res)
    out, err = capfd.readouterr()
    assert err == "" and out.startswith("FAIL mse_grad")   # nothing on stderr: nbgrader reads it


def test_not_implemented_and_system_exit_have_hints():
    res = exercises.check_mse_grad(_raises(NotImplementedError()), verbose=False)
    assert "replace `raise NotImplementedError()`" in res.hints[0]
    res = exercises.check_mse_grad(_raises(SystemExit(0)), verbose=False)
    assert "instead of exiting" in res.hints[0]


def test_endless_loop_times_out_and_the_process_goes_on():
    def endless(a, b):
        while True:
            pass

    before = _children()
    t0 = time.perf_counter()
    res = exercises.check_mse_grad(endless, verbose=False, timeout=0.5)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0 and res.score == 0.0
    assert "timed out" in res.failures[0] and "not run" in res.failures[1]
    assert exercises.check_mse_grad(mse_grad, verbose=False)       # still working afterwards
    if before is not None:
        assert _children() <= before                               # no child (or zombie) left


def _children():
    """pids whose parent is this process (Linux /proc), or None where /proc is missing."""
    if not os.path.isdir("/proc/self"):
        return None
    me, out = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                out.add(int(entry))
    return out


def test_timeout_from_environment(monkeypatch):
    monkeypatch.setenv("EDULIB_CHECK_TIMEOUT", "0.3")
    assert exercises.default_timeout() == 0.3
    t0 = time.perf_counter()
    res = exercises.check_mse_grad(lambda a, b: time.sleep(30), verbose=False)
    assert time.perf_counter() - t0 < 5.0 and "within 0.3 s" in res.failures[0]
    monkeypatch.setenv("EDULIB_CHECK_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="EDULIB_CHECK_TIMEOUT"):
        exercises.default_timeout()


def test_mutating_the_input_is_a_failure_and_the_reference_stays_intact():
    def mutating(a, b):
        a -= b
        return 2.0 * a / a.size        # the right numbers, computed by destroying y_hat

    res = exercises.check_mse_grad(mutating, verbose=False)
    assert not res and all("changed its input y_hat" in f for f in res.failures[:3])
    assert exercises.check_mse_grad(mse_grad, verbose=False)


def test_prints_and_warnings_of_learner_code_do_not_leak(capfd):
    def noisy(a, b):
        print("debug", a)
        warnings.warn("careful", RuntimeWarning, stacklevel=1)
        os.write(2, b"raw stderr\n")
        with np.errstate(all="warn"):
            np.exp(np.array([1000.0]))
        return mse_grad(a, b)

    res = exercises.check_mse_grad(noisy, verbose=False)
    assert res.passed
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_in_process_fallback_without_fork(monkeypatch):
    monkeypatch.setattr(exercises.engine, "_CAN_FORK", False)
    assert exercises.check_mse_grad(mse_grad, verbose=False)
    res = exercises.check_mse_grad(_raises(SystemExit(2)), verbose=False)
    assert "SystemExit(2)" in res.failures[0]
    res = exercises.check_mse_grad(lambda a, b: a.__setitem__(..., 0.0), verbose=False)
    assert "changed its input y_hat" in res.failures[0]


def test_answers_from_any_array_library_are_read(xp):
    def other_library(a, b):
        return xp.asarray(mse_grad(a, b))

    assert exercises.check_mse_grad(other_library, verbose=False)
    assert not exercises.check_mse_grad(lambda a, b: xp.asarray(a - b), verbose=False)


def test_not_a_function_is_a_failed_result_not_an_exception():
    for answer in (None, 42):
        res = exercises.check_mse_grad(answer, verbose=False)
        assert not res and res.score == 0.0 and res.n_cases == 4
    assert "mse_grad is None" in exercises.check_mse_grad(None, verbose=False).failures[0]
    assert "must be a function, received int" in exercises.check_mse_grad(42, verbose=False).failures[0]
    for value in (None, "2.3", [1.0, 2.0], float("nan"), True):
        assert not exercises.check_loss_at_init(value, verbose=False)


def test_points_are_plain_floats_for_nbgrader():
    res = exercises.check_mse_grad(lambda a, b: 2.0 * (a - b), verbose=False)
    p = res.points(3)
    assert type(p) is float and repr(p) == "1.5"
    assert exercises.check_mse_grad(mse_grad, verbose=False).points(2) == 2.0
    assert exercises.check_mse_grad(None, verbose=False).points(2) == 0.0


def test_verbose_prints_a_grouped_verdict(capsys):
    exercises.check_mse_grad(mse_grad)
    exercises.check_mse_grad(_raises(ValueError("same")))
    out = capsys.readouterr().out
    assert "PASS mse_grad: all 4 cases pass" in out and "FAIL mse_grad: 0 of 4 cases pass" in out
    assert out.count("raised ValueError: same") == 1        # identical failures on one line


# ----------------------------------------------------------------- bad arguments to the checks


@pytest.mark.parametrize("call, exc, match", [
    (lambda: exercises.check_huber_grad(huber_grad, delta="1"), TypeError, "delta must be a number"),
    (lambda: exercises.check_huber_grad(huber_grad, delta=-1.0), ValueError, "delta must be in"),
    (lambda: exercises.check_mse_grad(mse_grad, rtol=-1e-3), ValueError, "rtol must be in"),
    (lambda: exercises.check_mse_grad(mse_grad, atol="x"), TypeError, "atol must be a number"),
    (lambda: exercises.check_mse_grad(mse_grad, timeout=-1), ValueError, "timeout must be in"),
    (lambda: exercises.check_mse_grad(mse_grad, timeout="5"), TypeError, "timeout must be a number"),
    (lambda: exercises.check_mse_grad(mse_grad, seed=-1), ValueError, "seed must be an int"),
    (lambda: exercises.check_mse_grad(mse_grad, seed=1.5), TypeError, "seed must be an int"),
    (lambda: exercises.check_mse_grad(mse_grad, verbose="yes"), TypeError, "verbose must be"),
    (lambda: exercises.check_numerical_gradient(numerical_gradient, h=0.5), ValueError, "h must be"),
    (lambda: exercises.check_loss_at_init(2.3, n_classes=1), ValueError, "n_classes must be"),
    (lambda: exercises.check_lr_max(0.1, "A"), TypeError, "A must be a square matrix"),
    (lambda: exercises.check_lr_max(0.1, [["a", "b"], ["c", "d"]]), TypeError, "A must be a square"),
    (lambda: exercises.check_lr_max(0.1, np.full((2, 2), np.nan)), ValueError, "A must be finite"),
    (lambda: exercises.check_lr_max(0.1, np.array([[1.0, 2.0], [0.0, 1.0]])), ValueError,
     "symmetric"),
    (lambda: exercises.check_lr_max(0.1, -np.eye(2)), ValueError, "positive definite"),
    (lambda: exercises.check_robust_line(robust_line, ratio=2.0), ValueError, "ratio must be in"),
    (lambda: exercises.check_robust_line(robust_line, seeds="01"), TypeError, "seeds must be"),
    (lambda: exercises.check_digits_lab(train_digits, seeds=[]), TypeError, "seeds must be"),
    (lambda: exercises.CheckResult("x").points(0), ValueError, "max_points must be in"),
    (lambda: exercises.run_isolated(42, ()), TypeError, "fn must be a function"),
])
def test_bad_arguments_to_the_check_raise_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ----------------------------------------------------------------- the references themselves


def test_planted_bug_is_in_b_only():
    (_, (params, X, y, lam)) = exercises.ch02._bug_cases()[0]
    _, grads = exercises.planted_bug_loss_and_grad(params, X, y, lam)
    errors = {}
    for key in ("W", "b"):
        def f(v, key=key):
            p = {**params, key: v}
            return np.asarray(exercises.planted_bug_loss_and_grad(p, X, y, lam)[0])

        errors[key] = gradcheck.rel_error(grads[key], gradcheck.numerical_gradient(f, params[key].copy()))
    assert errors["W"] < 1e-8 and errors["b"] > 0.5


def test_references_match_torch_autograd():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(0)
    z, y = g.standard_normal((6, 4)), g.integers(0, 4, 6)
    zt = torch.tensor(z, requires_grad=True)
    torch.nn.functional.cross_entropy(zt, torch.tensor(y)).backward()
    assert np.allclose(softmax_ce_grad(z, y), zt.grad.numpy(), rtol=1e-10, atol=1e-12)
    s, yy = 2.0 * g.standard_normal(9), np.where(g.uniform(size=9) < 0.5, -1.0, 1.0)
    st = torch.tensor(s, requires_grad=True)
    torch.clamp(1.0 - torch.tensor(yy) * st, min=0.0).mean().backward()
    assert np.allclose(hinge_grad(s, yy), st.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert exercises.check_hinge_grad(lambda s, y: hinge_grad(s, y), verbose=False)


def test_minibatch_reference_follows_the_stated_rng_convention():
    g = np.random.default_rng(5)
    X, y = g.standard_normal((10, 2)), g.standard_normal(10)
    w = exercises.ch02._sgd_reference(X, y, 0.1, 4, 2, 3)
    assert np.allclose(w, minibatch_sgd(X, y, 0.1, 4, 2, 3), rtol=0, atol=0)


# =================================================================== chapter 03 (adaptive methods)
CHAPTER03 = {"momentum_step", "adam_step", "warmup_cosine", "mu_star", "adaptive_lab"}


def momentum_step(theta, b, g, lr, mu):
    b = mu * b + g
    return theta - lr * b, b


def adam_step(theta, m, v, g, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    return theta - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), m, v


def warmup_cosine(t, lr0, warmup, total, start_factor=0.1):
    if t < warmup:
        return lr0 * (start_factor + (1 - start_factor) * t / warmup)
    return 0.5 * lr0 * (1 + np.cos(np.pi * (t - warmup) / (total - warmup)))


def train_mlp(split, lr=0.01, warmup=10, epochs=3, batch_size=64):
    model = models.MLP(64, 32, 10)
    params = model.init_params(seed=0)
    moments = {k: (np.zeros_like(p), np.zeros_like(p)) for k, p in params.items()}
    n = split.X_train.shape[0]
    total = epochs * -(-n // batch_size)
    rng = np.random.default_rng(0)
    t = 0
    for _ in range(epochs):
        perm = rng.permutation(n)
        for k in range(0, n, batch_size):
            idx = perm[k:k + batch_size]
            _, grads = model.loss_and_grad(params, split.X_train[idx], split.y_train[idx])
            lr_t = warmup_cosine(t, lr, warmup, total)
            t += 1
            for name in params:
                m, v = moments[name]
                params[name], m, v = adam_step(params[name], m, v, grads[name], t, lr_t)
                moments[name] = (m, v)
    return params


def _adam_with(kind):
    def step(theta, m, v, g, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        mh, vh = m / (1 - beta1**t), v / (1 - beta2**t)
        denom = {"no_bias_correction": np.sqrt(v) + eps, "eps_inside": np.sqrt(vh + eps),
                 "only_m_corrected": np.sqrt(v) + eps, "no_sqrt": vh + eps}[kind]
        return theta - lr * (m if kind == "no_bias_correction" else mh) / denom, m, v
    return step


def _schedule_with(kind):
    def lr_at(t, lr0, warmup, total, start_factor=0.1):
        return float(exercises.ch03._warmup_cosine_variant(lr0, warmup, total, start_factor, kind)[t])
    return lr_at


def test_chapter03_right_answers_pass():
    for check, fn in ((exercises.check_momentum_step, momentum_step),
                      (exercises.check_adam_step, adam_step),
                      (exercises.check_warmup_cosine, warmup_cosine)):
        res = check(fn, verbose=False)
        assert res.passed and res.n_cases >= 4 and res.points(2) == 2.0, str(res)
    A = np.diag([1.0, 4.0, 100.0])
    assert exercises.check_mu_star((9 / 11) ** 2, A, verbose=False)
    assert not exercises.check_mu_star((9 / 11) ** 2 * 1.001, A, verbose=False)


@pytest.mark.parametrize("fn, hint, score", [
    (lambda th, b, g, lr, mu: (th - lr * (mu * b + (1 - mu) * g), mu * b + (1 - mu) * g),
     "an EMA, dampening", 0.25),
    (lambda th, b, g, lr, mu: (th - lr * g, b), "momentum is ignored", 0.25),
    (lambda th, b, g, lr, mu: (th - lr * (g + mu * (mu * b + g)), mu * b + g), "Nesterov", 0.25),
    (lambda th, b, g, lr, mu: (th - lr * b, mu * b + g), "moved along the old buffer", 0.0),
])
def test_momentum_mistakes_get_their_hint(fn, hint, score):
    res = exercises.check_momentum_step(fn, verbose=False)
    assert res.score == pytest.approx(score) and any(hint in h for h in res.hints), str(res)


@pytest.mark.parametrize("kind, hint, score", [
    ("no_bias_correction", "missing bias correction", 0.0),
    ("eps_inside", "eps inside the square root", 0.2),       # only the large-eps cases see it
    ("only_m_corrected", "only m is bias-corrected", 0.0),
    ("no_sqrt", "missing square root", 0.0),
])
def test_adam_mistakes_get_their_hint(kind, hint, score):
    res = exercises.check_adam_step(_adam_with(kind), verbose=False)
    assert res.score == pytest.approx(score) and any(hint in h for h in res.hints), str(res)


@pytest.mark.parametrize("kind, hint", [
    ("cosine_over_total", "over T - warmup steps"),
    ("cosine_not_shifted", "t - warmup, not t"),
    ("ramp_one_early", "one step ahead"),
    ("ramp_from_zero", "not at 0"),
])
def test_schedule_mistakes_get_their_hint(kind, hint):
    res = exercises.check_warmup_cosine(_schedule_with(kind), verbose=False)
    assert res.score < 1.0 and any(hint in h for h in res.hints), str(res)


def test_mu_star_wrong_formulas_get_their_hint():
    A = np.diag([1.0, 4.0, 100.0])
    for value, hint in ((9 / 11, "mu* is its square"), (99 / 101, "plain GD's rate"),
                        ((99 / 101) ** 2, "not kappa"), (0.99, "1 - 1/kappa"), (None, "None")):
        res = exercises.check_mu_star(value, A, verbose=False)
        assert not res and (hint in " ".join(res.hints + res.failures)), str(res)


def test_chapter03_references_agree_with_each_other():
    theta0, curv, noise = exercises.ch03._quad_grads(5, (4,), 12, 1.0)
    for lr, mu in ((0.05, 0.9), (0.1, 0.0)):
        assert np.allclose(exercises.ch03._momentum_reference(theta0, curv, noise, lr, mu),
                           exercises.ch03._momentum_variant(theta0, curv, noise, lr, mu), rtol=1e-12)
    for eps in (1e-8, 0.1):
        assert np.allclose(exercises.ch03._adam_reference(theta0, curv, noise, 0.05, 0.9, 0.99, eps),
                           exercises.ch03._adam_variant(theta0, curv, noise, 0.05, 0.9, 0.99, eps),
                           rtol=1e-12)
    for args in ((0.1, 5, 50, 0.1), (1.0, 1, 10, 0.5)):
        assert np.allclose(exercises.ch03._warmup_cosine_reference(*args),
                           exercises.ch03._warmup_cosine_variant(*args, "right"), rtol=1e-12, atol=1e-15)


def test_chapter03_references_match_torch():
    torch = pytest.importorskip("torch")
    theta0, curv, noise = exercises.ch03._quad_grads(6, (5,), 15, 1.0)
    for kind, make in (("sgd", lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9)),
                       ("adam", lambda p: torch.optim.Adam([p], lr=0.05, betas=(0.9, 0.99), eps=0.1))):
        p = torch.tensor(theta0, requires_grad=True)
        opt, out = make(p), []
        for t, n in enumerate(noise, start=1):
            if kind == "sgd":           # the momentum check halves lr for the second half
                opt.param_groups[0]["lr"] = 0.05 if t <= len(noise) // 2 else 0.025
            p.grad = torch.tensor(curv) * p.detach() + torch.tensor(n)
            opt.step()
            out.append(p.detach().numpy().copy())
        ref = (exercises.ch03._momentum_reference(theta0, curv, noise, 0.05, 0.9) if kind == "sgd" else
               exercises.ch03._adam_reference(theta0, curv, noise, 0.05, 0.9, 0.99, 0.1))
        assert np.allclose(np.stack(out), ref, rtol=1e-10, atol=1e-12), kind
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.SequentialLR(
        opt, [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=5),
              torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=45)], milestones=[5])
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "step() before optimizer.step()"
        for _ in range(50):
            lrs.append(opt.param_groups[0]["lr"])
            sched.step()
    assert np.allclose(lrs, exercises.ch03._warmup_cosine_reference(0.1, 5, 50, 0.1), rtol=1e-10, atol=1e-15)


def test_chapter03_learner_failures_are_reported_not_raised(xp):
    res = exercises.check_momentum_step(lambda th, b, g, lr, mu: None, verbose=False)
    assert res.score == 0.0 and all("forget the `return`" in f for f in res.failures)

    def in_place(th, b, g, lr, mu):
        b *= mu
        b += g
        th -= lr * b
        return th, b

    res = exercises.check_momentum_step(in_place, verbose=False)
    assert "changed its input theta" in res.failures[0] and res.score == 0.75
    res = exercises.check_adam_step(lambda *a: (a[0], a[1]), verbose=False)
    assert res.score == 0.0 and "must return 3 arrays" in res.failures[0]
    res = exercises.check_warmup_cosine(lambda t, *a: [0.1, 0.2], verbose=False)
    assert res.score == 0.0 and "one number" in res.failures[0]
    res = exercises.check_warmup_cosine(lambda *a: sys.exit(3), verbose=False)
    assert res.score == 0.0 and "SystemExit" in res.failures[0]
    t0 = time.monotonic()
    res = exercises.check_adam_step(lambda *a: time.sleep(60), verbose=False, timeout=1.0)
    assert res.score == 0.0 and "timed out" in res.failures[0] and time.monotonic() - t0 < 10

    def other_library(th, b, g, lr, mu):          # arrays of another library are read back
        th2, b2 = momentum_step(th, b, g, lr, mu)
        return xp.asarray(th2), xp.asarray(b2)

    assert exercises.check_momentum_step(other_library, verbose=False)


def test_adaptive_lab():
    res = exercises.check_adaptive_lab(train_mlp, verbose=False)
    assert res.passed, str(res)
    base = exercises.adaptive_lab_baseline(0)
    assert 0.3 < base < 0.5                      # an untuned first try, far from the target

    def baseline_recipe(split):
        model = models.MLP(64, 32, 10)
        params = model.init_params(seed=0)
        train.train(model, params, optim.SGD(params, lr=0.01), split, epochs=3, batch_size=64)
        return params

    assert exercises.check_adaptive_lab(baseline_recipe, seeds=(0,), verbose=False).score == 0.0

    def tuned_sgd(split):                        # meets the target, without Adam or warm-up
        model = models.MLP(64, 32, 10)
        params = model.init_params(seed=0)
        train.train(model, params, optim.SGD(params, lr=0.3), split, epochs=3, batch_size=64)
        return params

    sgd = exercises.check_adaptive_lab(tuned_sgd, seeds=(0,), verbose=False)
    assert sgd.cases[0].passed and sgd.score == 0.0
    assert "this lab is about adam_step" in " ".join(sgd.hints)
    wrong = exercises.check_adaptive_lab(
        lambda s: {k: v.T for k, v in train_mlp(s).items()}, seeds=(0,), verbose=False)
    assert not wrong.cases[0].passed and "transpose" in wrong.hints[0]
    assert [c.message for c in wrong.cases[1:]] == ["train_mlp misses its target"] * 2
    assert exercises.check_adaptive_lab(lambda s: None, seeds=(0,), verbose=False).score == 0.0


@pytest.mark.parametrize("call, exc, match", [
    (lambda: exercises.check_mu_star(0.5, "A"), TypeError, "A must be a square matrix"),
    (lambda: exercises.check_mu_star(0.5, -np.eye(2)), ValueError, "positive definite"),
    (lambda: exercises.check_mu_star(0.5, np.array([[1.0, 2.0], [0.0, 1.0]])), ValueError, "symmetric"),
    (lambda: exercises.check_adaptive_lab(train_mlp, seeds=[]), TypeError, "seeds must be"),
    (lambda: exercises.check_adaptive_lab(train_mlp, ratio=2.0), ValueError, "ratio must be in"),
    (lambda: exercises.check_adam_step(adam_step, timeout=-1), ValueError, "timeout must be in"),
    (lambda: exercises.check_warmup_cosine(warmup_cosine, verbose="yes"), TypeError, "verbose must be"),
    (lambda: exercises.adaptive_lab_baseline(-1), ValueError, "seed must be"),
])
def test_chapter03_bad_arguments_raise_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# =================================================================== chapter 04 (second order)
CHAPTER04 = {"softmax_hvp", "classify_point", "two_loop", "lbfgs_lab"}


def _probs(params, X):
    Z = X @ params["W"] + params["b"]
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    return P / P.sum(axis=1, keepdims=True)


def softmax_hvp(params, X, y, v, kind="right"):
    P = _probs(params, X)
    dZ = X @ v["W"] + (0.0 if kind == "no_bias" else v["b"])
    R = P * dZ - (0.0 if kind == "diagonal" else P * (P * dZ).sum(axis=1, keepdims=True))
    R = R if kind == "sum" else R / X.shape[0]
    return {"W": X.T @ R, "b": R.sum(axis=0)}


def classify_point(grad, H):
    if np.linalg.norm(grad) > 1e-6:
        return "not critical"
    lam = np.linalg.eigvalsh(H)
    eps = 1e-8 * max(1.0, float(np.abs(lam).max()))
    if np.all(lam > eps):
        return "minimum"
    if np.all(lam < -eps):
        return "maximum"
    return "saddle" if lam.min() < -eps and lam.max() > eps else "degenerate"


def two_loop(g, pairs, gamma):
    q, a = g.copy(), []
    for s, y, rho in reversed(pairs):
        a.append(rho * (s @ q))
        q = q - a[-1] * y
    r = gamma * q
    for (s, y, rho), ai in zip(pairs, reversed(a), strict=True):
        r = r + (ai - rho * (y @ r)) * s
    return r


def fit_lbfgs(X, y, lam, m=10, max_iter=500):
    from edulib import hessian, quasi_newton

    model = models.SoftmaxRegression(X.shape[1], 10, weight_decay=lam)
    like = model.init_params(seed=0, scale=0.0)
    fun, x = quasi_newton.model_objective(model, X, y, like)
    f, g = fun(x)
    pairs, gamma = [], 1.0
    for _ in range(max_iter):
        if np.abs(g).max() < 1e-9:
            break
        d = -two_loop(g, pairs, gamma) if pairs else -g / np.linalg.norm(g)
        ls = quasi_newton.wolfe_line_search(fun, x, d, f, g)
        if ls.alpha is None:
            break
        s, yv = ls.x - x, ls.g - g
        if yv @ s > 1e-12 * (yv @ yv):
            pairs = (pairs + [(s, yv, 1.0 / (yv @ s))])[-m:]
            gamma = (s @ yv) / (yv @ yv)
        x, f, g = ls.x, ls.f, ls.g
    return hessian.unflatten(x, like)


def test_chapter04_right_answers_pass():
    for check, fn in ((exercises.check_softmax_hvp, softmax_hvp),
                      (exercises.check_classify_point, classify_point),
                      (exercises.check_two_loop, two_loop)):
        res = check(fn, verbose=False)
        assert res.passed and res.n_cases >= 3 and res.points(2) == 2.0, str(res)


@pytest.mark.parametrize("kind, hint, score", [
    ("diagonal", "the softmax Jacobian also has the term", 0.0),
    ("sum", "a missing 1/N", 1 / 3),                 # one example: N = 1 hides it
    ("no_bias", "the bias part of the direction", 0.0),
])
def test_hvp_mistakes_get_their_hint(kind, hint, score):
    res = exercises.check_softmax_hvp(lambda p, X, y, v: softmax_hvp(p, X, y, v, kind), verbose=False)
    assert res.score == pytest.approx(score) and any(hint in h for h in res.hints), str(res)
    transposed = exercises.check_softmax_hvp(
        lambda p, X, y, v: {"W": softmax_hvp(p, X, y, v)["W"].T, "b": softmax_hvp(p, X, y, v)["b"]},
        verbose=False)
    assert transposed.score < 1 and any("transposed" in h for h in transposed.hints)


def test_classify_mistakes_get_their_hint():
    def by_diagonal(grad, H):
        if np.linalg.norm(grad) > 1e-6:
            return "not critical"
        d = np.diag(H)
        return "minimum" if np.all(d > 0) else "maximum" if np.all(d < 0) else "saddle"

    res = exercises.check_classify_point(by_diagonal, verbose=False)
    assert res.score == 0.5 and any("positive diagonal is not enough" in h for h in res.hints)
    res = exercises.check_classify_point(lambda g, H: classify_point(np.zeros_like(g), H), verbose=False)
    assert res.score == pytest.approx(5 / 6) and "check the gradient first" in res.hints[0]
    res = exercises.check_classify_point(lambda g, H: "Minimum", verbose=False)
    assert res.score == 0.0 and "expected one of" in res.failures[0]
    # the reference really is edulib's classifier, which agrees with the rule stated to learners
    for _, grad, H in exercises.ch04._point_cases():
        assert classify_point(grad, H) == hessian.classify_critical_point(grad, H).kind


@pytest.mark.parametrize("kind, hint", [
    ("first_loop_oldest_first", "newest pair to the oldest"),
    ("no_gamma", "scales by gamma"),
    ("no_second_loop", "the second loop is missing"),
])
def test_two_loop_mistakes_get_their_hint(kind, hint):
    res = exercises.check_two_loop(lambda g, p, gam: exercises.ch04._two_loop_variant(g, p, gam, kind),
                                   verbose=False)
    assert res.score < 1.0 and any(hint in h for h in res.hints), str(res)
    res = exercises.check_two_loop(lambda g, p, gam: -two_loop(g, p, gam), verbose=False)
    assert res.score == 0.0 and "the sign" in res.hints[0]


def test_two_loop_reference_is_the_inverse_bfgs_matrix():
    # n exact curvature pairs of a quadratic along A-conjugate directions (its eigenvectors)
    # make the L-BFGS matrix the exact inverse: B g = A^{-1} g
    g = np.random.default_rng(8)
    M = g.standard_normal((4, 4))
    A = M @ M.T + 4 * np.eye(4)
    pairs = [(s, A @ s, 1.0 / (s @ A @ s)) for s in np.linalg.eigh(A)[1].T]
    grad = g.standard_normal(4)
    assert np.allclose(two_loop(grad, pairs, 1.0), np.linalg.solve(A, grad), rtol=1e-10)
    assert exercises.check_two_loop(two_loop, verbose=False)


def test_chapter04_learner_failures_are_reported_not_raised(xp):
    res = exercises.check_softmax_hvp(lambda *a: None, verbose=False)
    assert res.score == 0.0 and "return" in res.failures[0]

    def in_place(g, pairs, gamma):
        g *= gamma
        return two_loop(g / gamma, pairs, gamma)

    res = exercises.check_two_loop(in_place, verbose=False)
    assert res.score == 0.0 and "changed its input g" in res.failures[0]
    res = exercises.check_classify_point(lambda *a: sys.exit(1), verbose=False)
    assert res.score == 0.0 and "SystemExit" in res.failures[0]
    res = exercises.check_two_loop(lambda *a: time.sleep(60), verbose=False, timeout=1.0)
    assert res.score == 0.0 and "timed out" in res.failures[0]
    assert exercises.check_two_loop(lambda g, p, gam: xp.asarray(two_loop(g, p, gam)), verbose=False)


def test_lbfgs_lab():
    res = exercises.check_lbfgs_lab(fit_lbfgs, verbose=False)
    assert res.passed, str(res)
    from edulib import quasi_newton

    def early(X, y, lam):
        model = models.SoftmaxRegression(64, 10, weight_decay=lam)
        like = model.init_params(seed=0, scale=0.0)
        fun, x = quasi_newton.model_objective(model, X, y, like)
        return hessian.unflatten(quasi_newton.lbfgs(fun, x, maxiter=20).x, like)

    res = exercises.check_lbfgs_lab(early, seeds=(0,), verbose=False)
    assert res.score == 0.0 and "not converged" in res.hints[0]
    res = exercises.check_lbfgs_lab(lambda X, y, lam: {"W": np.zeros((10, 64)), "b": np.zeros(10)},
                                    seeds=(0,), verbose=False)
    assert res.score == 0.0 and "transpose" in res.hints[0]
    # the reference is a minimum: the gradient there is ~0
    X, y, lam = exercises.ch04._lbfgs_lab_problem(0)
    model = models.SoftmaxRegression(64, 10, weight_decay=lam)
    _, grads = model.loss_and_grad(fit_lbfgs(X, y, lam), X, y)
    assert max(float(np.abs(g).max()) for g in grads.values()) < 1e-7


@pytest.mark.parametrize("call, exc, match", [
    (lambda: exercises.check_lbfgs_lab(fit_lbfgs, seeds="0"), TypeError, "seeds must be"),
    (lambda: exercises.check_lbfgs_lab(fit_lbfgs, rtol=-1.0), ValueError, "rtol must be"),
    (lambda: exercises.check_two_loop(two_loop, timeout=0), ValueError, "timeout must be in"),
    (lambda: exercises.lbfgs_lab_reference(1.5), TypeError, "seed must be"),
])
def test_chapter04_bad_arguments_raise_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# =================================================================== chapter 05 (training in practice)
CHAPTER05 = {"log_uniform", "ema_update", "batchnorm_forward", "one_cycle_lr", "search_lab"}


def log_uniform(low, high, n, rng):
    return np.exp(rng.uniform(np.log(low), np.log(high), size=n))


def ema_update(avg, params, decay, n_averaged):
    if n_averaged == 0:
        return {k: v.copy() for k, v in params.items()}
    return {k: decay * avg[k] + (1 - decay) * params[k] for k in avg}


def batchnorm_forward(x, gamma, beta, running_mean, running_var, momentum, eps, training):
    if training:
        m = x.shape[0]
        mean, var = x.mean(axis=0), x.var(axis=0)
        new_mean = (1 - momentum) * running_mean + momentum * mean
        new_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    else:
        mean, var = running_mean, running_var
        new_mean, new_var = running_mean.copy(), running_var.copy()
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, new_mean, new_var


def one_cycle_lr(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    lr0 = max_lr / div_factor
    lr_min = lr0 / final_div_factor
    e = pct_start * total_steps - 1
    if step <= e:
        return max_lr + 0.5 * (lr0 - max_lr) * (1 + np.cos(np.pi * step / e))
    return lr_min + 0.5 * (max_lr - lr_min) * (1 + np.cos(np.pi * (step - e) / (total_steps - 1 - e)))


def tune_digits(split, budget=12, seed=0):
    from edulib import search

    rng = np.random.default_rng(seed)
    configs = [{"lr": float(lr), "weight_decay": float(wd)} for lr, wd in
               zip(log_uniform(1e-4, 10.0, budget, rng), log_uniform(1e-6, 1e-1, budget, rng), strict=True)]

    def objective(hp, trial_seed):
        model = models.SoftmaxRegression(64, 10, weight_decay=hp["weight_decay"])
        params = model.init_params(seed=0)
        train.train(model, params, optim.SGD(params, lr=hp["lr"]), split, epochs=3, batch_size=64)
        return {"value": -float(model.accuracy(params, split.X_val, split.y_val)), "params": params}

    return search.run_trials(objective, configs, seeds=[0] * budget).best().info["params"]


@pytest.mark.parametrize("seed", [0, 1, 7, 4321])
def test_chapter05_right_answers_pass_on_every_seed(seed):
    for check, fn, n in ((exercises.check_log_uniform, log_uniform, 3),
                         (exercises.check_ema_update, ema_update, 5),
                         (exercises.check_batchnorm_forward, batchnorm_forward, 4),
                         (exercises.check_one_cycle_lr, one_cycle_lr, 3)):
        res = check(fn, seed=seed, verbose=False)
        assert res.passed and res.n_cases == n and res.points(2) == 2.0, str(res)


@pytest.mark.parametrize("fn", [
    lambda low, high, n, rng: low * (high / low) ** rng.random(n),
    lambda low, high, n, rng: 10.0 ** rng.uniform(np.log10(low), np.log10(high), n),
    lambda low, high, n, rng: np.exp(np.log(low) + (np.log(high) - np.log(low)) * rng.random(n)),
    lambda low, high, n, rng: [float(v) for v in log_uniform(low, high, n, rng)],     # a list
    lambda low, high, n, rng: log_uniform(low, high, n, rng).astype(np.float32),      # float32
])
def test_equivalent_samplers_pass(fn):
    assert exercises.check_log_uniform(fn, verbose=False).passed
    assert exercises.check_log_uniform(fn, seed=99, verbose=False).passed


def test_the_ks_threshold_and_the_linear_sampler():
    from scipy.stats import kstwo

    ch05 = exercises.ch05
    for n in (2000, 4000, 6000):
        thr = ch05.ks_threshold(n)
        assert kstwo.sf(thr, n) == pytest.approx(ch05.P_FALSE_FAIL, rel=1e-3)
        assert 0.04 < thr < 0.08
    for r, d in ((10, 0.269), (100, 0.459), (1e4, 0.650)):
        u = np.linspace(0.0, 1.0, 200_001)
        assert ch05.linear_vs_log_distance(r) == pytest.approx(np.max(u - (r**u - 1) / (r - 1)), abs=1e-8)
        assert round(ch05.linear_vs_log_distance(r), 3) == d
    # hidden ranges span at least two decades, so the linear sampler is >= 0.459 away, far past
    # any threshold (<= 0.073 for n >= 2000): it fails every hidden case, the right one none. It
    # could pass only with its own sample >= 0.386 from its distribution (DKW: < 1e-258)
    assert ch05.linear_vs_log_distance(100) - ch05.ks_threshold(2000) > 0.386
    assert 2 * np.exp(-2 * 2000 * 0.386**2) < 1e-258
    linear = lambda low, high, n, rng: rng.uniform(low, high, n)   # noqa: E731
    for seed in range(1000, 1100):             # judged here on answers computed here: no forks
        for low, high, n, _ in ch05._log_uniform_runs(seed):
            assert high / low >= 100 - 1e-9 and 2000 <= n <= 6000
        check = exercises.check_log_uniform(exercises.SPEC, seed=seed)
        for fn, right in ((linear, False), (log_uniform, True)):
            res = check.judge([exercises.Outcome("ok", value=ch05._drive_log_uniform(fn, *c.args))
                               for c in check.cases])
            assert all(c.passed is right for c in res.cases), (seed, str(res))
    bad = exercises.check_log_uniform(linear, seed=1000, verbose=False)
    assert bad.score == 0.0 and "uniform in x, not in log x" in bad.hints[0]


@pytest.mark.parametrize("fn, hint", [
    (lambda low, high, n, rng: np.exp(np.random.default_rng().uniform(np.log(low), np.log(high), n)),
     "not from np.random"),
    (lambda low, high, n, rng: np.exp(np.random.default_rng(0).uniform(np.log(low), np.log(high), n)),
     "do not come from rng"),
    (lambda low, high, n, rng: np.logspace(np.log10(low), np.log10(high), n), "do not come from rng"),
    (lambda low, high, n, rng: np.exp(rng.uniform(np.log10(low), np.log10(high), n)), "the same base"),
    (lambda low, high, n, rng: 10 ** rng.uniform(np.log(low), np.log(high), n), "the same base"),
    (lambda low, high, n, rng: np.exp(rng.uniform(low, high, n)), "[low, high]"),
    (lambda low, high, n, rng: rng.choice(np.logspace(np.log10(low), np.log10(high), 8), n),
     "each decade"),
    (lambda low, high, n, rng: log_uniform(low, high, n + 1, rng), "1-D array"),
])
def test_sampler_mistakes_get_their_hint(fn, hint):
    res = exercises.check_log_uniform(fn, verbose=False)
    assert res.score == 0.0 and any(hint in h for h in res.hints), str(res)


def _ema_with(kind):
    def update(avg, params, decay, n_averaged):
        if n_averaged == 0 and kind != "no_copy":
            return {k: v.copy() for k, v in params.items()}
        return _EMA_LATER[kind](avg, params, decay, n_averaged)
    return update


_EMA_LATER = {
    "no_copy": lambda a, p, d, n: {k: d * a[k] + (1 - d) * p[k] for k in a},
    "swapped": lambda a, p, d, n: {k: (1 - d) * a[k] + d * p[k] for k in a},
    "swa": lambda a, p, d, n: {k: a[k] + (p[k] - a[k]) / (n + 1) for k in a},
}


@pytest.mark.parametrize("kind, hint, score", [
    ("no_copy", "the first update (n_averaged == 0) copies", 0.2),   # only the later single update
    ("swapped", "decay weighs the old average", 0.0),                # a wrong order: no credit
    ("swa", "the equal-weight average (SWA", 0.2),
])
def test_ema_mistakes_get_their_hint(kind, hint, score):
    res = exercises.check_ema_update(_ema_with(kind), verbose=False)
    assert res.score == pytest.approx(score) and any(hint in h for h in res.hints), str(res)


def test_ema_reference_matches_torch_and_edulib_rules():
    ch05 = exercises.ch05
    g = np.random.default_rng(3)
    W0, b0 = g.standard_normal((3, 2)), g.standard_normal(2)
    Ws, bs = g.standard_normal((12, 3, 2)), g.standard_normal((12, 2))
    for decay in (0.9, 0.5, 1.0, 0.0):
        ref = ch05._ema_reference(W0, b0, Ws, bs, decay)
        assert np.allclose(ref, ch05._ema_variant(W0, b0, Ws, bs, decay, "right"), rtol=1e-12, atol=1e-14)
        assert np.allclose(ref, ch05._drive_ema(ema_update, W0, b0, Ws, bs, decay), rtol=1e-12, atol=1e-14)
    torch = pytest.importorskip("torch")
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    net = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        net.weight.copy_(torch.tensor(W0.T))
        net.bias.copy_(torch.tensor(b0))
    avg = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    out = []
    for W, b in zip(Ws, bs, strict=True):
        with torch.no_grad():
            net.weight.copy_(torch.tensor(W.T))
            net.bias.copy_(torch.tensor(b))
        avg.update_parameters(net)
        out.append(np.concatenate([avg.module.weight.detach().numpy().T.ravel(),
                                   avg.module.bias.detach().numpy()]))
    assert np.allclose(np.stack(out), ch05._ema_reference(W0, b0, Ws, bs, 0.9), rtol=1e-12, atol=1e-14)


def _bn_with(kind):
    def fn(x, gamma, beta, running_mean, running_var, momentum, eps, training):
        return exercises.ch05._batchnorm_reference(x, gamma, beta, running_mean, running_var, momentum,
                                                   eps, training, kind=kind)
    return fn


@pytest.mark.parametrize("kind, hint, score", [
    ("unbiased_normalise", "normalised with the biased variance", 0.25),   # eval mode passes
    ("eval_updates", "in eval mode the running statistics stay", 0.75),
    ("momentum_reversed", "the weight of the new batch statistic", 0.25),
    ("biased_running", "moves towards the unbiased batch variance", 0.25),
    ("eval_batch_stats", "normalise with the running statistics", 0.75),
    ("eps_outside", "eps goes inside the square root", 0.0),
])
def test_batchnorm_mistakes_get_their_hint(kind, hint, score):
    res = exercises.check_batchnorm_forward(_bn_with(kind), verbose=False)
    assert res.score == pytest.approx(score) and any(hint in h for h in res.hints), str(res)


def test_batchnorm_reference_matches_torch():
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(5)
    for m, d, momentum, eps, training in ((8, 5, 0.1, 1e-5, True), (2, 3, 0.3, 1e-5, True),
                                          (6, 2, 0.1, 0.5, True), (7, 4, 0.1, 1e-5, False)):
        x, gamma, beta, rm, rv = exercises.ch05._batchnorm_inputs(g, m, d)
        want = exercises.ch05._batchnorm_reference(x, gamma, beta, rm, rv, momentum, eps, training)
        bn = torch.nn.BatchNorm1d(d, eps=eps, momentum=momentum).double()
        with torch.no_grad():
            bn.weight.copy_(torch.tensor(gamma))
            bn.bias.copy_(torch.tensor(beta))
            bn.running_mean.copy_(torch.tensor(rm))
            bn.running_var.copy_(torch.tensor(rv))
        bn.train(training)
        out = bn(torch.tensor(x)).detach().numpy()
        got = (out, bn.running_mean.numpy(), bn.running_var.numpy())
        for a, ref in zip(got, want, strict=True):
            assert np.allclose(a, ref, rtol=1e-12, atol=1e-13)
        mine = batchnorm_forward(x, gamma, beta, rm, rv, momentum, eps, training)
        assert all(np.allclose(a, ref, rtol=1e-12, atol=1e-13) for a, ref in zip(mine, got, strict=True))


@pytest.mark.parametrize("kind, hint", [
    ("linear", "linear anneal"), ("phase_at_pt", "off by one"), ("floor_phase", "no int() or floor"),
    ("min_no_div", "divided by final_div_factor"), ("end_at_total", "ends at step total_steps - 1"),
    ("from_zero", "not at 0"),
])
def test_one_cycle_mistakes_get_their_hint(kind, hint):
    fn = lambda t, T, *a: float(exercises.ch05._one_cycle_variant(T, *a, kind)[t])   # noqa: E731
    res = exercises.check_one_cycle_lr(fn, verbose=False)
    assert res.score < 1.0 and any(hint in h for h in res.hints), str(res)


def test_one_cycle_reference_matches_torch():
    ch05 = exercises.ch05
    runs = ch05._one_cycle_runs(0) + ch05._one_cycle_runs(77)
    for args in runs:
        assert np.allclose(ch05._one_cycle_reference(*args), ch05._one_cycle_variant(*args, "right"),
                           rtol=1e-12, atol=1e-18)
    torch = pytest.importorskip("torch")
    for total, max_lr, pct, div, final in runs:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=pct,
                                                    div_factor=div, final_div_factor=final,
                                                    cycle_momentum=False)
        lrs = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # "step() before optimizer.step()"
            for t in range(total):
                lrs.append(opt.param_groups[0]["lr"])
                if t < total - 1:
                    sched.step()
        assert np.allclose(lrs, ch05._one_cycle_reference(total, max_lr, pct, div, final),
                           rtol=1e-12, atol=1e-18)


def test_chapter05_learner_failures_are_reported_not_raised():
    res = exercises.check_log_uniform(lambda *a: None, verbose=False)
    assert res.score == 0.0 and all("forget the `return`" in f for f in res.failures)
    res = exercises.check_ema_update(lambda a, p, d, n: [p["W"], p["b"]], verbose=False)
    assert res.score == 0.0 and "expected a dict" in res.failures[0]
    assert "must return a dict" in res.failures[-1]

    def in_place(x, gamma, beta, running_mean, running_var, momentum, eps, training):
        out, m, v = batchnorm_forward(x, gamma, beta, running_mean, running_var, momentum, eps, training)
        running_mean[...] = m
        return out, running_mean, v

    res = exercises.check_batchnorm_forward(in_place, verbose=False)
    assert "changed its input running_mean" in res.failures[0] and res.score == 0.25   # eval passes
    res = exercises.check_batchnorm_forward(lambda *a: a[0], verbose=False)
    assert res.score == 0.0 and "expected (out, new_running_mean" in res.failures[0]
    res = exercises.check_one_cycle_lr(lambda *a: sys.exit(2), verbose=False)
    assert res.score == 0.0 and "SystemExit" in res.failures[0]
    t0 = time.monotonic()
    res = exercises.check_one_cycle_lr(lambda *a: time.sleep(60), verbose=False, timeout=1.0)
    assert res.score == 0.0 and "timed out" in res.failures[0] and time.monotonic() - t0 < 10


def test_search_lab():
    res = exercises.check_search_lab(tune_digits, seeds=(0,), verbose=False)
    assert res.passed and res.n_cases == 2, str(res)
    base = exercises.search_lab_baseline(0)
    assert 0.85 < base < 0.92                        # an untuned run, well short of the target
    split = exercises.search_lab_split(0)
    X_test, y_test = exercises.ch05._search_lab_test(0)
    # the learner's data and the test set are disjoint parts of the digits split
    assert len(split.y_train) + len(split.y_val) + len(y_test) == 1797
    assert not set(map(bytes, X_test)) & set(map(bytes, np.vstack([split.X_train, split.X_val])))

    def fixed(split):                                # meets the target without the search
        model = models.SoftmaxRegression(64, 10)
        params = model.init_params(seed=0)
        log_uniform(1e-4, 10.0, 12, np.random.default_rng(0))      # called for show
        train.train(model, params, optim.SGD(params, lr=1.0), split, epochs=3, batch_size=64)
        return params

    res = exercises.check_search_lab(fixed, seeds=(0,), verbose=False)
    assert res.cases[0].passed and res.score == 0.0
    assert "this lab is about log_uniform" in " ".join(res.hints)

    def baseline(split):
        model = models.SoftmaxRegression(64, 10)
        params = model.init_params(seed=0)
        train.train(model, params, optim.SGD(params, lr=0.1), split, epochs=3, batch_size=64)
        return params

    res = exercises.check_search_lab(baseline, seeds=(0,), verbose=False)
    assert res.score == 0.0 and "log-uniformly" in res.hints[0]
    res = exercises.check_search_lab(lambda s: {k: v.T for k, v in tune_digits(s).items()}, seeds=(0,),
                                     verbose=False)
    assert res.score == 0.0 and "transpose" in res.hints[0]
    assert exercises.check_search_lab(lambda s: None, seeds=(0,), verbose=False).score == 0.0


def test_search_lab_targets_come_from_the_spread_over_other_splits():
    """The numbers in items.py and the notebook: on 24 other splits the notebook's search has a
    test error 0.19-0.71x the baseline's (a hidden split asks for <= 0.85x); on the notebook's
    split 0.46-0.51x with sampler seeds 0-9 (it asks for <= 0.6x)."""
    from threadpoolctl import threadpool_limits

    model = models.SoftmaxRegression(64, 10)

    def ratio(split_seed, sampler_seed=0):
        X_test, y_test = exercises.ch05._search_lab_test(split_seed)
        params = tune_digits(exercises.search_lab_split(split_seed), seed=sampler_seed)
        err = 1.0 - float(model.accuracy(params, X_test, y_test))
        return err / (1.0 - exercises.search_lab_baseline(split_seed))

    with threadpool_limits(1):
        others = [ratio(s) for s in range(1, 25)]
        here = [ratio(0, r) for r in range(10)]
    assert (round(min(others), 2), round(max(others), 2)) == (0.19, 0.71)
    assert (round(min(here), 2), round(max(here), 2)) == (0.46, 0.51)
    assert max(others) < 0.85 - 0.1 and max(here) < 0.6 - 0.05


@pytest.mark.parametrize("call, exc, match", [
    (lambda: exercises.check_search_lab(tune_digits, seeds=()), TypeError, "seeds must be"),
    (lambda: exercises.check_search_lab(tune_digits, ratio=0.0), ValueError, "ratio must be in"),
    (lambda: exercises.check_log_uniform(log_uniform, seed=-1), ValueError, "seed must be"),
    (lambda: exercises.check_ema_update(ema_update, verbose=1), TypeError, "verbose must be"),
    (lambda: exercises.search_lab_split(1.5), TypeError, "seed must be"),
    (lambda: exercises.search_lab_baseline(-2), ValueError, "seed must be"),
    (lambda: exercises.ch05.ks_threshold(0), ValueError, "n must be"),
    (lambda: exercises.ch05.linear_vs_log_distance(1.0), ValueError, "ratio must be"),
])
def test_chapter05_bad_arguments_raise_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
