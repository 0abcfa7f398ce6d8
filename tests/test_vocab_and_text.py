from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from textmtl.data.tasks import Example
from textmtl.data.text_encoders import PretrainedTextEncoder, WordTextEncoder
from textmtl.data.vocab import Vocabulary, word_tokenize
from textmtl.errors import ModelError


def test_word_tokenize_splits_punctuation_and_lowercases():
    assert word_tokenize("Great book, didn't LOVE it!") == ["great", "book", ",", "didn't", "love", "it", "!"]
    assert word_tokenize("Great", lowercase=False) == ["Great"]


def test_vocabulary_min_count_max_size_and_specials():
    v = Vocabulary.build([["a", "b", "a"], ["a", "c", "b"]], min_count=2)
    assert v.itos == ["[PAD]", "[UNK]", "[SEP]", "a", "b"]
    assert v.lookup(["a", "zzz"]) == [3, 1]
    assert len(Vocabulary.build([["a", "b", "c", "d"]], max_size=5)) == 5


@given(st.lists(st.lists(st.sampled_from(list("abcdefgh")), max_size=6), max_size=8), st.integers(1, 3))
def test_vocabulary_keeps_exactly_tokens_with_enough_count(docs, min_count):
    from collections import Counter

    counts = Counter(t for d in docs for t in d)
    v = Vocabulary.build(docs, min_count=min_count)
    assert set(v.itos[3:]) == {t for t, c in counts.items() if c >= min_count}
    assert [counts[t] for t in v.itos[3:]] == sorted((counts[t] for t in v.itos[3:]), reverse=True)


def test_vocabulary_round_trip(tmp_path: Path):
    v = Vocabulary.build([["x", "y", "x"]])
    v.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").itos == v.itos
    (tmp_path / "bad.json").write_text('{"tokens": ["a"]}')
    with pytest.raises(ModelError, match="bad.json"):
        Vocabulary.load(tmp_path / "bad.json")


def test_word_encoder_pairs_truncation_and_empty_text():
    v = Vocabulary.build([["a", "b", "c"]])
    enc = WordTextEncoder(v, max_length=4)
    assert enc.encode(Example("a b", text_pair="c")).input_ids == [3, 4, 2, 5]
    assert len(enc.encode(Example("a b c a b c")).input_ids) == 4
    assert enc.encode(Example("")).input_ids == [v.unk_id]


def test_pretrained_encoder_uses_local_tokenizer(tiny_bert: Path):
    enc = PretrainedTextEncoder(tiny_bert, max_length=16)
    one = enc.encode(Example("good book", text_pair="bad movie"))
    assert one.input_ids[0] == enc.tokenizer.cls_token_id and one.token_type_ids is not None
    assert enc.tokenizer.unk_token_id not in one.input_ids  # the vocab file was really read
    many = enc.encode_many([Example("good book", text_pair="bad movie"), Example("fun")])
    assert many[0].input_ids == one.input_ids


def test_pretrained_encoder_rejects_a_folder_that_is_not_a_model(tmp_path: Path):
    with pytest.raises(ModelError, match="tokenizer"):
        PretrainedTextEncoder(tmp_path)
