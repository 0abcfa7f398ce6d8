"""The Python API; the CLI is a thin layer over these functions.

    import textmtl
    result = textmtl.train("configs/fdu-mtl-quick.yaml")          # or a Config / dict
    result = textmtl.train({"data": {"tasks": ["books", "dvd"]}, "method": "ls"})
    textmtl.evaluate(result.path)
    textmtl.predict(result.path, "books", ["a great read", "dull and long"])

A facade: training lives in `training.lifecycle` (prepare -> run -> write), using a finished run in
`training.prediction`, reading tasks in `data.loading`.
"""

from __future__ import annotations

from .config import as_config
from .data.loading import encode_tasks, load_tasks
from .errors import TextmtlError
from .training.lifecycle import RunResult, check_inputs, final_metrics, train
from .training.prediction import PREDICT_CHUNK_BATCHES, evaluate, iter_predictions, predict, prediction_spec
from .training.resume import find_resumable, resume_config

__all__ = [
    "RunResult",
    "train",
    "evaluate",
    "predict",
    "iter_predictions",
    "load_tasks",
    "as_config",
    "TextmtlError",
    "check_inputs",
    "encode_tasks",
    "final_metrics",
    "find_resumable",
    "prediction_spec",
    "resume_config",
    "PREDICT_CHUNK_BATCHES",
]
