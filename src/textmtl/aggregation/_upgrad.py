"""UPGrad: unconflicting projection of gradients.

Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024 (TorchJD),
Eq. (3)-(4) and Proposition 1: every row, weighted by the preference vector p (default
1/K), is projected onto the dual cone {d : J d >= 0} of the rows, and the projections are
summed:

    d = sum_i pi_J(p_i g_i),   pi_J(J'u) = J'v  with  v = argmin_{v >= u} v'Gv.

The K small QPs are solved exactly by our own active-set solver
(``_solvers.dual_cone_projection_weights``, on the cosine matrix, robust to very different
gradient norms; torchjd uses quadprog on G). The result is non-conflicting: J d >= 0.

Difference with ``torchjd.aggregation.UPGrad``: its default ``QuadprogProjector`` adds
``reg_eps = 1e-4`` to the diagonal of the trace-normalised Gram before solving, which
moves the solution by O(1e-4); our default is the exact projection (``reg_eps = 0``), and
``reg_eps=1e-4`` reproduces torchjd's default. Eigenvalues of the cosine matrix below its round-off
level (K eps(dtype) times the largest) are zeroed first: without that, exactly dependent
float32 gradients (g_1 = -g_2) let the weights run off along the Gram's noisy null space.
(quadprog is not installed here; the oracle test plugs an independent scipy-NNLS projector into torchjd's UPGrad.)
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from ._base import (
    GramianWeightedAggregator,
    check_pref_vector,
    check_range,
    dtype_eps,
    gram64,
    pref_weights,
)
from ._registry import register
from ._solvers import dual_cone_projection_weights

__all__ = ["UPGrad"]


@register("upgrad")
class UPGrad(GramianWeightedAggregator):
    """UPGrad (Quinton & Rey 2024): average of the projections onto the dual cone."""

    properties = frozenset(
        {"equivariant_weights", "permutation_invariant", "positively_homogeneous", "unique_when_rank_deficient"}
    )

    def __init__(self, *, pref_vector: list[float] | None = None, reg_eps: float = 0.0) -> None:
        super().__init__()
        self.pref_vector = check_pref_vector(pref_vector)
        self.reg_eps = check_range("reg_eps", reg_eps, low=0.0)

    def _weights(self, gram: Tensor, losses: Tensor | None) -> np.ndarray:
        G = gram64(gram)
        K = G.shape[0]
        pref = pref_weights(self.pref_vector, K)
        trace = float(np.trace(G))
        if not trace > 0.0:
            return pref
        G = G / trace
        if self.reg_eps > 0.0:
            G = G + self.reg_eps * np.eye(K)
        U = np.diag(pref)[pref != 0.0]
        V = dual_cone_projection_weights(G, U, noise_rel=K * dtype_eps(gram))
        return V.sum(axis=0)
