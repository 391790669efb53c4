r"""Loss functions: value, per-example values, gradient and formula.

Every loss ``L`` in this module is an object you call like a function::

    L(pred, target, **params)        # mean over the batch (a 0-d array of pred's dtype)
    L.values(pred, target, **params) # the per-element (or per-example) losses before the mean
    L.grad(pred, target, **params)   # d(mean loss)/d(pred), with pred's shape and dtype
    L.formula                        # its LaTeX formula, shown when L is displayed in Jupyter

Definitions and reductions follow PyTorch (``mse_loss``, ``l1_loss``, ``huber_loss``,
``binary_cross_entropy_with_logits``, ``cross_entropy``) and torchvision's ``sigmoid_focal_loss``
with ``reduction="mean"``. Where a convention differs, the loss's docstring says so.

Notation (shared with the notebooks): ``pred`` is :math:`\hat y` for regression and the logits
:math:`z` (or scores :math:`s`) for classification, ``target`` is :math:`y`, and :math:`N` is the
number of terms averaged over.

Inputs must be finite (a NaN or inf in ``pred`` or ``target`` raises a ValueError naming it).
Finite inputs so large that a loss or gradient exceeds the floating range (e.g. ``mse`` of
residuals above ~1e154 in float64) give ``inf``, as PyTorch does, without NumPy overflow warnings.
Loss parameters (``delta``, ``margin``, ``alpha``, ``gamma``) are passed by name.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from . import _checks as chk

__all__ = [
    "LOSSES",
    "Loss",
    "bce_with_logits",
    "cross_entropy",
    "focal",
    "hinge",
    "huber",
    "log_softmax",
    "logsumexp",
    "mae",
    "mse",
    "multiclass_hinge",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
]


# --------------------------------------------------------------------------- stable building blocks
def sigmoid(z: Any) -> Any:
    r"""Logistic function :math:`\sigma(z) = 1/(1+e^{-z})`, computed without overflow.

    Uses :math:`e^{-|z|}`, which never overflows: :math:`\sigma(z) = 1/(1+e^{-|z|})` for
    :math:`z \ge 0` and :math:`e^{-|z|}/(1+e^{-|z|})` for :math:`z < 0`.
    """
    xp = chk.namespace(z=z)
    z = chk.as_float_array(xp, z, "z")
    if bool(xp.any(xp.isnan(z))):
        raise ValueError(f"z must not hold NaN, received {int(xp.sum(xp.astype(xp.isnan(z), xp.int64)))}"
                         f" NaN value(s) in an array of shape {tuple(z.shape)}")
    return _sigmoid(xp, z)


def _reduced(z: Any, axis: Any) -> tuple[ModuleType, Any]:
    """``z`` as a float array with a valid, non-empty ``axis`` to reduce over."""
    xp = chk.namespace(z=z)
    z = chk.as_float_array(xp, z, "z")
    ax = chk.check_int(axis, "axis")
    if not -z.ndim <= ax < z.ndim:
        raise ValueError(
            f"axis must be in [{-z.ndim}, {z.ndim - 1}] for z of shape {tuple(z.shape)}, "
            f"received {axis!r}"
        )
    if z.shape[ax] == 0:
        raise ValueError(f"z must not be empty along axis {axis}, received shape {tuple(z.shape)}")
    return xp, z


def _max_along(xp: ModuleType, z: Any, axis: int) -> Any:
    """``max(z, axis, keepdims)``, checked: a NaN or +inf in z (or a slice of only -inf) makes
    it non-finite and raises. Single -inf entries are allowed (a masked logit: probability 0).
    Checking the small reduced array instead of z itself keeps the check cheap."""
    m = xp.max(z, axis=axis, keepdims=True)
    if not bool(xp.all(xp.isfinite(m))):
        bad = int(xp.sum(xp.astype(~xp.isfinite(m), xp.int64)))
        raise ValueError(
            f"z must be finite (-inf entries are allowed when every slice has a finite maximum), "
            f"received NaN/+inf or all -inf in {bad} slice(s) along axis {axis} of an array of "
            f"shape {tuple(z.shape)}"
        )
    return m


def _lse(xp: ModuleType, z: Any, axis: int, m: Any) -> Any:
    """log-sum-exp of finite-max z along axis (m = its max, keepdims); callers silence overflow."""
    return xp.squeeze(m, axis=axis) + xp.log(xp.sum(xp.exp(z - m), axis=axis))


def _softmax(xp: ModuleType, z: Any, axis: int, m: Any) -> Any:
    e = xp.exp(z - m)
    return e / xp.sum(e, axis=axis, keepdims=True)


def _sigmoid(xp: ModuleType, z: Any) -> Any:
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logsumexp(z: Any, axis: int = -1) -> Any:
    r""":math:`\log\sum_c e^{z_c}` along ``axis``, as :math:`m + \log\sum_c e^{z_c - m}` with
    :math:`m = \max_c z_c` so that no exponential overflows."""
    xp, z = _reduced(z, axis)
    m = _max_along(xp, z, axis)
    with np.errstate(over="ignore"):  # z - m below -1.8e308 is -inf, and exp(-inf) = 0
        return _lse(xp, z, axis, m)


def log_softmax(z: Any, axis: int = -1) -> Any:
    r""":math:`\log \mathrm{softmax}(z)_c = z_c - \log\sum_k e^{z_k}` (stable)."""
    xp, z = _reduced(z, axis)
    m = _max_along(xp, z, axis)
    with np.errstate(over="ignore"):
        return z - xp.expand_dims(_lse(xp, z, axis, m), axis=axis)


def softmax(z: Any, axis: int = -1) -> Any:
    r""":math:`\mathrm{softmax}(z)_c = e^{z_c - m} / \sum_k e^{z_k - m}` with :math:`m=\max_k z_k`.

    Subtracting the maximum changes nothing mathematically and keeps every exponent :math:`\le 0`.
    """
    xp, z = _reduced(z, axis)
    m = _max_along(xp, z, axis)
    with np.errstate(over="ignore"):
        return _softmax(xp, z, axis, m)


def _softplus_neg_abs(xp: ModuleType, z: Any) -> Any:
    """log(1 + exp(-|z|)), the stable tail shared by BCE and focal loss."""
    return xp.log1p(xp.exp(-xp.abs(z)))


def _bce_values(xp: ModuleType, z: Any, y: Any) -> Any:
    zero = xp.zeros_like(z)
    return xp.maximum(z, zero) - z * y + _softplus_neg_abs(xp, z)


# --------------------------------------------------------------------------- the Loss object
class Loss:
    """A loss function with its gradient and formula.

    Subclasses set ``name``, ``title``, ``formula`` and ``defaults`` and implement
    ``_prepare`` (checks and conversion), ``_values`` and ``_grad_sum`` (the gradient of the
    *sum* of the values; :meth:`grad` divides it by the number of terms, as the mean does).
    """

    name: str = ""
    title: str = ""
    formula: str = ""
    defaults: dict[str, float | None] = {}

    # -- public API -------------------------------------------------------------------------
    def __call__(self, pred: Any, target: Any, *extra: Any, **params: Any) -> Any:
        """Mean loss over the batch (a 0-d array with pred's floating dtype)."""
        xp, pred, target, p = self._setup(pred, target, extra, params)
        with np.errstate(over="ignore"):
            return xp.mean(self._values(xp, pred, target, **p))

    def values(self, pred: Any, target: Any, *extra: Any, **params: Any) -> Any:
        """The individual loss terms whose mean is ``self(pred, target)``."""
        xp, pred, target, p = self._setup(pred, target, extra, params)
        with np.errstate(over="ignore"):
            return self._values(xp, pred, target, **p)

    def grad(self, pred: Any, target: Any, *extra: Any, **params: Any) -> Any:
        """Gradient of the mean loss with respect to ``pred``: same shape and dtype as pred."""
        xp, pred, target, p = self._setup(pred, target, extra, params)
        n = self._count(pred)
        with np.errstate(over="ignore"):
            return self._grad_sum(xp, pred, target, **p) / n

    def value_and_grad(self, pred: Any, target: Any, *extra: Any,
                       **params: Any) -> tuple[Any, Any]:
        """``(self(pred, target), self.grad(pred, target))`` with the checks done once."""
        xp, pred, target, p = self._setup(pred, target, extra, params)
        n = self._count(pred)
        with np.errstate(over="ignore"):
            return xp.mean(self._values(xp, pred, target, **p)), self._grad_sum(
                xp, pred, target, **p
            ) / n

    def _repr_latex_(self) -> str:
        return f"$\\text{{{self.title}}}:\\quad {self.formula}$"

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"<loss {self.name}({'pred, target' + (', ' + params if params else '')})>"

    # -- helpers for subclasses -------------------------------------------------------------
    def _setup(self, pred: Any, target: Any, extra: tuple[Any, ...], params: dict[str, Any]):
        if extra:
            names = ", ".join(f"{k}=..." for k in self.defaults)
            how = (f"pass its parameters by name: {self.name}(pred, target, {names})"
                   if self.defaults else f"{self.name} has no parameters")
            raise TypeError(
                f"{self.name}() takes pred and target, then parameters by name only; received "
                f"{len(extra)} extra positional argument(s) {extra!r}: {how}"
            )
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise TypeError(
                f"{self.name}() got unexpected parameter(s) {sorted(unknown)}; "
                f"it accepts {sorted(self.defaults) or 'none'}"
            )
        p = {**self.defaults, **params}
        xp = chk.namespace(pred=pred, target=target)
        pred = chk.as_float_array(xp, pred, "pred")
        chk.check_nonempty(pred, "pred")
        chk.check_finite(xp, pred, "pred")
        target = self._prepare_target(xp, pred, target)
        return xp, pred, target, self._check_params(p)

    def _count(self, pred: Any) -> int:
        n = 1
        for s in pred.shape:
            n *= s
        return n

    def _check_params(self, p: dict[str, Any]) -> dict[str, Any]:
        return p

    def _prepare_target(self, xp: ModuleType, pred: Any, target: Any) -> Any:
        target = chk.as_float_array(xp, target, "target", dtype=pred.dtype)
        chk.check_same_shape(pred, target, "pred", "target")
        chk.check_finite(xp, target, "target")
        return target

    def _values(self, xp: ModuleType, pred: Any, target: Any, **p: Any) -> Any:
        raise NotImplementedError

    def _grad_sum(self, xp: ModuleType, pred: Any, target: Any, **p: Any) -> Any:
        raise NotImplementedError


class _ClassIndexLoss(Loss):
    """Losses on (N, C) logits/scores with integer labels in [0, C)."""

    def _count(self, pred: Any) -> int:
        return pred.shape[0]

    def _prepare_target(self, xp: ModuleType, pred: Any, target: Any) -> Any:
        chk.check_ndim(pred, 2, "pred", "logits of shape (N, C)")
        target = chk.as_int_array(xp, target, "target")
        if tuple(target.shape) != (pred.shape[0],):
            raise ValueError(
                f"target must have shape (N,) = ({pred.shape[0]},) to match pred "
                f"{tuple(pred.shape)}, received {tuple(target.shape)}"
            )
        n_classes = pred.shape[1]
        bad = (target < 0) | (target >= n_classes)
        if bool(xp.any(bad)):
            lo, hi = int(xp.min(target)), int(xp.max(target))
            raise ValueError(
                f"target must hold class indices in [0, {n_classes - 1}] for pred with "
                f"C={n_classes} columns, received values in [{lo}, {hi}]"
            )
        return target

    @staticmethod
    def _one_hot(xp: ModuleType, target: Any, n_classes: int, dtype: Any) -> Any:
        return xp.astype(target[:, None] == xp.arange(n_classes)[None, :], dtype)


# --------------------------------------------------------------------------- regression
class MSE(Loss):
    r"""Mean squared error, ``torch.nn.functional.mse_loss``:
    :math:`L = \frac1N\sum_i (\hat y_i - y_i)^2`, gradient :math:`\frac2N(\hat y_i - y_i)`.

    ``N`` counts every element of ``pred`` (not only the batch axis), as in PyTorch.
    """

    name = "mse"
    title = "MSE"
    formula = r"L = \frac{1}{N}\sum_{i=1}^{N} (\hat y_i - y_i)^2"

    def _values(self, xp, pred, target):
        r = pred - target
        return r * r

    def _grad_sum(self, xp, pred, target):
        return 2.0 * (pred - target)


class MAE(Loss):
    r"""Mean absolute error, ``torch.nn.functional.l1_loss``:
    :math:`L = \frac1N\sum_i |\hat y_i - y_i|`, gradient :math:`\frac1N\operatorname{sign}(\hat y_i - y_i)`
    (0 at the kink, as in PyTorch)."""

    name = "mae"
    title = "MAE"
    formula = r"L = \frac{1}{N}\sum_{i=1}^{N} \left|\hat y_i - y_i\right|"

    def _values(self, xp, pred, target):
        return xp.abs(pred - target)

    def _grad_sum(self, xp, pred, target):
        return xp.sign(pred - target)


class Huber(Loss):
    r"""Huber loss, ``torch.nn.functional.huber_loss(delta=δ)``:
    quadratic for residuals :math:`|r_i| \le \delta`, linear beyond, with matching slope.

    .. math:: \ell(r) = \tfrac12 r^2 \text{ if } |r|\le\delta,\ \text{else } \delta(|r| - \tfrac12\delta)

    The gradient is the residual clipped to :math:`[-\delta, \delta]`, divided by :math:`N`.
    """

    name = "huber"
    title = "Huber"
    formula = (
        r"L = \frac{1}{N}\sum_{i=1}^{N} \begin{cases} \tfrac12 r_i^2 & |r_i| \le \delta \\ "
        r"\delta\,(|r_i| - \tfrac12\delta) & \text{otherwise} \end{cases},\quad r_i = \hat y_i - y_i"
    )
    defaults = {"delta": 1.0}

    def _check_params(self, p):
        p["delta"] = chk.check_number(p["delta"], "delta", low=0.0, low_open=True)
        return p

    def _values(self, xp, pred, target, delta):
        r = pred - target
        a = xp.abs(r)
        return xp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))

    def _grad_sum(self, xp, pred, target, delta):
        return xp.clip(pred - target, -delta, delta)


