"""Test surfaces: gradients and Hessians against finite differences, known critical points
(zero gradient, the right Hessian signature), closed forms for the quadratic, batching, dtypes
and the errors raised on bad input. Runs on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edulib import functions as F
from edulib.backend import to_numpy
from edulib.gradcheck import check_gradient

ALL = {
    **F.SURFACES,
    "quadratic_rotated": F.Quadratic(A=[[3.0, 1.2], [1.2, 0.5]], center=(0.5, -1.0)),
    "quadratic_kappa": F.Quadratic.with_condition_number(50.0, lam_min=0.2, angle=0.7),
    "rosenbrock_a2": F.Rosenbrock(a=2.0, b=10.0),
}


def _points(s, n=4, seed=0):
    """The start point plus seeded random points inside the plotting box."""
    g = np.random.default_rng(seed)
    (a1, b1), (a2, b2) = s.box
    pts = np.stack([g.uniform(a1, b1, n), g.uniform(a2, b2, n)], axis=1)
    return np.concatenate([np.asarray([s.start]), pts])


# ----------------------------------------------------------------------------- derivatives
@pytest.mark.parametrize("name", list(ALL))
def test_gradient_matches_finite_differences(xp, name):
    s = ALL[name]
    for p in _points(s):
        x = xp.asarray(p)
        res = check_gradient(s.f, x, s.grad(x), tol=1e-6)
        assert res, f"{name} at {p}: {res}"


@pytest.mark.parametrize("name", list(ALL))
def test_hessian_matches_differences_of_the_gradient(xp, name):
    s = ALL[name]
    for p in _points(s, seed=1):
        x = xp.asarray(p)
        H = s.hessian(x)
        assert tuple(H.shape) == (2, 2)
        assert np.array_equal(to_numpy(H), to_numpy(H).T)
        for k in range(2):
            res = check_gradient(lambda z, k=k: s.grad(z)[k], x, H[k, :], tol=1e-6)
            assert res, f"{name} Hessian row {k} at {p}: {res}"


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(list(ALL)), u=st.floats(0, 1), v=st.floats(0, 1))
def test_gradient_anywhere_in_the_box(name, u, v):
    s = ALL[name]
    (a1, b1), (a2, b2) = s.box
    x = np.array([a1 + u * (b1 - a1), a2 + v * (b2 - a2)])
    assert check_gradient(s.f, x, s.grad(x), tol=1e-6)


# ----------------------------------------------------------------------------- critical points
def _eig(H):
    return np.linalg.eigvalsh(to_numpy(H).astype(np.float64))


def _grad_scale(s):
    """Typical gradient size over the box, so 'zero gradient' is relative to the surface."""
    return float(np.max(np.abs(to_numpy(s.grad(_points(s, n=20))))))


@pytest.mark.parametrize("name", list(ALL))
def test_minima_have_zero_gradient_and_positive_definite_hessian(xp, name):
    s = ALL[name]
    for m in s.minima:
        x = xp.asarray(m)
        g = to_numpy(s.grad(x))
        assert np.max(np.abs(g)) <= 1e-12 * _grad_scale(s), (name, m, g)
        assert np.all(_eig(s.hessian(x)) > 0), (name, m)
        assert float(s.f(x)) == pytest.approx(s.f_min, abs=1e-20)
    if s.minima:
        # a minimum: every nearby point is higher
        g = np.random.default_rng(3)
        for m in s.minima:
            near = np.asarray(m) + 1e-3 * g.standard_normal((50, 2))
            assert np.all(to_numpy(s.f(xp.asarray(near))) > s.f_min)


@pytest.mark.parametrize("name", list(ALL))
def test_saddles_and_maxima(xp, name):
    s = ALL[name]
    for p in s.saddles:
        x = xp.asarray(p)
        assert np.max(np.abs(to_numpy(s.grad(x)))) <= 1e-12 * _grad_scale(s), (name, p)
        lam = _eig(s.hessian(x))
        if name == "monkey_saddle":
            # degenerate: the Hessian vanishes, the second-derivative test is inconclusive
            assert np.all(lam == 0.0)
        else:
            assert lam[0] < 0 < lam[1], (name, p, lam)
        # neither a minimum nor a maximum: f takes both signs of f - f(p) nearby
        ring = 1e-3 * np.stack([np.cos(np.linspace(0, 2 * np.pi, 13)),
                                np.sin(np.linspace(0, 2 * np.pi, 13))], axis=1)
        diff = to_numpy(s.f(xp.asarray(np.asarray(p) + ring))) - float(s.f(x))
        assert diff.min() < 0 < diff.max()
    for p in s.maxima:
        x = xp.asarray(p)
        assert np.max(np.abs(to_numpy(s.grad(x)))) <= 1e-12 * _grad_scale(s)
        assert np.all(_eig(s.hessian(x)) < 0)


def test_registry_lists_the_surfaces_with_their_critical_points():
    assert list(F.SURFACES) == ["quadratic", "rosenbrock", "beale", "himmelblau", "saddle",
                                "monkey_saddle"]
    assert len(F.SURFACES["himmelblau"].minima) == 4
    assert len(F.SURFACES["himmelblau"].saddles) == 4
    assert F.SURFACES["saddle"].minima == () and F.SURFACES["monkey_saddle"].minima == ()
    assert F.SURFACES["rosenbrock"].minima == ((1.0, 1.0),)
    assert F.SURFACES["beale"].minima == ((3.0, 0.5),)


def test_monkey_saddle_hessian_is_indefinite_away_from_the_origin():
    s = F.MonkeySaddle()
    pts = np.random.default_rng(0).standard_normal((20, 2))
    lam = np.linalg.eigvalsh(s.hessian(pts))
    r = np.linalg.norm(pts, axis=1)
    np.testing.assert_allclose(lam[:, 0], -6 * r, rtol=1e-12)
    np.testing.assert_allclose(lam[:, 1], 6 * r, rtol=1e-12)


def test_rosenbrock_condition_number_at_the_minimum_is_as_documented():
    H = F.Rosenbrock().hessian(np.array([1.0, 1.0]))
    assert round(float(np.linalg.cond(H))) == 2508
    assert "2508" in F.Rosenbrock.__doc__


# ----------------------------------------------------------------------------- the quadratic
def test_quadratic_ab_is_the_documented_formula(xp):
    s = F.Quadratic(a=0.1, b=2.0)
    pts = np.random.default_rng(0).standard_normal((7, 2))
    np.testing.assert_allclose(to_numpy(s(xp.asarray(pts))),
                               0.1 * pts[:, 0] ** 2 + 2.0 * pts[:, 1] ** 2, rtol=1e-14)
    np.testing.assert_array_equal(s.eigenvalues, [0.2, 4.0])
    assert s.condition_number == pytest.approx(20.0, rel=1e-15)
    assert s.formula == r"f(x) = 0.1\,x_1^2 + 2\,x_2^2"


def test_quadratic_A_is_half_xAx_around_the_centre(xp):
    A = np.array([[3.0, 1.2], [1.2, 0.5]])
    c = np.array([0.5, -1.0])
    s = F.Quadratic(A=A, center=tuple(c))
    pts = np.random.default_rng(1).standard_normal((9, 2))
    d = pts - c
    np.testing.assert_allclose(to_numpy(s(xp.asarray(pts))),
                               0.5 * np.einsum("ni,ij,nj->n", d, A, d), rtol=1e-13)
    np.testing.assert_allclose(to_numpy(s.grad(xp.asarray(pts))), d @ A, rtol=1e-13)
    np.testing.assert_allclose(s.eigenvalues, np.linalg.eigvalsh(A), rtol=1e-14)
    assert s.minima == ((0.5, -1.0),) and s.saddles == ()
    assert s.condition_number == pytest.approx(s.eigenvalues[1] / s.eigenvalues[0])
    # indefinite A: no minimum, the centre is a saddle, kappa is infinite
    t = F.Quadratic(A=[[1.0, 2.0], [2.0, 1.0]], center=(0.5, -1.0))
    assert t.minima == () and t.saddles == ((0.5, -1.0),) and t.f_min is None
    assert t.condition_number == math.inf


@pytest.mark.parametrize("kappa, angle", [(1.0, 0.0), (10.0, 0.3), (1000.0, -1.2)])
def test_with_condition_number(kappa, angle):
    s = F.Quadratic.with_condition_number(kappa, lam_min=0.5, angle=angle)
    assert s.condition_number == pytest.approx(kappa, rel=1e-12)
    np.testing.assert_allclose(s.eigenvalues, [0.5, 0.5 * kappa], rtol=1e-12)
    # the eigenvector of the smallest eigenvalue points along `angle`
    v = s.eigenvectors[:, 0]
    if kappa > 1:
        assert abs(abs(v @ [math.cos(angle), math.sin(angle)]) - 1) < 1e-12


@pytest.mark.parametrize("factor, converges", [(0.99, True), (1.01, False)])
def test_gd_on_the_quadratic_converges_iff_lr_below_two_over_lambda_max(factor, converges):
    """The docstring's claim: GD converges iff 0 < lr < 2 / lambda_max."""
    s = F.Quadratic(a=0.1, b=2.0)
    lr = factor * 2.0 / s.eigenvalues[-1]
    x = np.array(s.start)
    for _ in range(3000):
        x = x - lr * s.grad(x)
    assert (float(s(x)) < 1e-8) == converges


