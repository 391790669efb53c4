"""edulib.train: the loop (batching, history, divergence, clipping) and run_on_surface."""

from __future__ import annotations

import ast
import inspect
import math
import textwrap
import warnings

import numpy as np
import pytest

from edulib import train as train_module
from edulib.backend import array_namespace, to_numpy
from edulib.data import Split
from edulib.optim import SGD
from edulib.train import (
    DivergenceWarning,
    batch_indices,
    clip_grad_norm,
    global_norm,
    run_on_surface,
    train,
)


# ------------------------------------------------------------------------------ local models
class LeastSquares:
    """L(w) = 1/(2N) ||X w - y||^2: Hessian H = X^T X / N, gradient H w - X^T y / N."""

    def loss_and_grad(self, params, X, y):
        r = X @ params["w"] - y
        n = X.shape[0]
        return 0.5 * (r @ r) / n, {"w": (X.T @ r) / n}

    def loss(self, params, X, y):
        return self.loss_and_grad(params, X, y)[0]


class Spy(LeastSquares):
    """Records the example ids (column 0 of X) of every batch it sees."""

    def __init__(self):
        self.seen = []

    def loss_and_grad(self, params, X, y):
        self.seen.append(np.asarray(to_numpy(X[:, 0]), dtype=int))
        return super().loss_and_grad(params, X, y)

    def loss(self, params, X, y):  # evaluations are not batches
        return LeastSquares().loss(params, X, y)

    def accuracy(self, params, X, y):
        xp = array_namespace(X)
        return xp.mean(xp.astype((X @ params["w"] > 0) == (y > 0), xp.float64))


def _problem(n=40, d=3, seed=0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d)) * np.array([1.0, 2.0, 0.5])
    y = X @ np.array([1.0, -1.0, 2.0]) + 0.1 * g.standard_normal(n)
    return X, y


def _ids_problem(n):
    g = np.random.default_rng(1)
    X = np.column_stack([np.arange(n, dtype=float), g.standard_normal((n, 2))])
    return X, g.standard_normal(n)


# ------------------------------------------------------------------------------ full batch GD
def test_full_batch_gd_equals_closed_form(xp):
    X, y = _problem()
    n = X.shape[0]
    H = X.T @ X / n
    w_star = np.linalg.solve(H, X.T @ y / n)
    lr = 1.0 / np.linalg.eigvalsh(H).max()
    w0 = np.zeros(3)
    params = {"w": xp.asarray(w0.copy())}
    hist = train(LeastSquares(), params, SGD(params, lr=lr), (X, y), epochs=25)
    M = np.eye(3) - lr * H
    wk = w_star + np.linalg.matrix_power(M, 25) @ (w0 - w_star)
    np.testing.assert_allclose(to_numpy(params["w"]), wk, rtol=1e-10)
    for k in (0, 1, 10, 24):  # loss per step = loss at w_k, before the k-th update
        w = w_star + np.linalg.matrix_power(M, k) @ (w0 - w_star)
        r = X @ w - y
        assert math.isclose(hist.loss[k], 0.5 * r @ r / n, rel_tol=1e-10)
    assert hist.steps == hist.epochs == 25 and not hist.diverged
    assert hist.stop_reason == "completed"
    assert hist.lr == [lr] * 25
    assert hist.epoch_steps == list(range(26))
    assert len(hist.train_loss) == 26 and hist.val_loss == [] and hist.train_acc == []
    assert hist.time[0] == 0.0 and all(np.diff(hist.time) >= 0)


