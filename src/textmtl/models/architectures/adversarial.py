"""Adversarial shared-private sharing, ASP-MTL (Liu, Qiu & Huang 2017, §4, Eqs. 12-15).

SP-MTL (`shared_private`) plus two auxiliary losses, L = L_task + λ L_adv + γ L_diff:
- a task discriminator D(s) = softmax(U s + b) on the shared sentence features (Eq. 12) and the
  adversarial loss min_{θ_s} λ max_{θ_D} Σ_k Σ_i log D_k(E_s(x_i^k)) (Eq. 13), implemented with a
  gradient reversal layer (Ganin & Lempitsky 2015): the discriminator minimises its
  cross-entropy (gradient +∇L_adv), while the shared encoder receives the reversed and scaled
  gradient −λ∇L_adv, i.e. it learns features from which the task cannot be told;
- the orthogonality ("difference") penalty L_diff = Σ_k ||S_kᵀ H_k||²_F (Eq. 14) between the
  shared features S_k and the private features H_k of task k's batch (rows = sentences, or
  real tokens for tagging tasks). `orthogonality: normalized` (default) divides each term by
  ||S_k||²_F ||H_k||²_F: it is then in [0, 1] whatever the feature scale (the raw form grows
  with batch size, sequence length and feature magnitude, and can be lowered by shrinking the
  features instead of decorrelating them); both forms are zero exactly when S_kᵀ H_k = 0.

`encoder_objective: confusion` replaces the reversed gradient by a bounded objective for the
encoder (the "domain confusion" loss of Tzeng et al. 2015): the discriminator still minimises its
cross-entropy on detached shared features, while the shared encoder minimises
λ · mean_i CE(D(s_i), uniform) = λ · mean_i (−1/K Σ_j log D_j(s_i)) through a frozen copy of D.
It is ≥ λ log K, reached when D cannot tell the tasks apart, so it cannot drive the encoder to
make D confidently wrong, which the reversed (unbounded) cross-entropy does on FDU-MTL with the
unlabelled text (docs/RESULTS.md §8).

Both terms enter through `auxiliary_loss`, which the trainer back-propagates before the task
method: the method's gradients then add to them. The discriminator's parameters are neither
shared nor a task's own (`parameter_counts()['other']`): no gradient method sees them.

Defaults λ = 0.05, γ = 0.01 (paper §5.3). With tasks that share their inputs (CoNLL-2003) the
discriminator gets the same sentence under three labels and cannot beat chance: L_adv is then
uninformative (it stays near log K).

Unlabelled text (`data.unlabelled: true`, FDU-MTL `*.task.unlabel`): the discriminator needs no
task labels, so ASP-MTL also trains it on unlabelled text (§4, "semi-supervised"). Every step
then draws a batch of each sampled task's unlabelled reviews (as many as its labelled batch);
their shared features join the labelled ones in that task's term of L_adv (one cross-entropy
over both). L_diff stays on the labelled batch (it needs the private features of the head's input).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ...data.batching import Batch
from ...data.tasks import TaskSpec
from ...registry import architectures
from ..encoders import Encoder
from .base import TaskOutput
from .shared_private import SharedPrivate, SharedPrivateConfig


class AdversarialConfig(SharedPrivateConfig):
    """`adversarial` (ASP-MTL, Liu et al. 2017 Eq. 15): L = L_task + λ L_adv + γ L_diff."""

    adversarial_weight: float = Field(default=0.05, ge=0)  # λ: scale of the reversed gradient into the shared encoder
    orthogonality_weight: float = Field(default=0.01, ge=0)  # γ
    # 'normalized': Σ_k ||S_kᵀ H_k||²_F / (||S_k||²_F ||H_k||²_F) (each task's term in [0, 1]);
    # 'paper': Σ_k ||S_kᵀ H_k||²_F on the raw features (Eq. 14)
    orthogonality: Literal["normalized", "paper"] = "normalized"
    # what the shared encoder does against the discriminator: 'reversal' (ASP-MTL: gradient reversal,
    # i.e. maximise its cross-entropy, which is unbounded) or 'confusion' (minimise the cross-entropy
    # of its prediction against the uniform distribution, Tzeng et al. 2015: bounded below by log K)
    encoder_objective: Literal["reversal", "confusion"] = "reversal"


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def gradient_reversal(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity forward; the backward pass multiplies the incoming gradient by −`scale`."""
    return _GradientReversal.apply(x, scale)


