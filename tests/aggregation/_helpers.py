"""Hypothesis strategies for Jacobians and shared assertion helpers."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

DTYPES = (torch.float32, torch.float64)


def make_jacobian(seed: int, K: int, P: int, log_scale: float, kind: str, dtype: torch.dtype) -> torch.Tensor:
    """A K x P Jacobian with rows of varying norms; ``kind`` injects a degeneracy."""
    rng = np.random.default_rng(seed)
    J = rng.standard_normal((K, P)) * 10.0 ** rng.uniform(-1.0, 1.0, size=(K, 1))
    if kind == "zero_row":
        J[rng.integers(K)] = 0.0
    elif kind == "duplicate" and K >= 2:
        J[1] = J[0]
    elif kind == "opposite" and K >= 2:
        J[1] = -J[0]
    elif kind == "all_zero":
        J[:] = 0.0
    elif kind == "correlated":
        J = 0.8 * rng.standard_normal((1, P)) + 0.2 * J
    elif kind == "near_opposite" and K >= 2:
        J[1] = -J[0] * (1.0 + 1e-6 * rng.standard_normal(P))
    elif kind == "near_duplicate" and K >= 2:
        J[1] = J[0] * (1.0 + 1e-6 * rng.standard_normal(P))
    elif kind == "imbalanced":
        J = J * np.logspace(-6, 0, K)[:, None]
    return torch.tensor(J * 10.0**log_scale, dtype=dtype)


@st.composite
def jacobians(draw, *, min_k: int = 1, max_k: int = 8, max_p: int = 30, kinds=None, dtypes=DTYPES,
              min_log_scale: float = -8.0, max_log_scale: float = 8.0):
    """Random Jacobians: K in 1..8, P in 1..30, global scale 1e-8..1e8, optional degeneracy.

    By default: random / correlated rows, plus near-opposite rows (relative gap 1e-6) and
    row norms spread over 6 decades, which stress the solvers' conditioning."""
    K = draw(st.integers(min_k, max_k))
    P = draw(st.integers(1, max_p))
    seed = draw(st.integers(0, 2**31 - 1))
    log_scale = draw(st.floats(min_log_scale, max_log_scale))
    kind = draw(st.sampled_from(kinds or ("random", "random", "correlated", "near_opposite", "imbalanced")))
    dtype = draw(st.sampled_from(dtypes))
    return make_jacobian(seed, K, P, log_scale, kind, dtype)


def degenerate_jacobians(**kwargs):
    return jacobians(kinds=("zero_row", "duplicate", "opposite", "all_zero", "near_opposite",
                            "near_duplicate", "imbalanced"), **kwargs)


def losses_for(J: torch.Tensor, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.uniform(0.05, 3.0, size=J.shape[0]), dtype=J.dtype)


def rtol_for(dtype: torch.dtype) -> float:
    return 2e-3 if dtype == torch.float32 else 1e-7


def scale_of(J: torch.Tensor) -> float:
    """max_i ||g_i|| (0 for an all-zero J)."""
    return float(J.double().norm(dim=1).max()) if J.numel() else 0.0
