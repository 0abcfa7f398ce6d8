"""Multi-task architectures, selectable by name in config (`model.architecture`)."""

from .adversarial import AdversarialSharedPrivate
from .base import Architecture, TaskOutput
from .graph_complete import CompleteGraph
from .graph_star import StarGraph
from .hard import HardSharing
from .hierarchical import Hierarchical
from .mmoe import MMoE
from .separate import SeparateModels
from .shared_private import SharedPrivate

__all__ = ["Architecture", "TaskOutput", "HardSharing", "SeparateModels", "SharedPrivate", "AdversarialSharedPrivate",
           "MMoE", "CompleteGraph", "StarGraph", "Hierarchical"]
