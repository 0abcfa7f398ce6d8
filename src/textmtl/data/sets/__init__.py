"""Known data sets (`data.benchmark`), one module each, registered with ``textmtl.registry.benchmarks``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ...registry import benchmarks
from .base import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    SPLIT_SEED,
    Benchmark,
    LoadOptions,
    carve,
    check_sizes,
    default_dev_size,
    describe_files,
    did_you_mean,
    finish_task,
    hold_out,
    resolve_data_dir,
    sample_in_order,
)
from .conll2003 import Conll2003
from .fdu_mtl import AMAZON_14, FDU_MTL_DOMAINS, FduMtl
from .glue import GLUE_TASKS, Glue, GlueTask
from .newsgroups import TOPIC_TASKS, Newsgroups

_INSTANCES: dict[str, Benchmark] = {}


def get_benchmark(name: str) -> Benchmark:
    """The registered data set called `name` (ConfigError with a suggestion otherwise); one instance
    per name, so a data set's caches (CoNLL-2003's parsed files) are shared."""
    cls = benchmarks.get(name)
    if name not in _INSTANCES or type(_INSTANCES[name]) is not cls:
        _INSTANCES[name] = cls()
    return _INSTANCES[name]


class _Instances(Mapping[str, Benchmark]):
    def __getitem__(self, name: str) -> Benchmark:
        if name not in benchmarks:
            raise KeyError(name)
        return get_benchmark(name)

    def __iter__(self) -> Iterator[str]:
        return iter(benchmarks.names())

    def __len__(self) -> int:
        return len(benchmarks)


#: Every registered data set by name (instances; a live view of the registry).
BENCHMARKS: Mapping[str, Benchmark] = _Instances()

__all__ = [
    "AMAZON_14",
    "BENCHMARKS",
    "Benchmark",
    "LoadOptions",
    "Conll2003",
    "DATA_DIR_ENV",
    "DEFAULT_DATA_DIR",
    "FDU_MTL_DOMAINS",
    "FduMtl",
    "GLUE_TASKS",
    "Glue",
    "GlueTask",
    "Newsgroups",
    "TOPIC_TASKS",
    "SPLIT_SEED",
    "check_sizes",
    "default_dev_size",
    "describe_files",
    "did_you_mean",
    "finish_task",
    "get_benchmark",
    "carve",
    "hold_out",
    "resolve_data_dir",
    "sample_in_order",
]
