"""Which dashboards the website shows as static sliders, and over which values.

Each spec names a notebook, the variable its dashboard cell creates (the cell's last line is
that name, as in ``dash = huber_delta_dashboard(...)`` / ``dash``), the edulib imports it needs
and the statements the cell needs from earlier cells. Every such statement must appear verbatim
in a code cell of that notebook, and the dashboard cell itself is run as it is written: the
frames come from the dashboard a reader gets by running the notebook. A spec that no longer
matches its notebook is a build warning (the book's build test fails on any warning).

``grid`` maps a control to a count of values (on the slider's own grid, log-spaced for a log
slider; :func:`edulib.widgets.frames.slider_values`) or to explicit values; several controls
make a grid of every combination.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StaticDashboard:
    key: str                      # folder of its frames, and the HTML ids
    notebook: str                 # relative to the repository root
    name: str                     # the variable the dashboard cell assigns and shows
    imports: str                  # the names the cell and the setup use
    setup: tuple[str, ...]        # statements from earlier cells, each verbatim in the notebook
    grid: dict[str, Any] = field(default_factory=dict)


SPECS: tuple[StaticDashboard, ...] = (
    StaticDashboard(
        "huber-delta", "course/01_losses/01_regression_losses.ipynb", "dash",
        "from edulib import data\nfrom edulib.widgets import huber_delta_dashboard",
        ("x, y, is_outlier = data.regression_with_outliers(seed=0)",),
        {"delta": 16}),
    StaticDashboard(
        "focal-gamma", "course/01_losses/02_classification_losses.ipynb", "fdash",
        "from edulib import data\nfrom edulib.widgets import focal_gamma_dashboard",
        ("imb = data.imbalanced(seed=0)",),
        {"gamma": 26}),
    StaticDashboard(
        "gd-learning-rate", "course/02_gradient_descent/01_gd_learning_rate.ipynb", "dash",
        "from edulib import functions\nfrom edulib.widgets import gd_dashboard",
        (),
        {"lr": 21}),
    StaticDashboard(
        "minibatch", "course/02_gradient_descent/03_minibatch_sgd.ipynb", "dash",
        "from edulib import data\nfrom edulib.widgets import minibatch_dashboard",
        ("split = data.digits()",),
        {"lr": 6, "batch_size": [1, 4, 16, 64, 256]}),
    StaticDashboard(
        "momentum", "course/03_adaptive/01_momentum.ipynb", "dash",
        "from edulib.widgets import momentum_dashboard",
        (),
        {"momentum": [0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99],
         "nesterov": [False, True]}),
    StaticDashboard(
        "adam-surface", "course/03_adaptive/02_adagrad_rmsprop_adam.ipynb", "surface_dash",
        "from edulib import functions\nfrom edulib.widgets import gd_dashboard",
        (),
        {"lr": 17}),
    StaticDashboard(
        "taylor", "course/04_second_order/01_hessian_critical_points.ipynb", "taylor",
        "from edulib import functions\nfrom edulib.widgets.ch04_hessian import taylor_dashboard",
        ("himmel = functions.Himmelblau()",),
        {"x1": [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0],
         "x2": [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0]}),
    StaticDashboard(
        "saddle-escape", "course/04_second_order/01_hessian_critical_points.ipynb",
        "escape_dash",
        "from edulib.widgets.ch04_hessian import saddle_escape_dashboard",
        ("lr = 0.2",),
        {"sigma": 6}),
    StaticDashboard(
        "lbfgs-memory", "course/04_second_order/02_newton_quasi_newton.ipynb", "dash",
        "from edulib import data, models\nfrom edulib import quasi_newton as qn\n"
        "from edulib.widgets.ch04_newton import lbfgs_memory_dashboard",
        ("split = data.digits()",
         "lam = 1e-3",
         "model = models.SoftmaxRegression(64, 10, weight_decay=lam)",
         "p0 = model.init_params(seed=0, scale=0.0)",
         "fun, x0 = qn.model_objective(model, split.X_train, split.y_train, p0)",
         "tight = qn.lbfgs(fun, x0, gtol=1e-10, ftol=0.0)",
         "F_star = tight.fun",
         "bfgs_run = qn.bfgs(fun, x0, gtol=1e-5)"),
        {"m": 4}),
    StaticDashboard(
        "softmax-test", "course/04_second_order/03_precision_and_trust.ipynb", "dash",
        "from edulib.widgets.ch04_newton import softmax_test_dashboard",
        (),
        {"seed": list(range(8)), "n_samples": 5}),
    StaticDashboard(
        "hyperparameter-search", "course/05_in_practice/01_hyperparameter_search.ipynb", "dash",
        "import math\nfrom edulib import data, models, optim, train\nfrom edulib import search as S\n"
        "from edulib.widgets.ch05_search import search_dashboard",
        ("split = data.digits()",
         'SPACE = [S.Real("lr", 1e-4, 1.0, log=True), S.Real("weight_decay", 1e-6, 1e-3, log=True)]',
         "def val_loss(params, seed, optimizer=optim.Adam):\n"
         '    model = models.SoftmaxRegression(64, 10, weight_decay=params["weight_decay"])\n'
         "    theta = model.init_params(seed=seed)\n"
         '    hist = train.train(model, theta, optimizer(theta, lr=params["lr"]), split, epochs=5, '
         "batch_size=64,\n"
         '                       seed=seed, on_diverge="stop")\n'
         "    return math.inf if hist.diverged else hist.val_loss[-1]",
         'TABLE = {"lr": 17, "weight_decay": 7}',
         "table = S.run_trials(val_loss, S.grid(SPACE, TABLE), seeds=[0] * 119)",
         "surface = S.GridSurface(SPACE, TABLE, table.values)"),
        {"budget": [2, 4, 8, 16, 32, 64], "method": ["grid", "random", "sobol", "bayes"]}),
)
