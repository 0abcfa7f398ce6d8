"""Time per training step of every textmtl method, as a ratio to linear scalarisation (ls).

A step is what `Trainer.step` does: forward of every task, `method.backward(losses, ctx)`,
`optimizer.step()`, `method.after_step(ctx)`. All rows of a scenario train ONE model with ONE
optimizer in ONE process and are timed round-robin (see `_timing.TIMING_METHOD`), so the
ratios to ls are measured under the same machine load.

Scenarios
- (a) disjoint inputs, K=16 tasks, each task its own random batch (multi-domain training):
  `disjoint_textcnn` (TextCNN 3/5/7 x 100 filters, embedding 50, vocab 50k, 16 x 150 tokens per
  task) and `disjoint_minilm` (random-weight MiniLM-sized BERT: 6 layers, hidden 384, 12 heads,
  4 x 64 tokens per task).
- (b) `shared`: one batch read by K heads on the same pooled representation, K in {2, 4, 8, 16},
  small 2-layer transformer. The `parameters` rows go through `textmtl.backward` (it keeps the
  shared graph until the last task); the other rows through the method adapter.
- `solver`: the aggregator call alone on a precomputed K=16 Jacobian of the TextCNN encoder.
- `minilm_parameters` (only when asked for): the MiniLM scenario of (a) with ls, a repeated ls and
  the `parameters` rows only, cheap enough for 7+ rounds on a CPU.
- `lora` (issue 19, only when asked for): the MiniLM-sized encoder of (a), frozen, with a shared and
  a per-task LoRA (`modular`), K=16 disjoint inputs; ls, a repeated ls row and every
  `parameters`-back-end method.

Rows: every method of `describe_methods()` except `stl` (back-end `parameters` when available,
else its own), a `representation` row for every Gram-weighted aggregator, and references:
`ref_sequential_backward` (K x `loss_k.backward(retain_graph=True)` + flatten `.grad`, combined
by the mean; LibMTL/CAGrad style) and `ref_torchjd_mean` / `ref_torchjd_upgrad`
(`torchjd.autojac.mtl_backward(losses, features=representations)` + `jac_to_grad`).

Run on a quiet machine (other processes on the cores distort the times; a warning is printed):
    .venv/bin/python benchmarks/step_overhead.py          # all scenarios -> benchmarks/results/step_overhead.json
    .venv/bin/python benchmarks/step_overhead.py --scenarios textcnn,shared,solver --out ...   # a subset
    .venv/bin/python benchmarks/step_overhead.py --quick --out /tmp/so.json   # smoke test, tiny sizes, < 1 minute
The full run is long (estimated, not measured: most of it is `minilm`, about 40 rows x 9 steps of a
64-sequence MiniLM step, and its torchjd row costs about K backward passes of all K tasks). The JSON
is rewritten after every scenario (`settings.complete` tells whether the run finished).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

if __name__ == "__main__" and "--quick" in sys.argv[1:]:
    # A smoke test must survive a busy machine: with the cores taken by other processes, OpenMP
    # workers that spin-wait make every tiny parallel region wait for a time slice (~100x slower).
    # Read by libgomp when torch is imported, hence here. Full runs keep the OpenMP default
    # unless the caller sets OMP_WAIT_POLICY; the JSON records the value.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from _timing import (
    MEMORY_METHOD,
    TIMING_METHOD,
    TimedRow,
    fmt,
    machine_info,
    measure_memory,
    median_ms,
    run_interleaved,
    summarize_rows,
)

from textmtl.aggregation import AGGREGATORS, GramianWeightedAggregator, make_aggregator
from textmtl.config import TrainingConfig
from textmtl.data.batching import Batch
from textmtl.data.tasks import TaskKind, TaskSpec
from textmtl.gradients import ParameterSpace, shared_jacobian
from textmtl.gradients import backward as textmtl_backward
from textmtl.methods import METHODS, Method, StepContext, describe_methods, make_method
from textmtl.models.architectures import Architecture, HardSharing, TaskOutput
from textmtl.models.encoders import Encoder, PretrainedTransformer, TextCNN
from textmtl.models.heads import task_loss
from textmtl.data.batching import EncodedSplit
from textmtl.data.tasks import Example
from textmtl.data.text_encoders import EncodedText
from textmtl.data.batching import EncodedTask
from textmtl.training.trainer import Trainer, make_optimizer

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "step_overhead.json"
SCENARIOS = ("textcnn", "shared", "solver", "minilm", "trainer", "lora", "minilm_parameters")
DEFAULT_SCENARIOS = ("textcnn", "shared", "solver", "minilm")  # `trainer` only when asked for
LS = "ls[loss]"  # label of the baseline row
PARAM_TARGET, REPR_TARGET, SOLVER_TARGET_MS = 1.25, 1.5, 10.0
LORA_TIME_TARGET, LORA_MEMORY_TARGET = 1.05, 1.1  # issue 19: per-task LoRA on a frozen backbone
SOLVER_TARGET_METHODS = ("getmtl", "nash_mtl", "cagrad")
KIND = TaskKind.CLASSIFICATION


# --------------------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class TextCNNSize:
    vocab: int
    embedding_dim: int
    num_filters: int
    batch: int
    length: int
    kernel_sizes: tuple[int, ...] = (3, 5, 7)


@dataclass(frozen=True)
class TransformerSize:
    hf_config: dict
    batch: int
    length: int


@dataclass(frozen=True)
class Sizes:
    """Everything that differs between the full run and `--quick`."""

    k: int  # tasks of the disjoint scenarios and of the solver Jacobian
    shared_ks: tuple[int, ...]
    textcnn: TextCNNSize
    minilm: TransformerSize
    shared: TransformerSize


def _bert(vocab: int, hidden: int, layers: int, heads: int, intermediate: int, positions: int) -> dict:
    return {"model_type": "bert", "vocab_size": vocab, "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": heads, "intermediate_size": intermediate, "max_position_embeddings": positions,
            "type_vocab_size": 2, "hidden_act": "gelu"}


FULL = Sizes(
    k=16,
    shared_ks=(2, 4, 8, 16),
    textcnn=TextCNNSize(vocab=50_000, embedding_dim=50, num_filters=100, batch=16, length=150),  # P = 2.58M
    # all-MiniLM-L6-v2 geometry, P = 22.7M (random weights, nothing is downloaded)
    minilm=TransformerSize(_bert(30522, 384, 6, 12, 1536, 512), batch=4, length=64),
    # the 2-layer d=128 transformer of anchors.md §2.4 (vocab 4000: P = 0.93M here, 0.91M there)
    shared=TransformerSize(_bert(4000, 128, 2, 4, 512, 64), batch=16, length=32),
)
QUICK = Sizes(
    k=4,
    shared_ks=(2, 4),
    textcnn=TextCNNSize(vocab=2000, embedding_dim=16, num_filters=16, batch=4, length=24),
    minilm=TransformerSize(_bert(1000, 64, 2, 4, 128, 32), batch=2, length=16),
    shared=TransformerSize(_bert(500, 32, 2, 2, 64, 32), batch=4, length=12),
)


# ----------------------------------------------------------------------------- the step bench


def task_names(k: int) -> list[str]:
    return [f"task{i:02d}" for i in range(k)]


def random_batch(gen: torch.Generator, vocab: int, batch: int, length: int, labels: int = 2) -> Batch:
    """Random token ids (no padding) and random binary labels."""
    ids = torch.randint(1, vocab, (batch, length), generator=gen)
    return Batch(ids, torch.ones(batch, length, dtype=torch.bool), torch.randint(0, labels, (batch,), generator=gen))


def build_model(encoder: Encoder, k: int) -> HardSharing:
    specs = [TaskSpec(t, KIND, ("neg", "pos")) for t in task_names(k)]
    return HardSharing(specs, encoder)


@dataclass
class Bench:
    """One model, its optimizer and fixed batches; `forward()` gives (outputs, losses) of a step.

    `shared_input=False`: every task runs the model on its own batch (as `Trainer.step`).
    `shared_input=True`: the encoder runs once on one batch and every head reads its pooled output.
    """

    model: Architecture
    batches: dict[str, Batch]
    optimizer: torch.optim.Optimizer
    shared_input: bool = False
    total_steps: int = 1000

    @property
    def tasks(self) -> list[str]:
        return list(self.batches)

    def forward(self) -> tuple[dict[str, TaskOutput], dict[str, torch.Tensor]]:
        if self.shared_input:
            first = next(iter(self.batches.values()))
            rep = self.model.encoder(first).pooled
            outputs = {t: TaskOutput(self.model.heads[t](rep), rep) for t in self.tasks}
        else:
            outputs = {t: self.model(t, b) for t, b in self.batches.items()}
        losses = {t: task_loss(KIND, outputs[t].logits, self.batches[t].labels) for t in self.tasks}
        return outputs, losses

    def forward_loss(self, task: str, batch: Batch) -> torch.Tensor:
        """`StepContext.forward`: what re-evaluating methods (FAMO-like) call after the step."""
        return task_loss(KIND, self.model(task, batch).logits, batch.labels)

    def shared_params(self) -> list[torch.nn.Parameter]:
        return self.model.shared_parameters()

    def head_params(self) -> list[list[torch.nn.Parameter]]:
        return [self.model.task_parameters(t) for t in self.tasks]


def make_bench(encoder: Encoder, k: int, batches: dict[str, Batch], *, transformer: bool,
               shared_input: bool = False, model: Architecture | None = None) -> Bench:
    model = model if model is not None else build_model(encoder, k)
    model.train()
    cfg = TrainingConfig(optimizer="adamw", lr=2e-5) if transformer else TrainingConfig(optimizer="adam", lr=1e-3)
    optimizer = make_optimizer(cfg, [p for p in model.parameters() if p.requires_grad])
    return Bench(model, batches, optimizer, shared_input)


# ------------------------------------------------------------------------------- row builders


@dataclass(frozen=True)
class RowSpec:
    method: str
    backend: str

    @property
    def label(self) -> str:
        return f"{self.method}[{self.backend}]"


def planned_method_rows() -> list[RowSpec]:
    """ls first, then every other method (except stl) on its main back-end, then `representation`
    rows for the Gram-weighted aggregators."""
    described = describe_methods()
    main, representation = [], []
    for name, info in described.items():
        cls = METHODS.get(name)
        if cls is not None and cls.architecture is not None:  # stl: a shorthand for an architecture
            continue
        backends = info["backends"]
        main.append(RowSpec(name, "parameters" if "parameters" in backends else backends[0]))
        aggregator = AGGREGATORS.get(name)
        if (name not in METHODS and aggregator is not None and issubclass(aggregator, GramianWeightedAggregator)
                and "representation" in backends):
            representation.append(RowSpec(name, "representation"))
    main.sort(key=lambda r: (r.method != "ls", r.method))
    return main + representation


def build_method(spec: RowSpec) -> Method:
    if spec.method in METHODS:
        return make_method(spec.method)
    return make_method(spec.method, {"backend": spec.backend})


def method_step(bench: Bench, method: Method) -> Callable[[], None]:
    """A training step exactly as `Trainer.step` does it (without sampling and LR scheduling)."""
    counter = itertools.count(1)

    def step() -> None:
        n = next(counter)
        bench.optimizer.zero_grad(set_to_none=True)
        outputs, losses = bench.forward()
        ctx = StepContext(bench.model, n, bench.total_steps, bench.batches, outputs, bench.forward_loss, False)
        method.backward(losses, ctx)
        bench.optimizer.step()
        method.after_step(ctx)

    return step


def backward_api_step(bench: Bench, name: str) -> Callable[[], None]:
    """Shared inputs, `parameters` back-end: `textmtl.backward(losses, shared=..., method=aggregator)`."""
    aggregator = make_aggregator(name)
    shared = bench.shared_params()
    heads = dict(zip(bench.tasks, bench.head_params()))

    def step() -> None:
        bench.optimizer.zero_grad(set_to_none=True)
        _, losses = bench.forward()
        textmtl_backward(losses, shared=shared, method=aggregator, task_params=heads)
        bench.optimizer.step()

    return step


def sequential_reference_step(bench: Bench) -> Callable[[], None]:
    """LibMTL/CAGrad style: K x `loss_k.backward(retain_graph=True)`, flatten the shared `.grad`
    into row k and clear it, combine the rows (mean), write `.grad`, step."""
    shared = bench.shared_params()
    space = ParameterSpace(shared)
    mean = make_aggregator("mean")

    def step() -> None:
        bench.optimizer.zero_grad(set_to_none=True)
        _, losses = bench.forward()
        k = len(losses)
        jac = torch.empty(k, space.size)
        for i, loss in enumerate(losses.values()):
            loss.backward(retain_graph=i < k - 1)
            torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in shared],
                      out=jac[i])
            for p in shared:
                p.grad = None
        space.write_grad(mean(jac))
        bench.optimizer.step()

    return step


def torchjd_reference_step(bench: Bench, aggregator_name: str, chunk: int | None) -> Callable[[], None]:
    """`torchjd.autojac.mtl_backward(losses, features=representations)` + `jac_to_grad(shared, agg)`."""
    from torchjd import aggregation as tjd_aggregation
    from torchjd.autojac import jac_to_grad, mtl_backward

    aggregator = getattr(tjd_aggregation, aggregator_name)()
    shared = bench.shared_params()
    heads = bench.head_params()

    def step() -> None:
        bench.optimizer.zero_grad(set_to_none=True)
        outputs, losses = bench.forward()
        features: list[torch.Tensor] = []
        for out in outputs.values():  # distinct representation tensors (one when inputs are shared)
            if not any(out.representation is f for f in features):
                features.append(out.representation)
        mtl_backward(list(losses.values()), features=features, tasks_params=heads, shared_params=shared,
                     parallel_chunk_size=chunk)
        jac_to_grad(shared, aggregator)
        bench.optimizer.step()

    return step


def reference_rows(bench: Bench, chunk: int | None) -> list[TimedRow]:
    """The two external mechanisms, run on the same model, batches and optimizer as the methods.

    torchjd's `UPGrad()` needs its optional quadprog dependency; without it the row is kept with
    an error (the `Mean()` row measures the same mtl_backward mechanism).
    """
    api_seq = "loss_k.backward(retain_graph=True) x K + flatten .grad, mean"
    api_tjd = f"torchjd.autojac.mtl_backward(features=...) + jac_to_grad (parallel_chunk_size={chunk})"
    rows = [TimedRow("ref_sequential_backward", sequential_reference_step(bench),
                     {"method": "ref_sequential_backward", "backend": "parameters", "kind": "reference",
                      "api": api_seq})]
    for name in ("Mean", "UPGrad"):
        label = f"ref_torchjd_{name.lower()}"
        info = {"method": label, "backend": "parameters", "kind": "reference", "api": api_tjd}
        try:
            rows.append(TimedRow(label, torchjd_reference_step(bench, name, chunk), info))
        except ImportError as exc:  # optional dependency of torchjd missing
            rows.append(TimedRow(label, lambda: None, info, error=f"not run: {exc}".splitlines()[0][:200]))
    return rows


def timed_method_rows(bench: Bench, specs: list[RowSpec]) -> list[TimedRow]:
    """One row per method spec; with shared inputs the `parameters` rows use `textmtl.backward`."""
    rows = []
    for spec in specs:
        info = {"method": spec.method, "backend": spec.backend, "kind": "method"}
        if bench.shared_input and spec.backend == "parameters":
            rows.append(TimedRow(spec.label, backward_api_step(bench, spec.method), {**info, "api": "textmtl.backward"}))
        else:
            rows.append(TimedRow(spec.label, method_step(bench, build_method(spec)), {**info, "api": "Method.backward"}))
    return rows


def run_rows(rows: list[TimedRow], rounds: int, log: Callable[[str], None]) -> list[dict]:
    started = time.perf_counter()
    run_interleaved(rows, rounds, warmup=1, progress=log)
    measure_memory(rows, progress=log)
    log(f"  done in {time.perf_counter() - started:.1f} s")
    return summarize_rows(rows, LS)


# ------------------------------------------------------------------- Trainer.step before / after

TRAINER_METHODS = ("ls", "pcgrad", "nash_mtl", "getmtl")


class LegacyStepTrainer(Trainer):
    """`Trainer.step` as it was before the single-process step became the one-part case of the
    split-step path (textmtl f13002a, `trainer.py`, the `else` branch of `step`): the reference
    that `scenario_trainer` times the current step against. Single process, fp32 only."""

    def _forward_loss(self, task: str, batch: Batch) -> torch.Tensor:
        return task_loss(self.model.specs[task].kind, self.model(task, batch).logits, batch.labels)

    def step(self, step: int) -> dict[str, float]:
        self.model.train()
        tasks = self.sampler.sample((step - 1) / max(1, self.total_steps - 1))
        batches = {t: next(self.streams[t]).to(self.device) for t in tasks}
        unlabelled = {t: next(self.unlabelled_streams[t]).to(self.device)
                      for t in tasks if t in self.unlabelled_streams}
        self.optimizer.zero_grad(set_to_none=True)
        record = step % self.eval_every == 0 or step == self.total_steps
        method_state = self.method.state_dict()
        outputs = self.model.forward_batches(batches)
        losses = {t: task_loss(self.model.specs[t].kind, outputs[t].logits, batches[t].labels) for t in tasks}
        aux = self.model.auxiliary_loss(outputs, batches, unlabelled or None)
        ctx = StepContext(self.model, step, self.total_steps, batches, outputs, self._forward_loss, record)
        if aux is not None and self.method.fuses_auxiliary:
            ctx.auxiliary = aux
        elif aux is not None:
            aux.backward(retain_graph=True)
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


def encoded_tasks(size: TextCNNSize, k: int, per_task: int, seed: int) -> dict[str, EncodedTask]:
    """K tasks of `per_task` random texts of `size.length` tokens (no padding), random binary labels."""
    gen = torch.Generator().manual_seed(seed)

    def split(n: int) -> EncodedSplit:
        ids = torch.randint(1, size.vocab, (n, size.length), generator=gen).tolist()
        labels = torch.randint(0, 2, (n,), generator=gen).tolist()
        return EncodedSplit(KIND, [EncodedText(x) for x in ids], [Example("-", y) for y in labels])

    return {t: EncodedTask(TaskSpec(t, KIND, ("neg", "pos")), split(per_task), split(8), split(8))
            for t in task_names(k)}


def trainer_row(label: str, trainer_cls: type[Trainer], method: str, size: TextCNNSize, k: int) -> TimedRow:
    """A row stepping its own Trainer (own model, optimizer and data streams; same seeds in every row)."""
    torch.manual_seed(0)
    tasks = encoded_tasks(size, k, per_task=size.batch * 8, seed=3)
    model = build_model(textcnn_encoder(size), k)
    cfg = TrainingConfig(batch_size=size.batch, steps=1_000_000, eval_every=1_000_000, optimizer="adam", lr=1e-3)
    trainer = trainer_cls(model, make_method(method), tasks, cfg, seed=1, pad_id=0)
    counter = itertools.count(1)
    info = {"method": method, "backend": "parameters" if method != "ls" else "loss", "kind": "trainer",
            "api": f"{trainer_cls.__name__}.step"}
    return TimedRow(label, lambda: trainer.step(next(counter)), info)


def scenario_trainer(sizes: Sizes, rounds: int, chunk: int | None, log: Callable[[str], None]) -> dict:
    """`Trainer.step` (sampling, batching, forward, method, guard, optimizer) against the legacy
    single-process step, for ls, pcgrad, nash_mtl and getmtl on TextCNN, K tasks with disjoint
    inputs. `ls[loss]` and `ls[loss]#2` do identical work: their ratio is the noise floor."""
    del chunk
    size = sizes.textcnn
    rows = [trainer_row("ls[loss]", Trainer, "ls", size, sizes.k),
            trainer_row("ls[loss]#2", Trainer, "ls", size, sizes.k)]
    for m in TRAINER_METHODS:
        if m != "ls":
            rows.append(trainer_row(f"{m}[parameters]", Trainer, m, size, sizes.k))
    for m in TRAINER_METHODS:
        rows.append(trainer_row(f"legacy:{m}[{'loss' if m == 'ls' else 'parameters'}]", LegacyStepTrainer, m, size,
                                sizes.k))
    log(f"trainer: Trainer.step vs the legacy step, TextCNN, K={sizes.k}: {len(rows)} rows x {rounds} rounds")
    summary = run_rows(rows, rounds, log)
    median = {r["api"] + ":" + r["method"] + ("#2" if i == 1 else ""): r["median_ms"] for i, r in enumerate(summary)}
    after_before = {m: _round(median[f"Trainer.step:{m}"] / median[f"LegacyStepTrainer.step:{m}"])
                    for m in TRAINER_METHODS
                    if median.get(f"Trainer.step:{m}") and median.get(f"LegacyStepTrainer.step:{m}")}
    noise = _round(median["Trainer.step:ls#2"] / median["Trainer.step:ls"]) if median.get("Trainer.step:ls") else None
    return {"inputs": "disjoint", "k": sizes.k, "encoder": {"type": "textcnn", **asdict(size)},
            "after_over_before": after_before, "identical_rows_ratio": noise, "rows": summary}


# ---------------------------------------------------------------------------------- scenarios


def textcnn_encoder(size: TextCNNSize) -> TextCNN:
    return TextCNN(size.vocab, size.embedding_dim, size.kernel_sizes, size.num_filters, dropout=0.5)


def encoder_info(encoder: Encoder) -> dict:
    return {"shared_params": sum(p.numel() for p in encoder.parameters() if p.requires_grad),
            "output_dim": encoder.output_dim}


def scenario_disjoint_textcnn(sizes: Sizes, rounds: int, chunk: int | None, log: Callable[[str], None]) -> dict:
    """(a) K tasks with disjoint inputs on TextCNN (the FDU-MTL / GetMTL setting)."""
    size = sizes.textcnn
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    batches = {t: random_batch(gen, size.vocab, size.batch, size.length) for t in task_names(sizes.k)}
    encoder = textcnn_encoder(size)
    bench = make_bench(encoder, sizes.k, batches, transformer=False)
    rows = timed_method_rows(bench, planned_method_rows()) + reference_rows(bench, chunk)
    log(f"(a) disjoint inputs, TextCNN, K={sizes.k}: {len(rows)} rows x {rounds} rounds")
    return {"inputs": "disjoint", "k": sizes.k,
            "encoder": {"type": "textcnn", **asdict(size), **encoder_info(encoder)},
            "batch_per_task": size.batch, "length": size.length, "rows": run_rows(rows, rounds, log)}


def scenario_disjoint_minilm(sizes: Sizes, rounds: int, chunk: int | None, log: Callable[[str], None]) -> dict:
    """(a) K tasks with disjoint inputs on a random-weight MiniLM-sized transformer."""
    size = sizes.minilm
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    batches = {t: random_batch(gen, size.hf_config["vocab_size"], size.batch, size.length) for t in task_names(sizes.k)}
    encoder = PretrainedTransformer.from_config(size.hf_config)
    bench = make_bench(encoder, sizes.k, batches, transformer=True)
    rows = timed_method_rows(bench, planned_method_rows()) + reference_rows(bench, chunk)
    log(f"(a) disjoint inputs, MiniLM-sized transformer, K={sizes.k}: {len(rows)} rows x {rounds} rounds")
    return {"inputs": "disjoint", "k": sizes.k,
            "encoder": {"type": "transformer (random weights)", "hf_config": size.hf_config, **encoder_info(encoder)},
            "batch_per_task": size.batch, "length": size.length, "rows": run_rows(rows, rounds, log)}


def minilm_batches_and_encoder(sizes: Sizes) -> tuple[dict[str, Batch], PretrainedTransformer]:
    """The (a) MiniLM scenario's K random disjoint batches and its random-weight encoder."""
    size = sizes.minilm
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    batches = {t: random_batch(gen, size.hf_config["vocab_size"], size.batch, size.length) for t in task_names(sizes.k)}
    return batches, PretrainedTransformer.from_config(size.hf_config)


