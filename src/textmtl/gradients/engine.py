"""The `parameters` back-end: the K x P Jacobian of the task losses on the shared parameters.

When every task has its own batch and its own forward pass (the multi-domain setting), the
task graphs share only parameter leaves, so `autograd.grad(loss_k, ...)` walks task k's graph
alone and frees it: the K calls together cost about one backward pass of the whole step, not
K backward passes over one shared graph. When tasks share a forward pass (`retain=True`), the
graph is kept until the last task, and `chunk_size=c` computes c rows at a time with one batched
vector-Jacobian product (`is_grads_batched`, i.e. vmap), which bounds the extra memory to c rows'
worth of backward buffers. On CPU this is rarely faster than the sequential loop (anchors.md
§2.4: attention backward has no batching rule), so it is off by default. Rows are written
straight into a preallocated tensor on the parameters' device; nothing is staged through host
memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import nn


class ParameterSpace:
    """A fixed list of parameters seen as one flat vector of length P."""

    def __init__(self, params: Sequence[nn.Parameter]) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.sizes = [p.numel() for p in self.params]
        self.size = sum(self.sizes)

    def write_grad(self, flat: torch.Tensor, accumulate: bool = False) -> None:
        """Put `flat` (length P) into the parameters' `.grad` (added to it if `accumulate`)."""
        for p, chunk in zip(self.params, torch.split(flat, self.sizes)):
            g = chunk.view_as(p).to(p.dtype)
            if p.grad is None or not accumulate:
                p.grad = g.clone()
            else:
                p.grad.add_(g)


def shared_jacobian(
    losses: Mapping[str, torch.Tensor],
    shared: ParameterSpace,
    task_params: Mapping[str, Sequence[nn.Parameter]],
    *,
    retain: bool = False,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Rows g_k = ∂ℓ_k/∂θ_shared (K x P, in the order of `losses`).

    Each task's own parameters (its head, ...) receive their plain gradient in `.grad` on the
    way, so only the shared part is left for the method to combine.
    """
    tasks = list(losses)
    if not tasks:
        raise ValueError("no task losses")
    ref = shared.params[0] if shared.params else next(iter(losses.values()))
    jac = torch.zeros((len(tasks), shared.size), dtype=ref.dtype, device=ref.device)
    if chunk_size is not None and retain and shared.params:
        _chunked_rows(losses, shared, task_params, jac, chunk_size)
        return jac
    for k, task in enumerate(tasks):
        own = [p for p in task_params.get(task, ()) if p.requires_grad]
        inputs = shared.params + own
        if not inputs:
            continue
        grads = torch.autograd.grad(
            losses[task],
            inputs,
            retain_graph=retain and k < len(tasks) - 1,
            allow_unused=True,
            materialize_grads=True,
        )
        if shared.params:
            torch.cat([g.reshape(-1) for g in grads[: len(shared.params)]], out=jac[k])
        for p, g in zip(own, grads[len(shared.params) :]):
            p.grad = g if p.grad is None else p.grad + g
    return jac


def _chunked_rows(
    losses: Mapping[str, torch.Tensor],
    shared: ParameterSpace,
    task_params: Mapping[str, Sequence[nn.Parameter]],
    jac: torch.Tensor,
    chunk_size: int,
) -> None:
    """Shared-graph rows, `chunk_size` at a time, by batched VJPs; heads by one cheap pass."""
    tasks = list(losses)
    for start in range(0, len(tasks), chunk_size):
        chunk = tasks[start : start + chunk_size]
        stacked = torch.stack([losses[t] for t in chunk])
        eye = torch.eye(len(chunk), dtype=stacked.dtype, device=stacked.device)
        grads = torch.autograd.grad(
            stacked,
            shared.params,
            grad_outputs=eye,
            is_grads_batched=True,
            retain_graph=True,
            allow_unused=True,
            materialize_grads=True,
        )
        torch.cat([g.reshape(len(chunk), -1) for g in grads], dim=1, out=jac[start : start + len(chunk)])
    own = list({id(p): p for t in tasks for p in task_params.get(t, ()) if p.requires_grad}.values())
    if own:  # each task's own parameters only reach its own loss, so the sum gives each its plain gradient
        total = cast(torch.Tensor, sum(losses.values()))
        for p, g in zip(own, torch.autograd.grad(total, own, allow_unused=True, materialize_grads=True)):
            p.grad = g if p.grad is None else p.grad + g
