"""Raw review text into the token style of FDU-MTL's labelled files.

FDU-MTL's `*.task.train` / `*.task.test` texts are lower-cased and Penn-Treebank tokenised
(`` and '' for double quotes, clitics split off as 's n't 'll, punctuation as its own token,
"mr." and "u.s." kept whole), while its `*.task.unlabel` files hold the raw reviews. A whitespace
tokenizer with a vocabulary built from the labelled text would see "book." or "don't" as unknown
words, so unlabelled FDU-MTL text goes through `treebank_like` first. It is a compact regex
approximation of the Stanford/PTB tokenizer, not a reimplementation.
"""

from __future__ import annotations

import re

# tokens that keep their final period (the labelled files' most frequent ones)
ABBREVIATIONS = frozenset(
    {
        "mr.",
        "mrs.",
        "ms.",
        "dr.",
        "st.",
        "jr.",
        "sr.",
        "vs.",
        "etc.",
        "e.g.",
        "i.e.",
        "u.s.",
        "ph.d.",
        "a.m.",
        "p.m.",
        "no.",
        "vol.",
        "inc.",
        "co.",
        "ltd.",
        "prof.",
        "mt.",
    }
)

_RULES = [
    (re.compile(r'^"'), " `` "),
    (re.compile(r'([\s(\[{<])"'), r"\1 `` "),
    (re.compile(r'"'), " '' "),
    (re.compile(r"\.\.+"), " ... "),
    (re.compile(r"--+"), " -- "),
    (re.compile(r"(?<!\d),|,(?!\d)"), " , "),  # not inside numbers like 1,000
    (re.compile(r"[;!?()\[\]{}$%&*]"), r" \g<0> "),
    (re.compile(r":(?!//)"), " : "),
    (re.compile(r"(\w)(n't)\b"), r"\1 \2"),
    (re.compile(r"(\w)('s|'m|'d|'ll|'re|'ve)\b"), r"\1 \2"),
]
_INITIALS = re.compile(r"(?:[a-z]\.)+")  # "u.s.", "l.a.", "j.k."


def treebank_like(text: str) -> str:
    """Lower-case `text` and split it into PTB-style tokens joined by single spaces."""
    text = text.lower()
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    tokens: list[str] = []
    for token in text.split():
        if (
            len(token) > 1
            and token.endswith(".")
            and token != "..."
            and token not in ABBREVIATIONS
            and not _INITIALS.fullmatch(token)
        ):
            tokens += [token[:-1], "."]
        else:
            tokens.append(token)
    return " ".join(tokens)