@pytest.mark.parametrize("factor, converges", [(1.9, True), (2.1, False)])
def test_lr_threshold_two_over_lambda_max(xp, factor, converges):
    X, y = _problem()
    H = X.T @ X / X.shape[0]
    lr = factor / np.linalg.eigvalsh(H).max()
    params = {"w": xp.asarray(np.zeros(3))}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning (overflow ...) fails the test
        hist = train(LeastSquares(), params, SGD(params, lr=lr), (X, y), epochs=3000,
                     on_diverge="stop")
    assert hist.diverged is not converges
    if converges:
        w_star = np.linalg.solve(H, X.T @ y / X.shape[0])
        np.testing.assert_allclose(to_numpy(params["w"]), w_star, rtol=1e-8)
    else:
        assert hist.stop_reason == "diverged"
        assert hist.message.startswith(f"diverged at step {hist.steps}")
        assert "lr=" in hist.message and "exceeds" in hist.message
        assert hist.steps < 3000 and len(hist.loss) == hist.steps


def test_divergence_to_inf_raises_no_runtime_warning(xp):
    # lr = 1e200: after one step the residuals are ~1e200 and the loss overflows to inf,
    # which would raise NumPy overflow warnings without the loop's errstate.
    X, y = _problem()
    params = {"w": xp.asarray(np.zeros(3))}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist = train(LeastSquares(), params, SGD(params, lr=1e200), (X, y), epochs=10,
                     on_diverge="stop")
    assert hist.steps == 1
    assert hist.diverged and "not finite" in hist.message
    assert all(math.isfinite(v) for v in hist.loss)


def test_divergence_warns_once_or_raises():
    X, y = _problem()
    params = {"w": np.zeros(3)}
    with pytest.warns(DivergenceWarning) as rec:
        hist = train(LeastSquares(), params, SGD(params, lr=5.0), (X, y), epochs=500)
    assert len(rec) == 1 and str(rec[0].message) == hist.message
    params = {"w": np.zeros(3)}
    with pytest.raises(FloatingPointError, match="diverged at step"):
        train(LeastSquares(), params, SGD(params, lr=5.0), (X, y), epochs=500,
              on_diverge="raise")


