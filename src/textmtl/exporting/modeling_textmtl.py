"""Sequence and token classification on any `transformers` encoder, with textmtl's task heads.

This file is copied verbatim into every folder `textmtl export --format hf` writes; it imports
only torch and transformers, so the folder loads without textmtl installed:

    AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)
    pipeline("text-classification", model=folder, trust_remote_code=True)

The head is textmtl's: dropout and one linear layer on the encoder's pooled output (`mean` over
the non-padding tokens, or the first token for `cls`: config `textmtl_pooling`), or on every
token (token classification). No stock class pools by a masked mean without an extra dense layer,
hence the code file.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput, TokenClassifierOutput


class _TextmtlBase(PreTrainedModel):
    config_class = PretrainedConfig
    base_model_prefix = "encoder"

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.encoder = AutoModel.from_config(config)
        self.dropout = nn.Dropout(getattr(config, "textmtl_dropout", 0.0))
        self.classifier = nn.Linear(config.hidden_size, int(config.num_labels or 1))
        self.post_init()

    def _states(self, input_ids, attention_mask, token_type_ids, **kwargs) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask.long()}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        return self.encoder(**inputs).last_hidden_state


class TextmtlForSequenceClassification(_TextmtlBase):
    """Pooled encoder output -> dropout -> linear (regression when `num_labels == 1`)."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        states = self._states(input_ids, attention_mask, token_type_ids)
        if getattr(self.config, "textmtl_pooling", "mean") == "cls":
            pooled = states[:, 0]
        else:
            mask = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).unsqueeze(-1)
            mask = mask.to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        logits = self.classifier(self.dropout(pooled))
        loss = None
        if labels is not None:
            if self.num_labels == 1:
                loss = nn.functional.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
            else:
                loss = nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


class TextmtlForTokenClassification(_TextmtlBase):
    """Every token's encoder state -> dropout -> linear."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        logits = self.classifier(self.dropout(self._states(input_ids, attention_mask, token_type_ids)))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, self.num_labels), labels.reshape(-1), ignore_index=-100
            )
        return TokenClassifierOutput(loss=loss, logits=logits)
