"""What every known data set shares: where data lives, fixed-seed splits, and the `Benchmark` interface.

Every split is deterministic: held-out sets are drawn with `random.Random(SPLIT_SEED)`,
independent of the training seed, so all runs of all methods see the same examples.
A data set is a `Benchmark` subclass in its own module, registered with
``textmtl.registry.benchmarks`` under the name `data.benchmark` takes.
"""

from __future__ import annotations

import difflib
import os
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ConfigError, DataError
from ..tasks import Example, TaskData, TaskSpec

DATA_DIR_ENV = "TEXTMTL_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.cache/textmtl")
SPLIT_SEED = 0
_HINT = "(set TEXTMTL_DATA_DIR or --data-dir)"


def resolve_data_dir(explicit: str | Path | None = None) -> Path:
    """The data root: `explicit` > env `TEXTMTL_DATA_DIR` > `~/.cache/textmtl`."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return DEFAULT_DATA_DIR.expanduser()


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """' (did you mean 'x'?)' for the closest of `choices` (case-insensitive), or ''."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def describe_files(names: Sequence[str]) -> str:
    """Join file names compactly and exactly: `books.task.{train,test}, CoLA/dev.tsv`."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name in names:
        m = re.fullmatch(r"(.*?)\b(train|dev|test|unlabel)\b(.*)", name)
        key, part = ((m.group(1), m.group(3)), m.group(2)) if m else ((name, ""), "")
        groups.setdefault(key, []).append(part)
    out = []
    for (head, tail), parts in groups.items():
        out.append(f"{head}{parts[0]}{tail}" if len(parts) == 1 else f"{head}{{{','.join(parts)}}}{tail}")
    return ", ".join(out)


def default_dev_size(n_train: int) -> int:
    """10% of the training file, at least 1 and at most 1000."""
    return min(1000, max(1, n_train // 10))


def hold_out(examples: Sequence[Example], size: int, seed: int = SPLIT_SEED) -> tuple[list[Example], list[Example]]:
    """Split off a fixed-seed random sample of `size` examples: `(rest, sample)`, both in file order."""
    picked = set(random.Random(seed).sample(range(len(examples)), size))
    rest = [ex for i, ex in enumerate(examples) if i not in picked]
    sample = [ex for i, ex in enumerate(examples) if i in picked]
    return rest, sample


def carve(
    examples: Sequence[Example], fraction: float, seed: int = SPLIT_SEED, stratify: bool = True
) -> tuple[list[Example], list[Example]]:
    """Split off a seeded random `fraction` of `examples`: `(rest, carved)`, both in file order.

    `stratify` (classification labels): each label gives round(fraction x its count) examples, so
    both parts keep the label proportions; otherwise one draw over all examples. At least one
    example is carved and at least one is left."""
    if not 0 < fraction < 1:
        raise ConfigError(f"expected a fraction between 0 and 1 (exclusive), got {fraction!r}")
    if len(examples) < 2:
        raise ConfigError(f"cannot carve a {fraction:g} part out of {len(examples)} example(s)")
    rng = random.Random(seed)
    groups: dict[int | None, list[int]] = {}
    for i, ex in enumerate(examples):
        key: int | None = ex.label if stratify and isinstance(ex.label, int) else None
        groups.setdefault(key, []).append(i)
    picked: set[int] = set()
    for key in sorted(groups, key=repr):
        members = groups[key]
        picked.update(rng.sample(members, round(fraction * len(members))))
    if not picked:  # tiny data: at least one
        picked.add(rng.randrange(len(examples)))
    if len(picked) == len(examples):
        picked.discard(max(picked))
    rest = [ex for i, ex in enumerate(examples) if i not in picked]
    carved = [ex for i, ex in enumerate(examples) if i in picked]
    return rest, carved


def sample_in_order(examples: Sequence[Example], n: int, seed: int = SPLIT_SEED) -> list[Example]:
    """A fixed-seed random sample of `n` examples (all of them if there are fewer), in file order.

    The sample depends on the file and `seed` only, never on the training seed, so every run of
    a grid sees the same examples. `data.subsample: random` caps splits with it."""
    return list(examples) if n >= len(examples) else hold_out(examples, n, seed=seed)[1]


def check_sizes(
    task: str, path: Path, n: int, dev_size: int | None, max_train_examples: int | None, default_dev: int = 0
) -> int:
    """Validate the split options against the `n` usable examples of the training file `path`.

    Returns the dev size to hold out (`dev_size`, else `default_dev`).
    """
    if dev_size is not None and (isinstance(dev_size, bool) or not isinstance(dev_size, int) or dev_size < 0):
        raise ConfigError(f"dev_size: expected an integer >= 0, got {dev_size!r}")
    if max_train_examples is not None and (
        isinstance(max_train_examples, bool) or not isinstance(max_train_examples, int) or max_train_examples < 1
    ):
        raise ConfigError(f"max_train_examples: expected an integer >= 1, got {max_train_examples!r}")
    if n == 0:
        raise DataError(path, f"task {task!r}: no usable examples in the file")
    size = default_dev if dev_size is None else dev_size
    if size >= n:
        raise ConfigError(
            f"dev_size: {size} leaves no training examples for task {task!r} ({path} has {n} usable examples)"
        )
    return size


def finish_task(
    spec: TaskSpec,
    pool: list[Example],
    train: list[Example],
    dev: list[Example],
    test: list[Example],
    *,
    merge_dev_into_train: bool,
    max_train_examples: int | None,
    unlabelled: list[Example] | None = None,
    skipped: int = 0,
) -> TaskData:
    """Apply merge_dev_into_train (train = whole `pool`) and the train cap (first N)."""
    if merge_dev_into_train:
        train = list(pool)
    if max_train_examples is not None:
        train = train[:max_train_examples]
    return TaskData(spec, train, dev, test, unlabelled or [], skipped_lines=skipped)


# --------------------------------------------------------------------------- benchmarks


@dataclass(frozen=True)
class LoadOptions:
    """How `Benchmark.load` reads its tasks (see the `Benchmark` docstring)."""

    dev_size: int | None = None
    max_train_examples: int | None = None
    merge_dev_into_train: bool = False
    skip_bad_lines: bool = False
    unlabelled: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)  # data.benchmark_options, checked by the benchmark


class Benchmark(ABC):
    """A named set of tasks stored under `<data_dir>/<subdir>/`.

    `load` options shared by all benchmarks:
    - `dev_size`: size of the dev split (the benchmark's default if None);
    - `max_train_examples`: keep only the first N training examples (`load_tasks` leaves it
      unset and applies the config's caps itself, first N or a random sample);
    - `merge_dev_into_train`: train on the whole training file, dev included (dev stays
      available for monitoring only; use for protocols that have no dev set);
    - `skip_bad_lines`: count and drop malformed lines instead of failing;
    - `unlabelled`: also read unlabelled text where the benchmark has some.
    """

    name: str
    title: str
    subdir: str
    task_names: tuple[str, ...]
    notes: str = ""  # how the splits are made, one fact per line (shown by `data list`)
    option_names: tuple[str, ...] = ()  # the keys `data.benchmark_options` may set for this benchmark

    def check_options(self, options: Mapping[str, Any]) -> None:
        """ConfigError naming a `data.benchmark_options` key this benchmark does not take."""
        for key in options:
            if key not in self.option_names:
                takes = f"takes {', '.join(self.option_names)}" if self.option_names else "takes no options"
                raise ConfigError(f"data.benchmark_options.{key}: unknown option of benchmark {self.name} ({takes})")

    @abstractmethod
    def spec(self, task: str) -> TaskSpec:
        """The TaskSpec (kind, labels, metrics) of one task."""

    @abstractmethod
    def expected_files(self, task: str, *, unlabelled: bool = True) -> list[Path]:
        """The files one task needs, relative to the data dir (e.g. `fdu-mtl/books.task.train`)."""

    @abstractmethod
    def load_task(self, root: Path, task: str, options: LoadOptions) -> TaskData:
        """Read one task whose files are known to exist."""

    def resolve_tasks(self, tasks: Sequence[str] | None = None) -> list[str]:
        """Validate task names (ConfigError with a suggestion); None means all tasks."""
        if tasks is None:
            return list(self.task_names)
        if isinstance(tasks, str):
            tasks = [tasks]
        if not tasks:
            raise ConfigError(f"tasks: empty list; {self.name} has {', '.join(self.task_names)}")
        seen: list[str] = []
        for task in tasks:
            if task not in self.task_names:
                raise ConfigError(
                    f"tasks: unknown {self.name} task {task!r}{did_you_mean(str(task), self.task_names)}; "
                    f"known: {', '.join(self.task_names)}"
                )
            if task in seen:
                raise ConfigError(f"tasks: {task!r} is listed twice")
            seen.append(task)
        return seen

    def missing_files(
        self, data_dir: str | Path, tasks: Sequence[str] | None = None, *, unlabelled: bool = True
    ) -> list[Path]:
        """Needed files (relative to `data_dir`) that do not exist."""
        root = Path(data_dir)
        return [
            rel
            for task in self.resolve_tasks(tasks)
            for rel in self.expected_files(task, unlabelled=unlabelled)
            if not (root / rel).is_file()
        ]

    def check_files(self, data_dir: str | Path, tasks: Sequence[str] | None = None, *, unlabelled: bool = True) -> None:
        """Raise ONE DataError naming every missing file and the folder searched."""
        missing = self.missing_files(data_dir, tasks, unlabelled=unlabelled)
        if missing:
            folder = Path(data_dir) / self.subdir
            names = [rel.relative_to(self.subdir).as_posix() for rel in missing]
            what = "directory not found; expected" if not folder.is_dir() else "missing"
            raise DataError(folder, f"no {self.title} data: {what} {describe_files(names)} {_HINT}")

    def load(
        self,
        data_dir: str | Path,
        tasks: Sequence[str] | None = None,
        *,
        dev_size: int | None = None,
        max_train_examples: int | None = None,
        merge_dev_into_train: bool = False,
        skip_bad_lines: bool = False,
        unlabelled: bool = True,
        options: Mapping[str, Any] | None = None,
    ) -> list[TaskData]:
        """Load the given tasks (all if None), in the order given, after checking every file exists.
        `options`: the benchmark's own settings (`data.benchmark_options`, see `option_names`)."""
        names = self.resolve_tasks(tasks)
        self.check_options(options or {})
        self.check_files(data_dir, names, unlabelled=unlabelled)
        root = Path(data_dir) / self.subdir
        how = LoadOptions(
            dev_size, max_train_examples, merge_dev_into_train, skip_bad_lines, unlabelled, dict(options or {})
        )
        return [self.load_task(root, task, how) for task in names]

    def split_sizes(self, data_dir: str | Path, tasks: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
        """`{task: {"train", "dev", "test", "unlabelled": count}}` with the default splits.

        Tasks whose files are missing are left out (for `data list`); bad lines still raise.
        """
        found = [t for t in self.resolve_tasks(tasks) if not self.missing_files(data_dir, [t])]
        if not found:
            return {}
        return {
            data.name: {split: len(data.split(split)) for split in ("train", "dev", "test", "unlabelled")}
            for data in self.load(data_dir, found)
        }
