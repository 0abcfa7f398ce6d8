"""TextCNN (Kim 2014) with kernel sizes 3, 5, 7: the shared encoder of GetMTL (§5, after Mao et al. 2021)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from ...data.batching import Batch
from ...registry import encoders
from .base import EncoderOutput, EncoderSettings
from .embedding import WordEmbedding, WordEncoder


class TextCNNConfig(EncoderSettings):
    """`model.encoder` with `type: textcnn`."""

    type: Literal["textcnn"] = "textcnn"
    embedding_dim: int = Field(default=50, ge=1)
    glove: bool = True
    freeze_embeddings: bool = False
    kernel_sizes: list[Annotated[int, Field(ge=1, le=64)]] = Field(default_factory=lambda: [3, 5, 7], min_length=1)
    num_filters: int = Field(default=100, ge=1)
    dropout: float = Field(default=0.5, ge=0.0, lt=1.0)  # on the encoder output
    embedding_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


@encoders.register("textcnn", settings=TextCNNConfig)
class TextCNN(WordEncoder):
    """Embeddings -> parallel 'same'-padded convolutions + ReLU -> max over time.

    Per-token states are the concatenated convolution outputs, so tagging works too.
    """

    resizable = "num_filters"

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 50,
        kernel_sizes: Sequence[int] = (3, 5, 7),
        num_filters: int = 100,
        dropout: float = 0.5,
        freeze_embeddings: bool = False,
        embedding_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embed = WordEmbedding(vocab_size, embedding_dim, freeze_embeddings)
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, num_filters, k, padding=k // 2) for k in kernel_sizes)
        self.output_dropout = dropout
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.output_dim = num_filters * len(kernel_sizes)

    def forward(self, batch: Batch, *, tokens: bool = False) -> EncoderOutput:
        mask = batch.attention_mask
        x = self.embedding_dropout(self.embed(batch.input_ids)).transpose(1, 2)  # [B, E, L]
        length = x.shape[-1]
        feats = [torch.relu(conv(x))[..., :length] for conv in self.convs]  # [B, F, L]; even kernels overhang
        pad = ~mask.unsqueeze(1)
        pooled = torch.cat([f.masked_fill(pad, 0.0).amax(dim=-1) for f in feats], dim=-1)  # ReLU >= 0: 0 is neutral
        states = torch.cat(feats, dim=1).transpose(1, 2) if tokens else None
        return EncoderOutput(pooled, states, mask)