# --------------------------------------------------------------------------- classification
class BCEWithLogits(Loss):
    r"""Binary cross-entropy on logits, ``binary_cross_entropy_with_logits``.

    .. math:: \ell(z, y) = -y\log\sigma(z) - (1-y)\log(1-\sigma(z))
                        = \max(z, 0) - z y + \log(1 + e^{-|z|})

    The right-hand form never exponentiates a positive number, so it is finite for any logit.
    Targets may be soft labels in [0, 1]. Gradient: :math:`(\sigma(z_i) - y_i)/N`.
    """

    name = "bce_with_logits"
    title = "Binary cross-entropy"
    formula = (
        r"L = \frac{1}{N}\sum_{i=1}^{N} \Big[\max(z_i, 0) - z_i y_i + \log\big(1 + e^{-|z_i|}\big)"
        r"\Big] = -\frac{1}{N}\sum_{i} \big[y_i\log\sigma(z_i) + (1-y_i)\log(1-\sigma(z_i))\big]"
    )

    def _prepare_target(self, xp, pred, target):
        target = super()._prepare_target(xp, pred, target)
        if bool(xp.any((target < 0) | (target > 1))):
            raise ValueError(
                f"target must hold probabilities in [0, 1], received values in "
                f"[{float(xp.min(target))}, {float(xp.max(target))}]"
            )
        return target

    def _values(self, xp, pred, target):
        return _bce_values(xp, pred, target)

    def _grad_sum(self, xp, pred, target):
        return _sigmoid(xp, pred) - target


