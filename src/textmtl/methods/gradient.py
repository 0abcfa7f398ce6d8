"""Gradient methods: per-task gradients, combined by an aggregator.

Every aggregator of `textmtl.aggregation` (MGDA, PCGrad, CAGrad, Nash-MTL, GetMTL, ...) becomes a
training method through this one adapter. Back-ends (`backend:` in config):
- `parameters` (default): the K x P Jacobian on the shared parameters (`gradients.engine`);
- `representation`: the rows are gradients w.r.t. the shared representation, and the combined
  row is pushed through the encoder in one backward pass (`gradients.representation`; an
  approximation, see there).
Every task's own parameters keep their plain gradient. `update_every: T` reuses the weights of
Gram-weighted aggregators for T steps (Nash-MTL-T, Navon et al. 2022 §6.4).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from ..aggregation import Aggregator, GramianWeightedAggregator
from ..gradients import ParameterSpace, shared_jacobian
from ..gradients.diagnostics import gradient_diagnostics
from ..gradients.representation import representation_jacobian
from .base import Method, StepContext, StepStats


class GradientMethod(Method):
    """Adapter from an Aggregator to the Method interface (back-end `parameters`)."""

    backends = ("parameters", "representation")
    uses_loss_values = False  # the K loss values are read once, after every part

    def __init__(
        self,
        aggregator: Aggregator,
        *,
        update_every: int = 1,
        backend: str = "parameters",
        chunk_size: int | None = None,
    ) -> None:
        if update_every < 1:
            raise ValueError(f"update_every must be >= 1, got {update_every}")
        if backend not in self.backends:
            raise ValueError(f"backend must be one of {', '.join(self.backends)}, got {backend!r}")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.aggregator = aggregator
        self.backend = backend
        self.chunk_size = chunk_size  # batched VJP rows when tasks share a forward pass
        self.name = aggregator.name  # type: ignore[misc]  # instance-level: one adapter, many methods
        self.update_every = update_every
        self._space: ParameterSpace | None = None
        self._own: dict[str, list[torch.nn.Parameter]] = {}  # each task's own parameters, of `_model`
        self._model: object | None = None
        self._weights: torch.Tensor | None = None

    def check_step_setup(self, *, world: int, accumulation: int, precision: str) -> None:
        del precision
        if self.backend == "representation" and (world > 1 or accumulation > 1):
            raise ValueError(
                "backend 'representation' supports neither several processes nor accumulation_steps > 1 "
                "(its rows live in one forward pass's representation); use backend: parameters"
            )

    def check_model(self, model) -> None:
        if self.backend == "representation" and not model.representation_is_shared:
            raise ValueError(
                f"backend 'representation' needs a representation computed by shared parameters only; "
                f"architecture '{model.name}' has task-specific parameters inside its encoder; use backend: parameters"
            )

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        jac, rep_space = self._rows(losses, ctx)
        loss_vec = torch.stack([l.detach() for l in losses.values()]).to(jac.dtype)
        return self._combine(jac, loss_vec, list(losses), ctx, rep_space)

    def backward_parts(self, parts: Iterable[Mapping[str, torch.Tensor]], ctx: StepContext) -> StepStats:
        """Per-task rows summed over this process's parts and over processes, then ONE combination:
        the update of a single process on the whole batch (see `gradients.parts`)."""
        jac, rep_space, tasks = None, None, []
        for losses in parts:
            rows, rep_space = self._rows(losses, ctx)
            jac, tasks = (rows if jac is None else jac.add_(rows)), list(losses)
        if jac is None:
            raise ValueError("no parts")
        sync = ctx.sync
        scale = 1.0 if sync is None else sync.grad_scale
        if sync is not None:
            sync.all_reduce_(jac)
        if scale != 1.0:
            jac.div_(scale)  # the method sees true gradients (Nash-MTL, CAGrad, ... are not scale-invariant)
        if ctx.global_losses is None:
            raise ValueError("backward_parts needs ctx.global_losses")
        return self._combine(jac, ctx.global_losses.to(jac.dtype), tasks, ctx, rep_space, scale=scale)

    def _task_parameters(self, model, tasks: Iterable[str]) -> dict[str, list[torch.nn.Parameter]]:
        """`model.task_parameters(t)`, looked up once per model and task: an architecture derives it
        from all tasks' parameter lists (O(K) per task); with per-task LoRA modules, looking them up
        every step was the whole ~6% gap between `mean` and `ls` (issue 19, MiniLM-sized, K = 16)."""
        if self._model is not model:
            self._model, self._own, self._space = model, {}, None
        for t in tasks:
            if t not in self._own:
                self._own[t] = list(model.task_parameters(t))
        return {t: self._own[t] for t in tasks}

    def _rows(self, losses: Mapping[str, torch.Tensor], ctx: StepContext):
        model = ctx.model
        own = self._task_parameters(model, losses)
        if self.backend == "representation":
            return representation_jacobian(losses, {t: ctx.outputs[t].representation for t in losses}, own)
        if self._space is None:
            self._space = ParameterSpace(model.shared_parameters())
        # retain: tasks may share a forward pass (several heads on one batch); keeping the graphs
        # until the step ends costs no peak memory, since all of them exist after the forward passes
        shares_inputs = len({id(o.representation) for o in ctx.outputs.values()}) < len(ctx.outputs)
        jac = shared_jacobian(
            losses, self._space, own, retain=True, chunk_size=self.chunk_size if shares_inputs else None
        )
        return jac, None

    def _combine(
        self,
        jac: torch.Tensor,
        loss_vec: torch.Tensor,
        tasks: list[str],
        ctx: StepContext,
        rep_space,
        *,
        scale: float = 1.0,
    ) -> StepStats:
        reuse = (
            self.update_every > 1
            and isinstance(self.aggregator, GramianWeightedAggregator)
            and self._weights is not None
            and len(self._weights) == len(tasks)
            and (ctx.step - 1) % self.update_every != 0
        )
        if reuse and self._weights is not None:
            direction = self._weights.to(jac) @ jac
        else:
            direction = self.aggregator(jac, losses=loss_vec if self.aggregator.requires_losses else None)
            self._weights = self.aggregator.last_weights
        if scale != 1.0:
            direction = direction * scale  # every gradient a method writes carries the loss scale s
        if rep_space is not None:
            rep_space.backward(direction)
        elif self._space is not None and self._space.size:
            # accumulate: an architecture's auxiliary loss (ASP-MTL) may already have put gradients there.
            # Across processes the trainer sums every .grad, so each process adds 1/world of the (identical)
            # direction; the auxiliary gradients are then summed like any other.
            world = 1 if ctx.sync is None else ctx.sync.world
            self._space.write_grad(direction if world == 1 else direction / world, accumulate=True)
        stats = StepStats()
        if ctx.record:
            stats.extra["gradients"] = gradient_diagnostics(jac @ jac.T, tasks)
        if self._weights is not None:
            stats.weights = {t: float(w) for t, w in zip(tasks, self._weights.tolist())}
        return stats

    def hyperparameters(self) -> dict[str, Any]:
        return {
            **self.aggregator.hparams(),
            "update_every": self.update_every,
            "backend": self.backend,
            "chunk_size": self.chunk_size,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "aggregator": self.aggregator.state_dict(),
            "weights": None if self._weights is None else self._weights.tolist(),
            "weights_dtype": None if self._weights is None else str(self._weights.dtype).removeprefix("torch."),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.aggregator.load_state_dict(state.get("aggregator", {}))
        w = state.get("weights")
        self._weights = (
            None if w is None else torch.tensor(w, dtype=getattr(torch, state.get("weights_dtype") or "float32"))
        )
