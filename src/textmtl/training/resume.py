"""Resuming an interrupted run: finding its `.partial` directory and checking a given config against its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import ConfigBase as Config
from ..config import as_config, validate_config
from ..errors import ConfigError, TrainingError
from ..files import atomic_write_text
from .checkpoint import has_checkpoint


def find_resumable(path: str | Path) -> Path:
    """The `.partial` directory of an interrupted run holding a checkpoint (or of a finished run
    killed while it was being published); one-line errors otherwise."""
    from .run_directory import is_finished

    p = Path(path)
    partial = p if p.name.endswith(".partial") else p.with_name(p.name + ".partial")
    if has_checkpoint(partial / "checkpoint") or is_finished(partial):
        return partial
    final = partial.with_name(partial.name.removesuffix(".partial"))
    if (final / "metrics.json").exists():
        raise TrainingError(f"--resume: {final} is a finished run; nothing to resume")
    if not partial.is_dir():
        raise TrainingError(f"--resume: no interrupted run at {partial}")
    raise TrainingError(
        f"--resume: {partial} has no checkpoint (stopped before its first one, or training.checkpoint_every was 0)"
    )


def resume_config(partial: Path, config: Config | dict | str | Path | None, overrides: list[str] | None) -> Config:
    """The run's saved config; a given config (or overrides) must agree with it, except in
    `training.num_threads`, which a resumed run may change (the given value is used and written
    to the run's config.yaml; results then match an uninterrupted run up to float rounding)."""
    import yaml

    source = partial / "config.yaml"
    saved = validate_config(yaml.safe_load(source.read_text(encoding="utf-8")), str(source))
    if config is None and not overrides:
        return saved
    given = as_config(config if config is not None else saved.model_dump(mode="json"), overrides)
    saved_dump, given_dump = saved.model_dump(mode="json"), given.model_dump(mode="json")
    saved_dump["training"]["num_threads"] = given_dump["training"]["num_threads"]
    if given_dump["training"]["device"] == "auto":  # config.yaml holds the device `auto` resolved to
        given_dump["training"]["device"] = saved_dump["training"]["device"]
    diff = _first_difference(saved_dump, given_dump)
    if diff is not None:
        key, a, b = diff
        raise ConfigError(
            f"--resume: '{key}' differs from the run's config.yaml (run: {a!r}, given: {b!r}); "
            "a resumed run keeps its own config"
        )
    if given.training.num_threads != saved.training.num_threads:
        saved.training.num_threads = given.training.num_threads
        atomic_write_text(source, saved.to_yaml())
    return saved


def _first_difference(a: Any, b: Any, key: str = "") -> tuple[str, Any, Any] | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            found = _first_difference(a.get(k), b.get(k), f"{key}.{k}" if key else str(k))
            if found is not None:
                return found
        return None
    return None if a == b else (key or "(config)", a, b)