# ------------------------------------------------------------------------------ mini-batches
@pytest.mark.parametrize("n, B", [(23, 5), (20, 5), (7, 1), (6, 10)])
def test_minibatches_cover_every_example_once_per_epoch(xp, n, B):
    X, y = _ids_problem(n)
    model = Spy()
    params = {"w": xp.asarray(np.zeros(3))}
    epochs = 3
    hist = train(model, params, SGD(params, lr=0.01), (X, y), epochs=epochs, batch_size=B,
                 seed=4)
    per_epoch = math.ceil(n / B)
    assert hist.steps == epochs * per_epoch == len(hist.loss)
    assert hist.epoch_steps == [e * per_epoch for e in range(epochs + 1)]
    g = np.random.default_rng(4)
    for e in range(epochs):
        batches = model.seen[e * per_epoch:(e + 1) * per_epoch]
        assert [len(b) for b in batches] == [min(B, n - i) for i in range(0, n, B)]
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(n))
        expected = batch_indices(n, B, g)  # the loop's order is this documented helper's
        for got, want in zip(batches, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_shuffling_is_deterministic_for_a_seed(xp):
    X, y = _ids_problem(30)

    def order(seed):
        model = Spy()
        params = {"w": xp.asarray(np.zeros(3))}
        train(model, params, SGD(params, lr=0.01), (X, y), epochs=2, batch_size=4, seed=seed)
        return np.concatenate(model.seen), to_numpy(params["w"])

    a, wa = order(0)
    b, wb = order(0)
    c, _ = order(1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[:30], a[30:])  # reshuffled every epoch


def test_sgd_batch_size_one_equals_manual_loop(xp):
    X, y = _problem(n=12)
    params = {"w": xp.asarray(np.zeros(3))}
    hist = train(LeastSquares(), params, SGD(params, lr=0.05), (X, y), epochs=2,
                 batch_size=1, seed=3)
    assert hist.steps == 24
    w = np.zeros(3)
    g = np.random.default_rng(3)
    for _ in range(2):
        for i in g.permutation(12):
            w = w - 0.05 * X[i] * (X[i] @ w - y[i])
    np.testing.assert_allclose(to_numpy(params["w"]), w, rtol=1e-12)


def test_no_shuffle_keeps_order(xp):
    X, y = _ids_problem(10)
    model = Spy()
    params = {"w": xp.asarray(np.zeros(3))}
    train(model, params, SGD(params, lr=0.01), (X, y), epochs=1, batch_size=4, shuffle=False)
    np.testing.assert_array_equal(np.concatenate(model.seen), np.arange(10))


# ------------------------------------------------------------------------------ history & hooks
def test_split_with_validation_and_accuracy_any_backend(xp):
    X, y = _problem(n=50)
    split = Split(X[:40], X[40:], y[:40], y[40:])  # NumPy data, params on xp
    params = {"w": xp.asarray(np.zeros(3))}
    model = Spy()
    hist = train(model, params, SGD(params, lr=0.05), split, epochs=4, batch_size=8)
    assert len(hist.train_loss) == len(hist.val_loss) == 5
    assert len(hist.train_acc) == len(hist.val_acc) == 5
    p_np = {"w": to_numpy(params["w"])}
    assert math.isclose(hist.val_loss[-1], float(model.loss(p_np, X[40:], y[40:])),
                        rel_tol=1e-12)
    assert math.isclose(hist.train_loss[0], 0.5 * np.mean(y[:40] ** 2), rel_tol=1e-12)
    assert "epochs=4" in repr(hist) and "val_loss=" in repr(hist)


def test_max_steps_stops_mid_epoch_and_evaluates(xp):
    X, y = _problem(n=40)
    params = {"w": xp.asarray(np.zeros(3))}
    hist = train(LeastSquares(), params, SGD(params, lr=0.05), (X, y), epochs=10,
                 batch_size=10, max_steps=6)
    assert hist.steps == 6 and hist.epochs == 1 and hist.stop_reason == "max_steps"
    assert hist.epoch_steps == [0, 4, 6]
    p_np = {"w": to_numpy(params["w"])}
    assert math.isclose(hist.train_loss[-1], float(LeastSquares().loss(p_np, X, y)),
                        rel_tol=1e-12)


def test_callback_sees_steps_can_change_lr_and_stop(xp):
    X, y = _problem(n=20)
    params = {"w": xp.asarray(np.zeros(3))}
    opt = SGD(params, lr=0.1)
    calls = []

    def cb(step, loss, p, history):
        calls.append((step, loss, len(history.loss)))
        opt.lr = 0.1 / (step + 1)  # a schedule
        return step == 7

    hist = train(LeastSquares(), params, opt, (X, y), epochs=5, batch_size=5, callback=cb)
    assert hist.steps == 7 and hist.stop_reason == "callback"
    assert [c[0] for c in calls] == list(range(1, 8))
    assert all(c[1] == hist.loss[c[0] - 1] and c[2] == c[0] for c in calls)
    np.testing.assert_allclose(hist.lr, [0.1] + [0.1 / (s + 1) for s in range(1, 7)])


def test_gradient_clipping_by_global_norm(xp):
    X, y = _problem(n=20)
    params = {"w": xp.asarray(np.full(3, 5.0))}
    hist = train(LeastSquares(), params, SGD(params, lr=1.0), (X, y), epochs=1, clip_norm=0.5)
    g = X.T @ (X @ np.full(3, 5.0) - y) / 20
    assert math.isclose(hist.grad_norm[0], np.linalg.norm(g), rel_tol=1e-12)
    step = np.full(3, 5.0) - to_numpy(params["w"])
    np.testing.assert_allclose(step, g * 0.5 / (np.linalg.norm(g) + 1e-6), rtol=1e-12)


def test_clip_grad_norm_matches_torch(xp):
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(0)
    grads = {"a": g.standard_normal((3, 4)), "b": g.standard_normal(4)}
    for max_norm in (0.1, 1.0, 100.0):
        ours, norm = clip_grad_norm({k: xp.asarray(v) for k, v in grads.items()}, max_norm)
        ts = [torch.tensor(v, requires_grad=True) for v in grads.values()]
        for t, v in zip(ts, grads.values(), strict=True):
            t.grad = torch.tensor(v)
        tnorm = torch.nn.utils.clip_grad_norm_(ts, max_norm)
        assert math.isclose(norm, float(tnorm), rel_tol=1e-12)
        assert math.isclose(global_norm(ours), float(np.sqrt(sum(
            float((t.grad**2).sum()) for t in ts))), rel_tol=1e-12)
        for t, k in zip(ts, grads, strict=True):
            np.testing.assert_allclose(to_numpy(ours[k]), t.grad.numpy(), rtol=1e-12)


def test_float32_params_cast_data(xp):
    X, y = _problem(n=16)
    params = {"w": xp.asarray(np.zeros(3), dtype=xp.float32)}
    train(LeastSquares(), params, SGD(params, lr=0.05), (X, y), epochs=2, batch_size=4)
    assert params["w"].dtype == xp.float32


def test_train_argument_errors():
    X, y = _problem(n=10)
    params = {"w": np.zeros(3)}
    opt = SGD(params, lr=0.1)
    with pytest.raises(ValueError, match="batch_size"):
        train(LeastSquares(), params, opt, (X, y), batch_size=0)
    with pytest.raises(ValueError, match="optimizer must be built on this params"):
        train(LeastSquares(), {"w": np.zeros(3)}, opt, (X, y))
    with pytest.raises(TypeError, match="model must have"):
        train(object(), params, opt, (X, y))
    with pytest.raises(TypeError, match="data must be"):
        train(LeastSquares(), params, opt, X)
    with pytest.raises(ValueError, match="y_train"):
        train(LeastSquares(), params, opt, (X, y[:5]))
    with pytest.raises(ValueError, match="on_diverge"):
        train(LeastSquares(), params, opt, (X, y), on_diverge="ignore")


def test_seed_and_validation_errors_name_the_right_argument():
    X, y = _problem(n=10)
    params = {"w": np.zeros(3)}
    opt = SGD(params, lr=0.1)
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, inf\], received -1"):
        train(LeastSquares(), params, opt, (X, y), seed=-1, batch_size=2)
    with pytest.raises(ValueError, match=r"y_val must have X_val.shape\[0\] = 10 entries, "
                                         r"received 7"):
        train(LeastSquares(), params, opt, Split(X, X, y, y[:7]))
    with pytest.raises(ValueError, match=r"X_val must have the example shape of X_train \(3,\)"):
        train(LeastSquares(), params, opt, Split(X, X[:, :2], y, y))
    assert params["w"].tolist() == [0.0, 0.0, 0.0] and opt.steps == 0  # nothing ran


