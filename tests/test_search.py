"""Tests for edulib.search: spaces, designs (grid, random, Sobol), trials through executors,
expected improvement, Bayesian optimisation, coarse to fine, tabulated surfaces and the
learning-rate range test."""

from __future__ import annotations

import math
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.stats import qmc
from threadpoolctl import threadpool_limits

from edulib import search as S
from edulib.data import train_val_split
from edulib.models import SoftmaxRegression
from edulib.optim import SGD, Adam
from edulib.search import Choice, Integer, Real
from edulib.train import train

SPACE = [Real("lr", 1e-4, 1.0, log=True), Real("momentum", 0.0, 0.99),
         Integer("width", 8, 128, log=True), Integer("depth", 1, 4),
         Choice("activation", ("relu", "tanh"))]


# ------------------------------------------------------------------ objectives (picklable)
def noisy_bowl(params, seed):
    """A bowl in (log10 lr, momentum) plus noise drawn from the trial's seed."""
    noise = np.random.default_rng(seed).standard_normal()
    return (math.log10(params["lr"]) + 2) ** 2 + (params["momentum"] - 0.9) ** 2 + 0.01 * noise


def flaky(params, seed):
    """Fails in three ways depending on lr: an exception, a NaN, an inf."""
    if params["lr"] > 0.5:
        raise FloatingPointError("diverged")
    if params["lr"] < 1e-3:
        return float("nan")
    if 0.1 < params["lr"] <= 0.5:
        return {"value": math.inf}
    return {"value": (math.log10(params["lr"]) + 2) ** 2, "epochs": 3}


def branin(params, seed):
    """Branin-Hoo, minimum 0 (three global minima) on [-5, 10] x [0, 15]."""
    x1, x2 = params["x1"], params["x2"]
    b, c = 5.1 / (4 * math.pi ** 2), 5 / math.pi
    return ((x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1)
            + 10 - 0.397887357729738)


BRANIN = [Real("x1", -5.0, 10.0), Real("x2", 0.0, 15.0)]


def key(trials):
    """Everything a trial records except its duration."""
    return [(t.index, t.params, t.seed, "nan" if math.isnan(t.value) else t.value, t.status,
             t.error, t.info) for t in trials]


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


