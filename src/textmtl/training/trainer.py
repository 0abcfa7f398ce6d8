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
from ..data.batching import BatchStream
from ..data.sampling import make_sampler
from ..errors import TrainingError
from ..methods import Method, StepContext, StepStats
from ..models.architectures import Architecture
from ..models.heads import task_loss
from .evaluation import EncodedTask, Evaluator, task_average
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
    per_step = len(train_sizes) if cfg.sampling.strategy == "all" else min(cfg.sampling.tasks_per_step, len(train_sizes))
    steps_per_epoch = max(1, math.ceil(sum(train_sizes.values()) / (cfg.batch_size * per_step)))
    total = cfg.steps if cfg.steps is not None else max(1, round((cfg.epochs or 1) * steps_per_epoch))
    return total, steps_per_epoch


def make_optimizer(cfg: TrainingConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=0.9)


def make_scheduler(cfg: TrainingConfig, optimizer: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = int(cfg.warmup_ratio * total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.scheduler == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return max(0.0, 1 - progress) if cfg.scheduler == "linear" else 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

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
    ) -> None:
        self.model, self.method, self.tasks, self.cfg = model, method, dict(tasks), cfg
        self.device = torch.device(cfg.device)
        self.reporter = reporter or Reporter()
        self.on_record = on_record or (lambda record: None)
        self.label = label
        sizes = {t: len(d.train) for t, d in self.tasks.items()}
        self.total_steps, self.steps_per_epoch = plan_steps(cfg, sizes)
        self.eval_every = cfg.eval_every or self.steps_per_epoch
        self.streams = {
            t: BatchStream(d.train, cfg.batch_size, pad_id, seed=seed * 1000 + i)
            for i, (t, d) in enumerate(self.tasks.items())
        }
        opts = {"temperature": cfg.sampling.temperature} if cfg.sampling.strategy == "temperature" else {}
        if cfg.sampling.strategy == "annealed":
            opts = {"final_exponent": cfg.sampling.final_exponent}
        self.sampler = make_sampler(cfg.sampling.strategy, sizes, seed, cfg.sampling.tasks_per_step, **opts)
        self.dev_evaluator = Evaluator(self.tasks, "dev", cfg.eval_batch_size, pad_id, self.device)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(cfg, params)
        self.scheduler = make_scheduler(cfg, self.optimizer, self.total_steps)
        self.params = params
        self.last_stats = StepStats()
        self.checkpoint = checkpoint  # called when a checkpoint is due (`training.checkpoint_every`)
        self.skipped_steps: dict[str, int] = {}  # steps skipped for non-finite values, per task
        self.consecutive_skips = 0  # skipped steps in a row
        self.skip_streak: dict[str, int] = {}  # per task, over those steps

    def _forward_loss(self, task: str, batch) -> torch.Tensor:
        return task_loss(self.model.specs[task].kind, self.model(task, batch).logits, batch.labels)

    def step(self, step: int) -> dict[str, float]:
        """One optimisation step; returns the finite task losses. A non-finite step is skipped (`_guard`)."""
        self.model.train()
        tasks = self.sampler.sample((step - 1) / max(1, self.total_steps - 1))
        batches = {t: next(self.streams[t]).to(self.device) for t in tasks}
        self.optimizer.zero_grad(set_to_none=True)
        outputs = {t: self.model(t, b) for t, b in batches.items()}
        losses = {t: task_loss(self.model.specs[t].kind, outputs[t].logits, batches[t].labels) for t in tasks}
        record = step % self.eval_every == 0 or step == self.total_steps
        ctx = StepContext(self.model, step, self.total_steps, batches, outputs, self._forward_loss, record)
        method_state = self.method.state_dict()  # restored if the step is skipped
        stats = self.method.backward(losses, ctx)
        skipped, values = self._guard(losses, method_state)
        if skipped:
            return values
        self.last_stats = stats
        if self.cfg.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.method.after_step(ctx)
        return values

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
        blame = [t for t, v in values.items() if not math.isfinite(v)] or [
            t for t in losses
            if any(p.grad is not None and not bool(torch.isfinite(p.grad).all()) for p in self.model.task_parameters(t))
        ] or list(losses)
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
            raise TrainingError(f"{self.label}: {limit} consecutive steps skipped for a non-finite loss or gradient "
                                f"of task {culprits} (training.max_consecutive_skips; lower training.lr or set "
                                f"training.clip_norm?)")
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
                evaluated = step % self.eval_every == 0 or step == self.total_steps
                if evaluated:
                    self._evaluate(s, start)
                if self._checkpoint_due(step, evaluated):
                    s.elapsed = time.perf_counter() - start
                    self.checkpoint(self, s)  # type: ignore[misc]
        finally:
            self.reporter.finish()
        if s.best_state is not None:
            self.model.load_state_dict(s.best_state)
        return FitResult(s.best_step, s.best, s.step, time.perf_counter() - start, s.history, dict(self.skipped_steps))

    def _evaluate(self, s: FitState, start: float) -> None:
        """Dev evaluation at step `s.step`: best state, history record, early stopping."""
        step = s.step
        dev = self.dev_evaluator(self.model)
        average = task_average(dev, self.model.specs)
        if average > s.best:
            s.best, s.best_step, s.bad_evals = average, step, 0
            s.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            s.bad_evals += 1
        record = {
            "job": self.label, "step": step, "epoch": step / self.steps_per_epoch,
            "lr": self.scheduler.get_last_lr()[0], "train_loss": dict(s.running),
            "dev": dev, "dev_average": average, "best_dev_average": s.best,
            "weights": self.last_stats.weights, **self.last_stats.extra,
            "skipped_steps": dict(self.skipped_steps),
            "elapsed_seconds": time.perf_counter() - start,
        }
        s.history.append(record)
        self.on_record(record)
        self.reporter.evaluated(step, average, s.best)
        if self.cfg.patience is not None and s.bad_evals >= self.cfg.patience:
            self.reporter.message(f"early stop at step {step}: no dev improvement in {s.bad_evals} evaluations")
            s.stopped = True
