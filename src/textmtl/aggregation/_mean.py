"""Linear scalarisation with equal weights: the arithmetic mean of the task gradients.

``d = (1/K) sum_i g_i`` -- the gradient of the average loss ``L_0 = (1/K) sum_i l_i``
(the "Uniform"/"EW" baseline; GetMTL's g_0, Chai et al. 2023 §4.1). Identical to
``torchjd.aggregation.Mean``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._base import GramianWeightedAggregator
from ._registry import register

__all__ = ["Mean"]


@register("mean")
class Mean(GramianWeightedAggregator):
    """LS / EW: arithmetic mean of the task gradients (weights 1/K)."""

    properties = frozenset(
        {"equivariant_weights", "permutation_invariant", "positively_homogeneous", "unique_when_rank_deficient"}
    )

    def __init__(self) -> None:
        super().__init__()

    def _weights(self, gram: Tensor, losses: Tensor | None) -> Tensor:
        K = gram.shape[0]
        return torch.full((K,), 1.0 / K, dtype=gram.dtype, device=gram.device)

    def _aggregate(self, jacobian: Tensor, losses: Tensor | None) -> Tensor:
        # No Gram needed.
        K = jacobian.shape[0]
        self.last_weights = torch.full((K,), 1.0 / K, dtype=jacobian.dtype, device=jacobian.device)
        return jacobian.mean(dim=0)
