r"""Optimizers with PyTorch's exact semantics and defaults, on dicts of named arrays.

Every optimizer shares one interface::

    params = {"W": W, "b": b}              # arrays of any backend (NumPy, CuPy, array_api_strict)
    opt = SGD(params, lr=0.1, momentum=0.9)
    loss, grads = model.loss_and_grad(params, X, y)
    opt.step(grads)                        # updates params["W"], params["b"] IN PLACE
    opt.lr = 0.05                          # hyperparameters are plain attributes

``step`` modifies the arrays themselves (``p -= lr * d``), so the caller's dict, and any other
reference to the same arrays, sees the new values. Per-parameter state (e.g. the momentum
buffer, Adam's moments and step count) lives in ``opt.state[name]`` under PyTorch's names;
``zero_state()`` forgets it. ``OPTIMIZERS`` maps each optimizer's name to its class.

Steps run in place with no parameter-sized temporaries: every intermediate result goes into
one reusable scratch array per parameter shape (two for NAdam and Adadelta;
``backend.apply_into`` writes ``np.sqrt(v, out=s)`` on NumPy/CuPy and falls back to in-place
operators elsewhere). The only exception: ``maximize=True`` or an L2 ``weight_decay`` (added
to the gradient) form the effective gradient :math:`\pm g_t + \lambda\theta_{t-1}` as one new
array per step, as PyTorch does.
Large NumPy arrays are updated in cache-sized blocks of views (``Optimizer.BLOCK`` elements):
the same arithmetic, a few times faster, and the scratch and that exception shrink to a block.

Writing a new optimizer means subclassing :class:`Optimizer`: an ``__init__`` that lists the
hyperparameters with their defaults, an optional ``_validate`` and a per-array ``_update``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np

from . import _checks as chk
from .backend import apply_into, array_namespace

__all__ = ["OPTIMIZERS", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "NAdam", "Optimizer",
           "RMSprop"]


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
        self._scratches: dict[tuple, Any] = {}
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
        # the sum of finite numbers is finite unless it overflows, and one NaN/inf makes it
        # NaN/inf: a fast test without a boolean temporary, confirmed exactly when it fails
        if not bool(xp.isfinite(xp.sum(g))) and not bool(xp.all(xp.isfinite(g))):
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
            p, state = self.params[k], self.state.setdefault(k, {})
            if self._can_update_in_blocks(p, g, state):
                self._update_in_blocks(p, g, state)
            else:
                self._update(p, g, state)

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------------ NumPy fast path
    #: elements per block (256 KiB of float32): the dozen passes of a step stay in the CPU cache
    BLOCK = 65536

    def _state_arrays(self) -> tuple[str, ...] | None:
        """Names of the state arrays ``_update`` needs under the current hyperparameters.

        ``None`` (the default) means "unknown": such an optimizer is never run in blocks.
        """
        return None

    def _can_update_in_blocks(self, p: Any, g: Any, state: dict[str, Any]) -> bool:
        names = self._state_arrays()
        if names is None or not isinstance(p, np.ndarray) or p.size < 2 * self.BLOCK:
            return False
        arrays = [p, g] + [state.get(k) for k in names]
        return all(isinstance(a, np.ndarray) and a.shape == p.shape and a.dtype == p.dtype
                   and a.flags.c_contiguous for a in arrays)

    def _update_in_blocks(self, p: Any, g: Any, state: dict[str, Any]) -> None:
        """Run ``_update`` on consecutive slices of NumPy arrays (views, so still in place).

        A step is a dozen elementwise passes (``s = g - m``, ``s *= c``, ``m += s`` ...). On
        a large array each pass streams it through memory; on a 256 KiB block the passes run in
        the CPU cache and memory is read and written about once, which is what a fused kernel
        achieves. Scalars in the state (``"step"``) are the same for every block.
        """
        flat = {k: v.reshape(-1) for k, v in state.items() if isinstance(v, np.ndarray)
                and v.shape == p.shape}
        scalars = {k: v for k, v in state.items() if k not in flat}
        p_flat, g_flat = p.reshape(-1), g.reshape(-1)
        for start in range(0, p_flat.size, self.BLOCK):
            block = slice(start, start + self.BLOCK)
            block_state = {**scalars, **{k: v[block] for k, v in flat.items()}}
            self._update(p_flat[block], g_flat[block], block_state)
        state.update({k: block_state[k] for k in scalars})

    # ------------------------------------------------------------------ helpers for _update
    def _scratch(self, p: Any, slot: int = 0) -> Any:
        """A reusable work array shaped like ``p`` (its content is garbage between uses).

        One per distinct (shape, dtype, device, array type): parameters are updated one after
        the other, so parameters of the same shape can share it. An update that needs two
        intermediate arrays at once (NAdam, Adadelta) asks for a second one with ``slot=1``.
        """
        key = (type(p), tuple(p.shape), p.dtype, getattr(p, "device", None), slot)
        s = self._scratches.get(key)
        if s is None:
            s = array_namespace(p).empty_like(p)
            self._scratches[key] = s
        return s

    def _effective_grad(self, p: Any, g: Any, weight_decay: float) -> Any:
        r""":math:`\pm g + \lambda\theta`: ``g`` itself (no copy) unless maximize or decay apply."""
        if weight_decay != 0:
            d = array_namespace(p).multiply(p, weight_decay)  # λθ, a new array
            if self.maximize:
                d -= g
            else:
                d += g
            return d
        return -g if self.maximize else g

    def _decay(self, p: Any, g: Any, lr: float, wd: float, decoupled: bool) -> Any:
        r"""Weight decay: decoupled, :math:`\theta \leftarrow \theta(1 - \eta\lambda)` in place (AdamW),
        or coupled, :math:`g \leftarrow g + \lambda\theta`; returns the gradient to use."""
        if decoupled:
            if wd != 0:
                p *= 1.0 - lr * wd                              # θ ← θ (1 - ηλ)
            return self._effective_grad(p, g, 0.0)
        return self._effective_grad(p, g, wd)                   # g ← g + λθ

    def _check_flags(self, *names: str) -> None:
        """Each flag as a bool: True/False (Python or NumPy) or 0/1; a string is refused."""
        for flag in names:
            setattr(self, flag, chk.check_bool(getattr(self, flag), flag))

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
        self._check_flags("nesterov", "maximize")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                "nesterov=True requires momentum > 0 and dampening = 0, received "
                f"momentum={self.momentum!r}, dampening={self.dampening!r}"
            )

    def _state_arrays(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum != 0 else ()

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:
        lr, mu, tau = float(self.lr), float(self.momentum), float(self.dampening)
        g = self._effective_grad(p, g, float(self.weight_decay))
        s = self._scratch(p)
        d = g
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # b_1 = g_1 (no dampening on the first step)
                buf = array_namespace(p).asarray(g, copy=True)
                state["momentum_buffer"] = buf
            else:  # b_t = μ b_{t-1} + (1-τ) g_t
                buf *= mu
                buf += g if tau == 0 else apply_into(s, "multiply", g, 1.0 - tau)
            if self.nesterov:  # d_t = g_t + μ b_t
                d = apply_into(s, "multiply", buf, mu)
                d += g
            else:
                d = buf
        p -= apply_into(s, "multiply", d, lr)  # θ_t = θ_{t-1} - η d_t


def _check_beta(value: Any, name: str) -> None:
    chk.check_number(value, name, low=0.0, high=1.0, high_open=True)


def _check_betas(betas: Any) -> None:
    """``betas`` as PyTorch's Adam family takes it: a pair with each entry in [0, 1)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(
            f"betas must be a pair (beta1, beta2) with each in [0, 1), received {betas!r}"
        )
    _check_beta(betas[0], "betas[0] (beta1)")
    _check_beta(betas[1], "betas[1] (beta2)")


