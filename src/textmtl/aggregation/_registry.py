"""The aggregators' registry (``textmtl.registry.aggregators``), with hyper-parameter validation."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from ..registry import aggregators
from ._base import Aggregator

__all__ = ["AGGREGATORS", "describe", "make_aggregator", "register"]

#: Registered aggregator classes by name (a read-only view of ``textmtl.registry.aggregators``).
AGGREGATORS = aggregators.view()

_A = TypeVar("_A", bound=type[Aggregator])


def register(name: str) -> Callable[[_A], _A]:
    """Class decorator: register an :class:`Aggregator` subclass under ``name``."""

    def decorator(cls: _A) -> _A:
        if not (isinstance(cls, type) and issubclass(cls, Aggregator)):
            raise TypeError(f"@register({name!r}) expects an Aggregator subclass, got {cls!r}")
        aggregators.add(name, cls, settings=None)
        cls.name = name
        return cls

    return decorator


def make_aggregator(name: str, **hparams: Any) -> Aggregator:
    """Instantiate the aggregator registered as ``name`` with keyword hyper-parameters.

    Raises ``ValueError`` (never ``KeyError``) naming the unknown method or the unknown
    hyper-parameters, together with the accepted ones.
    """
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
    cls = AGGREGATORS.get(key)
    if cls is None:
        raise ValueError(f"unknown aggregation method {name!r}; available: {', '.join(sorted(AGGREGATORS))}")
    accepted = cls.hparam_defaults()
    unknown = sorted(set(hparams) - set(accepted))
    if unknown:
        listing = ", ".join(f"{k}={v!r}" for k, v in accepted.items()) or "none"
        raise ValueError(
            f"unknown hyper-parameter(s) {', '.join(unknown)} for method {key!r}; accepted (with defaults): {listing}"
        )
    return cls(**hparams)


def describe() -> dict[str, dict[str, Any]]:
    """For every registered method: summary, hyper-parameters with defaults and flags.

    Suitable for a ``textmtl methods`` listing.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(AGGREGATORS):
        cls = AGGREGATORS[name]
        doc = inspect.getdoc(cls) or ""
        summary = doc.strip().splitlines()[0] if doc.strip() else ""
        instance = cls()
        out[name] = {
            "class": cls.__name__,
            "summary": summary,
            "hparams": dict(cls.hparam_defaults()),
            "requires_losses": instance.requires_losses,
            "stateful": cls.stateful,
            "gramian_only": hasattr(instance, "weights"),
        }
    return out
