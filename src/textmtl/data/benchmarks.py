"""Named benchmarks (FDU-MTL, GLUE, CoNLL-2003), user-defined tasks, and where the data lives.

Every split below is deterministic: held-out sets are drawn with `random.Random(SPLIT_SEED)`,
independent of the training seed, so all runs of all methods see the same examples.
"""

from __future__ import annotations

import difflib
import os
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from textmtl.data.conll import METRICS as CONLL_METRICS
from textmtl.data.conll import Sentence, label_set, read_conll_file, to_examples
from textmtl.data.readers import TABLE_FORMATS, infer_labels, read_fdu_mtl_file, read_table_file
from textmtl.data.tasks import Example, TaskData, TaskKind, TaskSpec
from textmtl.data.treebank import treebank_like
from textmtl.errors import ConfigError, DataError

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


def sample_in_order(examples: Sequence[Example], n: int, seed: int = SPLIT_SEED) -> list[Example]:
    """A fixed-seed random sample of `n` examples (all of them if there are fewer), in file order.

    The sample depends on the file and `seed` only, never on the training seed, so every run of
    a grid sees the same examples. `data.subsample: random` caps splits with it."""
    return list(examples) if n >= len(examples) else hold_out(examples, n, seed=seed)[1]


def _check_sizes(
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


def _finish(
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

    @abstractmethod
    def spec(self, task: str) -> TaskSpec:
        """The TaskSpec (kind, labels, metrics) of one task."""

    @abstractmethod
    def expected_files(self, task: str, *, unlabelled: bool = True) -> list[Path]:
        """The files one task needs, relative to the data dir (e.g. `fdu-mtl/books.task.train`)."""

    @abstractmethod
    def _load_task(
        self,
        root: Path,
        task: str,
        *,
        dev_size: int | None,
        max_train_examples: int | None,
        merge_dev_into_train: bool,
        skip_bad_lines: bool,
        unlabelled: bool,
    ) -> TaskData:
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
    ) -> list[TaskData]:
        """Load the given tasks (all if None), in the order given, after checking every file exists."""
        names = self.resolve_tasks(tasks)
        self.check_files(data_dir, names, unlabelled=unlabelled)
        root = Path(data_dir) / self.subdir
        return [
            self._load_task(
                root,
                task,
                dev_size=dev_size,
                max_train_examples=max_train_examples,
                merge_dev_into_train=merge_dev_into_train,
                skip_bad_lines=skip_bad_lines,
                unlabelled=unlabelled,
            )
            for task in names
        ]

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


FDU_MTL_DOMAINS: tuple[str, ...] = (
    "books", "electronics", "dvd", "kitchen_housewares", "apparel", "camera_photo",
    "health_personal_care", "music", "toys_games", "video", "baby", "magazines",
    "software", "sports_outdoors", "imdb", "MR",
)  # fmt: skip
AMAZON_14: tuple[str, ...] = tuple(d for d in FDU_MTL_DOMAINS if d not in ("imdb", "MR"))
# `*.task.unlabel` already tokenised like the labelled files (share of tokens outside the
# training vocabulary: imdb 4.2% as is vs 5.7% re-tokenised, MR 14.5% vs 16.6%); the Amazon
# domains' are raw reviews (books 25.4% as is, 5.0% re-tokenised, 5.3% for its test set)
PRETOKENISED_UNLABELLED = frozenset({"imdb", "MR"})


class FduMtl(Benchmark):
    """FDU-MTL (Liu et al. 2017): 16 binary sentiment domains (0 = negative, 1 = positive).

    Splits follow the MAN code: dev = the LAST `dev_size` (default 200) lines of
    `<domain>.task.train`, train = the lines before them, test = `<domain>.task.test`,
    unlabelled = `<domain>.task.unlabel` (the Amazon domains' raw reviews are lower-cased and
    PTB-tokenised like the labelled files by `treebank.treebank_like`). With
    `merge_dev_into_train=True` (the GetMTL protocol, which has no dev set) train is the whole
    `.task.train` file and dev still holds its last `dev_size` lines, for monitoring only: dev
    then overlaps train, so do not select checkpoints on it. `max_train_examples` keeps the
    first N training lines. Lines with an empty text are dropped and counted in `skipped_lines`
    (the real `sports_outdoors.task.train` has one, line 1121).
    """

    name = "fdu-mtl"
    title = "FDU-MTL"
    subdir = "fdu-mtl"
    task_names = FDU_MTL_DOMAINS
    labels = ("0", "1")
    default_dev_size = 200
    notes = "\n".join(
        (
            "dev = the last 200 lines of each <domain>.task.train (the MAN split); train = the lines before",
            "test = <domain>.task.test; unlabelled = <domain>.task.unlabel",
            "MR.task.* and dvd.task.train are not UTF-8 and are read as latin-1",
            "sports_outdoors.task.train line 1121 has no text and is skipped",
            "AMAZON_14 = the 14 product domains: all but imdb and MR",
        )
    )

    def spec(self, task: str) -> TaskSpec:
        self.resolve_tasks([task])
        return TaskSpec(task, TaskKind.CLASSIFICATION, self.labels, ("accuracy",))

    def expected_files(self, task: str, *, unlabelled: bool = True) -> list[Path]:
        splits = ("train", "test", "unlabel") if unlabelled else ("train", "test")
        return [Path(self.subdir) / f"{task}.task.{split}" for split in splits]

    def _load_task(
        self,
        root: Path,
        task: str,
        *,
        dev_size: int | None,
        max_train_examples: int | None,
        merge_dev_into_train: bool,
        skip_bad_lines: bool,
        unlabelled: bool,
    ) -> TaskData:
        def read(split: str, labelled: bool = True) -> tuple[list[Example], int]:
            return read_fdu_mtl_file(
                root / f"{task}.task.{split}",
                labels=self.labels,
                labelled=labelled,
                skip_bad_lines=skip_bad_lines,
                skip_empty_text=True,
            )

        pool, skipped = read("train")
        test, n = read("test")
        skipped += n
        extra: list[Example] = []
        if unlabelled:
            raw, n = read("unlabel", labelled=False)
            skipped += n
            # the 14 Amazon domains' unlabelled reviews are raw, unlike their labelled files: tokenised
            # the same way (data/treebank.py); imdb's and MR's are already in their files' style
            extra = raw if task in PRETOKENISED_UNLABELLED else [Example(treebank_like(e.text), None) for e in raw]
        size = _check_sizes(task, root / f"{task}.task.train", len(pool), dev_size, max_train_examples,
                            self.default_dev_size)
        cut = len(pool) - size
        return _finish(
            self.spec(task),
            pool,
            pool[:cut],
            pool[cut:],
            test,
            merge_dev_into_train=merge_dev_into_train,
            max_train_examples=max_train_examples,
            unlabelled=extra,
            skipped=skipped,
        )


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
        TaskKind.REGRESSION, {"text": "sentence1", "text_pair": "sentence2", "label": "score"}, (), ("pearson", "spearman")
    ),
    "RTE": GlueTask(TaskKind.PAIR_CLASSIFICATION, {"text": "sentence1", "text_pair": "sentence2", "label": "label"}, _NLI),
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

    def _load_task(
        self,
        root: Path,
        task: str,
        *,
        dev_size: int | None,
        max_train_examples: int | None,
        merge_dev_into_train: bool,
        skip_bad_lines: bool,
        unlabelled: bool,
    ) -> TaskData:
        cfg = GLUE_TASKS[task]

        def read(split: str) -> tuple[list[Example], int]:
            return read_table_file(
                root / task / f"{split}.tsv",
                fmt="tsv",
                columns=cfg.columns,
                kind=cfg.kind,
                labels=cfg.labels,
                has_header=cfg.has_header,
                skip_bad_lines=skip_bad_lines,
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
        size = _check_sizes(task, root / task / f"{source}.tsv", len(pool), dev_size, max_train_examples, default)
        train, dev = hold_out(pool, size, seed=seed)
        return _finish(
            self.spec(task),
            pool,
            train,
            dev,
            test,
            merge_dev_into_train=merge_dev_into_train,
            max_train_examples=max_train_examples,
            skipped=skipped,
        )


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

    def _load_task(self, root: Path, task: str, *, dev_size: int | None, max_train_examples: int | None,
                   merge_dev_into_train: bool, skip_bad_lines: bool, unlabelled: bool) -> TaskData:
        del unlabelled
        if dev_size is not None:
            raise ConfigError("dev_size: conll2003 has a fixed dev file (eng.testa); leave dev_size unset")
        if max_train_examples is not None and (isinstance(max_train_examples, bool) or max_train_examples < 1):
            raise ConfigError(f"max_train_examples: expected an integer >= 1, got {max_train_examples!r}")
        splits, skipped = self._read(root, skip_bad_lines)
        labels = label_set(splits["train"], task)
        data = {split: to_examples(sents, task, labels, root / self.files[split]) for split, sents in splits.items()}
        train = data["train"] + data["dev"] if merge_dev_into_train else data["train"]
        if max_train_examples is not None:
            train = train[:max_train_examples]
        return TaskData(self.spec(task, labels), train, data["dev"], data["test"], skipped_lines=skipped,
                        input_group=self.name)


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (FduMtl(), Glue(), Conll2003())}


