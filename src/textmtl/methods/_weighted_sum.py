"""Loss weightings whose weights depend on past losses only (DWA, BanditMTL): L = Σ_k w_k ℓ_k with
the w_k constants of the step, one backward pass; the step's loss values are then `observe`d."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping

import torch

from ._loss_weighting import stack_losses
from .base import Method, StepContext, StepStats


class WeightsFromHistory(Method):
    """L = Σ w_k ℓ_k, w from `weights` (constants), then `observe(values)` updates the history."""

    fuses_auxiliary = True
    backends = ("loss",)

    @abstractmethod
    def weights(self, tasks: list[str], like: torch.Tensor | None = None) -> torch.Tensor:
        """The weights of `tasks` (those present at the step), as `like`'s dtype and device."""

    @abstractmethod
    def observe(self, values: Mapping[str, float]) -> None:
        """Fold one step's loss values into the history the weights come from."""

    def objective(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        tasks, vec = stack_losses(losses)
        return (self.weights(tasks, vec) * vec).sum()

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        tasks, vec = stack_losses(losses)
        w = self.weights(tasks, vec)
        ctx.backward((w * vec).sum())
        self.observe(dict(zip(tasks, vec.detach().tolist())))
        return StepStats(weights=dict(zip(tasks, w.tolist())))
