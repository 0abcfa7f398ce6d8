"""What every exporter shares: which run, which tasks, where to, and a folder written atomically."""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, TextmtlError
from ..registry import exporters
from ..training.run_directory import LoadedRun

__all__ = ["Exporter", "export_run", "exporters"]


class Exporter(ABC):
    """Writes a finished run in another format. Register a subclass with
    ``@exporters.register("name")``; `textmtl export RUN --format name` then uses it."""

    #: a one-line description of what lands in the output folder (`textmtl list exporters`)
    writes: str = ""

    @abstractmethod
    def export(self, run: LoadedRun, tasks: Sequence[str], out: Path) -> list[Path]:
        """Write `tasks` of `run` into the (new, empty) folder `out`; returns what it wrote."""


def export_run(
    run: LoadedRun | str | Path, fmt: str, out: str | Path, tasks: Sequence[str] | None = None, *, force: bool = False
) -> list[Path]:
    """Export `tasks` (default: all) of a finished run as `fmt` into `out`, written into
    `<out>.partial` and renamed when complete (an existing `out` needs `force`)."""
    from ..training.run_directory import load_run

    exporter = exporters.get(fmt)()
    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    names = list(tasks) if tasks else list(loaded.specs)
    unknown = [t for t in names if t not in loaded.specs]
    if unknown:
        raise ConfigError(f"--task: the run has no task '{unknown[0]}' (tasks: {', '.join(loaded.specs)})")
    target = Path(out)
    if target.exists() and not force:
        raise ConfigError(f"{target}: already exists (pass --force to replace it)")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        written = exporter.export(loaded, names, partial)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise TextmtlError(f"{target}: cannot write the export ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if target.exists():
        shutil.rmtree(target)
    partial.replace(target)
    return [target / p.relative_to(partial) for p in written]
