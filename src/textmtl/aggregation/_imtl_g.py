"""IMTL-G: impartial multi-task learning, gradient part.

Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021, §3.2 (IMTL-G): find the
aggregated gradient g = sum_i alpha_i g_i, sum_i alpha_i = 1, whose projections on all
unit task gradients u_i = g_i / ||g_i|| are equal, g' u_i = g' u_j. The paper's closed form
alpha_{2:K} = g_1 U' (D U')^-1 (with D, U the differences to task 1) is equivalent to

    G alpha = lambda * n ,   n_i = ||g_i||   =>   alpha = G^+ n / (1' G^+ n)

(the generalisation of the "Jacobian Descent" paper, Quinton & Rey 2024, which also
handles linearly dependent rows via the pseudo-inverse). Same weights as
``torchjd.aggregation.IMTLG`` on ordinary inputs; if the weights sum to (numerically) zero they
are 0, as in torchjd. The pseudo-inverse is taken in float64 on the cosine matrix
C = D^-1 G D^-1 (D = diag ||g_i||, so G alpha = lambda n becomes C D alpha = lambda 1) with the
relative cut-off K * eps(dtype of G), torch's default for the input dtype. Unlike torchjd's
pseudo-inverse of G, whose cut-off drops a task whose gradient norm is below ~1e-8 of the
largest, every task with a non-zero gradient keeps its equal projection; zero gradients get
weight 0.
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
        n = np.sqrt(np.clip(np.diag(G), 0.0, None))
        active = n > 0.0  # a zero gradient has no direction to be impartial to: weight 0
        alpha = np.zeros(K)
        if not active.any():
            return alpha
        # On the cosine matrix C = D^-1 G D^-1 (D = diag n): G alpha = lambda n  <=>  C (D alpha) = lambda 1.
        # C has a unit diagonal whatever the gradient norms, so the pseudo-inverse cut-off keeps
        # every task with a non-zero gradient (on G itself, norms 1e-9 apart from the largest fell
        # under it and the task was dropped).
        na = n[active]
        C = G[np.ix_(active, active)] / np.outer(na, na)
        beta = np.linalg.pinv(C, rcond=K * dtype_eps(gram), hermitian=True) @ np.ones(len(na))
        alpha[active] = beta / na
        total = float(alpha.sum())
        if not abs(total) > 1e-12 * float(np.abs(alpha).sum()):
            return np.zeros(K)
        return alpha / total
