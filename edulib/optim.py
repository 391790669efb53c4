r"""Optimizers with PyTorch's exact semantics and defaults, on dicts of named arrays.

Every optimizer shares one interface::

    params = {"W": W, "b": b}              # arrays of any backend (NumPy, CuPy, array_api_strict)
    opt = SGD(params, lr=0.1, momentum=0.9)
    loss, grads = model.loss_and_grad(params, X, y)
    opt.step(grads)                        # updates params["W"], params["b"] IN PLACE
    opt.lr = 0.05                          # hyperparameters are plain attributes

``step`` modifies the arrays themselves (``p -= lr * d``), so the caller's dict, and any other
reference to the same arrays, sees the new values. Per-parameter state (e.g. the momentum
buffer) lives in ``opt.state[name]``; ``zero_state()`` forgets it.

Writing a new optimizer means subclassing :class:`Optimizer`: an ``__init__`` that lists the
hyperparameters with their defaults, an optional ``_validate`` and a per-array ``_update``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import array_namespace

__all__ = ["SGD", "Optimizer"]


class Optimizer:
    """Base class: holds ``params``, the hyperparameters (plain attributes) and ``state``.

    Subclasses call ``super().__init__(params, name=value, ...)`` with every hyperparameter,
    and implement ``_update(p, g, state)``, which changes the array ``p`` in place given its
    gradient ``g`` (already checked: same shape, same backend, ``p``'s dtype) and the dict
    ``state`` kept for that parameter between steps.
    """

    def __init__(self, params: MutableMapping[str, Any], **hyperparams: Any) -> None:
        if not isinstance(params, MutableMapping):
            raise TypeError(
                "params must be a dict of named arrays such as {'W': W, 'b': b}, "
                f"received {type(params).__name__}"
            )
        if len(params) == 0:
            raise ValueError("params must hold at least one array, received an empty dict")
        for name, p in params.items():
            if isinstance(p, (int, float, list, tuple)) or not hasattr(p, "shape"):
                raise TypeError(
                    f"params[{name!r}] must be an array (updated in place), "
                    f"received {type(p).__name__}"
                )
            xp = array_namespace(p)
            if not xp.isdtype(p.dtype, "real floating"):
                raise TypeError(
                    f"params[{name!r}] must have a real floating dtype to be optimized, "
                    f"received {p.dtype}"
                )
        self.params = params
        self._hyper_names = tuple(hyperparams)
        for k, v in hyperparams.items():
            setattr(self, k, v)
        self.state: dict[str, dict[str, Any]] = {name: {} for name in params}
        self.steps = 0
        self._validate()

    # ------------------------------------------------------------------ hyperparameters
    @property
    def hyperparams(self) -> dict[str, Any]:
        """The current hyperparameters, ``{"lr": ..., ...}`` (read from the attributes)."""
        return {k: getattr(self, k) for k in self._hyper_names}

    def _validate(self) -> None:
        """Check the hyperparameters (run at construction and before every step)."""
        chk.check_number(self.lr, "lr", low=0.0)

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams.items())
        return f"{type(self).__name__}({hp})"

    # ------------------------------------------------------------------ the step
    def _checked_grad(self, name: str, p: Any, g: Any) -> Any:
        if not hasattr(g, "shape"):
            raise TypeError(f"grads[{name!r}] must be an array, received {type(g).__name__}")
        try:
            xp = array_namespace(p, g)
        except TypeError:
            raise TypeError(
                f"grads[{name!r}] must be an array of the same library as params[{name!r}] "
                f"({type(p).__module__}.{type(p).__name__}), received "
                f"{type(g).__module__}.{type(g).__name__}"
            ) from None
        if tuple(g.shape) != tuple(p.shape):
            raise ValueError(
                f"grads[{name!r}] must have the shape of params[{name!r}] {tuple(p.shape)}, "
                f"received {tuple(g.shape)}"
            )
        if g.dtype != p.dtype:
            if not xp.isdtype(g.dtype, ("real floating", "integral")):
                raise TypeError(f"grads[{name!r}] must hold real numbers, received {g.dtype}")
            g = xp.astype(g, p.dtype)
        if not bool(xp.all(xp.isfinite(g))):
            raise ValueError(
                f"grads[{name!r}] must be finite, received NaN or inf in an array of shape "
                f"{tuple(g.shape)} (the loss has probably diverged: try a smaller lr)"
            )
        return g

    def step(self, grads: Mapping[str, Any]) -> None:
        """Update every array of ``params`` in place from ``grads`` (a dict with the same keys).

        A gradient that is ``None`` leaves its parameter (and its state) untouched, as in PyTorch.
        """
        if not isinstance(grads, Mapping):
            raise TypeError(f"grads must be a dict of named arrays, received {type(grads).__name__}")
        missing = [k for k in self.params if k not in grads]
        extra = [k for k in grads if k not in self.params]
        if missing or extra:
            raise ValueError(
                f"grads must have the keys of params {sorted(self.params)}, received "
                f"{sorted(grads)} (missing {missing}, unexpected {extra})"
            )
        self._validate()
        checked = {
            k: self._checked_grad(k, self.params[k], grads[k])
            for k in self.params
            if grads[k] is not None
        }
        self.steps += 1
        for k, g in checked.items():
            self._update(self.params[k], g, self.state.setdefault(k, {}))

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def zero_state(self) -> None:
        """Forget the per-parameter state (momentum buffers ...) and the step count."""
        self.state = {name: {} for name in self.params}
        self.steps = 0

    def state_dict(self) -> dict[str, Any]:
        """A copy of ``{"hyperparams": ..., "state": ..., "steps": ...}`` (arrays copied)."""
        state = {}
        for name, st in self.state.items():
            state[name] = {
                k: (array_namespace(v).asarray(v, copy=True) if hasattr(v, "shape")
                    else copy.deepcopy(v))
                for k, v in st.items()
            }
        return {"hyperparams": self.hyperparams, "state": state, "steps": self.steps}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (hyperparameters, state and step count)."""
        if not isinstance(state_dict, Mapping) or not {"hyperparams", "state", "steps"} <= set(
            state_dict
        ):
            got = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict).__name__
            raise ValueError(
                "state_dict must be a dict with keys ['hyperparams', 'state', 'steps'] "
                f"(from opt.state_dict()), received {got}"
            )
        for k, v in state_dict["hyperparams"].items():
            if k not in self._hyper_names:
                raise ValueError(
                    f"state_dict holds hyperparameter {k!r}, which {type(self).__name__} lacks "
                    f"(it has {list(self._hyper_names)})"
                )
            setattr(self, k, v)
        restored = {}
        for name, st in state_dict["state"].items():
            restored[name] = {
                k: (array_namespace(v).asarray(v, copy=True) if hasattr(v, "shape")
                    else copy.deepcopy(v))
                for k, v in st.items()
            }
        self.state = {name: restored.get(name, {}) for name in self.params}
        self.steps = int(state_dict["steps"])
        self._validate()


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum, exactly as ``torch.optim.SGD``.

    With gradient :math:`g_t`, learning rate :math:`\eta` (``lr``), momentum :math:`\mu`,
    dampening :math:`\tau` and weight decay :math:`\lambda`:

    .. math::
        g_t &\leftarrow -g_t \ \text{if maximize}, \qquad g_t \leftarrow g_t + \lambda\,\theta_{t-1}\\
        b_t &= \mu\, b_{t-1} + (1-\tau)\, g_t \quad (b_1 = g_1)\\
        d_t &= g_t + \mu\, b_t \ \text{(Nesterov)} \quad\text{or}\quad d_t = b_t\\
        \theta_t &= \theta_{t-1} - \eta\, d_t

    With ``momentum=0`` this is plain (mini-batch) gradient descent :math:`\theta_t =
    \theta_{t-1} - \eta g_t`. The momentum buffer lives in ``opt.state[name]["momentum_buffer"]``.
    """

    def __init__(self, params: MutableMapping[str, Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)

    def _validate(self) -> None:
        super()._validate()
        chk.check_number(self.momentum, "momentum", low=0.0)
        chk.check_number(self.dampening, "dampening")
        chk.check_number(self.weight_decay, "weight_decay", low=0.0)
        for flag in ("nesterov", "maximize"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"{flag} must be True or False, received {getattr(self, flag)!r}")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                "nesterov=True requires momentum > 0 and dampening = 0, received "
                f"momentum={self.momentum!r}, dampening={self.dampening!r}"
            )

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:
        xp = array_namespace(p)
        lr, mu, wd = float(self.lr), float(self.momentum), float(self.weight_decay)
        if self.maximize:
            g = -g
        if wd != 0:
            g = g + wd * p
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = xp.asarray(g, copy=True)
                state["momentum_buffer"] = buf
            else:
                buf *= mu
                buf += (1.0 - float(self.dampening)) * g
            g = g + mu * buf if self.nesterov else buf
        p -= lr * g
