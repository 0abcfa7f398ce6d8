"""Per-task gradients: on the shared parameters, on the shared representation, and `backward`."""

from .backward import Backward, backward, graph_leaves
from .engine import ParameterSpace, shared_jacobian

__all__ = ["ParameterSpace", "shared_jacobian", "Backward", "backward", "graph_leaves"]
