"""Multi-task optimisation methods, registered by name (`method: ls` in config)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import METHODS, Method, StepContext, StepStats, method_hyperparameters, register
from .linear_scalarization import LinearScalarization, SingleTask


def make_method(name: str, params: dict[str, Any] | None = None) -> Method:
    """Build a registered method; unknown names or hyper-parameters raise a ConfigError."""
    import difflib

    params = params or {}
    if name not in METHODS:
        close = difflib.get_close_matches(name, list(METHODS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(METHODS))})"
        raise ConfigError(f"method.name: unknown method '{name}'{hint}")
    cls = METHODS[name]
    known = method_hyperparameters(cls)
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" ({name} takes: {', '.join(known) or 'none'})"
            raise ConfigError(f"method.{key}: unknown hyper-parameter of '{name}'{hint}")
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"method: {name}: {exc}") from None


__all__ = ["METHODS", "Method", "StepContext", "StepStats", "register", "make_method",
           "method_hyperparameters", "LinearScalarization", "SingleTask"]
