"""Tests for edulib.averaging: torch's AveragedModel fed the same parameters in float64, the
closed forms of SWA and EMA, backends, state, errors."""

from __future__ import annotations

import numpy as np
import pytest

from edulib import averaging as A
from edulib import models, optim, schedules

N_UPDATES = 15


def snapshots(seed=0, n=N_UPDATES):
    """n parameter dicts of a small 3-4-2 network, drifting like a training run."""
    rng = np.random.default_rng(seed)
    shapes = {"0.weight": (4, 3), "0.bias": (4,), "2.weight": (2, 4), "2.bias": (2,)}
    start = {k: rng.standard_normal(s) for k, s in shapes.items()}
    return [{k: v + 0.3 * t + rng.standard_normal(v.shape) for k, v in start.items()} for t in range(n)]


def torch_averages(torch, snaps, **kwargs):
    """What AveragedModel holds after each update, with the torch model's parameters set to snaps[t]."""
    swa_utils = torch.optim.swa_utils
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    fns = {k: getattr(swa_utils, fn)(*args) for k, (fn, args) in kwargs.items()}
    avg = swa_utils.AveragedModel(model, **fns)
    out = []
    for snap in snaps:
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(torch.from_numpy(snap[name]))
        avg.update_parameters(model)
        out.append(({n: p.detach().numpy().copy() for n, p in avg.module.named_parameters()},
                    int(avg.n_averaged)))
    return out


def our_averages(snaps, **kwargs):
    params = {k: v.copy() for k, v in snaps[0].items()}
    avg = A.AveragedParams(params, **{k: getattr(A, fn)(*args) for k, (fn, args) in kwargs.items()})
    out = []
    for snap in snaps:
        for k in params:
            params[k][...] = snap[k]                  # the optimizer changes the arrays in place
        avg.update_parameters(params)
        out.append(({k: v.copy() for k, v in avg.params.items()}, avg.n_averaged))
    return out


RULES = {
    "swa_default": ({}, 0.0),
    "swa_avg_fn": ({"avg_fn": ("get_swa_avg_fn", ())}, 0.0),
    "ema_avg_fn_0.9": ({"avg_fn": ("get_ema_avg_fn", (0.9,))}, 0.0),
    "ema_avg_fn_default": ({"avg_fn": ("get_ema_avg_fn", ())}, 0.0),
    "ema_multi_0.9": ({"multi_avg_fn": ("get_ema_multi_avg_fn", (0.9,))}, 1e-15),
    "ema_multi_0.3": ({"multi_avg_fn": ("get_ema_multi_avg_fn", (0.3,))}, 1e-15),   # lerp's other branch
    "ema_multi_0.5": ({"multi_avg_fn": ("get_ema_multi_avg_fn", (0.5,))}, 1e-15),
    "ema_multi_default": ({"multi_avg_fn": ("get_ema_multi_avg_fn", ())}, 1e-15),
    "ema_multi_0": ({"multi_avg_fn": ("get_ema_multi_avg_fn", (0.0,))}, 0.0),      # follows the last
    "ema_multi_1": ({"multi_avg_fn": ("get_ema_multi_avg_fn", (1.0,))}, 0.0),      # keeps the first
}


@pytest.mark.parametrize("rule", list(RULES))
def test_matches_torch_averaged_model_after_every_update(rule):
    """Bit for bit where torch computes the same expression; within a few ulps where torch's CPU
    lerp uses a fused multiply-add on some elements."""
    torch = pytest.importorskip("torch")
    kwargs, rtol = RULES[rule]
    snaps = snapshots(seed=1)
    got, want = our_averages(snaps, **kwargs), torch_averages(torch, snaps, **kwargs)
    for (g, gn), (w, wn) in zip(got, want, strict=True):
        assert gn == wn
        for k in w:
            np.testing.assert_allclose(g[k], w[k], rtol=rtol, atol=1e-15 if rtol else 0)
    assert not np.allclose(got[-1][0]["0.weight"], snaps[-1]["0.weight"]) or rule == "ema_multi_0"


def test_swa_is_the_mean_of_the_updates_and_the_first_update_copies():
    snaps = snapshots(seed=2)
    got = our_averages(snaps)
    for n, (avg, count) in enumerate(got, start=1):
        assert count == n
        for k in avg:
            np.testing.assert_allclose(avg[k], np.mean([s[k] for s in snaps[:n]], axis=0), rtol=1e-13)
    assert all(np.array_equal(got[0][0][k], snaps[0][k]) for k in snaps[0])


@pytest.mark.parametrize("fn", ["get_ema_avg_fn", "get_ema_multi_avg_fn"])
@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9, 0.99])
def test_ema_weights_first_update_by_decay_power(fn, decay):
    """After k updates: beta^(k-1) on the first, (1 - beta) beta^(k-j) on the j-th (j >= 2)."""
    snaps = snapshots(seed=3)
    kind = "avg_fn" if fn == "get_ema_avg_fn" else "multi_avg_fn"
    got = our_averages(snaps, **{kind: (fn, (decay,))})
    for k in range(1, N_UPDATES + 1):
        weights = [decay ** (k - 1)] + [(1 - decay) * decay ** (k - j) for j in range(2, k + 1)]
        assert sum(weights) == pytest.approx(1.0)
        for name in snaps[0]:
            want = sum(w * s[name] for w, s in zip(weights, snaps[:k], strict=True))
            np.testing.assert_allclose(got[k - 1][0][name], want, rtol=1e-12, atol=1e-12)


