"""`textmtl.backward`: conflict-aware backward for any PyTorch training loop.

    losses = {"sentiment": loss_a, "topic": loss_b}      # from your own forward pass
    textmtl.backward(losses, shared=encoder.parameters(), method="getmtl")
    optimizer.step()

Every method the trainer knows works here, by name (`textmtl list methods`: `ls`, `uw`, `dwa`,
`pcgrad`, `nash_mtl`, ...) or as an aggregator instance. Per-task gradients on the `shared`
parameters are combined by the method and written into their `.grad`; every other parameter a
loss depends on (its head, ...) receives that loss's plain gradient, as with
`sum(losses).backward()`. Gradients accumulate into `.grad` like `Tensor.backward`.

`features=`: the tensor(s) the task heads read, as in torchjd's `mtl_backward`: the parameters
behind them are the shared ones (`shared` may then be left out), those between them and a loss are
that task's own. The Jacobian is still the exact one on the shared parameters; with
`backend="representation"` the method instead combines the gradients w.r.t. the features and
pushes the combination through the encoder in one pass (cheaper, an approximation, see
`gradients.representation`).

State: a method's state (GradVac's EMA targets, UW's log-variances, DWA's loss window, ...) must
live across steps. `backward` with a method NAME keeps one `Backward` object per method,
hyper-parameters and set of shared parameters (so one training loop gets the same object at every
call); to hold it yourself, create `textmtl.Backward("gradvac", shared=...)` and call it each step.
An aggregator INSTANCE carries its own state.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import torch
from torch import nn

from ..aggregation import Aggregator

_CACHE_SIZE = 64  # Backward objects kept by `backward` (least recently used dropped first)
_CACHE: OrderedDict[tuple, Backward] = OrderedDict()


def graph_leaves(tensor: torch.Tensor, stop: Sequence[torch.Tensor] = ()) -> list[torch.Tensor]:
    """The leaf tensors requiring grad that `tensor` depends on (walks its autograd graph), not
    looking past the tensors of `stop` (the shared features: what lies behind them is shared)."""
    blocked = {t.grad_fn for t in stop if t.grad_fn is not None}
    stop_ids = {id(t) for t in stop}
    leaves, seen, stack = [], set(), [tensor.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen or fn in blocked:
            continue
        seen.add(fn)
        variable = getattr(fn, "variable", None)  # AccumulateGrad nodes hold the leaf
        if variable is not None:
            if id(variable) not in stop_ids:
                leaves.append(variable)
        else:
            stack.extend(child for child, _ in fn.next_functions)
    return leaves


class _LoopModel(nn.Module):
    """What a method reads of the model, for a model the user trains in their own loop."""

    def __init__(self, shared: list[nn.Parameter], own: Mapping[str, list[nn.Parameter]]) -> None:
        super().__init__()
        self.shared = nn.ParameterList(shared)  # registered, not copied (GradNorm reads module structure)
        self.own = dict(own)

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.shared)

    def task_parameters(self, task: str) -> list[nn.Parameter]:
        return list(self.own.get(task, ()))


class _Output:
    def __init__(self, representation: torch.Tensor | None) -> None:
        self.representation = representation


class Backward:
    """A method with its state kept across calls (the object form of `textmtl.backward`).

        step = textmtl.Backward("gradvac", shared=encoder.parameters(), beta=0.01)
        for batch in loader:
            step({"a": loss_a, "b": loss_b})
            optimizer.step()

    `method`: a method name (with its hyper-parameters as keyword arguments, `backend=` included)
    or an aggregator. `shared`: the shared parameters; None: those behind the `features` of the
    first call. A method that updates itself after the optimiser step (FAMO) needs
    `after_step(new_losses)`, with the losses of the same batches re-evaluated after `optimizer.step()`.
    """

    def __init__(
        self,
        method: str | Aggregator = "mean",
        *,
        shared: Iterable[nn.Parameter] | None = None,
        chunk_size: int | None = None,
        **hyperparameters: Any,
    ) -> None:
        from ..methods import GradientMethod, make_method
        from ..methods.base import Method

        self.method: Method

        self.shared: list[nn.Parameter] | None = None if shared is None else list(shared)
        if isinstance(method, Aggregator):
            backend = hyperparameters.pop("backend", "parameters")
            if hyperparameters:
                raise ValueError("hyper-parameters go to the aggregator's constructor, not to Backward")
            self.method = GradientMethod(method, backend=backend, chunk_size=chunk_size)
        else:
            params = dict(hyperparameters)
            if chunk_size is not None:
                params["chunk_size"] = chunk_size
            self.method = make_method(method, params)
        if self.method.architecture is not None:
            raise ValueError(f"method {method!r} trains each task on its own; it has no backward step to combine")
        self.steps = 0
        self._last: tuple[Any, dict] | None = None  # (context, losses) of the last call, for after_step

    def __call__(
        self,
        losses: Sequence[torch.Tensor] | Mapping[str, torch.Tensor],
        *,
        features: torch.Tensor | Sequence[torch.Tensor] | Mapping[str, torch.Tensor] | None = None,
        task_params: Mapping[str, Sequence[nn.Parameter]] | Sequence[Sequence[nn.Parameter]] | None = None,
        total_steps: int | None = None,
    ) -> torch.Tensor | None:
        """Back-propagate one step's task losses; returns the task weights the method used (or None).

        `features`: one tensor all tasks read, a tensor per task (a sequence in the order of
        `losses`, or a mapping by task name), needed by `features=True`. `task_params` (per task)
        skips the graph walk that otherwise finds each loss's own parameters."""
        from ..methods.base import StepContext

        named = dict(losses) if isinstance(losses, Mapping) else {str(i): l for i, l in enumerate(losses)}
        if not named:
            raise ValueError("backward: no losses")
        reps = _per_task(features, list(named))
        needs_features = getattr(self.method, "backend", None) == "representation"
        if needs_features and reps is None:
            raise ValueError("backward: this method combines gradients w.r.t. the features; pass features=")
        stop = list({id(r): r for r in reps.values()}.values()) if reps else []
        if self.shared is None:
            if not stop:
                raise ValueError("backward: give shared= (the shared parameters) or features=")
            found = {id(p): p for r in stop for p in graph_leaves(r)}
            self.shared = cast(list[nn.Parameter], list(found.values()))
        shared_ids = {id(p) for p in self.shared}
        if task_params is None:
            own = {t: [p for p in graph_leaves(l, stop) if id(p) not in shared_ids] for t, l in named.items()}
        elif isinstance(task_params, Mapping):
            own = {t: list(task_params.get(t, ())) for t in named}
        else:
            own = {t: list(ps) for t, ps in zip(named, task_params)}
        self.steps += 1
        model = _LoopModel(list(self.shared), cast(dict[str, list[nn.Parameter]], own))
        outputs = {t: _Output(reps[t] if reps else None) for t in named}
        ctx = StepContext(model, self.steps, max(total_steps or self.steps, self.steps), {}, outputs)  # type: ignore[arg-type]
        ctx.global_losses = torch.stack([l.detach().reshape(()) for l in named.values()]).double()
        stats = self.method.backward(named, ctx)
        self._last = (ctx, named)
        if not stats.weights:
            return None
        return torch.tensor([stats.weights.get(t, float("nan")) for t in named], dtype=torch.float64)

    def after_step(self, losses: Sequence[torch.Tensor] | Mapping[str, torch.Tensor] | None = None) -> None:
        """Call after `optimizer.step()` for methods that update themselves then (FAMO): `losses`
        are the task losses of the same batches, re-evaluated with the updated parameters."""
        if self._last is None:
            return
        ctx, before = self._last
        if losses is not None:
            after = dict(losses) if isinstance(losses, Mapping) else dict(zip(before, losses))
            ctx.forward = lambda task, batch: after[task]
            ctx.batches = dict.fromkeys(before)
        try:
            self.method.after_step(ctx)
        except RuntimeError as exc:
            raise ValueError(f"{self.method.name}: {exc}; pass the re-evaluated losses to after_step()") from None

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "method": self.method.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state.get("steps", 0))
        self.method.load_state_dict(state.get("method", {}))


