"""Shared-private sharing, SP-MTL (Liu, Qiu & Huang 2017, "Adversarial Multi-task Learning for
Text Classification", §3.2 and Eq. 10): a shared encoder s^k = E_s(x) and a private encoder
h^k = E_k(x) per task; task k's head reads the concatenation [s^k; h^k].

Private encoders are of the shared encoder's type (BiLSTM or TextCNN) with their own width
(`model.shared_private.private_size`); for a transformer they are 1-layer BiLSTMs over the
transformer's input word embeddings (a transformer per task would be unaffordable). In every
case they READ the shared encoder's embedding table instead of owning a copy: with K = 16
domains, 16 copies of the vocabulary's embeddings would dominate memory and the saved model.
The table stays a shared parameter (it lives in the shared encoder).

Gradient methods: the shared parameters are the shared encoder's; task k's own parameters are
its private encoder and head. The representation is the shared encoder's output s^k (what the
method combines); the private features join downstream of it, so the `representation`
back-end pushes the combined gradient through the shared encoder only, and each private
encoder gets its task's plain gradient (the embedding table then only gets the shared path's
gradient under that back-end: an approximation, like the back-end itself).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pydantic import Field
from torch import nn

from ...data.batching import Batch
from ...data.tasks import TaskSpec
from ...registry import architectures
from ..encoders import Encoder, EncoderOutput
from ..heads import TaskHead
from .base import Architecture, ArchitectureSettings, BuildContext, TaskOutput


class SharedPrivateConfig(ArchitectureSettings):
    """`shared_private` (SP-MTL, Liu et al. 2017 §3.2): a private encoder per task beside the shared one."""

    # private encoder width: BiLSTM hidden size / TextCNN filters per kernel; None = the shared encoder's
    # (a transformer's private encoders are BiLSTMs over its input embeddings: None = 64)
    private_size: int | None = Field(default=None, ge=1)


@architectures.register("shared_private", settings=SharedPrivateConfig)
class SharedPrivate(Architecture):
    """SP-MTL: task k's head reads [shared features; private features of task k]."""

    name = "shared_private"

    def __init__(
        self,
        specs: list[TaskSpec],
        encoder: Encoder,
        private: dict[str, Encoder],
        settings: SharedPrivateConfig | None = None,
    ) -> None:
        super().__init__(specs)
        self.settings = settings or SharedPrivateConfig()
        self.encoder = encoder
        self.private = nn.ModuleDict(private)
        self.heads = nn.ModuleDict(
            {
                s.name: TaskHead(s, encoder.output_dim + private[s.name].output_dim, encoder.output_dropout)
                for s in specs
            }
        )

    @classmethod
    def build(cls, ctx: BuildContext) -> SharedPrivate:
        encoder = ctx.new_encoder()
        private = {s.name: ctx.private_encoder(encoder, ctx.settings.private_size) for s in ctx.specs}
        return cls(ctx.specs, encoder, private, ctx.settings)

    def _output(self, task: str, batch: Batch, shared: EncoderOutput) -> TaskOutput:
        head = self.heads[task]
        own = self.private[task](batch, tokens=head.uses_tokens)
        s = shared.tokens if head.uses_tokens else shared.pooled
        h = own.tokens if head.uses_tokens else own.pooled
        assert s is not None and h is not None
        extras = {"shared": s, "private": h, "shared_pooled": shared.pooled}
        if head.uses_tokens:
            extras["mask"] = shared.mask
        return TaskOutput(head(torch.cat([s, h], dim=-1)), s, extras)

    def forward(self, task: str, batch: Batch) -> TaskOutput:
        return self._output(task, batch, self.encoder(batch, tokens=self.reads_tokens(task)))

    def forward_shared(self, tasks: Sequence[str], batch: Batch) -> dict[str, TaskOutput]:
        shared = self.encoder(batch, tokens=any(self.reads_tokens(t) for t in tasks))
        return {t: self._output(t, batch, shared) for t in tasks}

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def _task_only(self, task: str) -> list[nn.Parameter]:
        return list(self.private[task].parameters()) + list(self.heads[task].parameters())