def parameters_rows_with_repeated_ls(bench: Bench) -> list[TimedRow]:
    """ls, a second ls row doing identical work (`ls_repeat`: how far rows that should agree do
    agree), and every method on the `parameters` back-end."""
    specs = [r for r in planned_method_rows() if r.backend == "parameters" or r.label == LS]
    rows = timed_method_rows(bench, specs)
    rows.insert(1, TimedRow("ls_repeat[loss]", method_step(bench, build_method(RowSpec("ls", "loss"))),
                            {"method": "ls_repeat", "backend": "loss", "kind": "reference", "api": "Method.backward"}))
    return rows


def scenario_minilm_parameters(sizes: Sizes, rounds: int, chunk: int | None, log: Callable[[str], None]) -> dict:
    """The (a) MiniLM scenario (full fine-tuning) with only ls, a repeated ls and the `parameters`-back-end
    methods: enough rows to afford 7+ rounds on a CPU (issue 19 asks for them; the full scenario had 3)."""
    del chunk
    batches, encoder = minilm_batches_and_encoder(sizes)
    rows = parameters_rows_with_repeated_ls(make_bench(encoder, sizes.k, batches, transformer=True))
    log(f"MiniLM-sized transformer, full fine-tuning, parameters rows, K={sizes.k}: {len(rows)} rows x {rounds} rounds")
    return {"inputs": "disjoint", "k": sizes.k,
            "encoder": {"type": "transformer (random weights)", "hf_config": sizes.minilm.hf_config,
                        **encoder_info(encoder)},
            "batch_per_task": sizes.minilm.batch, "length": sizes.minilm.length, "rows": run_rows(rows, rounds, log)}


