"""IMTL-G: impartial multi-task learning, gradient part.

Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021, §3.2 (IMTL-G): find the
aggregated gradient g = sum_i alpha_i g_i, sum_i alpha_i = 1, whose projections on all
unit task gradients u_i = g_i / ||g_i|| are equal, g' u_i = g' u_j. The paper's closed form
alpha_{2:K} = g_1 U' (D U')^-1 (with D, U the differences to task 1) is equivalent to

    G alpha = lambda * n ,   n_i = ||g_i||   =>   alpha = G^+ n / (1' G^+ n)

(the generalisation of the "Jacobian Descent" paper, Quinton & Rey 2024, which also
handles linearly dependent rows via the pseudo-inverse). Same formula as
``torchjd.aggregation.IMTLG``; if 1' G^+ n is (numerically) zero the weights are 0, as in
torchjd. The pseudo-inverse is taken in float64 on G / trace(G) with the relative cut-off
K * eps(dtype of G), i.e. torch's default for the input dtype.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from ._base import GramianWeightedAggregator, dtype_eps, gram64
from ._registry import register

__all__ = ["IMTLG"]


@register("imtl_g")
class IMTLG(GramianWeightedAggregator):
    """IMTL-G (Liu et al. 2021): equal projections of the update on every unit task gradient."""

    properties = frozenset(
        {"equivariant_weights", "permutation_invariant", "positively_homogeneous", "unique_when_rank_deficient"}
    )

    def __init__(self) -> None:
        super().__init__()

    def _weights(self, gram: Tensor, losses: Tensor | None) -> np.ndarray:
        G = gram64(gram)
        K = G.shape[0]
        trace = float(np.trace(G))
        if not trace > 0.0:
            return np.zeros(K)
        G = G / trace
        n = np.sqrt(np.clip(np.diag(G), 0.0, None))
        v = np.linalg.pinv(G, rcond=K * dtype_eps(gram), hermitian=True) @ n
        total = float(v.sum())
        if abs(total) < 1e-12:
            return np.zeros(K)
        return v / total
