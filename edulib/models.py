r"""Small models with hand-written backpropagation: linear regression, softmax regression, an MLP.

A model holds no parameters: they live in a dict of named arrays that the optimizer updates::

    model = MLP(n_features=2, hidden=32, n_classes=3, activation="relu")
    params = model.init_params(seed=0)                 # {"W1", "b1", "W2", "b2"}
    loss, grads = model.loss_and_grad(params, X, y)    # grads has params' keys, shapes, dtypes
    model.loss(params, X, y), model.accuracy(params, X, y), model.predict(params, X)

Layers compute :math:`Z = X W + b` with ``W`` of shape (fan_in, fan_out) (PyTorch's
``nn.Linear`` stores the transpose). The loss is a mean over the batch (edulib.losses), and the
gradient is that loss's gradient with respect to the model output, chained back through the
layers. Every model accepts ``weight_decay`` :math:`\lambda \ge 0` (a plain attribute), which adds
the L2 penalty :math:`\frac{\lambda}{2}\sum_\ell \lVert W_\ell \rVert^2` over the weight
matrices (not the biases) to the loss, and :math:`\lambda W_\ell` to their gradients: the same
update as ``torch.optim.SGD(weight_decay=λ)`` applied to the weights only.

Array backends: parameters are created in the namespace given to ``init_params`` (``xp=`` or
``like=``; NumPy by default) and ``X``, ``y`` must come from that namespace too. ``X`` is cast to
the parameters' dtype, so float32 parameters give float32 losses and gradients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import array_namespace, get_namespace, rng
from .losses import mse, softmax, softmax_cross_entropy

__all__ = ["MODELS", "MLP", "LinearRegression", "Model", "SoftmaxRegression"]

Params = dict[str, Any]

ACTIVATIONS = ("relu", "tanh")
CLASSIFIER_LOSSES = ("cross_entropy", "mse")


def _check_loss(loss: Any) -> str:
    if loss not in CLASSIFIER_LOSSES:
        raise ValueError(f"loss must be one of {CLASSIFIER_LOSSES}, received {loss!r}")
    return loss


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, received {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, received {value}")
    return int(value)


def _resolve_namespace(xp: Any, like: Any) -> ModuleType:
    if xp is not None and like is not None:
        raise TypeError("pass either xp or like to init_params, not both")
    if like is not None:
        return array_namespace(like)
    if xp is None:
        return array_namespace(np.empty(0))
    if isinstance(xp, str):
        return get_namespace(xp)
    if isinstance(xp, ModuleType) and hasattr(xp, "asarray"):
        return xp
    raise TypeError(
        f"xp must be an array namespace (numpy, cupy, array_api_strict) or its name, "
        f"received {type(xp).__name__}"
    )


def _resolve_dtype(xp: ModuleType, dtype: Any, like: Any) -> Any:
    if dtype is None:
        if like is not None and xp.isdtype(xp.asarray(like).dtype, "real floating"):
            return xp.asarray(like).dtype
        return xp.float64
    for name in ("float32", "float64"):
        target = getattr(xp, name)
        spelled = dtype if isinstance(dtype, str) else (
            getattr(dtype, "name", None) or getattr(dtype, "__name__", None)
        )
        if spelled == name or dtype is target:
            return target
        try:
            if dtype == target:
                return target
        except (TypeError, ValueError):
            pass
    raise ValueError(f"dtype must be float32 or float64, received {dtype!r}")


class Model:
    """Common interface; subclasses define the layers and the loss.

    Attributes: ``task`` (``"regression"`` or ``"classification"``), ``n_features``,
    ``weight_decay`` (λ, plain attribute), ``param_shapes`` (name -> shape).
    """

    task: str = "regression"
    name: str = ""

    def __init__(self, n_features: int, weight_decay: float = 0.0) -> None:
        self.n_features = _check_int(n_features, "n_features", 1)
        self.weight_decay = chk.check_number(weight_decay, "weight_decay", low=0.0)

    # -- to be provided by subclasses --------------------------------------------------------
    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def _fans(self, name: str) -> tuple[int, int]:
        raise NotImplementedError

    def _init_std(self, name: str) -> float:
        """Xavier/Glorot normal: std = sqrt(2 / (fan_in + fan_out))."""
        fan_in, fan_out = self._fans(name)
        return math.sqrt(2.0 / (fan_in + fan_out))

    def _forward(self, xp: ModuleType, params: Params, X: Any) -> tuple[Any, list[Any]]:
        raise NotImplementedError

    def _backward(self, xp: ModuleType, params: Params, X: Any, cache: list[Any],
                  d_out: Any) -> Params:
        raise NotImplementedError

    # -- public API ---------------------------------------------------------------------------
    def init_params(self, seed: int | None = 0, *, xp: Any = None, like: Any = None,
                    dtype: Any = None, scale: float = 1.0) -> Params:
        r"""Fresh parameters: weights :math:`\sim \mathcal N(0, (\text{scale}\cdot\sigma)^2)`,
        biases 0.

        :math:`\sigma` is the model's scaled init (Xavier/Glorot :math:`\sqrt{2/(n_{in}+n_{out})}`
        for linear outputs and tanh layers, He :math:`\sqrt{2/n_{in}}` for ReLU layers), so
        activations keep a steady size through the layers. ``scale=0`` gives all-zero weights.
        Numbers are drawn with NumPy from ``edulib.rng(seed)`` in float64 and then moved to the
        namespace ``xp`` (a module or ``"numpy"``/``"array_api_strict"``/``"cupy"``) or that of
        ``like`` (an array, e.g. ``X_train``), so every backend sees the same values. ``dtype``:
        ``"float32"``/``"float64"`` or a dtype of the namespace (default: ``like``'s floating
        dtype, else float64).
        """
        scale = chk.check_number(scale, "scale", low=0.0)
        ns = _resolve_namespace(xp, like)
        dt = _resolve_dtype(ns, dtype, like)
        g = rng(seed)
        params: Params = {}
        for name, shape in self.param_shapes.items():
            if name.startswith("W") or name == "w":
                host = g.standard_normal(shape) * (scale * self._init_std(name))
            else:
                host = np.zeros(shape)
            params[name] = ns.asarray(host, dtype=dt)
        return params

    def forward(self, params: Mapping[str, Any], X: Any) -> Any:
        """The model output: predictions ``y_hat`` (N,) or logits (N, C).

        Finite parameters so large that the output overflows give inf/NaN entries here (no
        NumPy warning); :meth:`predict` and :meth:`accuracy` refuse such outputs with a message.
        """
        xp, params, X = self._check_params_X(params, X)
        out, _, _ = self._run(xp, params, X)
        return out

    def _run(self, xp: ModuleType, params: Params, X: Any,
             need: str | None = None) -> tuple[Any, list[Any], bool]:
        """The forward pass with NumPy's overflow warnings silenced: ``(out, cache, finite)``.
        With ``need`` (what is being computed), a non-finite output raises a ValueError."""
        with np.errstate(over="ignore", invalid="ignore"):
            out, cache = self._forward(xp, params, X)
            finite = bool(xp.all(xp.isfinite(out)))
        if not finite:
            # a NaN/inf parameter reaches every output (NaN * 0 is NaN): name it; checking the
            # parameters only here keeps the common, finite case free of extra passes
            self._check_params_finite(xp, params)
        if not finite and need is not None:
            big = max(params, key=lambda k: float(xp.max(xp.abs(params[k]))))
            raise ValueError(
                f"{need} needs finite model outputs, but they overflowed (inf/NaN) although params "
                f"and X are finite: the parameters are too large (largest |params[{big!r}]| = "
                f"{float(xp.max(xp.abs(params[big]))):.3g}); did training diverge? Try a smaller lr"
            )
        return out, cache, finite

    __call__ = forward

    def penalty(self, params: Mapping[str, Any]) -> Any:
        r"""The weight-decay term :math:`\frac{\lambda}{2}\sum_\ell \lVert W_\ell\rVert^2`
        (a 0-d array)."""
        self._check_keys(params)
        xp = array_namespace(*params.values())
        total = None
        with np.errstate(over="ignore"):  # huge weights give an inf penalty, not a warning
            for name in self.param_shapes:
                if name.startswith("W") or name == "w":
                    term = xp.sum(params[name] * params[name])
                    total = term if total is None else total + term
            return (0.5 * self.weight_decay) * total

    def loss(self, params: Mapping[str, Any], X: Any, y: Any) -> Any:
        """Mean loss over the batch plus the weight-decay penalty (a 0-d array).

        Non-finite ``params`` raise a ValueError naming the array. Finite parameters so large that
        the model output overflows (a diverging optimizer) give a loss of ``inf``, and NaN
        gradients from :meth:`loss_and_grad`, so that a training loop sees the divergence."""
        return self._evaluate(params, X, y, need_grad=False)[0]

    def loss_and_grad(self, params: Mapping[str, Any], X: Any, y: Any) -> tuple[Any, Params]:
        """``(loss, grads)``: the mean loss (0-d array, plus the weight-decay penalty) and its
        gradient with respect to every parameter (same keys, shapes and dtypes as ``params``)."""
        return self._evaluate(params, X, y, need_grad=True)

    def _evaluate(self, params: Mapping[str, Any], X: Any, y: Any,
                  need_grad: bool) -> tuple[Any, Params]:
        xp, params, X = self._check_params_X(params, X)
        y = self._check_y(xp, X, y, params)
        out, cache, finite = self._run(xp, params, X)
        if not finite:  # the output overflowed: the loss is +inf, no gradient exists
            value = xp.asarray(xp.inf, dtype=out.dtype)
            nan_grads = {k: xp.full(v.shape, xp.nan, dtype=v.dtype) for k, v in params.items()}
            return value, (nan_grads if need_grad else {})
        with np.errstate(over="ignore", invalid="ignore"):
            return self._loss_from_output(xp, params, X, y, out, cache, need_grad)

    def _loss_from_output(self, xp: ModuleType, params: Params, X: Any, y: Any, out: Any,
                          cache: list[Any], need_grad: bool) -> tuple[Any, Params]:
        loss_fn = softmax_cross_entropy if self.task == "classification" else mse
        target = y
        if self.task == "classification" and getattr(self, "loss_kind", "") == "mse":
            # MSE on one-hot targets: mean over all N*C entries, gradient 2/(NC) (Z - onehot(y))
            loss_fn = mse
            target = xp.astype(y[:, None] == xp.arange(self.n_classes)[None, :], out.dtype)
        if need_grad:
            value, d_out = loss_fn.value_and_grad(out, target)
        else:
            value = loss_fn(out, target)
        lam = self.weight_decay
        if lam:
            value = value + self.penalty(params)
        if not need_grad:
            return value, {}
        grads = self._backward(xp, params, X, cache, d_out)
        if lam:
            for name in grads:
                if name.startswith("W") or name == "w":
                    grads[name] = grads[name] + lam * params[name]
        return value, grads

    def predict(self, params: Mapping[str, Any], X: Any) -> Any:
        """Regression: ``y_hat`` (N,). Classification: the predicted class indices (N,)."""
        xp, params, X = self._check_params_X(params, X)
        out, _, _ = self._run(xp, params, X, need="predict")
        if self.task == "classification":
            xp = array_namespace(out)
            return xp.argmax(out, axis=1)
        return out

    def predict_proba(self, params: Mapping[str, Any], X: Any) -> Any:
        """Classification only: class probabilities softmax(logits), shape (N, C)."""
        self._need_classifier("predict_proba")
        xp, params, X = self._check_params_X(params, X)
        return softmax(self._run(xp, params, X, need="predict_proba")[0], axis=1)

    def accuracy(self, params: Mapping[str, Any], X: Any, y: Any) -> Any:
        """Classification only: fraction of examples with ``predict == y`` (0-d float array of
        the parameters' dtype; ``float(...)`` it to print)."""
        self._need_classifier("accuracy")
        xp, params, X = self._check_params_X(params, X)
        y = self._check_y(xp, X, y, params)
        out, _, _ = self._run(xp, params, X, need="accuracy")
        return xp.mean(xp.astype(xp.argmax(out, axis=1) == y, out.dtype))

    def num_params(self) -> int:
        """Total number of scalar parameters."""
        return sum(math.prod(s) for s in self.param_shapes.values())

    # -- checks -------------------------------------------------------------------------------
    def _need_classifier(self, what: str) -> None:
        if self.task != "classification":
            raise TypeError(f"{what} needs a classifier; {type(self).__name__} does regression")

    def _check_keys(self, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict of arrays, received {type(params).__name__}")
        shapes = self.param_shapes
        if set(params) != set(shapes):
            raise ValueError(
                f"params must have keys {sorted(shapes)}, received {sorted(params)}"
            )
        for name, p in params.items():
            if not hasattr(p, "shape"):
                raise TypeError(f"params[{name!r}] must be an array of shape {shapes[name]}, "
                                f"received {type(p).__name__}")

    def _check_params_X(self, params: Mapping[str, Any], X: Any):
        self._check_keys(params)
        shapes = self.param_shapes
        try:
            xp = array_namespace(*params.values(), X)
        except TypeError:
            raise TypeError(
                f"X and params must come from the same array library, received X of type "
                f"{type(X).__name__} and params of type "
                f"{sorted({type(v).__name__ for v in params.values()})}"
            ) from None
        dtype = None
        for name, shape in shapes.items():
            p = params[name]
            if tuple(p.shape) != shape:
                raise ValueError(
                    f"params[{name!r}] must have shape {shape}, received {tuple(p.shape)}"
                )
            if not xp.isdtype(p.dtype, "real floating"):
                raise TypeError(f"params[{name!r}] must be floating, received dtype {p.dtype}")
            if dtype is None:
                dtype = p.dtype
            elif p.dtype != dtype:
                raise TypeError(
                    f"params must share one dtype, params[{name!r}] has {p.dtype}, "
                    f"others {dtype}"
                )
        X = chk.as_float_array(xp, X, "X", dtype=dtype)
        if X.ndim != 2:
            hint = " (one feature? use X[:, None])" if X.ndim == 1 else ""
            raise ValueError(
                f"X must be 2-D of shape (N, n_features) = (N, {self.n_features}), "
                f"received shape {tuple(X.shape)}{hint}"
            )
        if X.shape[1] != self.n_features:
            raise ValueError(
                f"X must have n_features={self.n_features} columns, received shape "
                f"{tuple(X.shape)}"
            )
        chk.check_nonempty(X, "X")
        chk.check_finite(xp, X, "X")
        return xp, params, X

    @staticmethod
    def _check_params_finite(xp: ModuleType, params: Mapping[str, Any]) -> None:
        for name, p in params.items():
            ok = xp.isfinite(p)
            if not bool(xp.all(ok)):
                bad = int(xp.sum(xp.astype(~ok, xp.int64)))
                raise ValueError(
                    f"params[{name!r}] must be finite, received {bad} non-finite value(s) "
                    f"(NaN or inf) in an array of shape {tuple(p.shape)}; did training diverge? "
                    "Re-initialise the parameters and try a smaller lr"
                )

    def _check_y(self, xp: ModuleType, X: Any, y: Any, params: Mapping[str, Any]) -> Any:
        n = X.shape[0]
        if self.task == "classification":
            y = xp.asarray(y)
            if not xp.isdtype(y.dtype, "integral"):
                raise TypeError(
                    f"y must hold integer class labels, received dtype {y.dtype}"
                )
            if tuple(y.shape) != (n,):
                raise ValueError(
                    f"y must have shape (N,) = ({n},) to match X {tuple(X.shape)}, "
                    f"received {tuple(y.shape)}"
                )
            c = self.n_classes
            if bool(xp.any((y < 0) | (y >= c))):
                raise ValueError(
                    f"y must hold class labels in [0, {c - 1}] (n_classes={c}), received "
                    f"values in [{int(xp.min(y))}, {int(xp.max(y))}]"
                )
            return y
        y = chk.as_float_array(xp, y, "y", dtype=X.dtype)
        if tuple(y.shape) != (n,):
            raise ValueError(
                f"y must have shape (N,) = ({n},) to match X {tuple(X.shape)}, received "
                f"{tuple(y.shape)}"
            )
        chk.check_finite(xp, y, "y")
        return y

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._repr_args().items())
        return f"{type(self).__name__}({args})"

    def _repr_args(self) -> dict[str, Any]:
        return {"n_features": self.n_features, "weight_decay": self.weight_decay}

    def loss_and_accuracy(self, params: Mapping[str, Any], X: Any, y: Any) -> tuple[Any, Any]:
        """``(loss, accuracy)`` from ONE forward pass (what :func:`edulib.train.train` records at
        each evaluation): the loss as :meth:`loss` (with the weight-decay penalty) and the
        accuracy as :meth:`accuracy` (0-d arrays); ``accuracy`` is ``None`` for regression."""
        xp, params, X = self._check_params_X(params, X)
        y = self._check_y(xp, X, y, params)
        out, _, finite = self._run(xp, params, X)
        if not finite:  # outputs overflowed (diverged params): loss +inf as in loss(), acc NaN
            acc = None if self.task != "classification" else xp.asarray(xp.nan, dtype=out.dtype)
            return xp.asarray(xp.inf, dtype=out.dtype), acc
        if self.task != "classification":
            value, acc = mse(out, y), None
        else:
            acc = xp.mean(xp.astype(xp.argmax(out, axis=1) == y, out.dtype))
            if getattr(self, "loss_kind", "") == "mse":  # the same loss as _evaluate
                value = mse(out, xp.astype(y[:, None] == xp.arange(self.n_classes)[None, :],
                                           out.dtype))
            else:
                value = softmax_cross_entropy(out, y)
        if self.weight_decay:
            value = value + self.penalty(params)
        return value, acc


class LinearRegression(Model):
    r"""Linear regression :math:`\hat y = X w + b` with the MSE loss

    .. math:: L = \frac1N\sum_i (\hat y_i - y_i)^2 + \frac\lambda2\lVert w\rVert^2,\qquad
              \nabla_w L = X^\top g + \lambda w,\quad \nabla_b L = \textstyle\sum_i g_i,\quad
              g = \tfrac2N(\hat y - y)

    Parameters ``{"w": (n_features,), "b": (1,)}`` (``b`` is a 1-element array rather than a
    0-d one: NumPy turns 0-d arithmetic results into scalars, which cannot be updated in place);
    ``y`` has shape (N,). Init: Xavier normal
    :math:`\sigma = \sqrt{2/(n_{features}+1)}` for ``w``, ``b = 0``.
    """

    task = "regression"
    name = "linear_regression"

    def __init__(self, n_features: int = 1, weight_decay: float = 0.0) -> None:
        super().__init__(n_features, weight_decay)

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"w": (self.n_features,), "b": (1,)}

    def _fans(self, name):
        return self.n_features, 1

    def _forward(self, xp, params, X):
        return X @ params["w"] + params["b"], []

    def _backward(self, xp, params, X, cache, d_out):
        return {"w": d_out @ X, "b": xp.sum(d_out, axis=0, keepdims=True)}


