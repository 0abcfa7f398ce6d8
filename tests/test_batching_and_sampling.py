import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textmtl.data.batching import IGNORE_INDEX, BatchStream, EncodedSplit, bucketed_order, collate
from textmtl.data.sampling import make_sampler
from textmtl.data.tasks import Example, TaskKind
from textmtl.data.text_encoders import EncodedText


def split_of(lengths, kind=TaskKind.CLASSIFICATION):
    texts = [EncodedText(list(range(1, n + 1))) for n in lengths]
    return EncodedSplit(kind, texts, [Example("x", i % 2) for i in range(len(lengths))])


def test_collate_pads_and_masks():
    b = collate(split_of([3, 1, 2]), [0, 1, 2], pad_id=0)
    assert b.input_ids.tolist() == [[1, 2, 3], [1, 0, 0], [1, 2, 0]]
    assert b.attention_mask.sum(1).tolist() == [3, 1, 2]
    assert b.labels.tolist() == [0, 1, 0]


def test_collate_tagging_labels_first_subtoken_only():
    texts = [EncodedText([5, 6, 7, 8], word_ids=[None, 0, 0, 1])]
    split = EncodedSplit(TaskKind.TAGGING, texts, [Example("a b", (2, 3), tokens=("a", "b"))])
    assert collate(split, [0], 0).labels.tolist() == [[IGNORE_INDEX, 2, IGNORE_INDEX, 3]]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=300), st.integers(1, 17), st.integers(0, 1000))
def test_bucketed_order_is_a_partition_into_batches(lengths, batch_size, seed):
    batches = bucketed_order(np.array(lengths), batch_size, np.random.default_rng(seed))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)


def test_bucketing_reduces_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 400, size=2000)
    pad = lambda bs: sum(lengths[b].max() * len(b) - lengths[b].sum() for b in bs)  # noqa: E731
    bucketed = bucketed_order(lengths, 16, np.random.default_rng(1))
    perm = np.random.default_rng(1).permutation(len(lengths))
    plain = [perm[i:i + 16] for i in range(0, len(perm), 16)]
    assert pad(bucketed) < 0.2 * pad(plain)


def test_stream_is_deterministic_reshuffles_and_resumes():
    split = split_of(list(range(1, 40)))
    a, b = BatchStream(split, 8, 0, seed=3), BatchStream(split, 8, 0, seed=3)
    first = [next(a).indices.tolist() for _ in range(12)]
    assert first == [next(b).indices.tolist() for _ in range(12)]
    epoch0, epoch1 = sorted(sum(first[:5], [])), sorted(sum(first[5:10], []))
    assert epoch0 == epoch1 == list(range(39)) and first[:5] != first[5:10]
    state = a.state_dict()
    c = BatchStream(split, 8, 0, seed=3)
    c.load_state_dict(state)
    assert next(c).indices.tolist() == next(a).indices.tolist()


SIZES = {"a": 100, "b": 400, "c": 1600}


def test_sampler_probabilities_follow_their_formulas():
    n = np.array([100, 400, 1600], dtype=float)
    assert np.allclose(make_sampler("uniform", SIZES, 0).probabilities(0.3), 1 / 3)
    assert np.allclose(make_sampler("proportional", SIZES, 0).probabilities(0.3), n / n.sum())
    t = make_sampler("temperature", SIZES, 0, temperature=2.0).probabilities(0.3)
    assert np.allclose(t, np.sqrt(n) / np.sqrt(n).sum())
    ann = make_sampler("annealed", SIZES, 0, final_exponent=0.2)
    assert np.allclose(ann.probabilities(0.0), n / n.sum())
    assert np.allclose(ann.probabilities(1.0), n**0.2 / (n**0.2).sum())
    p_mid = ann.probabilities(0.5)
    assert p_mid[0] > ann.probabilities(0.0)[0]  # annealing flattens over time


@pytest.mark.parametrize("strategy", ["uniform", "proportional", "temperature", "annealed"])
def test_sampler_empirical_frequencies_match(strategy):
    s = make_sampler(strategy, SIZES, seed=7)
    draws = [s.sample(0.5)[0] for _ in range(6000)]
    freq = np.array([draws.count(t) for t in SIZES]) / len(draws)
    assert np.abs(freq - s.probabilities(0.5)).max() < 0.03


