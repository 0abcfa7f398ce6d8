"""20 Newsgroups, "bydate" version: GetMTL's Topic benchmark (Chai et al. 2023, Table 1/2), four
4-way topic tasks of Mao et al. (2020): COMP, REC, SCI and TALK, four newsgroups each.

Read straight from `20newsgroups/20news-bydate.tar.gz`, or from an extracted copy
(`20newsgroups/20news-bydate-train/<group>/<id>` and `...-test/...`). Each post is UTF-8, else
latin-1 (73 files of the release are not UTF-8).

Each split is shuffled with a fixed seed (the release lists posts by newsgroup), so a cap that keeps
the first N examples (`data.max_train_examples`) keeps all four newsgroups.

`data.benchmark_options` (defaults first):
- `remove: [headers]`: what to strip from each post. `headers`: the header lines before the first
  blank line (From:, Subject:, Organization:, Lines:, ...: they name the poster and, through the
  organisation, often the topic); `footers`: the signature, i.e. everything after the last line
  that is blank or only dashes (when that line is not the first); `quotes`: lines quoting another
  post (starting with `>` or `|`) and the attribution lines ("In article ... writes:", "... wrote:").
  The default keeps bodies, quotes and signatures: GetMTL and Mao et al. do not say what they
  removed, and headers are the one part that identifies posters rather than topics. Posts left
  empty are dropped (counted as skipped lines: 21 with headers removed).
- `split: bydate`: bydate's train and test (split by posting date), dev = a fixed-seed hold-out of
  `dev_size` train posts (default 10%). `split: random`: Mao et al.'s 60/20/20 random split of all
  posts of a task (seeded, stratified by newsgroup). The topic-4 suite uses bydate: it is the
  published, date-based split that everyone can reproduce, and its test set is not drawn from the
  same weeks as training.
"""

from __future__ import annotations

import random
import re
import tarfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...errors import ConfigError, DataError
from ...registry import benchmarks
from ..tasks import Example, TaskData, TaskKind, TaskSpec
from .base import SPLIT_SEED, Benchmark, LoadOptions, carve, check_sizes, default_dev_size, finish_task, hold_out

ARCHIVE = "20news-bydate.tar.gz"
SPLIT_FOLDERS = {"train": "20news-bydate-train", "test": "20news-bydate-test"}
TOPIC_TASKS: dict[str, tuple[str, ...]] = {
    "COMP": ("comp.graphics", "comp.os.ms-windows.misc", "comp.sys.mac.hardware", "comp.windows.x"),
    "REC": ("rec.autos", "rec.sport.baseball", "rec.motorcycles", "rec.sport.hockey"),
    "SCI": ("sci.crypt", "sci.space", "sci.med", "sci.electronics"),
    "TALK": ("talk.politics.misc", "talk.politics.guns", "talk.politics.mideast", "talk.religion.misc"),
}
REMOVABLE = ("headers", "footers", "quotes")
_QUOTE_LINE = re.compile(r"^\s*[>|]")
_ATTRIBUTION = re.compile(r"(^In article|^Quoted from|writes in|writes:|wrote:|says:|said:)")


