"""textmtl in other trainers: the HF `Trainer` subclass and the PyTorch Lightning example."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("accelerate")

from transformers import AutoModel, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments  # noqa: E402

from textmtl.integrations.hf_trainer import MultiHeadModel, MultiTaskTrainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def mixed_dataset(tokenizer, n=48):
    """Rows of two toy tasks (sentiment: 2 classes; topic: 3 classes), interleaved, with task_ids."""
    from datasets import Dataset

    pos, neg = ["good", "great", "fun"], ["bad", "awful", "boring"]
    topics = [["book", "read", "story"], ["movie", "film", "watch"], ["product", "price", "buy"]]
    rows = []
    for i in range(n):
        if i % 2 == 0:
            label = (i // 2) % 2
            rows.append({"text": f"the {(pos if label else neg)[i % 3]} one", "labels": label, "task_ids": 0})
        else:
            label = (i // 2) % 3
            rows.append({"text": f"a {topics[label][i % 3]} here", "labels": label, "task_ids": 1})
    data = Dataset.from_list(rows)
    return data.map(lambda b: tokenizer(b["text"], truncation=True, max_length=16), batched=True,
                    remove_columns=["text"])


def args(tmp_path, **over):
    base = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=8, max_steps=6, learning_rate=1e-3,
                report_to=[], save_strategy="no", logging_steps=2, seed=0, use_cpu=True, disable_tqdm=True)
    return TrainingArguments(**{**base, **over})


def build(tiny_bert):
    torch.manual_seed(0)
    return MultiHeadModel(AutoModel.from_pretrained(str(tiny_bert)), {"sentiment": 2, "topic": 3})


def test_method_ls_is_the_stock_trainer_on_the_summed_loss(tiny_bert, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    data = mixed_dataset(tokenizer)
    collate = DataCollatorWithPadding(tokenizer)
    ours = build(tiny_bert)
    MultiTaskTrainer(model=ours, args=args(tmp_path), train_dataset=data, data_collator=collate, method="ls").train()
    stock = build(tiny_bert)
    Trainer(model=stock, args=args(tmp_path), train_dataset=data, data_collator=collate).train()
    for (name, p), q in zip(ours.named_parameters(), stock.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name
    assert not torch.equal(ours.heads["topic"].weight, build(tiny_bert).heads["topic"].weight)  # it trained


@pytest.mark.parametrize("method", ["pcgrad", "nash_mtl"])
def test_conflict_aware_methods_train_with_the_trainer(method, tiny_bert, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    data = mixed_dataset(tokenizer)
    model = build(tiny_bert)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = MultiTaskTrainer(model=model, args=args(tmp_path), train_dataset=data,
                               data_collator=DataCollatorWithPadding(tokenizer), method=method)
    result = trainer.train()
    assert result.global_step == 6 and torch.isfinite(torch.tensor(result.training_loss))
    assert trainer.last_task_weights is not None and trainer.last_task_weights.shape == (2,)
    moved = [n for n, p in model.named_parameters() if not torch.equal(p, start[n])]
    assert any(n.startswith("encoder.") for n in moved) and any(n.startswith("heads.topic") for n in moved)


def test_the_trainer_refuses_fp16_and_a_model_without_shared_parameters(tiny_bert, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    data = mixed_dataset(tokenizer, 8)
    with pytest.raises(ValueError, match="shared="):
        MultiTaskTrainer(model=torch.nn.Linear(2, 2), args=args(tmp_path), train_dataset=data, method="pcgrad")


def test_lightning_example_trains_with_textmtl_backward(tiny_bert, monkeypatch):
    pytest.importorskip("pytorch_lightning")
    monkeypatch.setattr(sys, "argv", ["lightning_multitask.py", "--model", str(tiny_bert), "--steps", "4",
                                      "--method", "pcgrad", "--toy"])
    namespace = runpy.run_path(str(ROOT / "examples" / "lightning_multitask.py"), run_name="__main__")
    module = namespace["RESULT"]
    assert module.steps_done == 4 and module.backward_step.steps == 4


def test_hf_trainer_example_runs(tiny_bert, data_dir, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TEXTMTL_DATA_DIR", str(data_dir))
    monkeypatch.setattr(sys, "argv", ["hf_trainer_multitask.py", "--model", str(tiny_bert), "--max-train", "16",
                                      "--steps", "2", "--max-length", "32", "--out", str(tmp_path / "out"),
                                      "--method", "mgda"])
    runpy.run_path(str(ROOT / "examples" / "hf_trainer_multitask.py"), run_name="__main__")
    printed = capsys.readouterr().out
    assert '"method": "mgda"' in printed and '"books"' in printed and '"electronics"' in printed
