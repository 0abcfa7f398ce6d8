"""Kendall's τ between flattened head-importance matrices (GradTS `calculate_corr.py`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.stats import kendalltau


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """`scipy.stats.kendalltau` (τ-b) of the flattened matrices. A constant matrix has no ranking:
    τ is NaN then, returned as 0.0 (no evidence of shared heads)."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"head matrices differ in size: {a.size} vs {b.size} values")
    tau = float(kendalltau(a, b).statistic)
    return 0.0 if math.isnan(tau) else tau


def tau_matrix(matrices: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Task names and the symmetric task × task τ matrix (1 on the diagonal)."""
    names = list(matrices)
    out = np.eye(len(names))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            out[i, j] = out[j, i] = kendall_tau(matrices[a], matrices[names[j]])
    return names, out


def instance_taus(main: np.ndarray, instances: np.ndarray) -> np.ndarray:
    """τ(main task matrix, each instance matrix of an auxiliary task): [instances]."""
    return np.array([kendall_tau(main, m) for m in instances], dtype=np.float64)