def test_construction_copies_and_updates_work_in_place():
    params = {"w": np.arange(3.0)}
    avg = A.AveragedParams(params)
    params["w"] += 10.0
    assert np.array_equal(avg.params["w"], [0.0, 1.0, 2.0]) and avg.n_averaged == 0
    held = avg.params["w"]
    avg.update_parameters(params)
    avg.update_parameters({"w": np.array([0.0, 0.0, 0.0])})
    assert held is avg.params["w"] and np.array_equal(held, [5.0, 5.5, 6.0])


def test_first_update_copies_whatever_the_rule():
    calls = []

    def never_first(avg, p, n):
        calls.append(n)
        return avg * 0 + 42.0
    avg = A.AveragedParams({"w": np.zeros(2)}, avg_fn=never_first)
    avg.update_parameters({"w": np.array([1.0, 2.0])})
    assert calls == [] and np.array_equal(avg.params["w"], [1.0, 2.0])
    avg.update_parameters({"w": np.array([1.0, 2.0])})
    assert calls == [1] and np.array_equal(avg.params["w"], [42.0, 42.0])


def test_multi_avg_fn_gets_lists_in_key_order_and_the_count():
    seen = []

    def record(avgs, ps, n):
        seen.append((len(avgs), [a.shape for a in ps], n))
    avg = A.AveragedParams({"W": np.zeros((2, 3)), "b": np.zeros(3)}, multi_avg_fn=record)
    for _ in range(3):
        avg.update_parameters({"b": np.ones(3), "W": np.ones((2, 3))})
    assert seen == [(2, [(2, 3), (3,)], 1), (2, [(2, 3), (3,)], 2)]


def test_backends_give_numpys_average(xp, to_np):
    snaps = snapshots(seed=4, n=6)
    want = our_averages(snaps, multi_avg_fn=("get_ema_multi_avg_fn", (0.8,)))[-1][0]
    params = {k: xp.asarray(v) for k, v in snaps[0].items()}
    avg = A.AveragedParams(params, multi_avg_fn=A.get_ema_multi_avg_fn(0.8))
    swa = A.AveragedParams(params)
    for snap in snaps:
        new = {k: xp.asarray(v) for k, v in snap.items()}
        avg.update_parameters(new)
        swa.update_parameters(new)
    for k in want:
        np.testing.assert_allclose(to_np(avg.params[k]), want[k], rtol=1e-14)
        np.testing.assert_allclose(to_np(swa.params[k]), np.mean([s[k] for s in snaps], axis=0), rtol=1e-13)


def test_float32_updates_are_cast_to_the_average_dtype():
    avg = A.AveragedParams({"w": np.zeros(2)})
    avg.update_parameters({"w": np.array([1.0, 3.0], dtype=np.float32)})
    avg.update_parameters({"w": np.array([2, 4])})
    assert avg.params["w"].dtype == np.float64 and np.array_equal(avg.params["w"], [1.5, 3.5])


def test_swa_of_a_training_run_is_the_mean_of_its_late_iterates():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = models.MLP(n_features=2, hidden=8, n_classes=2)
    params = model.init_params(seed=0)
    opt = optim.SGD(params, lr=0.2, momentum=0.9)
    sched = A.SWALR(opt, swa_lr=0.05, anneal_epochs=3)
    swa, late = A.AveragedParams(params), []
    for epoch in range(30):
        _, grads = model.loss_and_grad(params, X, y)
        opt.step(grads)
        if epoch >= 20:
            sched.step()
            swa.update_parameters(params)
            late.append({k: v.copy() for k, v in params.items()})
    assert swa.n_averaged == 10 and opt.lr == pytest.approx(0.05)
    for k in params:
        np.testing.assert_allclose(swa.params[k], np.mean([p[k] for p in late], axis=0), rtol=1e-12)
    assert np.isfinite(float(model.loss(swa.params, X, y)))


def test_state_dict_round_trip():
    snaps = snapshots(seed=5, n=8)
    full = our_averages(snaps)
    avg = A.AveragedParams(snaps[0])
    for s in snaps[:5]:
        avg.update_parameters(s)
    sd = avg.state_dict()
    other = A.AveragedParams(snaps[0])
    other.load_state_dict(sd)
    for s in snaps[5:]:
        other.update_parameters(s)
    assert other.n_averaged == 8
    for k in sd["params"]:
        np.testing.assert_array_equal(other.params[k], full[-1][0][k])
    sd["params"]["0.bias"][...] = 99.0                            # a copy, not the live arrays
    assert not np.any(avg.params["0.bias"] == 99.0)