def _function_lines(fn):
    """Lines of ``fn``'s body after its docstring, and the names of functions defined inside."""
    node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    body = node.body[1:] if ast.get_docstring(node) else node.body
    nested = [n.name for b in body for n in ast.walk(b)
              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return body[-1].end_lineno - body[0].lineno + 1, nested


def test_train_shows_the_whole_loop_on_one_screen():
    # the loop (batch -> loss_and_grad -> clip -> step -> schedule -> evaluate -> stop?) is in
    # train itself; each trick is a small named method of the run beside it, no closures
    n_lines, nested = _function_lines(train)
    assert n_lines <= 45 and nested == []
    source = inspect.getsource(train)
    code = source[source.index('"""', source.index('"""') + 3):]  # after the docstring
    at = 0
    for call in ("run.evaluate()", "run.batch_groups()", "run.loss_and_grad(group)",
                 "optimizer.step(run.clip(grads))", 'run.step_schedule("step")',
                 "run.evaluate()", "run.out_of_patience()", 'run.step_schedule("epoch")'):
        at = code.index(call, at) + len(call)  # each call after the one before it
    for name, member in vars(train_module._Run).items():
        if inspect.isfunction(member):
            n_lines, nested = _function_lines(member)
            assert n_lines <= 30 and nested == [], name


def test_softmax_regression_on_digits_integration():
    models = pytest.importorskip("edulib.models")
    from edulib.data import digits

    split = digits()
    model = models.SoftmaxRegression(64, 10)
    params = model.init_params(seed=0)
    seen = []

    def cb(step, loss, p, history):
        seen.append(loss)

    hist = train(model, params, SGD(params, lr=0.1, momentum=0.9), split, epochs=3,
                 batch_size=64, callback=cb)
    assert hist.steps == 3 * math.ceil(split.X_train.shape[0] / 64) == len(seen)
    assert len(hist.val_acc) == 4
    assert math.isclose(hist.val_acc[-1], float(model.accuracy(params, split.X_val,
                                                                split.y_val)))
    assert hist.train_loss[-1] < hist.train_loss[0]


# ------------------------------------------------------------------------------ surfaces
class Bowl:
    """f(x) = 1/2 x^T A x."""

    def __init__(self, A):
        self.A = np.asarray(A, dtype=float)

    def f(self, x):
        xp = array_namespace(x)
        return 0.5 * (x @ (xp.asarray(self.A) @ x))

    def grad(self, x):
        return array_namespace(x).asarray(self.A) @ x


def test_run_on_surface_gd_equals_closed_form(xp):
    A = np.array([[0.2, 0.0], [0.0, 4.0]])
    x0 = np.array([-4.0, -2.0])
    lr = 0.4
    run = run_on_surface(Bowl(A), SGD, xp.asarray(x0), steps=30, lr=lr)
    assert run.xs.shape == (31, 2) and run.values.shape == (31,) and run.grads.shape == (31, 2)
    assert not run.diverged
    M = np.eye(2) - lr * A
    for k in range(31):
        xk = np.linalg.matrix_power(M, k) @ x0
        np.testing.assert_allclose(run.xs[k], xk, rtol=1e-12, atol=1e-15)
        assert math.isclose(run.values[k], 0.5 * xk @ A @ xk, rel_tol=1e-12)


def test_run_on_surface_factory_and_divergence(xp):
    A = np.array([[0.2, 0.0], [0.0, 4.0]])
    x0 = xp.asarray(np.array([-4.0, -2.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = run_on_surface(Bowl(A), lambda p: SGD(p, lr=0.55, momentum=0.0), x0, steps=500)
    assert run.diverged and run.message.startswith("diverged at step")
    assert run.xs.shape[0] < 501 and run.xs.shape == (run.values.size, 2)
    assert np.array_equal(to_numpy(x0), [-4.0, -2.0])  # x0 not modified
    with pytest.raises(FloatingPointError):
        run_on_surface(Bowl(A), SGD, x0, steps=500, lr=0.55, on_diverge="raise")
    with pytest.raises(ValueError, match="x0"):
        run_on_surface(Bowl(A), SGD, xp.asarray(np.zeros(3)), steps=5, lr=0.1)


def test_run_on_surface_with_edulib_functions(xp):
    functions = pytest.importorskip("edulib.functions")
    s = functions.Quadratic(a=0.1, b=2.0)
    x0 = xp.asarray(np.array(s.start))
    lr = 0.2
    run = run_on_surface(s, SGD, x0, steps=20, lr=lr)
    M = np.eye(2) - lr * s.A
    np.testing.assert_allclose(run.xs[-1], np.linalg.matrix_power(M, 20) @ np.array(s.start),
                               rtol=1e-12)
    run = run_on_surface(s, SGD, x0, steps=200, lr=2.1 / 4.0)  # lambda_max = 2b = 4
    assert run.diverged
