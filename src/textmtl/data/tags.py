"""Chunk tags: IOB1 -> IOB2 conversion and entity extraction with seqeval's default semantics.

`get_entities` reproduces `seqeval.metrics.sequence_labeling.get_entities` (the default,
non-strict mode, which follows conlleval): a chunk starts at a B- tag, at an I- tag after O or
after a chunk of another type, and ends before O, before a B- tag or before a tag of another
type. An I- tag with no preceding B- therefore still opens a chunk (conlleval's lenient rule).
Sentences are separated by an implicit O, so no chunk crosses a sentence boundary.
"""

from __future__ import annotations

from collections.abc import Sequence


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 (B- only between two adjacent chunks of one type) -> IOB2 (every chunk starts with B-).

    `I-X` becomes `B-X` at the start of the sentence, after `O` or after a tag of another type.
    Tags without a `B-`/`I-` prefix (`O`, POS tags) are left as they are.
    """
    out: list[str] = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-"):
            kind = tag[2:]
            if previous[:2] not in ("B-", "I-") or previous[2:] != kind:
                tag = "B-" + kind
        out.append(tag)
        previous = tag
    return out


def _split(tag: str) -> tuple[str, str]:
    """(prefix letter, type) as seqeval reads a tag: 'B-PER' -> ('B', 'PER'), 'O' -> ('O', '_')."""
    return tag[0], (tag[1:].split("-", maxsplit=1)[-1] or "_")


def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != type_


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def get_entities(sentences: Sequence[Sequence[str]]) -> list[tuple[str, int, int]]:
    """Chunks `(type, first, last)` of a list of tag sentences; positions count the implicit O
    placed after every sentence, as in seqeval (only equality of chunks matters)."""
    seq = [tag for sentence in sentences for tag in [*sentence, "O"]]
    chunks: list[tuple[str, int, int]] = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, tag_text in enumerate([*seq, "O"]):
        tag, type_ = _split(tag_text)
        if _end_of_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro precision, recall and F1 over exactly matching chunks (type and span), as seqeval's
    `f1_score` with its defaults; 0 where a ratio is undefined."""
    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred)):
        raise ValueError("gold and predicted tag sentences differ in shape")
    true, found = set(get_entities(gold)), set(get_entities(pred))
    correct = len(true & found)
    precision = correct / len(found) if found else 0.0
    recall = correct / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
