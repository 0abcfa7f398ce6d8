"""FDU-MTL (Liu et al. 2017): 16 review domains, and the amazon-14 subset of GetMTL."""

from __future__ import annotations

from pathlib import Path

from ...registry import benchmarks
from ..readers import read_fdu_mtl_file
from ..tasks import Example, TaskData, TaskKind, TaskSpec
from ..treebank import treebank_like
from .base import Benchmark, LoadOptions, check_sizes, finish_task

FDU_MTL_DOMAINS: tuple[str, ...] = (
    "books", "electronics", "dvd", "kitchen_housewares", "apparel", "camera_photo",
    "health_personal_care", "music", "toys_games", "video", "baby", "magazines",
    "software", "sports_outdoors", "imdb", "MR",
)  # fmt: skip
AMAZON_14: tuple[str, ...] = tuple(d for d in FDU_MTL_DOMAINS if d not in ("imdb", "MR"))
# `*.task.unlabel` already tokenised like the labelled files (share of tokens outside the
# training vocabulary: imdb 4.2% as is vs 5.7% re-tokenised, MR 14.5% vs 16.6%); the Amazon
# domains' are raw reviews (books 25.4% as is, 5.0% re-tokenised, 5.3% for its test set)
PRETOKENISED_UNLABELLED = frozenset({"imdb", "MR"})


@benchmarks.register("fdu-mtl")
class FduMtl(Benchmark):
    """FDU-MTL (Liu et al. 2017): 16 binary sentiment domains (0 = negative, 1 = positive).

    Splits follow the MAN code: dev = the LAST `dev_size` (default 200) lines of
    `<domain>.task.train`, train = the lines before them, test = `<domain>.task.test`,
    unlabelled = `<domain>.task.unlabel` (the Amazon domains' raw reviews are lower-cased and
    PTB-tokenised like the labelled files by `treebank.treebank_like`). With
    `merge_dev_into_train=True` (the GetMTL protocol, which has no dev set) train is the whole
    `.task.train` file and dev still holds its last `dev_size` lines, for monitoring only: dev
    then overlaps train, so do not select checkpoints on it. `max_train_examples` keeps the
    first N training lines. Lines with an empty text are dropped and counted in `skipped_lines`
    (the real `sports_outdoors.task.train` has one, line 1121).
    """

    name = "fdu-mtl"
    title = "FDU-MTL"
    subdir = "fdu-mtl"
    task_names = FDU_MTL_DOMAINS
    labels = ("0", "1")
    default_dev_size = 200
    notes = "\n".join(
        (
            "dev = the last 200 lines of each <domain>.task.train (the MAN split); train = the lines before",
            "test = <domain>.task.test; unlabelled = <domain>.task.unlabel",
            "MR.task.* and dvd.task.train are not UTF-8 and are read as latin-1",
            "sports_outdoors.task.train line 1121 has no text and is skipped",
            "AMAZON_14 = the 14 product domains: all but imdb and MR",
        )
    )

    def spec(self, task: str) -> TaskSpec:
        self.resolve_tasks([task])
        return TaskSpec(task, TaskKind.CLASSIFICATION, self.labels, ("accuracy",))

    def expected_files(self, task: str, *, unlabelled: bool = True) -> list[Path]:
        splits = ("train", "test", "unlabel") if unlabelled else ("train", "test")
        return [Path(self.subdir) / f"{task}.task.{split}" for split in splits]

    def load_task(self, root: Path, task: str, options: LoadOptions) -> TaskData:
        def read(split: str, labelled: bool = True) -> tuple[list[Example], int]:
            return read_fdu_mtl_file(
                root / f"{task}.task.{split}",
                labels=self.labels,
                labelled=labelled,
                skip_bad_lines=options.skip_bad_lines,
                skip_empty_text=True,
            )

        pool, skipped = read("train")
        test, n = read("test")
        skipped += n
        extra: list[Example] = []
        if options.unlabelled:
            raw, n = read("unlabel", labelled=False)
            skipped += n
            # the 14 Amazon domains' unlabelled reviews are raw, unlike their labelled files: tokenised
            # the same way (data/treebank.py); imdb's and MR's are already in their files' style
            extra = raw if task in PRETOKENISED_UNLABELLED else [Example(treebank_like(e.text), None) for e in raw]
        size = check_sizes(
            task,
            root / f"{task}.task.train",
            len(pool),
            options.dev_size,
            options.max_train_examples,
            self.default_dev_size,
        )
        cut = len(pool) - size
        return finish_task(
            self.spec(task),
            pool,
            pool[:cut],
            pool[cut:],
            test,
            merge_dev_into_train=options.merge_dev_into_train,
            max_train_examples=options.max_train_examples,
            unlabelled=extra,
            skipped=skipped,
        )
