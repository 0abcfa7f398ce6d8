"""textmtl: multi-task learning for NLP, with conflicts between task gradients resolved.

The public names below are imported on first use, so that `import textmtl` (and the CLI's
`--help`) does not load torch, transformers or scipy until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "backward": "textmtl.gradients",
    "Backward": "textmtl.gradients",
    "train": "textmtl.api",
    "evaluate": "textmtl.api",
    "predict": "textmtl.api",
    "iter_predictions": "textmtl.api",
    "RunResult": "textmtl.api",
    "Config": "textmtl.config",
    "load_config": "textmtl.config",
    "Example": "textmtl.data.tasks",
    "TaskData": "textmtl.data.tasks",
    "TaskKind": "textmtl.data.tasks",
    "TaskSpec": "textmtl.data.tasks",
    "TextmtlError": "textmtl.errors",
    "ConfigError": "textmtl.errors",
    "DataError": "textmtl.errors",
    "ModelError": "textmtl.errors",
    "TrainingError": "textmtl.errors",
}

__all__ = [
    "backward",
    "Backward",
    "train",
    "evaluate",
    "predict",
    "iter_predictions",
    "RunResult",
    "Config",
    "load_config",
    "Example",
    "TaskData",
    "TaskKind",
    "TaskSpec",
    "TextmtlError",
    "ConfigError",
    "DataError",
    "ModelError",
    "TrainingError",
]

if TYPE_CHECKING:
    from .api import RunResult, evaluate, iter_predictions, predict, train
    from .config import Config, load_config
    from .data.tasks import Example, TaskData, TaskKind, TaskSpec
    from .errors import ConfigError, DataError, ModelError, TextmtlError, TrainingError
    from .gradients import Backward, backward


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        if name in ("api", "config", "gradients"):  # `textmtl.api` as an attribute, as before
            return importlib.import_module(f"textmtl.{name}")
        raise AttributeError(f"module 'textmtl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
