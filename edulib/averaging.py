r"""Weight averaging: the equal-weight mean (SWA) or the exponential moving average (EMA) of the
parameters a run visits, with the rules of ``torch.optim.swa_utils``.

Late in training the parameters bounce around a minimum; their average often lies nearer its
centre than any single iterate. :class:`AveragedParams` keeps that average next to the dict of
named arrays an :mod:`edulib.optim` optimizer updates::

    params = model.init_params(seed=0)
    opt = SGD(params, lr=0.05)
    swa = AveragedParams(params)                   # a copy of params, n_averaged = 0
    for epoch in range(100):
        ...                                        # opt.step(grads) for every batch
        if epoch >= 75:
            swa.update_parameters(params)          # the first call copies, later calls average
    model.loss(swa.params, X, y)                   # evaluate the averaged weights

    ema = AveragedParams(params, multi_avg_fn=get_ema_multi_avg_fn(0.99))   # update every step

With :math:`\theta_k` the parameters given to the :math:`k`-th update and :math:`\bar\theta_k`
the average after it, the first update copies, :math:`\bar\theta_1 = \theta_1`, whatever the
rule; later updates apply the rule:

- SWA (the default): :math:`\bar\theta_k = \bar\theta_{k-1} + (\theta_k - \bar\theta_{k-1})/k`,
  so :math:`\bar\theta_k = \frac1k \sum_{j \le k} \theta_j`;
- EMA with decay :math:`\beta`: :math:`\bar\theta_k = \beta\,\bar\theta_{k-1} + (1-\beta)\,\theta_k`,
  so :math:`\theta_j` weighs :math:`(1-\beta)\beta^{k-j}` for :math:`j \ge 2` and
  :math:`\theta_1` weighs :math:`\beta^{k-1}`.

:class:`SWALR` (from :mod:`edulib.schedules`, importable here as from ``torch.optim.swa_utils``)
anneals the learning rate to the constant that SWA is usually run with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import _checks as chk
from .backend import array_namespace
from .schedules import SWALR

__all__ = ["SWALR", "AveragedParams", "get_ema_avg_fn", "get_ema_multi_avg_fn", "get_swa_avg_fn",
           "update_bn"]


def _lerp_(avg: Any, p: Any, weight: float) -> None:
    r"""``avg`` :math:`\leftarrow` ``avg + weight * (p - avg)`` in place, in PyTorch's ``lerp``
    form: ``p - (p - avg) * (1 - weight)`` when ``|weight| >= 0.5``."""
    d = p - avg
    if abs(weight) < 0.5:
        d *= weight
        avg += d
    else:
        d *= 1 - weight
        avg[...] = p - d


def _check_decay(decay: Any) -> float:
    return chk.check_number(decay, "decay", low=0.0, high=1.0)


def get_ema_avg_fn(decay: float = 0.999) -> Callable[[Any, Any, int], Any]:
    r"""EMA as an ``avg_fn``: :math:`\bar\theta \leftarrow \beta\,\bar\theta + (1-\beta)\,\theta`,
    :math:`\beta` = ``decay`` in [0, 1] (returns a new array; the count is not used)."""
    decay = _check_decay(decay)

    def ema_update(avg: Any, p: Any, n_averaged: int) -> Any:
        return decay * avg + (1 - decay) * p

    return ema_update


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable[[list, list, int], None]:
    r"""EMA as a ``multi_avg_fn``, in place: :math:`\bar\theta \leftarrow \bar\theta +
    (1-\beta)(\theta - \bar\theta)`, :math:`\beta` = ``decay`` in [0, 1].

    The same average as :func:`get_ema_avg_fn` up to rounding (PyTorch computes this one with
    ``lerp``, and so does this function)."""
    decay = _check_decay(decay)

    def ema_update(avgs: list, ps: list, n_averaged: int) -> None:
        for avg, p in zip(avgs, ps, strict=True):
            _lerp_(avg, p, 1 - decay)

    return ema_update


def get_swa_avg_fn() -> Callable[[Any, Any, int], Any]:
    r"""SWA as an ``avg_fn``: :math:`\bar\theta \leftarrow \bar\theta + (\theta - \bar\theta)/(n+1)`
    with :math:`n` averaged so far (the default rule of :class:`AveragedParams`)."""

    def swa_update(avg: Any, p: Any, n_averaged: int) -> Any:
        return avg + (p - avg) / (n_averaged + 1)

    return swa_update


def _check_params(params: Any) -> None:
    if not isinstance(params, Mapping):
        raise TypeError("params must be a dict of named arrays such as {'W': W, 'b': b}, "
                        f"received {type(params).__name__}")
    if len(params) == 0:
        raise ValueError("params must hold at least one array, received an empty dict")
    for name, p in params.items():
        if not hasattr(p, "shape") or isinstance(p, (int, float)):
            raise TypeError(f"params[{name!r}] must be an array, received {type(p).__name__}")
        if not array_namespace(p).isdtype(p.dtype, "real floating"):
            raise TypeError(f"params[{name!r}] must have a real floating dtype, received {p.dtype}")


class AveragedParams:
    r"""A running average of parameter dicts (``torch.optim.swa_utils.AveragedModel``'s rules).

    ``self.params`` starts as a copy of ``params`` and ``n_averaged`` at 0. Each
    :meth:`update_parameters` copies (when ``n_averaged`` is 0) or averages the given dict into
    ``self.params``, in place, then adds 1 to ``n_averaged``. The rule, with :math:`n` =
    ``n_averaged``:

    - ``avg_fn(avg, p, n)`` returns one array's new average (e.g. :func:`get_ema_avg_fn`);
    - ``multi_avg_fn(avgs, ps, n)`` updates lists of arrays in place (:func:`get_ema_multi_avg_fn`);
    - neither (default): SWA, :math:`\bar\theta \leftarrow \bar\theta + (\theta - \bar\theta)/(n+1)`.

    Passing both is a ValueError (PyTorch: an AssertionError). Every array of the dict is
    averaged, batch normalisation's running statistics included (PyTorch's ``use_buffers=True``);
    for the usual SWA recipe recompute them for the averaged weights with :func:`update_bn`
    afterwards. Arrays of any edulib backend work; an update's arrays must
    match ``self.params`` in keys, library and shapes (other real dtypes are cast, as PyTorch's
    ``copy_`` does) and be finite.
    """

    def __init__(self, params: Mapping[str, Any], avg_fn: Callable | None = None,
                 multi_avg_fn: Callable | None = None) -> None:
        _check_params(params)
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("pass avg_fn or multi_avg_fn, not both: received two averaging functions")
        for name, fn in (("avg_fn", avg_fn), ("multi_avg_fn", multi_avg_fn)):
            if fn is not None:
                chk.check_callable(fn, name, "a function (avg, p, n_averaged) or None")
        self.params = {k: array_namespace(p).asarray(p, copy=True) for k, p in params.items()}
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.n_averaged = 0

    def update_parameters(self, params: Mapping[str, Any]) -> None:
        """Fold ``params`` into the average: copy if ``n_averaged == 0``, else average; count it."""
        new = self._checked(params)
        avgs, ps = list(self.params.values()), [new[k] for k in self.params]
        n = self.n_averaged
        if n == 0:
            for avg, p in zip(avgs, ps, strict=True):
                avg[...] = p
        elif self.multi_avg_fn is not None:
            self.multi_avg_fn(avgs, ps, n)
        elif self.avg_fn is not None:
            for name, avg, p in zip(self.params, avgs, ps, strict=True):
                out = self.avg_fn(avg, p, n)
                if tuple(getattr(out, "shape", ())) != tuple(avg.shape):
                    raise ValueError(f"avg_fn must return an array of the shape of params[{name!r}] "
                                     f"{tuple(avg.shape)}, received {type(out).__name__} of shape "
                                     f"{tuple(getattr(out, 'shape', ()))}")
                avg[...] = out
        else:
            for avg, p in zip(avgs, ps, strict=True):
                avg += (p - avg) / (n + 1)
        self.n_averaged = n + 1

    def _checked(self, params: Any) -> dict[str, Any]:
        """``params`` with the keys, library and shapes of ``self.params``, cast to their dtypes."""
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict of named arrays, received {type(params).__name__}")
        if set(params) != set(self.params):
            raise ValueError(f"params must have the keys {sorted(self.params)}, received {sorted(params)}")
        out = {}
        for name, avg in self.params.items():
            p = params[name]
            try:
                xp = array_namespace(avg, p)
            except TypeError:
                raise TypeError(f"params[{name!r}] must be an array of the library of the average "
                                f"({type(avg).__module__}), received {type(p).__name__}") from None
            chk.check_same_shape(avg, p, f"the average's {name!r}", f"params[{name!r}]")
            if p.dtype != avg.dtype:
                if not xp.isdtype(p.dtype, ("real floating", "integral")):
                    raise TypeError(f"params[{name!r}] must hold real numbers, received {p.dtype}")
                p = xp.astype(p, avg.dtype)
            chk.check_finite(xp, p, f"params[{name!r}]")
            out[name] = p
        return out

    def state_dict(self) -> dict[str, Any]:
        """``{"params": copies of the averaged arrays, "n_averaged": n}`` (the rule is not saved)."""
        return {"params": {k: array_namespace(a).asarray(a, copy=True) for k, a in self.params.items()},
                "n_averaged": self.n_averaged}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (into the existing arrays)."""
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"params", "n_averaged"}:
            got = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict).__name__
            raise ValueError("state_dict must be a dict with keys ['n_averaged', 'params'] (from "
                             f"AveragedParams.state_dict()), received {got}")
        n = chk.check_int(state_dict["n_averaged"], "state_dict['n_averaged']", low=0)
        for name, p in self._checked(state_dict["params"]).items():
            self.params[name][...] = p
        self.n_averaged = n

    def __repr__(self) -> str:
        rule = self.avg_fn or self.multi_avg_fn
        name = "SWA (equal weights)" if rule is None else getattr(rule, "__qualname__", repr(rule))
        return f"AveragedParams(n_averaged={self.n_averaged}, rule={name!r}, keys={list(self.params)})"


