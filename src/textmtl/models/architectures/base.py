"""The architecture interface every gradient method relies on.

An architecture maps a batch of one task to that task's outputs, and says which parameters
are shared between tasks and what the shared representation of that batch is. Gradient
methods (per-task Jacobians on the shared parameters, or gradients on the representation)
need nothing else, so new architectures plug in without touching the trainer.

Contract of `TaskOutput.representation` (the `representation` back-end relies on it): every
parameter the representation depends on is shared (in `shared_parameters()`), and every
parameter of `task_parameters(task)` acts only downstream of it. The method's combined
gradient is pushed back through the representation, while task parameters get their plain
gradient; a task parameter upstream of the representation would be counted twice.

An architecture registers itself next to its class, with the pydantic model of its settings
block (`model.<block>`, the block named after the architecture unless `block=` says otherwise)::

    @architectures.register("mmoe", settings=MMoEConfig)
    class MMoE(Architecture): ...

and builds itself from a `BuildContext` (`Architecture.build`): its settings, and factories of
fresh shared encoders and of private encoders, so it never looks at encoder types.

Optional hooks, all with neutral defaults (so the trainer stays architecture-agnostic):
- `training_jobs()`: how the model is trained: one job over every task (the default), or
  several independent jobs (`separate`: one model and one job per task, the STL reference);
- `forward_shared(tasks, batch)`: several tasks labelling the same inputs, one encoder pass;
- `forward_batches(batches)`: the trainer's entry point; groups batches that share inputs
  (same `Batch.input_key`) and calls `forward_shared` for them;
- `auxiliary_loss(outputs, batches, unlabelled)`: an extra loss that is not a task (ASP-MTL's
  adversarial and orthogonality terms); the trainer back-propagates it with or before the
  method. An architecture with `uses_unlabelled = True` also gets a batch of each sampled
  task's unlabelled text there (`data.unlabelled`);
- `evaluation_record(batches)`: extra entries of a history record at evaluation (e.g. the
  task-communication matrix of the graph architectures).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ...config.schema import NumbersNotBooleans
from ...data.batching import Batch
from ...data.tasks import TaskSpec
from ..encoders import Encoder

if TYPE_CHECKING:
    from ..heads import TaskHead


class ArchitectureSettings(NumbersNotBooleans):
    """Base of every architecture's settings block (`model.<block>`): unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    def nested_architectures(self) -> list[str]:
        """Architectures built inside this one, whose settings blocks the config may hold too
        (`separate`: the architecture of each task's model). Default: none."""
        return []

    @classmethod
    def implied_in_place_of(cls, architecture: str | None) -> dict[str, Any] | None:
        """This block's settings when a method implies this architecture (`stl` -> `separate`) over a
        config that named `architecture`; that architecture's block is kept when it is nested in the
        result. None: the defaults, and the named architecture's block is dropped."""
        del architecture
        return None


@dataclass
class BuildContext:
    """What an architecture is built from: its tasks, its settings and encoder factories."""

    specs: list[TaskSpec]
    settings: Any  # the architecture's settings block (defaults when absent), or None if it has none
    encoder_settings: Any  # `model.encoder`
    make_encoder: Callable[[], Encoder]  # a fresh shared encoder (pretrained weights / GloVe as configured)
    # the settings block of any architecture (its defaults when absent), for architectures built inside
    # another one (`separate`); None: only `settings` is known
    settings_of: Callable[[str], Any] | None = None

    def new_encoder(self) -> Encoder:
        return self.make_encoder()

    def for_architecture(self, name: str, specs: list[TaskSpec]) -> BuildContext:
        """The context to build architecture `name` over `specs` inside this one (its own settings)."""
        settings = self.settings_of(name) if self.settings_of is not None else None
        return BuildContext(specs, settings, self.encoder_settings, self.make_encoder, self.settings_of)

    def private_encoder(self, shared: Encoder, size: int | None) -> Encoder:
        """A task-private encoder reading `shared`'s input embeddings (see `Encoder.private_encoder`)."""
        return shared.private_encoder(self.encoder_settings, size)


@dataclass
class TrainingJob:
    """One training run over a part of the model: `Architecture.training_jobs`."""

    model: Architecture
    tasks: list[str]
    label: str | None = None  # appended to the method name in progress lines and history ("stl:books")
    seed_offset: int | None = None  # the RNGs are re-seeded with seed + offset before the job; None: not


@dataclass
class TaskOutput:
    logits: torch.Tensor  # [B, C] | [B] (regression) | [B, L, C] (tagging)
    representation: torch.Tensor  # the shared features the task-specific part reads (pooled or per token)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # what `auxiliary_loss` needs (architecture-specific)


