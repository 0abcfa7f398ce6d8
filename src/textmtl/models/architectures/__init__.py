"""Multi-task architectures, selectable by name in config (`model.architecture`)."""

from .base import Architecture, TaskOutput
from .hard import HardSharing
from .separate import SeparateModels

__all__ = ["Architecture", "TaskOutput", "HardSharing", "SeparateModels"]