# ----------------------------------------------------------------------------- batching, dtypes
@pytest.mark.parametrize("name", list(F.SURFACES))
def test_batched_calls_match_pointwise_calls(xp, name):
    s = F.SURFACES[name]
    X1, X2, Z = s.grid(n=6, xp=xp)
    assert tuple(Z.shape) == (6, 6)
    pts = xp.stack([X1, X2], axis=-1)
    G, H = s.grad(pts), s.hessian(pts)
    assert tuple(G.shape) == (6, 6, 2) and tuple(H.shape) == (6, 6, 2, 2)
    Zn, Gn, Hn, Pn = to_numpy(Z), to_numpy(G), to_numpy(H), to_numpy(pts)
    for i, j in [(0, 0), (2, 3), (5, 1)]:
        p = xp.asarray(Pn[i, j])
        assert float(s(p)) == Zn[i, j]
        np.testing.assert_array_equal(to_numpy(s.grad(p)), Gn[i, j])
        np.testing.assert_array_equal(to_numpy(s.hessian(p)), Hn[i, j])
    f, g = s.value_and_grad(pts)
    np.testing.assert_array_equal(to_numpy(f), Zn)
    np.testing.assert_array_equal(to_numpy(g), Gn)
    # grid covers the box, x1 along columns
    assert float(X1[0, 0]) == s.box[0][0] and float(X1[0, -1]) == s.box[0][1]
    assert float(X2[0, 0]) == s.box[1][0] and float(X2[-1, 0]) == s.box[1][1]