class Architecture(nn.Module, ABC):
    """Multi-task model over a fixed list of tasks."""

    name: str = "?"
    uses_unlabelled: bool = False  # reads unlabelled text in `auxiliary_loss` (data.unlabelled)
    # whether `TaskOutput.representation` depends on shared parameters only (the `representation`
    # back-end's contract, above); False for per-task modules inside the encoder (`modular`)
    representation_is_shared: bool = True

    def __init__(self, specs: list[TaskSpec]) -> None:
        super().__init__()
        self.specs = {s.name: s for s in specs}

    @property
    def task_names(self) -> list[str]:
        return list(self.specs)

    @abstractmethod
    def forward(self, task: str, batch: Batch) -> TaskOutput: ...

    @abstractmethod
    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters that receive gradients from more than one task."""

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        """Parameters only `task` uses (its head, private encoder, ...)."""
        shared = {id(p) for p in self.shared_parameters()}
        others = {id(p) for t in self.task_names if t != task for p in self._task_only(t)}
        return [p for p in self._task_only(task) if id(p) not in shared and id(p) not in others]

    @abstractmethod
    def _task_only(self, task: str) -> list[nn.Parameter]: ...

    def reads_tokens(self, task: str) -> bool:
        """Whether `task`'s head reads per-token states (tagging) rather than the pooled vector
        (architectures keep their task heads in a `heads` ModuleDict)."""
        heads = cast(nn.ModuleDict, self.heads)
        return bool(cast("TaskHead", heads[task]).uses_tokens)

    def task_path(self, task: str) -> tuple[Encoder, TaskHead] | None:
        """The encoder and head that alone compute `task`'s output (head(encoder(batch))), or None when
        the task reads more (private encoders, gates, messages). Exporters to single-model formats
        (`--format hf`) need it."""
        del task
        return None

    def description(self) -> dict:
        """JSON-serialisable settings needed to rebuild this architecture (stored in model.json)."""
        settings = getattr(self, "settings", None)
        return {"architecture": self.name, **(settings.model_dump() if isinstance(settings, BaseModel) else {})}

    @classmethod
    def build(cls, ctx: BuildContext) -> Architecture:
        """Build from config; the default takes one shared encoder (and the settings, if any)."""
        if ctx.settings is None:
            return cls(ctx.specs, ctx.new_encoder())  # type: ignore[call-arg]
        return cls(ctx.specs, ctx.new_encoder(), ctx.settings)  # type: ignore[call-arg]

    def training_jobs(self) -> list[TrainingJob]:
        """How this model is trained: by default one job over every task."""
        return [TrainingJob(self, self.task_names)]

    # ------------------------------------------------------------------ optional hooks

    def forward_shared(self, tasks: Sequence[str], batch: Batch) -> dict[str, TaskOutput]:
        """Outputs of several tasks on the same inputs. Architectures override this to run the
        shared encoder once; the default runs one forward pass per task."""
        return {t: self(t, batch) for t in tasks}

    def forward_batches(self, batches: Mapping[str, Batch]) -> dict[str, TaskOutput]:
        """Outputs of every task of a step: batches with the same `input_key` (tasks that label the
        same sentences) share one `forward_shared` pass; the others get their own forward pass."""
        groups: dict[Any, list[str]] = {}
        for task, batch in batches.items():
            key = ("own", task) if batch.input_key is None else ("shared", batch.input_key)
            groups.setdefault(key, []).append(task)
        outputs: dict[str, TaskOutput] = {}
        for tasks in groups.values():
            if len(tasks) == 1:
                outputs[tasks[0]] = self(tasks[0], batches[tasks[0]])
            else:
                outputs.update(self.forward_shared(tasks, batches[tasks[0]]))
        return {t: outputs[t] for t in batches}

    def auxiliary_loss(
        self,
        outputs: Mapping[str, TaskOutput],
        batches: Mapping[str, Batch],
        unlabelled: Mapping[str, Batch] | None = None,
    ) -> torch.Tensor | None:
        """A loss that is not a task loss (already weighted), or None. Back-propagated by the trainer
        with the method's single backward pass (`Method.fuses_auxiliary`) or before the method,
        whose gradients then accumulate on top of it. `unlabelled`: a batch of unlabelled text per
        sampled task, given only to architectures with `uses_unlabelled`."""
        del outputs, batches, unlabelled
        return None

    def evaluation_record(self, batches: Mapping[str, Sequence[Batch]]) -> dict[str, Any]:
        """Extra JSON entries for the history record of an evaluation on `batches` (dev, per task)."""
        del batches
        return {}

    def frozen_state_keys(self) -> set[str]:
        """state_dict entries that never train and come from a pretrained folder (a frozen backbone):
        a run stores a reference to that folder instead of copies (see `modular`). Default: none."""
        return set()

    def parameter_counts(self) -> dict[str, Any]:
        """Trainable parameters: shared, per task, and the rest (e.g. a task discriminator)."""
        shared = {id(p) for p in self.shared_parameters()}
        per_task = {t: sum(p.numel() for p in self.task_parameters(t)) for t in self.task_names}
        counted = shared | {id(p) for t in self.task_names for p in self.task_parameters(t)}
        params = {id(p): p for p in self.parameters() if p.requires_grad}
        return {
            "total": sum(p.numel() for p in params.values()),
            "shared": sum(p.numel() for i, p in params.items() if i in shared),
            "task": per_task,
            "other": sum(p.numel() for i, p in params.items() if i not in counted),
        }
