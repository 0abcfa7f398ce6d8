"""Per-task gradients: on the shared parameters, on the shared representation, and `backward`."""

from .backward import backward, graph_leaves
from .engine import ParameterSpace, shared_jacobian

__all__ = ["ParameterSpace", "shared_jacobian", "backward", "graph_leaves"]
