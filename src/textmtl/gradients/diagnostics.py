"""Gradient-conflict diagnostics of one step, from the K x K Gram matrix G = J Jᵀ.

Logged into history.jsonl at evaluation steps (the "compute_stats" idea of SamsungLabs/MTL).
"""

from __future__ import annotations

import torch


def cosine_matrix(gram: torch.Tensor) -> torch.Tensor:
    """Pairwise cosines of the rows behind the Gram matrix G = J Jᵀ (float64, on the CPU; 0 where a
    row is zero)."""
    g = gram.detach().double().cpu()
    norms = g.diagonal().clamp_min(0).sqrt()
    denom = torch.outer(norms, norms)
    return torch.where(denom > 0, g / denom.clamp_min(1e-300), torch.zeros_like(g)).clamp(-1, 1)


def gradient_diagnostics(gram: torch.Tensor, tasks: list[str]) -> dict:
    """Pairwise cosine matrix, gradient norms, condition number of G, share of conflicting pairs."""
    g = gram.detach().double().cpu()
    norms = g.diagonal().clamp_min(0).sqrt()
    cosine = cosine_matrix(g)
    k = len(tasks)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    conflicting = sum(1 for i, j in pairs if cosine[i, j] < 0)
    eig = torch.linalg.eigvalsh(g).clamp_min(0)
    condition = float(eig[-1] / eig[0]) if eig[0] > 0 else float("inf")
    return {
        "tasks": tasks,
        "cosine": [[round(float(v), 6) for v in row] for row in cosine],
        "grad_norms": {t: float(n) for t, n in zip(tasks, norms)},
        "gram_condition_number": condition if condition != float("inf") else None,
        "conflicting_pairs": conflicting / len(pairs) if pairs else 0.0,
    }