def scenario_lora_minilm(sizes: Sizes, rounds: int, chunk: int | None, log: Callable[[str], None]) -> dict:
    """Issue 19: the MiniLM-sized encoder of (a), frozen, with a shared LoRA and one LoRA per task
    (`modular`, rank 8 on query and value); K tasks with disjoint inputs; the rows of
    `parameters_rows_with_repeated_ls`."""
    del chunk
    from textmtl.models.architectures.modular import Modular, ModularConfig

    batches, encoder = minilm_batches_and_encoder(sizes)
    settings = ModularConfig(backbone="frozen", shared="lora", per_task="lora", rank=8)
    model = Modular([TaskSpec(t, KIND, ("neg", "pos")) for t in task_names(sizes.k)], encoder, settings)
    rows = parameters_rows_with_repeated_ls(make_bench(encoder, sizes.k, batches, transformer=True, model=model))
    log(f"per-task LoRA on a frozen MiniLM-sized transformer, K={sizes.k}: {len(rows)} rows x {rounds} rounds")
    counts = model.parameter_counts()
    return {"inputs": "disjoint", "k": sizes.k,
            "encoder": {"type": "transformer (random weights), frozen", "hf_config": sizes.minilm.hf_config,
                        **encoder_info(encoder)},
            "modular": settings.model_dump(),
            "parameters": {"shared_trainable": counts["shared"], "per_task": next(iter(counts["task"].values())),
                           "frozen": counts["frozen"]},
            "batch_per_task": sizes.minilm.batch, "length": sizes.minilm.length, "rows": run_rows(rows, rounds, log)}


