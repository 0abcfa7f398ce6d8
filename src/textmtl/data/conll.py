"""CoNLL-2003 English: POS tagging, chunking and NER on the same sentences (three tagging tasks).

Files `eng.train` (train), `eng.testa` (dev) and `eng.testb` (test) under `<data_dir>/conll2003/`:
one token per line with 4 space-separated columns `word POS chunk NER`, blank lines between
sentences, `-DOCSTART-` lines between documents (skipped; they are not sentences). Chunk and NER
tags are IOB1 in the files and converted to IOB2 here (every chunk starts with `B-`), the form
entity-level F1 (`entity_f1`, seqeval/conlleval semantics) is computed on.

Label sets come from the training file (after conversion), `O` first and the rest sorted, with both
`B-X` and `I-X` for every chunk type X seen. A tag in dev or test outside that set is an error
naming the file and line (none is in the official files).
The three tasks share an `input_group`, so training runs one encoder pass per batch for them.
The benchmark itself (`Conll2003`) is registered in `data.sets.conll2003`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .tags import iob1_to_iob2
from .tasks import Example

COLUMNS = {"pos": 1, "chunk": 2, "ner": 3}  # word is column 0
IOB_TASKS = ("chunk", "ner")
METRICS = {"pos": ("token_accuracy",), "chunk": ("token_accuracy", "entity_f1"), "ner": ("entity_f1", "token_accuracy")}


@dataclass
class Sentence:
    words: tuple[str, ...]
    tags: dict[str, tuple[str, ...]]  # task -> tags (IOB2 for chunk and NER)
    line: int  # line number of the sentence's first token (1-based)


def read_conll_file(path: str | Path, *, skip_bad_lines: bool = False) -> tuple[list[Sentence], int]:
    """Sentences of a CoNLL-2003 file, and the number of malformed lines skipped.

    A line that is not 4 space-separated columns raises a DataError naming the file and line,
    unless `skip_bad_lines` (then the line is dropped and counted).
    """
    path = Path(path)
    sentences: list[Sentence] = []
    rows: list[list[str]] = []
    start, skipped = 0, 0

    def flush() -> None:
        nonlocal rows
        if rows:
            tags = {task: tuple(r[col] for r in rows) for task, col in COLUMNS.items()}
            for task in IOB_TASKS:
                tags[task] = tuple(iob1_to_iob2(tags[task]))
            sentences.append(Sentence(tuple(r[0] for r in rows), tags, start))
        rows = []

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise DataError(path, f"cannot read ({exc})") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            flush()
            continue
        parts = line.split()
        if parts[0] == "-DOCSTART-":
            flush()
            continue
        if len(parts) != 4:
            if skip_bad_lines:
                skipped += 1
                continue
            raise DataError(
                path, f"expected 4 space-separated columns (word POS chunk NER), got {len(parts)}", line=number
            )
        if not rows:
            start = number
        rows.append(parts)
    flush()
    return sentences, skipped


def label_set(sentences: list[Sentence], task: str) -> tuple[str, ...]:
    """The tags of `sentences`: `O` first (when present), then the others sorted. For the IOB2
    tasks every chunk type gets both `B-X` and `I-X` (train has PRT chunks of one word only, so
    no `I-PRT`, which testa has)."""
    tags = {t for s in sentences for t in s.tags[task]}
    if task in IOB_TASKS:
        tags |= {f"{prefix}-{t[2:]}" for t in tags if t[:2] in ("B-", "I-") for prefix in "BI"}
    return (("O",) if "O" in tags else ()) + tuple(sorted(tags - {"O"}))


def to_examples(sentences: list[Sentence], task: str, labels: tuple[str, ...], path: Path) -> list[Example]:
    index = {t: i for i, t in enumerate(labels)}
    out = []
    for s in sentences:
        try:
            label = tuple(index[t] for t in s.tags[task])
        except KeyError as exc:
            raise DataError(
                path,
                f"{task} tag {exc.args[0]!r} does not occur in the training file (known: {', '.join(labels)})",
                line=s.line,
            ) from None
        out.append(Example(" ".join(s.words), label, None, s.words))
    return out
