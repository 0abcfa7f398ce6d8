"""The training loop. It knows architectures, methods and samplers only through their interfaces."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..config import TrainingConfig
from ..data.batching import BatchStream, make_streams
from ..data.sampling import sampler_from_config
from ..errors import TrainingError
from ..gradients.parts import StepSync, batch_parts, loss_view, zero_loss
from ..methods import Method, StepContext, StepStats
from ..models.architectures import Architecture
from ..models.heads import task_loss
from .devices import resolve_device
from .evaluation import EncodedTask, Evaluator, task_average
from .precision import LossScale, autocast
from .progress import Reporter


@dataclass
class FitResult:
    best_step: int
    best_dev_average: float
    steps: int
    wall_seconds: float
    history: list[dict] = field(default_factory=list)
    skipped_steps: dict[str, int] = field(default_factory=dict)  # non-finite steps skipped, per task


@dataclass
class FitState:
    """Where a `Trainer.fit` stands after `step` steps: everything but the trainer's own objects."""

    step: int = 0
    best: float = -math.inf
    best_step: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    bad_evals: int = 0
    running: dict[str, float] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    elapsed: float = 0.0
    stopped: bool = False  # early stopping triggered


def plan_steps(cfg: TrainingConfig, train_sizes: Mapping[str, int]) -> tuple[int, int]:
    """(total steps, steps per epoch). An epoch is as many examples as the training sets hold."""
    per_step = (
        len(train_sizes) if cfg.sampling.strategy == "all" else min(cfg.sampling.tasks_per_step, len(train_sizes))
    )
    steps_per_epoch = max(1, math.ceil(sum(train_sizes.values()) / (cfg.batch_size * per_step)))
    total = cfg.steps if cfg.steps is not None else max(1, round((cfg.epochs or 1) * steps_per_epoch))
    return total, steps_per_epoch


def make_optimizer(cfg: TrainingConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=0.9)


