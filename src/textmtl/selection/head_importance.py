"""Attention-head importance from absolute weight gradients (GradTS, Ma et al. 2021, §2.2 of the spec).

For every training instance, one forward and backward pass of the task loss (batch size 1, no
update) gives |∂ℓ/∂W_K| and |∂ℓ/∂W_V| of every layer's key and value projections. A head's score
in that layer is `mean(|∇W_K|_head) + mean(|∇W_V|_head)` (the official code's `avg_head`: key and
value, never the query). Heads are sliced from the weight either as

- `output` (default): head h owns the output rows h·d:(h+1)·d of W ([out, in], out = heads × d),
  which is where a BERT projection keeps head h's features; or
- `input`: the official code's reshape of W to [out, heads, in/heads], i.e. head h = the input
  columns h·d:(h+1)·d (kept to reproduce its numbers).

The task-level matrix is the mean of the per-instance [layers, heads] matrices, then
`normalise`d (each layer's row divided by its sum, then a global min-max to [0, 1]); the
instance-level matrices (GradTS-fg) are each normalised the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.batching import IGNORE_INDEX, EncodedSplit, collate
from ..data.tasks import TaskKind
from ..errors import ModelError
from ..models.heads import task_loss

Slicing = Literal["output", "input"]
SLICINGS: tuple[str, ...] = ("output", "input")


@dataclass
class AttentionProjections:
    """The key and value projections of one self-attention layer."""

    key: nn.Linear
    value: nn.Linear
    heads: int


@dataclass
class HeadImportance:
    """`task`: [layers, heads] in [0, 1]; `raw`: its mean before normalisation;
    `instances`: [examples, layers, heads], each example's matrix normalised."""

    task: np.ndarray
    raw: np.ndarray
    instances: np.ndarray


def attention_projections(model: nn.Module) -> list[AttentionProjections]:
    """Every self-attention block's key/value Linear layers, in layer order (BERT-style modules
    with `key`, `value` and `num_attention_heads`, e.g. `encoder.layer.i.attention.self`)."""
    found = []
    for _, module in model.named_modules():
        key, value = getattr(module, "key", None), getattr(module, "value", None)
        heads = getattr(module, "num_attention_heads", None)
        if isinstance(key, nn.Linear) and isinstance(value, nn.Linear) and isinstance(heads, int):
            found.append(AttentionProjections(key, value, heads))
    if not found:
        raise ModelError(
            "GradTS needs a transformer encoder with self-attention key/value projections "
            "(model.encoder.type: transformer)"
        )
    return found


def head_scores(
    grad_key: torch.Tensor, grad_value: torch.Tensor, heads: int, slicing: Slicing = "output"
) -> torch.Tensor:
    """[..., heads] scores: mean |∇W_K| + mean |∇W_V| over each head's slice of the [..., out, in]
    weight gradients (leading dimensions, e.g. examples, are kept)."""
    return _per_head(grad_key.abs(), heads, slicing) + _per_head(grad_value.abs(), heads, slicing)