def get_benchmark(name: str) -> Benchmark:
    """The registered benchmark called `name` (ConfigError with a suggestion otherwise)."""
    try:
        return BENCHMARKS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"benchmark: unknown {name!r}{did_you_mean(str(name), list(BENCHMARKS))}; known: {', '.join(BENCHMARKS)}"
        ) from None


# --------------------------------------------------------------------------- custom tasks

_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_FILE_KEYS = ("train", "dev", "test", "unlabelled")


def load_custom_task(
    name: str,
    *,
    kind: TaskKind | str,
    files: Mapping[str, str | Path],
    columns: Mapping[str, str | int],
    fmt: str | None = None,
    labels: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    has_header: bool = True,
    dev_size: int | None = None,
    base_dir: str | Path | None = None,
    max_train_examples: int | None = None,
    merge_dev_into_train: bool = False,
    skip_bad_lines: bool = False,
) -> TaskData:
    """Build a TaskData from the user's own CSV/TSV/JSONL files.

    `files` needs "train" and "test", and may give "dev" and "unlabelled" (read with the
    text columns only). Relative paths resolve against `base_dir` (default: the current
    directory). `fmt` defaults to the train file's suffix. Without `labels`, a
    classification or tagging task takes the sorted unique labels of the train file.
    Without a dev file, dev is a fixed-seed hold-out of `dev_size` train examples (default
    10% of train, at most 1000); `dev_size` is ignored when a dev file is given.
    """
    try:
        kind = TaskKind(kind)
    except ValueError:
        kinds = [k.value for k in TaskKind]
        raise ConfigError(f"tasks.{name}.kind: unknown {kind!r}{did_you_mean(str(kind), kinds)}") from None
    unknown = sorted(set(files) - set(_FILE_KEYS))
    if unknown:
        raise ConfigError(f"tasks.{name}.files: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_FILE_KEYS)}")
    for key in ("train", "test"):
        if not files.get(key):
            raise ConfigError(f"tasks.{name}.files: a {key!r} file is required")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    paths = {key: (base / Path(p).expanduser()) for key, p in files.items() if p}
    if fmt is None:
        suffix = paths["train"].suffix.lower()
        if suffix not in _SUFFIX_FORMATS:
            raise ConfigError(
                f"tasks.{name}.format: cannot tell the format of {paths['train'].name}; "
                f"set format to one of {', '.join(TABLE_FORMATS)}"
            )
        fmt = _SUFFIX_FORMATS[suffix]
    if fmt not in TABLE_FORMATS:
        raise ConfigError(f"tasks.{name}.format: expected one of {', '.join(TABLE_FORMATS)}, got {fmt!r}")
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(missing[0], f"task {name!r}: file(s) not found: {', '.join(missing)}")

    if "label" not in columns:
        raise ConfigError(f"tasks.{name}.columns: a 'label' column is required")
    needs_labels = kind != TaskKind.REGRESSION
    if labels is not None and len(labels) > 0:
        labels = tuple(str(label) for label in labels)
        if not needs_labels:
            raise ConfigError(f"tasks.{name}.labels: regression tasks take no labels")
        if len(set(labels)) != len(labels):
            raise ConfigError(f"tasks.{name}.labels: duplicate labels in {list(labels)}")
    elif needs_labels:
        labels = infer_labels(paths["train"], fmt=fmt, columns=columns, kind=kind, has_header=has_header)
    else:
        labels = ()
    if kind.is_classification and len(labels) < 2:
        raise DataError(paths["train"], f"task {name!r} needs at least 2 classes, found only {list(labels)}")
    spec = TaskSpec(name, kind, tuple(labels), tuple(metrics) if metrics else ())

    def read(key: str, cols: Mapping[str, str | int]) -> tuple[list[Example], int]:
        return read_table_file(
            paths[key], fmt=fmt, columns=cols, kind=kind, labels=labels,
            has_header=has_header, skip_bad_lines=skip_bad_lines,
        )  # fmt: skip

    pool, skipped = read("train", columns)
    test, n = read("test", columns)
    skipped += n
    if "dev" in paths:
        dev, n = read("dev", columns)
        skipped += n
        _check_sizes(name, paths["train"], len(pool), None, max_train_examples)
        train, pool = pool, pool + dev
    else:
        if len(pool) == 1:
            raise DataError(paths["train"], f"task {name!r}: too few training examples to hold out a dev set")
        size = _check_sizes(name, paths["train"], len(pool), dev_size, max_train_examples, default_dev_size(len(pool)))
        train, dev = hold_out(pool, size)
    extra: list[Example] = []
    if "unlabelled" in paths:
        text_cols = {k: v for k, v in columns.items() if k in ("text", "text_pair", "tokens")}
        extra, n = read("unlabelled", text_cols)
        skipped += n
    return _finish(
        spec,
        pool,
        train,
        dev,
        test,
        merge_dev_into_train=merge_dev_into_train,
        max_train_examples=max_train_examples,
        unlabelled=extra,
        skipped=skipped,
    )
