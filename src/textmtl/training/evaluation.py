"""Evaluate a multi-task model on a split of every task."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch

from ..data.batching import Batch, EncodedTask, eval_batches
from ..data.tasks import TaskKind, TaskSpec
from ..gradients.parts import StepSync
from ..models.architectures import Architecture
from ..models.heads import predictions
from .metrics import compute_metrics


@dataclass
class Predictions:
    """Predictions of one task over a split; for tagging, one entry per labelled word of every
    sentence, end to end, with `lengths` giving each sentence's count (in the same order)."""

    pred: np.ndarray
    gold: np.ndarray | None
    lengths: np.ndarray | None = None  # tagging only
    scores: np.ndarray | None = None  # class probabilities [N, C] (sentence classification, when asked)


@torch.no_grad()
def predict_split(model: Architecture, task: str, batches: Iterable[Batch], *, scores: bool = False) -> Predictions:
    """Predictions (and gold labels when present), in the split's original order for sentence-level
    tasks; tagging keeps the batches' order, with sentence lengths. `scores`: also the softmax
    probabilities of a sentence classification task."""
    was_training = model.training
    model.eval()
    kind = model.specs[task].kind
    want_scores = scores and kind in (TaskKind.CLASSIFICATION, TaskKind.PAIR_CLASSIFICATION)
    preds, golds, order, lengths, probs = [], [], [], [], []
    for batch in batches:
        out = model(task, batch)
        p = predictions(kind, out.logits)
        if want_scores:
            probs.append(torch.softmax(out.logits.float(), dim=-1))
        if kind == TaskKind.TAGGING:
            if batch.labels is not None:
                keep = batch.labels != -100
                preds.append(p.masked_select(keep))
                lengths.append(keep.sum(1))
            else:
                preds.append(p.masked_select(batch.attention_mask))
                lengths.append(batch.attention_mask.sum(1))
        else:
            preds.append(p)
        if batch.labels is not None:
            golds.append(batch.labels[batch.labels != -100] if kind == TaskKind.TAGGING else batch.labels)
        order.append(batch.indices)
    model.train(was_training)
    pred = torch.cat(preds).cpu().numpy()
    gold = torch.cat(golds).cpu().numpy() if golds else None
    if kind != TaskKind.TAGGING:  # restore the split order (batches were sorted by length)
        inverse = np.argsort(torch.cat([o for o in order if o is not None]).numpy(), kind="stable")
        pred = pred[inverse]
        gold = gold[inverse] if gold is not None else None
        prob = torch.cat(probs).cpu().numpy()[inverse] if probs else None
        return Predictions(pred, gold, scores=prob)
    return Predictions(pred, gold, torch.cat(lengths).cpu().numpy())


class Evaluator:
    """Scores one split of every task; batches are built once and reused across evaluations.

    Sharded across processes (`sync.world > 1`): process r scores batches r, r + world, ... of
    each task, and the predictions are gathered, so every process computes the metrics on the
    whole split, exactly the single-process numbers (accuracy, F1, MCC, Pearson, entity F1 alike),
    while each runs 1/world of the forward passes."""

    def __init__(
        self,
        tasks: Mapping[str, EncodedTask],
        split: str,
        batch_size: int,
        pad_id: int,
        device: torch.device | str = "cpu",
        sync: StepSync | None = None,
    ) -> None:
        self.specs = {t: d.spec for t, d in tasks.items()}
        self.sync = sync or StepSync()
        self.batches = {
            t: [b.to(device) for b in eval_batches(d.split(split), batch_size, pad_id)]
            for t, d in tasks.items()
            if len(d.split(split))
        }

    def __call__(self, model: Architecture) -> dict[str, dict[str, float]]:
        out = {}
        for task, batches in self.batches.items():
            spec = self.specs[task]
            p = (
                predict_split(model, task, batches)
                if not self.sync.distributed
                else self._sharded(model, task, batches)
            )
            if p.gold is None:
                raise ValueError(f"{task}: the evaluation split has no labels")
            out[task] = compute_metrics(spec.metrics, p.pred, p.gold, labels=spec.labels, lengths=p.lengths)
        return out

    def _sharded(self, model: Architecture, task: str, batches: list[Batch]) -> Predictions:
        """This process's share of the batches, predicted, then every process's share gathered."""
        tagging = model.specs[task].kind == TaskKind.TAGGING
        mine = []
        for position in range(self.sync.rank, len(batches), self.sync.world):
            batch = batches[position]
            p = predict_split(model, task, [batch])
            order = np.sort(batch.indices.cpu().numpy()) if batch.indices is not None and not tagging else None
            mine.append((position, p.pred, p.gold, p.lengths, order))
        shards = cast(list[list[tuple]], self.sync.all_gather_object(mine))
        parts = sorted((part for shard in shards for part in shard), key=lambda x: x[0])
        pred = np.concatenate([part[1] for part in parts])
        gold = None if any(part[2] is None for part in parts) else np.concatenate([part[2] for part in parts])
        if tagging:
            return Predictions(pred, gold, np.concatenate([part[3] for part in parts]))
        inverse = np.argsort(np.concatenate([part[4] for part in parts]), kind="stable")
        return Predictions(pred[inverse], gold[inverse] if gold is not None else None)


def task_average(metrics: Mapping[str, Mapping[str, float]], specs: Mapping[str, TaskSpec]) -> float:
    """Mean over tasks of each task's main metric."""
    values = [m[specs[t].main_metric] for t, m in metrics.items()]
    return float(np.mean(values)) if values else float("nan")
