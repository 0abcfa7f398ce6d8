"""Word-level tokenisation and vocabulary (built from training text only)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from ..errors import ModelError

_WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]", re.UNICODE)

PAD, UNK, SEP = "[PAD]", "[UNK]", "[SEP]"


def word_tokenize(text: str, lowercase: bool = True, method: str = "regex") -> list[str]:
    """Words and punctuation ('regex'), or white-space split for pre-tokenised text such as FDU-MTL."""
    if lowercase:
        text = text.lower()
    return text.split() if method == "whitespace" else _WORD.findall(text)


class Vocabulary:
    """Token <-> id map with [PAD]=0, [UNK]=1, [SEP]=2; most frequent tokens first."""

    specials = (PAD, UNK, SEP)

    def __init__(self, tokens: Iterable[str]) -> None:
        self.itos: list[str] = list(self.specials)
        for tok in tokens:
            if tok not in self.specials:
                self.itos.append(tok)
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    @property
    def sep_id(self) -> int:
        return 2

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def lookup(self, tokens: Iterable[str]) -> list[int]:
        get = self.stoi.get
        return [get(t, 1) for t in tokens]

    @classmethod
    def build(cls, tokenised: Iterable[Iterable[str]], min_count: int = 1, max_size: int | None = None) -> Vocabulary:
        """Count tokens; keep those seen >= min_count times, at most max_size (ties by first sight)."""
        counts: Counter[str] = Counter()
        for toks in tokenised:
            counts.update(toks)
        kept = [t for t, c in counts.most_common() if c >= min_count]
        if max_size is not None:
            kept = kept[: max(0, max_size - len(cls.specials))]
        return cls(kept)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"tokens": self.itos}, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        try:
            data = json.loads(path.read_text())
            tokens = data["tokens"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path}: not a textmtl vocabulary ({exc})") from None
        if tokens[: len(cls.specials)] != list(cls.specials):
            raise ModelError(f"{path}: vocabulary does not start with {list(cls.specials)}")
        return cls(tokens[len(cls.specials) :])
