"""Nash-MTL: multi-task learning as a bargaining game.

Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022, Eq. (2) /
Algorithm 1. The Nash bargaining solution d = sum_i alpha_i g_i is characterised by

    G alpha = 1 / alpha ,   alpha > 0          (element-wise; i.e. g_i'd = 1/alpha_i).

The official code approximates it with 20 sequential convex (CCP) steps solved by
cvxpy/ECOS; torchjd mirrors that. We solve it *exactly* (to ~1e-12) as the unique minimiser
of the strictly convex ``1/2 a'Ga - sum(log a)`` with a damped Newton method
(``_solvers.nash_bargaining``), warm-started from the previous step's alpha (the state).

Conventions of the official code (and of LibMTL and torchjd):
* ``gram="raw"`` (default): alpha solves G alpha = 1/alpha on the raw Gram, so the unclipped
  step has ||d||^2 = alpha'G alpha = K at any gradient scale (the direction is scale-invariant,
  d(sJ) = d(J)). ``gram="normalized"`` takes the alpha of G / ||G||_F instead, so
  ||d|| = sqrt(K ||G||_F) and d(sJ) = s d(J) (positively homogeneous): the convention textmtl
  used before 2026-12, under which the nash_mtl runs of docs/RESULTS.md were trained; with the
  default max_norm = 1 its steps are shorter whenever K ||G||_F < 1 (small late gradients).
  Both give the same direction (cosine 1).
* ``max_norm`` (default 1.0, 0 disables): if ||d|| > max_norm, alpha is rescaled so that
  ||d|| = max_norm (torchjd/official clip the norm of J'alpha the same way).
``update_weights_every`` (Nash-MTL-T) is left to the caller (re-use ``last_weights``).

Numerics: G alpha = 1/alpha is equivalent to C beta = 1/beta on the cosine matrix
C = D^-1 G D^-1 with beta = D alpha (D = diag ||g_i||), which we solve (well scaled
whatever the gradient norms), after zeroing the eigenvalues of C below the round-off level
of the input dtype. The problem has no solution when C is singular along a non-negative
direction (e.g. two exactly opposite gradients); ``reg`` (default 1e-12) is added to the
diagonal of C so that the weights stay finite (then large for the degenerate tasks, whose
contributions cancel). Tasks with a zero gradient get weight 0 (their alpha would be
infinite; their contribution is zero anyway). The state is the previous beta (warm start:
the solution is unique, so the state only affects speed, unlike the official CCP).
Against torchjd's NashMTL (the official CCP) the tests compare the bargaining objective
sum_i log(g_i'd) on unit directions: ours is never worse; the vectors themselves differ
wherever the official procedure stops early.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import Tensor

from ._base import GramianWeightedAggregator, check_choice, check_range, dtype_eps, gram64
from ._registry import register
from ._solvers import nash_bargaining

__all__ = ["NashMTL"]


@register("nash_mtl")
class NashMTL(GramianWeightedAggregator):
    """Nash-MTL (Navon et al. 2022): Nash bargaining solution G alpha = 1/alpha."""

    properties = frozenset({"equivariant_weights", "permutation_invariant", "positively_homogeneous"})
    # the raw-Gram step is scale-invariant (degree 0) and the clipping to max_norm is not homogeneous
    homogeneous_hparams = {"max_norm": 0.0, "gram": "normalized"}

    stateful = True

    def __init__(self, *, max_norm: float = 1.0, reg: float = 1e-12, gram: str = "raw") -> None:
        super().__init__()
        self.max_norm = check_range("max_norm", max_norm, low=0.0)
        check_choice("gram", gram, ("raw", "normalized"))
        self.gram = gram
        self.reg = check_range("reg", reg, low=0.0, low_open=True)
        self._prev_beta: np.ndarray | None = None

    def _weights(self, gram: Tensor, losses: Tensor | None) -> np.ndarray:
        G = gram64(gram)
        K = G.shape[0]
        fro = float(np.linalg.norm(G))
        if not fro > 0.0 or not math.isfinite(fro):
            return np.ones(K)
        G = G / fro
        norms = np.sqrt(np.clip(np.diag(G), 0.0, None))
        active = norms > 0.0
        n = norms[active]
        # Solve on the cosine matrix: with beta = D alpha (D = diag ||g_i||), G alpha = 1/alpha
        # is equivalent to C beta = 1/beta -- well scaled whatever the gradient norms. Its
        # eigenvalues below the round-off level of the input dtype are zeroed (a float32 Gram
        # of exactly opposite gradients is otherwise indefinite and f unbounded below).
        C = G[active][:, active] / np.outer(n, n)
        lam, V = np.linalg.eigh(C)
        lam = np.where(lam > K * dtype_eps(gram) * max(float(lam[-1]), 0.0), lam, 0.0)
        C = (V * lam) @ V.T
        prev = self._prev_beta
        start = prev[active] if (prev is not None and prev.shape == (K,)) else None
        beta = nash_bargaining(C, reg=self.reg, alpha0=start)
        full_beta = np.ones(K)
        full_beta[active] = beta
        self._prev_beta = full_beta
        alpha = np.zeros(K)  # zero gradients get weight 0 (their alpha would be infinite)
        alpha[active] = beta / n
        if self.gram == "raw":  # G alpha = 1/alpha on G = ||G||_F Gn: alpha = alpha_n / sqrt(||G||_F)
            alpha = alpha / math.sqrt(fro)
        if self.max_norm > 0.0:
            norm = math.sqrt(max(float(alpha @ G @ alpha), 0.0) * fro)
            if norm > self.max_norm:
                alpha = alpha * (self.max_norm / norm)
        return alpha

    def state_dict(self) -> dict[str, Any]:
        return {"prev_beta": None if self._prev_beta is None else self._prev_beta.tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        unknown = set(state) - {"prev_beta"}
        if unknown:
            raise ValueError(f"NashMTL: unexpected state keys {sorted(unknown)}")
        prev = state.get("prev_beta")
        self._prev_beta = None if prev is None else np.asarray(prev, dtype=np.float64).copy()

    def reset(self) -> None:
        super().reset()
        self._prev_beta = None