class SoftmaxCrossEntropy(_ClassIndexLoss):
    r"""Softmax cross-entropy on logits with integer labels, ``torch.nn.functional.cross_entropy``.

    .. math:: \ell_i = -\log \frac{e^{z_{i y_i}}}{\sum_c e^{z_{ic}}} = \log\sum_c e^{z_{ic}} - z_{i y_i}

    computed with log-sum-exp. ``pred`` has shape (N, C), ``target`` shape (N,) with integers in
    [0, C); the mean is over the N examples. Gradient: :math:`(\mathrm{softmax}(z_i) - \mathbf{1}_{y_i})/N`.
    With uniform logits the loss is exactly :math:`\ln C`, the sanity check at initialisation.
    """

    name = "softmax_cross_entropy"
    title = "Softmax cross-entropy"
    formula = (
        r"L = \frac{1}{N}\sum_{i=1}^{N} \Big[\log\sum_{c=1}^{C} e^{z_{ic}} - z_{i y_i}\Big]"
    )

    def _values(self, xp, pred, target):
        z_y = xp.take_along_axis(pred, target[:, None], axis=1)[:, 0]
        return _lse(xp, pred, 1, xp.max(pred, axis=1, keepdims=True)) - z_y

    def _grad_sum(self, xp, pred, target):
        m = xp.max(pred, axis=1, keepdims=True)
        return _softmax(xp, pred, 1, m) - self._one_hot(xp, target, pred.shape[1], pred.dtype)