def scenario_shared(sizes: Sizes, rounds: int, chunk: int | None, log: Callable[[str], None]) -> dict:
    """(b) One batch, K heads on the same pooled representation, for every K of `sizes.shared_ks`."""
    size = sizes.shared
    by_k, info = {}, {}
    for k in sizes.shared_ks:
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(3)
        inputs = random_batch(gen, size.hf_config["vocab_size"], size.batch, size.length)
        batches = {t: Batch(inputs.input_ids, inputs.attention_mask, torch.randint(0, 2, (size.batch,), generator=gen))
                   for t in task_names(k)}  # same inputs, each task its own labels
        encoder = PretrainedTransformer.from_config(size.hf_config)
        info = encoder_info(encoder)
        bench = make_bench(encoder, k, batches, transformer=True, shared_input=True)
        rows = timed_method_rows(bench, planned_method_rows()) + reference_rows(bench, chunk)
        log(f"(b) shared inputs, 2-layer transformer, K={k}: {len(rows)} rows x {rounds} rounds")
        by_k[str(k)] = {"rows": run_rows(rows, rounds, log)}
    return {"inputs": "shared", "ks": list(sizes.shared_ks),
            "encoder": {"type": "transformer (random weights)", "hf_config": size.hf_config, **info},
            "batch": size.batch, "length": size.length, "by_k": by_k}


