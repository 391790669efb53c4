"""Datasets for the course: all generated from a seed or bundled with a package (no downloads).

Each function returns NumPy arrays (move them to a GPU with ``cupy.asarray``). Classification
sets come as ``X_train, X_val, y_train, y_val``; the split is seeded and stratified by class.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks as chk
from .backend import rng as make_rng

__all__ = [
    "Split",
    "digits",
    "imbalanced",
    "regression_with_outliers",
    "spirals",
    "train_val_split",
]


class Split(NamedTuple):
    """A train/validation split: ``X_train, X_val, y_train, y_val``."""

    X_train: np.ndarray
    X_val: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray


def train_val_split(X: np.ndarray, y: np.ndarray, val_fraction: float = 0.2,
                    seed: int = 0, stratify: bool | None = None) -> Split:
    """Seeded split of ``(X, y)`` into training and validation parts.

    ``val_fraction`` of the examples (rounded, at least 1) go to validation; both parts must
    keep at least one example, else a ValueError says how many each would get.
    ``stratify``: ``True`` keeps each class's share in both parts (``y`` must hold class labels
    -- integers or booleans -- with at least 2 examples per class); ``False`` draws a plain
    random split; ``None`` (default) stratifies when ``y`` holds integer/boolean labels and
    splits plainly otherwise (regression targets).
    """
    chk.check_number(val_fraction, "val_fraction", low=0.0, high=1.0, low_open=True,
                     high_open=True)
    if stratify is not None and not isinstance(stratify, (bool, np.bool_)):
        raise TypeError(f"stratify must be True, False or None, received {stratify!r}")
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim != 1:
        raise ValueError(f"X must have shape (N, ...) and y shape (N,), received X {X.shape} "
                         f"and y {y.shape}")
    if X.shape[0] < 2:
        raise ValueError(f"X must hold at least 2 examples to split, received shape {X.shape}")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"y must have X.shape[0] = {X.shape[0]} entries, received {y.shape[0]}"
        )
    labels = y.dtype.kind in "iub"
    if stratify is None:
        stratify = labels
    elif stratify and not labels:
        raise ValueError(
            f"stratify=True needs class labels (integers or booleans) in y, received dtype "
            f"{y.dtype}; for regression targets use stratify=False"
        )
    n = X.shape[0]
    g = make_rng(seed)
    if stratify:
        classes, counts = np.unique(y, return_counts=True)
        if counts.min() < 2:
            lonely = classes[counts < 2][:5].tolist()
            raise ValueError(
                f"y must have at least 2 examples of every class to stratify (one for each part), "
                f"received class(es) {lonely} with 1 example; pass stratify=False to split "
                "without keeping class shares"
            )
        val_idx = []
        for c, n_c in zip(classes, counts, strict=True):
            n_val = max(1, round(val_fraction * n_c))
            if n_val >= n_c:
                raise ValueError(
                    f"val_fraction={val_fraction!r} leaves no training example of class {c} "
                    f"({n_c} examples, {n_val} to validation); lower val_fraction"
                )
            idx = np.flatnonzero(y == c)
            g.shuffle(idx)
            val_idx.append(idx[:n_val])
        val = np.sort(np.concatenate(val_idx))
    else:
        n_val = max(1, round(val_fraction * n))
        if n_val >= n:
            raise ValueError(
                f"val_fraction={val_fraction!r} of N={n} examples sends {n_val} to validation "
                "and leaves none for training; lower val_fraction"
            )
        val = np.sort(g.permutation(n)[:n_val])
    train = np.setdiff1d(np.arange(n), val)
    train = train[g.permutation(train.size)]
    return Split(X[train], X[val], y[train], y[val])


def regression_with_outliers(n: int = 60, n_outliers: int = 6, slope: float = 2.0,
                             intercept: float = 1.0, noise: float = 0.5,
                             outlier_shift: float = 15.0,
                             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points on ``y = slope*x + intercept`` plus Gaussian noise, ``n_outliers`` of them
    pushed up by ``outlier_shift`` (all at the right end, where they pull a fit the most).

    Returns ``x`` (n,), ``y`` (n,) and a boolean mask ``is_outlier`` (n,).
    """
    n = chk.check_int(n, "n", low=2)
    n_outliers = chk.check_int(n_outliers, "n_outliers", low=0)
    if n_outliers >= n:
        raise ValueError(f"n_outliers must be in [0, n={n}), received {n_outliers}")
    slope, intercept = chk.check_number(slope, "slope"), chk.check_number(intercept, "intercept")
    noise = chk.check_number(noise, "noise", low=0.0)
    outlier_shift = chk.check_number(outlier_shift, "outlier_shift")
    g = make_rng(seed)
    x = np.sort(g.uniform(-3.0, 3.0, size=n))
    y = slope * x + intercept + noise * g.standard_normal(n)
    is_outlier = np.zeros(n, dtype=bool)
    if n_outliers:
        candidates = np.arange(n - max(n // 4, n_outliers), n)
        picked = g.choice(candidates, size=n_outliers, replace=False)
        is_outlier[picked] = True
        y[picked] += outlier_shift
    return x, y, is_outlier


def imbalanced(n: int = 2000, positive_fraction: float = 0.05, n_features: int = 2,
               separation: float = 2.0, val_fraction: float = 0.25, seed: int = 0) -> Split:
    """A binary problem with few positives (label 1): two Gaussian blobs ``separation`` apart.

    Labels are 0/1 integers; features are float64 of shape (n, n_features).
    """
    chk.check_number(positive_fraction, "positive_fraction", low=0.0, high=1.0,
                     low_open=True, high_open=True)
    n = chk.check_int(n, "n", low=4)
    n_features = chk.check_int(n_features, "n_features", low=1)
    separation = chk.check_number(separation, "separation")
    g = make_rng(seed)
    n_pos = max(2, round(positive_fraction * n))
    if n - n_pos < 2:
        raise ValueError(f"positive_fraction={positive_fraction} leaves fewer than 2 negatives "
                         f"among n={n} examples; lower it or raise n")
    y = np.zeros(n, dtype=np.int64)
    y[:n_pos] = 1
    X = g.standard_normal((n, n_features))
    X[y == 1, 0] += separation
    order = g.permutation(n)
    return train_val_split(X[order], y[order], val_fraction=val_fraction, seed=seed)


def spirals(n_per_class: int = 200, n_classes: int = 2, noise: float = 0.2,
            turns: float = 1.5, val_fraction: float = 0.25, seed: int = 0) -> Split:
    """Interleaved spirals in 2-D: a problem no linear model solves, an MLP does."""
    n_per_class = chk.check_int(n_per_class, "n_per_class", low=2)
    n_classes = chk.check_int(n_classes, "n_classes", low=2)
    noise = chk.check_number(noise, "noise", low=0.0)
    turns = chk.check_number(turns, "turns")
    g = make_rng(seed)
    Xs, ys = [], []
    for c in range(n_classes):
        r = np.linspace(0.1, 1.0, n_per_class)
        t = (np.linspace(0, turns * 2 * np.pi, n_per_class) + c * 2 * np.pi / n_classes
             + noise * g.standard_normal(n_per_class) * 0.5)
        Xs.append(np.stack([r * np.cos(t), r * np.sin(t)], axis=1))
        ys.append(np.full(n_per_class, c, dtype=np.int64))
    X, y = np.concatenate(Xs), np.concatenate(ys)
    return train_val_split(X, y, val_fraction=val_fraction, seed=seed)


def digits(val_fraction: float = 0.2, seed: int = 0, standardize: bool = True) -> Split:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes), flattened to 64 features.

    Pixels (0..16) are scaled to [0, 1]; with ``standardize`` each feature is centred and scaled
    with the *training* mean and standard deviation. No download: the data ships with sklearn.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = bunch.data.astype(np.float64) / 16.0
    y = bunch.target.astype(np.int64)
    s = train_val_split(X, y, val_fraction=val_fraction, seed=seed)
    if not standardize:
        return s
    mu = s.X_train.mean(axis=0)
    sd = s.X_train.std(axis=0)
    sd[sd == 0] = 1.0
    return Split((s.X_train - mu) / sd, (s.X_val - mu) / sd, s.y_train, s.y_val)