@pytest.mark.parametrize("name", list(ALL))
def test_float32_in_float32_out(xp, name):
    s = ALL[name]
    x = xp.asarray(_points(s, n=3), dtype=xp.float32)
    for out in (s.f(x), s.grad(x), s.hessian(x)):
        assert out.dtype == xp.float32


def test_lists_and_integers_are_accepted():
    s = F.SURFACES["rosenbrock"]
    assert float(s([1, 1])) == 0.0
    assert s.grad([0, 0]).dtype == np.float64


def test_latex_repr_shows_the_formula():
    for s in ALL.values():
        assert s.formula in s._repr_latex_()
        assert s._repr_latex_().startswith("$") and s._repr_latex_().endswith("$")
    assert "Rosenbrock" in repr(F.SURFACES["rosenbrock"])


# ----------------------------------------------------------------------------- bad input
def test_bad_input_is_refused_with_the_argument_named(xp):
    s = F.SURFACES["beale"]
    with pytest.raises(ValueError, match=r"x must have shape \(2,\).*received shape \(3,\)"):
        s(xp.asarray([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="x must have shape"):
        s.hessian(xp.asarray(1.0))
    with pytest.raises(ValueError, match=r"received shape \(4, 3\)"):
        s.grad(xp.zeros((4, 3)))
    with pytest.raises(ValueError, match="n must be an int >= 2"):
        s.grid(n=1)
    with pytest.raises(ValueError, match="box must have lo < hi"):
        s.grid(box=((1, 0), (0, 1)))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="A must be symmetric"):
        F.Quadratic(A=[[1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="A must be a finite 2x2 matrix"):
        F.Quadratic(A=np.eye(3))
    with pytest.raises(ValueError, match="kappa must be in"):
        F.Quadratic.with_condition_number(0.5)
    with pytest.raises(ValueError, match="lam_min must be in"):
        F.Quadratic.with_condition_number(10.0, lam_min=0.0)
    with pytest.raises(ValueError, match="center must be 2 finite numbers"):
        F.Quadratic(center=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="b must be in"):
        F.Rosenbrock(b=-1.0)
    with pytest.raises(TypeError, match="a must be a number"):
        F.Quadratic(a="big")
