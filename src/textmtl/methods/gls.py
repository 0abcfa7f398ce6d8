"""Geometric loss strategy (GLS): Chennupati, Sistu, Yogamani & Rawashdeh, "MultiNet++:
multi-stream feature aggregation and geometric loss strategy for multi-task learning",
CVPR Workshops 2019, the GLS objective (§3):

    L = (Π_k ℓ_k)^{1/K},        ∂L/∂ℓ_k = L / (K ℓ_k).

It is computed as exp(mean_k log ℓ_k), which neither overflows nor underflows for many tasks
(the plain product does). Losses are clamped at 1e-8 before the log so a loss of exactly 0
gives a finite objective (that task then receives no gradient this step): GLS assumes
positive losses. The reported weights are the effective gradient weights L/(K ℓ_k).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ._loss_weighting import stack_losses
from .base import Method, StepContext, StepStats, register

_EPS = 1e-8


@register
class GeometricLossStrategy(Method):
    """GLS (Chennupati et al. 2019): L = (Π_k ℓ_k)^{1/K}, computed in log space."""

    name = "gls"
    fuses_auxiliary = True
    backends = ("loss",)

    def __init__(self) -> None:
        pass

    @staticmethod
    def _geometric_mean(vec: torch.Tensor) -> torch.Tensor:
        return torch.exp(torch.log(vec.clamp_min(_EPS)).mean())

    def objective(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self._geometric_mean(stack_losses(losses)[1])

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        tasks, vec = stack_losses(losses)
        total = self._geometric_mean(vec)
        ctx.backward(total)
        eff = total.detach() / (len(tasks) * vec.detach().clamp_min(_EPS))
        return StepStats(weights=dict(zip(tasks, eff.tolist())))
