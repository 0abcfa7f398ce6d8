"""Sequence labelling: IOB1 -> IOB2, entity-level F1 (seqeval semantics), the CoNLL-2003 reader,
shared-input batches and one shared forward pass per step."""

from __future__ import annotations

import json

import numpy as np
import pytest

import textmtl
from textmtl.data.batching import EncodedSplit, SharedInputStream, make_streams
from textmtl.data.sets import get_benchmark
from textmtl.data.conll import read_conll_file
from textmtl.data.tags import entity_scores, get_entities, iob1_to_iob2
from textmtl.data.tasks import Example, TaskKind
from textmtl.data.text_encoders import EncodedText
from textmtl.errors import DataError
from textmtl.training.metrics import compute_metrics, entity_f1, token_accuracy

# ------------------------------------------------------------------ IOB1 -> IOB2


@pytest.mark.parametrize("iob1, iob2", [
    (["I-ORG", "O", "I-MISC", "O", "O", "I-MISC", "O"], ["B-ORG", "O", "B-MISC", "O", "O", "B-MISC", "O"]),
    (["I-PER", "I-PER", "B-PER", "I-PER"], ["B-PER", "I-PER", "B-PER", "I-PER"]),  # adjacent entities, one type
    (["I-LOC", "I-ORG", "I-ORG"], ["B-LOC", "B-ORG", "I-ORG"]),  # type change opens a chunk
    (["I-NP", "I-NP", "I-VP", "B-NP", "O", "I-PP"], ["B-NP", "I-NP", "B-VP", "B-NP", "O", "B-PP"]),
    (["NNP", "VBZ"], ["NNP", "VBZ"]),  # POS tags untouched
    ([], []),
])
def test_iob1_to_iob2(iob1, iob2):
    assert iob1_to_iob2(iob1) == iob2
    assert iob1_to_iob2(iob2) == iob2  # IOB2 is a fixed point


# ------------------------------------------------------------------ entity F1


def test_entity_f1_matches_the_seqeval_readme_example():
    gold = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    assert entity_scores(gold, pred) == {"precision": 0.5, "recall": 0.5, "f1": 0.5}


@pytest.mark.parametrize("gold, pred, expected", [
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "O", "O", "B-LOC"]], (0.5, 0.5)),  # partial span: wrong
    ([["B-ORG", "I-ORG"]], [["B-LOC", "I-LOC"]], (0.0, 0.0)),  # right span, wrong type
    ([["B-PER", "I-PER"]], [["B-PER", "I-LOC"]], (0.0, 0.0)),  # type switch splits the chunk: PER(0), LOC(1)
    ([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]], (1.0, 1.0)),  # conlleval: I- after O opens a chunk
    ([["O", "O"]], [["O", "O"]], (0.0, 0.0)),  # nothing to find: 0 by convention (seqeval warns and gives 0)
    # 3 gold chunks, 4 predicted, 2 right: P = 1/2, R = 2/3, F1 = 4/7
    ([["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]], [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "B-MISC"]],
     (0.5, 2 / 3)),
])
def test_entity_scores_by_hand(gold, pred, expected):
    p, r = expected
    scores = entity_scores(gold, pred)
    assert scores["precision"] == pytest.approx(p) and scores["recall"] == pytest.approx(r)
    assert scores["f1"] == pytest.approx(0.0 if p + r == 0 else 2 * p * r / (p + r))


def test_chunks_never_cross_sentence_boundaries():
    assert get_entities([["B-PER"], ["I-PER"]]) == [("PER", 0, 0), ("PER", 2, 2)]
    assert get_entities([["B-PER", "I-PER"]]) == [("PER", 0, 1)]
    assert get_entities([["B-LOC", "I-LOC", "O", "B-ORG", "B-ORG"]]) == [("LOC", 0, 1), ("ORG", 3, 3), ("ORG", 4, 4)]


def test_entity_f1_metric_reads_label_names_and_sentence_lengths():
    labels = ("O", "B-PER", "I-PER")
    gold = np.array([1, 2, 0, 1, 2])  # [B-PER I-PER O] [B-PER I-PER]
    pred = np.array([1, 2, 0, 1, 0])  # second chunk too short
    assert entity_f1(pred, gold, labels=labels, lengths=[3, 2]) == pytest.approx(0.5)
    # the same tags cut [B-PER I-PER O B-PER] [I-PER]: the last I-PER opens its own chunk
    assert entity_f1(gold, gold, labels=labels, lengths=[4, 1]) == 1.0
    out = compute_metrics(("entity_f1", "token_accuracy"), pred, gold, labels=labels, lengths=[3, 2])
    assert out == {"entity_f1": pytest.approx(0.5), "token_accuracy": pytest.approx(0.8)}
    with pytest.raises(ValueError, match="lengths"):
        compute_metrics(("entity_f1",), pred, gold)
    with pytest.raises(ValueError, match="add up"):
        entity_f1(pred, gold, labels=labels, lengths=[3, 3])


