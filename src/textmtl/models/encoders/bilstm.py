"""Bidirectional LSTM encoder: the ASP-MTL / FS-MTL setup (Liu et al. 2017, Eqs. 1-6)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ...data.batching import Batch
from .base import Encoder, EncoderOutput, masked_max, masked_mean
from .embedding import WordEmbedding

Pooling = Literal["last", "max", "mean"]


class BiLSTM(Encoder):
    """Embeddings -> packed BiLSTM. Pooling 'last' is the paper's h_T (both directions concatenated)."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 50,
        hidden_size: int = 100,
        num_layers: int = 1,
        pooling: Pooling = "max",
        dropout: float = 0.5,
        freeze_embeddings: bool = False,
        embedding_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.embed = WordEmbedding(vocab_size, embedding_dim, freeze_embeddings)
        self.lstm = nn.LSTM(
            embedding_dim, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.pooling = pooling
        self.output_dropout = dropout
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.output_dim = 2 * hidden_size

    def forward(self, batch: Batch, *, tokens: bool = False) -> EncoderOutput:
        mask = batch.attention_mask
        lengths = mask.sum(1).clamp_min(1).cpu()
        x = self.embedding_dropout(self.embed(batch.input_ids))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (h, _) = self.lstm(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        if self.pooling == "last":
            pooled = torch.cat([h[-2], h[-1]], dim=-1)  # final forward and backward states
        elif self.pooling == "max":
            pooled = masked_max(states, mask)
        else:
            pooled = masked_mean(states, mask)
        return EncoderOutput(pooled, states if tokens else None, mask)