class Hinge(Loss):
    r"""Binary hinge loss with labels :math:`y_i \in \{-1, +1\}` and scores :math:`s_i`:
    :math:`\ell_i = \max(0, m - y_i s_i)` with margin :math:`m` (1 by default), mean over all
    elements. Gradient :math:`-y_i\,[m - y_i s_i > 0]/N` (0 at the kink)."""

    name = "hinge"
    title = "Hinge"
    formula = r"L = \frac{1}{N}\sum_{i=1}^{N} \max\big(0,\ m - y_i s_i\big),\quad y_i \in \{-1, +1\}"
    defaults = {"margin": 1.0}

    def _check_params(self, p):
        p["margin"] = chk.check_number(p["margin"], "margin", low=0.0)
        return p

    def _prepare_target(self, xp, pred, target):
        target = super()._prepare_target(xp, pred, target)
        if bool(xp.any((target != 1) & (target != -1))):
            raise ValueError(
                "target must hold labels -1 or +1 (not 0/1: use 2*y - 1), received values in "
                f"[{float(xp.min(target))}, {float(xp.max(target))}]"
            )
        return target

    def _values(self, xp, pred, target, margin):
        return xp.maximum(margin - target * pred, xp.zeros_like(pred))

    def _grad_sum(self, xp, pred, target, margin):
        active = xp.astype(margin - target * pred > 0, pred.dtype)
        return -target * active