class SoftmaxRegression(Model):
    r"""Softmax (multinomial logistic) regression: logits :math:`Z = X W + b`, softmax
    cross-entropy loss

    .. math:: L = \frac1N\sum_i \Big[\log\sum_c e^{z_{ic}} - z_{i y_i}\Big]
              + \frac\lambda2\lVert W\rVert^2,\qquad
              \nabla_W L = X^\top G + \lambda W,\quad \nabla_b L = \textstyle\sum_i G_{i:},\quad
              G = \tfrac1N(\mathrm{softmax}(Z) - \mathrm{onehot}(y))

    Parameters ``{"W": (n_features, n_classes), "b": (n_classes,)}``; ``y`` holds integers in
    [0, n_classes). At ``W = 0, b = 0`` (``init_params(scale=0)``) the loss is exactly
    :math:`\ln C`. ``loss="mse"`` replaces the cross-entropy by the MSE on one-hot targets,
    :math:`\frac{1}{NC}\sum_{i,c}(z_{ic} - [y_i = c])^2` (PyTorch's ``mse_loss`` on
    ``one_hot(y)``), whose gradient is :math:`G = \tfrac{2}{NC}(Z - \mathrm{onehot}(y))`.
    Init: Xavier normal :math:`\sigma=\sqrt{2/(n_{features}+C)}`, ``b = 0``.
    """

    task = "classification"
    name = "softmax_regression"

    def __init__(self, n_features: int, n_classes: int, weight_decay: float = 0.0,
                 loss: str = "cross_entropy") -> None:
        super().__init__(n_features, weight_decay)
        self.n_classes = _check_int(n_classes, "n_classes", 2)
        self.loss_kind = _check_loss(loss)

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"W": (self.n_features, self.n_classes), "b": (self.n_classes,)}

    def _fans(self, name):
        return self.n_features, self.n_classes

    def _forward(self, xp, params, X):
        return X @ params["W"] + params["b"], []

    def _backward(self, xp, params, X, cache, d_out):
        return {"W": X.T @ d_out, "b": xp.sum(d_out, axis=0)}

    def _repr_args(self):
        out = {"n_features": self.n_features, "n_classes": self.n_classes,
               "weight_decay": self.weight_decay}
        if self.loss_kind != "cross_entropy":
            out["loss"] = self.loss_kind
        return out


