"""The framework's own cost of one training step of the fdu-mtl-16-minilm grid's structure.

On one H200 an uncapped multi-task step ran at about 18 TFLOP/s (docs/RESULTS.md §15), far below the
GPU's limit. This benchmark measures the part of a step that does not shrink with a faster device:
the same trainer, method, optimizer and 16 domains x 16 reviews through a 6-layer BERT, but so narrow
(hidden 12, texts cut at 8 word pieces) that the arithmetic is negligible. What is left is Python,
module calls and operator dispatch, which a GPU step pays too (plus a kernel launch per operator).

Each method trains twice in this process on the real FDU-MTL data, for 5 and for 45 steps (no
evaluation between); the per-step cost is the difference of the two wall times over 40 steps, so
the fixed costs (tokenising, building the model, the final evaluation) cancel.

    python benchmarks/framework_overhead.py [--methods ls,cagrad] [--out benchmarks/results/framework_overhead.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_info  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "framework_overhead.json"
SHORT, LONG = 5, 45


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


def train_seconds(method: str, steps: int, model: Path, data_dir: str | None) -> float:
    import textmtl
    from textmtl.benchmarking import resolve_suite

    cfg = resolve_suite("fdu-mtl-16-minilm").run_config("full", method, 1)
    cfg["model"]["encoder"]["path"] = str(model)
    cfg["text"]["max_length"] = 8
    cfg["training"].pop("epochs", None)
    cfg["training"].update({"steps": steps, "eval_every": 10_000, "device": "cpu", "num_threads": 1})
    with tempfile.TemporaryDirectory() as runs:
        cfg["output"] = {"runs_dir": runs}
        start = time.perf_counter()
        textmtl.train(cfg, data_dir=data_dir, progress=False)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="ls,cagrad")
    parser.add_argument("--data-dir", default=None, help="default: TEXTMTL_DATA_DIR")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    from textmtl.models.encoders.transformer import default_model_folder

    torch.set_num_threads(1)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = narrow_bert(Path(tmp) / "narrow-bert", default_model_folder())
        for method in args.methods.split(","):
            short = train_seconds(method, SHORT, model, args.data_dir)
            long = train_seconds(method, LONG, model, args.data_dir)
            rows[method] = {
                "ms_per_step": round(1000 * (long - short) / (LONG - SHORT), 1),
                "wall_seconds": {str(SHORT): round(short, 2), str(LONG): round(long, 2)},
            }
            print(f"{method}: {rows[method]['ms_per_step']} ms per step", flush=True)
    result = {
        "benchmark": "framework_overhead",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/framework_overhead.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(1),
        "setup": {
            "suite": "fdu-mtl-16-minilm, variant full (16 domains x 16 reviews a step)",
            "encoder": "BERT, 6 layers, hidden 12, 12 heads, intermediate 12, random weights, MiniLM's tokenizer",
            "max_length": 8,
            "steps": [SHORT, LONG],
            "threads": 1,
        },
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
