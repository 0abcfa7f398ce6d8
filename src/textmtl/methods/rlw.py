"""Random loss weighting (RLW): Lin, Ye, Xu, Shi & Zhang, "Reasonable effectiveness of random
weighting: a litmus test for multi-task learning", TMLR 2022, §3 (RLW with the normal
distribution):

    λ̃ ~ N(0, I_K),   λ = softmax(λ̃),   L = Σ_k λ_k ℓ_k     (so Σ_k λ_k = 1, as in the paper and LibMTL).

The weights sum to 1, not K: RLW is a random point of the simplex, so its gradient is on the
scale of the *mean* of the losses (LS with `reduction: mean`), not of their sum.

Determinism: the draw of step t comes from a generator seeded with (`seed`, t) through
numpy's SeedSequence, on the CPU, then moved to the losses' device. The weights of a step
therefore depend only on the seed, the step number and the number of tasks present: they are
identical on every device and after a resume, and the method needs no state.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ._loss_weighting import stack_losses
from .base import Method, StepContext, StepStats, register


@register
class RandomLossWeighting(Method):
    """RLW (Lin et al. 2022): λ = softmax(N(0, I)) drawn afresh each step (seeded), L = Σ λ_k ℓ_k."""

    name = "rlw"
    fuses_auxiliary = True
    backends = ("loss",)

    def __init__(self, *, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.seed = seed

    def draw(self, step: int, k: int) -> torch.Tensor:
        """The K weights of step `step` (CPU, float64, positive, summing to 1)."""
        state = np.random.SeedSequence([self.seed, max(int(step), 0)]).generate_state(2, dtype=np.uint32)
        gen = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        return torch.softmax(torch.randn(k, generator=gen, dtype=torch.float64), dim=0)

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        tasks, vec = stack_losses(losses)
        w64 = self.draw(ctx.step, len(tasks))
        w = w64.to(device=vec.device, dtype=vec.dtype)
        ctx.backward((w * vec).sum())
        return StepStats(weights=dict(zip(tasks, w64.tolist())))