def scenario_solver(sizes: Sizes, rounds: int, log: Callable[[str], None]) -> dict:
    """The aggregator call alone on precomputed K x P Jacobians of the TextCNN encoder.

    Two Jacobians (two sets of K batches) alternate, so stateful solvers (Nash-MTL) are warm-started
    from a different problem, as in training. `call_ms` = `aggregator(J)` (Gram J J^T, K x K solve,
    weights @ J); `weights_ms` = `aggregator.weights(G)` on the precomputed Gram (the K x K solve).
    """
    size = sizes.textcnn
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(4)
    model = build_model(textcnn_encoder(size), sizes.k)
    model.train()
    space = ParameterSpace(model.shared_parameters())
    own = {t: model.task_parameters(t) for t in task_names(sizes.k)}
    jacobians, grams, loss_vectors = [], [], []
    for _ in range(2):
        losses = {t: task_loss(KIND, model(t, b).logits, b.labels)
                  for t, b in ((t, random_batch(gen, size.vocab, size.batch, size.length)) for t in task_names(sizes.k))}
        jac = shared_jacobian(losses, space, own)
        jacobians.append(jac)
        grams.append(jac @ jac.T)
        loss_vectors.append(torch.stack([l.detach() for l in losses.values()]))
    model.zero_grad(set_to_none=True)

    def call_step(name: str) -> Callable[[], None]:
        agg, counter = make_aggregator(name), itertools.count()

        def step() -> None:
            i = next(counter) % 2
            agg(jacobians[i], losses=loss_vectors[i] if agg.requires_losses else None)

        return step

    def weights_step(name: str) -> Callable[[], None]:
        agg, counter = make_aggregator(name), itertools.count()

        def step() -> None:
            i = next(counter) % 2
            agg.weights(grams[i], losses=loss_vectors[i] if agg.requires_losses else None)  # type: ignore[attr-defined]

        return step

    rows = [TimedRow("gram J J^T", lambda: jacobians[0] @ jacobians[0].T)]
    for name in sorted(AGGREGATORS):
        rows.append(TimedRow(f"{name}:call", call_step(name)))
        if issubclass(AGGREGATORS[name], GramianWeightedAggregator):
            rows.append(TimedRow(f"{name}:weights", weights_step(name)))
    repeats = max(5, 3 * rounds)
    log(f"solver: K={sizes.k}, P={space.size:,}: {len(rows)} rows x {repeats} rounds")
    run_interleaved(rows, repeats, warmup=1, progress=None)
    by_label = {r.label: r for r in rows}
    out = []
    for name in sorted(AGGREGATORS):
        call, weights = by_label[f"{name}:call"], by_label.get(f"{name}:weights")
        out.append({"method": name, "call_ms": _round(median_ms(call.samples)),
                    "weights_ms": None if weights is None else _round(median_ms(weights.samples)),
                    "error": call.error or (weights.error if weights else None)})
    return {"k": sizes.k, "p": space.size, "repeats": repeats,
            "gram_ms": _round(median_ms(by_label["gram J J^T"].samples)), "rows": out}


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# ------------------------------------------------------------------------------------ targets