def decode(data: bytes) -> str:
    """UTF-8, else latin-1 (which decodes any byte)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def strip_headers(text: str) -> str:
    """The text after the first blank line (nothing when there is none: every post starts with
    its headers, so a post without a blank line is all header)."""
    return text.partition("\n\n")[2]


def strip_footer(text: str) -> str:
    """The text before the last line that is blank or only dashes, unless that is the first line."""
    lines = text.strip().split("\n")
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip("-").strip() == "":
            return "\n".join(lines[:i]) if i > 0 else text
    return text


def strip_quotes(text: str) -> str:
    """Without quoted lines (`>`, `|`) and attribution lines ("In article ... writes:")."""
    return "\n".join(line for line in text.split("\n") if not _QUOTE_LINE.match(line) and not _ATTRIBUTION.search(line))


def clean(text: str, remove: tuple[str, ...]) -> str:
    """`text` with the `remove` parts stripped (in the order headers, footers, quotes), whitespace
    collapsed to single spaces."""
    if "headers" in remove:
        text = strip_headers(text)
    if "footers" in remove:
        text = strip_footer(text)
    if "quotes" in remove:
        text = strip_quotes(text)
    return " ".join(text.split())


@lru_cache(maxsize=2)
def _read_archive(path: str, mtime_ns: int, size: int) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """{(split, newsgroup): [(post id, text), ...] sorted by id} of the whole tarball (one read)."""
    del mtime_ns, size  # the cache key: a changed file is read again
    posts: dict[tuple[str, str], list[tuple[str, str]]] = {}
    folders = {v: k for k, v in SPLIT_FOLDERS.items()}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                parts = member.name.strip("./").split("/")
                if not member.isfile() or len(parts) != 3 or parts[0] not in folders:
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                posts.setdefault((folders[parts[0]], parts[1]), []).append((parts[2], decode(handle.read())))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(Path(path), f"cannot read the 20 Newsgroups archive ({exc})") from None
    for items in posts.values():
        items.sort(key=lambda item: (len(item[0]), item[0]))  # numeric ids in numeric order
    return posts


def _read_folder(root: Path, split: str, group: str) -> list[tuple[str, str]]:
    folder = root / SPLIT_FOLDERS[split] / group
    if not folder.is_dir():
        raise DataError(folder, "newsgroup folder not found")
    files = sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: (len(p.name), p.name))
    return [(p.name, decode(p.read_bytes())) for p in files]


@benchmarks.register("20newsgroups")
class Newsgroups(Benchmark):
    """20 Newsgroups (bydate), GetMTL's four 4-way topic tasks; see the module docstring."""

    name = "20newsgroups"
    title = "20 Newsgroups"
    subdir = "20newsgroups"
    task_names = tuple(TOPIC_TASKS)
    option_names = ("remove", "split")
    notes = "\n".join(
        (
            "COMP, REC, SCI, TALK: four newsgroups each (GetMTL Table 1); labels = the newsgroups",
            "split: bydate train/test, dev = a fixed-seed 10% of train (or split: random, 60/20/20)",
            "remove: headers by default (also footers, quotes); empty posts are skipped",
            "read from 20news-bydate.tar.gz or its extracted 20news-bydate-train/-test folders",
        )
    )

    def spec(self, task: str) -> TaskSpec:
        self.resolve_tasks([task])
        return TaskSpec(task, TaskKind.CLASSIFICATION, TOPIC_TASKS[task], ("accuracy",))

    def expected_files(self, task: str, *, unlabelled: bool = True) -> list[Path]:
        return [Path(self.subdir) / ARCHIVE]

    def missing_files(self, data_dir, tasks=None, *, unlabelled: bool = True) -> list[Path]:
        root = Path(data_dir) / self.subdir
        if all((root / folder).is_dir() for folder in SPLIT_FOLDERS.values()):
            return []  # an extracted copy
        return super().missing_files(data_dir, tasks, unlabelled=unlabelled)

    @staticmethod
    def settings(extra: Mapping[str, Any]) -> tuple[tuple[str, ...], str]:
        remove = extra.get("remove", ["headers"])
        if isinstance(remove, str) or not isinstance(remove, (list, tuple)):
            raise ConfigError(
                f"data.benchmark_options.remove: expected a list of {', '.join(REMOVABLE)}, got {remove!r}"
            )
        bad = [r for r in remove if r not in REMOVABLE]
        if bad:
            raise ConfigError(f"data.benchmark_options.remove: unknown part {bad[0]!r}; known: {', '.join(REMOVABLE)}")
        split = extra.get("split", "bydate")
        if split not in ("bydate", "random"):
            raise ConfigError(f"data.benchmark_options.split: expected bydate or random, got {split!r}")
        return tuple(remove), str(split)

    def _posts(self, root: Path, split: str, group: str) -> list[tuple[str, str]]:
        folders = [root / f for f in SPLIT_FOLDERS.values()]
        if all(f.is_dir() for f in folders):
            return _read_folder(root, split, group)
        archive = root / ARCHIVE
        stat = archive.stat()
        return _read_archive(str(archive), stat.st_mtime_ns, stat.st_size).get((split, group), [])

    def load_task(self, root: Path, task: str, options: LoadOptions) -> TaskData:
        remove, split_mode = self.settings(options.extra)
        groups = TOPIC_TASKS[task]
        parts: dict[str, list[Example]] = {"train": [], "test": []}
        skipped = 0
        for label, group in enumerate(groups):
            for split in parts:
                posts = self._posts(root, split, group)
                if not posts:
                    raise DataError(root / SPLIT_FOLDERS[split] / group, "no posts for this newsgroup")
                for _, raw in posts:
                    text = clean(raw, remove)
                    if text:
                        parts[split].append(Example(text, label))
                    else:
                        skipped += 1
        for split in parts:  # posts come grouped by newsgroup: shuffle (fixed seed) so that `first` caps are fair
            random.Random(SPLIT_SEED).shuffle(parts[split])
        spec = self.spec(task)
        if split_mode == "random" and options.dev_size is not None:
            raise ConfigError("data.dev_size: split: random of 20newsgroups makes its own 20% dev part")
        if split_mode == "random":
            everything = parts["train"] + parts["test"]
            rest, test = carve(everything, 0.2)
            pool = rest
            train, dev = carve(rest, 0.25)  # 0.25 of the remaining 80%: 60/20/20
        else:
            pool, test = parts["train"], parts["test"]
            size = check_sizes(
                task,
                root / ARCHIVE,
                len(pool),
                options.dev_size,
                options.max_train_examples,
                default_dev_size(len(pool)),
            )
            train, dev = hold_out(pool, size) if size else (list(pool), [])
        return finish_task(
            spec,
            pool,
            train,
            dev,
            test,
            merge_dev_into_train=options.merge_dev_into_train,
            max_train_examples=options.max_train_examples,
            skipped=skipped,
        )
