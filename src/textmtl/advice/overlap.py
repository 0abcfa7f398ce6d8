"""What silently inflates a multi-task result: test texts of one task that occur in another task's
training data (after normalisation), and a task's own test texts that are also in its training data.

A user's suite of six sentence tasks put MR and SST-2 together: 62% of SST-2's test sentences were
in MR's training data (SST's sentences come from MR), and multi-task learning "gained" 7-8 points
over single-task that vanished on the texts not shared (issue 21). `textmtl advise` reports these
counts and `textmtl train` warns about them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from ..data.tasks import Example, TaskData

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


class DataOverlapWarning(UserWarning):
    """Test texts of a task occur in training data (`textmtl train` without progress output)."""


#: warn when at least this share of a test split is found in training data (and at least one text)
WARN_SHARE = 0.01


def normalise(example: Example) -> str:
    """Lower-cased words of the text (and its pair) joined by single spaces: punctuation, case and
    spacing do not hide a copy."""
    parts = [example.text] if example.text_pair is None else [example.text, example.text_pair]
    return " | ".join(" ".join(_NON_WORD.sub(" ", part.lower()).split()) for part in parts)


@dataclass(frozen=True)
class Overlap:
    """`count` of the `test_size` test texts of `test_task` occur in the training data of `train_task`
    (the same task: duplicates between its own train and test)."""

    test_task: str
    train_task: str
    count: int
    test_size: int

    @property
    def share(self) -> float:
        return self.count / self.test_size if self.test_size else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "share": round(self.share, 6)}

    def describe(self) -> str:
        where = (
            "in its own training data"
            if self.test_task == self.train_task
            else f"in the training data of task '{self.train_task}'"
        )
        return (
            f"{self.count} of {self.test_size} test texts of task '{self.test_task}' ({100 * self.share:.1f}%) "
            f"occur {where}"
        )


def _keys(examples: Iterable[Example]) -> set[str]:
    return {k for k in (normalise(e) for e in examples) if k}


def find_overlaps(tasks: Sequence[TaskData]) -> list[Overlap]:
    """Every (test task, train task) pair with at least one shared normalised text, largest share first.

    Tasks that label the same sentences by construction (one `input_group`, e.g. CoNLL-2003's POS,
    chunking and NER, or a label-flipped copy) are compared like any others: their test sentences are
    not in each other's training data unless the source's are.
    """
    train_keys = {t.name: _keys(t.train) for t in tasks}
    found = []
    for test_task in tasks:
        test_keys = [normalise(e) for e in test_task.test]
        test_keys = [k for k in test_keys if k]
        for train_task in tasks:
            keys = train_keys[train_task.name]
            count = sum(1 for k in test_keys if k in keys)
            if count:
                found.append(Overlap(test_task.name, train_task.name, count, len(test_keys)))
    return sorted(found, key=lambda o: (-o.share, o.test_task, o.train_task))


def overlap_warnings(tasks: Sequence[TaskData], min_share: float = WARN_SHARE) -> list[str]:
    """One line per overlap of at least `min_share` of a test split (what `textmtl train` warns)."""
    return [
        f"{o.describe()}; scores on them measure memory, not generalisation"
        for o in find_overlaps(tasks)
        if o.share >= min_share
    ]