def test_token_accuracy_ignores_padding_labels():
    assert token_accuracy(np.array([1, 2, 0, 0]), np.array([1, 0, -100, 0])) == pytest.approx(2 / 3)


# ------------------------------------------------------------------ the CoNLL-2003 reader


def test_conll_reader_on_a_hand_written_file(tiny_conll):
    sentences, skipped = read_conll_file(tiny_conll / "conll2003" / "eng.testa")
    assert skipped == 0 and len(sentences) == 5  # -DOCSTART- lines are not sentences
    by_words = {s.words[0] + str(len(s.words)): s for s in sentences}
    eu = by_words["EU5"]
    assert eu.words == ("EU", "rejects", "German", "call", ".")
    assert eu.tags["pos"] == ("NNP", "VBZ", "JJ", "NN", ".")
    assert eu.tags["chunk"] == ("B-NP", "B-VP", "B-NP", "I-NP", "O")  # IOB1 -> IOB2
    assert eu.tags["ner"] == ("B-ORG", "O", "B-MISC", "O", "O")
    assert by_words["Peter6"].tags["ner"] == ("B-PER", "O", "B-PER", "I-PER", "O", "B-LOC")


def test_conll_benchmark_tasks_share_inputs_and_label_sets(tiny_conll):
    pos, chunk, ner = get_benchmark("conll2003").load(tiny_conll)
    assert [t.name for t in (pos, chunk, ner)] == ["pos", "chunk", "ner"]
    assert {t.input_group for t in (pos, chunk, ner)} == {"conll2003"}
    assert len(pos.train) == 20 and len(pos.dev) == 5 and len(pos.test) == 5
    assert [e.tokens for e in pos.train] == [e.tokens for e in ner.train]
    assert ner.spec.kind == TaskKind.TAGGING and ner.spec.main_metric == "entity_f1"
    assert pos.spec.main_metric == "token_accuracy" and chunk.spec.metrics == ("token_accuracy", "entity_f1")
    assert ner.spec.labels == ("O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER")
    first = ner.dev[0]
    assert [ner.spec.labels[i] for i in first.label] == ["B-ORG", "O", "B-MISC", "O", "O"]


def test_conll_reader_errors_name_file_and_line(tmp_path):
    folder = tmp_path / "conll2003"
    folder.mkdir()
    (folder / "eng.train").write_text("-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ\n")
    with pytest.raises(DataError, match=r"eng.train:4: expected 4 space-separated columns"):
        read_conll_file(folder / "eng.train")
    sentences, skipped = read_conll_file(folder / "eng.train", skip_bad_lines=True)
    assert skipped == 1 and sentences[0].words == ("EU",)
    (folder / "eng.train").write_text("EU NNP I-NP I-ORG\n")
    (folder / "eng.testa").write_text("EU NNP I-NP I-ORG\n\nParis NNP I-NP I-LOC\n")
    (folder / "eng.testb").write_text("EU NNP I-NP I-ORG\n")
    with pytest.raises(DataError, match=r"eng.testa:3: ner tag 'B-LOC' does not occur in the training file"):
        get_benchmark("conll2003").load(tmp_path, ["ner"])


def test_real_conll2003_counts(data_dir):
    if not (data_dir / "conll2003" / "eng.train").is_file():
        pytest.skip("no CoNLL-2003 data")
    ner, = get_benchmark("conll2003").load(data_dir, ["ner"])
    assert (len(ner.train), len(ner.dev), len(ner.test)) == (14041, 3250, 3453)  # data.md §4
    assert sum(len(e.tokens) for e in ner.train) == 203621
    assert len(ner.spec.labels) == 9


# ------------------------------------------------------------------ shared inputs: one stream, one forward pass


def _split(kind, labels_per_example, texts):
    encoded = [EncodedText(list(t), None, list(range(len(t)))) for t in texts]
    examples = [Example(" ".join(map(str, t)), tuple(lab), None, tuple(map(str, t)))
                for t, lab in zip(texts, labels_per_example)]
    return EncodedSplit(kind, encoded, examples)


