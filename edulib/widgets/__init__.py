r"""Interactive dashboards (ipywidgets) that update their figure in place.

Each dashboard function returns a :class:`Dashboard`: an ``ipywidgets.VBox`` (display it, or
make it the last expression of a cell) that also exposes

* ``fig`` and ``artists`` (a dict of the matplotlib artists it updates),
* ``controls`` (the sliders by name) and ``state`` (the numbers currently shown),

so a test can set ``dash.controls["delta"].value = 5.0`` and check that ``artists`` and
``state`` changed as the maths says. Callbacks never re-plot: they move existing artists and
redraw the canvas (see :mod:`edulib.widgets.core`).

One module per chapter:

* ``core``: :class:`Dashboard` and the shared rendering and slider helpers;
* ``ch01``: :func:`huber_delta_dashboard`, :func:`focal_gamma_dashboard`;
* ``ch02``: :func:`gd_dashboard` (gradient descent on a 2-D surface, log-scale learning rate),
  :func:`minibatch_dashboard` (mini-batch SGD on digits: learning rate and batch size);
* ``ch03``: :func:`momentum_dashboard` (heavy ball and Nesterov on a narrow valley) and its
  numbers: :func:`momentum_rate`, :func:`optimal_momentum`, :func:`measured_rate`;
* ``ch04_hessian``: :func:`taylor_dashboard`, :func:`saddle_escape_dashboard`,
  :func:`sharpness_dashboard`; ``ch04_newton``: :func:`lbfgs_memory_dashboard`,
  :func:`softmax_test_dashboard`;
* ``ch05_search``: :func:`search_dashboard` (budget and method over a validation-loss
  surface); ``ch05_bn``: :func:`bn_lr_dashboard` (learning rate with batch norm on or off);
  ``ch05_babysit``: :func:`babysit_dashboard` (the babysitting readings of recorded runs).

Every dashboard that runs an optimizer offers the optimizers of :data:`edulib.optim.OPTIMIZERS`
through one control, :class:`OptimizerChoice`, built from the table
:data:`OPTIMIZER_SLIDERS` (which sliders each optimizer gets).
"""

from .ch01 import focal_gamma_dashboard, focal_share, huber_delta_dashboard
from .ch02 import examples_seen, gd_dashboard, minibatch_checkpoints, minibatch_dashboard
from .ch03 import measured_rate, momentum_dashboard, momentum_rate, optimal_momentum
from .ch04_hessian import saddle_escape_dashboard, sharpness_dashboard, taylor_dashboard
from .ch04_newton import lbfgs_memory_dashboard, softmax_test_dashboard
from .ch05_babysit import babysit_dashboard
from .ch05_bn import bn_lr_dashboard
from .ch05_search import search_dashboard
from .core import OPTIMIZER_SLIDERS, Dashboard, OptimizerChoice

__all__ = ["OPTIMIZER_SLIDERS", "Dashboard", "OptimizerChoice", "babysit_dashboard",
           "bn_lr_dashboard", "examples_seen",
           "focal_gamma_dashboard", "focal_share", "gd_dashboard", "huber_delta_dashboard",
           "measured_rate", "minibatch_checkpoints", "minibatch_dashboard", "momentum_dashboard",
           "momentum_rate", "optimal_momentum", "lbfgs_memory_dashboard", "saddle_escape_dashboard",
           "search_dashboard", "sharpness_dashboard", "softmax_test_dashboard", "taylor_dashboard"]