class Adagrad(Optimizer):
    r"""AdaGrad, exactly as ``torch.optim.Adagrad``: every coordinate gets its own step size.

    With gradient :math:`g_t`, learning rate :math:`\eta` (``lr``), decay :math:`\gamma`
    (``lr_decay``), weight decay :math:`\lambda` and :math:`\epsilon` (``eps``), step
    :math:`t = 1, 2, \dots`, all operations elementwise:

    .. math::
        g_t &\leftarrow -g_t \ \text{if maximize}, \qquad g_t \leftarrow g_t + \lambda\,\theta_{t-1}\\
        \tilde\eta_t &= \eta \,/\, \bigl(1 + (t-1)\,\gamma\bigr)\\
        G_t &= G_{t-1} + g_t^2 \qquad (G_0 = \text{initial\_accumulator\_value})\\
        \theta_t &= \theta_{t-1} - \tilde\eta_t\, \frac{g_t}{\sqrt{G_t} + \epsilon}

    The sum of squares only grows, so the effective step :math:`\tilde\eta_t/(\sqrt{G_t}+\epsilon)`
    shrinks like :math:`1/\sqrt t` for gradients of steady size. State (PyTorch's names,
    created at construction as PyTorch does): ``"step"`` (a float) and ``"sum"`` (:math:`G_t`).
    """

    def __init__(self, params: MutableMapping[str, Any], lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, maximize: bool = False) -> None:
        super().__init__(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps,
                         maximize=maximize)
        self._init_state()

    def _init_state(self) -> None:
        for name, p in self.params.items():
            st = self.state.setdefault(name, {})
            if "sum" not in st:
                xp = array_namespace(p)
                st["step"] = 0.0
                st["sum"] = xp.full_like(p, float(self.initial_accumulator_value))

    def zero_state(self) -> None:
        """Forget the state: step counts back to 0, ``sum`` back to ``initial_accumulator_value``."""
        super().zero_state()
        self._init_state()

    def _validate(self) -> None:
        super()._validate()
        chk.check_number(self.lr_decay, "lr_decay", low=0.0)
        chk.check_number(self.weight_decay, "weight_decay", low=0.0)
        chk.check_number(self.initial_accumulator_value, "initial_accumulator_value", low=0.0)
        chk.check_number(self.eps, "eps", low=0.0)
        self._check_flags("maximize")

    def _state_arrays(self) -> tuple[str, ...]:
        return ("sum",)

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:
        if "sum" not in state:  # e.g. after load_state_dict of an empty state
            state["step"] = 0.0
            state["sum"] = array_namespace(p).full_like(p, float(self.initial_accumulator_value))
        state["step"] += 1
        step = state["step"]
        g = self._effective_grad(p, g, float(self.weight_decay))
        clr = float(self.lr) / (1 + (step - 1) * float(self.lr_decay))
        s = self._scratch(p)
        state["sum"] += apply_into(s, "multiply", g, g)        # G_t = G_{t-1} + g²
        apply_into(s, "sqrt", state["sum"])                     # s = √G_t + ε
        s += float(self.eps)
        apply_into(s, "divide", g, s)                           # s = g / (√G_t + ε)
        s *= clr
        p -= s                                                  # θ_t = θ_{t-1} - η̃ s


