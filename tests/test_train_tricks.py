"""edulib.train's training tricks: schedules, early stopping, gradient accumulation, clipping by
value; and the failure modes of issue 9 (a blown-up last update, four forward passes per
evaluation, NumPy integers refused)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from edulib import models, schedules
from edulib import train as T
from edulib.backend import to_numpy
from edulib.data import Split, digits
from edulib.optim import SGD
from edulib.train import DivergenceWarning, History, clip_grad_value, global_norm, train


# ------------------------------------------------------------------------------ fixtures
def _problem(n=50, d=3, seed=0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d)) * np.array([1.0, 2.0, 0.5])
    y = X @ np.array([1.0, -1.0, 2.0]) + 0.1 * g.standard_normal(n)
    return X, y


def _digits_small(n_train=50, n_val=200):
    s = digits()
    return Split(s.X_train[:n_train], s.X_val[:n_val], s.y_train[:n_train], s.y_val[:n_val])


def _overfit_run(**kw):
    """An MLP on 50 digits with a large lr: the val loss bottoms out after ~3 epochs, then
    rises while the train loss goes to ~0 (measured: min 0.89 at epoch 3, 3.6 at epoch 100)."""
    model = models.MLP(64, 64, 10)
    params = model.init_params(seed=0)
    hist = train(model, params, SGD(params, lr=1.0, momentum=0.9), _digits_small(), **kw)
    return model, params, hist


class LrLog:
    """A stand-in schedule (the protocol of edulib.schedules): step() writes opt.lr."""

    def __init__(self, opt, factor=0.5):
        self.optimizer, self.factor, self.calls = opt, factor, []

    def step(self):
        self.calls.append(self.optimizer.steps)
        self.optimizer.lr *= self.factor


class MetricLog(LrLog):
    needs_metric = True

    def step(self, metric):
        self.calls.append(metric)


# ------------------------------------------------------------------------------ accumulation
@pytest.mark.parametrize("n, B, k", [(50, 8, 3), (20, 8, 3), (48, 8, 2), (23, 4, 5)])
def test_accumulation_equals_the_big_batch(xp, n, B, k):
    # k mini-batches of B == one batch of k*B in the same data order, uneven last batches too:
    # (20, 8, 3) puts batches of 8, 8, 4 into one step, weighted 8/20, 8/20, 4/20 (an equal
    # 1/3 weighting would differ); momentum makes any error in one step carry into the next.
    X, y = _problem(n)
    model = models.LinearRegression(3)
    runs = []
    for batch, acc in ((B, k), (k * B, 1)):
        params = model.init_params(seed=1, xp=xp)
        hist = train(model, params, SGD(params, lr=0.05, momentum=0.9), (X, y), epochs=3,
                     batch_size=batch, seed=7, accumulate=acc)
        runs.append((hist, {k_: to_numpy(v) for k_, v in params.items()}))
    (h_acc, p_acc), (h_big, p_big) = runs
    per_epoch = math.ceil(math.ceil(n / B) / k)
    assert h_acc.steps == h_big.steps == 3 * per_epoch  # a step is one optimizer update
    assert h_acc.epoch_steps == [e * per_epoch for e in range(4)]
    np.testing.assert_allclose(h_acc.loss, h_big.loss, rtol=1e-12)
    np.testing.assert_allclose(h_acc.grad_norm, h_big.grad_norm, rtol=1e-12)
    for name in p_big:
        np.testing.assert_allclose(p_acc[name], p_big[name], rtol=1e-12, atol=1e-14)


def test_accumulation_with_weight_decay_and_softmax_matches():
    split = _digits_small(n_train=70)
    model = models.SoftmaxRegression(64, 10, weight_decay=0.01)
    out = []
    for batch, acc in ((10, 4), (40, 1)):
        params = model.init_params(seed=0)
        hist = train(model, params, SGD(params, lr=0.1), split, epochs=2, batch_size=batch,
                     accumulate=acc, seed=3)
        out.append((hist.loss, params["W"]))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-12)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-12, atol=1e-14)


def test_accumulation_counts_max_steps_and_callbacks_in_updates():
    X, y = _problem(40)
    model = models.LinearRegression(3)
    params = model.init_params(seed=0)
    seen = []
    hist = train(model, params, SGD(params, lr=0.01), (X, y), epochs=5, batch_size=5,
                 accumulate=4, max_steps=3, callback=lambda s, loss, p, h: seen.append(s))
    assert hist.steps == 3 == len(hist.loss) == len(hist.lr) and seen == [1, 2, 3]
    assert hist.epoch_steps == [0, 2, 3] and hist.stop_reason == "max_steps"


# ------------------------------------------------------------------------------ clipping by value
def test_clip_grad_value_matches_torch(xp):
    torch = pytest.importorskip("torch")
    g = np.random.default_rng(0)
    grads = {"a": 3 * g.standard_normal((3, 4)), "b": g.standard_normal(4), "c": None}
    for c in (0.1, 1.0, 100.0):
        ours = clip_grad_value({k: None if v is None else xp.asarray(v) for k, v in grads.items()},
                               c)
        assert ours["c"] is None
        for k in ("a", "b"):
            t = torch.tensor(grads[k], requires_grad=True)
            t.grad = torch.tensor(grads[k])
            torch.nn.utils.clip_grad_value_([t], c)
            np.testing.assert_array_equal(to_numpy(ours[k]), t.grad.numpy())
    assert float(np.max(np.abs(to_numpy(clip_grad_value({"a": xp.asarray(grads["a"])},
                                                          0.5)["a"])))) == 0.5


def test_train_clips_by_value_before_the_update(xp):
    X, y = _problem(20)
    model = models.LinearRegression(3)
    params = model.init_params(seed=0, xp=xp)
    w0 = to_numpy(params["w"]).copy()
    _, g = model.loss_and_grad(model.init_params(seed=0), X, y)
    hist = train(model, params, SGD(params, lr=1.0), (X, y), epochs=1, clip_value=0.3)
    assert float(np.max(np.abs(g["w"]))) > 0.3  # the clamp does something
    np.testing.assert_allclose(w0 - to_numpy(params["w"]), np.clip(g["w"], -0.3, 0.3),
                               rtol=1e-12)
    assert math.isclose(hist.grad_norm[0], global_norm(g), rel_tol=1e-12)  # before clipping


# ------------------------------------------------------------------------------ schedules
def test_scheduler_stepped_once_per_epoch_after_the_epoch():
    X, y = _problem(40)
    model = models.LinearRegression(3)
    params = model.init_params(seed=0)
    opt = SGD(params, lr=0.08)
    sched = LrLog(opt)
    hist = train(model, params, opt, (X, y), epochs=3, batch_size=10, scheduler=sched)
    assert sched.calls == [4, 8, 12]  # after each epoch's 4 optimizer steps
    np.testing.assert_allclose(hist.lr, [0.08] * 4 + [0.04] * 4 + [0.02] * 4)


def test_scheduler_stepped_per_step_for_warmup():
    X, y = _problem(40)
    model = models.LinearRegression(3)
    params = model.init_params(seed=0)
    opt = SGD(params, lr=0.1)
    warm = schedules.LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=4)
    hist = train(model, params, opt, (X, y), epochs=2, batch_size=10, scheduler=warm,
                 scheduler_interval="step")
    np.testing.assert_allclose(hist.lr, [0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1, 0.1, 0.1])


def test_real_step_schedule_per_epoch():
    X, y = _problem(40)
    model = models.LinearRegression(3)
    params = model.init_params(seed=0)
    opt = SGD(params, lr=0.1)
    hist = train(model, params, opt, (X, y), epochs=4, batch_size=20,
                 scheduler=schedules.StepLR(opt, step_size=2, gamma=0.1))
    np.testing.assert_allclose(hist.lr, [0.1] * 4 + [0.01] * 4)


def test_plateau_schedule_gets_the_validation_loss_else_the_train_loss():
    X, y = _problem(50)
    split = Split(X[:40], X[40:], y[:40], y[40:])
    model = models.LinearRegression(3)
    for data, key in ((split, "val_loss"), ((X, y), "train_loss")):
        params = model.init_params(seed=0)
        opt = SGD(params, lr=0.05)
        sched = MetricLog(opt)
        hist = train(model, params, opt, data, epochs=3, batch_size=10, scheduler=sched)
        assert sched.calls == getattr(hist, key)[1:]  # one call per epoch, after evaluating


def test_reduce_on_plateau_cuts_the_lr_when_the_val_loss_stalls():
    _, _, ref = _overfit_run(epochs=12)  # val loss best at epoch 3, worse afterwards
    best = int(np.argmin(ref.val_loss))
    model = models.MLP(64, 64, 10)
    params = model.init_params(seed=0)
    opt = SGD(params, lr=1.0, momentum=0.9)
    hist = train(model, params, opt, _digits_small(), epochs=12,
                 scheduler=schedules.ReduceLROnPlateau(opt, factor=0.1, patience=2))
    # full batch: step index e runs in epoch e+1. Patience 2: the 3rd bad epoch after the
    # best (epoch best+3) cuts the lr, so epoch best+4 is the first to run at 0.1
    assert best == 3 and hist.lr[:best + 3] == [1.0] * (best + 3)
    assert math.isclose(hist.lr[best + 3], 0.1)
    assert hist.val_loss[:best + 4] == ref.val_loss[:best + 4]
    assert hist.val_loss[best + 4] != ref.val_loss[best + 4]


def test_scheduler_argument_errors():
    X, y = _problem(10)
    model = models.LinearRegression(3)
    params = model.init_params(seed=0)
    opt = SGD(params, lr=0.1)
    with pytest.raises(ValueError, match="scheduler_interval must be 'epoch' for ReduceLR"):
        train(model, params, opt, (X, y), scheduler=schedules.ReduceLROnPlateau(opt),
              scheduler_interval="step")
    with pytest.raises(ValueError, match="scheduler_interval must be 'epoch' or 'step'"):
        train(model, params, opt, (X, y), scheduler_interval="batch")
    with pytest.raises(TypeError, match="scheduler must be None or a schedule.*int"):
        train(model, params, opt, (X, y), scheduler=3)
    other = SGD(model.init_params(seed=0), lr=0.1)
    with pytest.raises(ValueError, match="scheduler must be built on the optimizer"):
        train(model, params, opt, (X, y), scheduler=schedules.StepLR(other, step_size=1))


# ------------------------------------------------------------------------------ early stopping
def test_early_stopping_restores_the_best_parameters():
    model, params, hist = _overfit_run(epochs=100, early_stopping=4)
    _, _, ref = _overfit_run(epochs=100)
    best = int(np.argmin(ref.val_loss[:hist.epochs + 1]))
    assert best == 3 and ref.val_loss[-1] > 3 * ref.val_loss[best]  # a real overfit
    assert hist.stop_reason == "early_stopping" and not hist.diverged
    assert hist.best_epoch == best and hist.epochs == best + 4
    assert hist.best_loss == ref.val_loss[best] == min(hist.val_loss)
    assert hist.val_loss == ref.val_loss[:best + 5]  # the same run up to the stop
    assert "early stopping after epoch 7" in hist.message and "restored" in hist.message
    split = _digits_small()
    assert float(model.loss(params, split.X_val, split.y_val)) == hist.val_loss[best]


def test_early_stopping_without_restore_keeps_the_last_parameters():
    model, params, hist = _overfit_run(epochs=100, early_stopping=4, restore_best=False)
    split = _digits_small()
    assert float(model.loss(params, split.X_val, split.y_val)) == hist.val_loss[-1]
    assert hist.val_loss[-1] > hist.best_loss and "restored" not in hist.message


def test_early_stopping_min_delta_and_train_loss_without_validation():
    X, y = _problem(40)
    model = models.LinearRegression(3)
    params = model.init_params(seed=0)
    hist = train(model, params, SGD(params, lr=0.05), (X, y), epochs=50, early_stopping=3,
                 min_delta=1e9)  # nothing improves by 1e9: stop after 3 epochs, restore init
    assert hist.stop_reason == "early_stopping" and hist.epochs == 3 and hist.best_epoch == 0
    assert "training loss has not improved for 3 epoch(s)" in hist.message
    np.testing.assert_array_equal(params["w"], model.init_params(seed=0)["w"])
    params = model.init_params(seed=0)
    hist = train(model, params, SGD(params, lr=0.05), (X, y), epochs=20, early_stopping=3)
    assert hist.stop_reason == "completed" and hist.best_epoch == 20  # still improving


def test_early_stopping_restores_when_stopped_by_max_steps():
    model, params, hist = _overfit_run(epochs=100, early_stopping=50, max_steps=9)
    assert hist.stop_reason == "max_steps" and hist.best_epoch == 3
    split = _digits_small()
    assert float(model.loss(params, split.X_val, split.y_val)) == hist.val_loss[3]


def test_early_stopping_after_the_loss_rose_above_its_start_is_a_divergence():
    # full-batch GD at 1.2 x the edge 2/lambda_max: the loss grows every epoch (x1.04 after
    # epoch 1, x1.95 after epoch 2). Without validation data the training loss is monitored:
    # patience 1 stops at x1.04 (early stopping), patience 2 at x1.95, above EARLY_STOP_RISE
    X, y = _problem(40)
    A = np.column_stack([X, np.ones(len(X))])
    edge = 2 / np.linalg.eigvalsh(2 * A.T @ A / len(X))[-1]
    model = models.LinearRegression(3)
    runs = {}
    for patience in (1, 2):
        params = model.init_params(seed=0)
        runs[patience] = train(model, params, SGD(params, lr=1.2 * edge), (X, y), epochs=10,
                               early_stopping=patience, on_diverge="stop")
        np.testing.assert_array_equal(params["w"], model.init_params(seed=0)["w"])  # restored
    first = runs[1].train_loss[0]
    assert first > 1 and T.EARLY_STOP_RISE == 1.5
    assert 1.0 < runs[1].train_loss[-1] / first < 1.1 and runs[2].train_loss[-1] / first > 1.9
    assert runs[1].stop_reason == "early_stopping" and not runs[1].diverged
    assert runs[2].stop_reason == "diverged" and runs[2].diverged and runs[2].epochs == 2
    assert ("rose above 1.5 x the loss at initialisation" in runs[2].message
            and "the training loss has not improved for 2 epoch(s)" in runs[2].message)
    params = model.init_params(seed=0)
    with pytest.raises(FloatingPointError, match="early stopping fired"):
        train(model, params, SGD(params, lr=1.2 * edge), (X, y), epochs=10, early_stopping=2,
              on_diverge="raise")


# ------------------------------------------------------------------------------ issue 9
def test_blowup_in_the_last_update_is_reported_as_divergence():
    # one full-batch step at a huge lr: loss 3.06 -> 1.2e8; the batch loss before the update
    # was fine, only the evaluation after the epoch sees the blow-up
    split = digits()
    model = models.SoftmaxRegression(64, 10)
    params = model.init_params(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.warns(DivergenceWarning, match="after epoch 1"):
            hist = train(model, params, SGD(params, lr=1e9), split, epochs=1)
    assert hist.train_loss[0] < 3.5 and hist.train_loss[-1] > 1e8
    assert hist.diverged and hist.stop_reason == "diverged" and hist.steps == 1
    assert hist.message.startswith("diverged at step 1 (epoch 1): the training loss after "
                                   "epoch 1")
    assert "exceeds 1e+06 x the loss at initialisation 3.06" in hist.message
    assert "lr=1e+09" in hist.message
    params = model.init_params(seed=0)
    with pytest.raises(FloatingPointError, match="after epoch 1"):
        train(model, params, SGD(params, lr=1e9), split, epochs=3, on_diverge="raise")
    params = model.init_params(seed=0)  # the same check when max_steps stops mid-epoch
    hist = train(model, params, SGD(params, lr=1e9), split, epochs=3, batch_size=400,
                 max_steps=1, on_diverge="stop")
    assert hist.diverged and "after step 1" in hist.message
    params = model.init_params(seed=0)  # a sane lr is not flagged
    assert not train(model, params, SGD(params, lr=0.1), split, epochs=1).diverged


class CountingSoftmax(models.SoftmaxRegression):
    """Counts forward passes (every loss/accuracy/gradient evaluation runs one)."""

    forwards = 0

    def _forward(self, xp, params, X):
        CountingSoftmax.forwards += 1
        return super()._forward(xp, params, X)


def test_one_forward_pass_per_split_per_evaluation():
    split = _digits_small()
    model = CountingSoftmax(64, 10)
    params = model.init_params(seed=0)
    CountingSoftmax.forwards = 0
    hist = train(model, params, SGD(params, lr=0.1), split, epochs=3, batch_size=25)
    evaluations, steps = len(hist.train_loss), hist.steps
    assert (evaluations, steps) == (4, 6)
    assert CountingSoftmax.forwards == steps + 2 * evaluations  # was steps + 4 * evaluations
    assert hist.train_acc[-1] == float(model.accuracy(params, split.X_train, split.y_train))
    assert hist.val_loss[-1] == float(model.loss(params, split.X_val, split.y_val))


@pytest.mark.parametrize("model", [models.SoftmaxRegression(4, 3, weight_decay=0.1),
                                   models.SoftmaxRegression(4, 3, loss="mse"),
                                   models.MLP(4, 5, 3, loss="mse", weight_decay=0.1),
                                   models.MLP(4, 5, 3, activation="tanh"),
                                   models.MLP(4, 5, None, weight_decay=0.2),
                                   models.LinearRegression(4, weight_decay=0.3)])
def test_loss_and_accuracy_equals_loss_and_accuracy(xp, model):
    g = np.random.default_rng(0)
    X = xp.asarray(g.standard_normal((30, 4)))
    params = model.init_params(seed=2, xp=xp)
    y = (xp.asarray(g.integers(0, 3, 30)) if model.task == "classification"
         else xp.asarray(g.standard_normal(30)))
    loss, acc = model.loss_and_accuracy(params, X, y)
    assert float(loss) == float(model.loss(params, X, y))
    if model.task == "classification":
        assert float(acc) == float(model.accuracy(params, X, y))
    else:
        assert acc is None


def test_numpy_integers_are_accepted():
    X, y = _problem(40)
    model = models.LinearRegression(3)
    out = []
    for cast in (int, np.int64):
        params = model.init_params(seed=0)
        hist = train(model, params, SGD(params, lr=0.05), (X, y), epochs=cast(3),
                     batch_size=cast(8), max_steps=cast(7), accumulate=cast(2),
                     early_stopping=cast(5))
        out.append((hist.loss, to_numpy(params["w"])))
    assert len(out[0][0]) == 7 and out[0][0] == out[1][0]
    np.testing.assert_array_equal(out[0][1], out[1][1])


@pytest.mark.parametrize("kw, exc, words", [
    ({"accumulate": 0}, ValueError, ["accumulate", ">= 1", "0"]),
    ({"accumulate": 2.0}, ValueError, ["accumulate", "2.0"]),
    ({"clip_value": -1.0}, ValueError, ["clip_value", "-1.0"]),
    ({"early_stopping": 0}, ValueError, ["early_stopping", ">= 1", "0"]),
    ({"min_delta": -0.1}, ValueError, ["min_delta", "-0.1"]),
    ({"restore_best": "yes"}, TypeError, ["restore_best", "'yes'"]),
    ({"batch_size": np.float64(8.0)}, ValueError, ["batch_size", "8.0"]),
])
def test_trick_argument_errors(kw, exc, words):
    X, y = _problem(10)
    model = models.LinearRegression(3)
    params = model.init_params(seed=0)
    with pytest.raises(exc) as info:
        train(model, params, SGD(params, lr=0.1), (X, y), **kw)
    for w in words:
        assert w in str(info.value), f"{w!r} missing from: {info.value}"
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value({"a": np.ones(2)}, 0)


def test_history_fields_default_to_none():
    h = History()
    assert h.best_epoch is None and h.best_loss is None
