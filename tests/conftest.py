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