class RMSprop(Optimizer):
    r"""RMSProp, exactly as ``torch.optim.RMSprop``: AdaGrad with a moving average of :math:`g^2`.

    With gradient :math:`g_t`, learning rate :math:`\eta` (``lr``), smoothing :math:`\alpha`,
    momentum :math:`\mu`, weight decay :math:`\lambda` and :math:`\epsilon` (``eps``), all
    operations elementwise, :math:`v_0 = \bar g_0 = b_0 = 0`:

    .. math::
        g_t &\leftarrow -g_t \ \text{if maximize}, \qquad g_t \leftarrow g_t + \lambda\,\theta_{t-1}\\
        v_t &= \alpha\, v_{t-1} + (1-\alpha)\, g_t^2\\
        \bar g_t &= \alpha\, \bar g_{t-1} + (1-\alpha)\, g_t, \qquad
        \tilde v_t = v_t - \bar g_t^2 \ \text{(centered)} \quad\text{or}\quad \tilde v_t = v_t\\
        b_t &= \mu\, b_{t-1} + \frac{g_t}{\sqrt{\tilde v_t} + \epsilon}, \qquad
        \theta_t = \theta_{t-1} - \eta\, b_t
        \quad\Bigl(\text{without momentum: } \theta_t = \theta_{t-1} - \eta\,
        \frac{g_t}{\sqrt{\tilde v_t} + \epsilon}\Bigr)

    Old gradients fade with weight :math:`\alpha^k`, so, unlike AdaGrad, the step does not
    vanish. State (PyTorch's names): ``"step"`` (a float), ``"square_avg"`` (:math:`v_t`),
    ``"momentum_buffer"`` (:math:`b_t`, when ``momentum > 0``), ``"grad_avg"``
    (:math:`\bar g_t`, when ``centered``). Switching ``centered`` or ``momentum`` on after some
    steps starts that buffer at zero (``torch.optim.RMSprop`` stops with a ``KeyError`` there).
    """

    def __init__(self, params: MutableMapping[str, Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, maximize: bool = False) -> None:
        super().__init__(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, centered=centered, maximize=maximize)

    def _validate(self) -> None:
        super()._validate()
        chk.check_number(self.alpha, "alpha", low=0.0, high=1.0)
        chk.check_number(self.eps, "eps", low=0.0)
        chk.check_number(self.weight_decay, "weight_decay", low=0.0)
        chk.check_number(self.momentum, "momentum", low=0.0)
        self._check_flags("centered", "maximize")

    def _state_arrays(self) -> tuple[str, ...]:
        return (("square_avg",) + ("grad_avg",) * bool(self.centered)
                + ("momentum_buffer",) * (self.momentum > 0))

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:
        if "step" not in state:
            xp = array_namespace(p)
            state["step"] = 0.0
            state["square_avg"] = xp.zeros_like(p)
            if self.centered:
                state["grad_avg"] = xp.zeros_like(p)
            if self.momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p)
        state["step"] += 1
        lr, alpha, mu = float(self.lr), float(self.alpha), float(self.momentum)
        g = self._effective_grad(p, g, float(self.weight_decay))
        s = self._scratch(p)
        v = state["square_avg"]                                 # v_t = α v_{t-1} + (1-α) g²
        v *= alpha
        apply_into(s, "multiply", g, g)
        s *= 1.0 - alpha
        v += s
        if self.centered:                                       # ḡ_t = ḡ_{t-1} + (1-α)(g - ḡ_{t-1})
            if "grad_avg" not in state:  # centered switched on after the first step
                state["grad_avg"] = array_namespace(p).zeros_like(p)
            gbar = state["grad_avg"]
            apply_into(s, "subtract", g, gbar)
            s *= 1.0 - alpha
            gbar += s
            apply_into(s, "multiply", gbar, gbar)               # s = √(v - ḡ²)
            apply_into(s, "subtract", v, s)
            apply_into(s, "sqrt", s)
        else:
            apply_into(s, "sqrt", v)                            # s = √v
        s += float(self.eps)
        apply_into(s, "divide", g, s)                           # s = g / (√ṽ + ε)
        if mu > 0:                                              # b_t = μ b_{t-1} + s
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = array_namespace(p).zeros_like(p)
            buf = state["momentum_buffer"]
            buf *= mu
            buf += s
            apply_into(s, "multiply", buf, lr)
        else:
            s *= lr
        p -= s                                                  # θ_t = θ_{t-1} - η s