def test_all_tasks_sampler_and_several_tasks_per_step():
    assert make_sampler("all", SIZES, 0).sample(0.1) == ["a", "b", "c"]
    picks = make_sampler("uniform", SIZES, 0, tasks_per_step=2).sample(0.1)
    assert len(picks) == 2 and len(set(picks)) == 2


def test_sampler_state_round_trip():
    s = make_sampler("proportional", SIZES, 5)
    s.sample(0)
    state = s.state_dict()
    expected = [s.sample(0) for _ in range(5)]
    t = make_sampler("proportional", SIZES, 99)
    t.load_state_dict(state)
    assert [t.sample(0) for _ in range(5)] == expected


# ------------------------------------------------------------------ schedulers (issue 20 item 5)


def test_bandit_scheduler_is_a_softmax_of_exponentially_weighted_rewards():
    s = make_sampler("bandit", SIZES, 0, tasks_per_step=1, bandit_temperature=2.0, bandit_alpha=0.5)
    assert np.allclose(s.probabilities(0), 1 / 3)  # Q = 0
    s.observe_evaluation({"a": 0.5, "b": 0.5, "c": 0.5})  # the first evaluation only sets the baseline
    assert np.allclose(s.q, 0)
    s.pulled[:] = [True, True, False]  # a and b drawn since
    s.observe_evaluation({"a": 0.6, "b": 0.4, "c": 0.9})  # rewards 100 x change: +10, -10 (c not drawn)
    assert np.allclose(s.q, [5.0, -5.0, 0.0])
    z = np.array([5.0, -5.0, 0.0]) / 2.0
    assert np.allclose(s.probabilities(0.5), np.exp(z) / np.exp(z).sum())
    draws = [s.sample(0.5)[0] for _ in range(4000)]
    assert abs(draws.count("a") / 4000 - s.probabilities(0.5)[0]) < 0.03
    assert not s.pulled.any() or set(np.array(s.tasks)[s.pulled]) <= {"a", "b", "c"}


def test_worst_first_draws_the_task_furthest_from_its_start():
    s = make_sampler("worst_first", SIZES, 0, tasks_per_step=1, worst_first_momentum=0.5)
    seen = [s.sample(0)[0] for _ in range(1)]
    s.observe({seen[0]: 1.0})
    seen += s.sample(0)
    s.observe({seen[1]: 1.0})
    seen += s.sample(0)
    assert sorted(seen) == ["a", "b", "c"]  # every task once before any twice
    s.observe({seen[2]: 2.0})
    s.observe({"a": 0.2, "b": 0.9, "c": 2.0})  # ratios: a 0.6, b 0.95, c 1.0
    assert s.sample(0) == ["c"] and np.allclose(s.probabilities(0), [0, 0, 1])
    two = make_sampler("worst_first", SIZES, 0, tasks_per_step=2)
    two.observe({"a": 1.0, "b": 1.0, "c": 1.0})
    two.observe({"a": 0.1, "b": 2.0, "c": 1.0})
    assert two.sample(0) == ["b", "c"]


@pytest.mark.parametrize("strategy", ["bandit", "worst_first"])
def test_scheduler_state_round_trip(strategy):
    s = make_sampler(strategy, SIZES, 5, tasks_per_step=1)
    for i in range(6):
        picked = s.sample(0)
        s.observe({t: 1.0 / (i + 1) for t in picked})
        if i % 2:
            s.observe_evaluation({"a": 0.1 * i, "b": 0.05 * i, "c": 0.5})
    saved = json.loads(json.dumps(s.state_dict()))
    expected = [s.sample(0) for _ in range(5)]
    t = make_sampler(strategy, SIZES, 99, tasks_per_step=1)
    t.load_state_dict(saved)
    assert [t.sample(0) for _ in range(5)] == expected


def test_scheduler_options_are_checked():
    with pytest.raises(ValueError, match="bandit_temperature"):
        make_sampler("bandit", SIZES, 0, bandit_temperature=0)
    with pytest.raises(ValueError, match="worst_first_momentum"):
        make_sampler("worst_first", SIZES, 0, worst_first_momentum=1.0)
