"""Weight averaging inside edulib.train.train (``average=``): the same average as a by-hand
callback and as torch's SWA/EMA recipes, the start points and intervals, the recorded losses of
the average, early stopping and divergence beside it, and bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from edulib import models
from edulib.averaging import AveragedParams, get_ema_multi_avg_fn
from edulib.data import Split
from edulib.optim import SGD
from edulib.train import DivergenceWarning, train


def _problem(n=40, d=3, seed=0):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d)) * np.array([1.0, 2.0, 0.5])
    y = X @ np.array([1.0, -1.0, 2.0]) + 0.3 * g.standard_normal(n)
    return X, y


def _split(seed=0):
    X, y = _problem(60, seed=seed)
    return Split(X[:40], X[40:], y[:40], y[40:])


def _copy(p):
    return {k: v.copy() for k, v in p.items()}


def _by_hand(avg, per_epoch, interval, start):
    """A train callback that folds the parameters into ``avg`` as train(average=...) says."""
    def cb(step, loss, params, hist):
        if interval == "step" and step > start:
            avg.update_parameters(params)
        if interval == "epoch" and step % per_epoch == 0 and step // per_epoch > start:
            avg.update_parameters(params)
    return cb


# ------------------------------------------------------------------------------ as by hand
@pytest.mark.parametrize(("interval", "start", "rule"), [
    ("epoch", 0, None), ("epoch", 3, None), ("step", 0, None), ("step", 17, None),
    ("step", 5, 0.9), ("epoch", 2, 0.5)])
def test_averaging_equals_a_callback_doing_it_by_hand(interval, start, rule):
    model = models.LinearRegression(3)
    split = _split()
    kw = {} if rule is None else {"multi_avg_fn": get_ema_multi_avg_fn(rule)}
    p1, p2 = model.init_params(seed=1), model.init_params(seed=1)
    a1, a2 = AveragedParams(p1, **kw), AveragedParams(p2, **kw)
    h1 = train(model, p1, SGD(p1, lr=0.05, momentum=0.5), split, epochs=6, batch_size=8, seed=3,
               average=a1, average_start=start, average_interval=interval)
    h2 = train(model, p2, SGD(p2, lr=0.05, momentum=0.5), split, epochs=6, batch_size=8, seed=3,
               callback=_by_hand(a2, 5, interval, start))
    assert h1.loss == h2.loss and h1.train_loss == h2.train_loss  # the average does not steer
    assert a1.n_averaged == a2.n_averaged == (30 - start if interval == "step" else 6 - start)
    for k in p1:
        np.testing.assert_array_equal(a1.params[k], a2.params[k])
    assert h1.avg_train_loss[-1] == float(model.loss(a2.params, split.X_train, split.y_train))
    assert h1.avg_val_loss[-1] == float(model.loss(a2.params, split.X_val, split.y_val))
    assert h2.avg_train_loss == [] and h2.avg_val_loss == []


def test_swa_per_epoch_is_the_mean_of_the_end_of_epoch_parameters():
    model = models.MLP(3, 5, 2)
    X, y = _problem()
    y = (y > 0).astype(int)
    params = model.init_params(seed=0)
    snaps = []
    h = train(model, params, SGD(params, lr=0.2), (X, y), epochs=7, batch_size=16, seed=0,
              average=(avg := AveragedParams(params)), average_start=4,
              callback=lambda s, lo, p, hi: snaps.append(_copy(p)) if s % 3 == 0 else None)
    assert h.steps == 21 and avg.n_averaged == 3       # epochs 5, 6, 7 (3 steps each)
    for k in params:
        mean = np.mean([snaps[e][k] for e in (4, 5, 6)], axis=0)
        np.testing.assert_allclose(avg.params[k], mean, rtol=1e-13, atol=1e-15)
    # recorded at every evaluation: NaN before the first update, then the average's own loss
    assert all(math.isnan(v) for v in h.avg_train_loss[:5]) and len(h.avg_train_loss) == 8
    assert np.isfinite(h.avg_train_loss[5:]).all() and len(h.avg_train_acc) == 8
    assert h.avg_train_acc[-1] == float(model.accuracy(avg.params, X, y))
    assert h.avg_val_loss == [] and "avg_train_loss=" in repr(h)


def test_evaluations_record_the_average_of_that_moment():
    model = models.LinearRegression(3)
    split = _split(1)
    params = model.init_params(seed=0)
    avg = AveragedParams(params)
    seen = []

    def watch(step, loss, p, hist):  # after the epoch's last step, the average is up to date
        if step % 5 == 0:
            seen.append(float(model.loss(avg.params, split.X_val, split.y_val)))

    h = train(model, params, SGD(params, lr=0.05), split, epochs=4, batch_size=8, seed=0,
              average=avg, average_interval="epoch", callback=watch)
    assert h.avg_val_loss[1:] == seen and math.isnan(h.avg_val_loss[0])


# ------------------------------------------------------------------------------ against torch
@pytest.mark.parametrize("rule", ["swa", "ema"])
def test_matches_torchs_recipe_step_for_step(rule):
    torch = pytest.importorskip("torch")
    from edulib.backend import rng as make_rng

    X, y = _problem(30)
    model = models.LinearRegression(3)
    params = model.init_params(seed=2)
    if rule == "swa":  # torch's SWA recipe: update after each epoch from epoch swa_start on
        avg, interval, start = AveragedParams(params), "epoch", 2
        t_fns = {}
    else:              # EMA after every step
        avg, interval, start = AveragedParams(params, multi_avg_fn=get_ema_multi_avg_fn(0.8)), "step", 0
        t_fns = {"multi_avg_fn": torch.optim.swa_utils.get_ema_multi_avg_fn(0.8)}
    w = torch.tensor(params["w"].copy(), requires_grad=True)
    b = torch.tensor(params["b"].copy(), requires_grad=True)
    t_model = torch.nn.Module()
    t_model.w, t_model.b = torch.nn.Parameter(w), torch.nn.Parameter(b)
    t_avg = torch.optim.swa_utils.AveragedModel(t_model, **t_fns)
    opt = torch.optim.SGD(t_model.parameters(), lr=0.05, momentum=0.9)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    order = make_rng(4)
    for epoch in range(5):
        perm = torch.from_numpy(order.permutation(30))
        for i in range(0, 30, 7):
            idx = perm[i:i + 7]
            opt.zero_grad()
            torch.mean((Xt[idx] @ t_model.w + t_model.b - yt[idx]) ** 2).backward()
            opt.step()
            if rule == "ema":
                t_avg.update_parameters(t_model)
        if rule == "swa" and epoch >= start:
            t_avg.update_parameters(t_model)
    train(model, params, SGD(params, lr=0.05, momentum=0.9), (X, y), epochs=5, batch_size=7,
          seed=4, average=avg, average_start=start, average_interval=interval)
    assert avg.n_averaged == int(t_avg.n_averaged)
    np.testing.assert_allclose(avg.params["w"], t_avg.module.w.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(avg.params["b"], t_avg.module.b.detach().numpy(), rtol=1e-12,
                               atol=1e-15)


# ------------------------------------------------------------------------------ start points
def test_start_points_and_cut_short_epochs():
    model = models.LinearRegression(3)
    X, y = _problem()
    cases = [("epoch", 0, None, 5), ("epoch", 5, None, 0), ("epoch", 1, 13, 1),
             ("step", 0, 13, 13), ("step", 12, 13, 1), ("step", 13, 13, 0), ("step", 20, None, 5)]
    for interval, start, max_steps, expected in cases:
        params = model.init_params(seed=0)
        avg = AveragedParams(params)
        h = train(model, params, SGD(params, lr=0.05), (X, y), epochs=5, batch_size=8, seed=0,
                  max_steps=max_steps, average=avg, average_start=start,
                  average_interval=interval)
        assert avg.n_averaged == expected, (interval, start, max_steps)
        # 13 steps: epochs 1, 2 and 3 steps of the third; "epoch" averages whole epochs only
        assert h.steps == (13 if max_steps else 25)
        assert len(h.avg_train_loss) == len(h.train_loss)
        assert math.isnan(h.avg_train_loss[-1]) == (expected == 0)


def test_accumulation_averages_at_the_end_of_each_epoch():
    model = models.LinearRegression(3)
    X, y = _problem(40)
    p1, p2 = model.init_params(seed=0), model.init_params(seed=0)
    a1, a2 = AveragedParams(p1), AveragedParams(p2)
    h = train(model, p1, SGD(p1, lr=0.05), (X, y), epochs=4, batch_size=4, accumulate=3,
              seed=0, average=a1)
    train(model, p2, SGD(p2, lr=0.05), (X, y), epochs=4, batch_size=4, accumulate=3, seed=0,
          callback=_by_hand(a2, 4, "epoch", 0))
    assert h.steps == 16 and a1.n_averaged == a2.n_averaged == 4   # ceil(10 / 3) = 4 per epoch
    for k in p1:
        np.testing.assert_array_equal(a1.params[k], a2.params[k])


def test_early_stopping_restores_params_and_leaves_the_average_alone():
    model = models.LinearRegression(3)
    split = _split(2)
    params = model.init_params(seed=0)
    avg = AveragedParams(params)
    snaps = []
    h = train(model, params, SGD(params, lr=0.1), split, epochs=40, batch_size=4, seed=0,
              early_stopping=2, average=avg,
              callback=lambda s, lo, p, hi: snaps.append(_copy(p)) if s % 10 == 0 else None)
    assert h.stop_reason == "early_stopping" and avg.n_averaged == h.epochs
    assert h.best_epoch == h.epochs - 2                               # 2 epochs after the best
    np.testing.assert_allclose(float(model.loss(params, split.X_val, split.y_val)),
                               h.val_loss[h.best_epoch], rtol=1e-12)
    mean = np.mean([s["w"] for s in snaps], axis=0)
    np.testing.assert_allclose(avg.params["w"], mean, rtol=1e-12)


class Bump:
    """A model whose loss stays finite when its parameter overflows to inf:
    L(w) = 10 sum exp(-w^2), gradient -20 w exp(-w^2) (NaN at w = inf)."""

    def loss(self, params, X, y):
        return 10.0 * np.sum(np.exp(-params["w"] ** 2))

    def loss_and_grad(self, params, X, y):
        w = params["w"]
        return self.loss(params, X, y), {"w": -20.0 * w * np.exp(-w ** 2)}


def test_a_step_that_blows_up_is_not_averaged():
    params = {"w": np.array([0.7, -0.7])}           # |gradient| 8.6: lr 1e308 overflows to inf
    avg = AveragedParams(params)
    X, y = _problem(8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # no RuntimeWarning either
        with pytest.warns(DivergenceWarning, match="gradient is not finite"):
            h = train(Bump(), params, SGD(params, lr=1e308), (X, y), epochs=3, batch_size=None,
                      average=avg, average_interval="step")
    assert h.diverged and h.steps == 1
    assert np.all(np.isinf(params["w"]))             # the parameters did blow up...
    assert avg.n_averaged == 0 and np.array_equal(avg.params["w"], [0.7, -0.7])   # ...not the average
    assert math.isnan(h.avg_train_loss[-1])


def test_other_backends(xp, to_np):
    model = models.LinearRegression(3)
    X, y = _problem()
    p_np = model.init_params(seed=0)
    p_xp = model.init_params(seed=0, xp=xp)
    a_np, a_xp = AveragedParams(p_np), AveragedParams(p_xp)
    for p, a, data in ((p_np, a_np, (X, y)), (p_xp, a_xp, (xp.asarray(X), xp.asarray(y)))):
        train(model, p, SGD(p, lr=0.05), data, epochs=3, batch_size=8, seed=0, average=a,
              average_interval="step", average_start=4)
    np.testing.assert_allclose(to_np(a_xp.params["w"]), a_np.params["w"], rtol=1e-12)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("kw", "exc", "words"), [
    ({"average": {"w": 1}}, TypeError, ["average", "AveragedParams", "dict"]),
    ({"average_start": 3}, ValueError, ["average_start", "average=AveragedParams", "3"]),
    ({"average_interval": "step"}, ValueError, ["average_interval", "need average", "'step'"]),
    ({"average_interval": "batch", "average": "AVG"}, ValueError,
     ["average_interval", "'epoch' or 'step'", "'batch'"]),
    ({"average_start": -1, "average": "AVG"}, ValueError, ["average_start", ">= 0", "-1"]),
    ({"average_start": 2.0, "average": "AVG"}, ValueError, ["average_start", "2.0"]),
    ({"average_start": True, "average": "AVG"}, ValueError, ["average_start", "True"]),
    ({"average": "OTHER_KEYS"}, ValueError, ["average", "keys", "['b', 'w']", "['W']"]),
    ({"average": "FLOAT32"}, ValueError, ["average.params['w']", "float64", "float32"]),
    ({"monitor": object()}, TypeError, ["monitor", "start", "wants", "record", "object"]),
])
def test_bad_averaging_arguments_name_themselves(kw, exc, words):
    X, y = _problem(10)
    model = models.LinearRegression(3)
    params = model.init_params(seed=0)
    subs = {"AVG": AveragedParams(params), "OTHER_KEYS": AveragedParams({"W": np.ones(2)}),
            "FLOAT32": AveragedParams({k: v.astype(np.float32) for k, v in params.items()})}
    kw = {k: subs.get(v, v) if isinstance(v, str) else v for k, v in kw.items()}
    with pytest.raises(exc) as info:
        train(model, params, SGD(params, lr=0.1), (X, y), **kw)
    for w in words:
        assert w in str(info.value), f"{w!r} missing from: {info.value}"
