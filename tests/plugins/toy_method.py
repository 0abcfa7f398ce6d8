"""CONTRIBUTING recipe 1, a method: one file, registered by name, outside the package."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from textmtl.methods import Method, StepContext, StepStats, register


@register
class WorstTaskOnly(Method):
    """Toy: back-propagates only the largest task loss of each step (a min-max caricature)."""

    name = "toy_worst_task"
    backends = ("loss",)
    fuses_auxiliary = True  # one backward pass: an architecture's own loss can ride along

    def __init__(self, *, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self.scale = scale

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        worst = max(losses, key=lambda t: float(losses[t].detach()))
        ctx.backward(self.scale * losses[worst])
        return StepStats(weights={t: float(t == worst) * self.scale for t in losses})
