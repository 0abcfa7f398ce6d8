"""TextCNN (Kim 2014) with kernel sizes 3, 5, 7: the shared encoder of GetMTL (§5, after Mao et al. 2021)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...data.batching import Batch
from .base import Encoder, EncoderOutput
from .embedding import WordEmbedding


class TextCNN(Encoder):
    """Embeddings -> parallel 'same'-padded convolutions + ReLU -> max over time.

    Per-token states are the concatenated convolution outputs, so tagging works too.
    """

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
