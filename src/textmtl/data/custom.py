"""Custom tasks: the user's own files of any registered format, through a column mapping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import ConfigError, DataError
from ..registry import formats
from .formats import format_for_suffix
from .readers import infer_labels, read_table_file
from .sets.base import check_sizes, default_dev_size, did_you_mean, finish_task, hold_out
from .tasks import Example, TaskData, TaskKind, TaskSpec

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
        fmt = format_for_suffix(paths["train"])
        if fmt is None:
            raise ConfigError(
                f"tasks.{name}.format: cannot tell the format of {paths['train'].name}; "
                f"set format to one of {', '.join(formats.names())}"
            )
    if fmt not in formats:
        raise ConfigError(f"tasks.{name}.format: expected one of {', '.join(formats.names())}, got {fmt!r}")
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
        check_sizes(name, paths["train"], len(pool), None, max_train_examples)
        train, pool = pool, pool + dev
    else:
        if len(pool) == 1:
            raise DataError(paths["train"], f"task {name!r}: too few training examples to hold out a dev set")
        size = check_sizes(name, paths["train"], len(pool), dev_size, max_train_examples, default_dev_size(len(pool)))
        train, dev = hold_out(pool, size)
    extra: list[Example] = []
    if "unlabelled" in paths:
        text_cols = {k: v for k, v in columns.items() if k in ("text", "text_pair", "tokens")}
        extra, n = read("unlabelled", text_cols)
        skipped += n
    return finish_task(
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
