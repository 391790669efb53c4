"""Shared fixtures: every numeric test runs once per available array backend.

``numpy`` and ``array_api_strict`` always run (the latter proves the code uses only the array
API standard); ``cupy`` runs where a GPU answers a tiny allocation and is skipped, with the
reason printed in the summary (``-rs``), everywhere else.
"""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest
from hypothesis import settings

from edulib.backend import available_backends, get_namespace

matplotlib.use("Agg")

BACKENDS = available_backends()

# Hypothesis draws the same examples on every run (set HYPOTHESIS_PROFILE=explore to search anew).
settings.register_profile("deterministic", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


def pytest_report_header(config):
    lines = []
    for name, reason in BACKENDS.items():
        lines.append(f"edulib backend {name}: {'available' if not reason else 'skipped: ' + reason}")
    return lines


@pytest.fixture(params=list(BACKENDS))
def xp(request):
    """The array namespace under test: numpy, array_api_strict or cupy."""
    reason = BACKENDS[request.param]
    if reason:
        pytest.skip(f"backend {request.param} unavailable: {reason}")
    return get_namespace(request.param)


@pytest.fixture
def to_np():
    from edulib.backend import to_numpy

    return to_numpy


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _figures(monkeypatch):
    """edulib's plots and widgets never call plt.show(); figures are closed after each test."""
    import matplotlib.pyplot as plt

    def fail():
        raise AssertionError("plots and widgets must not call plt.show()")

    monkeypatch.setattr(plt, "show", fail)
    yield
    plt.close("all")