def _per_task(
    features: torch.Tensor | Sequence[torch.Tensor] | Mapping[str, torch.Tensor] | None, tasks: list[str]
) -> dict[str, torch.Tensor] | None:
    if features is None:
        return None
    if isinstance(features, torch.Tensor):
        return dict.fromkeys(tasks, features)
    if isinstance(features, Mapping):
        missing = [t for t in tasks if t not in features]
        if missing:
            raise ValueError(f"backward: no features for task(s) {', '.join(missing)}")
        return {t: features[t] for t in tasks}
    features = list(features)
    if len(features) != len(tasks):
        raise ValueError(f"backward: {len(features)} feature tensors for {len(tasks)} losses")
    return dict(zip(tasks, features))


def backward(
    losses: Sequence[torch.Tensor] | Mapping[str, torch.Tensor],
    *,
    shared: Iterable[nn.Parameter] | None = None,
    method: str | Aggregator = "mean",
    task_params: Mapping[str, Sequence[nn.Parameter]] | Sequence[Sequence[nn.Parameter]] | None = None,
    features: torch.Tensor | Sequence[torch.Tensor] | Mapping[str, torch.Tensor] | None = None,
    chunk_size: int | None = None,
    **hyperparameters: Any,
) -> torch.Tensor | None:
    """Combine per-task gradients on `shared` with `method`; returns the task weights (or None).

    The method's state is kept between calls (see the module docstring): the same method,
    hyper-parameters and shared parameters (or features' parameters) reuse one `Backward`.
    `shared` may be left out when `features` are given: the parameters behind them are shared.
    `task_params` (per task) skips the graph walk that otherwise finds each loss's own leaves.
    Tasks may share one forward pass: the graph is kept until the last task; `chunk_size` then
    computes that many rows per batched vector-Jacobian product (see `engine`).
    """
    if shared is not None:
        shared = list(shared)
    else:
        names = list(losses) if isinstance(losses, Mapping) else [str(i) for i in range(len(losses))]
        reps = _per_task(features, names) if features is not None else None
        if not reps:
            raise ValueError("backward: give shared= (the shared parameters) or features=")
        shared = cast(list[nn.Parameter], list({id(p): p for r in reps.values() for p in graph_leaves(r)}.values()))
    key = (
        method if isinstance(method, str) else ("instance", id(method)),
        tuple(sorted((k, repr(v)) for k, v in hyperparameters.items())),
        tuple(id(p) for p in shared),
        chunk_size,
    )
    step = _CACHE.get(key)
    if step is None or step.shared is None or any(a is not b for a, b in zip(step.shared, shared)):
        step = Backward(method, shared=shared, chunk_size=chunk_size, **hyperparameters)
        _CACHE[key] = step
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return step(losses, features=features, task_params=task_params)