def _ratio_target(name: str, rows: list[dict], threshold: float, k: int) -> dict:
    failures = [{"method": r["method"], "backend": r["backend"], "ratio_to_ls": r["ratio_to_ls"], "error": r["error"]}
                for r in rows if r["error"] or r["ratio_to_ls"] is None or r["ratio_to_ls"] > threshold]
    ratios = [r["ratio_to_ls"] for r in rows if r["ratio_to_ls"] is not None]
    worst = max(rows, key=lambda r: r["ratio_to_ls"] or 0.0, default=None)
    return {"name": name, "threshold": threshold, "k": k, "rows": len(rows), "passed": bool(rows) and not failures,
            "worst": None if worst is None else {"method": worst["method"], "ratio_to_ls": worst["ratio_to_ls"]},
            "max_ratio": max(ratios, default=None), "failures": failures}


def evaluate_targets(scenarios: dict, solver: dict | None) -> list[dict]:
    """Pass/fail of the issue's targets on what was measured (at the largest K of the run)."""
    targets = []
    for key in ("disjoint_textcnn", "disjoint_minilm", "minilm_parameters"):
        if key in scenarios:
            rows = [r for r in scenarios[key]["rows"] if r["kind"] == "method" and r["backend"] == "parameters"]
            targets.append(_ratio_target(f"(a) {key}: every parameters-back-end method <= {PARAM_TARGET}x ls",
                                         rows, PARAM_TARGET, scenarios[key]["k"]))
    if "lora_minilm" in scenarios:
        rows = [r for r in scenarios["lora_minilm"]["rows"] if r["kind"] == "method" and r["backend"] == "parameters"
                and r["method"] != "graddrop"]
        k = scenarios["lora_minilm"]["k"]
        targets.append(_ratio_target(f"lora_minilm: every parameters-back-end method but graddrop <= "
                                     f"{LORA_TIME_TARGET}x ls", rows, LORA_TIME_TARGET, k))
        ls_memory = next((r["peak_memory_mb"] for r in scenarios["lora_minilm"]["rows"]
                          if r["method"] == "ls" and r["backend"] == "loss"), None)
        over = [{"method": r["method"], "peak_memory_mb": r["peak_memory_mb"]} for r in rows
                if ls_memory is None or r["peak_memory_mb"] is None or r["peak_memory_mb"] > LORA_MEMORY_TARGET * ls_memory]
        memory_ratios = [(r["peak_memory_mb"] / ls_memory, r["method"]) for r in rows
                         if ls_memory and r["peak_memory_mb"] is not None]
        worst = max(memory_ratios, default=None)
        targets.append({"name": f"lora_minilm: peak memory of every such method <= {LORA_MEMORY_TARGET}x ls",
                        "threshold": LORA_MEMORY_TARGET, "k": k, "ls_peak_memory_mb": ls_memory,
                        "max_ratio": None if worst is None else round(worst[0], 3),
                        "worst": None if worst is None else {"method": worst[1], "ratio_to_ls": round(worst[0], 3)},
                        "passed": bool(rows) and not over, "failures": over})
    if solver is not None:
        rows = [r for r in solver["rows"] if r["method"] in SOLVER_TARGET_METHODS]
        failures = [r for r in rows if r["error"] or r["call_ms"] is None or r["call_ms"] > SOLVER_TARGET_MS]
        targets.append({"name": f"(a) solver: aggregator call of {'/'.join(SOLVER_TARGET_METHODS)} on a precomputed "
                                f"K x P Jacobian <= {SOLVER_TARGET_MS:g} ms",
                        "threshold_ms": SOLVER_TARGET_MS, "k": solver["k"], "p": solver["p"],
                        "passed": len(rows) == len(SOLVER_TARGET_METHODS) and not failures,
                        "call_ms": {r["method"]: r["call_ms"] for r in rows},
                        "weights_only_ms": {r["method"]: r["weights_ms"] for r in rows},
                        # the same bound on the K x K solve alone (Gram precomputed), for reference
                        "passed_weights_only": len(rows) == len(SOLVER_TARGET_METHODS) and all(
                            r["weights_ms"] is not None and r["weights_ms"] <= SOLVER_TARGET_MS for r in rows),
                        "failures": [r["method"] for r in failures]})
    if "shared" in scenarios:
        k = max(scenarios["shared"]["ks"])
        rows = [r for r in scenarios["shared"]["by_k"][str(k)]["rows"]
                if r["kind"] == "method" and r["backend"] == "representation"]
        targets.append(_ratio_target(f"(b) shared inputs: every representation-back-end method <= {REPR_TARGET}x ls",
                                     rows, REPR_TARGET, k))
    return targets