def update_bn(model: Any, params: Mapping[str, Any], X: Any, batch_size: int | None = None) -> None:
    r"""Recompute batch normalisation's running statistics in ``params`` (e.g. ``swa.params``)
    with one pass over ``X``, as ``torch.optim.swa_utils.update_bn`` does.

    Averaged weights never ran through the network, so the running statistics averaged with
    them do not describe their activations. Here they are reset (mean 0, variance 1), then each
    batch of ``batch_size`` rows of ``X`` in order (all of ``X`` by default) runs forward in
    training mode and the statistics become the plain average over the batches (PyTorch's
    ``momentum=None``: the :math:`k`-th batch weighs :math:`1/k`). A model without buffers is
    left as it is.
    """
    buffers = getattr(model, "buffer_shapes", None)
    if not buffers:
        return
    _check_params(params)
    missing = sorted(set(buffers) - set(params))
    if missing:
        raise ValueError(f"params must hold the running statistics {sorted(buffers)} to update, "
                         f"missing {missing}")
    xp, params_c, X = model._check_params_X(params, X, True)
    n = X.shape[0]
    batch_size = n if batch_size is None else chk.check_int(batch_size, "batch_size", low=2)
    for name in buffers:
        params[name][...] = 1.0 if name.startswith("running_var") else 0.0
    momentum = model.bn_momentum
    try:
        for k, start in enumerate(range(0, n, batch_size), start=1):
            Xb = X[start:start + batch_size, ...]
            if Xb.shape[0] < 2:
                raise ValueError(f"X's last batch holds 1 row (N={n}, batch_size={batch_size}): "
                                 "batch statistics need more than 1 value per channel, as in PyTorch")
            model.bn_momentum = 1.0 / k
            _, cache, _ = model._run(xp, params, Xb, training=True)
            model._update_buffers(xp, params, cache, Xb.shape[0])
    finally:
        model.bn_momentum = momentum
