"""FAMO: Liu, Liu, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023,
Algorithm 2 (the practical version with logit regularisation).

Logits ξ (one per task, init 0), z = softmax(ξ), D_k = ℓ_k − ℓ*_k + ε with ℓ*_k = `min_losses`:

- step (`backward`): one backward pass of Σ_k (z_k / c) log D_k with c = Σ_k z_k / D_k held
  constant, i.e. the gradient Σ_k w_k ∇ℓ_k with w_k = z_k / (c D_k) (these w_k, which sum to
  1, are the reported weights; z is added to history as `famo_softmax` at evaluation steps);
- after the optimiser step (`after_step`): the same batches are evaluated again under
  `torch.no_grad()` through `ctx.forward(task, ctx.batches[task])` (the model is still in
  train mode, as in the official code: dropout is active), δ_k = log D_k(before) − log D_k(after)
  is the log-loss decrease, and ξ takes one Adam step (lr `w_lr`, coupled L2 weight decay
  `gamma`) along J_softmax(ξ)ᵀ δ = z ⊙ (δ − ⟨z, δ⟩): tasks that improved less gain weight.

Costs one extra no-grad forward per step (anchors.md §2.2). Defaults: w_lr = 0.025 and
γ = 1e-3 as in Algorithm 2 and LibMTL. The official code is inconsistent about γ
(`famo.py` 0.01, `methods/weight_methods.py` 1e-5, `experiments/utils.py` 0.01; anchors.md
§3.2), so pass `gamma` explicitly to reproduce a specific experiment.

Numerics: D_k = max(ℓ_k − ℓ*_k, 0) + ε (the official code adds ε without the max, which
gives log of a negative number when a loss dips below `min_losses`); with finite losses
every quantity stays finite. Tasks absent from a step keep their logit; the softmax runs over
the tasks present.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ._loss_weighting import (
    TaskAdam,
    as_float,
    as_tensor,
    floats,
    positive,
    stack_losses,
)
from .base import Method, StepContext, StepStats, register


@register
class FAMO(Method):
    """FAMO (Liu et al. 2023, Alg. 2): softmax-logit weights on log-losses, logits updated after the step."""

    name = "famo"
    fuses_auxiliary = True
    backends = ("loss",)

    def __init__(self, *, w_lr: float = 0.025, gamma: float = 1e-3, min_losses: float = 0.0, eps: float = 1e-8) -> None:
        self.w_lr, self.gamma = positive("w_lr", w_lr), positive("gamma", gamma, allow_zero=True)
        self.min_losses, self.eps = as_float("min_losses", min_losses), positive("eps", eps)
        self.xi: dict[str, float] = {}
        self._adam = TaskAdam(self.w_lr, weight_decay=self.gamma)
        self._pending: tuple[list[str], torch.Tensor] | None = None  # (tasks, log D) of the step

    def _log_d(self, vec: torch.Tensor) -> torch.Tensor:
        return torch.log((vec - self.min_losses).clamp_min(0.0) + self.eps)

    def softmax(self, tasks: list[str], like: torch.Tensor) -> torch.Tensor:
        for t in tasks:
            self.xi.setdefault(t, 0.0)
        return torch.softmax(as_tensor((self.xi[t] for t in tasks), like), dim=0)

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        tasks, vec = stack_losses(losses)
        z = self.softmax(tasks, vec)
        log_d = self._log_d(vec)
        inv_d = torch.exp(-log_d.detach())  # 1 / D
        c = (z * inv_d).sum()
        ctx.backward((z / c * log_d).sum())
        self._pending = (tasks, log_d.detach())
        stats = StepStats(weights=dict(zip(tasks, (z * inv_d / c).tolist())))
        if ctx.record:
            stats.extra["famo_softmax"] = dict(zip(tasks, z.tolist()))
        return stats

    def after_step(self, ctx: StepContext) -> None:
        if self._pending is None:
            return
        tasks, before = self._pending
        self._pending = None
        if ctx.forward is None:
            raise RuntimeError("FAMO needs ctx.forward to re-evaluate the step's losses")
        with torch.no_grad():
            after = torch.stack([ctx.forward(t, ctx.batches[t]).reshape(()) for t in tasks]).to(before)
        self.update(tasks, before, self._log_d(after))

    def update(self, tasks: list[str], log_d_before: torch.Tensor, log_d_after: torch.Tensor) -> None:
        """One Adam step on the logits from the log-loss decreases δ = log D(before) − log D(after)."""
        delta = log_d_before - log_d_after
        z = self.softmax(tasks, delta)
        grad = z * (delta - (z * delta).sum())  # J_softmax(ξ)ᵀ δ
        self.xi = self._adam.step(self.xi, dict(zip(tasks, grad.tolist())))

    def state_dict(self) -> dict[str, Any]:
        return {"xi": dict(self.xi), "adam": self._adam.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.xi = floats(state, "xi")
        self._adam.load_state_dict(state.get("adam", {}))
        self._pending = None
