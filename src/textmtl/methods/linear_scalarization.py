"""Linear scalarisation (LS): the plain sum or mean of the task losses; one backward pass."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch

from .base import Method, StepContext, StepStats, register


@register
class LinearScalarization(Method):
    """L = Σ_k ℓ_k (reduction 'sum') or (1/K) Σ_k ℓ_k ('mean')."""

    name = "ls"
    backends = ("loss",)
    uses_loss_values = False
    fuses_auxiliary = True

    def __init__(self, *, reduction: Literal["sum", "mean"] = "sum") -> None:
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        self.reduction = reduction

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        w = 1.0 if self.reduction == "sum" else 1.0 / len(losses)
        total = torch.stack(list(losses.values())).sum() * w
        ctx.backward(total)
        return StepStats(weights={t: w for t in losses})


@register
class SingleTask(LinearScalarization):
    """Single-task learning (STL): one independent model per task, the reference of Δm%.

    A shorthand: LS on the `separate` architecture (one model and one training job per task).
    """

    name = "stl"
    architecture = "separate"

    def __init__(self) -> None:
        super().__init__(reduction="sum")

    def hyperparameters(self) -> dict:
        return {}
