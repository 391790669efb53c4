"""edulib: the small library behind the course on loss functions and optimization.

One idea per module; data flows one way: data -> model -> loss -> gradient -> optimizer ->
history -> plot/widget. Plotting and widget modules are imported on demand
(``from edulib import plots, widgets``) so that numeric code never pulls in matplotlib.
"""

from . import backend, data, fitting, functions, gradcheck, landscape, losses, models, optim, train
from .backend import array_namespace, rng, to_numpy

__version__ = "0.1.0"
__all__ = [
    "array_namespace",
    "backend",
    "data",
    "fitting",
    "functions",
    "gradcheck",
    "landscape",
    "losses",
    "models",
    "optim",
    "rng",
    "to_numpy",
    "train",
]
