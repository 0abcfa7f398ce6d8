"""Build text encoders and multi-task models from the typed config, through the registries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..data.tasks import Example, TaskSpec
from ..data.text_encoders import TextEncoder
from ..registry import architectures, encoders
from .architectures import Architecture, BuildContext
from .encoders import Encoder


def build_text_encoder(model_cfg: Any, text_cfg: Any, train_examples: Iterable[Example]) -> TextEncoder:
    """Word vocabulary from the training examples, or the pretrained model's tokenizer."""
    encoder_cls = encoders.get(model_cfg.encoder.type)
    return encoder_cls.make_text_encoder(model_cfg.encoder, text_cfg, train_examples)


def build_encoder(
    cfg: Any, text_encoder: TextEncoder, *, pretrained: bool = True, hf_config: dict | None = None, seed: int = 0
) -> Encoder:
    """`pretrained=False` skips GloVe and weight loading (weights come from a saved run instead)."""
    encoder_cls = encoders.get(cfg.encoder.type)
    return encoder_cls.from_settings(cfg.encoder, text_encoder, pretrained=pretrained, hf_config=hf_config, seed=seed)


def build_model(
    cfg: Any,
    specs: list[TaskSpec],
    text_encoder: TextEncoder,
    *,
    pretrained: bool = True,
    hf_config: dict | None = None,
    seed: int = 0,
) -> Architecture:
    """The architecture `cfg.architecture` (a `model:` config), built by its own `build`."""
    cls = architectures.get(cfg.architecture)

    def make_encoder() -> Encoder:
        return build_encoder(cfg, text_encoder, pretrained=pretrained, hf_config=hf_config, seed=seed)

    return cls.build(
        BuildContext(specs, cfg.architecture_settings(), cfg.encoder, make_encoder, cfg.architecture_settings)
    )
