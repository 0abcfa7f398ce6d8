"""Turn examples into token ids: word vocabulary (TextCNN/BiLSTM) or a pretrained tokenizer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from .tasks import Example
from .vocab import Vocabulary, word_tokenize


@dataclass(frozen=True, slots=True)
class EncodedText:
    """Token ids of one example; `word_ids[j]` maps token j to its word (tagging), None for specials."""

    input_ids: list[int]
    token_type_ids: list[int] | None = None
    word_ids: list[int | None] | None = None


class TextEncoder(ABC):
    """Maps an Example to token ids. Saved into / loaded from a run directory."""

    kind: str
    max_length: int

    @property
    @abstractmethod
    def pad_id(self) -> int: ...

    @abstractmethod
    def encode(self, example: Example) -> EncodedText: ...

    def encode_many(self, examples: list[Example]) -> list[EncodedText]:
        return [self.encode(e) for e in examples]

    @abstractmethod
    def save(self, directory: Path) -> dict:
        """Write files into `directory`; return the JSON description stored in model.json."""

    @staticmethod
    def load(directory: Path, description: dict) -> TextEncoder:
        if not isinstance(description, dict):
            raise ModelError(f"{directory}: model.json's text_encoder is not an object")
        if description.get("kind") == "word":
            return WordTextEncoder.load(directory, description)
        if description.get("kind") == "pretrained":
            return PretrainedTextEncoder(directory / description["folder"], description["max_length"])
        raise ModelError(f"{directory}: unknown text encoder {description!r}")


class WordTextEncoder(TextEncoder):
    """Word ids from a Vocabulary; a pair becomes `text [SEP] text_pair`."""

    kind = "word"

    def __init__(
        self, vocab: Vocabulary, max_length: int = 256, lowercase: bool = True, tokenizer: str = "regex"
    ) -> None:
        self.vocab = vocab
        self.max_length = max_length
        self.lowercase = lowercase
        self.tokenizer = tokenizer

    @property
    def pad_id(self) -> int:
        return self.vocab.pad_id

    def tokenize(self, example: Example) -> list[str]:
        if example.tokens is not None:
            return [t.lower() for t in example.tokens] if self.lowercase else list(example.tokens)
        toks = word_tokenize(example.text, self.lowercase, self.tokenizer)
        if example.text_pair is not None:
            toks = (
                toks
                + [self.vocab.itos[self.vocab.sep_id]]
                + word_tokenize(example.text_pair, self.lowercase, self.tokenizer)
            )
        return toks

    def encode(self, example: Example) -> EncodedText:
        toks = self.tokenize(example)[: self.max_length]
        ids = self.vocab.lookup(toks)
        if not ids:  # an empty text still needs one position
            ids = [self.vocab.unk_id]
        word_ids: list[int | None] | None = list(range(len(ids))) if example.tokens is not None else None
        return EncodedText(ids, None, word_ids)

    def save(self, directory: Path) -> dict:
        self.vocab.save(directory / "vocab.json")
        return {
            "kind": self.kind,
            "file": "vocab.json",
            "max_length": self.max_length,
            "lowercase": self.lowercase,
            "tokenizer": self.tokenizer,
        }

    @classmethod
    def load(cls, directory: Path, description: dict) -> WordTextEncoder:
        vocab = Vocabulary.load(directory / description.get("file", "vocab.json"))
        return cls(
            vocab, description["max_length"], description.get("lowercase", True), description.get("tokenizer", "regex")
        )


class PretrainedTextEncoder(TextEncoder):
    """The pretrained model's own tokenizer, loaded from a local HuggingFace folder (never a hub)."""

    kind = "pretrained"

    def __init__(self, folder: str | Path, max_length: int = 128) -> None:
        from transformers import AutoTokenizer

        self.folder = Path(folder)
        self.max_length = max_length
        if not (self.folder / "tokenizer.json").exists() and not (self.folder / "vocab.txt").exists():
            raise ModelError(f"{self.folder}: no tokenizer.json or vocab.txt; expected a HuggingFace model folder")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.folder), local_files_only=True)
        except Exception as exc:  # transformers raises many types for broken folders
            raise ModelError(
                f"{self.folder}: cannot load tokenizer ({type(exc).__name__}: {exc})".splitlines()[0]
            ) from None

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id or 0)

    def encode(self, example: Example) -> EncodedText:
        if example.tokens is not None:
            enc = self.tokenizer(
                list(example.tokens), is_split_into_words=True, truncation=True, max_length=self.max_length
            )
            return EncodedText(enc["input_ids"], enc.get("token_type_ids"), enc.word_ids())
        enc = self.tokenizer(example.text, example.text_pair, truncation=True, max_length=self.max_length)
        return EncodedText(enc["input_ids"], enc.get("token_type_ids"))

    def encode_many(self, examples: list[Example]) -> list[EncodedText]:
        paired = {e.text_pair is not None for e in examples}
        if any(e.tokens is not None for e in examples) or len(paired) > 1:  # mixed inputs: one at a time
            return [self.encode(e) for e in examples]
        out: list[EncodedText] = []
        for start in range(0, len(examples), 1024):  # the fast tokenizer batches in Rust
            chunk = examples[start : start + 1024]
            enc = self.tokenizer(
                [e.text for e in chunk],
                [e.text_pair for e in chunk] if True in paired else None,
                truncation=True,
                max_length=self.max_length,
            )
            types = enc.get("token_type_ids")
            for i, ids in enumerate(enc["input_ids"]):
                out.append(EncodedText(ids, types[i] if types is not None else None))
        return out

    def save(self, directory: Path) -> dict:
        target = directory / "tokenizer"
        self.tokenizer.save_pretrained(str(target))
        return {"kind": self.kind, "folder": "tokenizer", "max_length": self.max_length}
