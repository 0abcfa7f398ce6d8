"""Shared fixtures: the real data folder (tests skip without it) and a tiny random BERT folder."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

WORDS = (
    "the a an and or but not no very good great bad awful fine book movie film read watch plot story "
    "love hate like boring fun , . ! ? it is was this that i you he she they we of to in for on with "
    "product works broke quality price cheap money waste buy recommend excellent terrible poor best worst"
).split()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = Path(os.environ.get("TEXTMTL_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not (root / "fdu-mtl").is_dir():
        pytest.skip(f"no FDU-MTL data under {root}")
    return root


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A random 2-layer, 4-head, hidden-32 BERT with a small WordPiece vocab, saved as a HF folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] \
        + list("abcdefghijklmnopqrstuvwxyz")
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    tokenizer = BertTokenizer(vocab=str(folder / "vocab.txt"))  # not vocab_file= (transformers 5 pitfall)
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(str(folder))
    return folder


@pytest.fixture
def toy_csv_task(tmp_path) -> Path:
    """A small learnable sentiment task as CSV files: positive words vs negative words."""
    return write_toy_csv_task(tmp_path)


def write_toy_csv_task(tmp_path: Path) -> Path:
    """train/dev/test.csv of the toy task (120/40/40 rows) in `tmp_path`."""
    import random

    rng = random.Random(0)
    pos, neg = ["good", "great", "love", "excellent", "best", "fun"], ["bad", "awful", "hate", "terrible", "worst", "boring"]
    filler = ["the", "movie", "book", "it", "was", "a", "story", "plot", "this"]
    for split, n in (("train", 120), ("dev", 40), ("test", 40)):
        rows = ["text,label"]
        for _ in range(n):
            label = rng.random() < 0.5
            words = rng.sample(filler, 4) + [rng.choice(pos if label else neg)]
            rng.shuffle(words)
            rows.append(f"{' '.join(words)},{'pos' if label else 'neg'}")
        (tmp_path / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


CONLL_SENTENCES = [  # word POS chunk NER, IOB1 as in the real files
    [("EU", "NNP", "I-NP", "I-ORG"), ("rejects", "VBZ", "I-VP", "O"), ("German", "JJ", "I-NP", "I-MISC"),
     ("call", "NN", "I-NP", "O"), (".", ".", "O", "O")],
    [("Peter", "NNP", "I-NP", "I-PER"), ("Blackburn", "NNP", "I-NP", "I-PER")],
    [("BRUSSELS", "NNP", "I-NP", "I-LOC"), ("1996-08-22", "CD", "I-NP", "O")],
    [("Germany", "NNP", "I-NP", "I-LOC"), ("imported", "VBD", "I-VP", "O"), ("47,600", "CD", "I-NP", "O"),
     ("sheep", "NNS", "I-NP", "O"), ("from", "IN", "I-PP", "O"), ("Britain", "NNP", "I-NP", "I-LOC"),
     (".", ".", "O", "O")],
    [("Peter", "NNP", "I-NP", "I-PER"), ("met", "VBD", "I-VP", "O"), ("Anna", "NNP", "I-NP", "I-PER"),
     ("Smith", "NNP", "I-NP", "I-PER"), ("in", "IN", "I-PP", "O"), ("Brussels", "NNP", "I-NP", "I-LOC")],
]


def write_conll(path: Path, sentences, docs: int = 2) -> None:
    """A CoNLL-2003 file: -DOCSTART- lines, blank lines between sentences."""
    lines = []
    for d in range(docs):
        lines += ["-DOCSTART- -X- O O", ""]
        for sentence in sentences[d::docs]:
            lines += [" ".join(row) for row in sentence] + [""]
    path.write_text("\n".join(lines))


@pytest.fixture
def tiny_conll(tmp_path) -> Path:
    """A data dir with a small conll2003/ folder (train: 4 copies of the sentences, dev and test: 1)."""
    folder = tmp_path / "conll-data" / "conll2003"
    folder.mkdir(parents=True)
    write_conll(folder / "eng.train", CONLL_SENTENCES * 4)
    write_conll(folder / "eng.testa", CONLL_SENTENCES)
    write_conll(folder / "eng.testb", CONLL_SENTENCES[::-1])
    return folder.parent


# --------------------------------------------------------------------------- fuzz case count

_FUZZ_CASES: Counter[str] = Counter()


@pytest.fixture(scope="session")
def fuzz_counter() -> Counter[str]:
    """Counts the hypothesis cases run per group; reported at the end of the session."""
    return _FUZZ_CASES


def pytest_terminal_summary(terminalreporter) -> None:
    if _FUZZ_CASES:
        parts = ", ".join(f"{group} {n}" for group, n in sorted(_FUZZ_CASES.items()))
        terminalreporter.write_line(f"fuzz: {sum(_FUZZ_CASES.values())} cases tried ({parts})")