class MulticlassHinge(_ClassIndexLoss):
    r"""Multiclass hinge loss of Weston and Watkins (the multiclass SVM of CS231n).

    .. math:: \ell_i = \sum_{j \ne y_i} \max(0,\ s_{ij} - s_{i y_i} + \Delta)

    mean over the N examples, margin :math:`\Delta` (``margin``, 1 by default).
    ``torch.nn.MultiMarginLoss`` differs: it divides each :math:`\ell_i` by the number of classes
    C, so its value is this loss divided by C.
    """

    name = "multiclass_hinge"
    title = "Multiclass hinge (Weston-Watkins)"
    formula = (
        r"L = \frac{1}{N}\sum_{i=1}^{N}\sum_{j \ne y_i} \max\big(0,\ s_{ij} - s_{i y_i} + \Delta\big)"
    )
    defaults = {"margin": 1.0}

    def _check_params(self, p):
        p["margin"] = chk.check_number(p["margin"], "margin", low=0.0)
        return p

    def _margins(self, xp, pred, target, margin):
        s_y = xp.take_along_axis(pred, target[:, None], axis=1)
        not_y = 1.0 - self._one_hot(xp, target, pred.shape[1], pred.dtype)
        return xp.maximum(pred - s_y + margin, xp.zeros_like(pred)) * not_y

    def _values(self, xp, pred, target, margin):
        return xp.sum(self._margins(xp, pred, target, margin), axis=1)

    def _grad_sum(self, xp, pred, target, margin):
        active = xp.astype(self._margins(xp, pred, target, margin) > 0, pred.dtype)
        one_hot = self._one_hot(xp, target, pred.shape[1], pred.dtype)
        return active - one_hot * xp.sum(active, axis=1, keepdims=True)