def _update_moments(s: Any, g: Any, m: Any, v: Any, beta1: float, beta2: float) -> None:
    r"""Adam's moment estimates in place (``s`` is scratch): :math:`m \leftarrow m + (1-\beta_1)
    (g - m)`, :math:`v \leftarrow \beta_2 v + (1-\beta_2) g^2`, in torch's rounding order."""
    apply_into(s, "subtract", g, m)                             # m_t = m + (1-β1)(g - m)
    s *= 1.0 - beta1
    m += s
    v *= beta2                                                  # v_t = β2 v + (1-β2) g²
    apply_into(s, "multiply", g, g)
    s *= 1.0 - beta2
    v += s

class Adam(Optimizer):
    r"""Adam, exactly as ``torch.optim.Adam``: momentum plus RMSProp scaling, bias-corrected.

    With gradient :math:`g_t`, learning rate :math:`\eta` (``lr``), ``betas`` :math:`(\beta_1,
    \beta_2)`, :math:`\epsilon` (``eps``) and weight decay :math:`\lambda` (an L2 term added to
    the gradient), step :math:`t = 1, 2, \dots`, all operations elementwise, :math:`m_0 = v_0 = 0`:

    .. math::
        g_t &\leftarrow -g_t \ \text{if maximize}, \qquad g_t \leftarrow g_t + \lambda\,\theta_{t-1}\\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2\\
        \hat m_t &= \frac{m_t}{1-\beta_1^t}, \qquad \hat v_t = \frac{v_t}{1-\beta_2^t}
        \qquad (\text{amsgrad: } v_t \leftarrow \max(v_{t-1}^{\max}, v_t))\\
        \theta_t &= \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    Computed as PyTorch's single-tensor path does, with :math:`\epsilon` outside the root:
    ``denom = sqrt(v) / sqrt(1 - β2**t) + eps`` and ``step_size = lr / (1 - β1**t)``. At
    :math:`t = 1`, :math:`\hat m_1 / \sqrt{\hat v_1} = g_1/|g_1|`, so the first step moves every
    coordinate by about :math:`\eta` against the sign of its gradient. State (PyTorch's names):
    ``"step"`` (a float), ``"exp_avg"`` (:math:`m_t`), ``"exp_avg_sq"`` (:math:`v_t`),
    ``"max_exp_avg_sq"`` (when ``amsgrad``). Switching ``amsgrad`` on after some steps starts
    ``max_exp_avg_sq`` at zero, the state PyTorch creates for a fresh parameter (where
    ``torch.optim.Adam`` itself stops with ``KeyError: 'max_exp_avg_sq'``), so the first
    AMSGrad step equals a plain Adam step and the running maximum starts there.
    """

    _decoupled = False  # AdamW sets True: θ ← θ(1 - ηλ) instead of adding λθ to g

    def __init__(self, params: MutableMapping[str, Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)

    def _validate(self) -> None:
        super()._validate()
        _check_betas(self.betas)
        chk.check_number(self.eps, "eps", low=0.0)
        chk.check_number(self.weight_decay, "weight_decay", low=0.0)
        self._check_flags("amsgrad", "maximize")

    def _state_arrays(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq") + ("max_exp_avg_sq",) * bool(self.amsgrad)

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:
        if "step" not in state:
            xp = array_namespace(p)
            state["step"] = 0.0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
            if self.amsgrad:
                state["max_exp_avg_sq"] = xp.zeros_like(p)
        state["step"] += 1
        step = state["step"]
        lr, wd, eps = float(self.lr), float(self.weight_decay), float(self.eps)
        beta1, beta2 = float(self.betas[0]), float(self.betas[1])
        g = self._decay(p, g, lr, wd, self._decoupled)
        s = self._scratch(p)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        _update_moments(s, g, m, v, beta1, beta2)

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        if self.amsgrad:
            if "max_exp_avg_sq" not in state:  # amsgrad switched on after the first step
                state["max_exp_avg_sq"] = array_namespace(p).zeros_like(p)
            v = apply_into(state["max_exp_avg_sq"], "maximum", state["max_exp_avg_sq"], v)
        apply_into(s, "sqrt", v)                                # s = √v / √(1-β2^t) + ε
        s /= bias_correction2_sqrt
        s += eps
        apply_into(s, "divide", m, s)                           # s = m / s
        s *= step_size
        p -= s                                                  # θ_t = θ_{t-1} - η/(1-β1^t) s


class AdamW(Adam):
    r"""AdamW, exactly as ``torch.optim.AdamW``: Adam with *decoupled* weight decay.

    The same moments, bias correction and step as :class:`Adam`, but the decay is applied to
    the weights directly, before the Adam step, instead of being added to the gradient:

    .. math::
        \theta_{t-1} &\leftarrow \theta_{t-1}\,(1 - \eta\lambda)\\
        \theta_t &= \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}
        \qquad (m_t, v_t \text{ from } g_t \text{ alone})

    With L2 in the gradient (Adam), the decay :math:`\lambda\theta` is divided by
    :math:`\sqrt{\hat v_t}` like the rest of the gradient, so weights with large gradients are
    barely decayed; AdamW shrinks every weight by the same factor. Default ``weight_decay=1e-2``.
    """

    _decoupled = True

    def __init__(self, params: MutableMapping[str, Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)


class NAdam(Optimizer):
    r"""NAdam, exactly as ``torch.optim.NAdam``: Adam with Nesterov momentum (Dozat, 2016).

    With gradient :math:`g_t`, learning rate :math:`\eta` (``lr``), ``betas`` :math:`(\beta_1,
    \beta_2)`, :math:`\epsilon` (``eps``), weight decay :math:`\lambda` and momentum decay
    :math:`\psi` (``momentum_decay``), step :math:`t = 1, 2, \dots`, all operations
    elementwise, :math:`m_0 = v_0 = 0`, :math:`\Pi_0 = 1`:

    .. math::
        g_t &\leftarrow -g_t \ \text{if maximize}, \qquad g_t \leftarrow g_t + \lambda\,\theta_{t-1}
        \quad\bigl(\text{decoupled: } \theta_{t-1} \leftarrow \theta_{t-1}(1 - \eta\lambda)\bigr)\\
        \mu_t &= \beta_1\bigl(1 - \tfrac12\, 0.96^{\,t\psi}\bigr), \qquad
        \Pi_t = \Pi_{t-1}\,\mu_t \quad (\text{the momentum cache and its running product})\\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2, \qquad
        d_t = \sqrt{v_t / (1-\beta_2^t)} + \epsilon\\
        \theta_t &= \theta_{t-1} - \eta\,\frac{1-\mu_t}{1-\Pi_t}\,\frac{g_t}{d_t}
        - \eta\,\frac{\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\,\frac{m_t}{d_t}

    Nesterov's idea inside Adam: the step uses the momentum *of the next step*,
    :math:`\mu_{t+1} m_t`, plus the share :math:`1-\mu_t` of the fresh gradient, each
    bias-corrected by its own product of the :math:`\mu`'s (where Adam divides by
    :math:`1-\beta_1^t`). The cache :math:`\mu_t` warms up from :math:`\beta_1/2` towards
    :math:`\beta_1` (slowly: with :math:`\psi = 0.004`, :math:`\mu_t` is :math:`0.9\,(1 -
    0.5 \cdot 0.96^{0.004 t})`, 0.45 at the start and 0.81 after 10 000 steps).
    ``decoupled_weight_decay=True`` decays the weights as AdamW does (PyTorch's "NAdamW").
    Computed as PyTorch's single-tensor path does: the two terms are subtracted one after the
    other. State (PyTorch's names): ``"step"`` (a float), ``"mu_product"`` (:math:`\Pi_t`, a
    float), ``"exp_avg"`` (:math:`m_t`), ``"exp_avg_sq"`` (:math:`v_t`). PyTorch keeps
    :math:`\Pi_t` in a tensor of its default dtype, float32 unless
    ``torch.set_default_dtype(torch.float64)``: edulib's float64 :math:`\Pi_t` gives PyTorch's
    steps under a float64 default, and differs from a float32 default by that rounding only
    (about 1e-10 relative in the parameters over 60 steps).
    """

    def __init__(self, params: MutableMapping[str, Any], lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         momentum_decay=momentum_decay,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)

    def _validate(self) -> None:
        super()._validate()
        _check_betas(self.betas)
        chk.check_number(self.eps, "eps", low=0.0)
        chk.check_number(self.weight_decay, "weight_decay", low=0.0)
        chk.check_number(self.momentum_decay, "momentum_decay", low=0.0)
        self._check_flags("decoupled_weight_decay", "maximize")

    def _state_arrays(self) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq")

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:
        if "step" not in state:
            xp = array_namespace(p)
            state["step"] = 0.0
            state["mu_product"] = 1.0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
        state["step"] += 1
        step = state["step"]
        lr, wd, eps = float(self.lr), float(self.weight_decay), float(self.eps)
        beta1, beta2, psi = float(self.betas[0]), float(self.betas[1]), float(self.momentum_decay)
        g = self._decay(p, g, lr, wd, self.decoupled_weight_decay)
        bias_correction2 = 1 - beta2**step
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))           # μ_t
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))  # μ_{t+1}
        state["mu_product"] *= mu                               # Π_t = Π_{t-1} μ_t
        mu_product = state["mu_product"]
        s, d = self._scratch(p), self._scratch(p, 1)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        _update_moments(s, g, m, v, beta1, beta2)
        apply_into(d, "divide", v, bias_correction2)            # d = √(v / (1-β2^t)) + ε
        apply_into(d, "sqrt", d)
        d += eps
        apply_into(s, "multiply", g, lr * (1.0 - mu) / (1.0 - mu_product))
        s /= d
        p -= s                                                  # the fresh gradient's share
        apply_into(s, "multiply", m, lr * mu_next / (1.0 - mu_product * mu_next))
        s /= d
        p -= s                                                  # the look-ahead momentum


