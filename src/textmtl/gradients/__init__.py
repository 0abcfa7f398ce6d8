"""Per-task gradients on the shared parameters (the `parameters` back-end)."""

from .engine import ParameterSpace, shared_jacobian

__all__ = ["ParameterSpace", "shared_jacobian"]
