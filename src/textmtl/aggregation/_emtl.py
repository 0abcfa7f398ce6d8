"""EMTL-style equitable weighting -- UNVERIFIED reconstruction.

Yuan & Zhang, "Equitable Multi-task Learning", arXiv 2306.09373 (2023). Only the abstract
and the start of the introduction are available (papers.md §3); the paper's method
section, equations and hyper-parameters are not, and no code is public. What is known:
the *relative contribution* of task i to the shared update is

    r_i = l_i / ||g_i||          (loss divided by its raw gradient norm, shared params)

and EMTL adds a variance regulariser that brings the relative contributions of the tasks
closer together. This module implements the closed form that equalises them exactly,
which we chose because it is the unique weighting (up to scale) with zero variance of the
weighted contributions w_i r_i, needs no extra hyper-parameter or state, and is cheap:

    w_i^eq = K (||g_i|| / l_i) / sum_j (||g_j|| / l_j)      (sum_i w_i^eq = K, w_i^eq r_i = const)

optionally blended with uniform weights by ``strength`` lambda in [0, 1]:

    w = (1 - lambda) 1 + lambda w^eq                         (still sums to K)

lambda plays the role of the variance-penalty weight: along this path the weighted
contributions are w_i r_i = (1 - lambda) r_i + lambda c, so
Var_i(w_i r_i) = (1 - lambda)^2 Var_i(r_i) -- lambda = 0 is plain linear scalarisation (sum
of gradients), lambda = 1 (default) removes the variance entirely. The direction is
d = sum_i w_i g_i (sum scale, like the summed loss sum_i w_i l_i).

Numerics: r_i uses the raw (detached) gradient norms from diag(G) and the losses, which
must be >= 0; losses are floored at ``eps`` (a zero loss would give an infinite weight),
tasks with a zero gradient get weight 0 in w^eq (they contribute nothing anyway). If every
gradient is zero the weights are uniform. Not scale-covariant in J for fixed losses
(w^eq is proportional to ||g_i||), by construction.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from ._base import GramianWeightedAggregator, check_range, gram64, losses64
from ._registry import register

__all__ = ["EMTL"]


@register("emtl")
class EMTL(GramianWeightedAggregator):
    """EMTL-style (unverified): weights that equalise the relative contributions l_i/||g_i||."""

    properties = frozenset({"equivariant_weights", "permutation_invariant", "unique_when_rank_deficient"})

    def __init__(self, *, strength: float = 1.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.strength = check_range("strength", strength, low=0.0, high=1.0)
        self.eps = check_range("eps", eps, low=0.0, low_open=True)

    @property
    def requires_losses(self) -> bool:
        return True

    def _weights(self, gram: Tensor, losses: Tensor | None) -> np.ndarray:
        assert losses is not None  # enforced by requires_losses
        G = gram64(gram)
        K = G.shape[0]
        ell = losses64(losses)
        if np.any(ell < 0):
            raise ValueError(f"EMTL needs non-negative losses, got {ell.tolist()}")
        norms = np.sqrt(np.clip(np.diag(G), 0.0, None))
        inv_r = norms / np.maximum(ell, self.eps)  # 1 / r_i
        total = float(inv_r.sum())
        uniform = np.ones(K)
        if not total > 0.0 or not np.isfinite(total):
            return uniform
        w_eq = K * inv_r / total
        return (1.0 - self.strength) * uniform + self.strength * w_eq
