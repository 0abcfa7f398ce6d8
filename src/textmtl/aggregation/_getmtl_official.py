"""GetMTL as in the released code (heany/GetMTL @ 8fc2d4c, ``GetMTL._getmtl``).

Mirrors papers.md §1.3 step by step, for reproduction of the published numbers. Per
step, with c = ``epsilon`` (the code's ``cfg.exp['c']``), G = J J^T on the *raw* task
gradients and s = the MGDA scales:

1. s = MGDA weights of the 'loss+'-normalised gradients g_t / (l_t ||g_t||)
   (``gradient_normalizers(..., 'loss+')`` + ``find_min_norm_element``);
2. g0_norm = sqrt(mean(G) + 1e-8) (= ||mean_i g_i||), rho = 1 - (c g0_norm)^2,
   cg0 = c g0_norm + 1e-8, cg02 = c g0_norm^2 + 1e-8;
3. x = argmin over the simplex of the SLSQP objective
   (cg0 + 1)^2 sqrt(x'Gx + 1e-8) / (2 c rho) - c sqrt(x'Gx + 1e-8) / 2, i.e. a positive
   multiple of ||sum_i x_i g_i|| -- the min-norm point (MGDA on raw G) -- whenever the
   coefficient (cg0 + 1)^2 / (2 c rho) - c / 2 is positive (always for c < 1). We solve it
   exactly instead of by SLSQP from x0 = 1/K (for a rank-deficient G the minimiser is not
   unique and SLSQP may return another one). For a negative coefficient the objective is
   maximised-in-norm: the best vertex (largest ||g_i||) is the global minimiser;
4. ww = softmax(x * s); g_w = sum_i ww_i g_i; lmda = (||g_w|| + 1e-8) / cg02;
5. d = mean_i g_i / rho + g_w * lmda / rho   (the code *multiplies* by lambda; the paper
   divides);
6. d /= (1 + c^2) (``rescale=1``, default; 0: no rescale; 2: d /= (1 + c)), and
   ``overwrite_grad`` multiplies by T = K "to match the sum loss".

The absolute constants (1e-8) are kept, as in the code (they make the method depend on
the gradient scale). Deviation for robustness: rho is floored at ``denom_floor`` (default
0.1) -- the code divides by an unguarded rho, which changes sign (ascent) when
c ||g_0|| > 1; outputs are identical whenever rho >= denom_floor. The MGDA solve is exact
(the released code's `find_min_norm_element` is a projected-gradient iteration that stops at a
1e-5 change). Requires the losses ('loss+').
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ._base import GramianWeightedAggregator, check_choice, check_range, gram64, losses64
from ._mgda import NORMALIZATIONS, mgda_weights
from ._registry import register
from ._solvers import min_norm_on_simplex

__all__ = ["GetMTLOfficial"]


def _softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max())
    return e / e.sum()


@register("getmtl_official")
class GetMTLOfficial(GramianWeightedAggregator):
    """GetMTL as released (softmax(x*beta) re-weighting, lambda multiplied, x K)."""

    properties = frozenset({"permutation_invariant"})

    def __init__(
        self,
        *,
        epsilon: float = 0.0075,
        normalization: str = "loss+",
        rescale: int = 1,
        denom_floor: float = 0.1,
    ) -> None:
        super().__init__()
        self.epsilon = check_range("epsilon", epsilon, low=0.0, low_open=True)
        check_choice("normalization", normalization, NORMALIZATIONS)
        self.normalization = normalization
        check_choice("rescale", rescale, (0, 1, 2))
        self.rescale = rescale
        self.denom_floor = check_range("denom_floor", denom_floor, low=0.0, high=1.0, low_open=True)
        #: Diagnostics of the last call: MGDA scales s, SLSQP-equivalent x, softmax weights.
        self.last_beta: Tensor | None = None
        self.last_x: Tensor | None = None
        self.last_softmax: Tensor | None = None

    @property
    def requires_losses(self) -> bool:
        return self.normalization in ("loss", "loss+")

    def _weights(self, gram: Tensor, losses: Tensor | None) -> np.ndarray:
        G = gram64(gram)
        K = G.shape[0]
        c = self.epsilon
        ell = losses64(losses) if losses is not None else None
        scales = mgda_weights(G, self.normalization, ell)
        g0_norm = math.sqrt(max(float(G.mean()), 0.0) + 1e-8)
        cg0 = c * g0_norm + 1e-8
        cg02 = c * g0_norm * g0_norm + 1e-8
        rho = max(1.0 - (c * g0_norm) ** 2, self.denom_floor)
        coef = (cg0 + 1.0) ** 2 / (2.0 * c * rho) - c / 2.0
        if coef > 0.0:
            x = min_norm_on_simplex(G)
        elif coef < 0.0:
            x = np.zeros(K)
            x[int(np.argmax(np.diag(G)))] = 1.0
        else:
            x = np.full(K, 1.0 / K)
        ww = _softmax(x * scales)
        gw_norm = math.sqrt(max(float(ww @ G @ ww), 0.0))
        lmda = (gw_norm + 1e-8) / cg02
        weights = np.full(K, 1.0 / K) / rho + ww * (lmda / rho)
        if self.rescale == 1:
            weights = weights / (1.0 + c * c)
        elif self.rescale == 2:
            weights = weights / (1.0 + c)
        weights = weights * K
        self.last_beta = torch.from_numpy(scales)
        self.last_x = torch.from_numpy(x)
        self.last_softmax = torch.from_numpy(ww)
        return weights

    def reset(self) -> None:
        super().reset()
        self.last_beta = None
        self.last_x = None
        self.last_softmax = None
