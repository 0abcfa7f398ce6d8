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
from torch import nn

from ...config import BiLSTMConfig, ModelConfig, SharedPrivateConfig, TextCNNConfig, TransformerConfig
from ...data.batching import Batch
from ...data.tasks import TaskSpec
from ..encoders import BiLSTM, Encoder, EncoderOutput, PretrainedTransformer, TextCNN
from ..heads import TaskHead
from .base import Architecture, TaskOutput

TRANSFORMER_PRIVATE_SIZE = 64


def _borrow(module: nn.Module, name: str, other: nn.Module) -> None:
    """Make `module.<name>` refer to `other` WITHOUT registering it as a submodule (its parameters
    stay owned, trained and saved by their owner only)."""
    if name in module._modules:
        del module._modules[name]
    object.__setattr__(module, name, other)


def build_private_encoder(cfg: ModelConfig, shared: Encoder, size: int | None) -> Encoder:
    """A private encoder reading `shared`'s embedding table (see the module docstring)."""
    enc = cfg.encoder
    if isinstance(enc, BiLSTMConfig):
        private: Encoder = BiLSTM(1, enc.embedding_dim, size or enc.hidden_size, enc.num_layers, enc.pooling,
                                  enc.dropout, enc.freeze_embeddings, enc.embedding_dropout)
        _borrow(private, "embed", shared.embed)  # type: ignore[attr-defined]
    elif isinstance(enc, TextCNNConfig):
        private = TextCNN(1, enc.embedding_dim, enc.kernel_sizes, size or enc.num_filters, enc.dropout,
                          enc.freeze_embeddings, enc.embedding_dropout)
        _borrow(private, "embed", shared.embed)  # type: ignore[attr-defined]
    elif isinstance(enc, TransformerConfig):
        assert isinstance(shared, PretrainedTransformer)
        private = BiLSTM(1, shared.output_dim, size or TRANSFORMER_PRIVATE_SIZE, 1, "max", enc.dropout)
        _borrow(private, "embed", shared.model.get_input_embeddings())
    else:  # pragma: no cover - the config union is closed
        raise TypeError(f"unknown encoder config {enc!r}")
    return private


class SharedPrivate(Architecture):
    """SP-MTL: task k's head reads [shared features; private features of task k]."""

    name = "shared_private"

    def __init__(self, specs: list[TaskSpec], encoder: Encoder, private: dict[str, Encoder],
                 settings: SharedPrivateConfig | None = None) -> None:
        super().__init__(specs)
        self.settings = settings or SharedPrivateConfig()
        self.encoder = encoder
        self.private = nn.ModuleDict(private)
        self.heads = nn.ModuleDict({
            s.name: TaskHead(s, encoder.output_dim + private[s.name].output_dim, encoder.output_dropout) for s in specs
        })

    @classmethod
    def from_config(cls, specs: list[TaskSpec], encoder: Encoder, cfg: ModelConfig) -> "SharedPrivate":
        settings = cfg.architecture_settings()
        assert isinstance(settings, SharedPrivateConfig)
        private = {s.name: build_private_encoder(cfg, encoder, settings.private_size) for s in specs}
        return cls(specs, encoder, private, settings)

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
        return self._output(task, batch, self.encoder(batch, tokens=self.heads[task].uses_tokens))

    def forward_shared(self, tasks: Sequence[str], batch: Batch) -> dict[str, TaskOutput]:
        shared = self.encoder(batch, tokens=any(self.heads[t].uses_tokens for t in tasks))
        return {t: self._output(t, batch, shared) for t in tasks}

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def _task_only(self, task: str) -> list[nn.Parameter]:
        return list(self.private[task].parameters()) + list(self.heads[task].parameters())

    def description(self) -> dict:
        return {"architecture": self.name, **self.settings.model_dump()}
