"""textmtl: multi-task learning for NLP, with conflicts between task gradients resolved."""

from .api import RunResult, evaluate, iter_predictions, predict, train
from .config import Config, load_config
from .data.tasks import Example, TaskData, TaskKind, TaskSpec
from .errors import ConfigError, DataError, ModelError, TextmtlError, TrainingError
from .gradients import backward

__version__ = "0.1.0"

__all__ = ["backward", "train", "evaluate", "predict", "iter_predictions", "RunResult", "Config", "load_config", "Example",
           "TaskData", "TaskKind", "TaskSpec", "TextmtlError", "ConfigError", "DataError", "ModelError",
           "TrainingError"]
