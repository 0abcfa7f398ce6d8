"""The encoder interface: token ids in, a pooled vector and per-token states out.

An encoder type is registered next to its class with its settings model (a block of
`model.encoder` whose `type` field names it)::

    @encoders.register("textcnn", settings=TextCNNConfig)
    class TextCNN(Encoder): ...

and builds itself with `from_settings`. By default an encoder reads word ids of a vocabulary
built from the training data; a pretrained encoder brings its own tokenizer
(`make_text_encoder`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import ConfigDict
from torch import nn

from ...config.schema import NumbersNotBooleans
from ...data.batching import Batch
from ...errors import ConfigError

if TYPE_CHECKING:
    from ...data.tasks import Example
    from ...data.text_encoders import TextEncoder


@dataclass
class EncoderOutput:
    pooled: torch.Tensor  # [B, H]: one vector per text (classification, regression)
    tokens: torch.Tensor | None  # [B, L, H]: one vector per token (tagging); None unless asked for
    mask: torch.Tensor  # [B, L] bool


class EncoderSettings(NumbersNotBooleans):
    """Base of every encoder's settings block; subclasses add `type: Literal["<name>"] = "<name>"`."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
    type: str
    #: `training` settings that fit this encoder better than the generic defaults; applied to every
    #: key a config leaves out (named in the run's config.yaml)
    training_defaults: ClassVar[dict[str, Any]] = {}


class Encoder(nn.Module, ABC):
    """Maps a Batch to an EncoderOutput of width `output_dim`.

    Encoders apply no dropout to their output: `output_dropout` is the rate the task heads apply,
    so only the features a head actually reads pay for it.
    """

    output_dim: int
    output_dropout: float = 0.0
    has_attention_heads: bool = False  # GradTS needs attention heads to score

    # ------------------------------------------------------------------ building from config

    @classmethod
    def make_text_encoder(cls, settings: Any, text: Any, train_examples: Iterable[Example]) -> TextEncoder:
        """The text encoder (token ids) this encoder reads; default: a word vocabulary of the training data."""
        from ...data.text_encoders import WordTextEncoder
        from ...data.vocab import Vocabulary

        del settings
        word = WordTextEncoder(Vocabulary([]), text.max_length, text.lowercase, text.tokenizer)
        vocab = Vocabulary.build((word.tokenize(e) for e in train_examples), text.min_count, text.max_vocab)
        return WordTextEncoder(vocab, text.max_length, text.lowercase, text.tokenizer)

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        text_encoder: TextEncoder,
        *,
        pretrained: bool = True,
        hf_config: dict | None = None,
        seed: int = 0,
    ) -> Encoder:
        """Build the encoder. `pretrained=False` skips pretrained weights (a saved run loads its own)."""
        raise NotImplementedError(f"{cls.__name__} does not implement from_settings")

    def private_encoder(self, settings: Any, size: int | None) -> Encoder:
        """A small task-private encoder reading this encoder's input embeddings (shared-private models)."""
        del settings, size
        raise ConfigError(f"model.encoder: {type(self).__name__} has no private-encoder variant")

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
