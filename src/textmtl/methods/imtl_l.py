"""IMTL-L, the loss-balance half of "Towards Impartial Multi-task Learning" (Liu, Li, Kuang, Xue,
Chen, Yang, Liao & Zhang, ICLR 2021), the "loss balance" objective (IMTL-L):

    L = Σ_k e^{s_k} ℓ_k − s_k,        weight of task k: e^{s_k}.

Minimising over s_k gives e^{s_k} ℓ_k = 1, i.e. every scaled loss is pushed to the same value
(scale invariance). As in UW the s_k are not model parameters: `backward` writes the model
gradients and then takes one Adam step (lr `s_lr`) with ∂L/∂s_k = e^{s_k} ℓ_k − 1 on the
tasks present; s_k starts at `init` (0: weights 1, as in the paper and LibMTL).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ._loss_weighting import LearnedLogScale
from .base import Method, StepContext, StepStats, register


@register
class IMTLL(LearnedLogScale, Method):
    """IMTL-L (Liu et al. 2021): L = Σ e^{s_k} ℓ_k − s_k, learnable log-scales s_k (own Adam)."""

    name = "imtl_l"
    fuses_auxiliary = True
    backends = ("loss",)
    sign = 1.0

    def __init__(self, *, s_lr: float = 0.01, init: float = 0.0) -> None:
        self._init_scales(init, s_lr)

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        return StepStats(weights=self._step(losses, ctx))
