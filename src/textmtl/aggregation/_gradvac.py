"""GradVac: Gradient Vaccine.

Wang, Tsvetkov, Firat & Cao, "Gradient Vaccine: Investigating and Improving Multi-task
Optimization in Massively Multilingual Models", ICLR 2021, Algorithm 1 / Eq. (2)-(3).
For every task i and every other task j (random order), with phi_ij the cosine between
the current g_i^PC and the original g_j and phi_hat_ij an EMA target:

    if phi_ij < phi_hat_ij:
        g_i^PC += ||g_i^PC|| (phi_hat sqrt(1 - phi^2) - phi sqrt(1 - phi_hat^2))
                  / (||g_j|| sqrt(1 - phi_hat^2)) * g_j                           (Eq. 3)
    phi_hat_ij <- (1 - beta) phi_hat_ij + beta phi_ij                             (EMA)

and d = sum_i g_i^PC. PCGrad is the special case phi_hat = 0 (survey §3.2). The paper's
EMA decay is beta = 1e-2 (our default; torchjd defaults to 0.5, LibMTL to 0.5).

Implemented on the Gram matrix (g_i^PC = sum_k C_ik g_k), on G normalised by its largest
diagonal entry so that ``eps`` is relative (the method is scale invariant). State:
the K x K target matrix phi_hat (zeros at start / after ``reset()``; re-initialised
automatically if K changes). Whole-model granularity only (the paper also groups by
layer; a caller can run one instance per parameter group).

The EMA is updated for every visited pair, as in the paper, torchjd and LibMTL's current code
(an older LibMTL release updated it only when the correction fired). The visiting order is drawn
exactly as in ``torchjd.aggregation.GradVac`` (``torch.randperm(K - 1)`` over the other
tasks), so both agree for equal seeds and equal beta.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import Tensor

from ._base import GramianWeightedAggregator, SeededRNG, check_range, check_seed, gram64
from ._registry import register

__all__ = ["GradVac"]


@register("gradvac")
class GradVac(GramianWeightedAggregator):
    """GradVac (Wang et al. 2021): align each gradient pair to an EMA target cosine."""

    properties = frozenset({"positively_homogeneous"})

    stateful = True

    def __init__(self, *, beta: float = 0.01, eps: float = 1e-8, seed: int | None = None) -> None:
        super().__init__()
        self.beta = check_range("beta", beta, low=0.0, high=1.0)
        self.eps = check_range("eps", eps, low=0.0)
        self.seed = check_seed(seed)
        self._rng = SeededRNG(self.seed)
        self._phi_hat: np.ndarray | None = None

    @property
    def phi_hat(self) -> np.ndarray | None:
        """The current K x K EMA targets (a copy), or None before the first call."""
        return None if self._phi_hat is None else self._phi_hat.copy()

    def _weights(self, gram: Tensor, losses: Tensor | None) -> np.ndarray:
        G = gram64(gram)
        K = G.shape[0]
        top = float(np.max(np.diag(G)))
        if top > 0.0 and math.isfinite(top):
            G = G / top
        if self._phi_hat is None or self._phi_hat.shape != (K, K):
            self._phi_hat = np.zeros((K, K))
        phi_hat = self._phi_hat
        beta, eps = self.beta, self.eps
        norms = np.sqrt(np.clip(np.diag(G), 0.0, None))
        C = np.eye(K)
        for i in range(K):
            others = [j for j in range(K) if j != i]
            order = [others[k] for k in self._rng.randperm(K - 1).tolist()]
            c = C[i]
            cG = G @ c  # inner products of g_i^PC with every original g_j
            for j in order:
                norm_i = math.sqrt(max(float(cG @ c), 0.0))
                norm_j = float(norms[j])
                phi = float(cG[j]) / (norm_i * norm_j + eps)
                target = float(phi_hat[i, j])
                if phi < target:
                    s_phi = math.sqrt(max(1.0 - phi * phi, 0.0))
                    s_tgt = math.sqrt(max(1.0 - target * target, 0.0))
                    w = norm_i * (target * s_phi - phi * s_tgt) / (norm_j * s_tgt + eps)
                    c[j] += w
                    cG += w * G[j]
                phi_hat[i, j] = (1.0 - beta) * target + beta * phi
        return C.sum(axis=0)

    def state_dict(self) -> dict[str, Any]:
        return {
            "phi_hat": None if self._phi_hat is None else self._phi_hat.tolist(),
            "rng_state": self._rng.state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        unknown = set(state) - {"phi_hat", "rng_state"}
        if unknown:
            raise ValueError(f"GradVac: unexpected state keys {sorted(unknown)}")
        phi = state.get("phi_hat")
        if phi is None:
            self._phi_hat = None
        else:
            arr = np.asarray(phi, dtype=np.float64)
            if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
                raise ValueError(f"GradVac: phi_hat must be a square matrix, got shape {arr.shape}")
            self._phi_hat = arr.copy()
        self._rng.load_state(state.get("rng_state"))

    def reset(self) -> None:
        super().reset()
        self._phi_hat = None
        self._rng.reset()
