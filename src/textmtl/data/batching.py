"""Padded, length-bucketed batches of one task, and endless per-task batch streams."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .tasks import Example, TaskKind, TaskSpec
from .text_encoders import EncodedText

IGNORE_INDEX = -100  # label of padding / sub-word continuation positions in tagging


@dataclass
class Batch:
    """Tensors of one task's batch. `labels` is None for unlabelled inputs."""

    input_ids: torch.Tensor  # [B, L] long
    attention_mask: torch.Tensor  # [B, L] bool
    labels: torch.Tensor | None  # [B] long | [B] float | [B, L] long
    token_type_ids: torch.Tensor | None = None
    indices: torch.Tensor | None = None  # positions of the examples in their split
    input_key: int | None = None  # batches of one step with the same key hold the same inputs (one forward pass)

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Batch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            move(self.labels),
            move(self.token_type_ids),
            self.indices,
            self.input_key,
        )


@dataclass
class EncodedSplit:
    """A split of one task after tokenisation: what batches are cut from."""

    kind: TaskKind
    texts: list[EncodedText]
    examples: list[Example]

    def __len__(self) -> int:
        return len(self.texts)

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(t.input_ids) for t in self.texts), dtype=np.int64, count=len(self.texts))


@dataclass
class EncodedTask:
    """A task's splits after tokenisation."""

    spec: TaskSpec
    train: EncodedSplit
    dev: EncodedSplit
    test: EncodedSplit
    input_group: str | None = None  # see TaskData.input_group
    unlabelled: EncodedSplit | None = None  # extra raw text without labels (data.unlabelled)

    def split(self, name: str) -> EncodedSplit:
        return {"train": self.train, "dev": self.dev, "test": self.test}[name]


def _tag_labels(enc: EncodedText, tags: Sequence[int]) -> list[int]:
    """Label the first sub-token of each word; other positions get IGNORE_INDEX."""
    out, previous = [], None
    for word in enc.word_ids or []:
        out.append(IGNORE_INDEX if word is None or word == previous or word >= len(tags) else int(tags[word]))
        previous = word
    return out