class MLP(Model):
    r"""A multi-layer perceptron with hand-written backprop.

    .. math:: A_0 = X,\quad Z_\ell = A_{\ell-1} W_\ell + b_\ell,\quad A_\ell = \phi(Z_\ell)
              \ (\ell = 1..H),\qquad \text{out} = A_H W_{H+1} + b_{H+1}

    with :math:`\phi` = ``activation`` (``"relu"``: :math:`\max(0, z)`, derivative
    :math:`[z > 0]`; ``"tanh"``: derivative :math:`1 - \tanh^2 z`). Backward pass, from
    :math:`G_{H+1} = \partial L/\partial\,\text{out}` (the loss's ``grad``):
    :math:`\nabla_{W_\ell} L = A_{\ell-1}^\top G_\ell + \lambda W_\ell`,
    :math:`\nabla_{b_\ell} L = \sum_i (G_\ell)_{i:}`,
    :math:`G_{\ell-1} = (G_\ell W_\ell^\top) \odot \phi'(Z_{\ell-1})`.

    ``hidden`` is the width of the one hidden layer (int) or a sequence of widths (one entry per
    hidden layer, e.g. ``(64, 32)``). Classification (``n_classes`` ≥ 2): out are logits
    (N, C), softmax cross-entropy, integer labels (``loss="mse"``: the MSE on one-hot targets,
    mean over all N*C entries, as for :class:`SoftmaxRegression`). Regression
    (``n_classes=None``): one output, ``y_hat`` (N,), MSE (``loss`` is then not used).
    Parameters ``W1, b1, ..., W{H+1}, b{H+1}`` with ``W_ℓ`` of shape
    (fan_in, fan_out). Init: hidden layers He normal :math:`\sigma=\sqrt{2/n_{in}}` for ReLU,
    Xavier normal :math:`\sigma=\sqrt{2/(n_{in}+n_{out})}` for tanh; output layer Xavier; biases 0.
    """

    name = "mlp"

    def __init__(self, n_features: int, hidden: int | Sequence[int] = 32,
                 n_classes: int | None = 2, activation: str = "relu",
                 weight_decay: float = 0.0, loss: str = "cross_entropy") -> None:
        super().__init__(n_features, weight_decay)
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            widths = (hidden,)
        elif isinstance(hidden, Sequence) and not isinstance(hidden, str):
            widths = tuple(hidden)
        else:
            raise TypeError(f"hidden must be an int or a sequence of ints (one width per hidden "
                            f"layer), received {type(hidden).__name__} {hidden!r}")
        if not widths:
            raise ValueError("hidden must name at least one hidden layer width, received ()")
        self.hidden = tuple(_check_int(h, "hidden", 1) for h in widths)
        if n_classes is None:
            self.task = "regression"
            self.n_classes = None
        else:
            self.task = "classification"
            self.n_classes = _check_int(n_classes, "n_classes", 2)
        self.loss_kind = _check_loss(loss)
        self.activation = self._check_activation(activation)

    @staticmethod
    def _check_activation(activation: Any) -> str:
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {ACTIVATIONS}, received {activation!r}"
            )
        return activation

    @property
    def _sizes(self) -> tuple[int, ...]:
        return (self.n_features, *self.hidden, self.n_classes or 1)

    @property
    def n_layers(self) -> int:
        """Number of linear layers (hidden layers + 1)."""
        return len(self.hidden) + 1

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        s = self._sizes
        out: dict[str, tuple[int, ...]] = {}
        for layer in range(1, len(s)):
            out[f"W{layer}"] = (s[layer - 1], s[layer])
            out[f"b{layer}"] = (s[layer],)
        return out

    def _fans(self, name):
        layer = int(name[1:])
        return self._sizes[layer - 1], self._sizes[layer]

    def _init_std(self, name):
        fan_in, fan_out = self._fans(name)
        hidden_layer = int(name[1:]) <= len(self.hidden)
        if hidden_layer and self.activation == "relu":
            return math.sqrt(2.0 / fan_in)
        return math.sqrt(2.0 / (fan_in + fan_out))

    def _forward(self, xp, params, X):
        act = self._check_activation(self.activation)
        A = X
        cache = [X]  # A_0, then A_1..A_H (post-activation); ReLU mask / tanh from A_l
        L = self.n_layers
        for layer in range(1, L):
            Z = A @ params[f"W{layer}"] + params[f"b{layer}"]
            A = xp.maximum(Z, xp.zeros_like(Z)) if act == "relu" else xp.tanh(Z)
            cache.append(A)
        out = A @ params[f"W{L}"] + params[f"b{L}"]
        if self.task == "regression":
            out = out[:, 0]
        return out, cache

    def _backward(self, xp, params, X, cache, d_out):
        L = self.n_layers
        G = d_out[:, None] if self.task == "regression" else d_out
        grads: Params = {}
        for layer in range(L, 0, -1):
            A_prev = cache[layer - 1]
            grads[f"W{layer}"] = A_prev.T @ G
            grads[f"b{layer}"] = xp.sum(G, axis=0)
            if layer > 1:
                dA = G @ params[f"W{layer}"].T
                if self.activation == "relu":
                    G = dA * xp.astype(A_prev > 0, dA.dtype)
                else:
                    G = dA * (1.0 - A_prev * A_prev)
        return {name: grads[name] for name in self.param_shapes}

    def _repr_args(self):
        hidden = self.hidden[0] if len(self.hidden) == 1 else self.hidden
        return {"n_features": self.n_features, "hidden": hidden, "n_classes": self.n_classes,
                "activation": self.activation, "weight_decay": self.weight_decay,
                **({"loss": self.loss_kind} if self.loss_kind != "cross_entropy" else {})}


MODELS: dict[str, type[Model]] = {
    cls.name: cls for cls in (LinearRegression, SoftmaxRegression, MLP)
}
