"""Build text encoders and multi-task models from the typed config."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..config import BiLSTMConfig, ModelConfig, TextCNNConfig, TextConfig, TransformerConfig
from ..data.tasks import Example, TaskSpec
from ..data.text_encoders import PretrainedTextEncoder, TextEncoder, WordTextEncoder
from ..data.vocab import Vocabulary
from ..errors import ConfigError
from .architectures import (AdversarialSharedPrivate, Architecture, CompleteGraph, HardSharing, Hierarchical, MMoE,
                            SeparateModels, SharedPrivate, StarGraph)
from .encoders import BiLSTM, Encoder, PretrainedTransformer, TextCNN
from .encoders.embedding import glove_matrix
from .encoders.transformer import default_model_folder

ARCHITECTURES: dict[str, type[Architecture]] = {
    cls.name: cls
    for cls in (HardSharing, SharedPrivate, AdversarialSharedPrivate, MMoE, CompleteGraph, StarGraph, Hierarchical)
}


def build_text_encoder(model_cfg: ModelConfig, text_cfg: TextConfig, train_examples: Iterable[Example]) -> TextEncoder:
    """Word vocabulary from the training examples, or the pretrained model's tokenizer."""
    enc = model_cfg.encoder
    if isinstance(enc, TransformerConfig):
        return PretrainedTextEncoder(enc.path or default_model_folder(), text_cfg.max_length)
    word = WordTextEncoder(Vocabulary([]), text_cfg.max_length, text_cfg.lowercase, text_cfg.tokenizer)
    vocab = Vocabulary.build((word.tokenize(e) for e in train_examples), text_cfg.min_count, text_cfg.max_vocab)
    return WordTextEncoder(vocab, text_cfg.max_length, text_cfg.lowercase, text_cfg.tokenizer)


def build_encoder(cfg: ModelConfig, text_encoder: TextEncoder, *, pretrained: bool = True,
                  hf_config: dict | None = None, seed: int = 0) -> Encoder:
    """`pretrained=False` skips GloVe and weight loading (weights come from a saved run instead)."""
    enc = cfg.encoder
    if isinstance(enc, TransformerConfig):
        if pretrained:
            return PretrainedTransformer.from_folder(enc.path, enc.pooling, enc.dropout)
        if hf_config is None:
            raise ConfigError("encoder: a transformer rebuilt without weights needs its saved config")
        return PretrainedTransformer.from_config(hf_config, enc.pooling, enc.dropout)
    assert isinstance(text_encoder, WordTextEncoder)
    vocab_size = len(text_encoder.vocab)
    if isinstance(enc, TextCNNConfig):
        module: Encoder = TextCNN(vocab_size, enc.embedding_dim, enc.kernel_sizes, enc.num_filters, enc.dropout,
                                  enc.freeze_embeddings, enc.embedding_dropout)
    elif isinstance(enc, BiLSTMConfig):
        module = BiLSTM(vocab_size, enc.embedding_dim, enc.hidden_size, enc.num_layers, enc.pooling, enc.dropout,
                        enc.freeze_embeddings, enc.embedding_dropout)
    else:  # pragma: no cover - the config union is closed
        raise ConfigError(f"encoder.type: unknown encoder {enc!r}")
    if pretrained and enc.glove:
        matrix, _ = glove_matrix(text_encoder.vocab, enc.embedding_dim, np.random.default_rng(seed))
        module.embed.load_vectors(matrix)
    return module


def build_model(cfg: ModelConfig, specs: list[TaskSpec], text_encoder: TextEncoder, *, separate: bool = False,
                pretrained: bool = True, hf_config: dict | None = None, seed: int = 0) -> Architecture:
    """The configured architecture; `separate=True` builds one independent model per task (STL)."""
    if cfg.architecture not in ARCHITECTURES:
        import difflib

        close = difflib.get_close_matches(cfg.architecture, list(ARCHITECTURES), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(ARCHITECTURES)})"
        raise ConfigError(f"model.architecture: unknown architecture '{cfg.architecture}'{hint}")
    if separate:
        return SeparateModels(specs, {  # STL: a plain single-task model per task
            s.name: HardSharing([s], build_encoder(cfg, text_encoder, pretrained=pretrained, hf_config=hf_config,
                                                   seed=seed))
            for s in specs
        })
    encoder = build_encoder(cfg, text_encoder, pretrained=pretrained, hf_config=hf_config, seed=seed)
    cls = ARCHITECTURES[cfg.architecture]
    from_config = getattr(cls, "from_config", None)  # architectures with settings (model.<block>) build themselves
    return from_config(specs, encoder, cfg) if from_config is not None else cls(specs, encoder)
