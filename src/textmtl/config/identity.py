"""Which parts of a run config decide what the run computes: the one "same config" rule.

The grid runner re-uses a finished run (or resumes a `.partial` one) only if it was trained with
the same config, and GradTS keys its cached runs and importance matrices on the same identity.
Left out: the run's name and output settings, the thread count, the device, the checkpoint
cadence and where the data folder is; custom task files are compared by resolved path. Options
added after runs were first cached count only when set to something other than their default
(the behaviour before they existed), so adding an option keeps earlier runs valid.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

NOT_COMPUTATION = (
    ("name",),
    ("output",),
    ("training", "num_threads"),
    ("training", "device"),
    ("training", "checkpoint_every"),
    ("data", "data_dir"),
)
COUNTED_UNLESS_DEFAULT = ((("data", "subsample"), "first"),)


def run_identity(config: Any) -> dict[str, Any]:
    """The parts of a config (a validated Config, or a dict that validates) that change what it computes."""
    from .loading import validate_config
    from .schema import ConfigBase

    validated = config if isinstance(config, ConfigBase) else validate_config(copy.deepcopy(config), "config")
    dumped = validated.model_dump(mode="json")
    for path in NOT_COMPUTATION:
        node = dumped
        for part in path[:-1]:
            node = node.get(part, {})
        node.pop(path[-1], None)
    for (section, key), default in COUNTED_UNLESS_DEFAULT:
        if dumped.get(section, {}).get(key, default) == default:
            dumped.get(section, {}).pop(key, None)
    for task in dumped.get("data", {}).get("custom_tasks", []):
        task["files"] = {k: str(Path(v).resolve()) for k, v in task["files"].items()}
    return dumped


def same_run(a: Any, b: Any) -> bool:
    """Do configs `a` and `b` compute the same run?"""
    return run_identity(a) == run_identity(b)