class Adadelta(Optimizer):
    r"""Adadelta, exactly as ``torch.optim.Adadelta``: RMSProp whose step carries its own units.

    With gradient :math:`g_t`, decay :math:`\rho` (``rho``), :math:`\epsilon` (``eps``),
    weight decay :math:`\lambda` and a multiplier :math:`\eta` (``lr``), all operations
    elementwise, :math:`v_0 = u_0 = 0`:

    .. math::
        g_t &\leftarrow -g_t \ \text{if maximize}, \qquad g_t \leftarrow g_t + \lambda\,\theta_{t-1}\\
        v_t &= \rho\, v_{t-1} + (1-\rho)\, g_t^2\\
        \Delta_t &= \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\; g_t, \qquad
        u_t = \rho\, u_{t-1} + (1-\rho)\, \Delta_t^2\\
        \theta_t &= \theta_{t-1} - \eta\, \Delta_t

    Zeiler (2012) has no learning rate: :math:`v` averages squared gradients and :math:`u`
    squared updates, so :math:`\sqrt{u}/\sqrt{v}` has the units of :math:`\theta` over those of
    :math:`g` (a diagonal inverse curvature, as in Newton's step) and :math:`\Delta_t` already
    has the units of :math:`\theta`. PyTorch multiplies it by ``lr``, default 1.0: the paper's
    method. ``eps`` both starts the updates (:math:`\sqrt{\epsilon}` while :math:`u = 0`) and
    sets their early size; with ``eps=0``, which PyTorch accepts, :math:`u` stays 0 and the
    parameters never move. State (PyTorch's names): ``"step"`` (a float), ``"square_avg"``
    (:math:`v_t`), ``"acc_delta"`` (:math:`u_t`).
    """

    def __init__(self, params: MutableMapping[str, Any], lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0, maximize: bool = False) -> None:
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                         maximize=maximize)

    def _validate(self) -> None:
        super()._validate()
        chk.check_number(self.rho, "rho", low=0.0, high=1.0)
        chk.check_number(self.eps, "eps", low=0.0)
        chk.check_number(self.weight_decay, "weight_decay", low=0.0)
        self._check_flags("maximize")

    def _state_arrays(self) -> tuple[str, ...]:
        return ("square_avg", "acc_delta")

    def _update(self, p: Any, g: Any, state: dict[str, Any]) -> None:
        if "step" not in state:
            xp = array_namespace(p)
            state["step"] = 0.0
            state["square_avg"] = xp.zeros_like(p)
            state["acc_delta"] = xp.zeros_like(p)
        state["step"] += 1
        lr, rho, eps = float(self.lr), float(self.rho), float(self.eps)
        g = self._effective_grad(p, g, float(self.weight_decay))
        s, std = self._scratch(p), self._scratch(p, 1)
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho                                                # v_t = ρ v + (1-ρ) g²
        apply_into(s, "multiply", g, 1.0 - rho)
        s *= g
        v += s
        apply_into(std, "add", v, eps)                          # √(v_t + ε)
        apply_into(std, "sqrt", std)
        apply_into(s, "add", u, eps)                            # Δ = √(u + ε) / √(v_t + ε) g
        apply_into(s, "sqrt", s)
        s /= std
        s *= g
        u *= rho                                                # u_t = ρ u + (1-ρ) Δ²
        apply_into(std, "multiply", s, 1.0 - rho)
        std *= s
        u += std
        if lr != 1.0:
            s *= lr
        p -= s                                                  # θ_t = θ_{t-1} - η Δ_t


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "SGD": SGD,
    "Adagrad": Adagrad,
    "RMSprop": RMSprop,
    "Adam": Adam,
    "AdamW": AdamW,
    "NAdam": NAdam,
    "Adadelta": Adadelta,
}
