"""PCGrad: projecting conflicting gradients.

Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020, Algorithm 1:
for every task i, visit the other tasks j in random order and, whenever the (already
projected) g_i^PC conflicts with the *original* g_j (g_i^PC . g_j < 0), remove the
conflicting component, Eq. (1):

    g_i^PC <- g_i^PC - (g_i^PC . g_j / ||g_j||^2) g_j ,          d = sum_i g_i^PC .

Implemented on the Gram matrix: writing g_i^PC = sum_k C_ik g_k, every quantity is a
function of G, and ``d = (sum_i C_i) @ J`` -- mathematically identical to the Jacobian
version, but also usable by a Gram-only engine. The projections are inherently
sequential (a Python loop over pairs on a float64 K x K array, no device syncs).

Randomness: the visiting order is ``torch.randperm(K)`` per task (task i itself skipped),
drawn from a private generator seeded with ``seed``, or from the global torch RNG when
``seed is None`` -- the same draws as ``torchjd.aggregation.PCGrad``, so both agree
exactly for equal seeds (the tests check this). Output scale: a *sum* (as in the paper
and torchjd). Zero-norm tasks are never projected upon.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import Tensor

from ._base import GramianWeightedAggregator, SeededRNG, check_seed, gram64
from ._registry import register

__all__ = ["PCGrad"]


@register("pcgrad")
class PCGrad(GramianWeightedAggregator):
    """PCGrad (Yu et al. 2020): project away conflicting components, then sum."""

    properties = frozenset({"positively_homogeneous"})

    stateful = True  # only the RNG stream when seeded

    def __init__(self, *, seed: int | None = None) -> None:
        super().__init__()
        self.seed = check_seed(seed)
        self._rng = SeededRNG(self.seed)

    def _weights(self, gram: Tensor, losses: Tensor | None) -> np.ndarray:
        G = gram64(gram)
        K = G.shape[0]
        diag = np.diag(G).copy()
        tiny = 1e-30 * max(float(diag.max()), 0.0)
        C = np.eye(K)
        for i in range(K):
            perm = self._rng.randperm(K).tolist()
            c = C[i]
            for j in perm:
                if j == i or not diag[j] > tiny:
                    continue
                inner = float(G[j] @ c)
                if inner < 0.0:
                    c[j] -= inner / diag[j]
        return C.sum(axis=0)

    def state_dict(self) -> dict[str, Any]:
        return {"rng_state": self._rng.state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        unknown = set(state) - {"rng_state"}
        if unknown:
            raise ValueError(f"PCGrad: unexpected state keys {sorted(unknown)}")
        self._rng.load_state(state.get("rng_state"))

    def reset(self) -> None:
        super().reset()
        self._rng.reset()
