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
from torch import nn

from ..data.batching import EncodedSplit, collate
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
        raise ModelError("GradTS needs a transformer encoder with self-attention key/value projections "
                         "(model.encoder.type: transformer)")
    return found


def head_scores(grad_key: torch.Tensor, grad_value: torch.Tensor, heads: int, slicing: Slicing = "output"
                ) -> torch.Tensor:
    """[heads] scores of one layer: mean |∇W_K| + mean |∇W_V| over each head's slice of the weight."""
    def per_head(grad: torch.Tensor) -> torch.Tensor:
        g = grad.abs()
        out, width = g.shape
        if slicing == "output":  # rows h·d:(h+1)·d
            return g.reshape(heads, (out // heads) * width).mean(1)
        if slicing == "input":  # the official reshape: [out, heads, in/heads], head = input columns
            return g.reshape(out, heads, width // heads).mean(dim=(0, 2))
        raise ValueError(f"slicing: expected one of {', '.join(SLICINGS)}, got {slicing!r}")

    return per_head(grad_key) + per_head(grad_value)


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Each layer row divided by its sum (`layer_normal`), then a global min-max scaling to [0, 1].
    A row summing to 0 stays 0; a constant matrix becomes all zeros."""
    m = np.asarray(matrix, dtype=np.float64)
    sums = m.sum(axis=-1, keepdims=True)
    m = np.divide(m, sums, out=np.zeros_like(m), where=sums != 0)
    low, high = m.min(), m.max()
    return (m - low) / (high - low) if high > low else np.zeros_like(m)


def instance_head_matrices(model: nn.Module, task: str, split: EncodedSplit, pad_id: int, *,
                           slicing: Slicing = "output", device: str | torch.device = "cpu",
                           progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """[examples, layers, heads] raw scores: one forward/backward pass per example (batch size 1),
    the gradients taken with `torch.autograd.grad` (no `.grad` is written, nothing is updated).

    The model runs in eval mode (no dropout), so the matrices are deterministic."""
    layers = attention_projections(model)
    weights = [w for layer in layers for w in (layer.key.weight, layer.value.weight)]
    kind = model.specs[task].kind
    was_training = model.training
    model.eval()
    requires = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():  # only the K/V weights need gradients: the backward pass skips the rest
        p.requires_grad_(False)
    for w in weights:
        w.requires_grad_(True)
    out = np.zeros((len(split), len(layers), layers[0].heads), dtype=np.float64)
    try:
        for i in range(len(split)):
            batch = collate(split, [i], pad_id).to(device)
            if batch.labels is None:
                raise ModelError(f"task {task!r}: training example {i} has no label")
            loss = task_loss(kind, model(task, batch).logits, batch.labels)
            grads = torch.autograd.grad(loss, weights)
            for j, layer in enumerate(layers):
                out[i, j] = head_scores(grads[2 * j], grads[2 * j + 1], layer.heads, slicing).double().cpu().numpy()
            if progress is not None:
                progress(i + 1, len(split))
    finally:
        for p, flag in requires.items():
            p.requires_grad_(flag)
        model.train(was_training)
    return out


def head_importance(instance_raw: np.ndarray) -> HeadImportance:
    """Task-level and instance-level matrices from the raw per-instance scores."""
    raw = instance_raw.mean(axis=0)
    instances = np.stack([normalise(m) for m in instance_raw]) if len(instance_raw) else instance_raw
    return HeadImportance(normalise(raw), raw, instances)
