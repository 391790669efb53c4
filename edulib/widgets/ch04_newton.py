r"""Chapter 04, notebook 2: how much memory does L-BFGS need? A slider for the memory ``m``.

:func:`lbfgs_memory_dashboard` runs :func:`edulib.quasi_newton.lbfgs` on a model's training
objective (softmax regression on digits with an L2 penalty by default) for a list of memories
``m`` and shows, for the ``m`` picked on the slider, the gap :math:`f(x_k) - f^\star` per
iteration (next to an optional reference run such as full BFGS), and how the number of
iterations and function evaluations falls as ``m`` grows. Every run is computed once, when the
dashboard is built: moving the slider only moves artists.

Notebook 3: :func:`softmax_test_dashboard` redraws one random softmax test
(:func:`random_softmax_test`, the shape of a real flaky CI test) for the seed and dataset size on
its sliders, showing the accuracy next to a reference solver's and the majority-class baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.ticker import NullFormatter

from .. import _checks as chk
from .. import data as _data
from .. import models as _models
from .. import quasi_newton as _qn
from .core import Dashboard, _new_figure

__all__ = ["lbfgs_memory_dashboard", "memory_floats", "random_softmax_test", "softmax_test_dashboard"]

MEMORIES = (1, 2, 3, 5, 10, 20, 50)
#: legend text size in points, as large as the tick labels (the PNG is shown at 80 dpi)
LEGEND_FONTSIZE = 10


def memory_floats(m: int, n: int) -> int:
    """Numbers L-BFGS stores for its curvature: ``m`` pairs :math:`(s_i, y_i)` of length ``n``,
    i.e. :math:`2mn` (BFGS stores the :math:`n^2` entries of :math:`H_k`); ``m`` and ``n`` are
    positive ints."""
    return 2 * chk.check_int(m, "m", low=1) * chk.check_int(n, "n", low=1)


def lbfgs_memory_dashboard(split: Any = None, model: Any = None, *, m: int = 10,
                           memories: Sequence[int] = MEMORIES, weight_decay: float = 1e-3,
                           gtol: float = 1e-6, seed: int = 0, reference: Any = None,
                           reference_label: str = "BFGS", f_star: float | None = None
                           ) -> Dashboard:
    r"""L-BFGS with memory ``m`` (slider over ``memories``), optionally against full BFGS.

    Objective: ``model``'s mean training loss plus :math:`\frac\lambda2\lVert W\rVert^2`
    (``weight_decay`` λ sets the model's; default ``SoftmaxRegression(64, 10)`` on
    :func:`edulib.data.digits`), from ``model.init_params(seed, scale=0)`` (all weights 0) for a
    softmax regression, ``init_params(seed)`` otherwise. Each run stops at
    :math:`\lVert g\rVert_\infty \le` ``gtol`` (``ftol=0``). :math:`f^\star` is ``f_star`` when
    given (e.g. from a tight run the notebook already made), else the lowest value found by any
    run, including a tighter L-BFGS run (``gtol/100``).

    ``reference``: an optional :class:`~edulib.quasi_newton.OptimizeResult` of the same
    objective from the same start (e.g. ``quasi_newton.bfgs(dash.fun, dash.x0)``, computed
    once in the notebook: full BFGS costs :math:`O(n^2)` per step) drawn in grey as
    ``reference_label``.

    ``state``: ``m``, ``nit``, ``nfev``, ``fun``, ``success``, ``memory`` (:func:`memory_floats`),
    ``n`` (number of parameters), ``f_star`` and ``results`` (m ->
    :class:`~edulib.quasi_newton.OptimizeResult`, all memories).
    """
    if split is None:
        split = _data.digits()
    if not all(hasattr(split, k) for k in ("X_train", "y_train")):
        raise TypeError("split must be an edulib.data.Split (X_train, X_val, y_train, y_val), "
                        f"received {type(split).__name__}")
    mems = [chk.check_int(v, "memories", low=1) for v in memories]
    if not mems:
        raise ValueError("memories must list at least one memory size, received []")
    mems = sorted(set(mems))
    m = chk.check_int(m, "m", low=1)
    if m not in mems:
        raise ValueError(f"m must be one of memories {mems}, received {m}")
    lam = chk.check_number(weight_decay, "weight_decay", low=0.0)
    gtol = chk.check_number(gtol, "gtol", low=0.0, low_open=True)
    X, y = np.asarray(split.X_train, np.float64), np.asarray(split.y_train)
    if model is None:
        model = _models.SoftmaxRegression(int(X.shape[1]), int(y.max()) + 1)
    scale = 0.0 if isinstance(model, _models.SoftmaxRegression) else 1.0
    params = model.init_params(seed=seed, scale=scale)
    fun, x0 = _qn.model_objective(model, X, y, params, weight_decay=lam)
    n = int(x0.shape[0])

    if reference is not None and not all(hasattr(reference, k) for k in ("history", "nit")):
        raise TypeError(f"reference must be an OptimizeResult of edulib.quasi_newton, "
                        f"received {type(reference).__name__}")
    if reference is not None and len(reference.history["f"]) and not np.isclose(
            reference.history["f"][0], float(fun(x0)[0]), rtol=1e-9):
        raise ValueError("reference must be a run of the same objective from the same start: "
                         f"its f(x0) = {reference.history['f'][0]:.6g}, this objective's "
                         f"f(x0) = {float(fun(x0)[0]):.6g}")
    results = {k: _qn.lbfgs(fun, x0, m=k, gtol=gtol, ftol=0.0) for k in mems}
    found = min(r.fun for r in [*results.values(), *([] if reference is None else [reference])])
    if f_star is None:
        f_star = min(found, _qn.lbfgs(fun, x0, m=max(mems), gtol=gtol / 100.0, ftol=0.0).fun)
    else:
        f_star = chk.check_number(f_star, "f_star")
        if f_star > found + 1e-12 * max(1.0, abs(found)):
            raise ValueError(f"f_star must not exceed the lowest value the runs found "
                             f"({found!r}), received {f_star!r}")

    def gap(res: Any) -> np.ndarray:
        # f - f* floored at a tiny positive number so that the log axis shows the last point
        return np.maximum(np.asarray(res.history["f"]) - f_star, 1e-16)

    fig, (ax_f, ax_n) = _new_figure((10.0, 3.8), 2)
    fig.set_layout_engine("none")
    ax_f.set_position((0.07, 0.14, 0.42, 0.76))
    ax_n.set_position((0.57, 0.14, 0.40, 0.76))
    art: dict[str, Any] = {}
    if reference is not None:
        g_ref = gap(reference)
        (art["reference"],) = ax_f.plot(np.arange(g_ref.size), g_ref, "-", lw=1.2,
                                        color="#1f77b4", label=reference_label)
    (art["lbfgs"],) = ax_f.plot([0], [1.0], "-", lw=1.8, color="#d62728", label="L-BFGS")
    runs = [*results.values()] + ([] if reference is None else [reference])
    ax_f.set_xlim(0, max(r.nit for r in runs) + 1)
    tops = [gap(r).max() for r in runs]
    ax_f.set_yscale("log")
    bottoms = [gap(r)[-1] for r in runs]
    ax_f.set_ylim(max(min(bottoms) / 3.0, 1e-16), 3.0 * max(tops))
    ax_f.yaxis.set_minor_formatter(NullFormatter())
    ax_f.set_xlabel("iteration k")
    ax_f.set_ylabel(r"$f(x_k) - f^\star$")
    ax_f.grid(True, which="major", alpha=0.3)
    ax_f.legend(frameon=False, fontsize=LEGEND_FONTSIZE, loc="upper right")
    art["title"] = ax_f.set_title("")

    nits = [results[k].nit for k in mems]
    nfevs = [results[k].nfev for k in mems]
    # colours as in notebook 02: L-BFGS red, the (BFGS) reference blue; counts in black and grey
    (art["nit"],) = ax_n.plot(mems, nits, "-o", ms=4, color="k", label="iterations")
    (art["nfev"],) = ax_n.plot(mems, nfevs, "--s", ms=4, color="#7f7f7f",
                               label="function evaluations")
    if reference is not None:
        ax_n.axhline(reference.nit, color="#1f77b4", lw=1.0, ls=":",
                     label=f"{reference_label} iterations")
    (art["current"],) = ax_n.plot([m], [results[m].nit], "o", ms=11, mfc="none", mew=2.0,
                                  color="#d62728")
    ax_n.set_xscale("log")
    ax_n.set_xticks(mems)
    ax_n.set_xticklabels([str(k) for k in mems])
    ax_n.minorticks_off()
    ax_n.set_ylim(0, 1.1 * max(*nits, *nfevs, *(r.nit for r in runs)))
    ax_n.set_xlabel("memory m (pairs kept)")
    ax_n.set_ylabel(f"count to ‖g‖∞ ≤ {gtol:g}")
    ax_n.grid(True, alpha=0.3)
    # the reference's line runs along the top: then the legend goes below it
    ax_n.legend(frameon=False, fontsize=LEGEND_FONTSIZE,
                loc="upper right" if reference is None else "center right")

    controls = {"m": widgets.SelectionSlider(options=mems, value=m, description="memory m",
                                             continuous_update=True)}
    state: dict[str, Any] = {"n": n, "f_star": f_star, "results": results}
    ref_txt = "" if reference is None else (f" ({reference_label}: {reference.nit} iterations, "
                                            f"storing n² = {n * n:,})")

    def update() -> None:
        k = int(controls["m"].value)
        res = results[k]
        g = gap(res)
        art["lbfgs"].set_data(np.arange(g.size), g)
        art["lbfgs"].set_label(f"L-BFGS, m = {k}")
        art["current"].set_data([k], [res.nit])
        mem = memory_floats(k, n)
        art["title"].set_text(f"m = {k}: {res.nit} iterations, {res.nfev} evaluations")
        state.update(m=k, nit=res.nit, nfev=res.nfev, fun=res.fun, success=res.success,
                     memory=mem)
        state["_readout"] = (
            f"<b>m = {k}</b>: {res.nit} iterations, {res.nfev} function evaluations, "
            f"f = {res.fun:.8f}; stores 2·m·n = {mem:,} numbers{ref_txt}"
            + ("" if res.success else f" — <b>stopped early</b>: {res.message}")
        )
        ax_f.legend(frameon=False, fontsize=LEGEND_FONTSIZE, loc="upper right")

    dash = Dashboard(fig, art, controls, update, state)
    dash.model, dash.split, dash.fun, dash.x0 = model, split, fun, x0
    return dash


# ------------------------------------------------------------------------------ notebook 3
def _softmax_objective(X: np.ndarray, y: np.ndarray, n_classes: int, lam: float) -> Any:
    """Mean cross-entropy of logits ``X @ W`` (no intercept) plus ``lam/2 ||W||²``, on flat W."""
    from ..losses import softmax_cross_entropy

    n_features = X.shape[1]

    def fun(w: Any) -> tuple[Any, Any]:
        W = np.reshape(w, (n_features, n_classes))
        value, d_logits = softmax_cross_entropy.value_and_grad(X @ W, y)
        return value + 0.5 * lam * np.sum(W * W), np.reshape(X.T @ d_logits + lam * W, (-1,))

    return fun


def random_softmax_test(seed: int, n_samples: int = 5000, *, lam: float = 0.1,
                        threshold: float = 0.50) -> dict[str, Any]:
    r"""One draw of the quasi-Newton softmax test of chapter 04, notebook 3.

    ``sklearn.datasets.make_classification(n_samples, n_features=20, n_informative=10,
    n_classes=4, random_state=seed)``, a stratified 75/25 split (same seed), then
    :func:`edulib.quasi_newton.lbfgs` in float32 (``gtol=1e-4``) on
    :math:`\frac1N\sum_i \mathrm{CE}(x_i W, y_i) + \frac\lambda2\lVert W\rVert^2` (no intercept) and
    scikit-learn's ``LogisticRegression(fit_intercept=False, C=1/(λN))`` in float64 on the same
    objective. Returns ``accuracy``, ``accuracy_ref``, ``baseline`` (majority class of the
    training labels, on the test set), ``rel_objective`` (relative difference of the two
    solutions' float64 objective), ``fixed_pass`` (accuracy > baseline and ≥ ``threshold``) and
    ``reference_pass`` (accuracy > baseline, objective within 1e-4, accuracies within 0.002).
    """
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    seed = chk.check_int(seed, "seed", low=0)
    n_samples = chk.check_int(n_samples, "n_samples", low=100)
    lam = chk.check_number(lam, "lam", low=0.0, low_open=True)
    threshold = chk.check_number(threshold, "threshold", low=0.0, high=1.0)
    X, y = make_classification(n_samples=n_samples, n_features=20, n_informative=10, n_classes=4,
                               random_state=seed)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, random_state=seed)
    with threadpool_limits(1):  # small problems: one BLAS thread is faster on a shared machine
        res = _qn.lbfgs(_softmax_objective(X_tr.astype(np.float32), y_tr, 4, lam),
                        np.zeros(80, dtype=np.float32), gtol=1e-4)
        ref = LogisticRegression(fit_intercept=False, C=1.0 / (lam * len(y_tr)), tol=1e-6,
                                 max_iter=1000).fit(X_tr, y_tr)
    acc = float(np.mean(np.argmax(X_te.astype(np.float32) @ res.x.reshape(20, 4), axis=1) == y_te))
    f64 = _softmax_objective(X_tr, y_tr, 4, lam)
    f_ours = float(f64(res.x.astype(np.float64))[0])
    f_ref = float(f64(ref.coef_.T.reshape(-1).copy())[0])
    acc_ref = float(ref.score(X_te, y_te))
    base = float(np.mean(y_te == np.bincount(y_tr).argmax()))
    rel = (f_ours - f_ref) / f_ref
    return {"accuracy": acc, "accuracy_ref": acc_ref, "baseline": base, "rel_objective": rel,
            "fixed_pass": acc > base and acc >= threshold,
            "reference_pass": acc > base and abs(rel) < 1e-4 and abs(acc - acc_ref) <= 0.002,
            "result": res}


def softmax_test_dashboard(seed: int = 0, n_samples: int = 5000, *, lam: float = 0.1,
                           threshold: float = 0.50, max_seed: int = 199) -> Dashboard:
    """Draw the random softmax test of :func:`random_softmax_test` for a seed and a dataset size
    (sliders) and show the float32 L-BFGS accuracy next to scikit-learn's and the majority-class
    baseline, with the fixed threshold, and whether each kind of test passes.

    ``state``: ``seed``, ``n_samples`` and every key of :func:`random_softmax_test`.
    """
    max_seed = chk.check_int(max_seed, "max_seed", low=0)
    seed = chk.check_int(seed, "seed", low=0, high=max_seed)
    sizes = [500, 1000, 2000, 5000, 10000]
    n_samples = chk.check_int(n_samples, "n_samples", low=100)
    if n_samples not in sizes:
        raise ValueError(f"n_samples must be one of {sizes}, received {n_samples}")
    lam = chk.check_number(lam, "lam", low=0.0, low_open=True)
    threshold = chk.check_number(threshold, "threshold", low=0.0, high=1.0)

    fig, ax = _new_figure((6.0, 3.2), 1)
    fig.set_layout_engine("none")
    ax.set_position((0.3, 0.17, 0.65, 0.7))
    names = ["majority class", "scikit-learn (float64)", "edulib L-BFGS (float32)"]
    art: dict[str, Any] = {}
    art["bars"] = ax.barh(names, [0.0, 0.0, 0.0], color=["#7f7f7f", "#1f77b4", "#d62728"])
    ax.axvline(threshold, color="k", lw=1.5, ls="--", label=f"fixed threshold {threshold:.2f}")
    ax.legend(frameon=False, fontsize=LEGEND_FONTSIZE, loc="lower right", handlelength=1.2)
    ax.set_xlim(0, 1)
    ax.set_xlabel("test accuracy")
    ax.grid(True, axis="x", alpha=0.3)
    art["title"] = ax.set_title("")
    controls = {
        "seed": widgets.IntSlider(value=seed, min=0, max=max_seed, description="seed",
                                  continuous_update=False),
        "n_samples": widgets.SelectionSlider(options=sizes, value=n_samples,
                                             description="n_samples", continuous_update=False),
    }
    state: dict[str, Any] = {}

    def update() -> None:
        s, n = int(controls["seed"].value), int(controls["n_samples"].value)
        out = random_softmax_test(s, n, lam=lam, threshold=threshold)
        for bar, v in zip(art["bars"], (out["baseline"], out["accuracy_ref"], out["accuracy"]),
                          strict=True):
            bar.set_width(v)
        art["title"].set_text(f"seed {s}, {n} samples: accuracy {out['accuracy']:.4f}")
        state.update(seed=s, n_samples=n, **out)

        def verdict(ok: bool) -> str:
            return "pass" if ok else "<b>FAIL</b>"

        state["_readout"] = (
            f"accuracy {out['accuracy']:.4f} (scikit-learn {out['accuracy_ref']:.4f}, majority "
            f"class {out['baseline']:.4f}); objective difference {out['rel_objective']:.1e}. "
            f"Fixed-threshold test: {verdict(out['fixed_pass'])}; reference test: "
            f"{verdict(out['reference_pass'])}"
        )

    return Dashboard(fig, art, controls, update, state)
