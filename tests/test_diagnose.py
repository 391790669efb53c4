"""edulib.diagnose: every verdict on histories from real runs of edulib's models and optimizers
(never hand-drawn curves), with the numbers of the evidence checked against the history."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

from edulib import models
from edulib.babysit import Monitor
from edulib.data import Split, digits
from edulib.diagnose import ADVICE, THRESHOLDS, VERDICTS, Diagnosis, diagnose
from edulib.optim import SGD
from edulib.train import DivergenceWarning, History, train


@pytest.fixture(scope="module")
def split():
    """300 training and 300 validation digits (standardised): every run below takes < 0.5 s."""
    s = digits()
    return Split(s.X_train[:300], s.X_val[:300], s.y_train[:300], s.y_val[:300])


def run(model, data, lr, epochs, *, momentum=0.0, scale=1.0, **kw):
    params = model.init_params(seed=0, scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return train(model, params, SGD(params, lr=lr, momentum=momentum), data, epochs=epochs,
                     on_diverge="stop", **kw)


SOFTMAX = models.SoftmaxRegression(64, 10)
SOFTMAX_WD = models.SoftmaxRegression(64, 10, weight_decay=0.01)  # a finite minimum


# ------------------------------------------------------------------------------ each verdict
def test_diverging_run_stopped_by_train(split):
    hist = run(SOFTMAX, split, lr=1e9, epochs=3)  # one step: loss 3.15 -> 8.1e7
    d = diagnose(hist, n_classes=10)
    assert hist.diverged and d.verdict == "diverging"
    assert d.evidence[0] == f"train() stopped: {hist.message}"
    assert f"train loss rose from 3.15 to {hist.train_loss[1]:.3g} in 1 epoch(s)" in d.evidence
    assert d.advice == ADVICE["diverging"]


def test_diverging_run_that_train_does_not_stop(split):
    # lr = 40 with weight decay: the loss climbs 10x and stays up, below train's 1e6 x alarm
    hist = run(SOFTMAX_WD, split, lr=40.0, epochs=30)
    d = diagnose(hist)
    assert not hist.diverged and d.verdict == "diverging"
    top = max(hist.train_loss)
    assert top > THRESHOLDS["spike"] * hist.train_loss[0]
    assert d.evidence[0].startswith(f"train loss rose from {hist.train_loss[0]:.3g} to "
                                    f"{top:.3g} in {int(np.argmax(hist.train_loss))} epoch(s)")
    assert "lr=40" in d.evidence[1]


def test_non_finite_losses_are_read_as_diverging():
    # lr = 1e200 on linear regression: the loss after the update overflows to inf
    s = digits()
    data = (s.X_train[:100], s.y_train[:100].astype(float))
    hist = run(models.LinearRegression(64), data, lr=1e200, epochs=5)
    assert hist.diverged and not math.isfinite(hist.train_loss[-1])
    d = diagnose(hist)
    assert d.verdict == "diverging" and "1 evaluated loss(es) are NaN or inf" in d.evidence
    assert math.isfinite(d.numbers["max_train_loss"])


def test_oscillating_near_the_edge(split):
    # lr = 10 (5 converges): the full-batch loss bounces between ~0.25 and ~1.8 for 100 epochs
    hist = run(SOFTMAX_WD, split, lr=10.0, epochs=100)
    d = diagnose(hist)
    assert d.verdict == "oscillating"
    tl = np.asarray(hist.train_loss)
    rises = int(np.sum(np.diff(tl) > 0.01 * tl[:-1]))
    assert rises >= 30 and d.numbers["rises"] == rises
    assert d.evidence[0].startswith(f"train loss went up in {rises} of 100 epochs")
    tail = tl[50:]
    assert f"ranged from {tail.min():.3g} to {tail.max():.3g}" in d.evidence[1]
    calm = run(SOFTMAX_WD, split, lr=5.0, epochs=100)  # half the lr settles
    assert diagnose(calm).verdict == "healthy"


@pytest.mark.parametrize("lr", [1e-6, 1e-3, 1e-2])
def test_lr_too_small(split, lr):
    hist = run(SOFTMAX, split, lr=lr, epochs=30)
    d = diagnose(hist)
    assert d.verdict == "lr_too_small", str(d)
    assert d.numbers["total_drop"] < THRESHOLDS["healthy_drop"]
    assert f"lr={lr:g}" in " ".join(d.evidence)
    fast = run(SOFTMAX, split, lr=1.0, epochs=30)  # the same run with a tuned lr
    assert diagnose(fast).verdict == "healthy"


def test_plateau_of_an_all_zero_mlp(split):
    # all-zero weights: hidden units get no gradient; only the output bias moves (|g| ~ 0.03)
    hist = run(models.MLP(64, 32, 10), split, lr=0.1, epochs=30, scale=0.0)
    d = diagnose(hist, n_classes=10)
    assert d.verdict == "plateau"
    assert abs(hist.train_loss[0] - math.log(10)) < 1e-12  # a uniform guess
    assert d.numbers["grad_norm_late"] < 0.05 * math.log(10)
    assert "the gradient is tiny" in d.evidence[1]
    ok = run(models.MLP(64, 32, 10), split, lr=0.1, epochs=30)  # default (He) init learns
    assert diagnose(ok).verdict == "healthy"


def test_overfitting_mlp_on_a_tiny_subset():
    s = digits()
    tiny = Split(s.X_train[:50], s.X_val[:200], s.y_train[:50], s.y_val[:200])
    hist = run(models.MLP(64, 64, 10), tiny, lr=1.0, epochs=30, momentum=0.9)
    d = diagnose(hist)
    assert d.verdict == "overfitting"
    k = int(np.argmin(hist.val_loss))
    rise = hist.val_loss[-1] / hist.val_loss[k] - 1
    assert k == 3 and rise > 1.0
    assert d.evidence[0].startswith(f"val loss rose {100 * rise:.3g}% above its minimum "
                                    f"{hist.val_loss[k]:.3g} at epoch {k}")
    assert d.evidence[1] == f"accuracy: train {hist.train_acc[-1]:.3f}, validation " \
                            f"{hist.val_acc[-1]:.3f}"
    stopped = run(models.MLP(64, 64, 10), tiny, lr=1.0, epochs=30, momentum=0.9,
                  early_stopping=4)
    d = diagnose(stopped)
    assert d.verdict == "overfitting" and d.evidence[-1].startswith("early stopping ended")


def test_healthy_minibatch_run_is_not_called_oscillating(split):
    hist = run(SOFTMAX, split, lr=0.1, epochs=10, batch_size=32)
    d = diagnose(hist)
    assert d.verdict == "healthy"
    drop = 1 - hist.train_loss[-1] / hist.train_loss[0]
    assert d.evidence[0].startswith(f"train loss fell {100 * drop:.3g}% in 10 epochs")


def test_huge_init_is_flagged_against_ln_c(split):
    hist = run(models.MLP(64, 32, 10), split, lr=0.1, epochs=5, scale=30.0)
    d = diagnose(hist, n_classes=10)
    assert hist.train_loss[0] > 100 * math.log(10)
    assert d.verdict == "bad_init" and d.advice == ADVICE["bad_init"]
    assert d.evidence[0].startswith(f"the initial loss {hist.train_loss[0]:.3g} is")
    assert d.evidence[1].startswith(f"after 5 epoch(s) the training loss is still "
                                    f"{hist.train_loss[-1]:.3g}")
    assert "ln(10) = 2.3" in d.evidence[0] and "too large" in d.evidence[0]
    assert "ln(10)" not in " ".join(diagnose(run(SOFTMAX, split, 1.0, 5), n_classes=10).evidence)
    lenient = diagnose(hist, n_classes=10, thresholds={"init_ratio": 1000.0})  # 578 x is fine now
    assert not any("ln(10)" in e for e in lenient.evidence) and lenient.verdict != "bad_init"
    assert diagnose(hist).verdict != "bad_init"  # without n_classes there is no ln C to compare


def test_a_bad_init_changes_the_verdict_on_every_seed(split):
    # 30 x the default init, 10 epochs: the loss falls 80-85% (1332 -> 280 on seed 0), which
    # the curve alone calls healthy, yet it ends 100 x above ln(10); the default init of the
    # same seed is not flagged and keeps the verdict its curve gets
    mlp = models.MLP(64, 32, 10)
    for seed in range(5):
        got = {}
        for scale in (1.0, 30.0):
            params = mlp.init_params(seed=seed, scale=scale)
            hist = train(mlp, params, SGD(params, lr=0.1), split, epochs=10, on_diverge="stop")
            got[scale] = (diagnose(hist).verdict, diagnose(hist, n_classes=10).verdict)
            if scale == 30.0:
                assert hist.train_loss[-1] > 50 * math.log(10)
        curve_only, with_ln_c = got[30.0]
        assert curve_only == "healthy" and with_ln_c == "bad_init", (seed, got)
        assert got[1.0][0] == got[1.0][1] != "bad_init", (seed, got)


def test_a_recovered_bad_init_is_still_named(split):
    # lr = 1 brings the 3 x init's training loss below ln(10): the start was still wrong
    hist = run(models.MLP(64, 32, 10), split, lr=1.0, epochs=30, scale=3.0)
    d = diagnose(hist, n_classes=10)
    assert hist.train_loss[0] > 3 * math.log(10) > math.log(10) > hist.train_loss[-1]
    assert d.verdict == "bad_init" and "below ln(10)" in d.evidence[1]


def test_early_stopping_does_not_hide_a_divergence(split):
    # lr = 10: the loss rises 3e4 to 9e4 x in 4 epochs (below train's 1e6 x alarm) while the
    # validation loss never improves, so early stopping fires: that stop is a divergence
    mlp = models.MLP(64, 32, 10)
    for seed in range(5):
        params = mlp.init_params(seed=seed)
        with pytest.warns(DivergenceWarning, match="early stopping fired") as caught:
            hist = train(mlp, params, SGD(params, lr=10.0), split, epochs=30, early_stopping=4)
        assert len(caught) == 1
        assert hist.diverged and hist.stop_reason == "diverged" and hist.epochs == 4
        assert 1e4 < max(hist.train_loss) / hist.train_loss[0] < 1e6
        assert hist.message.startswith(f"diverged at step 4 (epoch 4): the training loss after "
                                       f"epoch 4, {hist.train_loss[-1]:.4g}, rose above 1.5 x")
        assert hist.message.endswith("restored the parameters of evaluation 0 (monitored loss "
                                     f"{hist.val_loss[0]:.4g})")
        np.testing.assert_array_equal(params["W1"], mlp.init_params(seed=seed)["W1"])
        d = diagnose(hist)
        assert d.verdict == "diverging" and d.evidence[0] == f"train() stopped: {hist.message}"
    # a history that reports the stop as plain early stopping is still read as diverging
    as_early = dataclasses.replace(hist, diverged=False, stop_reason="early_stopping")
    d = diagnose(as_early)
    assert d.verdict == "diverging" and d.evidence[-1].startswith("early stopping ended the run")
    # overfitting, where the training loss keeps falling, stays early stopping
    s = digits()
    tiny = Split(s.X_train[:50], s.X_val[:200], s.y_train[:50], s.y_val[:200])
    over = run(models.MLP(64, 64, 10), tiny, lr=1.0, epochs=30, momentum=0.9, early_stopping=4)
    assert over.stop_reason == "early_stopping" and not over.diverged


# ------------------------------------------------------------------------------ with a Monitor
DEEP = models.MLP(64, (32, 32), 10)


def watched(data, lr, seed=0, b1=0.0, b2=0.0, epochs=10, every=5):
    """An MLP trained with a Monitor (SGD, momentum 0.9, batches of 64): (history, monitor)."""
    params = DEEP.init_params(seed=seed)
    params["b1"][...] = b1
    params["b2"][...] = b2
    mon = Monitor(every=every)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        hist = train(DEEP, params, SGD(params, lr=lr, momentum=0.9), data, epochs=epochs,
                     batch_size=64, seed=seed, monitor=mon)
    return hist, mon


def test_a_dead_layer_is_named_dead_units(split):
    # b2 = -100: every unit of layer 2 is 0 on every input from the start, gets no gradient and
    # stays dead; the logits are b3 alone, so the loss sits near ln 10 with a tiny gradient
    for seed in range(3):
        hist, mon = watched(split, lr=0.1, seed=seed, b2=-100.0)
        assert mon.dead["A2"] == [1.0] * len(mon.steps)
        curve_only = diagnose(hist, n_classes=10)
        assert curve_only.verdict == "plateau"  # the curve alone reads a flat stretch
        d = diagnose(hist, n_classes=10, monitor=mon)
        assert d.verdict == "dead_units" and d.advice == ADVICE["dead_units"], str(d)
        assert d.meaning == VERDICTS["dead_units"]
        assert d.numbers["dead_A2"] == 1.0 == d.numbers["dead_fraction"]
        assert d.numbers["dead_A1"] == mon.dead["A1"][-1] < THRESHOLDS["dead_fraction"]
        assert d.evidence[0].startswith(f"100% of the units of hidden layer A2 are 0 on every "
                                        f"example of the batch at step {mon.steps[-1]} (the last "
                                        "recorded), already at step 0")
        assert not any("layer A1" in e for e in d.evidence)
        # 100% dead is at the strictest threshold too
        assert diagnose(hist, monitor=mon, thresholds={"dead_fraction": 1.0}).verdict == "dead_units"


def test_units_killed_during_the_run_and_partly_dead_layers(split):
    # lr = 0.5: healthy at step 0, then large steps push layer 2 below zero for every input
    hist, mon = watched(split, lr=0.5, seed=0)
    assert mon.dead["A2"][0] == 0.0 and mon.dead["A2"][-1] == 1.0
    assert diagnose(hist, n_classes=10).verdict == "oscillating"
    d = diagnose(hist, n_classes=10, monitor=mon)
    assert d.verdict == "dead_units" and "against 0% at step 0: they died during the run" in d.evidence[0]
    # hidden biases at -3: 94% of layer 2 dead at the end; read as too slow by the curve alone
    hist, mon = watched(split, lr=0.01, seed=0, b1=-3.0, b2=-3.0)
    last = mon.dead["A2"][-1]
    assert 0.9 < last < 1.0 and mon.dead["A2"][0] > THRESHOLDS["dead_fraction"]
    assert diagnose(hist, n_classes=10).verdict == "lr_too_small"
    assert diagnose(hist, n_classes=10, monitor=mon).verdict == "dead_units"
    # a threshold above the measured fraction: no dead layer, the curve's verdict and evidence
    strict = diagnose(hist, n_classes=10, monitor=mon, thresholds={"dead_fraction": 0.95})
    assert strict.verdict == "lr_too_small"
    assert strict.evidence == diagnose(hist, n_classes=10).evidence
    at_it = diagnose(hist, n_classes=10, monitor=mon, thresholds={"dead_fraction": last})
    assert at_it.verdict == "dead_units"  # at least the threshold counts


def test_a_monitor_that_sees_no_dead_layer_changes_nothing(split):
    for seed in range(5):  # lr = 0.1: healthy on 4 seeds, oscillating on seed 2; few dead units
        hist, mon = watched(split, lr=0.1, seed=seed)
        assert max(v[-1] for v in mon.dead.values()) < THRESHOLDS["dead_fraction"]
        plain, seen = diagnose(hist, n_classes=10), diagnose(hist, n_classes=10, monitor=mon)
        assert seen.verdict == plain.verdict and seen.evidence == plain.evidence
        assert seen.numbers["dead_A2"] == mon.dead["A2"][-1]
        if seed != 2:
            assert seen.verdict == "healthy"
    # a model without hidden layers: the monitor has no dead fractions to read
    params = SOFTMAX.init_params(seed=0)
    mon = Monitor(every=5)
    hist = train(SOFTMAX, params, SGD(params, lr=1.0), split, epochs=5, batch_size=64, seed=0,
                 monitor=mon)
    assert mon.dead == {} and diagnose(hist, monitor=mon) == diagnose(hist)


def test_the_monitor_is_checked(split):
    hist, mon = watched(split, lr=0.1, epochs=2)
    for bad in ({"dead": {"A2": [1.0]}}, mon.dead, "Monitor"):
        with pytest.raises(TypeError, match=r"monitor must be None or an edulib.babysit.Monitor"
                                            rf".*received {type(bad).__name__}"):
            diagnose(hist, monitor=bad)
    with pytest.raises(ValueError, match="monitor must have recorded the run.*recorded nothing"):
        diagnose(hist, monitor=Monitor())
    _, longer = watched(split, lr=0.1, epochs=4)  # the monitor of another, longer run
    with pytest.raises(ValueError, match=rf"monitor must be the Monitor of this run: it recorded "
                                         rf"step {longer.steps[-1]}, the history has 10 step"):
        diagnose(hist, monitor=longer)


# ------------------------------------------------------------------------------ edges of the rules

# Hand-built histories: losses at exactly zero do not come out of a short real run.
def curve(losses, grad=1e-9):
    return History(train_loss=list(losses), grad_norm=[grad] * (len(losses) - 1),
                   lr=[0.1] * (len(losses) - 1), steps=len(losses) - 1, epochs=len(losses) - 1)


@pytest.mark.parametrize(("losses", "verdict"), [
    ([0.0, 1e-12, 1e-12, 1e-12], "healthy"),      # at zero throughout: converged
    ([0.0, 0.0, 0.0, 0.0], "healthy"),
    ([1e-10, 1e-9, 5e-10, 1e-9], "healthy"),     # 10 x, but of nothing: no rise
    ([0.0, 1.0, 2.0, 3.0], "diverging"),         # a real rise from zero
    ([1e-12, 0.5, 1e-12, 0.5, 1e-12], "diverging"),
])
def test_losses_near_zero_use_an_absolute_floor(losses, verdict):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by a zero initial loss
        d = diagnose(curve(losses))
    assert d.verdict == verdict, str(d)
    if losses[0] == 0.0 and verdict == "diverging":
        assert " x)" not in d.evidence[0]  # no ratio to a zero initial loss


def dead_monitor(steps, dead_a2):
    """A Monitor holding hand-set dead fractions of one hidden layer (no training)."""
    mon = Monitor(every=1)
    mon.steps, mon.dead = list(steps), {"A2": list(dead_a2)}
    return mon


def test_dead_units_after_a_spike_but_not_after_a_divergence():
    mon = dead_monitor([0, 3], [0.0, 1.0])
    # the loss spiked 15 x and came back down: the curve alone says diverging
    spiked = curve([2.8, 44.6, 2.78, 2.31, 2.31], grad=1e-3)
    assert diagnose(spiked).verdict == "diverging"
    d = diagnose(spiked, monitor=mon)
    assert d.verdict == "dead_units"
    assert d.evidence[1] == ("on the way the train loss spiked from 2.8 to 44.6 at epoch 1 and "
                             "came back down to 2.31: steps too large at lr=0.1")
    # still 7 x up at the end: diverging, with the dead layer as evidence
    up = diagnose(curve([2.8, 44.6, 30.0, 25.0, 20.0], grad=1e-3), monitor=mon)
    assert up.verdict == "diverging" and up.evidence[0].startswith("100% of the units of hidden "
                                                                   "layer A2")
    # stopped by train: diverging
    stopped = dataclasses.replace(spiked, diverged=True, message="diverged at step 3")
    assert diagnose(stopped, monitor=mon).verdict == "diverging"
    # too short to read: too_short, with the evidence
    short = diagnose(curve([2.8, 2.3], grad=1e-3), monitor=dead_monitor([0], [1.0]))
    assert short.verdict == "too_short" and "layer A2" in short.evidence[0]


def test_min_evaluations_two_reads_a_one_epoch_run(split):
    one = run(SOFTMAX, split, lr=1.0, epochs=1)
    assert diagnose(one).verdict == "too_short"
    d = diagnose(one, thresholds={"min_evaluations": 2})
    assert d.verdict in VERDICTS and d.numbers["moves"] == 1


@pytest.mark.parametrize(("thresholds", "exc", "words"), [
    ({"spike": math.nan}, ValueError, ["thresholds['spike']", "nan"]),
    ({"small_grad": math.inf}, ValueError, ["thresholds['small_grad']", "inf"]),
    ({"small_grad": "0.1"}, TypeError, ["thresholds['small_grad']", "number", "str"]),
    ({"healthy_drop": 1.5}, ValueError, ["thresholds['healthy_drop']", "[0.0, 1.0]", "1.5"]),
    ({"diverge_rise": 0.5}, ValueError, ["thresholds['diverge_rise']", "0.5"]),
    ({"abs_floor": 0.0}, ValueError, ["thresholds['abs_floor']", "(0.0, inf]", "0.0"]),
    ({"min_evaluations": 0}, ValueError, ["thresholds['min_evaluations']", "[2, inf]", "0"]),
    ({"min_evaluations": 1}, ValueError, ["thresholds['min_evaluations']", "1"]),
    ({"min_evaluations": 3.5}, TypeError, ["thresholds['min_evaluations']", "int", "3.5"]),
    ({"osc_min_rises": True}, TypeError, ["thresholds['osc_min_rises']", "int", "True"]),
    ({"dead_fraction": 0.0}, ValueError, ["thresholds['dead_fraction']", "(0.0, 1.0]", "0.0"]),
    ({"dead_fraction": 1.2}, ValueError, ["thresholds['dead_fraction']", "1.2"]),
    ([("spike", 2.0)], TypeError, ["thresholds", "dict", "list"]),
])
def test_each_threshold_is_checked_by_name(split, thresholds, exc, words):
    hist = run(SOFTMAX, split, lr=0.1, epochs=3)
    with pytest.raises(exc) as info:
        diagnose(hist, thresholds=thresholds)
    for w in words:
        assert w in str(info.value), f"{w!r} missing from: {info.value}"


# ------------------------------------------------------------------------------ robustness
def test_short_and_empty_histories_get_a_clear_message(split):
    one = run(SOFTMAX, split, lr=0.1, epochs=1)
    for hist, n in ((one, 2), (History(), 0)):
        d = diagnose(hist)
        assert d.verdict == "too_short"
        assert d.evidence[0].startswith(f"only {n} evaluation(s)")
        assert "train for more epochs" in d.evidence[0]


def test_display_and_thresholds(split):
    hist = run(SOFTMAX, split, lr=1e-6, epochs=5)
    d = diagnose(hist)
    text, md = str(d), d._repr_markdown_()
    assert text.startswith(f"verdict: lr_too_small ({VERDICTS['lr_too_small']})")
    for line in d.evidence + d.advice:
        assert f"  - {line}" in text and f"- {line}" in md
    assert md.startswith("**Diagnosis: lr_too_small**")
    assert isinstance(d, Diagnosis) and d.meaning == VERDICTS["lr_too_small"]
    # the thresholds passed are the ones used: call |g| = 1.6 "small" and it reads as a plateau
    assert diagnose(hist, thresholds={"small_grad": 10.0}).verdict == "plateau"
    assert THRESHOLDS["small_grad"] == 0.05  # the module's table is not modified
    with pytest.raises(ValueError, match="thresholds must use the keys.*'nope'"):
        diagnose(hist, thresholds={"nope": 1.0})


def test_bad_input():
    with pytest.raises(TypeError, match=r"history must be an edulib.train.History \(what "
                                        r"train\(\) returns\), received dict"):
        diagnose({"train_loss": [1.0]})
    with pytest.raises(ValueError, match="n_classes must be None or an int >= 2, received 1"):
        diagnose(History(), n_classes=1)
