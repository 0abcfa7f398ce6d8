"""GLUE small tasks: GLUE dev serves as test, a fixed hold-out of train as dev."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ...registry import benchmarks
from ..readers import read_table_file
from ..tasks import Example, TaskData, TaskKind, TaskSpec
from .base import SPLIT_SEED, Benchmark, LoadOptions, check_sizes, default_dev_size, finish_task, hold_out


@dataclass(frozen=True)
class GlueTask:
    """How one GLUE task's TSV files are read."""

    kind: TaskKind
    columns: Mapping[str, str | int]
    labels: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ("accuracy",)
    has_header: bool = True
    has_train: bool = True


_BINARY = ("0", "1")
_NLI = ("entailment", "not_entailment")
GLUE_TASKS: dict[str, GlueTask] = {
    "CoLA": GlueTask(TaskKind.CLASSIFICATION, {"text": 3, "label": 1}, _BINARY, ("mcc", "accuracy"), has_header=False),
    "SST-2": GlueTask(TaskKind.CLASSIFICATION, {"text": "sentence", "label": "label"}, _BINARY),
    "MRPC": GlueTask(
        TaskKind.PAIR_CLASSIFICATION,
        {"text": "#1 String", "text_pair": "#2 String", "label": "Quality"},
        _BINARY,
        ("f1", "accuracy"),
    ),
    "STS-B": GlueTask(
        TaskKind.REGRESSION,
        {"text": "sentence1", "text_pair": "sentence2", "label": "score"},
        (),
        ("pearson", "spearman"),
    ),
    "RTE": GlueTask(
        TaskKind.PAIR_CLASSIFICATION, {"text": "sentence1", "text_pair": "sentence2", "label": "label"}, _NLI
    ),
    "WNLI": GlueTask(
        TaskKind.PAIR_CLASSIFICATION, {"text": "sentence1", "text_pair": "sentence2", "label": "label"}, _BINARY
    ),
    "QNLI": GlueTask(
        TaskKind.PAIR_CLASSIFICATION,
        {"text": "question", "text_pair": "sentence", "label": "label"},
        _NLI,
        has_train=False,
    ),
}


@benchmarks.register("glue")
class Glue(Benchmark):
    """The small GLUE tasks. GLUE test labels are not public, so:

    test = the task's GLUE `dev.tsv`; dev = a fixed-seed (`SPLIT_SEED`, independent of the
    training seed) random sample of `dev_size` examples held out from `train.tsv` (default
    10% of train, at most 1000); train = the rest, in file order. QNLI has no `train.tsv`:
    its `dev.tsv` is split fixed-seed 80/10/10 into train/dev/test (`dev_size` overrides
    the dev part). `merge_dev_into_train=True` trains on the whole `train.tsv` (dev is then
    for monitoring only).
    """

    name = "glue"
    title = "GLUE"
    subdir = "glue"
    task_names = tuple(GLUE_TASKS)
    notes = "\n".join(
        (
            "test = the GLUE dev.tsv (GLUE test labels are not public)",
            f"dev = a fixed-seed ({SPLIT_SEED}) hold-out of 10% of train.tsv, at most 1000; train = the rest",
            "QNLI has no train.tsv: train/dev/test are a fixed-seed 80/10/10 split of its dev.tsv",
            "MRPC train.tsv has 3667 rows, one fewer than the official 3668",
        )
    )

    def spec(self, task: str) -> TaskSpec:
        self.resolve_tasks([task])
        cfg = GLUE_TASKS[task]
        return TaskSpec(task, cfg.kind, cfg.labels, cfg.metrics)

    def expected_files(self, task: str, *, unlabelled: bool = True) -> list[Path]:
        self.resolve_tasks([task])
        splits = ("train", "dev") if GLUE_TASKS[task].has_train else ("dev",)
        return [Path(self.subdir) / task / f"{split}.tsv" for split in splits]

    def load_task(self, root: Path, task: str, options: LoadOptions) -> TaskData:
        cfg = GLUE_TASKS[task]

        def read(split: str) -> tuple[list[Example], int]:
            return read_table_file(
                root / task / f"{split}.tsv",
                fmt="tsv",
                columns=cfg.columns,
                kind=cfg.kind,
                labels=cfg.labels,
                has_header=cfg.has_header,
                skip_bad_lines=options.skip_bad_lines,
            )

        if cfg.has_train:
            pool, skipped = read("train")
            test, n = read("dev")
            skipped += n
            default = default_dev_size(len(pool))
            seed, source = SPLIT_SEED, "train"
        else:  # QNLI: 80/10/10 of dev.tsv; test first, then dev from the rest
            everything, skipped = read("dev")
            pool, test = hold_out(everything, len(everything) // 10)
            default = default_dev_size(len(everything))
            seed, source = SPLIT_SEED + 1, "dev"
        size = check_sizes(
            task, root / task / f"{source}.tsv", len(pool), options.dev_size, options.max_train_examples, default
        )
        train, dev = hold_out(pool, size, seed=seed)
        return finish_task(
            self.spec(task),
            pool,
            train,
            dev,
            test,
            merge_dev_into_train=options.merge_dev_into_train,
            max_train_examples=options.max_train_examples,
            skipped=skipped,
        )