def _per_head(g: torch.Tensor, heads: int, slicing: Slicing) -> torch.Tensor:
    *lead, out, width = g.shape
    if slicing == "output":  # rows h·d:(h+1)·d
        return g.reshape(*lead, heads, (out // heads) * width).mean(-1)
    if slicing == "input":  # the official reshape: [out, heads, in/heads], head = input columns
        return g.reshape(*lead, out, heads, width // heads).mean(dim=(-3, -1))
    raise ValueError(f"slicing: expected one of {', '.join(SLICINGS)}, got {slicing!r}")


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Each layer row divided by its sum (`layer_normal`), then a global min-max scaling to [0, 1].
    A row summing to 0 stays 0; a constant matrix becomes all zeros."""
    m = np.asarray(matrix, dtype=np.float64)
    sums = m.sum(axis=-1, keepdims=True)
    m = np.divide(m, sums, out=np.zeros_like(m), where=sums != 0)
    low, high = m.min(), m.max()
    return (m - low) / (high - low) if high > low else np.zeros_like(m)


def instance_head_matrices(
    model: nn.Module,
    task: str,
    split: EncodedSplit,
    pad_id: int,
    *,
    slicing: Slicing = "output",
    batch_size: int = 1,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """[examples, layers, heads] raw scores from each example's own gradient of its loss; nothing is
    updated and no `.grad` is written. The model runs in eval mode (no dropout): deterministic.

    `batch_size` 1 is the official code's loop (one forward/backward pass per example). Larger
    batches give the same per-example gradients faster: one backward pass of the summed loss gives
    each example's gradient at the key/value outputs, and example b's weight gradient is
    `g_bᵀ x_b` (outputs' gradient times the layer input). Padding changes nothing: padded keys get
    zero attention, so no gradient flows through padded positions."""
    layers = attention_projections(model)
    modules = [m for layer in layers for m in (layer.key, layer.value)]
    weights = [m.weight for m in modules]
    kind = model.specs[task].kind  # type: ignore[index, union-attr]  # an Architecture (nn.Module typing)
    was_training = model.training
    model.eval()
    requires = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():  # only the K/V projections need gradients: the backward pass skips the rest
        p.requires_grad_(False)
    for w in weights:
        w.requires_grad_(True)
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # position in `modules` -> (input, output)

    def keep(k: int) -> Callable:
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if k in seen:
                raise ModelError("a key/value projection ran twice in one forward pass; use batch size 1")
            seen[k] = (args[0].detach(), output)

        return hook

    handles = [m.register_forward_hook(keep(k)) for k, m in enumerate(modules)] if batch_size > 1 else []
    out = np.zeros((len(split), len(layers), layers[0].heads), dtype=np.float64)
    done = 0
    try:
        order = np.argsort(split.lengths(), kind="stable") if batch_size > 1 else np.arange(len(split))
        for start in range(0, len(split), batch_size):
            idx = order[start : start + batch_size].tolist()
            batch = collate(split, idx, pad_id).to(device)
            if batch.labels is None:
                raise ModelError(f"task {task!r}: training examples {idx} have no label")
            seen.clear()
            logits = model(task, batch).logits
            if batch_size == 1:
                grads = torch.autograd.grad(task_loss(kind, logits, batch.labels), weights)
                for j, layer in enumerate(layers):
                    out[idx[0], j] = head_scores(grads[2 * j], grads[2 * j + 1], layer.heads, slicing).double().numpy()
            else:
                if len(seen) != len(modules):
                    raise ModelError(
                        f"expected one call of each of the {len(modules)} key/value projections "
                        f"per forward pass, saw {len(seen)}"
                    )
                outputs = torch.autograd.grad(
                    summed_example_losses(kind, logits, batch.labels), [seen[k][1] for k in range(len(modules))]
                )
                for j, layer in enumerate(layers):
                    per_example = [torch.einsum("blo,bli->boi", outputs[2 * j + k], seen[2 * j + k][0]) for k in (0, 1)]
                    scores = head_scores(per_example[0], per_example[1], layer.heads, slicing)
                    out[idx, j] = scores.double().cpu().numpy()
            done += len(idx)
            if progress is not None:
                progress(done, len(split))
    finally:
        for h in handles:
            h.remove()
        seen.clear()
        for p, flag in requires.items():
            p.requires_grad_(flag)
        model.train(was_training)
    return out


def summed_example_losses(kind: TaskKind, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Σ over the batch of each example's own `task_loss` (a tagging example's loss is the mean over
    its own labelled tokens), so that example b's gradient is that of its loss alone."""
    if kind != TaskKind.TAGGING:  # a mean over examples: times the batch size
        return task_loss(kind, logits, labels) * labels.shape[0]
    per_token = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
    ).reshape(labels.shape)
    counts = (labels != IGNORE_INDEX).sum(1).clamp(min=1)
    return (per_token.sum(1) / counts).sum()


def head_importance(instance_raw: np.ndarray) -> HeadImportance:
    """Task-level and instance-level matrices from the raw per-instance scores."""
    raw = instance_raw.mean(axis=0)
    instances = np.stack([normalise(m) for m in instance_raw]) if len(instance_raw) else instance_raw
    return HeadImportance(normalise(raw), raw, instances)
