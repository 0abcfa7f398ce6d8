"""Custom tasks: the user's own data of any registered format, through a column mapping.

A task's splits come from files (`files: {train, dev, test, unlabelled}`: CSV, TSV, JSONL,
parquet, Arrow, a `Dataset.save_to_disk` folder; the format from the suffix unless `format` says),
from a `DatasetDict.save_to_disk` folder or an in-memory `datasets.Dataset` / `DatasetDict`
(`dataset`), and parts missing from the source are carved from train: `dev_fraction` /
`test_fraction` (seeded, stratified by label), else a dev hold-out of `dev_size` examples
(default 10% of train, at most 1000). `TaskData.sizes` records where every split came from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..registry import formats
from .formats import InMemoryDataset, format_for_suffix
from .formats.arrow import SAVED_DICT_FILE
from .readers import check_regular_file, infer_labels, read_table_file, reader_for
from .sets.base import SPLIT_SEED, carve, check_sizes, default_dev_size, did_you_mean, finish_task, hold_out
from .tasks import Example, TaskData, TaskKind, TaskSpec

_FILE_KEYS = ("train", "dev", "test", "unlabelled")
#: split names of a DatasetDict tried for each part, in order
SPLIT_NAMES = {"train": ("train",), "dev": ("validation", "dev", "valid"), "test": ("test",)}


def _dataset_splits(
    name: str, dataset: Any, splits: Mapping[str, str] | None, base: Path
) -> tuple[dict[str, Any], str | None]:
    """`{part: source}` of a `dataset` (a save_to_disk folder, a Dataset or a DatasetDict) and its format."""
    wanted = dict(splits or {})
    unknown = sorted(set(wanted) - {"train", "dev", "test"})
    if unknown:
        raise ConfigError(f"tasks.{name}.splits: unknown part(s) {', '.join(unknown)}; allowed: train, dev, test")
    if isinstance(dataset, (str, Path)):
        folder = base / Path(dataset).expanduser()
        if (folder / SAVED_DICT_FILE).is_file():
            try:
                available = list(json.loads((folder / SAVED_DICT_FILE).read_text(encoding="utf-8"))["splits"])
            except (OSError, ValueError, KeyError, TypeError):
                raise DataError(folder / SAVED_DICT_FILE, "not a DatasetDict.save_to_disk index") from None
            members: dict[str, Any] = {s: folder / s for s in available}
        elif (folder / "state.json").is_file():
            members = {"train": folder}
        elif not folder.exists():
            raise DataError(folder, f"task {name!r}: dataset folder not found")
        else:
            raise DataError(folder, f"task {name!r}: not a folder written by Dataset/DatasetDict.save_to_disk")
        fmt = "hf-disk"
    elif hasattr(dataset, "keys") and hasattr(dataset, "values"):  # a DatasetDict
        members = {str(k): InMemoryDataset(v, f"<Dataset {name}/{k}>") for k, v in dataset.items()}
        fmt = "dataset"
    else:
        members = {"train": InMemoryDataset(dataset, f"<Dataset {name}>")}
        fmt = "dataset"
    out: dict[str, Any] = {}
    for part, candidates in SPLIT_NAMES.items():
        if part in wanted:
            if wanted[part] not in members:
                hint = did_you_mean(wanted[part], list(members))
                raise ConfigError(
                    f"tasks.{name}.splits.{part}: no split {wanted[part]!r}{hint}; the dataset has {', '.join(members)}"
                )
            out[part] = members[wanted[part]]
        else:
            found = next((c for c in candidates if c in members), None)
            if found is not None:
                out[part] = members[found]
    if "train" not in out:
        raise ConfigError(
            f"tasks.{name}.splits.train: the dataset has no 'train' split ({', '.join(members)}); name one"
        )
    return out, fmt


def label_mapping(
    name: str, labels: Sequence[str] | Mapping[Any, Any] | None
) -> tuple[tuple[str, ...] | None, dict[str, int] | None]:
    """`labels` as (names, raw value -> index): a list gives the names (raw values are the names);
    `{neg: 0, pos: 1}` maps raw values to indices (names: the keys, by index); `{0: negative, 1:
    positive}` gives display names to raw values (in the order given)."""
    if labels is None or (not isinstance(labels, Mapping) and len(labels) == 0):
        return None, None
    if not isinstance(labels, Mapping):
        names = tuple(str(label) for label in labels)
        if len(set(names)) != len(names):
            raise ConfigError(f"tasks.{name}.labels: duplicate labels in {list(names)}")
        return names, None
    raw = {str(k).strip(): v for k, v in labels.items()}
    if all(isinstance(v, int) and not isinstance(v, bool) for v in raw.values()):
        indices = sorted(set(raw.values()))
        if indices != list(range(len(indices))):
            raise ConfigError(
                f"tasks.{name}.labels: the indices must be 0..{len(indices) - 1}, got {sorted(raw.values())}"
            )
        names = tuple(
            "/".join(k for k, v in raw.items() if v == i) for i in indices
        )  # several raw values may share one
        return names, {k: int(v) for k, v in raw.items()}
    if all(isinstance(v, str) for v in raw.values()):
        names = tuple(dict.fromkeys(str(v) for v in raw.values()))
        return names, {k: names.index(str(v)) for k, v in raw.items()}
    raise ConfigError(
        f"tasks.{name}.labels: a mapping takes raw label -> index ({{neg: 0, pos: 1}}) or raw label -> "
        f"display name ({{0: negative, 1: positive}}), got {dict(labels)!r}"
    )


def load_custom_task(
    name: str,
    *,
    kind: TaskKind | str,
    files: Mapping[str, str | Path] | None = None,
    columns: Mapping[str, str | int],
    fmt: str | None = None,
    labels: Sequence[str] | Mapping[Any, Any] | None = None,
    metrics: Sequence[str] | None = None,
    has_header: bool = True,
    dev_size: int | None = None,
    dev_fraction: float | None = None,
    test_fraction: float | None = None,
    split_seed: int = SPLIT_SEED,
    dataset: Any = None,
    splits: Mapping[str, str] | None = None,
    base_dir: str | Path | None = None,
    max_train_examples: int | None = None,
    merge_dev_into_train: bool = False,
    skip_bad_lines: bool = False,
) -> TaskData:
    """Build a TaskData from the user's own data (see the module docstring).

    `files` needs "train" (unless `dataset` gives it) and "test" (unless the dataset has a test
    split or `test_fraction` carves it), and may give "dev" and "unlabelled" (read with the text
    columns only). Relative paths resolve against `base_dir` (default: the current directory).
    Without `labels`, a classification or tagging task takes the ClassLabel names of the data,
    else the sorted unique labels of the train part.
    """
    try:
        kind = TaskKind(kind)
    except ValueError:
        kinds = [k.value for k in TaskKind]
        raise ConfigError(f"tasks.{name}.kind: unknown {kind!r}{did_you_mean(str(kind), kinds)}") from None
    files = dict(files or {})
    unknown = sorted(set(files) - set(_FILE_KEYS))
    if unknown:
        raise ConfigError(f"tasks.{name}.files: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_FILE_KEYS)}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    sources: dict[str, Any] = {}
    source_fmt: dict[str, str | None] = {}
    if dataset is not None:
        sources, dataset_fmt = _dataset_splits(name, dataset, splits, base)
        source_fmt = dict.fromkeys(sources, dataset_fmt)
        overlap = sorted(set(sources) & {k for k, v in files.items() if v})
        if overlap:
            raise ConfigError(f"tasks.{name}: {', '.join(overlap)} come from both `dataset` and `files`; give one")
    elif splits:
        raise ConfigError(f"tasks.{name}.splits: names splits of a `dataset`, and none is given")
    sources.update({key: (base / Path(p).expanduser()) for key, p in files.items() if p})
    if "train" not in sources:
        raise ConfigError(f"tasks.{name}.files: a 'train' file is required (or a `dataset`)")
    if "test" not in sources and test_fraction is None:
        raise ConfigError(f"tasks.{name}.files: a 'test' file is required (or test_fraction to carve it from train)")
    if "test" in sources and test_fraction is not None:
        raise ConfigError(f"tasks.{name}.test_fraction: the task has a test part already; leave one of them out")
    if "dev" in sources and (dev_fraction is not None or dev_size is not None):
        option = "dev_fraction" if dev_fraction is not None else "dev_size"
        raise ConfigError(f"tasks.{name}.{option}: the task has a dev part already (it would be ignored); leave it out")
    if dev_fraction is not None and dev_size is not None:
        raise ConfigError(f"tasks.{name}: give dev_fraction or dev_size, not both")
    paths = {k: v for k, v in sources.items() if isinstance(v, Path)}
    for key in ("test", "dev"):
        if key in paths and "train" in paths and os.path.realpath(paths[key]) == os.path.realpath(paths["train"]):
            raise ConfigError(
                f"tasks.{name}.files.{key}: the same file as train ({paths[key].name}); scores on training data "
                f"say nothing: give another file, or {key}_fraction to carve it from train"
            )
    for p in paths.values():
        if os.path.lexists(p) and not p.is_dir():
            check_regular_file(p)  # a symlink loop, a FIFO or a device: said as such, not "not found"
    for key, path in paths.items():  # `format` applies to every file; else each file's suffix tells
        found = fmt or format_for_suffix(path)
        if found is None:
            raise ConfigError(
                f"tasks.{name}.format: cannot tell the format of {path.name}; "
                f"set format to one of {', '.join(n for n in formats.names() if n != 'dataset')}"
            )
        if found not in formats:
            raise ConfigError(f"tasks.{name}.format: expected one of {', '.join(formats.names())}, got {found!r}")
        source_fmt[key] = found
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise DataError(missing[0], f"task {name!r}: file(s) not found: {', '.join(missing)}")

    if "label" not in columns:
        raise ConfigError(f"tasks.{name}.columns: a 'label' column is required")
    needs_labels = kind != TaskKind.REGRESSION
    names, index = label_mapping(name, labels)
    if names is not None and not needs_labels:
        raise ConfigError(f"tasks.{name}.labels: regression tasks take no labels")
    if names is None and needs_labels:
        class_names = reader_for(str(source_fmt["train"])).label_names(sources["train"], columns["label"])
        if class_names is not None:  # a ClassLabel: the data holds indices, the features the names
            names, index = class_names, {str(i): i for i in range(len(class_names))}
        else:
            names = infer_labels(
                sources["train"], fmt=str(source_fmt["train"]), columns=columns, kind=kind, has_header=has_header
            )
    names = names or ()
    if kind.is_classification and len(names) < 2:
        raise DataError(sources["train"], f"task {name!r} needs at least 2 classes, found only {list(names)}")
    spec = TaskSpec(name, kind, tuple(names), tuple(metrics) if metrics else ())

    def read(key: str, cols: Mapping[str, str | int]) -> tuple[list[Example], int]:
        return read_table_file(
            sources[key], fmt=str(source_fmt[key]), columns=cols, kind=kind, labels=names,
            has_header=has_header, skip_bad_lines=skip_bad_lines, label_index=index,
        )  # fmt: skip

    pool, skipped = read("train", columns)
    origin = {"train": str(sources["train"])}
    stratify = kind.is_classification
    if "test" in sources:
        test, n = read("test", columns)
        skipped += n
        origin["test"] = str(sources["test"])
    else:
        assert test_fraction is not None
        pool, test = _carve(name, pool, test_fraction, split_seed, stratify, "test")
        origin["test"] = f"carved from train: {test_fraction:g}{', stratified' if stratify else ''}, seed {split_seed}"
    if "dev" in sources:
        dev, n = read("dev", columns)
        skipped += n
        check_sizes(name, Path(sources["train"]), len(pool), None, max_train_examples)
        train, pool = pool, pool + dev
        origin["dev"] = str(sources["dev"])
    elif dev_fraction is not None:
        train, dev = _carve(name, pool, dev_fraction, split_seed + 1, stratify, "dev")
        origin["dev"] = f"carved from train: {dev_fraction:g}{', stratified' if stratify else ''}, seed {split_seed}"
    else:
        if len(pool) == 1:
            raise DataError(sources["train"], f"task {name!r}: too few training examples to hold out a dev set")
        size = check_sizes(
            name, Path(sources["train"]), len(pool), dev_size, max_train_examples, default_dev_size(len(pool))
        )
        train, dev = hold_out(pool, size)
        rule = "dev_size" if dev_size is not None else "10%, max 1000"
        origin["dev"] = f"held out of train: {size} examples ({rule}), seed {SPLIT_SEED}"
    extra: list[Example] = []
    if "unlabelled" in sources:
        text_cols = {k: v for k, v in columns.items() if k in ("text", "text_pair", "tokens")}
        extra, n = read("unlabelled", text_cols)
        skipped += n
    task = finish_task(
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
    task.origin = origin
    return task


def _carve(
    name: str, pool: list[Example], fraction: float, seed: int, stratify: bool, part: str
) -> tuple[list[Example], list[Example]]:
    try:
        return carve(pool, fraction, seed, stratify)
    except ConfigError as exc:
        raise ConfigError(f"tasks.{name}.{part}_fraction: {exc}") from None
