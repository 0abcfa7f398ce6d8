"""Modular sharing (the MTL-in-NLP survey's fourth class; Stickland & Murray 2019's BERT-and-PALs,
Houlsby et al. 2019's adapters, Pfeiffer et al. 2020's MAD-X): one pretrained transformer shared by
every task, with small task-specific modules inside it, and one head per task.

The sharing pattern is set in `model.modular`:
- `backbone`: `frozen` (only the modules and heads train) or `trained` (full fine-tuning too);
- `shared`: a module every task uses (`lora`, `adapter`) or `none`;
- `per_task`: each task's own module (`lora` or `adapter`).
The three patterns of the literature are `frozen + shared lora + per-task lora`, `frozen + shared
adapter + per-task adapters` and `trained + per-task adapters`. A forward pass for task k runs the
encoder with the shared module and task k's active (see `textmtl.models.adapters`).

Gradient methods: the shared parameters are the trainable backbone and the shared module (with a
frozen backbone a few hundred thousand, so the per-task Jacobian of the `parameters` back-end is
small); task k's own are its module and its head. The representation (the encoder output) depends
on task k's module, so the `representation` back-end does not apply (`representation_is_shared`).

A run stores only what trained when the backbone is frozen: the modules and heads, with the base
model's folder and the SHA-256 of its weights in model.json (`base_model`); loading the run reads
the base weights from that folder again and checks the hash.
"""

from __future__ import annotations

import copy
from typing import Any, Literal, cast

from pydantic import Field, model_validator
from torch import nn

from ...data.batching import Batch
from ...data.tasks import TaskSpec
from ...errors import ConfigError
from ...registry import architectures
from ..encoders import Encoder
from ..heads import TaskHead
from .base import Architecture, ArchitectureSettings, BuildContext, TaskOutput

SHARED = "shared"


class ModularConfig(ArchitectureSettings):
    """`model.modular`: which parts of a pretrained transformer are shared, per task, or frozen."""

    backbone: Literal["frozen", "trained"] = "frozen"
    shared: Literal["lora", "adapter", "none"] = "lora"
    per_task: Literal["lora", "adapter"] = "lora"
    rank: int = Field(default=8, ge=1, le=1024)  # LoRA rank r
    alpha: int = Field(default=16, ge=1)  # LoRA scale alpha (the update is alpha / r * B A x)
    lora_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: ["query", "value"], min_length=1)
    adapter_size: int = Field(default=64, ge=1, le=65536)  # bottleneck width m

    @model_validator(mode="after")
    def _something_shared(self) -> ModularConfig:
        if self.backbone == "frozen" and self.shared == "none":
            raise ValueError(
                "shared: with a frozen backbone and no shared module, the tasks share no trainable parameter "
                "(nothing for a multi-task method to act on); use shared: lora or adapter, or backbone: trained"
            )
        return self


def _module_name(task: str) -> str:
    return f"task_{task.replace(':', '_')}"


