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

Training and evaluation modes (batch normalisation, ``MLP(..., batch_norm=True)``): such a model
normalises with the statistics of the batch while it trains and with running averages of them
when it is evaluated, so every method states its mode with the keyword ``training``:
:meth:`Model.loss_and_grad` defaults to ``training=True`` (the training step: batch statistics,
and it updates the running statistics held in ``params``); :meth:`~Model.loss`,
:meth:`~Model.accuracy`, :meth:`~Model.predict`, :meth:`~Model.predict_proba`,
:meth:`~Model.loss_and_accuracy` and :meth:`~Model.forward` default to ``training=False`` (eval
mode: running statistics; nothing is updated). :func:`edulib.train.train` therefore steps in
training mode and evaluates in eval mode, as ``model.train()`` / ``model.eval()`` would in
PyTorch. The running statistics are *buffers*: arrays in ``params`` (``model.buffer_shapes``)
whose gradient is ``None``, so optimizers leave them alone. Models without batch normalisation
accept ``training`` and ignore it.
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
    ``weight_decay`` (λ, plain attribute), ``param_shapes`` (name -> shape of each trainable
    parameter) and ``buffer_shapes`` (name -> shape of each non-trainable array kept in
    ``params``, such as batch normalisation's running statistics; empty for most models).
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

    @property
    def buffer_shapes(self) -> dict[str, tuple[int, ...]]:
        """Arrays kept in ``params`` that are not trained (no gradient): none by default."""
        return {}

    def _init_fill(self, name: str) -> float:
        """The constant a non-weight array starts at (biases: 0)."""
        return 0.0

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
        dtype, else float64). Models with buffers (``buffer_shapes``) get them too, after the
        parameters, at their initial values; they draw no random numbers, so the weights of a
        seed are the same with and without them.
        """
        scale = chk.check_number(scale, "scale", low=0.0)
        ns = _resolve_namespace(xp, like)
        dt = _resolve_dtype(ns, dtype, like)
        g = rng(seed)
        params: Params = {}
        for name, shape in {**self.param_shapes, **self.buffer_shapes}.items():
            if name.startswith("W") or name == "w":
                host = g.standard_normal(shape) * (scale * self._init_std(name))
            else:
                host = np.full(shape, self._init_fill(name))
            params[name] = ns.asarray(host, dtype=dt)
        return params

    def forward(self, params: Mapping[str, Any], X: Any, *, training: bool = False) -> Any:
        """The model output: predictions ``y_hat`` (N,) or logits (N, C), in eval mode unless
        ``training=True`` (batch statistics; the running statistics are not updated).

        Finite parameters so large that the output overflows give inf/NaN entries here (no
        NumPy warning); :meth:`predict` and :meth:`accuracy` refuse such outputs with a message.
        """
        training = chk.check_bool(training, "training")
        xp, params, X = self._check_params_X(params, X, training)
        out, _, _ = self._run(xp, params, X, training=training)
        return out

    def _run(self, xp: ModuleType, params: Params, X: Any, need: str | None = None,
             training: bool = False) -> tuple[Any, Any, bool]:
        """The forward pass with NumPy's overflow warnings silenced: ``(out, cache, finite)``.
        With ``need`` (what is being computed), a non-finite output raises a ValueError. Only a
        model whose output depends on the mode (one with buffers) is told ``training``."""
        with np.errstate(over="ignore", invalid="ignore"):
            if self.buffer_shapes:
                out, cache = self._forward(xp, params, X, training=training)
            else:
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

    def loss(self, params: Mapping[str, Any], X: Any, y: Any, *, training: bool = False) -> Any:
        """Mean loss over the batch plus the weight-decay penalty (a 0-d array), in eval mode
        unless ``training=True`` (batch statistics; a pure function of ``params`` either way:
        the running statistics are not updated).

        Non-finite ``params`` raise a ValueError naming the array. Finite parameters so large that
        the model output overflows (a diverging optimizer) give a loss of ``inf``, and NaN
        gradients from :meth:`loss_and_grad`, so that a training loop sees the divergence."""
        training = chk.check_bool(training, "training")
        return self._evaluate(params, X, y, need_grad=False, training=training)[0]

    def loss_and_grad(self, params: Mapping[str, Any], X: Any, y: Any, *,
                      training: bool = True) -> tuple[Any, Params]:
        """``(loss, grads)``: the mean loss (0-d array, plus the weight-decay penalty) and its
        gradient with respect to every parameter (same keys, shapes and dtypes as ``params``).

        A training step: ``training=True`` by default. For a model with buffers (batch
        normalisation) that means batch statistics, and the running statistics in ``params``
        are updated in place, as a PyTorch forward pass in ``train()`` mode does; their entries
        in ``grads`` are ``None`` (optimizers skip them). ``params`` without the buffers is
        accepted in training mode: the gradient of the same loss, nothing updated.
        ``training=False``: the gradient of the eval-mode loss (running statistics held
        fixed), nothing updated."""
        training = chk.check_bool(training, "training")
        return self._evaluate(params, X, y, need_grad=True, training=training)

    def _evaluate(self, params: Mapping[str, Any], X: Any, y: Any,
                  need_grad: bool, training: bool = False) -> tuple[Any, Params]:
        xp, params, X = self._check_params_X(params, X, training)
        y = self._check_y(xp, X, y, params)
        out, cache, finite = self._run(xp, params, X, training=training)
        if need_grad and training:  # the training step moves the running statistics
            self._update_buffers(xp, params, cache, X.shape[0])
        if not finite:  # the output overflowed: the loss is +inf, no gradient exists
            value = xp.asarray(xp.inf, dtype=out.dtype)
            buffers = self.buffer_shapes
            nan_grads = {k: None if k in buffers else xp.full(v.shape, xp.nan, dtype=v.dtype)
                         for k, v in params.items()}
            return value, (nan_grads if need_grad else {})
        with np.errstate(over="ignore", invalid="ignore"):
            value, grads = self._loss_from_output(xp, params, X, y, out, cache, need_grad)
        if need_grad:
            grads.update({k: None for k in params if k not in grads})  # buffers: no gradient
        return value, grads

    def _update_buffers(self, xp: ModuleType, params: Params, cache: Any, n: int) -> None:
        """Update the buffers in ``params`` in place after a training-mode forward pass of
        ``n`` examples (no buffers by default: nothing to do)."""

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

    def predict(self, params: Mapping[str, Any], X: Any, *, training: bool = False) -> Any:
        """Regression: ``y_hat`` (N,). Classification: the predicted class indices (N,).
        Eval mode unless ``training=True``."""
        training = chk.check_bool(training, "training")
        xp, params, X = self._check_params_X(params, X, training)
        out, _, _ = self._run(xp, params, X, need="predict", training=training)
        if self.task == "classification":
            xp = array_namespace(out)
            return xp.argmax(out, axis=1)
        return out

    def predict_proba(self, params: Mapping[str, Any], X: Any, *, training: bool = False) -> Any:
        """Classification only: class probabilities softmax(logits), shape (N, C). Eval mode
        unless ``training=True``."""
        self._need_classifier("predict_proba")
        training = chk.check_bool(training, "training")
        xp, params, X = self._check_params_X(params, X, training)
        return softmax(self._run(xp, params, X, need="predict_proba", training=training)[0],
                       axis=1)

    def accuracy(self, params: Mapping[str, Any], X: Any, y: Any, *,
                 training: bool = False) -> Any:
        """Classification only: fraction of examples with ``predict == y`` (0-d float array of
        the parameters' dtype; ``float(...)`` it to print). Eval mode unless ``training=True``."""
        self._need_classifier("accuracy")
        training = chk.check_bool(training, "training")
        xp, params, X = self._check_params_X(params, X, training)
        y = self._check_y(xp, X, y, params)
        out, _, _ = self._run(xp, params, X, need="accuracy", training=training)
        return xp.mean(xp.astype(xp.argmax(out, axis=1) == y, out.dtype))

    def num_params(self) -> int:
        """Total number of trainable scalar parameters (buffers not counted, as PyTorch's
        ``sum(p.numel() for p in model.parameters())``)."""
        return sum(math.prod(s) for s in self.param_shapes.values())

    # -- checks -------------------------------------------------------------------------------
    def _need_classifier(self, what: str) -> None:
        if self.task != "classification":
            raise TypeError(f"{what} needs a classifier; {type(self).__name__} does regression")

    def _check_keys(self, params: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        """The expected shapes of ``params``' arrays: the parameters, plus the buffers when
        ``params`` holds them (all or none of them)."""
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict of arrays, received {type(params).__name__}")
        shapes, buffers = self.param_shapes, self.buffer_shapes
        if set(params) == set(shapes):
            pass
        elif buffers and set(params) == set(shapes) | set(buffers):
            shapes = {**shapes, **buffers}
        elif buffers:
            raise ValueError(
                f"params must have keys {sorted(shapes)} plus the buffers {sorted(buffers)} "
                f"(as init_params gives them; the parameters alone only in training mode), "
                f"received {sorted(params)}"
            )
        else:
            raise ValueError(
                f"params must have keys {sorted(shapes)}, received {sorted(params)}"
            )
        for name, p in params.items():
            if not hasattr(p, "shape"):
                raise TypeError(f"params[{name!r}] must be an array of shape {shapes[name]}, "
                                f"received {type(p).__name__}")
        return shapes

    def _check_mode(self, params: Mapping[str, Any], X: Any, training: bool) -> None:
        """Eval mode needs the buffers; nothing to check for a model without any."""
        buffers = self.buffer_shapes
        if buffers and not training and not set(buffers) <= set(params):
            raise ValueError(
                f"{type(self).__name__} evaluates in eval mode by default (training=False), "
                f"which needs the running statistics {sorted(buffers)} in params, received "
                f"params without them; pass the params from init_params, or training=True "
                f"for the batch-statistics (training-mode) loss"
            )

    def _check_params_X(self, params: Mapping[str, Any], X: Any, training: bool | None = None):
        """Check ``params`` and ``X``; with ``training`` (True/False) also the mode's needs."""
        shapes = self._check_keys(params)
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
        if training is not None:
            self._check_mode(params, X, training)
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

    def loss_and_accuracy(self, params: Mapping[str, Any], X: Any, y: Any, *,
                          training: bool = False) -> tuple[Any, Any]:
        """``(loss, accuracy)`` from ONE forward pass (what :func:`edulib.train.train` records at
        each evaluation): the loss as :meth:`loss` (with the weight-decay penalty) and the
        accuracy as :meth:`accuracy` (0-d arrays); ``accuracy`` is ``None`` for regression.
        Eval mode unless ``training=True``; nothing is updated."""
        training = chk.check_bool(training, "training")
        xp, params, X = self._check_params_X(params, X, training)
        y = self._check_y(xp, X, y, params)
        out, _, finite = self._run(xp, params, X, training=training)
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

    **Batch normalisation** (``batch_norm=True``): every hidden layer becomes
    Linear → BatchNorm → activation, PyTorch's ``nn.Sequential(nn.Linear, nn.BatchNorm1d,
    nn.ReLU, ..., nn.Linear)``. With :math:`m` examples in the batch, per unit :math:`j`:

    .. math:: \mu_j = \tfrac1m\sum_i z_{ij},\quad \sigma_j^2 = \tfrac1m\sum_i (z_{ij}-\mu_j)^2,
              \quad \hat z_{ij} = \frac{z_{ij}-\mu_j}{\sqrt{\sigma_j^2+\epsilon}},\quad
              u_{ij} = \gamma_j \hat z_{ij} + \beta_j,\quad A = \phi(U)

    In training mode :math:`\mu, \sigma^2` are the batch's (biased variance, ``m >= 2``) and the
    running statistics move towards them, :math:`r_\mu \leftarrow (1-\rho)\, r_\mu + \rho\,\mu`,
    :math:`r_{\sigma^2} \leftarrow (1-\rho)\, r_{\sigma^2} + \rho\,\tfrac{m}{m-1}\sigma^2`
    (the *unbiased* variance), ``bn_momentum`` :math:`\rho = 0.1`, ``bn_eps``
    :math:`\epsilon = 10^{-5}` (``BatchNorm1d``'s defaults). In eval mode :math:`\mu, \sigma^2`
    are the running statistics. Backward in training mode, from :math:`G_U = \partial L/\partial U`
    (the compact formula; :math:`\mu` and :math:`\sigma` depend on every example):

    .. math:: \nabla_{\gamma} L = \textstyle\sum_i (G_U \odot \hat Z)_{i:},\quad
              \nabla_{\beta} L = \sum_i (G_U)_{i:},\quad G_{\hat Z} = G_U \odot \gamma,\\
              G_Z = \frac{1}{m\sqrt{\sigma^2+\epsilon}}\Big(m\,G_{\hat Z}
              - \textstyle\sum_i (G_{\hat Z})_{i:} - \hat Z \odot \sum_i (G_{\hat Z}
              \odot \hat Z)_{i:}\Big)

    (eval mode: :math:`G_Z = G_{\hat Z}/\sqrt{r_{\sigma^2}+\epsilon}`). Parameters ``gamma{ℓ}``
    (init 1) and ``beta{ℓ}`` (init 0) for each hidden layer ℓ; buffers ``running_mean{ℓ}`` (init
    0) and ``running_var{ℓ}`` (init 1) in the same dict, with gradient ``None``. The bias
    ``b{ℓ}`` before a BatchNorm is kept (``nn.Linear``'s default): the batch mean removes it, so
    its training-mode gradient is 0 up to rounding. ``weight_decay`` λ penalises the ``W``
    matrices only, never γ, β or the biases; an optimizer's own ``weight_decay`` acts on every
    array with a gradient, γ and β included (PyTorch's single default parameter group).
    ``num_params()`` counts γ and β, not the buffers.
    """

    name = "mlp"

    def __init__(self, n_features: int, hidden: int | Sequence[int] = 32,
                 n_classes: int | None = 2, activation: str = "relu",
                 weight_decay: float = 0.0, loss: str = "cross_entropy",
                 batch_norm: bool = False, bn_momentum: float = 0.1,
                 bn_eps: float = 1e-5) -> None:
        super().__init__(n_features, weight_decay)
        self.batch_norm = chk.check_bool(batch_norm, "batch_norm")
        self.bn_momentum = chk.check_number(bn_momentum, "bn_momentum", low=0.0, high=1.0)
        self.bn_eps = chk.check_number(bn_eps, "bn_eps", low=0.0, low_open=True)
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
            if self.batch_norm and layer < len(s) - 1:
                out[f"gamma{layer}"] = (s[layer],)
                out[f"beta{layer}"] = (s[layer],)
        return out

    @property
    def buffer_shapes(self) -> dict[str, tuple[int, ...]]:
        """The running statistics of each hidden layer's batch normalisation (if any)."""
        if not self.batch_norm:
            return {}
        out: dict[str, tuple[int, ...]] = {}
        for layer, width in enumerate(self.hidden, start=1):
            out[f"running_mean{layer}"] = (width,)
            out[f"running_var{layer}"] = (width,)
        return out

    def _init_fill(self, name):
        return 1.0 if name.startswith(("gamma", "running_var")) else 0.0

    def _check_mode(self, params, X, training):
        super()._check_mode(params, X, training)
        if self.batch_norm and training and X.shape[0] < 2:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size "
                f"({X.shape[0]}, {self.hidden[0]}) at the first batch normalisation: in training "
                f"mode (training=True) it needs at least 2 examples in X for the batch "
                f"statistics; evaluate one example in eval mode (training=False), and avoid a "
                f"last mini-batch of 1 example (a batch_size with N % batch_size == 1)"
            )

    def _fans(self, name):
        layer = int(name[1:])
        return self._sizes[layer - 1], self._sizes[layer]

    def _init_std(self, name):
        fan_in, fan_out = self._fans(name)
        hidden_layer = int(name[1:]) <= len(self.hidden)
        if hidden_layer and self.activation == "relu":
            return math.sqrt(2.0 / fan_in)
        return math.sqrt(2.0 / (fan_in + fan_out))

    def _forward(self, xp, params, X, training=False):
        act = self._check_activation(self.activation)
        A = X
        acts = [X]  # A_0, then A_1..A_H (post-activation); ReLU mask / tanh from A_l
        bn = {}     # layer -> (Z_hat, 1/sqrt(var + eps), mean, var) of its batch normalisation
        L = self.n_layers
        for layer in range(1, L):
            Z = A @ params[f"W{layer}"] + params[f"b{layer}"]
            if self.batch_norm:
                Z, bn[layer] = self._bn_forward(xp, params, layer, Z, training)
            A = xp.maximum(Z, xp.zeros_like(Z)) if act == "relu" else xp.tanh(Z)
            acts.append(A)
        out = A @ params[f"W{L}"] + params[f"b{L}"]
        if self.task == "regression":
            out = out[:, 0]
        return out, {"A": acts, "bn": bn, "training": training}

    def _bn_forward(self, xp, params, layer, Z, training):
        """``gamma * Z_hat + beta``, ``Z_hat`` normalised with the batch's statistics (training)
        or the running ones (eval); returns it and what the backward pass and the running
        statistics need."""
        if training:
            mean = xp.mean(Z, axis=0)
            D = Z - mean
            var = xp.sum(D * D, axis=0) / Z.shape[0]   # biased: this one normalises
        else:
            mean, var = params[f"running_mean{layer}"], params[f"running_var{layer}"]
            D = Z - mean
        inv_std = 1.0 / xp.sqrt(var + self.bn_eps)
        Z_hat = D * inv_std
        return params[f"gamma{layer}"] * Z_hat + params[f"beta{layer}"], (Z_hat, inv_std, mean,
                                                                             var)

    def _update_buffers(self, xp, params, cache, n):
        r"""Running statistics :math:`r \leftarrow \rho\,s + (1-\rho)\,r` (PyTorch's order),
        the batch variance made unbiased by :math:`m/(m-1)`; in place, in ``params``."""
        rho = self.bn_momentum
        for layer, (_, _, mean, var) in cache["bn"].items():
            key_m, key_v = f"running_mean{layer}", f"running_var{layer}"
            if key_m not in params:  # params without buffers: nothing to update
                continue
            unbiased = var * (n / (n - 1))
            params[key_m][...] = rho * mean + (1.0 - rho) * params[key_m]
            params[key_v][...] = rho * unbiased + (1.0 - rho) * params[key_v]

    def _backward(self, xp, params, X, cache, d_out):
        L = self.n_layers
        acts, bn, training = cache["A"], cache["bn"], cache["training"]
        G = d_out[:, None] if self.task == "regression" else d_out
        grads: Params = {}
        for layer in range(L, 0, -1):
            A_prev = acts[layer - 1]
            grads[f"W{layer}"] = A_prev.T @ G
            grads[f"b{layer}"] = xp.sum(G, axis=0)
            if layer > 1:
                dA = G @ params[f"W{layer}"].T
                if self.activation == "relu":
                    G = dA * xp.astype(A_prev > 0, dA.dtype)
                else:
                    G = dA * (1.0 - A_prev * A_prev)
                if self.batch_norm:
                    G = self._bn_backward(xp, params, layer - 1, bn[layer - 1], G, training,
                                          grads)
        return {name: grads[name] for name in self.param_shapes}

    @staticmethod
    def _bn_backward(xp, params, layer, saved, G_U, training, grads):
        """From ``G_U`` (the gradient at the normalised, scaled output) to the gradient at the
        linear output ``Z``; stores the gradients of ``gamma`` and ``beta``."""
        Z_hat, inv_std = saved[0], saved[1]
        grads[f"gamma{layer}"] = xp.sum(G_U * Z_hat, axis=0)
        grads[f"beta{layer}"] = xp.sum(G_U, axis=0)
        G_hat = G_U * params[f"gamma{layer}"]
        if not training:  # fixed statistics: an affine map per unit
            return G_hat * inv_std
        m = G_U.shape[0]
        return (inv_std / m) * (m * G_hat - xp.sum(G_hat, axis=0)
                                - Z_hat * xp.sum(G_hat * Z_hat, axis=0))

    def _repr_args(self):
        hidden = self.hidden[0] if len(self.hidden) == 1 else self.hidden
        out = {"n_features": self.n_features, "hidden": hidden, "n_classes": self.n_classes,
               "activation": self.activation, "weight_decay": self.weight_decay,
               **({"loss": self.loss_kind} if self.loss_kind != "cross_entropy" else {})}
        if self.batch_norm:
            out["batch_norm"] = True
            if self.bn_momentum != 0.1:
                out["bn_momentum"] = self.bn_momentum
            if self.bn_eps != 1e-5:
                out["bn_eps"] = self.bn_eps
        return out


MODELS: dict[str, type[Model]] = {
    cls.name: cls for cls in (LinearRegression, SoftmaxRegression, MLP)
}
