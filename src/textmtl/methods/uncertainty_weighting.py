"""Uncertainty weighting (UW): Kendall, Gal & Cipolla, "Multi-task learning using uncertainty to
weigh losses for scene geometry and semantics", CVPR 2018, §3.2, Eq. (7) (regression) and
Eq. (10) (classification).

With s_k = log σ_k² the paper's ½σ⁻²ℓ + log σ is ½(e^{−s}ℓ + s). We drop the common factor ½:

    L = Σ_k e^{−s_k} ℓ_k + s_k,        weight of task k: e^{−s_k}.

(LibMTL keeps the ½, with weights ½e^{−s} and s initialised at −0.5; the optimum of s is the
same, s*_k = log ℓ_k, and without the ½ the step at s = 0 is exactly linear scalarisation.)

The s_k are learnable but are not model parameters (the trainer's optimiser never sees them):
`backward` writes the model gradients of L, then takes one Adam step (lr `s_lr`) on the s_k
of the tasks present, with ∂L/∂s_k = 1 − e^{−s_k} ℓ_k. The step is therefore "simultaneous":
the weights used at step t are the ones before the update. s_k starts at `init` (0: weights 1).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ._loss_weighting import LearnedLogScale
from .base import Method, StepContext, StepStats, register


@register
class UncertaintyWeighting(LearnedLogScale, Method):
    """UW (Kendall et al. 2018): L = Σ e^{−s_k} ℓ_k + s_k, learnable log-variances s_k (own Adam)."""

    name = "uw"
    fuses_auxiliary = True
    backends = ("loss",)
    sign = -1.0

    def __init__(self, *, s_lr: float = 0.01, init: float = 0.0) -> None:
        self._init_scales(init, s_lr)

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        return StepStats(weights=self._step(losses, ctx))
