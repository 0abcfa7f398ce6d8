"""Aligned-MTL: independent component alignment.

Senushkin et al., "Independent Component Alignment for Multi-Task Learning", CVPR 2023,
Algorithm 1 / Eq. (9)-(11). With the eigendecomposition G = V Lambda V' (rank r,
eigenvalues below max(Lambda) * K * eps(dtype) dropped), the balance transformation

    B = sqrt(lambda_scale) V_r Lambda_r^{-1/2} V_r'

makes the aligned gradient system J' B orthogonal with equal singular values (condition
number 1); the weights are alpha = B w for a preference vector w. ``scale_mode`` picks
lambda_scale: 'min' (smallest kept eigenvalue, the paper's choice and the default),
'median' (lower median) or 'rmse' (mean eigenvalue).

Same computation as ``torchjd.aggregation.AlignedMTL`` (default preference 1/K). The
official SamsungLabs code *sums* the aligned gradients (preference 1 per task), i.e. K
times our default output; pass ``pref_vector=[1.0] * K`` for that scale. If G is zero the
transformation is the identity (weights = preference).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from ._base import (
    GramianWeightedAggregator,
    check_choice,
    check_pref_vector,
    dtype_eps,
    gram64,
    pref_weights,
)
from ._registry import register

__all__ = ["AlignedMTL"]


@register("aligned_mtl")
class AlignedMTL(GramianWeightedAggregator):
    """Aligned-MTL (Senushkin et al. 2023): align the gradient system to condition number 1."""

    properties = frozenset(
        {"equivariant_weights", "permutation_invariant", "positively_homogeneous", "unique_when_rank_deficient"}
    )

    def __init__(self, *, scale_mode: str = "min", pref_vector: list[float] | None = None) -> None:
        super().__init__()
        check_choice("scale_mode", scale_mode, ("min", "median", "rmse"))
        self.scale_mode = scale_mode
        self.pref_vector = check_pref_vector(pref_vector)

    def _weights(self, gram: Tensor, losses: Tensor | None) -> np.ndarray:
        G = gram64(gram)
        K = G.shape[0]
        pref = pref_weights(self.pref_vector, K)
        lam, V = np.linalg.eigh(G)
        tol = float(lam.max()) * K * dtype_eps(gram)
        keep = lam > tol
        if not keep.any():
            return pref
        order = np.argsort(-lam)
        order = order[keep[order]]
        lam_r, V_r = lam[order], V[:, order]
        if self.scale_mode == "min":
            scale = lam_r[-1]
        elif self.scale_mode == "median":
            scale = np.sort(lam_r)[(lam_r.size - 1) // 2]
        else:
            scale = lam_r.mean()
        B = np.sqrt(scale) * (V_r / np.sqrt(lam_r)) @ V_r.T
        return B @ pref
