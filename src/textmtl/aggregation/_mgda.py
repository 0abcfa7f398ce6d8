"""MGDA: the min-norm point of the convex hull of the task gradients.

Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018,
Eq. (3)/(6) (after Désidéri 2012):

    beta* = argmin_{beta in simplex} || sum_i beta_i g_i ||^2 ,      d = sum_i beta*_i g_i .

``d`` is a common descent direction (g_i' d >= ||d||^2 for every task, KKT) or zero at a
Pareto-stationary point. Solved on G = J J^T by an exact active-set QP
(``_solvers.qp_active_set``), not by Frank-Wolfe, so the KKT conditions hold to ~1e-12
relative accuracy. When the gradient norms span more than 1e4 the problem is also solved on the
cosine matrix (``_solvers.min_norm_on_simplex``), whose tolerances do not depend on the norms:
orthogonal gradients of norms 1e-6, 1, 1e6 give ||d|| = 1e-6, the true minimum (the QP on G
alone returned 0.5). This is also GetMTL's Eq. (5) step (Chai et al. 2023).

Gradient normalisation (``normalization``), as in Sener & Koltun's ``gradient_normalizers``
used by the GetMTL code: the weights are computed on g_i / n_i with n_i = 1 ('none'),
||g_i|| ('l2'), l_i ('loss') or l_i * ||g_i|| ('loss+'); the returned direction combines
the *raw* gradients with those weights (their training script multiplies the raw losses
by the scales).

Differences with other implementations (intentional):
* ``torchjd.aggregation.MGDA`` runs Frank-Wolfe with ``epsilon=1e-3, max_iters=100`` and
  has no normalisation; it is only approximately optimal, our solution is exact (its norm
  is never larger; the tests check this).
* LibMTL applies the weights to the *normalised* gradients; we follow the original code
  (raw gradients).
* A zero-norm task under 'l2'/'loss+' (division by zero in the original) is kept as a
  zero vector, which makes 0 the min-norm point (MGDA stops, as it should at a
  stationary task). Losses must be >= 0 for 'loss'/'loss+'; zero losses are floored at
  ``1e-12``.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from ._base import GramianWeightedAggregator, check_choice, gram64, losses64
from ._registry import register
from ._solvers import min_norm_on_simplex

__all__ = ["MGDA", "NORMALIZATIONS", "mgda_weights", "normalize_gram"]

NORMALIZATIONS = ("none", "l2", "loss", "loss+")


def normalize_gram(G: np.ndarray, normalization: str, losses: np.ndarray | None) -> np.ndarray:
    """Gram of the normalised gradients g_i / n_i (zero rows where n_i == 0)."""
    if normalization == "none":
        return G
    norms = np.sqrt(np.clip(np.diag(G), 0.0, None))
    if normalization == "l2":
        n = norms
    else:
        if losses is None:
            raise ValueError(f"normalization={normalization!r} needs the per-task losses")
        if np.any(losses < 0):
            raise ValueError(f"normalization={normalization!r} needs non-negative losses, got {losses.tolist()}")
        ell = np.maximum(losses, 1e-12)
        n = ell if normalization == "loss" else ell * norms
    inv = np.where(n > 0, 1.0 / np.where(n > 0, n, 1.0), 0.0)
    return G * np.outer(inv, inv)


def mgda_weights(G: np.ndarray, normalization: str = "none", losses: np.ndarray | None = None) -> np.ndarray:
    """The simplex weights beta* of the (normalised) min-norm problem, float64."""
    return min_norm_on_simplex(normalize_gram(G, normalization, losses))


@register("mgda")
class MGDA(GramianWeightedAggregator):
    """MGDA (Sener & Koltun 2018): min-norm element of the convex hull of the gradients."""

    properties = frozenset(
        {"equivariant_weights", "permutation_invariant", "positively_homogeneous", "unique_when_rank_deficient"}
    )

    def __init__(self, *, normalization: str = "none") -> None:
        super().__init__()
        check_choice("normalization", normalization, NORMALIZATIONS)
        self.normalization = normalization

    @property
    def requires_losses(self) -> bool:
        return self.normalization in ("loss", "loss+")

    def _weights(self, gram: Tensor, losses: Tensor | None) -> np.ndarray:
        ell = losses64(losses) if losses is not None else None
        return mgda_weights(gram64(gram), self.normalization, ell)
