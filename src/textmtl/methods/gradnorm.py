"""GradNorm: Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: gradient normalization for
adaptive loss balancing in deep multitask networks", ICML 2018, §3 Eq. (1)-(2) and Algorithm 1.

Learnable weights w_k (init 1), L = Σ_k w_k ℓ_k. On the chosen layer W of the shared network:

    G_k = ||∇_W w_k ℓ_k||₂,  Ḡ = mean_k G_k,  L̃_k = ℓ_k(t)/ℓ_k(0),  r_k = L̃_k / mean_i L̃_i,
    L_grad = Σ_k | G_k − Ḡ · r_k^α |₁        (α = 1.5; Ḡ r_k^α is held constant, as in the paper).

Algorithm 1 per step: the model gradient of L with the current w (one backward pass); the
gradient of L_grad w.r.t. w, which is analytic here, ∂L_grad/∂w_k = sign(G_k − Ḡ r_k^α) ·
||∇_W ℓ_k|| (no second-order graph is needed); one Adam step on w (lr `w_lr`; the paper
updates w with the network's optimiser, which the trainer does not share with methods); then
w_k ← max(w_k, 1e-3) and renormalisation so that Σ_k w_k = K over every task seen so far.
The reported weights are the w_k used for the step (before the update). ℓ_k(0) is the first
loss observed for task k (saved in the state).

Which layer W (the paper: "the last shared layer of weights"; LibMTL instead uses every shared
parameter, anchors.md §3.2). With `layer: null` (default) W is found once, at the first step:
the autograd graph of that step's losses is walked to find the shared parameters
(`model.shared_parameters()`) that actually receive a gradient; among them, the last one (in
`shared_parameters()` order) with ≥ 2 dimensions is taken, and W is that tensor together with
every other used shared parameter of the same module (its bias). For the toolkit's encoders:
TextCNN → the last convolution `encoder.convs.<n-1>.{weight,bias}` (only the widest kernel:
set `layer: encoder.convs` for all parallel branches); BiLSTM → the LSTM of the last layer's
backward direction; a transformer → the output dense layer of its last block (or the pooler
when it is used), skipping trailing LayerNorms. `layer: <prefix>` instead selects every shared
parameter whose qualified name (`model.named_parameters()`) equals the prefix or starts with
`<prefix>.`. The chosen names are written to history.jsonl (`gradnorm_layer`) at evaluation steps.

Cost: besides the usual backward pass, one `autograd.grad(ℓ_k, W)` per task present, which
only traverses task k's graph from its loss down to W (its head and the last shared layer,
not the rest of the encoder), i.e. K small partial backward passes; the graph is retained
until the main backward. With no shared parameters (nothing to normalise) w stays 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ._loss_weighting import TaskAdam, as_tensor, floats, positive, stack_losses
from .base import Method, StepContext, StepStats, register

_MIN_WEIGHT = 1e-3
_EPS = 1e-12


def used_leaves(roots: Sequence[torch.Tensor]) -> set[int]:
    """ids of the leaf tensors that `roots` depend on through their autograd graphs."""
    seen: set[int] = set()
    leaves: set[int] = set()
    stack = [r.grad_fn for r in roots if r.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)  # AccumulateGrad: a leaf
        if variable is not None:
            leaves.add(id(variable))
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return leaves


def last_shared_layer(
    model: nn.Module, shared: Sequence[nn.Parameter], used: set[int], layer: str | None = None
) -> list[tuple[str, nn.Parameter]]:
    """The (name, tensor) pairs of W, chosen as described in the module docstring."""
    shared_ids = {id(p) for p in shared}
    names = {id(p): n for n, p in model.named_parameters()}
    if layer is not None:
        chosen = [
            (n, p)
            for n, p in model.named_parameters()
            if id(p) in shared_ids and (n == layer or n.startswith(layer + "."))
        ]
        if not chosen:
            raise ConfigError(
                f"method.layer: no shared parameter of the model is named '{layer}' or "
                f"'{layer}.*' (shared: {', '.join(names.get(id(p), '?') for p in shared[-4:])}, ...)"
            )
        return chosen
    candidates = [p for p in shared if id(p) in used and p.requires_grad]
    if not candidates:
        return []
    anchor = next((p for p in reversed(candidates) if p.dim() >= 2), candidates[-1])
    for module in model.modules():
        own = list(module.parameters(recurse=False))
        if any(q is anchor for q in own):
            return [(names.get(id(q), "?"), q) for q in own if id(q) in shared_ids and id(q) in used]
    return [(names.get(id(anchor), "?"), anchor)]


@register
class GradNorm(Method):
    """GradNorm (Chen et al. 2018): learnable w_k balancing gradient norms on the last shared layer, α = 1.5."""

    name = "gradnorm"
    backends = ("loss",)

    def __init__(self, *, alpha: float = 1.5, w_lr: float = 0.025, layer: str | None = None) -> None:
        if layer is not None and (not isinstance(layer, str) or not layer):
            raise ValueError(f"layer must be a parameter-name prefix or null, got {layer!r}")
        self.alpha, self.w_lr = positive("alpha", alpha, allow_zero=True), positive("w_lr", w_lr)
        self.layer = layer
        self.w: dict[str, float] = {}
        self.initial_losses: dict[str, float] = {}
        self._adam = TaskAdam(self.w_lr)
        self._layer: list[tuple[str, nn.Parameter]] | None = None
        self._layer_names: list[str] | None = None  # W restored from a state_dict
        self._model_id: int | None = None

    def check_step_setup(self, *, world: int, accumulation: int, precision: str) -> None:
        # its weight update reads per-task gradient norms of one whole, unscaled step
        if world > 1 or accumulation > 1 or precision == "fp16":
            raise ValueError(
                "gradnorm supports neither several processes, accumulation_steps > 1 nor fp16 "
                "(its update needs the per-task gradient norms of the whole step)"
            )

    def layer_parameters(self, model: nn.Module, losses: Mapping[str, torch.Tensor]) -> list[tuple[str, nn.Parameter]]:
        """W (found at the first call for a model, then cached)."""
        if self._layer is None or self._model_id != id(model):
            if self._layer_names is not None:  # as chosen before a checkpoint
                named = dict(model.named_parameters())
                self._layer, self._model_id = [(n, named[n]) for n in self._layer_names], id(model)
                return self._layer
            shared = list(model.shared_parameters())  # type: ignore[operator]
            used = used_leaves(list(losses.values())) if self.layer is None else set()
            self._layer, self._model_id = last_shared_layer(model, shared, used, self.layer), id(model)
        return self._layer

    def backward(self, losses: Mapping[str, torch.Tensor], ctx: StepContext) -> StepStats:
        tasks, vec = stack_losses(losses)
        layer = [p for _, p in self.layer_parameters(ctx.model, losses)]
        for t in tasks:
            self.w.setdefault(t, 1.0)
        w = as_tensor((self.w[t] for t in tasks), vec)
        norms = torch.zeros_like(w)
        if layer:
            for k, t in enumerate(tasks):
                if not losses[t].requires_grad:
                    continue
                grads = torch.autograd.grad(losses[t], layer, retain_graph=True, allow_unused=True)
                sq = [g.pow(2).sum() for g in grads if g is not None]
                if sq:
                    norms[k] = torch.stack(sq).sum().sqrt().to(norms.dtype)
        (w * vec).sum().backward()

        values = vec.detach()
        new_tasks = [t for t in tasks if t not in self.initial_losses]
        for t, v in zip(tasks, values.tolist()):
            if t in new_tasks and math.isfinite(v):
                self.initial_losses[t] = v
        l0 = as_tensor((self.initial_losses.get(t, 1.0) for t in tasks), values)
        ratio = values / l0.clamp_min(_EPS)
        r = ratio / ratio.mean().clamp_min(_EPS)
        g = w * norms
        target = g.mean() * r.pow(self.alpha)
        dw = torch.sign(g - target) * norms  # ∂L_grad/∂w_k with the target held constant

        weights = dict(zip(tasks, w.tolist()))
        stats = StepStats(weights=weights)
        if layer:
            self._update(dict(zip(tasks, dw.tolist())))
        if ctx.record:
            stats.extra["gradnorm_layer"] = [n for n, _ in self._layer or []]
            stats.extra["gradnorm_grad_norms"] = dict(zip(tasks, g.tolist()))
        return stats

    def _update(self, grads: Mapping[str, float]) -> None:
        new = self._adam.step(self.w, grads)
        new = {t: max(x, _MIN_WEIGHT) if math.isfinite(x) else 1.0 for t, x in new.items()}
        total = sum(new.values())
        self.w = {t: x * len(new) / total for t, x in new.items()}

    def state_dict(self) -> dict[str, Any]:
        layer = [n for n, _ in self._layer] if self._layer is not None else self._layer_names
        return {
            "w": dict(self.w),
            "initial_losses": dict(self.initial_losses),
            "adam": self._adam.state_dict(),
            "layer": None if layer is None else list(layer),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("layer") is not None:
            self._layer_names = list(state["layer"])
        self.w = floats(state, "w")
        self.initial_losses = floats(state, "initial_losses")
        self._adam.load_state_dict(state.get("adam", {}))
