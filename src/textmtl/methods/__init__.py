"""Multi-task optimisation methods, registered by name (`method: ls` in config)."""

from __future__ import annotations

from typing import Any

from ..aggregation import AGGREGATORS, make_aggregator
from ..errors import ConfigError
from ..registry import aggregators, methods, suggest
from .banditmtl import BanditMTL
from .base import METHODS, Method, StepContext, StepStats, method_hyperparameters, register
from .dwa import DynamicWeightAverage
from .famo import FAMO
from .gls import GeometricLossStrategy
from .gradient import GradientMethod
from .gradnorm import GradNorm
from .imtl_l import IMTLL
from .linear_scalarization import LinearScalarization, SingleTask
from .rlw import RandomLossWeighting
from .tchebycheff import Tchebycheff, TchebycheffAdversarial
from .uncertainty_weighting import UncertaintyWeighting


def method_names() -> list[str]:
    """Every name `method:` accepts: the methods and the aggregators (wrapped as gradient methods)."""
    return sorted(set(methods.names()) | set(aggregators.names()))


def make_method(name: str, params: dict[str, Any] | None = None) -> Method:
    """Build a registered method; unknown names or hyper-parameters raise a ConfigError."""
    import difflib

    params = params or {}
    if name not in methods and name in aggregators:
        return _gradient_method(name, params)
    if name not in methods:
        raise ConfigError(f"method.name: unknown method {name!r}{suggest(str(name), method_names())}")
    cls = methods.get(name)
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


def _gradient_method(name: str, params: dict[str, Any]) -> Method:
    params = dict(params)
    adapter = {k: params.pop(k) for k in ("update_every", "backend", "chunk_size") if k in params}
    try:
        aggregator = make_aggregator(name, **params)
        return GradientMethod(aggregator, **adapter)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"method: {name}: {exc}") from None


def describe_methods() -> dict[str, dict[str, Any]]:
    """Every method name with its back-ends, hyper-parameters (with defaults) and a one-line summary."""
    rows = {
        e.name: {"backends": list(e.obj.backends), "hyperparameters": method_hyperparameters(e.obj), "doc": e.summary}
        for e in methods.entries()
    }
    for n, c in AGGREGATORS.items():
        if n in rows:
            continue
        rows[n] = {
            "backends": list(GradientMethod.backends),
            "hyperparameters": {**c.hparam_defaults(), "update_every": 1, "backend": "parameters", "chunk_size": None},
            "doc": (c.__doc__ or "").strip().splitlines()[0],
        }
    return dict(sorted(rows.items()))


__all__ = [
    "METHODS",
    "method_names",
    "Method",
    "StepContext",
    "StepStats",
    "register",
    "make_method",
    "method_hyperparameters",
    "describe_methods",
    "GradientMethod",
    "LinearScalarization",
    "SingleTask",
    "UncertaintyWeighting",
    "BanditMTL",
    "DynamicWeightAverage",
    "RandomLossWeighting",
    "GeometricLossStrategy",
    "Tchebycheff",
    "TchebycheffAdversarial",
    "IMTLL",
    "FAMO",
    "GradNorm",
]
