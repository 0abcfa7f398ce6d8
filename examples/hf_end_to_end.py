"""A Hugging Face user's path through textmtl, end to end, timed: three FDU-MTL domains as
`datasets` objects -> a MiniLM multi-task model trained with textmtl -> exported as transformers
folders -> `pipeline("text-classification")` predicts each domain's test set.

    python examples/hf_end_to_end.py --method ls --out benchmarks/results/hf_end_to_end.json

Writes the accuracy of textmtl's own evaluation and of the pipeline on the exported folders (they
must agree), and the wall time of each stage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from transformers import pipeline

import textmtl
from textmtl.exporting import export_run

DOMAINS = ("books", "dvd", "electronics")
FEATURES = Features({"text": Value("string"), "label": ClassLabel(names=["negative", "positive"])})


def domain(data: Path, name: str) -> DatasetDict:
    def rows(split: str) -> dict:
        lines = (data / f"{name}.task.{split}").read_text(encoding="latin-1").splitlines()
        pairs = [line.split("\t", 1) for line in lines if "\t" in line]
        return {"text": [t for _, t in pairs], "label": [int(y) for y, _ in pairs]}

    return DatasetDict({s: Dataset.from_dict(rows(s), features=FEATURES) for s in ("train", "test")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="ls")
    parser.add_argument("--epochs", type=float, default=None, help="default: the transformer default (3)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default="runs/hf-end-to-end")
    parser.add_argument("--out", default="benchmarks/results/hf_end_to_end.json")
    parser.add_argument("--reuse", action="store_true", help="keep a finished run in --work (its training time is "
                        "metrics.json's wall_seconds) and redo the export and the predictions")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(os.environ.get("TEXTMTL_DATA_DIR", "../shared/data")) / "fdu-mtl"
    work = Path(args.work)
    if not args.reuse:
        shutil.rmtree(work, ignore_errors=True)
    timings: dict[str, float] = {}

    start = time.perf_counter()
    tasks = {name: domain(data, name) for name in DOMAINS}
    timings["datasets_in_s"] = time.perf_counter() - start

    training = {"batch_size": args.batch_size, "device": "auto", "num_threads": args.threads}
    if args.epochs is not None:
        training["epochs"] = args.epochs
    config = {
        "name": f"minilm-{args.method}",
        "model": {"encoder": {"type": "transformer"}},
        "method": args.method,
        "text": {"max_length": args.max_length},
        "training": training,
        "output": {"runs_dir": str(work)},
    }
    finished = work / config["name"]
    if args.reuse and (finished / "metrics.json").is_file():
        metrics = json.loads((finished / "metrics.json").read_text())
        result = textmtl.RunResult(finished, metrics)
        timings["train_s"] = metrics["wall_seconds"]  # the training itself, evaluations included
    else:
        start = time.perf_counter()
        result = textmtl.train(config, datasets=tasks)
        timings["train_s"] = time.perf_counter() - start

    start = time.perf_counter()
    export_run(result.path, "hf", work / "exported", force=True)
    timings["export_s"] = time.perf_counter() - start

    pipeline_accuracy = {}
    start = time.perf_counter()
    for name in DOMAINS:
        classify = pipeline(
            "text-classification", model=str(work / "exported" / name), trust_remote_code=True, device="cpu"
        )
        test = tasks[name]["test"]
        predicted = [p["label"] for p in classify(list(test["text"]), batch_size=64, truncation=True)]
        gold = [FEATURES["label"].int2str(int(y)) for y in test["label"]]
        pipeline_accuracy[name] = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
    timings["pipeline_predict_s"] = time.perf_counter() - start

    metrics = result.metrics
    report = {
        "command": f"python examples/hf_end_to_end.py --method {args.method} --max-length {args.max_length}"
        f" --batch-size {args.batch_size}" + (f" --epochs {args.epochs}" if args.epochs is not None else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch threads {args.threads}, no GPU"
        if not torch.cuda.is_available()
        else torch.cuda.get_device_name(),
        "resolved_training": {k: metrics.get(k) for k in ("steps", "wall_seconds")},
        "config_comment": (result.path / "config.yaml").read_text().splitlines()[0],
        "textmtl_test_accuracy": {t: metrics["tasks"][t]["test"]["accuracy"] for t in DOMAINS},
        "textmtl_test_average": metrics["average"]["test"],
        "pipeline_test_accuracy": pipeline_accuracy,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "data": metrics["data"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
