"""Typed run configuration (pydantic + YAML). Every error names the bad key.

`schema`: the sections and the schema assembled from the registries; `loading`: YAML, overrides,
errors; `identity`: which parts of a config decide what a run computes (the "same config" rule).
"""

from __future__ import annotations

from typing import Any

from .identity import run_identity, same_run
from .loading import _walk, apply_overrides, as_config, load_config, validate_config
from .schema import (
    TRACKING_BACKENDS,
    ConfigBase,
    CustomTaskConfig,
    DataConfig,
    MethodConfig,
    ModelConfigBase,
    OutputConfig,
    SamplingConfig,
    TextConfig,
    TrainingConfig,
    architecture_blocks,
    config_model,
    exported,
)

__all__ = [
    "TRACKING_BACKENDS",
    "Config",
    "ConfigBase",
    "CustomTaskConfig",
    "DataConfig",
    "MethodConfig",
    "ModelConfig",
    "ModelConfigBase",
    "OutputConfig",
    "SamplingConfig",
    "TextConfig",
    "TrainingConfig",
    "apply_overrides",
    "architecture_blocks",
    "as_config",
    "config_model",
    "load_config",
    "run_identity",
    "same_run",
    "validate_config",
    "_walk",
]


def __getattr__(name: str) -> Any:
    return exported(name)
