"""Multi-task architectures, selectable by name in config (`model.architecture`).

Each module registers its architecture with ``textmtl.registry.architectures`` together with
the pydantic model of its settings block.
"""

from ._graph import GraphConfig
from .adversarial import AdversarialConfig, AdversarialSharedPrivate
from .base import Architecture, ArchitectureSettings, BuildContext, TaskOutput, TrainingJob
from .graph_complete import CompleteGraph
from .graph_star import StarGraph
from .hard import HardSharing
from .hierarchical import Hierarchical, HierarchicalConfig
from .mmoe import MMoE, MMoEConfig
from .modular import Modular, ModularConfig
from .separate import SeparateModels
from .shared_private import SharedPrivate, SharedPrivateConfig

__all__ = [
    "Architecture",
    "ArchitectureSettings",
    "BuildContext",
    "TaskOutput",
    "TrainingJob",
    "HardSharing",
    "SeparateModels",
    "SharedPrivate",
    "AdversarialSharedPrivate",
    "MMoE",
    "Modular",
    "CompleteGraph",
    "StarGraph",
    "Hierarchical",
    "SharedPrivateConfig",
    "AdversarialConfig",
    "MMoEConfig",
    "ModularConfig",
    "GraphConfig",
    "HierarchicalConfig",
]
