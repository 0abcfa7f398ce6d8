"""Gradient methods: per-task gradients, combined by an aggregator.

Every aggregator of `textmtl.aggregation` (MGDA, PCGrad, CAGrad, Nash-MTL, GetMTL, ...) becomes a
training method through this one adapter. Back-ends (`backend:` in config):
- `parameters` (default): the K x P Jacobian on the shared parameters (`gradients.engine`);
- `representation`: the rows are gradients w.r.t. the shared representation, and the combined
  row is pushed through the encoder in one backward pass (`gradients.representation`; an
  approximation, see there).
Every task's own parameters keep their plain gradient. `update_every: T` reuses the weights of
Gram-weighted aggregators for T steps (Nash-MTL-T, Navon et al. 2022 §6.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..aggregation import Aggregator, GramianWeightedAggregator
from ..gradients import ParameterSpace, shared_jacobian
from ..gradients.diagnostics import gradient_diagnostics
from ..gradients.representation import representation_jacobian
from .base import Method, StepContext, StepStats


class GradientMethod(Method):
    """Adapter from an Aggregator to the Method interface (back-end `parameters`)."""

    backends = ("parameters", "representation")

    def __init__(self, aggregator: Aggregator, *, update_every: int = 1, backend: str = "parameters",
                 chunk_size: int | None = None) -> None:
        if update_every < 1:
            raise ValueError(f"update_every must be >= 1, got {update_every}")
        if backend not in self.backends:
            raise ValueError(f"backend must be one of {', '.join(self.backends)}, got {backend!r}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.aggregator = aggregator
        self.backend = backend
        self.chunk_size = chunk_size  # batched VJP rows when tasks share a forward pass
        self.name = aggregator.name  # type: ignore[misc]  # instance-level: one adapter, many methods
        self.update_every = update_every
        self._space: ParameterSpace | None = None
        self._weights: torch.Tensor | None = None

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        model = ctx.model
        own = {t: model.task_parameters(t) for t in losses}
        if self.backend == "representation":
            jac, rep_space = representation_jacobian(losses, {t: ctx.outputs[t].representation for t in losses}, own)
        else:
            if self._space is None:
                self._space = ParameterSpace(model.shared_parameters())
            # retain: tasks may share a forward pass (several heads on one batch); keeping the graphs
            # until the step ends costs no peak memory, since all of them exist after the forward passes
            shares_inputs = len({id(o.representation) for o in ctx.outputs.values()}) < len(ctx.outputs)
            jac = shared_jacobian(losses, self._space, own, retain=True,
                                  chunk_size=self.chunk_size if shares_inputs else None)
        loss_vec = torch.stack([l.detach() for l in losses.values()]).to(jac.dtype)
        reuse = (self.update_every > 1 and isinstance(self.aggregator, GramianWeightedAggregator)
                 and self._weights is not None and len(self._weights) == len(losses)
                 and (ctx.step - 1) % self.update_every != 0)
        if reuse:
            direction = self._weights @ jac
        else:
            direction = self.aggregator(jac, losses=loss_vec if self.aggregator.requires_losses else None)
            self._weights = self.aggregator.last_weights
        if self.backend == "representation":
            rep_space.backward(direction)
        elif self._space.size:
            # accumulate: an architecture's auxiliary loss (ASP-MTL) may already have put gradients there
            self._space.write_grad(direction, accumulate=True)
        stats = StepStats()
        if ctx.record:
            stats.extra["gradients"] = gradient_diagnostics(jac @ jac.T, list(losses))
        if self._weights is not None:
            stats.weights = {t: float(w) for t, w in zip(losses, self._weights.tolist())}
        return stats

    def hyperparameters(self) -> dict[str, Any]:
        return {**self.aggregator.hparams(), "update_every": self.update_every, "backend": self.backend,
                "chunk_size": self.chunk_size}

    def state_dict(self) -> dict[str, Any]:
        return {"aggregator": self.aggregator.state_dict(),
                "weights": None if self._weights is None else self._weights.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.aggregator.load_state_dict(state.get("aggregator", {}))
        w = state.get("weights")
        self._weights = None if w is None else torch.tensor(w)
