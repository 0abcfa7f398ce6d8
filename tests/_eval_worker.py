"""Worker of tests/test_parallel.py (sharded evaluation), started by torchrun: scores the tasks of
`eval_problem()` with an Evaluator sharded over the processes and writes rank 0's metrics.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/_eval_worker.py OUT.json
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textmtl.config import as_config  # noqa: E402
from textmtl.data.loading import encode_tasks  # noqa: E402
from textmtl.data.tasks import Example, TaskData, TaskKind, TaskSpec  # noqa: E402
from textmtl.models.build import build_model, build_text_encoder  # noqa: E402
from textmtl.training.distributed import process_group  # noqa: E402
from textmtl.training.evaluation import Evaluator  # noqa: E402

WORDS = "good bad fine awful great boring fun dull plot film book read".split()
TAGS = ("O", "B-PER", "I-PER", "B-LOC")


def eval_problem(n: int = 333):
    """Three tasks of every metric family, and a seeded random model over them."""
    rng = random.Random(0)

    def sentence() -> list[str]:
        return [rng.choice(WORDS) for _ in range(rng.randint(1, 12))]

    cls = [Example(" ".join(sentence()), rng.randrange(3)) for _ in range(n)]
    reg = [Example(" ".join(sentence()), rng.uniform(0, 5)) for _ in range(n)]
    tag = []
    for _ in range(n):
        tokens = tuple(sentence())
        tag.append(Example(" ".join(tokens), tuple(rng.randrange(len(TAGS)) for _ in tokens), None, tokens))
    tasks = [
        TaskData(TaskSpec("cls", TaskKind.CLASSIFICATION, ("a", "b", "c"), ("mcc", "accuracy", "f1")), cls, cls, cls),
        TaskData(TaskSpec("reg", TaskKind.REGRESSION, (), ("pearson", "spearman")), reg, reg, reg),
        TaskData(TaskSpec("tag", TaskKind.TAGGING, TAGS, ("entity_f1", "token_accuracy")), tag, tag, tag),
    ]
    cfg = as_config({"model": {"encoder": {"type": "bilstm", "glove": False, "embedding_dim": 8, "hidden_size": 8}},
                     "training": {"device": "cpu"}})
    text_encoder = build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    torch.manual_seed(0)
    model = build_model(cfg.model, [t.spec for t in tasks], text_encoder, seed=0)
    return encode_tasks(tasks, text_encoder), model, text_encoder.pad_id


def main() -> None:
    out = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 333
    torch.set_num_threads(1)
    with process_group("cpu") as sync:
        encoded, model, pad_id = eval_problem(n)
        evaluator = Evaluator(encoded, "test", 16, pad_id, "cpu", sync)
        rounds = []
        for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 1):
            sync.all_gather_object(None)  # start together
            start = time.perf_counter()
            metrics = evaluator(model)
            rounds.append(time.perf_counter() - start)
        seconds = sorted(rounds)[len(rounds) // 2]
        if sync.is_main:
            out.write_text(json.dumps({"metrics": metrics, "seconds": seconds}))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # past gloo's teardown, which sometimes aborts (see textmtl.cli.exit_now)
