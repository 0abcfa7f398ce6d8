"""BanditMTL: Mao, Wang, Liu, Lin & Hu, "BanditMTL: Bandit-based Multi-task Learning for Text
Classification", ACL 2021. CLOSEST DOCUMENTED READING (docs/methods/banditmtl.md), as for `emtl`.

The paper casts task weighting as an adversarial multi-armed bandit: an adversary chooses task
weights p on the simplex that raise the weighted loss, kept near uniform by a regulariser (this
is what regularises the *task variance*), and the model lowers it; both move by "mirror gradient
ascent-descent". The public abstract and the distributionally robust optimisation it builds on
fix that structure; the regulariser and step sizes could not be pinned down from the material
available here. Our reading, with a KL regulariser to uniform:

    min_θ max_{p ∈ Δ}  Σ_t p_t ℓ_t(θ) − λ KL(p ‖ u),

solved by one step of each per training step:
- descent on θ with the current p:  L = K Σ_t p_t ℓ_t  (p = u is `ls`), one backward pass;
- entropic mirror ascent on p (the multiplicative-weights/Exp3 update of adversarial bandits),
  the gradient of the objective w.r.t. log p being η(ℓ − λ log(p/u)):
      p ← normalise( p^{1−ηλ} · exp(η ℓ) ),   0 < ηλ ≤ 1.

For constant losses p converges to softmax(ℓ/λ): λ → ∞ gives uniform weights (`ls`), λ → 0 puts
all weight on the largest loss (the Tchebycheff / min-max end). With sampled task subsets the
weights of the tasks present are renormalised among them; log-weights are kept per task name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from ._loss_weighting import floats, positive
from ._weighted_sum import WeightsFromHistory
from .base import register


@register
class BanditMTL(WeightsFromHistory):
    """BanditMTL (Mao et al. 2021), our reading: adversarial task weights by entropic mirror ascent
    on Σ p ℓ − λ KL(p‖u), the model trained on K Σ p ℓ."""

    name = "banditmtl"

    def __init__(self, *, eta: float = 0.5, reg: float = 1.0) -> None:
        self.eta, self.reg = positive("eta", eta), positive("reg", reg)
        if self.eta * self.reg > 1.0:
            raise ValueError(f"eta * reg must be <= 1 (the mirror step would overshoot), got {self.eta * self.reg:g}")
        self._log_p: dict[str, float] = {}  # log-weights up to a constant (0 for a task not seen yet)

    def weights(self, tasks: list[str], like: torch.Tensor | None = None) -> torch.Tensor:
        """K p over `tasks` (the present ones), in float64; sums to K."""
        logits = torch.tensor([self._log_p.get(t, 0.0) for t in tasks], dtype=torch.float64)
        w = len(tasks) * torch.softmax(logits, dim=0)
        return w if like is None else w.to(dtype=like.dtype, device=like.device)

    def observe(self, values: Mapping[str, float]) -> None:
        """One mirror-ascent step on the weights of the tasks present, from their losses."""
        present = [t for t, v in values.items() if math.isfinite(v)]
        if not present:
            return
        # x <- (1 - ηλ) x + η ℓ: bounded by max ℓ / λ (1 - ηλ < 1), so no renormalising shift is needed
        k = 1.0 - self.eta * self.reg
        for t in present:
            self._log_p[t] = k * self._log_p.get(t, 0.0) + self.eta * float(values[t])

    def state_dict(self) -> dict[str, Any]:
        return {"log_p": dict(self._log_p)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._log_p = floats(state, "log_p")
