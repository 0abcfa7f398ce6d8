"""GradDrop: gradient sign dropout.

Chen et al., "Just Pick a Sign: Optimizing Deep Multitask Models with Gradient Sign
Dropout", NeurIPS 2020, Algorithm 1 (lines 10-15), Eq. (1). Per coordinate p, the
Gradient Positive Sign Purity

    P_p = 1/2 (1 + sum_i g_ip / sum_i |g_ip|)            in [0, 1]

is compared with U_p ~ Uniform(0, 1): if P_p > U_p only the positive entries g_ip > 0 are
kept, if P_p < U_p only the negative ones; then d = sum_i (l_i + (1 - l_i) M_ip) g_ip with
the optional per-task ``leak`` l_i in [0, 1] (0 = pure GradDrop, 1 = plain sum).

This method acts coordinate-wise on J (not a weighting of the rows), so it subclasses
:class:`Aggregator` directly and ``last_weights`` stays ``None``. It is applied to the
shared-parameter Jacobian here (the paper applies it to activation gradients; any
Jacobian works). Coordinates where every task is zero have P = 1/2 by convention (their
contribution is zero anyway; torchjd computes 0/0 there with the same result).

Randomness: ``U = torch.rand(P)`` from a private CPU generator seeded with ``seed`` (or
the global torch RNG when ``seed is None``), moved to J's device -- the same draw as
``torchjd.aggregation.GradDrop`` with f = identity, so both agree for equal seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from ._base import Aggregator, SeededRNG, check_range, check_seed
from ._registry import register

__all__ = ["GradDrop"]


@register("graddrop")
class GradDrop(Aggregator):
    """GradDrop (Chen et al. 2020): keep one sign per coordinate, chosen by sign purity."""

    properties = frozenset({"positively_homogeneous"})

    stateful = True  # only the RNG stream when seeded

    def __init__(self, *, leak: float | list[float] = 0.0, seed: int | None = None) -> None:
        super().__init__()
        if isinstance(leak, (list, tuple)):
            self.leak: float | list[float] = [check_range("leak", v, low=0.0, high=1.0) for v in leak]
        else:
            self.leak = check_range("leak", leak, low=0.0, high=1.0)
        self.seed = check_seed(seed)
        self._rng = SeededRNG(self.seed)

    def _aggregate(self, jacobian: Tensor, losses: Tensor | None) -> Tensor:
        J = jacobian
        K, P = J.shape
        if isinstance(self.leak, list):
            if len(self.leak) != K:
                raise ValueError(f"GradDrop: leak has {len(self.leak)} entries but there are {K} tasks")
            leak = torch.tensor(self.leak, dtype=J.dtype, device=J.device).unsqueeze(1)
        else:
            leak = torch.full((K, 1), self.leak, dtype=J.dtype, device=J.device)
        total = J.sum(dim=0)
        mass = J.abs().sum(dim=0)
        safe = torch.where(mass > 0, mass, torch.ones_like(mass))
        purity = 0.5 * (1.0 + torch.where(mass > 0, total / safe, torch.zeros_like(total)))
        U = self._rng.rand(P, J.dtype).to(J.device)
        mask = ((purity > U) & (J > 0)) | ((purity < U) & (J < 0))
        out = ((leak + (1.0 - leak) * mask.to(J.dtype)) * J).sum(dim=0)
        self.last_weights = None
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"rng_state": self._rng.state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        unknown = set(state) - {"rng_state"}
        if unknown:
            raise ValueError(f"GradDrop: unexpected state keys {sorted(unknown)}")
        self._rng.load_state(state.get("rng_state"))

    def reset(self) -> None:
        super().reset()
        self._rng.reset()
