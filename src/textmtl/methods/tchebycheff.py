"""Tchebycheff loss: Mao, Yun, Liu & Du, "Tchebycheff procedure for multi-task text
classification", ACL 2020, in the form of the survey of Chen, Zhang & Yang (ACM CSUR 2024,
§3.1; ../shared/reference/papers.md §4.2):

    L = max_t λ_t ℓ_t,        λ_t = 1 / (l̄_t Σ_i 1/l̄_i),

an L∞ (min-max) scalarisation of the losses normalised by their running means l̄_t, so the
task that is worst *relative to its own scale* is the one trained. Only the arg-max task
receives a gradient (λ_t are constants): its weight is λ_t*, every other weight is 0, and
ties go to the first task in order.

Running mean (our choice; the survey does not pin it down): l̄_t is the mean of task t's
losses over the *previous* steps in which it was present, the cumulative arithmetic mean by
default or an exponential moving average l̄ ← β l̄ + (1−β) ℓ with `momentum: β`. The current
loss enters l̄ only after the step (normalising by a mean that already contains it would pull
every ratio towards 1); a task seen for the first time uses its current loss as l̄. λ is
computed over the tasks present at the step (Σ_t λ_t = 1 over them). Running means are
clamped at 1e-12 before inverting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from ._loss_weighting import as_float, as_tensor, floats, stack_losses
from .base import Method, StepContext, StepStats, register

_EPS = 1e-12


@register
class Tchebycheff(Method):
    """Tchebycheff loss (Mao et al. 2020): L = max_t λ_t ℓ_t, λ_t ∝ 1/l̄_t (running mean), Σ over present tasks."""

    name = "tchebycheff"
    fuses_auxiliary = True
    backends = ("loss",)

    def __init__(self, *, momentum: float | None = None) -> None:
        beta = None if momentum is None else as_float("momentum", momentum)
        if beta is not None and not 0.0 <= beta < 1.0:
            raise ValueError(f"momentum must be in [0, 1) or null (cumulative mean), got {momentum!r}")
        self.momentum = beta
        self._mean: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def lambdas(self, tasks: list[str], current: torch.Tensor) -> torch.Tensor:
        """λ over `tasks` (current losses stand in for tasks without history)."""
        cur = current.detach()
        history = as_tensor([self._mean.get(t, 1.0) for t in tasks], cur)
        known = torch.tensor([t in self._mean for t in tasks], device=cur.device)
        ref = torch.where(known, history, cur)
        inv = 1.0 / ref.clamp_min(_EPS)
        return inv / inv.sum()

    def objective(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        tasks, vec = stack_losses(losses)
        return (self.lambdas(tasks, vec) * vec).max()

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        tasks, vec = stack_losses(losses)
        lam = self.lambdas(tasks, vec)
        scaled = lam * vec
        top = int(torch.argmax(scaled.detach()))
        ctx.backward(scaled[top])
        values = vec.detach().tolist()
        lam_top = float(lam[top])
        self.observe(dict(zip(tasks, values)))
        return StepStats(
            weights={t: (lam_top if i == top else 0.0) for i, t in enumerate(tasks)},
            extra={"tchebycheff_task": tasks[top]} if ctx.record else {},
        )

    def observe(self, values: Mapping[str, float]) -> None:
        """Fold one step's losses into the running means."""
        for t, v in values.items():
            if not math.isfinite(v):
                continue
            n = self._count.get(t, 0)
            if n == 0:
                self._mean[t] = v
            elif self.momentum is None:
                self._mean[t] += (v - self._mean[t]) / (n + 1)
            else:
                self._mean[t] = self.momentum * self._mean[t] + (1 - self.momentum) * v
            self._count[t] = n + 1

    def state_dict(self) -> dict[str, Any]:
        return {"mean": dict(self._mean), "count": dict(self._count)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._mean = floats(state, "mean")
        self._count = {k: int(v) for k, v in (state.get("count") or {}).items()}


@register
class TchebycheffAdversarial(Tchebycheff):
    """TchebycheffAdv (Mao, Yun, Liu & Du, ACL 2020, the adversarial variant of GetMTL's baselines):
    the Tchebycheff loss above on the adversarial shared-private model (ASP-MTL's task
    discriminator and orthogonality terms, `model.architecture: adversarial`), which the paper
    trains it with (`method: tchebycheff_adv` sets `model.architecture: adversarial`). The task
    discriminator's loss enters as the architecture's auxiliary loss, in the same backward pass as
    the Tchebycheff term; a model built without an adversary is refused."""

    name = "tchebycheff_adv"
    architecture = "adversarial"  # `method: tchebycheff_adv` sets model.architecture (as stl sets separate)

    def check_model(self, model) -> None:
        if not getattr(model, "adversarial_training", False):
            raise ValueError(
                f"tchebycheff_adv is the Tchebycheff loss with adversarial training (Mao et al. 2020); architecture "
                f"'{model.name}' has no task discriminator: set model.architecture: adversarial (or use tchebycheff)"
            )
