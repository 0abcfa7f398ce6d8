"""Bidirectional LSTM encoder: the ASP-MTL / FS-MTL setup (Liu et al. 2017, Eqs. 1-6)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ...data.batching import Batch
from ...registry import encoders
from .base import EncoderOutput, EncoderSettings, masked_max, masked_mean
from .embedding import WordEmbedding, WordEncoder

Pooling = Literal["last", "max", "mean"]


def reverse_valid(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """Index [B, L] that reverses each row's first `length` positions and keeps the padding in place.

    It is its own inverse, so the same gather undoes it.
    """
    pos = torch.arange(width, device=lengths.device).unsqueeze(0)
    last = (lengths - 1).unsqueeze(1)
    return torch.where(pos <= last, last - pos, pos)


class BiLSTMConfig(EncoderSettings):
    """`model.encoder` with `type: bilstm`."""

    type: Literal["bilstm"] = "bilstm"
    embedding_dim: int = Field(default=50, ge=1)
    glove: bool = True
    freeze_embeddings: bool = False
    hidden_size: int = Field(default=100, ge=1)
    num_layers: int = Field(default=1, ge=1)
    pooling: Pooling = "max"
    dropout: float = Field(default=0.5, ge=0.0, lt=1.0)  # on the encoder output
    embedding_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


@encoders.register("bilstm", settings=BiLSTMConfig)
class BiLSTM(WordEncoder):
    """Embeddings -> stacked bidirectional LSTM -> pooling ('last' is the paper's h_T of both directions).

    Each direction is a unidirectional LSTM over the padded batch; the backward one reads every
    sequence reversed in place, so padding never reaches a real token's state. Equivalent to a
    packed `nn.LSTM(bidirectional=True)`, without packing: padded shapes repeat from batch to
    batch, which lets oneDNN reuse its kernels (packed shapes made it recompile on every step).
    """

    resizable = "hidden_size"

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
        sizes = [embedding_dim] + [2 * hidden_size] * (num_layers - 1)
        self.forward_layers = nn.ModuleList(nn.LSTM(n, hidden_size, batch_first=True) for n in sizes)
        self.backward_layers = nn.ModuleList(nn.LSTM(n, hidden_size, batch_first=True) for n in sizes)
        self.between_layers = nn.Dropout(dropout)
        self.pooling = pooling
        self.output_dropout = dropout
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.output_dim = 2 * hidden_size

    def forward(self, batch: Batch, *, tokens: bool = False) -> EncoderOutput:
        return self.layer_outputs(batch, tokens=tokens)[-1]

    @property
    def num_layers(self) -> int:
        return len(self.forward_layers)

    def layer_outputs(self, batch: Batch, *, tokens: bool = False, upto: int | None = None) -> list[EncoderOutput]:
        """Each BiLSTM layer's states (the first `upto` layers), pooled; the last entry is `forward`'s output."""
        mask = batch.attention_mask
        lengths = mask.sum(1).clamp_min(1)
        x = self.embedding_dropout(self.embed(batch.input_ids))
        rev = reverse_valid(lengths, x.shape[1]).unsqueeze(-1)
        outputs = []
        # oneDNN has no reduced-precision CPU LSTM: the recurrent layers run in float32 under autocast
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            for i, (fwd, bwd) in enumerate(zip(self.forward_layers, self.backward_layers)):
                if upto is not None and i >= upto:
                    break
                if i:
                    x = self.between_layers(x)
                ahead, _ = fwd(x)
                behind_reversed, _ = bwd(x.gather(1, rev.expand(-1, -1, x.shape[-1])))
                behind = behind_reversed.gather(1, rev.expand(-1, -1, behind_reversed.shape[-1]))
                x = torch.cat([ahead, behind], dim=-1)
                outputs.append(EncoderOutput(self._pool(x, mask, lengths), x if tokens else None, mask))
        return outputs

    def _pool(self, states: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.pooling == "last":
            h = states.shape[-1] // 2
            end = (lengths - 1).view(-1, 1, 1).expand(-1, 1, h)
            return torch.cat([states[..., :h].gather(1, end).squeeze(1), states[:, 0, h:]], dim=-1)
        if self.pooling == "max":
            return masked_max(states, mask)
        return masked_mean(states, mask)
