"""The framework's own cost of one training step of the fdu-mtl-16-minilm grid's structure.

On one H200 an uncapped multi-task step ran at about 18 TFLOP/s (docs/RESULTS.md §15), far below the
GPU's limit. This benchmark measures the part of a step that does not shrink with a faster device:
the same trainer, method, optimizer and 16 domains x 16 reviews through a 6-layer BERT, but so narrow
(hidden 12, texts cut at 8 word pieces) that the arithmetic is negligible. What is left is Python,
module calls and operator dispatch, which a GPU step pays too (plus a kernel launch per operator).

One trainer per method is built in this process on the real FDU-MTL data (the suite's `full`
config of seed 1), and `Trainer.step` is timed round-robin: each round times `--steps` steps of
every method in turn; the row is the median over rounds of ms per step. `ls_repeat` is a second
`ls` trainer: it does the same work as `ls`, so the gap between the two shows the noise.

    python benchmarks/framework_overhead.py [--methods ls,cagrad] [--rounds 7] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_info  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "framework_overhead.json"


def narrow_bert(folder: Path, tokenizer_folder: Path) -> Path:
    """MiniLM's depth and tokenizer, width 12 (one dimension per head), random weights."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder), local_files_only=True)
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=12,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=12,
    )
    BertModel(config).save_pretrained(str(folder))
    return folder


def make_trainer(method: str, model_folder: Path, data_dir: str | None):
    """The grid's `full` run of seed 1 with the narrow BERT, ready to step (no run directory)."""
    from textmtl.benchmarking import resolve_suite
    from textmtl.config import as_config
    from textmtl.data.loading import encode_tasks, load_tasks
    from textmtl.methods import make_method
    from textmtl.models.build import build_model, build_text_encoder
    from textmtl.training.lifecycle import seed_everything
    from textmtl.training.trainer import Trainer

    raw = resolve_suite("fdu-mtl-16-minilm").run_config("full", method, 1)
    raw["model"]["encoder"]["path"] = str(model_folder)
    raw["text"]["max_length"] = 8
    raw["training"].update({"device": "cpu", "num_threads": 1})
    cfg = as_config(raw)
    tasks = load_tasks(cfg, data_dir)
    text_encoder = build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    encoded = encode_tasks(tasks, text_encoder)
    seed_everything(cfg.seed)
    model = build_model(cfg.model, [t.spec for t in tasks], text_encoder, seed=cfg.seed)
    return Trainer(
        model,
        make_method(cfg.method.name, cfg.method.params),
        encoded,
        cfg.training,
        seed=cfg.seed,
        pad_id=text_encoder.pad_id,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="ls,cagrad,nash_mtl,getmtl")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5, help="steps of each method per round")
    parser.add_argument("--data-dir", default=None, help="default: TEXTMTL_DATA_DIR")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    from textmtl.models.encoders.transformer import default_model_folder

    torch.set_num_threads(1)
    labels = ["ls", "ls_repeat", *[m for m in args.methods.split(",") if m != "ls"]]
    with tempfile.TemporaryDirectory() as tmp:
        model = narrow_bert(Path(tmp) / "narrow-bert", default_model_folder())
        trainers = {
            label: make_trainer("ls" if label == "ls_repeat" else label, model, args.data_dir) for label in labels
        }
    counters = dict.fromkeys(labels, 0)
    for label in labels:  # warm-up step
        counters[label] += 1
        trainers[label].step(counters[label])
    samples: dict[str, list[float]] = {label: [] for label in labels}
    for _ in range(args.rounds):
        for label in labels:
            start = time.perf_counter()
            for _ in range(args.steps):
                counters[label] += 1
                trainers[label].step(counters[label])
            samples[label].append(1000 * (time.perf_counter() - start) / args.steps)
    ls_ms = statistics.median(samples["ls"])
    rows = {
        label: {
            "ms_per_step": round(statistics.median(v), 1),
            "x_ls": round(statistics.median(v) / ls_ms, 3),
            "samples_ms": [round(x, 1) for x in v],
        }
        for label, v in samples.items()
    }
    for label, row in rows.items():
        print(f"{label}: {row['ms_per_step']} ms per step ({row['x_ls']}x ls)", flush=True)
    result = {
        "benchmark": "framework_overhead",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/framework_overhead.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(1),
        "setup": {
            "suite": "fdu-mtl-16-minilm, variant full, seed 1 (16 domains x 16 reviews a step)",
            "encoder": "BERT, 6 layers, hidden 12, 12 heads, intermediate 12, random weights, MiniLM's tokenizer",
            "max_length": 8,
            "rounds": args.rounds,
            "steps_per_round": args.steps,
            "threads": 1,
            "timing": "Trainer.step round-robin over the rows, one warm-up step each; median over rounds",
        },
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