def make_scheduler(
    cfg: TrainingConfig, optimizer: torch.optim.Optimizer, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = int(cfg.warmup_ratio * total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.scheduler == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return (
            max(0.0, 1 - progress) if cfg.scheduler == "linear" else 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        )

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Trainer:
    """Runs the step loop, evaluates on dev every `eval_every` steps, keeps the best dev state."""

    def __init__(
        self,
        model: Architecture,
        method: Method,
        tasks: Mapping[str, EncodedTask],
        cfg: TrainingConfig,
        *,
        seed: int,
        pad_id: int,
        reporter: Reporter | None = None,
        on_record: Callable[[dict], None] | None = None,
        label: str = "train",
        checkpoint: Callable[[Trainer, FitState], None] | None = None,
        sync: StepSync | None = None,
        on_step: Callable[[dict], None] | None = None,
        log_every: int = 0,
    ) -> None:
        self.model, self.method, self.tasks, self.cfg = model, method, dict(tasks), cfg
        self.on_step = on_step  # every `log_every` steps: {"job", "step", "lr", "train_loss"} (tracking)
        self.log_every = log_every
        self.device = torch.device(resolve_device(cfg.device))
        # a model built on the CPU trains on `cfg.device` (run_training moves it before; a Trainer built
        # directly, as in benchmarks/gpu_check.py, did not, and its first CUDA step failed)
        self.model.to(self.device)
        self.reporter = reporter or Reporter()
        self.on_record = on_record or (lambda record: None)
        self.label = label
        sizes = {t: len(d.train) for t, d in self.tasks.items()}
        self.total_steps, self.steps_per_epoch = plan_steps(cfg, sizes)
        self.eval_every = cfg.eval_every or self.steps_per_epoch
        # the tasks whose dev average selects the checkpoint (training.select_on; default all)
        self.select_on = [t for t in cfg.select_on or () if t in self.tasks] or list(self.tasks)
        # [arch] tasks labelling the same inputs (CoNLL-2003) read one shared stream; the others as before
        self.streams = make_streams(
            {t: d.train for t, d in self.tasks.items()},
            cfg.batch_size,
            pad_id,
            seed,
            {t: d.input_group for t, d in self.tasks.items()} if cfg.shared_forward else None,
        )
        # unlabelled text (data.unlabelled) for an architecture that reads it: one stream per task,
        # seeded apart from the labelled streams; a batch of it per sampled task and step
        self.unlabelled_streams = {
            t: BatchStream(d.unlabelled, cfg.batch_size, pad_id, seed=seed * 1000 + 500 + i)
            for i, (t, d) in enumerate(self.tasks.items())
            if model.uses_unlabelled and d.unlabelled is not None
        }
        self.sampler = sampler_from_config(cfg.sampling, sizes, seed)
        self.dev_evaluator = Evaluator(self.tasks, "dev", cfg.eval_batch_size, pad_id, self.device, sync)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(cfg, params)
        self.scheduler = make_scheduler(cfg, self.optimizer, self.total_steps)
        self.params = params
        self.last_stats = StepStats()
        self.checkpoint = checkpoint  # called when a checkpoint is due (`training.checkpoint_every`)
        self.skipped_steps: dict[str, int] = {}  # steps skipped for non-finite values, per task
        self.consecutive_skips = 0  # skipped steps in a row
        self.skip_streak: dict[str, int] = {}  # per task, over those steps
        self.sync = sync or StepSync()
        self.accumulation = cfg.accumulation_steps
        self.precision = cfg.precision
        self.loss_scale = LossScale() if cfg.precision == "fp16" else None
        method.check_step_setup(world=self.sync.world, accumulation=self.accumulation, precision=self.precision)

    def step(self, step: int) -> dict[str, float]:
        """One optimisation step; returns the finite task losses (of the whole step, over all
        processes). A non-finite step is skipped (`_guard`; fp16 overflows: `_overflow`)."""
        self.model.train()
        tasks = self.sampler.sample(self._progress(step))
        batches = {t: next(self.streams[t]).to(self.device) for t in tasks}
        unlabelled = {
            t: next(self.unlabelled_streams[t]).to(self.device) for t in tasks if t in self.unlabelled_streams
        }
        self.optimizer.zero_grad(set_to_none=True)
        record = step % self.eval_every == 0 or step == self.total_steps
        method_state = self.method.state_dict()  # restored if the step is skipped
        stats, losses, ctx = self._backward(step, batches, unlabelled, record)
        if self.loss_scale is not None and self._overflow(losses, method_state):
            return {t: float(v) for t, v in losses.items()}
        skipped, values = self._guard(losses, method_state)
        if skipped:
            return values
        self.last_stats = stats
        if self.cfg.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.method.after_step(ctx)
        self.sampler.observe(values)  # schedulers react to the step's losses (the same on every process)
        return values

    def _progress(self, step: int) -> float:
        """Where `step` lies in training, in [0, 1] (what the samplers read)."""
        return (step - 1) / max(1, self.total_steps - 1)

    def _backward(
        self, step: int, batches: dict, unlabelled: dict, record: bool
    ) -> tuple[StepStats, dict[str, torch.Tensor], StepContext]:
        """This process's share of the step, in `accumulation_steps` parts (`gradients.parts`): the
        method sees each part's losses as loss views and leaves the whole step's unscaled gradient
        in `.grad`; returns its stats, the whole step's loss values and the context. A single
        process without accumulation or loss scale is the case of one part (the whole batch, whose
        loss view is the loss itself)."""
        sync, tasks = self.sync, list(batches)
        sync.grad_scale = self.loss_scale.scale if self.loss_scale is not None else 1.0
        kinds = {t: self.model.specs[t].kind for t in tasks}
        parts = {t: batch_parts(batches[t], kinds[t], sync.rank, sync.world, self.accumulation) for t in tasks}
        unlabelled_parts = {
            t: batch_parts(b, kinds[t], sync.rank, sync.world, self.accumulation) for t, b in unlabelled.items()
        }
        one_part = sync.world == 1 and self.accumulation == 1 and sync.grad_scale == 1.0
        ctx = StepContext(
            self.model, step, self.total_steps, batches, {}, self._forward, record, sync=sync, parts=self.accumulation
        )
        known: torch.Tensor | None = None
        if self.accumulation > 1 and self.method.uses_loss_values:
            # the method weighs every micro-batch with the whole step's loss values: a no-grad pass
            # first, replaying the same dropout masks afterwards
            cuda = [self.device.index or 0] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda), torch.no_grad():  # RNG states restored on exit
                known = self._local_values(parts, tasks)
            sync.all_reduce_(known)
            ctx.global_losses = known.float()
        local = torch.zeros(len(tasks), dtype=torch.float64, device=self.device)
        aux_share = sync.grad_scale / (self.accumulation * sync.world)

        def views():
            nonlocal known
            for m in range(self.accumulation):
                present = {t: parts[t][m][0] for t in tasks if parts[t][m][0] is not None}
                with autocast(self.device, self.precision):
                    outputs = self.model.forward_batches(present)  # one forward pass for tasks sharing inputs
                    losses = {t: task_loss(kinds[t], outputs[t].logits, b.labels) for t, b in present.items()}
                    extra = {t: p[m][0] for t, p in unlabelled_parts.items() if t in present and p[m][0] is not None}
                    # an architecture's own loss (ASP-MTL: λ L_adv + γ L_diff) is not a task: a method
                    # whose gradient is one backward pass adds it to that pass (`fuses_auxiliary`); otherwise
                    # it is back-propagated here, before the method, whose gradients accumulate on top
                    aux = self.model.auxiliary_loss(outputs, present, extra or None) if present else None
                if aux is not None:  # over several parts: the mean of the parts' (an approximation)
                    aux = aux if aux_share == 1.0 else aux * aux_share
                    if self.method.fuses_auxiliary:
                        ctx.auxiliary = aux
                    else:
                        aux.backward(retain_graph=True)
                for i, t in enumerate(tasks):
                    if t in losses:
                        local[i] += parts[t][m][1] * losses[t].detach().double()
                if known is None and self.accumulation == 1:
                    known = sync.all_reduce_(local.clone())
                    ctx.global_losses = known.float()
                ctx.outputs = outputs
                if one_part:
                    yield losses
                    continue
                values = known if known is not None else local  # placeholders: the method ignores them
                yield {
                    t: loss_view(
                        losses[t] if t in losses else zero_loss(self.model.task_parameters(t)),
                        values[i],
                        parts[t][m][1] * sync.grad_scale,
                    )
                    for i, t in enumerate(tasks)
                }
            if known is None:
                known = sync.all_reduce_(local.clone())
                ctx.global_losses = known.float()

        stats = self.method.backward_parts(views(), ctx)
        self._reduce_and_unscale()
        assert ctx.global_losses is not None
        return stats, dict(zip(tasks, ctx.global_losses.unbind())), ctx

    def _overflow(self, losses: Mapping[str, torch.Tensor], method_state: dict[str, Any]) -> bool:
        """fp16: finite losses but non-finite gradients are a loss-scale overflow, not a numerical
        fault: skip the step (uncounted), restore the method state and halve the scale. At the
        smallest scale the step goes to `_guard` like any other non-finite step."""
        finite_grads = torch.stack([torch.isfinite(p.grad).all() for p in self.params if p.grad is not None]).all()
        finite_losses = torch.isfinite(torch.stack(list(losses.values()))).all()
        grads_ok, losses_ok = torch.stack([finite_grads, finite_losses]).tolist()
        scale = self.loss_scale
        assert scale is not None  # fp16 only
        if grads_ok or not losses_ok or scale.scale <= scale.minimum:
            if grads_ok:
                scale.update(False)
            return False
        scale.update(True)
        self.method.load_state_dict(method_state)
        self.optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():  # the schedule follows the step counter, stepped or not
            warnings.simplefilter("ignore", UserWarning)
            self.scheduler.step()
        return True

    def _local_values(self, parts: dict, tasks: list[str]) -> torch.Tensor:
        """Σ_m c_m ℓ_m per task over this process's parts (no graph)."""
        out = torch.zeros(len(tasks), dtype=torch.float64, device=self.device)
        with autocast(self.device, self.precision):
            for i, t in enumerate(tasks):
                for part, share in parts[t]:
                    if part is not None:
                        out[i] += (
                            share
                            * task_loss(self.model.specs[t].kind, self.model(t, part).logits, part.labels).double()
                        )
        return out

    def _forward(self, task: str, batch) -> torch.Tensor:
        """`ctx.forward`: the loss of the whole global batch of `task` (summed over processes)."""
        parts = {
            task: batch_parts(batch, self.model.specs[task].kind, self.sync.rank, self.sync.world, self.accumulation)
        }
        return self.sync.all_reduce_(self._local_values(parts, [task]))[0].float()

    def _reduce_and_unscale(self) -> None:
        """Sum over processes the `.grad` no method has synchronised, and remove the loss scale."""
        sync = self.sync
        if sync.world > 1:
            # the same parameter set on every process (a task's head may lack a gradient on one of them)
            has = torch.tensor([p.grad is not None for p in self.params], dtype=torch.int32)
            sync.all_reduce_(has)
            sync.reduce_grads_(p for p, h in zip(self.params, has.tolist()) if h)
        if sync.grad_scale != 1.0:
            for p in self.params:
                if p.grad is not None:
                    p.grad.div_(sync.grad_scale)

    def _guard(self, losses: Mapping[str, torch.Tensor], method_state: dict[str, Any]) -> tuple[bool, dict[str, float]]:
        """Numerical guard, after `method.backward`: (skipped?, finite loss values).

        A non-finite task loss or gradient skips the step: gradients are dropped, the method's
        state is restored, the optimiser does not step, the LR schedule still advances (it stays
        in line with the step counter) and `after_step` is not called. The skip is counted for the
        tasks whose loss was non-finite; else for the tasks whose own parameters got a non-finite
        gradient; else (only shared gradients) for every task of the step. One host sync per step.
        """
        vec = torch.stack([loss.detach().reshape(()).to(torch.float64) for loss in losses.values()])
        ok = torch.isfinite(vec).all()
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads:
            ok = ok & torch.stack([torch.isfinite(g).all() for g in grads]).all()
        *flat, flag = torch.cat([vec, ok.to(vec.dtype).reshape(1)]).tolist()
        values = dict(zip(losses, flat))
        if flag == 1.0:
            self.consecutive_skips = 0
            self.skip_streak.clear()
            return False, values
        blame = (
            [t for t, v in values.items() if not math.isfinite(v)]
            or [
                t
                for t in losses
                if any(
                    p.grad is not None and not bool(torch.isfinite(p.grad).all()) for p in self.model.task_parameters(t)
                )
            ]
            or list(losses)
        )
        self.method.load_state_dict(method_state)
        self.optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():  # "lr_scheduler.step() before optimizer.step()" when step 1 is skipped
            warnings.simplefilter("ignore", UserWarning)
            self.scheduler.step()
        for t in blame:
            self.skipped_steps[t] = self.skipped_steps.get(t, 0) + 1
            self.skip_streak[t] = self.skip_streak.get(t, 0) + 1
        self.consecutive_skips += 1
        limit = self.cfg.max_consecutive_skips
        if limit is not None and self.consecutive_skips >= limit:
            culprits = ", ".join(f"{t} ({n})" for t, n in sorted(self.skip_streak.items(), key=lambda x: -x[1]))
            raise TrainingError(
                f"{self.label}: {limit} consecutive steps skipped for a non-finite loss or gradient "
                f"of task {culprits} (training.max_consecutive_skips; lower training.lr or set "
                f"training.clip_norm?)"
            )
        return True, {t: v for t, v in values.items() if math.isfinite(v)}

    def _checkpoint_due(self, step: int, evaluated: bool) -> bool:
        every = self.cfg.checkpoint_every
        return self.checkpoint is not None and (evaluated if every is None else every > 0 and step % every == 0)

    def fit(self, state: FitState | None = None) -> FitResult:
        """Train to the last step (or an early stop); `state` continues an interrupted fit."""
        s = state or FitState()
        start = time.perf_counter() - s.elapsed
        self.reporter.start(self.total_steps, self.label)
        try:
            while not s.stopped and s.step < self.total_steps:
                step = s.step + 1
                for t, v in self.step(step).items():
                    s.running[t] = v if t not in s.running else 0.9 * s.running[t] + 0.1 * v
                s.step = step
                self.reporter.update(step, s.running)
                if self.on_step is not None and self.log_every and step % self.log_every == 0:
                    lr = self.scheduler.get_last_lr()[0]
                    self.on_step({"job": self.label, "step": step, "lr": lr, "train_loss": dict(s.running)})
                evaluated = step % self.eval_every == 0 or step == self.total_steps
                if evaluated:
                    self._evaluate(s, start)
                if self._checkpoint_due(step, evaluated):
                    s.elapsed = time.perf_counter() - start
                    self.checkpoint(self, s)  # type: ignore[misc]
        finally:
            self.reporter.finish()
        if s.best_state is not None:  # a frozen backbone is not in it (it never moved)
            self.model.load_state_dict(s.best_state, strict=not self.model.frozen_state_keys())
        return FitResult(s.best_step, s.best, s.step, time.perf_counter() - start, s.history, dict(self.skipped_steps))

    def _evaluate(self, s: FitState, start: float) -> None:
        """Dev evaluation at step `s.step`: best state, history record, early stopping."""
        step = s.step
        dev = self.dev_evaluator(self.model)
        average = task_average(dev, self.model.specs)
        subset = len(self.select_on) < len(self.tasks)
        score = task_average({t: dev[t] for t in self.select_on}, self.model.specs) if subset else average
        if dev:
            self.sampler.observe_evaluation({t: float(m[self.model.specs[t].main_metric]) for t, m in dev.items()})
        if not dev:  # no dev split (dev_size: 0 on every task): no selection, the last step is kept
            s.best_step, s.best_state = step, None
            average = score = None  # type: ignore[assignment]
        elif score > s.best:
            s.best, s.best_step, s.bad_evals = score, step, 0
            frozen = self.model.frozen_state_keys()
            s.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items() if k not in frozen}
        else:
            s.bad_evals += 1
        record = {
            "job": self.label,
            "step": step,
            "epoch": step / self.steps_per_epoch,
            "lr": self.scheduler.get_last_lr()[0],
            "train_loss": dict(s.running),
            "dev": dev,
            "dev_average": average,
            "best_dev_average": s.best if dev else None,  # best of the select_on average
            "weights": self.last_stats.weights,
            **self.last_stats.extra,
            **self.model.evaluation_record(self.dev_evaluator.batches),  # e.g. task communication matrices
            **({"select_on": list(self.select_on), "select_average": score} if subset else {}),
            "skipped_steps": dict(self.skipped_steps),
            **(
                {"task_probabilities": dict(zip(self.sampler.tasks, self.sampler.probabilities(self._progress(step))))}
                if self.sampler.draws_subsets
                else {}
            ),
            "elapsed_seconds": time.perf_counter() - start,
        }
        s.history.append(record)
        self.on_record(record)
        if score is not None:
            self.reporter.evaluated(step, score, s.best)
        if self.cfg.patience is not None and s.bad_evals >= self.cfg.patience:
            self.reporter.message(f"early stop at step {step}: no dev improvement in {s.bad_evals} evaluations")
            s.stopped = True
