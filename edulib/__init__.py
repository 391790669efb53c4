"""edulib: the small library behind the course on loss functions and optimization.

One idea per module; data flows one way: data -> model -> loss -> gradient -> optimizer ->
history -> plot/widget. Plotting and widget modules are imported on demand
(``from edulib import plots, widgets``) so that numeric code never pulls in matplotlib.
"""

from . import (
    averaging,
    babysit,
    backend,
    data,
    diagnose,
    fitting,
    functions,
    gradcheck,
    hessian,
    landscape,
    losses,
    models,
    optim,
    quasi_newton,
    schedules,
    search,
    spectral,
    train,
)
from .backend import array_namespace, rng, to_numpy

__version__ = "0.1.0"
__all__ = [
    "array_namespace",
    "averaging",
    "babysit",
    "backend",
    "data",
    "diagnose",
    "fitting",
    "functions",
    "gradcheck",
    "hessian",
    "landscape",
    "losses",
    "models",
    "optim",
    "quasi_newton",
    "rng",
    "schedules",
    "search",
    "spectral",
    "to_numpy",
    "train",
]