# ------------------------------------------------------------------ the space
@pytest.mark.parametrize("build, error, match", [
    (lambda: Real("lr", 1.0, 1.0), ValueError, r"lr: low must be < high, received low=1.0"),
    (lambda: Real("lr", 0.0, 1.0, log=True), ValueError, r"lr: log=True needs low > 0"),
    (lambda: Real("lr", -1.0, 1.0, log=True), ValueError, r"log=True needs low > 0"),
    (lambda: Real("lr", float("nan"), 1.0), ValueError, r"lr: low must be in"),
    (lambda: Real("lr", "0.1", 1.0), TypeError, r"lr: low must be a number, received str"),
    (lambda: Real("lr", 0.1, 1.0, log="yes"), TypeError, r"lr: log must be True or False"),
    (lambda: Real("", 0.1, 1.0), TypeError, r"name must be a non-empty string"),
    (lambda: Real(3, 0.1, 1.0), TypeError, r"name must be a non-empty string, received int"),
    (lambda: Integer("n", 1.5, 4), TypeError, r"n: low must be an int, received float"),
    (lambda: Integer("n", 4, 4), ValueError, r"n: low must be < high"),
    (lambda: Integer("n", 0, 4, log=True), ValueError, r"n: log=True needs low >= 1"),
    (lambda: Choice("c", ()), ValueError, r"c: options must hold at least one value"),
    (lambda: Choice("c", "ab"), TypeError, r"c: options must be a list or tuple"),
    (lambda: Choice("c", ("a", "a")), ValueError, r"c: options must be distinct"),
    (lambda: Choice("c", ([1], [1])), ValueError, r"c: options must be distinct"),
    (lambda: Choice("c", (0, 0.0)), ValueError, r"c: options must be distinct"),
])
def test_bad_dimensions_are_refused_by_name(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize("space, error, match", [
    ([], ValueError, r"space must hold at least one dimension"),
    ("lr", TypeError, r"space must be a list of Real/Integer/Choice dimensions, received str"),
    ([Real("a", 0, 1), ("b", 0, 1)], TypeError, r"space\[1\] must be a Real, Integer or Choice"),
    ([Real("a", 0, 1), Integer("a", 0, 3)], ValueError, r"name each dimension once.*\['a'\]"),
])
def test_bad_spaces_are_refused(space, error, match):
    with pytest.raises(error, match=match):
        S.random(space, 3)


def test_unit_coordinates_round_trip_and_cells():
    reals = [Real("a", -2.0, 3.0), Real("b", 1e-6, 1e-1, log=True)]
    U = np.random.default_rng(0).random((50, 2))
    np.testing.assert_allclose(S.to_unit(reals, S.from_unit(reals, U)), U, rtol=0, atol=1e-12)
    # log scale: u = 1/5 of the way from 1e-6 to 1e-1 is 1e-5
    assert S.from_unit(reals, [[0.5, 0.2]])[0]["b"] == pytest.approx(1e-5, rel=1e-12)
    # integers: each gets an equal cell of [0, 1]; to_unit gives the cell's centre
    k = Integer("k", 1, 4)
    assert k.from_unit(np.array([0.0, 0.2499, 0.25, 0.99, 1.0])) == [1, 1, 2, 4, 4]
    np.testing.assert_allclose(k.to_unit([1, 2, 3, 4]), [0.125, 0.375, 0.625, 0.875])
    c = Choice("flag", (1, True, "x"))
    assert c.index(True) == 1 and c.index(1) == 0 and c.index(np.int64(1)) == 0
    with pytest.raises(ValueError, match=r"flag must be one of \(1, True, 'x'\), received 2"):
        c.index(2)
    with pytest.raises(ValueError, match=r"U must hold unit coordinates in \[0, 1\]"):
        S.from_unit(reals, [[0.5, 1.5]])
    with pytest.raises(ValueError, match=r"a must be in \[-2.0, 3.0\], received 4"):
        S.to_unit(reals, [{"a": 4, "b": 1e-3}])
    with pytest.raises(ValueError, match=r"configs\[0\] must hold every dimension.*\['b'\]"):
        S.to_unit(reals, [{"a": 1.0}])


# ------------------------------------------------------------------ designs
def test_grid_covers_the_corners_and_is_deterministic():
    g = S.grid(SPACE, 3)
    assert g == S.grid(SPACE, 3)
    # 3 lr x 3 momentum x 3 widths x 3 depths x 2 activations, the last dimension fastest
    assert len(g) == 3 ** 4 * 2
    assert [p["activation"] for p in g[:2]] == ["relu", "tanh"] and g[0]["depth"] == 1
    corners = {(p["lr"], p["momentum"], p["width"], p["depth"]) for p in g}
    for lr in (1e-4, 1.0):
        for mom in (0.0, 0.99):
            for width in (8, 128):
                for depth in (1, 4):
                    assert (lr, mom, width, depth) in corners
    # evenly spaced in each dimension's scale: 1e-4, 1e-2, 1 and 8, 32, 128
    assert sorted({p["lr"] for p in g}) == pytest.approx([1e-4, 1e-2, 1.0], rel=1e-12)
    assert sorted({p["width"] for p in g}) == [8, 32, 128]
    assert sorted({p["momentum"] for p in g}) == pytest.approx([0.0, 0.495, 0.99])
    # one point per dimension sits in the middle of its scale
    assert S.grid([Real("lr", 1e-4, 1.0, log=True)], 1)[0]["lr"] == pytest.approx(1e-2)
    counts = S.grid(SPACE, {"lr": 4, "momentum": 2, "width": 2, "depth": 4})
    assert len(counts) == 4 * 2 * 2 * 4 * 2
    with pytest.raises(ValueError, match=r"n_per_dim must give a count for exactly"):
        S.grid(SPACE, {"lr": 4})
    with pytest.raises(ValueError, match=r"n_per_dim must be an int in \[1, inf\], received 0"):
        S.grid(SPACE, 0)


@pytest.mark.parametrize("design", [S.random, S.sobol])
def test_random_and_sobol_stay_in_bounds_with_the_right_types(design):
    configs = design(SPACE, 200, seed=3)
    assert configs == design(SPACE, 200, seed=3) and configs != design(SPACE, 200, seed=4)
    for p in configs:
        assert list(p) == [d.name for d in SPACE]
        assert 1e-4 <= p["lr"] <= 1.0 and 0.0 <= p["momentum"] <= 0.99
        assert type(p["width"]) is int and 8 <= p["width"] <= 128
        assert type(p["depth"]) is int and 1 <= p["depth"] <= 4
        assert p["activation"] in ("relu", "tanh")
    assert {p["depth"] for p in configs} == {1, 2, 3, 4}
    # prefixes are stable: the first k of n points are the k-point design
    assert design(SPACE, 37, seed=3) == configs[:37]


def test_log_uniform_is_uniform_in_log_scale():
    lr = [p["lr"] for p in S.random([Real("lr", 1e-4, 1.0, log=True)], 2000, seed=0)]
    uniform_log = stats.uniform(loc=-4, scale=4).cdf
    assert stats.kstest(np.log10(lr), uniform_log).pvalue > 0.05
    # the same test refuses a plain uniform sample, and the linear dimension is uniform in x
    linear = np.random.default_rng(0).uniform(1e-4, 1.0, 2000)
    assert stats.kstest(np.log10(linear), uniform_log).pvalue < 1e-10
    mom = [p["momentum"] for p in S.random([Real("momentum", 0.0, 0.99)], 2000, seed=0)]
    assert stats.kstest(mom, stats.uniform(0, 0.99).cdf).pvalue > 0.05
    # a log integer gives k the share log((k+1)/k) / log(129/8) of [8, 128]
    widths = [p["width"] for p in S.random([SPACE[2]], 20000, seed=1)]
    k = np.arange(8, 129)
    expected = np.log((k + 1) / k) / np.log(129 / 8) * len(widths)
    observed = np.bincount(widths, minlength=129)[8:]
    assert stats.chisquare(observed, expected).pvalue > 0.01
    # ... while a uniform integer gives every k the same share
    assert stats.chisquare(np.full(121, 20000 / 121), expected).pvalue < 1e-10


@pytest.mark.parametrize("n", [64, 50])
def test_sobol_is_more_uniform_than_random(n):
    square = [Real("a", 0.0, 1.0), Real("b", 0.0, 1.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # no "balance properties" warning for n=50
        d_sobol = [qmc.discrepancy(S.to_unit(square, S.sobol(square, n, s))) for s in range(10)]
    d_random = [qmc.discrepancy(S.to_unit(square, S.random(square, n, s))) for s in range(10)]
    # measured: the worst Sobol set is 0.08x (n=64) and 0.19x (n=50) the best random set
    assert max(d_sobol) < 0.5 * min(d_random)


# ------------------------------------------------------------------ trials
def test_trials_record_seeds_params_and_values_that_reproduce():
    configs = S.random(SPACE, 12, seed=0)
    trials = S.run_trials(noisy_bowl, configs, seed=7)
    assert [t.params for t in trials] == configs and [t.index for t in trials] == list(range(12))
    assert [t.seed for t in trials] == S.trial_seeds(7, 12)
    assert len(set(S.trial_seeds(7, 12)) | set(S.trial_seeds(8, 12))) == 24
    for t in trials:                          # objective(params, seed) reruns the trial
        assert t.ok and t.value == noisy_bowl(t.params, t.seed) and t.duration >= 0
    best = trials.best()
    assert best.value == min(t.value for t in trials)
    np.testing.assert_array_equal(trials.best_so_far(), np.minimum.accumulate(trials.values))
    same = S.run_trials(noisy_bowl, configs, seeds=[0] * 12)
    assert {t.seed for t in same} == {0}
    assert isinstance(trials[:3], S.Trials) and key(trials[:3]) == key(trials)[:3]
    rows = trials.table()
    assert rows[0] == {"trial": 0, **configs[0], "seed": trials[0].seed, "value": trials[0].value,
                       "status": "ok", "error": None, "duration": trials[0].duration}


def test_failures_are_recorded_not_raised():
    configs = [{"lr": lr} for lr in (1e-2, 0.9, 1e-4, 0.3, 3e-2, 1e-3)]
    trials = S.run_trials(flaky, configs, seed=0)
    assert [t.status for t in trials] == ["ok", "failed", "failed", "failed", "ok", "ok"]
    assert trials[1].error == "FloatingPointError: diverged" and math.isnan(trials[1].value)
    assert trials[2].error == "the objective returned nan"
    assert trials[3].error == "the objective returned inf" and trials[3].value == math.inf
    assert trials[0].info == {"epochs": 3} and trials[0].value == 0.0
    assert trials.best() is trials[0] and len(trials.failed()) == 3 and len(trials.ok()) == 3
    curve = trials.best_so_far()
    assert curve[0] == 0.0 and np.all(curve == 0.0)
    assert repr(trials) == "Trials(n=6, ok=3, failed=3, best=0)"
    bad = S.run_trials(flaky, [{"lr": 0.9}, {"lr": 1e-5}], seed=0)
    assert np.all(np.isnan(bad.best_so_far()))
    with pytest.raises(ValueError, match=r"no successful trial among 2; the first error: "
                                         r"FloatingPointError: diverged"):
        bad.best()
    odd = S.run_trials(lambda p, s: "0.5" if p["a"] else {"loss": 1}, [{"a": 1}, {"a": 0}])
    assert odd[0].error == "the objective must return a number, received str '0.5'"
    assert odd[1].error.startswith("the objective returned a dict without 'value'")


@pytest.mark.parametrize("kwargs, error, match", [
    ({"objective": 3}, TypeError, r"objective must be a function objective\(params, seed\)"),
    ({"configs": {"lr": 1}}, TypeError, r"configs must be a list of hyperparameter dicts"),
    ({"configs": []}, ValueError, r"configs must hold at least one config"),
    ({"configs": [{"lr": 1}, 2]}, TypeError, r"configs\[1\] must be a dict of named"),
    ({"seeds": [1]}, ValueError, r"seeds must hold one seed per config \(2\), received 1"),
    ({"seeds": [1, -1]}, ValueError, r"seeds\[1\] must be an int in \[0, inf\]"),
    ({"seed": 1.5}, TypeError, r"seed must be an int, received float"),
    ({"executor": "pool"}, TypeError, r"executor must be None or have submit"),
])
def test_run_trials_refuses_bad_input(kwargs, error, match):
    args = {"objective": noisy_bowl, "configs": [{"lr": 1e-2, "momentum": 0.5}] * 2, **kwargs}
    with pytest.raises(error, match=match):
        S.run_trials(args.pop("objective"), args.pop("configs"), **args)


def test_a_process_pool_gives_the_sequential_results():
    configs = [{"lr": lr} for lr in np.geomspace(1e-5, 1.0, 16)]   # every kind of failure
    sequential = S.run_trials(flaky, configs, seed=5)
    with ProcessPoolExecutor(2) as pool:
        parallel = S.run_trials(flaky, configs, seed=5, executor=pool)
        bo_parallel = S.bayes_opt(noisy_bowl, SPACE[:2], 9, seed=2, executor=pool, batch_size=2)
        with pytest.raises(TypeError, match=r"the params and what it returns must be picklable"):
            S.run_trials(lambda p, s: 0.0, configs[:2], executor=pool)
    assert key(parallel) == key(sequential)
    assert {t.error.split(":")[0] for t in sequential.failed()} == {
        "FloatingPointError", "the objective returned nan", "the objective returned inf"}
    assert key(bo_parallel) == key(S.bayes_opt(noisy_bowl, SPACE[:2], 9, seed=2, batch_size=2))


def test_a_dask_client_gives_the_sequential_results():
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    configs = S.sobol(SPACE, 8, seed=0)
    sequential = S.run_trials(noisy_bowl, configs, seed=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert key(S.run_trials(noisy_bowl, configs, seed=1, executor=client)) == key(sequential)
        assert key(S.run_trials(noisy_bowl, configs, seed=1,
                                executor=client.get_executor())) == key(sequential)


# ------------------------------------------------------------------ Bayesian optimisation
@pytest.mark.parametrize("mu, sigma, best, xi", [
    (0.0, 1.0, 0.0, 0.0), (1.0, 0.5, 0.2, 0.0), (-1.0, 2.0, 0.5, 0.1), (3.0, 0.3, 0.0, 0.0),
    (0.5, 1e-3, 0.7, 0.05),
])
def test_expected_improvement_is_the_integral_it_names(mu, sigma, best, xi):
    def integrand(y):
        return max(best - xi - y, 0.0) * stats.norm.pdf(y, mu, sigma)

    direct, _ = integrate.quad(integrand, mu - 12 * sigma, best - xi, points=[mu], limit=200)
    ei = S.expected_improvement(np.array([mu]), np.array([sigma]), best, xi)
    assert ei.shape == (1,) and ei[0] == pytest.approx(direct, rel=1e-7, abs=1e-12)


def test_expected_improvement_without_uncertainty_and_bad_input():
    ei = S.expected_improvement([0.2, 1.5, 0.9], [0.0, 0.0, 0.0], best=1.0)
    np.testing.assert_allclose(ei, [0.8, 0.0, 0.1], rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match=r"sigma must be finite and >= 0"):
        S.expected_improvement([0.0], [-1.0], best=0.0)
    with pytest.raises(ValueError, match=r"sigma must have the shape of mu \(2,\), received \(1,\)"):
        S.expected_improvement([0.0, 1.0], [1.0], best=0.0)
    with pytest.raises(ValueError, match=r"xi must be in \[0.0, inf\]"):
        S.expected_improvement([0.0], [1.0], best=0.0, xi=-0.1)


def test_surrogate_interpolates_and_its_warnings_are_handled():
    rng = np.random.default_rng(0)
    U = rng.random((15, 3))
    y = np.sin(6 * U[:, 0]) + U[:, 1] ** 2              # the third coordinate does not matter
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gp = S.fit_surrogate(U, y, seed=0)
        again = S.fit_surrogate(U, y, seed=0, start=gp.kernel_)
    mu, sd = gp.predict(U, return_std=True)
    np.testing.assert_allclose(mu, y, atol=1e-2)
    assert np.all(sd < 0.05)
    # the irrelevant coordinate gets a longer length scale than the two that matter
    scales = gp.kernel_.k1.k2.length_scale
    assert scales[2] > 2 * max(scales[:2])
    assert again.log_marginal_likelihood_value_ >= gp.log_marginal_likelihood_value_ - 1e-6
    with pytest.raises(ValueError, match=r"U must have shape \(n, d\) and y shape \(n,\)"):
        S.fit_surrogate(U, y[:3])
    with pytest.raises(ValueError, match=r"U and y must be finite"):
        S.fit_surrogate(U, np.where(y > 0, np.nan, y))


def test_propose_maximises_expected_improvement_not_the_mean():
    # explored on the left, minimum near 0.2: the lowest mean is there, the highest EI is not
    U, y = np.array([[0.0], [0.1], [0.2], [0.3]]), np.array([1.0, 0.5, 0.4, 0.45])
    gp = S.fit_surrogate(U, y, seed=0)
    dense = np.linspace(0.0, 1.0, 2001)[:, None]
    mu, sd = gp.predict(dense, return_std=True)
    ei = S.expected_improvement(mu, sd, y.min())
    (x,) = S.propose(gp, U, y, np.random.default_rng(0))
    mu_x, sd_x = gp.predict(x[None, :], return_std=True)
    assert S.expected_improvement(mu_x, sd_x, y.min())[0] >= 0.99 * ei.max()
    assert ei.max() > 5 * ei[np.argmin(mu)]                 # the two rules really differ here
    batch = S.propose(gp, U, y, np.random.default_rng(0), q=3)
    assert batch.shape == (3, 1) and np.array_equal(batch[0], x)
    assert np.min(np.abs(np.diff(np.sort(batch[:, 0])))) > 1e-3    # the liar spreads the batch
    with pytest.raises(TypeError, match=r"rng must be a numpy Generator"):
        S.propose(gp, U, y, 0)


def test_bayes_opt_beats_random_search_at_equal_budget():
    best_bo, best_random = [], []
    for seed in range(5):
        best_bo.append(S.bayes_opt(branin, BRANIN, 20, seed=seed).best().value)
        best_random.append(S.search(branin, BRANIN, 20, "random", seed=seed).best().value)
    # measured on seeds 0-9: GP+EI wins on 10 of 10, medians 0.08 vs 1.8
    assert sum(b < r for b, r in zip(best_bo, best_random, strict=True)) >= 4
    assert np.median(best_bo) < 0.25 * np.median(best_random)


def test_bayes_opt_prefixes_seeds_failures_and_no_leaking_warnings():
    space = [Real("lr", 1e-5, 1.0, log=True), Real("momentum", 0.0, 0.99),
             Choice("nesterov", (False, True))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        long = S.bayes_opt(flaky, space, 16, seed=4, n_initial=6)
    assert key(S.bayes_opt(flaky, space, 10, seed=4, n_initial=6)) == key(long)[:10]
    assert [t.seed for t in long] == S.trial_seeds(4, 16)
    assert [t.params for t in long[:6]] == S.sobol(space, 6, seed=4)
    assert len(long.failed()) >= 1 and long.best().value < 0.05
    for t in long.ok():
        assert t.value == flaky(t.params, t.seed)["value"]
    # every proposal after the design is new and inside the space
    assert len({tuple(t.params.values()) for t in long}) == 16
    assert S.to_unit(space, [t.params for t in long]).max() <= 1.0


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_trials": 0}, ValueError, r"n_trials must be an int in \[1, inf\], received 0"),
    ({"n_initial": 0}, ValueError, r"n_initial must be an int in \[1, inf\]"),
    ({"batch_size": 2.0}, TypeError, r"batch_size must be an int, received float"),
    ({"xi": -1.0}, ValueError, r"xi must be in \[0.0, inf\]"),
    ({"seed": -1}, ValueError, r"seed must be an int in \[0, inf\], received -1"),
    ({"space": [Real("a", 0, 1)] * 2}, ValueError, r"space must name each dimension once"),
])
def test_bayes_opt_refuses_bad_input(kwargs, error, match):
    args = {"space": BRANIN, "n_trials": 5, **kwargs}
    with pytest.raises(error, match=match):
        S.bayes_opt(branin, args.pop("space"), args.pop("n_trials"), **args)


# ------------------------------------------------------------------ conveniences
def test_search_spends_the_budget_with_each_method():
    for method in S.METHODS:
        trials = S.search(branin, BRANIN, 17, method, seed=0)
        assert len(trials) == (16 if method == "grid" else 17)
    assert len(S.search(noisy_bowl, SPACE, 100, "grid")) == 2 ** 4 * 2    # 3^4 * 2 = 162 > 100
    with pytest.raises(ValueError, match=r"method must be one of \('grid', 'random', 'sobol', "
                                         r"'bayes'\), received 'tpe'"):
        S.search(branin, BRANIN, 10, "tpe")
    with pytest.raises(TypeError, match=r"options \['xi'\] are for method='bayes' only"):
        S.search(branin, BRANIN, 10, "random", xi=0.1)
    with pytest.raises(ValueError, match=r"budget=1 is below the smallest grid \(2 points"):
        S.search(noisy_bowl, SPACE, 1, "grid")


def test_refine_zooms_on_the_best_trials():
    coarse = S.run_trials(noisy_bowl, S.grid(SPACE, 3), seed=0)
    fine = S.refine(SPACE, coarse, top=0.1, margin=0.05)
    assert [type(d) for d in fine] == [type(d) for d in SPACE]
    best = sorted(coarse.ok(), key=lambda t: t.value)[:math.ceil(0.1 * len(coarse))]
    for old, new in zip(SPACE, fine, strict=True):
        if isinstance(old, Choice):
            assert set(new.options) == {t.params[old.name] for t in best}
            continue
        assert old.low <= new.low < new.high <= old.high and new.log == old.log
        for t in best:
            assert new.low <= t.params[old.name] <= new.high
    assert fine[0].high < 1.0 and fine[0].low > 1e-4     # lr near 1e-2: both ends moved in
    # an integer left with one value keeps its neighbours
    one = S.Trials([S.Trial(0, {"k": 3}, 0, 1.0, "ok")])
    assert S.refine([Integer("k", 1, 9)], one, margin=0.01) == [Integer("k", 2, 4)]
    with pytest.raises(ValueError, match=r"trials must hold a successful trial"):
        S.refine(SPACE, S.Trials([S.Trial(0, {}, 0, math.nan, "failed", "x")]))


def test_grid_surface_interpolates_in_log_scale_and_is_fast():
    space = [Real("lr", 1e-4, 1.0, log=True), Real("wd", 1e-6, 1e-1, log=True)]
    points = S.grid(space, 9)
    values = [math.log10(p["lr"]) + 2 * math.log10(p["wd"]) for p in points]
    surface = S.GridSurface(space, 9, values)
    for p, v in zip(points, values, strict=True):
        assert surface(p, 0) == pytest.approx(v, abs=1e-12)
    # linear in (log lr, log wd): interpolation is exact between the grid points too
    for p in S.random(space, 20, seed=0):
        assert surface(p) == pytest.approx(math.log10(p["lr"]) + 2 * math.log10(p["wd"]),
                                           abs=1e-9)
    # a dashboard redraw: 256 trials of random search on the surface, far below 300 ms
    times = []
    for _ in range(3):
        start = time.perf_counter()
        S.search(surface, space, 256, "random", seed=1)
        times.append(time.perf_counter() - start)
    assert min(times) < 0.3
    with pytest.raises(ValueError, match=r"values must hold one value per grid point, \(9, 9\)"):
        S.GridSurface(space, 9, values[:-1])
    with pytest.raises(ValueError, match=r"values must be finite"):
        S.GridSurface(space, 9, [math.inf] + values[1:])
    with pytest.raises(TypeError, match=r"GridSurface interpolates Real and Integer"):
        S.GridSurface(SPACE, 2, np.zeros(32))


# ------------------------------------------------------------------ LR range test
def two_blobs(seed, n=600, d=10):
    """Two overlapping Gaussian classes with features of different scales."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 3.0, d) + 0.4 * (2 * y - 1)[:, None]
    return train_val_split(X, y, 0.3, seed=seed)


def val_loss_after(model, split, lr, epochs=3):
    params = model.init_params(seed=0)
    hist = train(model, params, SGD(params, lr=lr), split, epochs=epochs, batch_size=32, seed=0,
                 on_diverge="stop")
    return math.inf if hist.diverged else hist.val_loss[-1]


def test_lr_range_test_suggests_what_a_tuned_sweep_finds():
    sweep = np.geomspace(1e-3, 30.0, 19)
    model = SoftmaxRegression(10, 2)
    for seed in range(10):
        split = two_blobs(seed)
        losses = np.array([val_loss_after(model, split, lr) for lr in sweep])
        b = int(np.argmin(losses))
        assert 0 < b < len(sweep) - 1                  # the sweep's best is inside the sweep
        params = model.init_params(seed=0)
        before = {k: v.copy() for k, v in params.items()}
        found = S.lr_range_test(model, params, split, batch_size=32, seed=0)
        assert all(np.array_equal(before[k], params[k]) for k in params)
        # measured on these 10 splits: suggestion / the sweep's best rate in [0.17, 2.35], and
        # training at the suggestion ends 0.99x-1.35x the sweep's best validation loss (the
        # sweep's smallest rate, 1e-3, ends 2.1x-3.1x above it)
        assert sweep[b] / 8 <= found.suggestion <= 4 * sweep[b]
        assert val_loss_after(model, split, found.suggestion) <= 1.5 * losses[b]
        assert found.suggestion == found.lr_min


def test_lr_range_test_records_the_schedule_the_smoothing_and_the_stop():
    split = two_blobs(0)
    model = SoftmaxRegression(10, 2)
    found = S.lr_range_test(model, model.init_params(seed=0), split, optimizer=SGD, lr_min=1e-4,
                            lr_max=1e3, steps=120, batch_size=32, momentum=0.9)
    n = len(found.lrs)
    np.testing.assert_allclose(found.lrs, 1e-4 * (1e7) ** (np.arange(n) / 120), rtol=1e-12)
    avg, smooth = 0.0, []
    for i, loss in enumerate(found.raw_losses):
        avg = 0.98 * avg + 0.02 * loss
        smooth.append(avg / (1 - 0.98 ** (i + 1)))
    np.testing.assert_allclose(found.losses, smooth, rtol=1e-12)
    # the rate reached 1e3: the loss exploded and the test stopped early, at the first step
    # whose smoothed loss passed 4x the smallest so far
    assert found.stop_reason in ("exploded", "diverged") and n < 120
    if found.stop_reason == "exploded":
        assert found.losses[-1] > 4 * found.losses.min()
        assert np.all(found.losses[:-1] <= 4 * np.minimum.accumulate(found.losses[:-1]))
    lo = 120 // 10
    assert found.lr_min == pytest.approx(found.lrs[lo:n - 5][np.argmin(found.losses[lo:n - 5])] / 10)
    slopes = np.diff(found.losses[lo:n - 5]) / np.diff(np.log(found.lrs[lo:n - 5]))
    assert found.lr_steep == found.lrs[lo:n - 5][np.argmin(slopes)]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"lr_min": 0.0}, ValueError, r"lr_min must be in \(0.0, inf\]"),
    ({"lr_min": 1.0, "lr_max": 0.5}, ValueError, r"lr_max must be in \(1.0, inf\]"),
    ({"steps": 5}, ValueError, r"steps must be an int in \[10, inf\], received 5"),
    ({"beta": 1.0}, ValueError, r"beta must be in \[0.0, 1.0\)"),
    ({"stop_factor": 1.0}, ValueError, r"stop_factor must be in \(1.0, inf\]"),
    ({"lr": 0.1}, TypeError, r"lr is set by the test"),
    ({"optimizer": lambda p, lr: None}, TypeError, r"optimizer must be an Optimizer class"),
    ({"lr_min": 1.0, "lr_max": 1e9, "steps": 10}, ValueError, r"the loss exploded after"),
])
def test_lr_range_test_refuses_bad_input(kwargs, error, match):
    model = SoftmaxRegression(10, 2)
    with pytest.raises(error, match=match):
        S.lr_range_test(model, model.init_params(seed=0), two_blobs(0), batch_size=32,
                        **{"optimizer": Adam, **kwargs})
