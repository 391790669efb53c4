"""The backend helpers and the gradient checker itself."""

from __future__ import annotations

import numpy as np
import pytest

from edulib import backend
from edulib.gradcheck import check_gradient, numerical_gradient, rel_error


def test_namespace_of_lists_and_scalars_is_numpy():
    assert backend.array_namespace([1.0, 2.0], 3.0) is backend.array_namespace(np.zeros(1))


def test_mixing_array_libraries_is_a_type_error():
    xps = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match="one array library"):
        backend.array_namespace(np.zeros(2), xps.zeros(2))


def test_to_numpy_round_trips(xp):
    x = xp.asarray([[1.0, 2.0], [3.0, 4.0]])
    out = backend.to_numpy(x)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [[1.0, 2.0], [3.0, 4.0]])


def test_rng_is_seeded_and_checks_its_seed():
    assert backend.rng(7).normal() == backend.rng(7).normal()
    with pytest.raises(TypeError, match="seed must be an int"):
        backend.rng(1.5)


def test_available_backends_reports_reasons():
    av = backend.available_backends()
    assert av["numpy"] == "" and set(av) == {"numpy", "array_api_strict", "cupy"}
    assert (av["cupy"] == "") == backend.gpu_available()
    with pytest.raises(ValueError, match="backend name must be"):
        backend.get_namespace("jax")


def test_centred_differences_are_second_order_forward_first_order():
    f = lambda x: np.sum(np.sin(x))  # noqa: E731
    x = np.array([0.3, 1.1])
    exact = np.cos(x)
    err = {}
    for method in ("centred", "forward"):
        e1 = np.max(np.abs(numerical_gradient(f, x, h=1e-2, method=method) - exact))
        e2 = np.max(np.abs(numerical_gradient(f, x, h=1e-3, method=method) - exact))
        err[method] = e1 / e2  # shrinking h tenfold divides the error by 10**order
    assert err["centred"] == pytest.approx(100, rel=0.05)
    assert err["forward"] == pytest.approx(10, rel=0.05)


def test_numerical_gradient_of_dict_restores_params(xp):
    params = {"w": xp.asarray([1.0, -2.0]), "b": xp.asarray(0.5)}
    f = lambda p: xp.sum(p["w"] ** 2) + 3.0 * p["b"]  # noqa: E731
    num = numerical_gradient(f, params)
    np.testing.assert_allclose(backend.to_numpy(num["w"]), [2.0, -4.0], rtol=1e-9)
    assert float(num["b"]) == pytest.approx(3.0, rel=1e-9)
    np.testing.assert_array_equal(backend.to_numpy(params["w"]), [1.0, -2.0])
    assert float(params["b"]) == 0.5


def test_rel_error_definition_and_shape_check():
    a, n = np.array([1.0, -2.0]), np.array([1.0, -2.5])
    assert rel_error(a, n) == pytest.approx(0.5 / 4.5)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error({"w": a}, {"w": n}) == pytest.approx(0.5 / 4.5)
    with pytest.raises(ValueError, match=r"shape of a \(2,\)"):
        rel_error(a, np.zeros(3))
    with pytest.raises(ValueError, match="same keys"):
        rel_error({"w": a}, {"v": a})


def test_check_gradient_names_the_entries_that_disagree():
    f = lambda p: p["W"][0, 1] ** 2 + p["W"][1, 0]  # noqa: E731
    W = np.array([[0.0, 3.0], [1.0, 0.0]])
    good = {"W": np.array([[0.0, 6.0], [1.0, 0.0]])}
    bad = {"W": np.array([[0.0, 6.0], [0.0, 0.0]])}
    assert check_gradient(f, {"W": W}, good)
    result = check_gradient(f, {"W": W}, bad)
    assert not result
    assert [m[0] for m in result.mismatches] == ["W[1, 0]"]
    assert "W[1, 0]" in str(result) and "FAILED" in str(result)
