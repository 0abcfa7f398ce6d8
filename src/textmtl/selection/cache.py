"""On-disk cache of head-importance matrices, one entry per (task, encoder, seed, settings).

An entry is a directory `<root>/<task>-<key16>/` holding `importance.safetensors` (the task,
raw and instance matrices) and `meta.json` (the settings it was keyed on and the seconds its
computation took). It is written into `<entry>.partial/` and renamed when complete, so an
interrupted computation never looks finished. A per-entry lock file lets several processes
share one cache: each computes an entry at most once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from ..files import file_lock, sha256_json
from .head_importance import HeadImportance

CACHE_FORMAT = "textmtl-gradts-importance/1"


def settings_key(settings: dict[str, Any]) -> str:
    """sha256 of the settings as canonical JSON."""
    return sha256_json({"format": CACHE_FORMAT, **settings})


_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")


class ImportanceCache:
    """`get_or_compute(task, settings, compute)` returns the cached entry or computes and stores it;
    `hits` and `misses` count what this object served."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def entry_path(self, task: str, settings: dict[str, Any]) -> Path:
        return self.root / f"{_UNSAFE.sub('_', task)}-{settings_key({'task': task, **settings})[:16]}"

    def load(self, task: str, settings: dict[str, Any]) -> tuple[HeadImportance, dict[str, Any]] | None:
        path = self.entry_path(task, settings)
        if not (path / "meta.json").is_file() or not (path / "importance.safetensors").is_file():
            return None
        tensors = load_file(str(path / "importance.safetensors"))
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        return HeadImportance(tensors["task"], tensors["raw"], tensors["instances"]), meta

    def store(self, task: str, settings: dict[str, Any], importance: HeadImportance, meta: dict[str, Any]) -> Path:
        path = self.entry_path(task, settings)
        partial = path.with_name(path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            save_file(
                {
                    "task": np.ascontiguousarray(importance.task),
                    "raw": np.ascontiguousarray(importance.raw),
                    "instances": np.ascontiguousarray(importance.instances),
                },
                str(partial / "importance.safetensors"),
            )
            full = {
                "format": CACHE_FORMAT,
                "task": task,
                "key": settings_key({"task": task, **settings}),
                "settings": settings,
                **meta,
            }
            (partial / "meta.json").write_text(json.dumps(full, indent=2, default=str), encoding="utf-8")
            if path.exists():  # written meanwhile by another process: keep theirs
                shutil.rmtree(partial)
            else:
                os.replace(partial, path)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return path

    @contextmanager
    def lock(self, task: str, settings: dict[str, Any], *, blocking: bool = True) -> Iterator[bool]:
        """Hold the entry's lock file; yields False (without waiting) if `blocking` is off and
        another process holds it."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.entry_path(task, settings)
        with file_lock(path.with_name(path.name + ".lock"), blocking=blocking) as held:
            yield held

    def get_or_compute(
        self,
        task: str,
        settings: dict[str, Any],
        compute: Callable[[], tuple[HeadImportance, dict[str, Any]]],
        *,
        blocking: bool = True,
    ) -> tuple[HeadImportance, dict[str, Any], bool] | None:
        """(importance, meta, hit). None only when `blocking` is off and another process is
        computing this entry right now."""
        found = self.load(task, settings)
        if found is not None:
            self.hits += 1
            return (*found, True)
        with self.lock(task, settings, blocking=blocking) as held:
            if not held:
                return None
            found = self.load(task, settings)  # finished by another process while we waited
            if found is not None:
                self.hits += 1
                return (*found, True)
            importance, meta = compute()
            self.store(task, settings, importance, meta)
            self.misses += 1
            loaded = self.load(task, settings)
            assert loaded is not None
            return (*loaded, False)
