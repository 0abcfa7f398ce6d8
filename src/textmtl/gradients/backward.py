"""`textmtl.backward`: conflict-aware backward for any PyTorch training loop.

    losses = [loss_sentiment, loss_topic]                # from your own forward pass
    textmtl.backward(losses, shared=encoder.parameters(), method="getmtl")
    optimizer.step()

Per-task gradients on the `shared` parameters are combined by the method (an aggregator name or
instance, e.g. `textmtl.aggregation.GetMTL(epsilon=0.0075)`) and written into their `.grad`;
every other parameter a loss depends on (its head, ...) receives that loss's plain gradient, as
with `sum(losses).backward()`. Gradients accumulate into `.grad` like `Tensor.backward`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import cast

import torch
from torch import nn

from ..aggregation import Aggregator, make_aggregator
from .engine import ParameterSpace, shared_jacobian


def graph_leaves(tensor: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors requiring grad that `tensor` depends on (walks its autograd graph)."""
    leaves, seen, stack = [], set(), [tensor.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        variable = getattr(fn, "variable", None)  # AccumulateGrad nodes hold the leaf
        if variable is not None:
            leaves.append(variable)
        else:
            stack.extend(child for child, _ in fn.next_functions)
    return leaves


def backward(
    losses: Sequence[torch.Tensor] | Mapping[str, torch.Tensor],
    *,
    shared: Iterable[nn.Parameter],
    method: str | Aggregator = "mean",
    task_params: Mapping[str, Sequence[nn.Parameter]] | Sequence[Sequence[nn.Parameter]] | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor | None:
    """Combine per-task gradients on `shared` with `method`; returns the task weights (or None).

    `task_params` (per task) skips the graph walk that otherwise finds each loss's own leaves.
    Tasks may share one forward pass: the graph is kept until the last task; `chunk_size` then
    computes that many rows per batched vector-Jacobian product (see `engine`).
    """
    named = dict(losses) if isinstance(losses, Mapping) else {str(i): l for i, l in enumerate(losses)}
    if not named:
        raise ValueError("backward: no losses")
    aggregator = make_aggregator(method) if isinstance(method, str) else method
    space = ParameterSpace(list(shared))
    shared_ids = {id(p) for p in space.params}
    if task_params is None:
        own = {t: [p for p in graph_leaves(l) if id(p) not in shared_ids] for t, l in named.items()}
    elif isinstance(task_params, Mapping):
        own = {t: list(task_params.get(t, ())) for t in named}
    else:
        own = {t: list(ps) for t, ps in zip(named, task_params)}
    jac = shared_jacobian(
        named, space, cast(dict[str, Sequence[nn.Parameter]], own), retain=True, chunk_size=chunk_size
    )
    loss_vec = torch.stack([l.detach() for l in named.values()]).to(jac.dtype)
    direction = aggregator(jac, losses=loss_vec if aggregator.requires_losses else None)
    if space.size:
        space.write_grad(direction, accumulate=True)
    return aggregator.last_weights