def test_shared_input_stream_gives_one_batch_per_step_with_each_tasks_labels():
    texts = [[5 + i, 6, 7][: 1 + i % 3] for i in range(10)]
    a = _split(TaskKind.TAGGING, [[1] * len(t) for t in texts], texts)
    b = _split(TaskKind.TAGGING, [[2] * len(t) for t in texts], texts)
    streams = make_streams({"a": a, "b": b, "c": a}, 4, 0, seed=1, groups={"a": "g", "b": "g", "c": None})
    for _ in range(5):  # more than one pass
        ba, bb = next(streams["a"]), next(streams["b"])
        assert ba.input_ids is bb.input_ids and ba.input_key == bb.input_key is not None
        assert set(ba.labels[ba.labels != -100].tolist()) == {1} and set(bb.labels[bb.labels != -100].tolist()) == {2}
    assert next(streams["c"]).input_key is None  # not in a group: its own BatchStream
    # a task asking twice in a row moves the stream on; state round-trips
    k1 = next(streams["a"]).input_key
    state = streams["a"].state_dict()
    k2 = next(streams["a"]).input_key
    assert k1 != k2
    streams["b"].load_state_dict(state)  # any view restores the group
    again = next(streams["a"])
    assert again.input_key not in (k1, k2) and again.indices.tolist() == next(streams["b"]).indices.tolist()
    other = _split(TaskKind.TAGGING, [[1] * 2] * 10, [[9, 9]] * 10)
    with pytest.raises(ValueError, match="training texts differ"):
        SharedInputStream({"a": a, "x": other}, 4, 0, seed=1)


def _count_encoder_calls(model) -> list[int]:
    calls = [0]
    model.encoder.register_forward_hook(lambda *args: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("shared_forward", [True, False])
def test_conll_tasks_run_one_shared_forward_pass_per_step(tiny_conll, shared_forward):
    from textmtl.api import encode_tasks, load_tasks
    from textmtl.config import validate_config
    from textmtl.methods import make_method
    from textmtl.models.build import build_model, build_text_encoder
    from textmtl.training.trainer import Trainer

    cfg = validate_config({
        "data": {"benchmark": "conll2003"}, "text": {"lowercase": False},
        "model": {"encoder": {"type": "bilstm", "glove": False, "embedding_dim": 8, "hidden_size": 6}},
        "training": {"steps": 3, "batch_size": 4, "shared_forward": shared_forward},
    })
    tasks = load_tasks(cfg, tiny_conll)
    te = build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    encoded = encode_tasks(tasks, te)
    model = build_model(cfg.model, [t.spec for t in tasks], te)
    method = make_method("pcgrad", {"seed": 0})
    trainer = Trainer(model, method, encoded, cfg.training, seed=1, pad_id=te.pad_id)
    calls = _count_encoder_calls(model)
    seen = {}
    original = method.backward_parts  # what the trainer calls (a step of one part here)

    def spy(parts, ctx):
        def watch():
            for losses in parts:
                seen["reps"] = {id(o.representation) for o in ctx.outputs.values()}
                yield losses

        return original(watch(), ctx)

    method.backward_parts = spy
    trainer.step(1)
    assert calls[0] == (1 if shared_forward else 3)
    assert len(seen["reps"]) == (1 if shared_forward else 3)  # shared inputs seen by the gradient engine


def test_conll_training_end_to_end_reports_entity_f1(tiny_conll, tmp_path):
    cfg = {
        "data": {"benchmark": "conll2003", "tasks": ["pos", "ner"]}, "text": {"lowercase": False},
        "model": {"encoder": {"type": "bilstm", "glove": False, "embedding_dim": 8, "hidden_size": 8}},
        "training": {"steps": 4, "batch_size": 4, "eval_every": 2}, "output": {"runs_dir": str(tmp_path / "runs")},
    }
    result = textmtl.train(cfg, data_dir=tiny_conll, progress=False)
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert set(metrics["tasks"]["ner"]["test"]) == {"entity_f1", "token_accuracy"}
    assert 0.0 <= metrics["tasks"]["ner"]["test"]["entity_f1"] <= 1.0
    assert metrics["architecture"]["architecture"] == "hard"
    again = textmtl.evaluate(result.path, data_dir=tiny_conll)
    assert again["tasks"]["ner"]["test"] == metrics["tasks"]["ner"]["test"]