class Focal(Loss):
    r"""Sigmoid focal loss on logits (Lin et al. 2017), torchvision's ``sigmoid_focal_loss``
    with ``reduction="mean"``.

    .. math:: \ell_i = -\alpha_t\,(1 - p_t)^\gamma \log p_t,\quad
              p_t = \begin{cases}\sigma(z_i) & y_i = 1\\ 1-\sigma(z_i) & y_i = 0\end{cases},\quad
              \alpha_t = \begin{cases}\alpha & y_i = 1\\ 1-\alpha & y_i = 0\end{cases}

    ``gamma`` (γ ≥ 0) down-weights easy, well-classified examples; γ = 0 and ``alpha=None``
    give plain binary cross-entropy. ``alpha=None`` switches the class weighting off
    (torchvision uses a negative alpha for that). Targets are 0/1 labels.

    With :math:`q = 1 - p_t` the gradient of one term is
    :math:`-(2y-1)\,\alpha_t\, q^\gamma\,\big(q + \gamma\,(1-q)\,\ell^{CE}\big)`, which stays finite
    even when :math:`q` underflows to 0.
    """

    name = "focal"
    title = "Focal loss"
    formula = (
        r"L = \frac{1}{N}\sum_{i=1}^{N} -\alpha_t\,(1 - p_t)^{\gamma}\,\log p_t,\quad "
        r"p_t = \begin{cases}\sigma(z_i) & y_i = 1\\ 1-\sigma(z_i) & y_i = 0\end{cases}"
    )
    defaults = {"alpha": 0.25, "gamma": 2.0}

    def _check_params(self, p):
        if p["alpha"] is not None:
            p["alpha"] = chk.check_number(p["alpha"], "alpha", low=0.0, high=1.0)
        p["gamma"] = chk.check_number(p["gamma"], "gamma", low=0.0)
        return p

    def _prepare_target(self, xp, pred, target):
        target = super()._prepare_target(xp, pred, target)
        if bool(xp.any((target != 0) & (target != 1))):
            raise ValueError(
                "target must hold labels 0 or 1, received values in "
                f"[{float(xp.min(target))}, {float(xp.max(target))}]"
            )
        return target

    def _parts(self, xp, pred, target, alpha, gamma):
        ce = _bce_values(xp, pred, target)
        q = xp.where(target == 1, _sigmoid(xp, -pred), _sigmoid(xp, pred))  # q = 1 - p_t
        a_t = 1.0 if alpha is None else alpha * target + (1.0 - alpha) * (1.0 - target)
        return ce, q, a_t

    def _values(self, xp, pred, target, alpha, gamma):
        ce, q, a_t = self._parts(xp, pred, target, alpha, gamma)
        return a_t * q**gamma * ce

    def _grad_sum(self, xp, pred, target, alpha, gamma):
        ce, q, a_t = self._parts(xp, pred, target, alpha, gamma)
        sign = 2.0 * target - 1.0
        return -sign * a_t * q**gamma * (q + gamma * (1.0 - q) * ce)


mse = MSE()
mae = MAE()
huber = Huber()
bce_with_logits = BCEWithLogits()
softmax_cross_entropy = SoftmaxCrossEntropy()
cross_entropy = softmax_cross_entropy
hinge = Hinge()
multiclass_hinge = MulticlassHinge()
focal = Focal()

LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (mse, mae, huber, bce_with_logits, softmax_cross_entropy, hinge,
                 multiclass_hinge, focal)
}
