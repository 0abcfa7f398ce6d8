"""A tiny deterministic multi-task problem and a Trainer for it, shared by the accumulation tests
and the 2-process torchrun worker (`tests/_ddp_worker.py`), so both build bit-identical models."""

from __future__ import annotations

import random

import torch

from textmtl.api import encode_tasks
from textmtl.config import Config
from textmtl.data.tasks import Example, TaskData, TaskKind, TaskSpec
from textmtl.methods import make_method
from textmtl.models.build import build_model, build_text_encoder
from textmtl.training.lifecycle import seed_everything
from textmtl.training.trainer import Trainer

WORDS = "good great fine bad awful poor the a movie book plot story it was very not".split()
TASKS = ("alpha", "beta", "gamma")


def tiny_tasks(seed: int = 0) -> list[TaskData]:
    """Three binary tasks (each keyed on its own word) and a word-tagging task."""
    rng = random.Random(seed)
    out = []
    for k, name in enumerate(TASKS):
        key = WORDS[k]

        def example() -> Example:
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 9))]
            return Example(" ".join(words), int(key in words))

        out.append(TaskData(TaskSpec(name, TaskKind.CLASSIFICATION, ("no", "yes")),
                            [example() for _ in range(37)], [example() for _ in range(12)],
                            [example() for _ in range(12)]))

    def tagged() -> Example:
        words = tuple(rng.choice(WORDS) for _ in range(rng.randint(2, 9)))
        return Example(" ".join(words), tuple(int(w in ("good", "great")) for w in words), tokens=words)

    out.append(TaskData(TaskSpec("tags", TaskKind.TAGGING, ("O", "P")), [tagged() for _ in range(29)],
                        [tagged() for _ in range(10)], [tagged() for _ in range(10)]))
    return out


TEXTCNN_MODEL = {"encoder": {"type": "textcnn", "embedding_dim": 16, "glove": False, "num_filters": 8,
                             "kernel_sizes": [2, 3], "dropout": 0.0}}


def config(method: str, *, accumulation: int = 1, precision: str = "fp32", batch_size: int = 8,
           steps: int = 12, model: dict | None = None, **method_params) -> Config:
    """`model`: the `model:` block (default: a small TextCNN with hard sharing)."""
    return Config.model_validate({
        "data": {"custom_tasks": [{"name": "unused", "files": {"train": "x.csv", "test": "x.csv"}}]},
        "model": model or TEXTCNN_MODEL,
        "method": {"name": method, **method_params},
        "training": {"steps": steps, "batch_size": batch_size, "lr": 0.01, "eval_every": 1000,
                     "accumulation_steps": accumulation, "precision": precision},
    })


def make_trainer(cfg: Config, sync=None, seed: int = 3) -> Trainer:
    tasks = tiny_tasks()
    text_encoder = build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    encoded = encode_tasks(tasks, text_encoder)
    seed_everything(seed)
    model = build_model(cfg.model, [t.spec for t in tasks], text_encoder, seed=seed)
    method = make_method(cfg.method.name, cfg.method.params)
    return Trainer(model, method, encoded, cfg.training, seed=seed, pad_id=text_encoder.pad_id, sync=sync)


def train_steps(trainer: Trainer) -> dict[str, torch.Tensor]:
    """Run every planned step (no evaluation) and return the parameters."""
    for step in range(1, trainer.total_steps + 1):
        trainer.step(step)
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
