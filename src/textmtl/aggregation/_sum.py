"""Linear scalarisation with unit weights: the sum of the task gradients.

``d = sum_i g_i`` -- the gradient of the summed loss (``K`` times :class:`Mean`).
Identical to ``torchjd.aggregation.Sum``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import GramianWeightedAggregator
from ._registry import register

__all__ = ["Sum"]


@register("sum")
class Sum(GramianWeightedAggregator):
    """LS with unit weights: sum of the task gradients (K x the mean)."""

    properties = frozenset(
        {"equivariant_weights", "permutation_invariant", "positively_homogeneous", "unique_when_rank_deficient"}
    )

    def __init__(self) -> None:
        super().__init__()

    def _weights(self, gram: Tensor, losses: Tensor | None) -> Tensor:
        return torch.ones(gram.shape[0], dtype=gram.dtype, device=gram.device)

    def _aggregate(self, jacobian: Tensor, losses: Tensor | None) -> Tensor:
        K = jacobian.shape[0]
        self.last_weights = torch.ones(K, dtype=jacobian.dtype, device=jacobian.device)
        return jacobian.sum(dim=0)
