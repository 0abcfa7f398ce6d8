"""GetMTL (paper version): gradient trade-off around the average gradient.

Chai et al., "Improving Gradient Trade-offs between Tasks in Multi-task Text
Classification", ACL 2023, §4.1-4.2, Algorithm 1, App. A (see papers.md §1.2):

1. MGDA step (Eq. 3-6): beta* = argmin_{beta in simplex} ||sum_i beta_i g_i||^2; the
   rescaled gradients are g_{beta_i} = beta_i g_i.
2. Dual problem in w (Eq. 14/17/28), with g_0 = mean_i g_i (the gradient of the average
   loss) and g_w = sum_i w_i beta_i g_i:

       w* = argmin_{w in simplex} J(w) = (g_0'g_w + eps ||g_0||^2 ||g_w||) / (1 - eps^2 ||g_0||^2)

3. Closed-form direction (Eq. 13/23/26-27), lambda* = ||g_w|| / (eps ||g_0||^2):

       d* = g_0 / (1 - eps^2||g_0||^2) + eps ||g_0||^2 g_w / ((1 - eps^2||g_0||^2) ||g_w||).

All terms come from G = J J^T: g_0'(beta_i g_i) = beta_i (G 1/K)_i, ||g_w||^2 = w'(B G B)w
with B = diag(beta), ||g_0||^2 = 1'G1/K^2. The MGDA and w problems are solved exactly
(``_solvers``); the returned weights are c = 1/(K D) + eps||g_0||^2/(D ||g_w||) * (w * beta).

Implementation choices (documented, not in the paper):
* Guard: the denominator D = 1 - eps^2 ||g_0||^2 must be > 0 (for eps ||g_0|| >= 1 the
  feasible set of Problem 1 is unbounded and d* diverges). We use
  D = max(1 - eps^2 ||g_0||^2, denom_floor) with ``denom_floor = 0.1`` by default, i.e.
  the direction is amplified at most 10x w.r.t. g_0 (plus the bounded second term). With
  the paper's eps = 0.0075 this only triggers when ||g_0|| > ~126. The argmin w* does not
  depend on D.
* If ||g_w*|| is at round-off level (e.g. a task with beta_i = 0 lies at the origin and
  the optimum puts all its weight there -- frequent, since MGDA solutions are sparse) the
  second term is 0/0 and is dropped: d* = g_0 / D.
* ``normalization`` is the MGDA gradient normalisation of step 1 ('none' = paper Eq. 5;
  the released code uses 'loss+', see ``getmtl_official``).
* Output scale: mean based, as in the paper (the released code multiplies by K).
* With J available (``__call__``) ||g_w*|| in Eq. 13 is recomputed from the vector g_w*
  (exact), ``weights(G)`` uses the Gram-based value (accurate to ~sqrt(eps) max ||g_i||).
The eps -> 0 limit is g_0 (the tests check this, and the closed form Eq. 13).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ._base import GramianWeightedAggregator, check_choice, check_range, gram64, losses64, norm_tol
from ._mgda import NORMALIZATIONS, mgda_weights
from ._registry import register
from ._solvers import linear_plus_norm_on_simplex

__all__ = ["GetMTL"]


@register("getmtl")
class GetMTL(GramianWeightedAggregator):
    """GetMTL (Chai et al. 2023, paper Eqs. 5, 13, 14): MGDA-scaled trade-off near g_0."""

    properties = frozenset({"permutation_invariant"})

    def __init__(
        self,
        *,
        epsilon: float = 0.0075,
        normalization: str = "none",
        denom_floor: float = 0.1,
    ) -> None:
        super().__init__()
        self.epsilon = check_range("epsilon", epsilon, low=0.0)
        check_choice("normalization", normalization, NORMALIZATIONS)
        self.normalization = normalization
        self.denom_floor = check_range("denom_floor", denom_floor, low=0.0, high=1.0, low_open=True)
        #: Diagnostics of the last call: MGDA scales beta, dual weights w*, denominator D.
        self.last_beta: Tensor | None = None
        self.last_w: Tensor | None = None
        self.last_denominator: float | None = None
        self._pending: tuple[np.ndarray, float, np.ndarray] | None = None

    @property
    def requires_losses(self) -> bool:
        return self.normalization in ("loss", "loss+")

    def _weights(self, gram: Tensor, losses: Tensor | None) -> np.ndarray:
        G = gram64(gram)
        K = G.shape[0]
        ell = losses64(losses) if losses is not None else None
        beta = mgda_weights(G, self.normalization, ell)
        mean = np.full(K, 1.0 / K)
        a_raw = G @ mean  # <g_i, g_0>
        g0_sq = max(float(mean @ a_raw), 0.0)  # ||g_0||^2
        eps = self.epsilon
        denom = max(1.0 - eps * eps * g0_sq, self.denom_floor)
        weights = mean / denom
        w = np.zeros(K)
        Q = G * np.outer(beta, beta)  # Gram of beta_i g_i
        top = math.sqrt(max(float(np.max(np.diag(Q))), 0.0))
        self._pending = None
        if eps > 0.0 and g0_sq > 0.0 and top > 0.0:
            w, n = linear_plus_norm_on_simplex(Q, beta * a_raw, eps * g0_sq)
            if n > norm_tol(gram) * top:
                weights = weights + (eps * g0_sq / (denom * n)) * (w * beta)
                self._pending = (w * beta, eps * g0_sq / denom, mean / denom)
        self.last_beta = torch.from_numpy(beta)
        self.last_w = torch.from_numpy(w)
        self.last_denominator = denom
        return weights

    def _refine(self, jacobian: Tensor) -> np.ndarray | None:
        # Exact ||g_w|| from J (the Gram-based norm loses half of the digits).
        if self._pending is None:
            return None
        wb, coef, base = self._pending
        self._pending = None
        g_w = torch.as_tensor(wb, dtype=jacobian.dtype, device=jacobian.device) @ jacobian
        n = float(g_w.double().norm())
        if not n > 0.0 or not math.isfinite(n):
            return None
        return base + (coef / n) * wb

    def reset(self) -> None:
        super().reset()
        self.last_beta = None
        self.last_w = None
        self.last_denominator = None