def orthogonality_penalty(
    shared: torch.Tensor, private: torch.Tensor, normalized: bool = True, eps: float = 1e-12
) -> torch.Tensor:
    """||Sᵀ H||²_F for row-aligned features S [n, d_s], H [n, d_h] (ASP-MTL Eq. 14); `normalized`
    divides by ||S||²_F ||H||²_F (in [0, 1], zero iff SᵀH = 0)."""
    value = (shared.transpose(0, 1) @ private).pow(2).sum()
    if normalized:
        value = value / (shared.pow(2).sum() * private.pow(2).sum() + eps)
    return value


@architectures.register("adversarial", settings=AdversarialConfig)
class AdversarialSharedPrivate(SharedPrivate):
    """ASP-MTL: SP-MTL + task discriminator through gradient reversal + orthogonality penalty."""

    name = "adversarial"
    uses_unlabelled = True
    adversarial_training = True  # a task discriminator trained against the shared encoder (tchebycheff_adv)

    def __init__(
        self,
        specs: list[TaskSpec],
        encoder: Encoder,
        private: dict[str, Encoder],
        settings: AdversarialConfig | None = None,
    ) -> None:
        settings = settings or AdversarialConfig()
        super().__init__(specs, encoder, private, settings)
        self.settings: AdversarialConfig = settings
        self.discriminator = nn.Linear(encoder.output_dim, len(specs))
        self.task_index = {s.name: i for i, s in enumerate(specs)}
        self.last_auxiliary: dict[str, torch.Tensor] = {}
        self.last_discriminator_loss = torch.zeros(())

    def adversarial_loss(
        self, outputs: Mapping[str, TaskOutput], unlabelled: Mapping[str, Batch] | None = None
    ) -> torch.Tensor:
        """Σ_k mean_i CE(D(GRL_λ(s_i^k)), k) over task k's labelled batch and, if given, its
        unlabelled batch: the discriminator's loss; its gradient reaches the shared encoder
        reversed and scaled by λ. With `encoder_objective: confusion`: the same cross-entropy on
        detached features (the discriminator's gradient only) plus λ Σ_k mean_i CE(D̄(s_i^k), uniform)
        through a frozen D̄ (the encoder's gradient only)."""
        terms, confusion = [], []
        weight = self.settings.adversarial_weight
        for task, out in outputs.items():
            pooled = out.extras["shared_pooled"]
            if unlabelled and task in unlabelled:
                pooled = torch.cat([pooled, self.encoder(unlabelled[task]).pooled])
            target = torch.full((pooled.shape[0],), self.task_index[task], dtype=torch.long, device=pooled.device)
            if self.settings.encoder_objective == "reversal":
                terms.append(F.cross_entropy(self.discriminator(gradient_reversal(pooled, weight)), target))
            else:
                terms.append(F.cross_entropy(self.discriminator(pooled.detach()), target))
                frozen = F.linear(pooled, self.discriminator.weight.detach(), self.discriminator.bias.detach())
                confusion.append(-F.log_softmax(frozen, dim=-1).mean(dim=-1).mean())
        loss = torch.stack(terms).sum()
        self.last_discriminator_loss = loss.detach()
        return loss + weight * torch.stack(confusion).sum() if confusion else loss

    def difference_loss(self, outputs: Mapping[str, TaskOutput]) -> torch.Tensor:
        """Σ_k ||S_kᵀ H_k||²_F over the step's tasks (rows: sentences, or real tokens for tagging)."""
        terms = []
        for out in outputs.values():
            s, h = out.extras["shared"], out.extras["private"]
            if "mask" in out.extras:
                s, h = s[out.extras["mask"]], h[out.extras["mask"]]
            terms.append(orthogonality_penalty(s, h, self.settings.orthogonality == "normalized"))
        return torch.stack(terms).sum()

    def auxiliary_loss(
        self,
        outputs: Mapping[str, TaskOutput],
        batches: Mapping[str, Batch],
        unlabelled: Mapping[str, Batch] | None = None,
    ) -> torch.Tensor | None:
        del batches
        if not outputs:
            return None
        adv, diff = self.adversarial_loss(outputs, unlabelled), self.difference_loss(outputs)
        # reported by `evaluation_record` (the training step's values, not the evaluation data's):
        # the discriminator's cross-entropy, whichever the encoder's objective
        self.last_auxiliary = {
            "last_step_adversarial_loss": self.last_discriminator_loss,
            "last_step_orthogonality_loss": diff.detach(),
        }
        # λ is applied inside adversarial_loss (to the encoder's gradient only), γ here
        return adv + self.settings.orthogonality_weight * diff

    def evaluation_record(self, batches: Mapping[str, Sequence[Batch]]) -> dict[str, Any]:
        del batches
        return {k: float(v) for k, v in self.last_auxiliary.items()}
