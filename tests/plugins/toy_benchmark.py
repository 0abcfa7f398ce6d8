"""CONTRIBUTING recipe 4, a data set: `data.benchmark: toy-topics`, files under `<data_dir>/toy-topics/`."""

from __future__ import annotations

from pathlib import Path

from textmtl.data.readers import read_table_file
from textmtl.data.sets import Benchmark, LoadOptions, check_sizes, default_dev_size, finish_task, hold_out
from textmtl.data.tasks import TaskData, TaskKind, TaskSpec
from textmtl.registry import benchmarks


@benchmarks.register("toy-topics")
class ToyTopics(Benchmark):
    """Toy: two topic tasks, `<task>.train.tsv` / `<task>.test.tsv` of `label<TAB>text` lines."""

    name = "toy-topics"
    title = "toy topics"
    subdir = "toy-topics"
    task_names = ("sports", "science")
    notes = "dev = a fixed-seed hold-out of 10% of train"
    labels = ("no", "yes")

    def spec(self, task: str) -> TaskSpec:
        return TaskSpec(task, TaskKind.CLASSIFICATION, self.labels, ("accuracy",))

    def expected_files(self, task: str, *, unlabelled: bool = True) -> list[Path]:
        return [Path(self.subdir) / f"{task}.{split}.tsv" for split in ("train", "test")]

    def load_task(self, root: Path, task: str, options: LoadOptions) -> TaskData:
        def read(split: str) -> tuple[list, int]:
            return read_table_file(root / f"{task}.{split}.tsv", fmt="tsv", columns={"label": 0, "text": 1},
                                   kind=TaskKind.CLASSIFICATION, labels=self.labels, has_header=False,
                                   skip_bad_lines=options.skip_bad_lines)

        (pool, skipped), (test, more) = read("train"), read("test")
        size = check_sizes(task, root / f"{task}.train.tsv", len(pool), options.dev_size, options.max_train_examples,
                           default_dev_size(len(pool)))
        train, dev = hold_out(pool, size)
        return finish_task(self.spec(task), pool, train, dev, test, merge_dev_into_train=options.merge_dev_into_train,
                           max_train_examples=options.max_train_examples, skipped=skipped + more)
