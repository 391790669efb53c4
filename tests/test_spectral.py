"""edulib.spectral: power iteration, Lanczos (repeated eigenvalues, clusters, negative ones,
against NumPy's eigvalsh and SciPy's ARPACK), Hutchinson's trace, stochastic Lanczos
quadrature and the Gaussian density, on every backend; a result that says converged has a
small residual; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as sla
from threadpoolctl import threadpool_limits

from edulib import spectral as sp
from edulib.backend import to_numpy


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small matrices: one BLAS thread is faster, and steady on a busy machine."""
    with threadpool_limits(1):
        yield


def _rel(a, b):
    a, b = np.asarray(to_numpy(a), dtype=np.float64), np.asarray(to_numpy(b), dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _reflect(A, u):
    """(I - 2uu^T) A (I - 2uu^T) for a unit u, in O(n^2)."""
    Au = A @ u
    return A - 2.0 * np.outer(u, Au) - 2.0 * np.outer(Au, u) + 4.0 * (u @ Au) * np.outer(u, u)


def _known_spectrum(n, top, seed=0, bulk=(-1.0, 1.0)):
    """A dense symmetric matrix Q diag(lam) Q^T with Q a product of three Householder
    reflections (orthogonal, built in O(n^2)): eigenvalues ``top`` and a uniform bulk."""
    g = np.random.default_rng(seed)
    lam = np.concatenate([top, g.uniform(*bulk, n - len(top))])
    A = np.diag(lam)
    for _ in range(3):
        u = g.standard_normal(n)
        A = _reflect(A, u / np.linalg.norm(u))
    return A, lam


def _eigsh_top(A, k):
    """ARPACK's k largest (algebraic) eigenvalues, descending."""
    op = sla.LinearOperator(A.shape, matvec=lambda v: A @ v, dtype=np.float64)
    return np.sort(sla.eigsh(op, k=k, which="LA", tol=1e-12, v0=np.ones(A.shape[0]))[0])[::-1]


# the spectra a robust solver must get right: (name, top eigenvalues, bulk)
SPECTRA = {
    "multiplicity 10": ([2.0] * 10, (-1.0, 1.0)),
    "triple at the top, double below": ([5.0, 5.0, 5.0, 4.0, 4.0], (-1.0, 1.0)),
    "cluster within 1e-6": ([3.0, 3.0 - 1e-6, 3.0 - 2e-6, 2.9], (-1.0, 1.0)),
    "negative dominant": ([-5.0, -5.0, -4.0], (-1.0, 1.0)),
    "all negative": ([-0.5, -0.5], (-3.0, -1.0)),
    "plus-minus pairs": ([1.0] * 5 + [-1.0] * 5, (-0.1, 0.1)),
}


# ============================================================================= Lanczos
@pytest.mark.parametrize("name", list(SPECTRA))
@pytest.mark.parametrize("k", [1, 2, 3, 5, 12])
def test_lanczos_matches_eigvalsh_and_arpack(name, k):
    top, bulk = SPECTRA[name]
    A, _ = _known_spectrum(200, top, seed=len(name), bulk=bulk)
    ref = np.linalg.eigvalsh(A)[::-1][:k]
    res = sp.lanczos(lambda v: A @ v, 200, k=k)
    assert res.converged, (res.residuals, res.n_runs)
    np.testing.assert_allclose(res.eigenvalues, ref, rtol=0, atol=1e-8 * np.abs(ref).max())
    # at least as close as ARPACK (which misses copies of 2 at k = 12)
    arpack_error = np.max(np.abs(_eigsh_top(A, k) - ref))
    assert np.max(np.abs(res.eigenvalues - ref)) <= max(arpack_error, 1e-12)
    Y = res.eigenvectors
    assert np.max(np.abs(Y.T @ Y - np.eye(k))) < 1e-10 and res.orthogonality < 1e-10
    true_res = np.linalg.norm(A @ Y - Y * res.eigenvalues, axis=0)
    np.testing.assert_allclose(res.residuals, true_res, rtol=1e-3, atol=1e-13)
    assert np.all(true_res <= 1e-10 * np.abs(np.linalg.eigvalsh(A)).max() * 1.01)


def test_lanczos_finds_every_copy_of_a_repeated_eigenvalue():
    """Single-vector Lanczos sees one direction per eigenspace: without restarts the copies
    of 2 are missed, and the result says so; with them, all three are found."""
    A, _ = _known_spectrum(100, [2.0] * 10, seed=5)
    one_run = sp.lanczos(lambda v: A @ v, 100, k=3, restarts=0)
    assert not one_run.converged and one_run.n_runs == 1
    res = sp.lanczos(lambda v: A @ v, 100, k=3)
    assert res.converged and res.n_runs >= 2
    np.testing.assert_allclose(res.eigenvalues, [2.0, 2.0, 2.0], atol=1e-10)
    np.testing.assert_allclose(res.eigenvalues, _eigsh_top(A, 3), atol=1e-10)


def test_lanczos_top_eigenvalues_match_the_spectrum_n2000():
    A, lam = _known_spectrum(2000, [10.0, 9.0, 8.5, 8.0, 7.0, 3.0])
    assert np.abs(A - np.diag(np.diag(A))).max() > 1e-3  # really dense, not diagonal
    k = 5
    res = sp.lanczos(lambda v: A @ v, 2000, k=k)
    ref = np.sort(lam)[::-1][:k]
    assert res.converged
    np.testing.assert_allclose(res.eigenvalues, ref, rtol=0, atol=1e-8 * ref[0])
    assert np.all(np.diff(res.eigenvalues) < 0)  # descending
    Y = res.eigenvectors
    assert Y.shape == (2000, k)
    assert np.max(np.abs(A @ Y - Y * res.eigenvalues)) < 1e-7
    assert np.max(np.abs(Y.T @ Y - np.eye(k))) < 1e-10
    assert res.n_iter < 300  # far fewer matvecs than n, the confirming restart included


def test_lanczos_with_too_few_steps_says_so():
    A, _ = _known_spectrum(300, [4.0, 3.9, 3.8], seed=7)  # close eigenvalues: harder
    ref = np.linalg.eigvalsh(A)[::-1]
    res = sp.lanczos(lambda v: A @ v, 300, k=3)
    assert res.converged
    np.testing.assert_allclose(res.eigenvalues, ref[:3], rtol=0, atol=1e-8 * 4.0)
    # the edge of the uniform bulk is crowded: 40 steps and no restart cannot resolve it
    crowded = sp.lanczos(lambda v: A @ v, 300, k=6, m=40, restarts=0)
    assert not crowded.converged and crowded.residuals[-1] > 1e-6
    # restarts (explicit, from the best Ritz vectors) get there
    restarted = sp.lanczos(lambda v: A @ v, 300, k=6, m=40, restarts=40)
    assert restarted.converged
    np.testing.assert_allclose(restarted.eigenvalues, ref[:6], rtol=0, atol=1e-8 * 4.0)


def test_lanczos_on_every_backend_and_repeated_eigenvalues(xp):
    A, lam = _known_spectrum(120, [5.0, 4.0, 4.0, 4.0], seed=1)  # a triple eigenvalue
    Ax = xp.asarray(A)
    res = sp.lanczos(lambda v: Ax @ v, 120, k=4, xp=xp)
    assert res.converged
    np.testing.assert_allclose(res.eigenvalues, [5.0, 4.0, 4.0, 4.0], atol=1e-8)
    assert type(res.eigenvectors) is type(Ax)
    # identity: the Krylov space is 1-D, the solver continues with fresh directions
    res = sp.lanczos(lambda v: 3.0 * v, 50, k=3, xp=xp)
    assert res.converged
    np.testing.assert_allclose(res.eigenvalues, [3.0, 3.0, 3.0], atol=1e-12)
    # smallest eigenvalues through -A
    res = sp.lanczos(lambda v: -(Ax @ v), 120, k=1, xp=xp)
    assert abs(-res.eigenvalues[0] - lam.min()) < 1e-8
    # the whole space: k = n
    small = xp.asarray(np.diag([3.0, 1.0, 1.0, -2.0]))
    res = sp.lanczos(lambda v: small @ v, 4, k=4, xp=xp)
    assert res.converged
    np.testing.assert_allclose(res.eigenvalues, [3.0, 1.0, 1.0, -2.0], atol=1e-12)


def test_lanczos_counts_every_matvec():
    A, _ = _known_spectrum(100, [3.0, 2.0], seed=2)
    calls = []
    res = sp.lanczos(lambda v: calls.append(1) or A @ v, 100, k=2)
    assert res.n_matvec == len(calls) == res.n_iter + 2  # + the two of the symmetry check


# ============================================================================= power iteration
def test_power_iteration(xp):
    A, lam = _known_spectrum(300, [6.0, 3.0], seed=2)
    Ax = xp.asarray(A)
    res = sp.power_iteration(lambda v: Ax @ v, 300, tol=1e-10, max_iter=200, xp=xp)
    assert res.converged and abs(res.eigenvalue - 6.0) < 1e-9
    v = res.eigenvector
    assert _rel(Ax @ v, 6.0 * v) < 1e-9
    assert res.history[-1] == res.eigenvalue and len(res.history) == res.n_iter
    assert res.n_matvec == res.n_iter + 2  # the symmetry check
    # the residual is what it says, and under the bound that made it stop
    r = float(np.linalg.norm(to_numpy(Ax @ v - res.eigenvalue * v)))
    assert res.residual == pytest.approx(r, rel=1e-6, abs=1e-14)
    assert res.residual <= 1e-10 * 6.0 and "residual" in res.reason
    # warm start at the answer: one product checks it
    warm = sp.power_iteration(lambda v: Ax @ v, 300, v0=v, tol=1e-8, xp=xp, check_symmetric=False)
    assert warm.converged and warm.n_iter == 1 and warm.n_matvec == 1
    # a dominant negative eigenvalue: A v = lambda v with the returned pair
    neg = sp.power_iteration(lambda v: -(Ax @ v), 300, tol=1e-10, max_iter=200, xp=xp)
    assert abs(neg.eigenvalue + 6.0) < 1e-9
    assert _rel(-(Ax @ neg.eigenvector), -6.0 * neg.eigenvector) < 1e-9
    # too few iterations: not converged, said so, with the residual that denies it
    few = sp.power_iteration(lambda v: Ax @ v, 300, max_iter=3, xp=xp)
    assert not few.converged and few.residual > 1e-6 * abs(few.eigenvalue)
    assert "max_iter=3 reached" in few.reason


def test_power_iteration_refuses_to_converge_on_a_plus_minus_tie():
    A = np.diag([3.0, -3.0, 1.0, 0.5])
    res = sp.power_iteration(lambda v: A @ v, 4)
    assert not res.converged
    r = np.linalg.norm(A @ res.eigenvector - res.eigenvalue * res.eigenvector)
    assert res.residual == pytest.approx(r) and r > 1.0
    assert "tie for the largest magnitude" in res.reason
    # Lanczos separates the pair
    lz = sp.lanczos(lambda v: A @ v, 4, k=1)
    assert lz.converged and lz.eigenvalues[0] == pytest.approx(3.0)
    assert sp.lanczos(lambda v: -(A @ v), 4, k=1).eigenvalues[0] == pytest.approx(3.0)


@pytest.mark.parametrize("seed", range(8))
def test_power_iteration_converged_means_a_small_residual(seed):
    """On random spectra, near-ties of both signs included: converged is True exactly when the
    residual is within the bound, and then an eigenvalue lies within it."""
    g = np.random.default_rng(seed)
    top = g.uniform(1.0, 2.0)
    second = -top * g.choice([1.0, 0.999, 0.9, 0.5])
    A, lam = _known_spectrum(60, [top, second], seed=seed, bulk=(-0.5, 0.5))
    res = sp.power_iteration(lambda v: A @ v, 60, tol=1e-6, max_iter=300)
    r = np.linalg.norm(A @ res.eigenvector - res.eigenvalue * res.eigenvector)
    assert res.converged == (r <= 1e-6 * abs(res.eigenvalue))
    if res.converged:
        assert np.min(np.abs(lam - res.eigenvalue)) <= r * (1 + 1e-9)


# ============================================================================= Hutchinson
def test_hutchinson_trace_within_standard_errors():
    A, lam = _known_spectrum(400, [5.0, 4.0], seed=3)
    A = A + 0.5 * np.eye(400)
    z_scores = []
    for seed in range(5):
        est = sp.hutchinson_trace(lambda v: A @ v, 400, n_probes=40, seed=seed)
        assert est.stderr > 0 and est.samples.shape == (40,)
        z_scores.append((est.estimate - np.trace(A)) / est.stderr)
    assert max(abs(z) for z in z_scores) < 4.0
    # a diagonal matrix: every Rademacher sample is exact
    d = np.arange(1.0, 11.0)
    est = sp.hutchinson_trace(lambda v: d * v, 10, n_probes=3)
    assert est.estimate == pytest.approx(55.0, abs=1e-12) and est.stderr < 1e-12


def test_hutchinson_variance_is_twice_the_off_diagonal_energy_over_the_probes():
    A, _ = _known_spectrum(50, [3.0], seed=8)
    off = 2.0 * (np.sum(A * A) - np.sum(np.diag(A) ** 2))  # variance of one sample
    for probes in (4, 16):
        est = [sp.hutchinson_trace(lambda v: A @ v, 50, n_probes=probes, seed=s).estimate
               for s in range(400)]
        # the spread over 400 seeds matches sqrt(off / probes) within sampling error (~7%)
        assert np.std(est) == pytest.approx(np.sqrt(off / probes), rel=0.2)
        assert abs(np.mean(est) - np.trace(A)) < 4 * np.sqrt(off / probes / 400)


# ============================================================================= SLQ, density
def test_slq_density_weights_moments_and_range(xp):
    A, lam = _known_spectrum(300, [8.0, 6.0], seed=4)
    Ax = xp.asarray(A)
    dens = sp.slq_density(lambda v: Ax @ v, 300, n_probes=8, m=30, seed=3, xp=xp)
    nodes, weights = dens
    assert nodes.shape == weights.shape == (8 * 30,)
    assert dens.n_matvec == 8 * 30 + 2  # the symmetry check included
    assert abs(weights.sum() - 1.0) < 1e-12 and np.all(weights >= 0)
    assert nodes.max() == pytest.approx(8.0, abs=1e-8)  # extreme eigenvalues converge first
    assert nodes.min() >= lam.min() - 1e-8
    # first moment: exactly Hutchinson over the same probes divided by n; near trace(A)/n
    hut = sp.hutchinson_trace(lambda v: Ax @ v, 300, n_probes=8, seed=3, xp=xp)
    assert np.dot(nodes, weights) == pytest.approx(hut.estimate / 300, rel=1e-10)
    assert abs(np.dot(nodes, weights) - lam.mean()) < 4 * hut.stderr / 300
    # second moment estimates trace(A^2)/n
    assert np.dot(nodes**2, weights) == pytest.approx(np.mean(lam**2), rel=0.1)
    grid = np.linspace(-3, 11, 2001)
    smooth = dens.smoothed(grid, 0.1)
    assert np.trapezoid(smooth, grid) == pytest.approx(1.0, abs=1e-3)
    assert grid[np.argmax(smooth)] < 1.5  # the bulk in [-1, 1] carries almost all the mass
    # the symmetry check draws its own vectors: the probes are the same without it
    unchecked = sp.slq_density(lambda v: Ax @ v, 300, n_probes=8, m=30, seed=3, xp=xp,
                               check_symmetric=False)
    np.testing.assert_array_equal(unchecked.nodes, nodes)
    assert unchecked.n_matvec == 8 * 30


def test_gaussian_density_validates_its_input():
    nodes, w, grid = np.array([0.0, 1.0]), np.array([0.5, 0.5]), np.linspace(-1, 2, 7)
    assert np.all(np.isfinite(sp.gaussian_density(nodes, w, grid, 0.1)))
    with pytest.raises(ValueError, match=r"nodes must be finite, received 1 non-finite"):
        sp.gaussian_density(np.array([np.nan, 1.0]), w, grid, 0.1)
    with pytest.raises(ValueError, match="weights must be finite"):
        sp.gaussian_density(nodes, np.array([np.inf, 0.5]), grid, 0.1)
    with pytest.raises(ValueError, match="grid must be finite"):
        sp.gaussian_density(nodes, w, np.array([0.0, np.nan]), 0.1)
    with pytest.raises(ValueError, match=r"sigma must be in \(0.0, inf\]"):
        sp.gaussian_density(nodes, w, grid, 0.0)
    with pytest.raises(ValueError, match=r"sigma must be in"):
        sp.gaussian_density(nodes, w, grid, float("nan"))
    with pytest.raises(ValueError, match=r"nodes and weights must be 1-D of one length, "
                                         r"received shapes \(2,\) and \(3,\)"):
        sp.gaussian_density(nodes, np.ones(3) / 3, grid, 0.1)
    with pytest.raises(ValueError, match=r"weights must be >= 0"):
        sp.gaussian_density(nodes, np.array([1.5, -0.5]), grid, 0.1)
    with pytest.raises(ValueError, match="nodes must not be empty"):
        sp.gaussian_density(np.array([]), np.array([]), grid, 0.1)
    with pytest.raises(TypeError, match="grid must be an array of numbers"):
        sp.gaussian_density(nodes, w, "grid", 0.1)


# ============================================================================= bad matvecs
def test_solver_bad_input_messages():
    A = np.arange(16.0).reshape(4, 4)  # not symmetric
    S = A + A.T
    for solver in (sp.power_iteration, sp.lanczos, sp.slq_density):
        with pytest.raises(ValueError, match=r"matvec must be symmetric \(a Hessian is\)"):
            solver(lambda v: A @ v, 4)
        with pytest.raises(ValueError, match="matvec returned non-finite values"):
            solver(lambda v: np.full(4, np.nan), 4)
        with pytest.raises(ValueError, match=r"matvec must return shape \(4,\) \(n=4\), "
                                             r"received \(3,\)"):
            solver(lambda v: v[:3], 4)
        with pytest.raises(ValueError, match=r"n must be an int in \[1, inf\], received 0"):
            solver(lambda v: v, 0)
        with pytest.raises(TypeError, match="matvec must be a function of a flat vector"):
            solver(S, 4)
        with pytest.raises(TypeError, match="check_symmetric must be True or False"):
            solver(lambda v: S @ v, 4, check_symmetric="no")
    for solver in (sp.power_iteration, sp.lanczos):
        with pytest.raises(ValueError, match=r"v0 must have shape \(4,\), received \(3,\)"):
            solver(lambda v: S @ v, 4, v0=np.ones(3))
    with pytest.raises(ValueError, match="k must be <= n=4"):
        sp.lanczos(lambda v: S @ v, 4, k=5)
    with pytest.raises(ValueError, match=r"m \(Krylov steps\) must be >= k=3, received 2"):
        sp.lanczos(lambda v: S @ v, 4, k=3, m=2)
    with pytest.raises(ValueError, match=r"restarts must be an int in \[0, inf\]"):
        sp.lanczos(lambda v: S @ v, 4, restarts=-1)
    with pytest.raises(TypeError, match="matvec must return an array"):
        sp.hutchinson_trace(lambda v: 1.0, 4)
    with pytest.raises(ValueError, match=r"n_probes must be an int in \[2, inf\]"):
        sp.hutchinson_trace(lambda v: v, 4, n_probes=1)

    class Sized:
        n = 27

        def __call__(self, v):
            return v

    with pytest.raises(ValueError, match=r"n must equal the size of matvec's vectors \(27\)"):
        sp.lanczos(Sized(), 26)
    # a non-symmetric matvec is accepted when the check is switched off
    assert sp.slq_density(lambda v: A @ v, 4, n_probes=1, m=2, check_symmetric=False).m == 2
