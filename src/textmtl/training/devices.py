"""Where a run trains: `training.device` resolved (`auto`) and checked against the machine."""

from __future__ import annotations

import torch

from ..errors import ConfigError

__all__ = ["check_device_available", "resolve_device"]


def resolve_device(device: str) -> str:
    """`auto` becomes `cuda` when torch sees a CUDA device, else `mps` when available, else `cpu`;
    any other value is returned as given (`check_device_available` tells whether it exists)."""
    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def check_device_available(device: str) -> None:
    """One line (ConfigError) when the configured device is not on this machine, before anything is written."""
    kind, _, index = device.partition(":")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"training.device: '{device}' is not available (no CUDA device visible to torch "
                f"{torch.__version__}); use cpu"
            )
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise ConfigError(
                f"training.device: '{device}' does not exist ({count} CUDA device(s): cuda:0..cuda:{count - 1})"
            )
    elif kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("training.device: 'mps' is not available on this machine; use cpu")
