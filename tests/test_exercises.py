"""edulib.exercises: right answers pass, wrong ones fail with a useful message, nothing raises."""

from __future__ import annotations

import numpy as np
import pytest

from edulib import exercises

# ----------------------------------------------------------------- right answers (plain NumPy)


def mse_grad(y_hat, y):
    return 2.0 * (y_hat - y) / y_hat.size


def huber_grad(y_hat, y, delta):
    return np.clip(y_hat - y, -delta, delta) / y_hat.size


def bce(z, y):
    return np.mean(np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z))))


def softmax_ce(z, y):
    m = z.max(axis=1, keepdims=True)
    return np.mean(m[:, 0] + np.log(np.exp(z - m).sum(axis=1)) - z[np.arange(len(y)), y])


def softmax_ce_grad(z, y):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


RIGHT = {
    "mse_grad": mse_grad,
    "huber_grad": huber_grad,
    "bce_with_logits": bce,
    "softmax_cross_entropy": softmax_ce,
    "softmax_cross_entropy_grad": softmax_ce_grad,
}


@pytest.mark.parametrize("name", sorted(RIGHT))
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_right_answers_pass(name, seed):
    res = exercises.CHECKS[name](RIGHT[name], seed=seed, verbose=False)
    assert res and res.passed and res.score == 1.0 and res.failures == []
    assert str(res).startswith("PASS")


def test_checks_cover_every_exercise():
    assert set(exercises.CHECKS) == set(RIGHT)


# ----------------------------------------------------------------- wrong answers


def naive_bce(z, y):
    s = 1.0 / (1.0 + np.exp(-z))
    return np.mean(-y * np.log(s) - (1 - y) * np.log(1 - s))


def naive_softmax_ce(z, y):
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return np.mean(-np.log(p[np.arange(len(y)), y]))


WRONG = [
    ("mse_grad", lambda a, b: 2.0 * (a - b), "random"),               # forgot the 1/N
    ("mse_grad", lambda a, b: (a - b) / a.size, "expected"),           # forgot the 2
    ("mse_grad", lambda a, b: 2.0 * (b - a) / a.size, "expected"),     # wrong sign
    ("huber_grad", lambda a, b, d: np.sign(a - b) * d / a.size, "expected"),
    ("huber_grad", lambda a, b, d: (a - b) / a.size, "expected"),      # never clips
    ("bce_with_logits", naive_bce, "large logits"),
    ("bce_with_logits", lambda z, y: np.sum(bce(z, y)) * len(z), "expected"),  # sum not mean
    ("softmax_cross_entropy", naive_softmax_ce, "large logits"),
    ("softmax_cross_entropy", lambda z, y: softmax_ce(z, y) * len(y), "expected"),
    ("softmax_cross_entropy_grad", lambda z, y: -softmax_ce_grad(z, y), "expected"),
    ("softmax_cross_entropy_grad", lambda z, y: softmax_ce_grad(z, y)[:, :-1], "shape"),
]


@pytest.mark.parametrize("name, fn, hint", WRONG)
def test_wrong_answers_fail_and_say_why(name, fn, hint):
    res = exercises.CHECKS[name](fn, verbose=False)
    assert not res and res.score < 1.0
    assert any(hint in f for f in res.failures), res.failures
    assert str(res).startswith("FAIL") and res.failures[0] in str(res)


def test_naive_bce_passes_small_logits_fails_large():
    res = exercises.check_bce_with_logits(naive_bce, verbose=False)
    failed_cases = {f.split(":")[0] for f in res.failures}
    assert "large logits +-1000" in failed_cases
    assert "random logits (16,)" not in failed_cases  # right where it is stable


def test_a_crash_is_reported_not_raised():
    def broken(z, y):
        raise ZeroDivisionError("oops")

    res = exercises.check_softmax_cross_entropy(broken, verbose=False)
    assert not res and res.score == 0.0
    assert all("raised ZeroDivisionError: oops" in f for f in res.failures)


def test_non_array_return_is_reported():
    res = exercises.check_mse_grad(lambda a, b: "nope", verbose=False)
    assert not res and "array of numbers" in res.failures[0]


def test_learner_cannot_corrupt_the_reference_inputs():
    def mutating(a, b):
        a[...] = 0.0
        return mse_grad(a, b)

    res = exercises.check_mse_grad(mutating, verbose=False)
    assert not res  # its answer is wrong, and the reference was computed on intact inputs
    assert exercises.check_mse_grad(mse_grad, verbose=False)


def test_verbose_prints(capsys):
    exercises.check_mse_grad(mse_grad)
    exercises.check_mse_grad(lambda a, b: a - b)
    out = capsys.readouterr().out
    assert "PASS mse_grad" in out and "FAIL mse_grad" in out


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="fn must be a function"):
        exercises.check_mse_grad(42)
