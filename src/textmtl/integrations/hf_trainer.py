"""A Hugging Face `Trainer` whose training step applies a textmtl method to per-task losses.

    model = MultiHeadModel(AutoModel.from_pretrained(folder), {"books": 2, "dvd": 2})
    trainer = MultiTaskTrainer(model=model, args=TrainingArguments(...), method="pcgrad",
                               train_dataset=mixed, data_collator=DataCollatorWithPadding(tokenizer))
    trainer.train()

The training data is one mixed dataset whose rows carry a `task_ids` column (the index of the
row's task in the model's task list) beside `input_ids`, `attention_mask` and `labels`. The model's
output must hold `task_losses` (task name -> loss of that task's rows in the batch); the trainer
hands them to the method (`textmtl.Backward`, its state kept for the whole run) instead of
back-propagating their sum. `method="ls"` is the stock Trainer on the summed loss.

Limits (each checked, with a clear error): one process (the per-task Jacobian bypasses DDP's
gradient hooks), no fp16 loss scaler (bf16 autocast works). With `gradient_accumulation_steps >
1`, each micro-batch is combined on its own and the combined gradients add up (textmtl's own
trainer combines the whole step's Jacobian once instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn
from transformers import Trainer
from transformers.utils import ModelOutput

from ..gradients.backward import Backward

__all__ = ["MultiHeadModel", "MultiTaskOutput", "MultiTaskTrainer"]


@dataclass
class MultiTaskOutput(ModelOutput):
    """`loss` (the sum of the task losses, for logging and evaluation), `task_losses` and `logits`
    ([batch, the largest label count]; a task's missing classes are -inf)."""

    loss: torch.Tensor | None = None
    task_losses: dict[str, torch.Tensor] | None = None
    logits: torch.Tensor | None = None


class MultiHeadModel(nn.Module):
    """A shared `transformers` encoder with one linear head per task (on the masked mean of its
    last hidden states, or the first token), as textmtl's `hard` architecture."""

    def __init__(
        self, encoder: nn.Module, tasks: Mapping[str, int], *, dropout: float = 0.1, pooling: str = "mean"
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self.encoder = encoder
        self.task_names = list(tasks)
        hidden = int(getattr(encoder, "config").hidden_size)  # noqa: B009 - a transformers model's config
        self.heads = nn.ModuleDict({t: nn.Linear(hidden, int(n)) for t, n in tasks.items()})
        self.dropout = nn.Dropout(dropout)
        self.pooling = pooling
        self.config = encoder.config  # the Trainer reads a few fields from it

    def shared_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        task_ids: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> MultiTaskOutput:
        if task_ids is None:
            raise ValueError("MultiHeadModel needs a task_ids column (the index of each row's task)")
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        inputs = {"input_ids": input_ids, "attention_mask": mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        states = self.encoder(**inputs).last_hidden_state
        if self.pooling == "cls":
            pooled = states[:, 0]
        else:
            m = mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * m).sum(1) / m.sum(1).clamp_min(1.0)
        pooled = self.dropout(pooled)
        width = max(int(cast(nn.Linear, h).out_features) for h in self.heads.values())
        logits = pooled.new_full((len(input_ids), width), float("-inf"))
        task_losses: dict[str, torch.Tensor] = {}
        for k, task in enumerate(self.task_names):
            rows = (task_ids == k).nonzero(as_tuple=True)[0]
            if len(rows) == 0:
                continue
            out = self.heads[task](pooled[rows])
            logits[rows, : out.shape[1]] = out.to(logits.dtype)
            if labels is not None:
                task_losses[task] = nn.functional.cross_entropy(out, labels[rows])
        loss = torch.stack(list(task_losses.values())).sum() if task_losses else None
        return MultiTaskOutput(loss=loss, task_losses=task_losses or None, logits=logits)


class MultiTaskTrainer(Trainer):
    """`Trainer` with a textmtl method on the per-task losses (see the module docstring).

    `method`: a textmtl method name (`textmtl list methods`) or aggregator; `method_params`: its
    hyper-parameters; `shared`: the shared parameters (default: `model.shared_parameters()`)."""

    def __init__(
        self,
        *args: Any,
        method: Any = "ls",
        method_params: Mapping[str, Any] | None = None,
        shared: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.args.world_size > 1:
            raise ValueError("MultiTaskTrainer runs in one process (per-task Jacobians bypass DDP's gradient hooks)")
        if self.args.fp16:
            raise ValueError("MultiTaskTrainer: fp16 needs a loss scaler the methods do not see; use bf16")
        model = self.model
        if shared is None:
            if not hasattr(model, "shared_parameters"):
                raise ValueError(
                    "MultiTaskTrainer: give shared= (the shared parameters) or a model.shared_parameters()"
                )
            shared = cast(Any, model).shared_parameters()
        self.mtl = Backward(method, shared=shared, **dict(method_params or {}))
        self.last_task_weights: torch.Tensor | None = None

    def training_step(self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: Any = None) -> torch.Tensor:
        model.train()
        inputs = self._prepare_inputs(inputs)
        with self.compute_loss_context_manager():
            outputs = model(**inputs)
        task_losses = outputs["task_losses"] if isinstance(outputs, Mapping) else outputs.task_losses
        if not task_losses:
            raise ValueError("MultiTaskTrainer: the model's output has no task_losses (task name -> loss)")
        scale = self.current_gradient_accumulation_steps
        scaled = {t: loss / scale for t, loss in task_losses.items()}
        self.last_task_weights = self.mtl(scaled, total_steps=self.state.max_steps or None)
        return torch.stack([l.detach() for l in scaled.values()]).sum()
