"""The encoder interface: token ids in, a pooled vector and per-token states out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn

from ...data.batching import Batch


@dataclass
class EncoderOutput:
    pooled: torch.Tensor  # [B, H]: one vector per text (classification, regression)
    tokens: torch.Tensor | None  # [B, L, H]: one vector per token (tagging); None unless asked for
    mask: torch.Tensor  # [B, L] bool


class Encoder(nn.Module, ABC):
    """Maps a Batch to an EncoderOutput of width `output_dim`.

    Encoders apply no dropout to their output: `output_dropout` is the rate the task heads apply,
    so only the features a head actually reads pay for it.
    """

    output_dim: int
    output_dropout: float = 0.0

    @abstractmethod
    def forward(self, batch: Batch, *, tokens: bool = False) -> EncoderOutput:
        """`tokens=True` also returns per-token states (tagging heads need them)."""

    @property
    def num_layers(self) -> int:
        """Number of stacked layers `layer_outputs` can return (1 for encoders without stacked layers)."""
        return 1

    def layer_outputs(self, batch: Batch, *, tokens: bool = False, upto: int | None = None) -> list[EncoderOutput]:
        """The output of each stacked layer (1 .. `upto`, default all), pooled like the final one
        (multi-level supervision reads lower layers). Encoders without stacked layers return [forward]."""
        del upto
        return [self(batch, tokens=tokens)]


def masked_max(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over time ignoring padding: [B, L, H], [B, L] -> [B, H]."""
    return states.masked_fill(~mask.unsqueeze(-1), torch.finfo(states.dtype).min).amax(dim=1)


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(states.dtype)
    return (states * m).sum(1) / m.sum(1).clamp_min(1.0)