def test_swalr_is_the_schedule_and_repr_names_the_rule():
    assert A.SWALR is schedules.SWALR
    avg = A.AveragedParams({"w": np.zeros(1)}, multi_avg_fn=A.get_ema_multi_avg_fn(0.9))
    assert repr(avg) == ("AveragedParams(n_averaged=0, rule='get_ema_multi_avg_fn.<locals>.ema_update', "
                         "keys=['w'])")
    assert "SWA (equal weights)" in repr(A.AveragedParams({"w": np.zeros(1)}))


# ---------------------------------------------------------------- errors
def test_decay_checks_match_torch():
    torch = pytest.importorskip("torch")
    for fn in ("get_ema_avg_fn", "get_ema_multi_avg_fn"):
        for bad in (-0.1, 1.5):
            with pytest.raises(ValueError, match=f"decay must be in \\[0.0, 1.0\\], received {bad}"):
                getattr(A, fn)(bad)
            with pytest.raises(ValueError):
                getattr(torch.optim.swa_utils, fn)(bad)
        with pytest.raises(TypeError, match="decay must be a number, received str"):
            getattr(A, fn)("0.9")
        with pytest.raises(TypeError):
            getattr(torch.optim.swa_utils, fn)("0.9")
        with pytest.raises(ValueError, match="decay must be in"):   # torch would average NaNs
            getattr(A, fn)(float("nan"))


def test_both_averaging_functions_refused_like_torch():
    torch = pytest.importorskip("torch")
    ema, swa = A.get_ema_avg_fn(0.9), A.get_ema_multi_avg_fn(0.9)
    with pytest.raises(ValueError, match="pass avg_fn or multi_avg_fn, not both"):
        A.AveragedParams({"w": np.zeros(2)}, avg_fn=ema, multi_avg_fn=swa)
    with pytest.raises(AssertionError):
        torch.optim.swa_utils.AveragedModel(torch.nn.Linear(2, 1), avg_fn=ema, multi_avg_fn=swa)


BAD = [
    (lambda: A.AveragedParams([np.zeros(2)]), TypeError, "params must be a dict of named arrays"),
    (lambda: A.AveragedParams({}), ValueError, "params must hold at least one array, received an empty dict"),
    (lambda: A.AveragedParams({"w": [1.0, 2.0]}), TypeError, "params['w'] must be an array, received list"),
    (lambda: A.AveragedParams({"w": np.arange(3)}), TypeError,
     "params['w'] must have a real floating dtype, received int64"),
    (lambda: A.AveragedParams({"w": np.zeros(2)}, avg_fn=0.9), TypeError,
     "avg_fn must be a function (avg, p, n_averaged) or None, received float"),
    (lambda: A.AveragedParams({"w": np.zeros(2)}).update_parameters({"v": np.zeros(2)}), ValueError,
     "params must have the keys ['w'], received ['v']"),
    (lambda: A.AveragedParams({"w": np.zeros(2)}).update_parameters(np.zeros(2)), TypeError,
     "params must be a dict of named arrays, received ndarray"),
    (lambda: A.AveragedParams({"w": np.zeros(2)}).update_parameters({"w": np.zeros(3)}), ValueError,
     "params['w'] must have the shape of the average's 'w' (2,), received (3,)"),
    (lambda: A.AveragedParams({"w": np.zeros(2)}).update_parameters({"w": np.zeros((2, 2))}), ValueError,
     "received (2, 2)"),
    (lambda: A.AveragedParams({"w": np.zeros(2)}).update_parameters({"w": np.array([1.0, np.nan])}),
     ValueError, "params['w'] must be finite, received 1 non-finite value(s)"),
    (lambda: A.AveragedParams({"w": np.zeros(2)}).update_parameters({"w": np.array(["a", "b"])}), TypeError,
     "params['w'] must hold real numbers, received <U1"),
    (lambda: A.AveragedParams({"w": np.zeros(2)}).load_state_dict({"params": {}}), ValueError,
     "state_dict must be a dict with keys ['n_averaged', 'params']"),
    (lambda: A.AveragedParams({"w": np.zeros(2)}).load_state_dict({"params": {"w": np.zeros(2)},
                                                                   "n_averaged": -1}), ValueError,
     "state_dict['n_averaged'] must be an int in [0, inf], received -1"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_names_argument_expected_and_received(i):
    build, exc, msg = BAD[i]
    with pytest.raises(exc) as info:
        build()
    assert msg in str(info.value)


def test_avg_fn_returning_the_wrong_shape_is_named():
    avg = A.AveragedParams({"w": np.zeros(2)}, avg_fn=lambda a, p, n: float(np.sum(a)))
    avg.update_parameters({"w": np.ones(2)})
    with pytest.raises(ValueError, match=r"avg_fn must return an array of the shape of params\['w'\] \(2,\), "
                                         r"received float of shape \(\)"):
        avg.update_parameters({"w": np.ones(2)})
    assert avg.n_averaged == 1


def test_mixing_array_libraries_is_a_type_error():
    xps = pytest.importorskip("array_api_strict")
    avg = A.AveragedParams({"w": np.zeros(2)})
    with pytest.raises(TypeError, match=r"params\['w'\] must be an array of the library of the average "
                                        r"\(numpy\), received Array"):
        avg.update_parameters({"w": xps.zeros(2, dtype=xps.float64)})
