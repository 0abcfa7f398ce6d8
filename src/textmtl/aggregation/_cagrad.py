"""CAGrad: conflict-averse gradient descent.

Liu, Liu, Jin, Stone & Liu, "Conflict-Averse Gradient Descent for Multi-task Learning",
NeurIPS 2021, Eq. (3)-(4) and Algorithm 1. With g_0 = mean_i g_i and
phi = c^2 ||g_0||^2, the primal problem

    max_d min_i <g_i, d>   s.t.  ||d - g_0|| <= c ||g_0||                         (Eq. 3)

has the dual over the simplex (Eq. 4)

    w* = argmin_{w in simplex}  g_w' g_0 + sqrt(phi) ||g_w||,   g_w = sum_i w_i g_i

and the update d* = g_0 + (sqrt(phi) / ||g_w*||) g_w*  (Algorithm 1, line 4).
Everything is computed from G = J J^T: g_w' g_0 = w' G 1/K, ||g_w||^2 = w' G w. The dual is
solved exactly (``_solvers.linear_plus_norm_on_simplex``, no scipy SLSQP / cvxpy); the
tests certify optimality by a zero duality gap, min_i <g_i, d*> = dual value. When J is
available (``__call__``), ||g_w*|| is recomputed from the vector g_w* itself, so that
||d - g_0|| = c ||g_0|| holds to working precision (a Gram only gives that norm to
~sqrt(eps) max_i ||g_i||); ``weights(G)`` uses the Gram-based norm.

Degenerate case: when ||g_w*|| is at round-off level (0 is in the convex hull and the
optimal value is 0; Pareto-stationary point), the formula is 0/0. We then return the
primal solution closest to g_0: the projection of g_0 onto the dual cone {d: Jd >= 0}
(kept inside the ball), i.e. a conflict-free direction. torchjd returns the zero vector
in this case (``g_w_norm < norm_eps``).

``rescale`` mirrors the official code: 0 -> d (paper, torchjd), 1 -> d / (1 + c^2)
(official/LibMTL default), 2 -> d / (1 + c). The official training loop further
multiplies by the number of tasks "to match the sum loss"; we do not.
The scale of our output equals ``torchjd.aggregation.CAGrad``'s (rescale=0, mean based);
``tests/aggregation/test_torchjd_oracle.py`` compares the two where cvxpy, which torchjd's
CAGrad needs, is installed (the `dev` extra installs it).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ._base import (
    GramianWeightedAggregator,
    check_choice,
    check_range,
    dtype_eps,
    gram64,
    norm_tol,
)
from ._registry import register
from ._solvers import dual_cone_projection_weights, linear_plus_norm_on_simplex

__all__ = ["CAGrad"]


@register("cagrad")
class CAGrad(GramianWeightedAggregator):
    """CAGrad (Liu et al. 2021): best worst-task improvement within a ball around g_0."""

    properties = frozenset(
        {"equivariant_weights", "permutation_invariant", "positively_homogeneous", "unique_when_rank_deficient"}
    )

    def __init__(self, *, c: float = 0.5, rescale: int = 0) -> None:
        super().__init__()
        self.c = check_range("c", c, low=0.0)
        check_choice("rescale", rescale, (0, 1, 2))
        self.rescale = rescale
        #: Diagnostics of the last call: the dual simplex weights w* of Eq. (4).
        self.last_dual_weights: Tensor | None = None
        self._pending: tuple[str, np.ndarray, float] | None = None

    def _weights(self, gram: Tensor, losses: Tensor | None) -> np.ndarray:
        G = gram64(gram)
        K = G.shape[0]
        mean = np.full(K, 1.0 / K)
        top = math.sqrt(max(float(np.max(np.diag(G))), 0.0))
        a = G @ mean  # <g_i, g_0>
        g0_norm = math.sqrt(max(float(mean @ a), 0.0))
        radius = self.c * g0_norm
        tol = norm_tol(gram) * top
        w = mean
        self._pending = None
        if self.c == 0.0 or not g0_norm > tol:
            weights = mean  # d = g_0 (or ~0 when the mean gradient vanishes)
        else:
            w, n = linear_plus_norm_on_simplex(G, a, radius)
            if n > tol:
                weights = mean + (radius / n) * w
                self._pending = ("dual", w, radius)
            else:
                v = dual_cone_projection_weights(G, mean, noise_rel=K * dtype_eps(gram))[0]
                shift = v - mean
                shift_norm = math.sqrt(max(float(shift @ G @ shift), 0.0))
                self._pending = ("projection", shift.copy(), radius)
                if shift_norm > radius:
                    shift *= radius / shift_norm
                weights = mean + shift
        self.last_dual_weights = torch.from_numpy(w)
        return weights * self._rescale_factor()

    def _rescale_factor(self) -> float:
        if self.rescale == 1:
            return 1.0 / (1.0 + self.c**2)
        if self.rescale == 2:
            return 1.0 / (1.0 + self.c)
        return 1.0

    def _refine(self, jacobian: Tensor) -> np.ndarray | None:
        # Exact ||g_w|| from J, so that ||d - g_0|| = c ||g_0|| holds to working precision.
        if self._pending is None:
            return None
        kind, vec, radius = self._pending
        self._pending = None
        direction = torch.as_tensor(vec, dtype=jacobian.dtype, device=jacobian.device) @ jacobian
        n = float(direction.double().norm())
        if not n > 0.0 or not math.isfinite(n):
            return None
        mean = np.full(vec.shape[0], 1.0 / vec.shape[0])
        if kind == "dual":  # d = g_0 + radius * g_w / ||g_w||
            return (mean + (radius / n) * vec) * self._rescale_factor()
        # projection shift, kept inside the ball
        return (mean + vec * min(1.0, radius / n)) * self._rescale_factor()

    def reset(self) -> None:
        super().reset()
        self.last_dual_weights = None
