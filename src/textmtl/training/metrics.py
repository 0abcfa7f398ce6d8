"""Evaluation metrics. Accuracies and F1 are fractions in [0, 1]."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

from ..data.batching import IGNORE_INDEX
from ..data.tags import entity_scores


def accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    return float((pred == gold).mean()) if len(gold) else 0.0


def f1(pred: np.ndarray, gold: np.ndarray, positive: int = 1) -> float:
    """Binary F1 of the positive class (MRPC convention)."""
    tp = float(((pred == positive) & (gold == positive)).sum())
    fp = float(((pred == positive) & (gold != positive)).sum())
    fn = float(((pred != positive) & (gold == positive)).sum())
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def macro_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    classes = np.union1d(pred, gold)
    return float(np.mean([f1(pred, gold, int(c)) for c in classes])) if len(classes) else 0.0


def mcc(pred: np.ndarray, gold: np.ndarray) -> float:
    """Matthews correlation (CoLA); 0 when undefined (a constant prediction)."""
    classes = np.union1d(pred, gold)
    index = {c: i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(classes)))
    for p, g in zip(pred, gold):
        cm[index[g], index[p]] += 1
    t, p = cm.sum(1), cm.sum(0)
    c, s = np.trace(cm), cm.sum()
    denom = np.sqrt((s**2 - (p**2).sum()) * (s**2 - (t**2).sum()))
    return 0.0 if denom == 0 else float((c * s - (t * p).sum()) / denom)


def pearson(pred: np.ndarray, gold: np.ndarray) -> float:
    if len(gold) < 2 or np.std(pred) == 0 or np.std(gold) == 0:
        return 0.0
    return float(stats.pearsonr(pred, gold)[0])


def spearman(pred: np.ndarray, gold: np.ndarray) -> float:
    if len(gold) < 2 or np.std(pred) == 0 or np.std(gold) == 0:
        return 0.0
    return float(stats.spearmanr(pred, gold)[0])


def token_accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    keep = gold != IGNORE_INDEX
    return accuracy(pred[keep], gold[keep])


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "macro_f1": macro_f1,
    "mcc": mcc,
    "pearson": pearson,
    "spearman": spearman,
    "token_accuracy": token_accuracy,
}


def sentences(
    values: np.ndarray, lengths: np.ndarray | list[int], labels: tuple[str, ...] | list[str]
) -> list[list[str]]:
    """Cut a flat array of tag indices (all sentences end to end) into sentences of tag names."""
    bounds = np.cumsum([0, *lengths])
    if bounds[-1] != len(values):
        raise ValueError(f"sentence lengths add up to {bounds[-1]}, but there are {len(values)} tags")
    return [[labels[int(v)] for v in values[a:b]] for a, b in zip(bounds[:-1], bounds[1:])]


def entity_f1(
    pred: np.ndarray, gold: np.ndarray, *, labels: tuple[str, ...] | list[str], lengths: np.ndarray | list[int]
) -> float:
    """Entity-level micro F1 of IOB2 chunks (seqeval's default, conlleval semantics: `data.tags`).

    `pred`/`gold` hold tag indices into `labels` for every word of every sentence, end to end;
    `lengths` gives each sentence's number of words, so no chunk crosses a sentence boundary.
    """
    return entity_scores(sentences(gold, lengths, labels), sentences(pred, lengths, labels))["f1"]


# Metrics that read the label names and sentence lengths too (tagging).
SEQUENCE_METRICS: dict[str, Callable[..., float]] = {"entity_f1": entity_f1}


def compute_metrics(
    names: tuple[str, ...] | list[str],
    pred: np.ndarray,
    gold: np.ndarray,
    *,
    labels: tuple[str, ...] | list[str] | None = None,
    lengths: np.ndarray | list[int] | None = None,
) -> dict[str, float]:
    out = {}
    for n in names:
        if n in SEQUENCE_METRICS:
            if labels is None or lengths is None:
                raise ValueError(f"metric {n!r} needs the label names and the sentence lengths")
            out[n] = SEQUENCE_METRICS[n](pred, gold, labels=labels, lengths=lengths)
        else:
            out[n] = METRICS[n](pred, gold)
    return out
