"""edulib: the small library behind the course on loss functions and optimization."""

from . import backend, gradcheck, losses
from .backend import array_namespace, rng, to_numpy

__version__ = "0.1.0"
__all__ = ["array_namespace", "backend", "gradcheck", "losses", "rng", "to_numpy"]