def collate(split: EncodedSplit, idx: Sequence[int], pad_id: int) -> Batch:
    """Pad the selected examples to the longest one."""
    texts = [split.texts[i] for i in idx]
    width = max(len(t.input_ids) for t in texts)
    ids = torch.full((len(texts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(texts), width), dtype=torch.bool)
    types = torch.zeros((len(texts), width), dtype=torch.long) if texts[0].token_type_ids is not None else None
    for row, t in enumerate(texts):
        n = len(t.input_ids)
        ids[row, :n] = torch.as_tensor(t.input_ids)
        mask[row, :n] = True
        if types is not None and t.token_type_ids is not None:
            types[row, :n] = torch.as_tensor(t.token_type_ids)
    labels = _collate_labels(split, idx, texts, width)
    return Batch(ids, mask, labels, types, torch.as_tensor(list(idx), dtype=torch.long))


def _collate_labels(split: EncodedSplit, idx: Sequence[int], texts: list[EncodedText], width: int):
    raw = [split.examples[i].label for i in idx]
    if any(r is None for r in raw):
        return None
    if split.kind == TaskKind.REGRESSION:
        return torch.tensor(raw, dtype=torch.float32)
    if split.kind == TaskKind.TAGGING:
        labels = torch.full((len(idx), width), IGNORE_INDEX, dtype=torch.long)
        for row, (t, tags) in enumerate(zip(texts, raw)):
            lab = _tag_labels(t, tags)  # type: ignore[arg-type]
            labels[row, : len(lab)] = torch.as_tensor(lab, dtype=torch.long)
        return labels
    return torch.tensor(raw, dtype=torch.long)


def bucketed_order(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 50) -> list[np.ndarray]:
    """Shuffle, sort by length inside pools of `pool` batches, cut batches, shuffle the batches.

    Similar lengths share a batch (little padding) while every pass stays random.
    """
    perm = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    step = batch_size * pool
    for start in range(0, len(perm), step):
        chunk = perm[start : start + step]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def eval_batches(split: EncodedSplit, batch_size: int, pad_id: int) -> Iterator[Batch]:
    """Deterministic batches over a whole split, sorted by length for speed (indices restore order)."""
    order = np.argsort(split.lengths(), kind="stable")
    for start in range(0, len(order), batch_size):
        yield collate(split, order[start : start + batch_size].tolist(), pad_id)


class BatchStream:
    """An endless stream of training batches for one task; reshuffled on every pass.

    Its state (pass number and position) is a pair of ints, so it can be checkpointed.
    """

    def __init__(self, split: EncodedSplit, batch_size: int, pad_id: int, seed: int, bucket: bool = True) -> None:
        if len(split) == 0:
            raise ValueError("cannot stream an empty split")
        self.split, self.batch_size, self.pad_id, self.seed, self.bucket = split, batch_size, pad_id, seed, bucket
        self._lengths = split.lengths()
        self.epoch, self.position = 0, 0
        self._order = self._make_order()

    def _make_order(self) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.bucket:
            return bucketed_order(self._lengths, self.batch_size, rng)
        perm = rng.permutation(len(self._lengths))
        return [perm[i : i + self.batch_size] for i in range(0, len(perm), self.batch_size)]

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> Batch:
        return collate(self.split, self.next_indices(), self.pad_id)

    def next_indices(self) -> list[int]:
        """Positions (in the split) of the next batch's examples."""
        if self.position >= len(self._order):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._make_order()
        idx = self._order[self.position]
        self.position += 1
        return idx.tolist()

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._make_order()


# ------------------------------------------------------------------ tasks that share their inputs

_INPUT_KEYS = itertools.count(1)


def aligned(splits: Sequence[EncodedSplit]) -> bool:
    """Whether the splits hold the same texts in the same order (tasks labelling the same sentences)."""
    first = splits[0]
    return all(
        len(s) == len(first) and all(a.input_ids == b.input_ids for a, b in zip(s.texts, first.texts))
        for s in splits[1:]
    )


class SharedInputStream:
    """One stream of batches for tasks that label the same inputs (e.g. CoNLL-2003 POS, chunk, NER).

    Each task reads it through `view(task)`. A task asking for a batch it has already read moves
    the stream on, so when several of its tasks are sampled in one step they all get the SAME
    batch: the same input tensors, each task's own labels, and one `input_key` that tells the
    architecture to run its encoder once for all of them (`Architecture.forward_batches`).
    """

    def __init__(
        self, splits: Mapping[str, EncodedSplit], batch_size: int, pad_id: int, seed: int, bucket: bool = True
    ) -> None:
        if len(splits) < 2:
            raise ValueError("a shared-input stream needs at least two tasks")
        if not aligned(list(splits.values())):
            raise ValueError(f"tasks {', '.join(splits)} are declared to share inputs but their training texts differ")
        self.splits, self.pad_id = dict(splits), pad_id
        self.order = BatchStream(next(iter(self.splits.values())), batch_size, pad_id, seed, bucket)
        self._current: list[int] | None = None
        self._consumed: set[str] = set()
        self._batches: dict[str, Batch] = {}
        self._key = 0

    def _advance(self) -> None:
        self._current, self._consumed, self._batches = self.order.next_indices(), set(), {}
        self._key = next(_INPUT_KEYS)

    def take(self, task: str) -> Batch:
        if self._current is None or task in self._consumed:
            self._advance()
        assert self._current is not None
        self._consumed.add(task)
        if not self._batches:
            first = collate(self.splits[task], self._current, self.pad_id)
            first.input_key = self._key
            self._batches[task] = first
        if task not in self._batches:
            ref = next(iter(self._batches.values()))
            split = self.splits[task]
            texts = [split.texts[i] for i in self._current]
            labels = _collate_labels(split, self._current, texts, ref.input_ids.shape[1])
            self._batches[task] = Batch(
                ref.input_ids, ref.attention_mask, labels, ref.token_type_ids, ref.indices, self._key
            )
        return self._batches[task]

    def view(self, task: str) -> SharedInputView:
        if task not in self.splits:
            raise KeyError(task)
        return SharedInputView(self, task)

    def state_dict(self) -> dict:
        return {"order": self.order.state_dict(), "current": self._current, "consumed": sorted(self._consumed)}

    def load_state_dict(self, state: dict) -> None:
        self.order.load_state_dict(state["order"])
        self._current = None if state.get("current") is None else [int(i) for i in state["current"]]
        self._consumed, self._batches = set(state.get("consumed", ())), {}
        self._key = next(_INPUT_KEYS)


class SharedInputView:
    """One task's endless iterator over a SharedInputStream (what the trainer holds per task)."""

    def __init__(self, stream: SharedInputStream, task: str) -> None:
        self.stream, self.task = stream, task

    def __iter__(self) -> SharedInputView:
        return self

    def __next__(self) -> Batch:
        return self.stream.take(self.task)

    def state_dict(self) -> dict:  # the whole group's state: loading it from any of its views is idempotent
        return self.stream.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state)


def make_streams(
    splits: Mapping[str, EncodedSplit],
    batch_size: int,
    pad_id: int,
    seed: int,
    groups: Mapping[str, str | None] | None = None,
) -> dict[str, BatchStream | SharedInputView]:
    """A training stream per task. Tasks with the same input group (`groups[task]`, e.g. the three
    CoNLL-2003 tasks) read one SharedInputStream; every other task gets its own BatchStream, seeded
    exactly as before (`seed * 1000 + position of the task`)."""
    groups = groups or {}
    members: dict[str, list[str]] = {}
    for task in splits:
        if groups.get(task) is not None:
            members.setdefault(str(groups[task]), []).append(task)
    shared = {g: ts for g, ts in members.items() if len(ts) > 1}
    streams: dict[str, BatchStream | SharedInputView] = {}
    made: dict[str, SharedInputStream] = {}
    for i, (task, split) in enumerate(splits.items()):
        group = groups.get(task)
        if group is not None and str(group) in shared:
            if str(group) not in made:
                made[str(group)] = SharedInputStream(
                    {t: splits[t] for t in shared[str(group)]}, batch_size, pad_id, seed=seed * 1000 + i
                )
            streams[task] = made[str(group)].view(task)
        else:
            streams[task] = BatchStream(split, batch_size, pad_id, seed=seed * 1000 + i)
    return streams