# ------------------------------------------------------------------------------------ display


def print_report(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(120, Console().width))
    for key, scen in result["scenarios"].items():
        if "after_over_before" in scen:
            table = Table(title=f"{key}: Trainer.step (after) / legacy step (before), K={scen['k']}; "
                                f"identical rows agree to {scen['identical_rows_ratio']}")
            for col in ("row", "median ms", "after / before"):
                table.add_column(col, justify="left" if col == "row" else "right")
            for r in scen["rows"]:
                ratio = scen["after_over_before"].get(r["method"]) if r["api"] == "Trainer.step" else None
                table.add_row(f"{r['api']} {r['method']}", fmt(r["median_ms"]), fmt(ratio, ".3f") if ratio else "")
            console.print(table)
            continue
        if scen["inputs"] == "disjoint":
            enc = scen["encoder"]
            table = Table(title=f"(a) {key}: K={scen['k']} disjoint batches of {scen['batch_per_task']} x "
                                f"{scen['length']}, P={enc['shared_params']:,}")
            for col in ("method", "backend", "median ms", "x ls", "peak MB", "error"):
                table.add_column(col, justify="left" if col in ("method", "backend", "error") else "right")
            for r in scen["rows"]:
                table.add_row(r["method"], r["backend"], fmt(r["median_ms"]), _ratio_cell(r["ratio_to_ls"], PARAM_TARGET
                              if r["backend"] == "parameters" and r["kind"] == "method" else None),
                              fmt(r["peak_memory_mb"]), r["error"] or "")
            console.print(table)
        else:
            ks = scen["ks"]
            table = Table(title=f"(b) shared inputs: one batch of {scen['batch']} x {scen['length']}, K heads, "
                                f"P={scen['encoder']['shared_params']:,}")
            table.add_column("method")
            table.add_column("backend")
            for k in ks:
                table.add_column(f"x ls K={k}", justify="right")
            table.add_column(f"ms K={ks[-1]}", justify="right")
            table.add_column(f"peak MB K={ks[-1]}", justify="right")
            per_k = {k: {(r["method"], r["backend"]): r for r in scen["by_k"][str(k)]["rows"]} for k in ks}
            for key_row, last in per_k[ks[-1]].items():
                limit = REPR_TARGET if last["backend"] == "representation" and last["kind"] == "method" else None
                cells = [_ratio_cell(per_k[k].get(key_row, {}).get("ratio_to_ls"), limit if k == ks[-1] else None)
                         for k in ks]
                table.add_row(*key_row, *cells, fmt(last["median_ms"]), fmt(last["peak_memory_mb"]))
            console.print(table)
    if result.get("solver"):
        s = result["solver"]
        table = Table(title=f"solver alone: K={s['k']}, P={s['p']:,} (Gram J J^T alone: {fmt(s['gram_ms'], '.2f')} ms)")
        for col in ("method", "aggregator(J) ms", "weights(G) ms", "error"):
            table.add_column(col, justify="left" if col in ("method", "error") else "right")
        for r in s["rows"]:
            call = fmt(r["call_ms"], ".2f")
            if r["method"] in SOLVER_TARGET_METHODS and r["call_ms"] is not None:
                call = f"[{'green' if r['call_ms'] <= SOLVER_TARGET_MS else 'red'}]{call}[/]"
            table.add_row(r["method"], call, fmt(r["weights_ms"], ".2f"), r["error"] or "")
        console.print(table)
    table = Table(title="targets" + (" (QUICK RUN: tiny sizes, indicative only)" if result["settings"]["quick"] else ""))
    table.add_column("target")
    table.add_column("K", justify="right")
    table.add_column("result")
    table.add_column("detail")
    for t in result["targets"]:
        if "call_ms" in t:
            detail = "aggregator(J): " + ", ".join(f"{m} {fmt(v, '.2f')}" for m, v in t["call_ms"].items())
            detail += " ms; weights(G) alone: " + ", ".join(f"{m} {fmt(v, '.2f')}"
                                                            for m, v in t["weights_only_ms"].items()) + " ms"
        else:
            detail = f"max {fmt(t['max_ratio'], '.2f')}x" + (f" ({t['worst']['method']})" if t["worst"] else "")
            if t["failures"]:
                detail += f"; {len(t['failures'])} over: " + ", ".join(f["method"] for f in t["failures"])
        table.add_row(t["name"], str(t["k"]), "[green]PASS[/]" if t["passed"] else "[red]FAIL[/]", detail)
    console.print(table)


