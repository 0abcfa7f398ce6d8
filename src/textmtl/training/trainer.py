"""The training loop. It knows architectures, methods and samplers only through their interfaces."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from ..config import TrainingConfig
from ..data.batching import make_streams
from ..data.sampling import make_sampler
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
    ) -> None:
        self.model, self.method, self.tasks, self.cfg = model, method, dict(tasks), cfg
        self.device = torch.device(cfg.device)
        self.reporter = reporter or Reporter()
        self.on_record = on_record or (lambda record: None)
        self.label = label
        sizes = {t: len(d.train) for t, d in self.tasks.items()}
        self.total_steps, self.steps_per_epoch = plan_steps(cfg, sizes)
        self.eval_every = cfg.eval_every or self.steps_per_epoch
        # [arch] tasks labelling the same inputs (CoNLL-2003) read one shared stream; the others as before
        self.streams = make_streams({t: d.train for t, d in self.tasks.items()}, cfg.batch_size, pad_id, seed,
                                    {t: d.input_group for t, d in self.tasks.items()} if cfg.shared_forward else None)
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

    def _forward_loss(self, task: str, batch) -> torch.Tensor:
        return task_loss(self.model.specs[task].kind, self.model(task, batch).logits, batch.labels)

    def step(self, step: int) -> dict[str, float]:
        """One optimisation step; returns the task losses."""
        self.model.train()
        tasks = self.sampler.sample((step - 1) / max(1, self.total_steps - 1))
        batches = {t: next(self.streams[t]).to(self.device) for t in tasks}
        self.optimizer.zero_grad(set_to_none=True)
        outputs = self.model.forward_batches(batches)  # [arch] one forward pass for tasks sharing inputs
        losses = {t: task_loss(self.model.specs[t].kind, outputs[t].logits, batches[t].labels) for t in tasks}
        # [arch] an architecture's own loss (ASP-MTL: λ L_adv + γ L_diff) is not a task: back-propagated here,
        # before the method, which accumulates its gradients on top (the graph is kept for the method)
        aux = self.model.auxiliary_loss(outputs, batches)
        if aux is not None:
            aux.backward(retain_graph=True)
        record = step % self.eval_every == 0 or step == self.total_steps
        ctx = StepContext(self.model, step, self.total_steps, batches, outputs, self._forward_loss, record)
        self.last_stats = self.method.backward(losses, ctx)
        if self.cfg.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.method.after_step(ctx)
        return {t: float(l.detach()) for t, l in losses.items()}

    def fit(self) -> FitResult:
        start = time.perf_counter()
        best, best_step, best_state, bad_evals = -math.inf, 0, None, 0
        running: dict[str, float] = {}
        history: list[dict] = []
        self.reporter.start(self.total_steps, self.label)
        try:
            for step in range(1, self.total_steps + 1):
                for t, v in self.step(step).items():
                    running[t] = v if t not in running else 0.9 * running[t] + 0.1 * v
                self.reporter.update(step, running)
                if step % self.eval_every and step != self.total_steps:
                    continue
                dev = self.dev_evaluator(self.model)
                average = task_average(dev, self.model.specs)
                improved = average > best
                if improved:
                    best, best_step, bad_evals = average, step, 0
                    best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                else:
                    bad_evals += 1
                record = {
                    "job": self.label, "step": step, "epoch": step / self.steps_per_epoch,
                    "lr": self.scheduler.get_last_lr()[0], "train_loss": dict(running),
                    "dev": dev, "dev_average": average, "best_dev_average": best,
                    "weights": self.last_stats.weights, **self.last_stats.extra,
                    **self.model.evaluation_record(self.dev_evaluator.batches),  # [arch] e.g. task communication
                    "elapsed_seconds": time.perf_counter() - start,
                }
                history.append(record)
                self.on_record(record)
                self.reporter.evaluated(step, average, best)
                if self.cfg.patience is not None and bad_evals >= self.cfg.patience:
                    self.reporter.message(f"early stop at step {step}: no dev improvement in {bad_evals} evaluations")
                    break
        finally:
            self.reporter.finish()
        if best_state is not None:
            self.model.load_state_dict(best_state)
        return FitResult(best_step, best, step, time.perf_counter() - start, history)
