"""CoNLL-2003 English: POS, chunking and NER on the same sentences."""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from ...registry import benchmarks
from ..conll import METRICS as CONLL_METRICS
from ..conll import Sentence, label_set, read_conll_file, to_examples
from ..tasks import TaskData, TaskKind, TaskSpec
from .base import Benchmark, LoadOptions


@benchmarks.register("conll2003")
class Conll2003(Benchmark):
    """CoNLL-2003 English (Tjong Kim Sang & De Meulder 2003): tasks `pos`, `chunk`, `ner`.

    train = eng.train (14,041 sentences), dev = eng.testa (3,250), test = eng.testb (3,453).
    `dev_size` is not supported (the dev file is fixed); `max_train_examples` keeps the first N
    training sentences; `merge_dev_into_train` appends testa to train.
    """

    name = "conll2003"
    title = "CoNLL-2003"
    subdir = "conll2003"
    task_names = ("pos", "chunk", "ner")
    files = {"train": "eng.train", "dev": "eng.testa", "test": "eng.testb"}
    notes = "\n".join(
        (
            "train = eng.train, dev = eng.testa, test = eng.testb; -DOCSTART- lines skipped",
            "pos, chunk and ner label the same sentences (one shared forward pass per batch)",
            "chunk and NER tags converted from IOB1 to IOB2; NER scored by entity-level F1 (seqeval semantics)",
        )
    )

    def __init__(self) -> None:
        self._cache: dict[tuple, tuple[dict[str, list[Sentence]], int]] = {}

    def spec(self, task: str, labels: tuple[str, ...] = ()) -> TaskSpec:
        self.resolve_tasks([task])
        return TaskSpec(task, TaskKind.TAGGING, labels, CONLL_METRICS[task])

    def expected_files(self, task: str, *, unlabelled: bool = True) -> list[Path]:
        self.resolve_tasks([task])
        return [Path(self.subdir) / f for f in self.files.values()]

    def _read(self, root: Path, skip_bad_lines: bool) -> tuple[dict[str, list[Sentence]], int]:
        """The three files, read once per (folder, option, file state) and shared by the three tasks."""
        paths = {split: root / f for split, f in self.files.items()}
        key = (str(root.resolve()), skip_bad_lines, tuple(p.stat().st_mtime_ns for p in paths.values()))
        if key not in self._cache:
            splits, skipped = {}, 0
            for split, path in paths.items():
                splits[split], n = read_conll_file(path, skip_bad_lines=skip_bad_lines)
                skipped += n
            self._cache = {key: (splits, skipped)}  # keep only the latest folder
        return self._cache[key]

    def load_task(self, root: Path, task: str, options: LoadOptions) -> TaskData:
        if options.dev_size is not None:
            raise ConfigError("dev_size: conll2003 has a fixed dev file (eng.testa); leave dev_size unset")
        if options.max_train_examples is not None and (
            isinstance(options.max_train_examples, bool) or options.max_train_examples < 1
        ):
            raise ConfigError(f"max_train_examples: expected an integer >= 1, got {options.max_train_examples!r}")
        splits, skipped = self._read(root, options.skip_bad_lines)
        labels = label_set(splits["train"], task)
        data = {split: to_examples(sents, task, labels, root / self.files[split]) for split, sents in splits.items()}
        train = data["train"] + data["dev"] if options.merge_dev_into_train else data["train"]
        if options.max_train_examples is not None:
            train = train[: options.max_train_examples]
        return TaskData(
            self.spec(task, labels), train, data["dev"], data["test"], skipped_lines=skipped, input_group=self.name
        )