def _ratio_cell(ratio: float | None, limit: float | None) -> str:
    text = fmt(ratio, ".2f")
    if ratio is None or limit is None:
        return text
    return f"[{'green' if ratio <= limit else 'red'}]{text}[/]"


# --------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per row (default 7; 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (K up to 4, 2 rounds): a smoke test")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: {','.join(DEFAULT_SCENARIOS)})")
    parser.add_argument("--torchjd-chunk", type=int, default=None,
                        help="parallel_chunk_size of torchjd's mtl_backward (default None = all rows in one vmap)")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    if args.rounds is None:
        args.rounds = 2 if args.quick else 7
    if args.rounds < 1 or args.threads < 1:
        parser.error("--rounds and --threads must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = QUICK if args.quick else FULL
    from rich.console import Console

    err = Console(stderr=True)

    def log(message: str) -> None:
        err.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}", highlight=False)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > (os.cpu_count() or 1) - args.threads + 0.5:
        log(f"[yellow]warning: load average {load:.1f} on {os.cpu_count()} CPUs: other processes compete for the "
            f"cores, absolute times (and to a lesser extent the ratios) are unreliable[/]")
    started = time.perf_counter()
    result = {
        "benchmark": "step_overhead",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(args.threads),
        "settings": {"quick": args.quick, "rounds": args.rounds, "warmup_steps": 1, "threads": args.threads,
                     "scenarios": args.scenarios, "torchjd_parallel_chunk_size": args.torchjd_chunk,
                     "sizes": asdict(sizes), "step": "zero_grad + forward + backward + optimizer.step (+ after_step)",
                     "optimizer": {"textcnn": "adam lr=1e-3", "transformer": "adamw lr=2e-5"},
                     "wall_seconds": None, "complete": False,
                     "note": ("QUICK RUN: tiny sizes and K <= 4, a smoke test; the targets are evaluated at the "
                              "largest K measured and are NOT the issue's targets" if args.quick else None)},
        "timing_method": TIMING_METHOD,
        "memory_method": MEMORY_METHOD,
        "row_fields": {
            "method": "method name (describe_methods), or ref_* for a reference implementation",
            "backend": "loss | parameters | representation",
            "kind": "method (a textmtl training method) | reference (external mechanism, same step)",
            "api": "how the backward was done",
            "median_ms": "median step time over the rounds",
            "ratio_to_ls": "median_ms / median_ms of ls[loss] in the same scenario (same process, interleaved)",
            "peak_memory_mb": "see memory_method",
            "samples_ms": "every timed step, in round order",
        },
        "scenarios": {},
        "solver": None,
        "targets": [],
    }

    def save(complete: bool = False) -> None:
        """Rewrite the JSON after every scenario, so a long run that dies keeps what it measured."""
        result["targets"] = evaluate_targets(result["scenarios"], result["solver"])
        result["settings"]["wall_seconds"] = round(time.perf_counter() - started, 1)
        result["settings"]["complete"] = complete
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    runs = {"trainer": ("trainer_textcnn", scenario_trainer),
            "textcnn": ("disjoint_textcnn", scenario_disjoint_textcnn),
            "minilm": ("disjoint_minilm", scenario_disjoint_minilm),
            "shared": ("shared", scenario_shared),
            "lora": ("lora_minilm", scenario_lora_minilm),
            "minilm_parameters": ("minilm_parameters", scenario_minilm_parameters)}
    for name in SCENARIOS:
        if name not in args.scenarios:
            continue
        if name == "solver":
            result["solver"] = scenario_solver(sizes, args.rounds, log)
        else:
            key, scenario = runs[name]
            result["scenarios"][key] = scenario(sizes, args.rounds, args.torchjd_chunk, log)
        save()
    save(complete=True)
    print_report(result)
    log(f"wrote {args.out} ({result['settings']['wall_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
