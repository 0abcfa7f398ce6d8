"""The method interface: how a training step turns per-task losses into parameter gradients.

A method declares the gradient back-ends it supports:
- ``loss``: it only reweights losses (one backward pass);
- ``representation``: it needs gradients w.r.t. the shared representation;
- ``parameters``: it needs per-task gradients on the shared parameters.
The trainer calls ``backward`` once per step and ``after_step`` after the optimiser step; it
never looks at a method's name.
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch

from ..data.batching import Batch
from ..models.architectures import Architecture, TaskOutput
from ..registry import methods

if TYPE_CHECKING:
    from ..gradients.parts import StepSync

Backend = Literal["loss", "representation", "parameters"]


@dataclass
class StepContext:
    """What a method may look at during one training step."""

    model: Architecture
    step: int
    total_steps: int
    batches: Mapping[str, Batch]
    outputs: Mapping[str, TaskOutput]
    forward: Any = None  # callable(task, batch) -> loss, for methods that re-evaluate (FAMO)
    record: bool = False  # an evaluation step: diagnostics computed now reach history.jsonl
    # Set by the trainer when a step is cut into parts (processes, micro-batches, fp16 scaling):
    sync: StepSync | None = None  # collectives and the loss scale s (see gradients.parts)
    parts: int = 1  # micro-batches of this process in this step (`backward_parts` gets that many)
    global_losses: torch.Tensor | None = None  # K global loss values, known once every part is done
    # An architecture's own loss (ASP-MTL) handed to a method with `fuses_auxiliary`, which adds it to
    # its one backward pass (`ctx.backward`) instead of the trainer back-propagating it on its own.
    auxiliary: torch.Tensor | None = None

    def backward(self, total: torch.Tensor) -> None:
        """`total.backward()`, with the auxiliary loss (if any) added: one pass through the model."""
        (total if self.auxiliary is None else total + self.auxiliary).backward()


@dataclass
class StepStats:
    """Per-task weights and any diagnostics the method wants in history.jsonl."""

    weights: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class Method(ABC):
    """Base class; subclasses set `name`, `backends` and implement `backward`."""

    name: ClassVar[str]
    backends: ClassVar[tuple[Backend, ...]] = ("loss",)
    # the architecture this method implies (`stl` -> `separate`): the config sets model.architecture to it
    architecture: ClassVar[str | None] = None
    # Under gradient accumulation the loss VALUES a method sees must be the whole step's (a no-grad
    # pre-pass computes them); methods whose update ignores the values (LS) skip that pass.
    uses_loss_values: ClassVar[bool] = True
    # A method whose gradient is one backward pass of a scalar (LS, loss weighting) calls
    # `ctx.backward(scalar)`: the trainer then lets it add the architecture's auxiliary loss to that
    # pass (`ctx.auxiliary`) rather than back-propagating the auxiliary loss separately (a second
    # pass through the encoders). Methods that take per-task gradients leave this False.
    fuses_auxiliary: ClassVar[bool] = False

    @abstractmethod
    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        """Accumulate gradients into `.grad` of the model's parameters."""

    def backward_parts(self, parts: Iterable[Mapping[str, torch.Tensor]], ctx: StepContext) -> StepStats:
        """One step given as parts (micro-batches of this process; see `gradients.parts`).

        Each part's losses are *loss views*: their values are the whole step's losses, their
        gradients the part's share. The default replays `backward` on every part from the same
        method state, so weights are computed from the global values and any state update (UW's
        Adam step, DWA's window, ...) happens exactly once; the parts' gradients add up in `.grad`.
        """
        if ctx.parts == 1:  # nothing to replay: no snapshot of the state
            iterator = iter(parts)
            stats = self.backward(next(iterator), ctx)
            for _ in iterator:
                raise ValueError("backward_parts: more parts than ctx.parts")
            return stats
        snapshot = copy.deepcopy(self.state_dict())
        stats = StepStats()
        for i, losses in enumerate(parts):
            if i:
                self.load_state_dict(copy.deepcopy(snapshot))
            stats = self.backward(losses, ctx)
        return stats

    def check_step_setup(self, *, world: int, accumulation: int, precision: str) -> None:
        """Raise ValueError when the method cannot give the exact step in this setting."""
        del world, accumulation, precision

    def check_model(self, model: Any) -> None:
        """Raise ValueError when the method cannot train this architecture (checked before training)."""
        del model

    def after_step(self, ctx: StepContext) -> None:  # noqa: B027 - a hook with a neutral default
        """Called after the optimiser step (e.g. FAMO's logit update)."""

    def hyperparameters(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {n: getattr(self, n) for n in sig.parameters if n != "self" and hasattr(self, n)}

    def state_dict(self) -> dict[str, Any]:
        """A snapshot (no live references) of the method's state: JSON-able values, tensors allowed.

        `load_state_dict(state_dict())` must restore it exactly: checkpoints rely on it, and so
        does the trainer, which restores the state of a step it skips for non-finite values.
        """
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


#: Registered methods by name (a read-only view of ``textmtl.registry.methods``).
METHODS = methods.view()


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: register a Method subclass under its ``name`` (a duplicate name is an error)."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"@register expects a Method subclass, got {cls!r}")
    methods.add(cls.name, cls)
    return cls


def method_hyperparameters(cls: type[Method]) -> dict[str, Any]:
    """Names and defaults of a method's hyper-parameters."""
    sig = inspect.signature(cls.__init__)
    return {
        n: (None if p.default is inspect.Parameter.empty else p.default)
        for n, p in sig.parameters.items()
        if n != "self" and p.kind is inspect.Parameter.KEYWORD_ONLY
    }
