"""Data-parallel training and gradient accumulation: how one step's batch is cut into parts and how
the parts' gradients are put back together.

A step reads one *global* batch per task (identical on every process: the streams and the task
sampler are seeded alike). Process r of N takes its contiguous share of the rows
(`torch.tensor_split`), and cuts it again into `accumulation_steps` micro-batches. Part m of task
k holds n_km of the n_k labelled units (examples, or tokens for tagging) of the global batch, so
with mean-reduced losses the global task loss is ℓ_k = Σ_m c_km ℓ_km with c_km = n_km / n_k.

Every part's loss reaches the method as a *loss view* (`LossView`): its value is the global loss
ℓ_k (so weights computed from loss values are those of the single-process step), its gradient is
c_km · s · ∇ℓ_km, s being the fp16 loss scale (1 otherwise). Sums of those gradients over the
parts and processes are exactly s · ∇ℓ_k of the global batch. Per-task gradients are computed
locally with `torch.autograd.grad`; nothing goes through DDP's reducer hooks, and the only
collectives are one all-reduce of the K loss values, one of the method's per-task rows (K x P for
the `parameters` back-end) and one of the `.grad` buffers per step (a gradient method writes 1/N of
its combined direction on each of the N processes, so that sum restores it, next to the summed
task-head and auxiliary-loss gradients).

Dropout masks are drawn per process, so with dropout > 0 the processes' steps are statistically,
not bitwise, equal to the single-process step.

The single-process step is the same path with one part: the part is the whole batch, its
share is 1, and the loss view is the loss itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import torch
import torch.distributed as dist

from ..data.batching import IGNORE_INDEX, Batch
from ..data.tasks import TaskKind


@dataclass
class StepSync:
    """Who this process is, and the collectives of a step (no-ops in a single process)."""

    world: int = 1
    rank: int = 0
    grad_scale: float = 1.0  # s: the gradients methods write are s-scaled; the trainer unscales them

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def all_reduce_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over processes, in place."""
        if self.world > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def all_gather_object(self, value: object) -> list[object]:
        """Every process's `value`, in rank order (a one-item list in a single process)."""
        if self.world <= 1:
            return [value]
        out: list[object] = [None] * self.world
        dist.all_gather_object(out, value)
        return out

    def reduce_grads_(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Sum the `.grad` of `params` over processes, in one flat all-reduce."""
        if self.world <= 1:
            return
        todo = list(params)
        for p in todo:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if not todo:
            return
        grads = [cast(torch.Tensor, p.grad) for p in todo]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        for g, chunk in zip(grads, torch.split(flat, [g.numel() for g in grads])):
            g.copy_(chunk.view_as(g))

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Start every process from rank 0's weights."""
        if self.world > 1:
            for tensor in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(tensor.data, src=0)


class LossView(torch.autograd.Function):
    """Forward: the global loss value; backward: the local part's gradient times `factor` (c · s)."""

    @staticmethod
    def forward(ctx, local: torch.Tensor, value: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return value.detach().clone().to(local.dtype).reshape(local.shape)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.factor, None, None


def loss_view(local: torch.Tensor, value: torch.Tensor, factor: float) -> torch.Tensor:
    return LossView.apply(local, value, factor)


def labelled_units(kind: TaskKind, batch: Batch) -> int:
    """What a mean-reduced task loss averages over: examples, or labelled tokens for tagging."""
    if batch.labels is None:
        return 0
    if kind == TaskKind.TAGGING:
        return int((batch.labels != IGNORE_INDEX).sum())
    return int(batch.labels.shape[0])


def slice_batch(batch: Batch, rows: torch.Tensor) -> Batch:
    """The rows of a batch; tasks sharing inputs (same `input_key`) keep sharing them."""
    pick = lambda t: None if t is None else t[rows]  # noqa: E731
    return Batch(
        batch.input_ids[rows],
        batch.attention_mask[rows],
        pick(batch.labels),
        pick(batch.token_type_ids),
        pick(batch.indices),
        batch.input_key,
    )


def batch_parts(
    batch: Batch, kind: TaskKind, rank: int, world: int, accumulation: int
) -> list[tuple[Batch | None, float]]:
    """This process's micro-batches of a global batch, each with its share c = n_part / n_global
    (None for an empty part, which happens when the batch has fewer rows than world × accumulation)."""
    if world == 1 and accumulation == 1:
        return [(batch, 1.0)]  # one part: the whole batch
    total = labelled_units(kind, batch)
    rows = torch.arange(len(batch))
    mine = torch.tensor_split(rows, world)[rank]
    parts: list[tuple[Batch | None, float]] = []
    for chunk in torch.tensor_split(mine, accumulation):
        if len(chunk) == 0:
            parts.append((None, 0.0))
            continue
        part = slice_batch(batch, chunk)
        parts.append((part, labelled_units(kind, part) / total if total else 0.0))
    return parts


def zero_loss(params: Sequence[torch.nn.Parameter], like: torch.Tensor | None = None) -> torch.Tensor:
    """A zero loss connected to `params` (an empty part: it must still reach autograd)."""
    if not params:
        return torch.zeros((), requires_grad=True) if like is None else like.new_zeros((), requires_grad=True)
    return sum((p.reshape(-1)[:1] * 0).sum() for p in params)  # type: ignore[return-value]