@architectures.register("modular", settings=ModularConfig, encoders=("transformer",))
class Modular(Architecture):
    name = "modular"
    representation_is_shared = False

    def __init__(self, specs: list[TaskSpec], encoder: Encoder, settings: ModularConfig | None = None) -> None:
        super().__init__(specs)
        from ..adapters import AdapterStack, LoRAStack

        self.settings = settings = settings or ModularConfig()
        hf_model = getattr(encoder, "model", None)
        layers = getattr(getattr(hf_model, "encoder", None), "layer", None)
        if hf_model is None or not isinstance(layers, nn.ModuleList):
            raise ConfigError(
                "model.architecture: 'modular' needs a transformer encoder with a layer list (encoder.layer)"
            )
        self.encoder = encoder
        self.base_folder = getattr(encoder, "folder", None)  # the pretrained weights a run refers to
        if settings.backbone == "frozen":
            for p in encoder.parameters():
                p.requires_grad_(False)
        self.module_names = {s.name: _module_name(s.name) for s in specs}
        if len(set(self.module_names.values())) < len(specs):
            raise ConfigError("model.modular: two task names differ only in ':' and '_'; rename one")
        kinds = {"lora": [], "adapter": []}  # type: dict[str, list[str]]
        if settings.shared != "none":
            kinds[settings.shared].append(SHARED)
        kinds[settings.per_task].extend(self.module_names.values())
        self.lora = (
            LoRAStack(
                hf_model,
                kinds["lora"],
                rank=settings.rank,
                alpha=settings.alpha,
                dropout=settings.lora_dropout,
                targets=settings.target_modules,
            )  # fmt: skip
            if kinds["lora"]
            else None
        )
        width = int(hf_model.config.hidden_size)
        self.adapters = (
            AdapterStack(layers, kinds["adapter"], width=width, size=settings.adapter_size)
            if kinds["adapter"]
            else None
        )
        self.heads = nn.ModuleDict({s.name: TaskHead(s, encoder.output_dim, encoder.output_dropout) for s in specs})

    @classmethod
    def build(cls, ctx: BuildContext) -> Architecture:
        return cls(ctx.specs, ctx.new_encoder(), ctx.settings)

    def _activate(self, task: str) -> None:
        """The shared module and `task`'s own, each in the stack of its kind."""
        for stack, kind in ((self.lora, "lora"), (self.adapters, "adapter")):
            if stack is not None:
                own = [self.module_names[task]] if self.settings.per_task == kind else []
                stack.activate(([SHARED] if self.settings.shared == kind else []) + own)

    def forward(self, task: str, batch: Batch) -> TaskOutput:
        self._activate(task)
        head = self.heads[task]
        out = self.encoder(batch, tokens=head.uses_tokens)
        rep = out.tokens if head.uses_tokens else out.pooled
        return TaskOutput(head(rep), rep)

    def _module_parameters(self, name: str, kind: str) -> list[nn.Parameter]:
        if kind == "lora":
            assert self.lora is not None
            return self.lora.parameters(name)
        assert self.adapters is not None
        return self.adapters.parameters_of(name)

    def shared_parameters(self) -> list[nn.Parameter]:
        modules = {id(p) for t in self.task_names for p in self._task_module(t)}
        shared_module = self._module_parameters(SHARED, self.settings.shared) if self.settings.shared != "none" else []
        ids = {id(p) for p in shared_module}
        backbone = [p for p in self.encoder.parameters() if p.requires_grad and id(p) not in modules | ids]
        return backbone + shared_module

    def _task_module(self, task: str) -> list[nn.Parameter]:
        return self._module_parameters(self.module_names[task], self.settings.per_task)

    def _task_only(self, task: str) -> list[nn.Parameter]:
        return self._task_module(task) + list(self.heads[task].parameters())

    def task_path(self, task: str) -> tuple[Encoder, TaskHead] | None:
        """With LoRA only: a copy of the encoder with the shared and `task`'s LoRA merged into its
        weights (W + alpha / r * B A) and the LoRA layers removed: a plain transformer that
        `--format hf` writes. Bottleneck adapters are not linear in the weights; None (use onnx)."""
        if self.adapters is not None:
            return None
        assert self.lora is not None
        self._activate(task)
        active = list(self.lora.layers[0].active_adapters)
        merged = copy.deepcopy(self.encoder)
        from peft.tuners.tuners_utils import BaseTunerLayer

        for parent in list(merged.modules()):
            for child_name, child in list(parent.named_children()):
                if isinstance(child, BaseTunerLayer):
                    child.merge(adapter_names=active)
                    setattr(parent, child_name, child.get_base_layer())
        return merged, cast(TaskHead, self.heads[task])

    # ------------------------------------------------------------------ what a run stores

    def frozen_state_keys(self) -> set[str]:
        """state_dict entries that never train (the frozen backbone): a run does not store them."""
        if self.settings.backbone != "frozen":
            return set()
        trained = {id(p) for p in self.parameters() if p.requires_grad}
        prefix = "encoder."
        return {
            prefix + name for name, p in cast(nn.Module, self.encoder).named_parameters() if id(p) not in trained
        } | {prefix + name for name, _ in self.encoder.named_buffers()}

    def parameter_counts(self) -> dict[str, Any]:
        counts = super().parameter_counts()
        counts["frozen"] = sum(p.numel() for p in self.parameters() if not p.requires_grad)
        return counts
