"""GradTS (textmtl.selection): head importance, normalisation, Kendall's τ, the cache, the selection
rules and `textmtl select`, on a tiny random BERT (2 layers, 4 heads, hidden 32)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import kendalltau

from tests._cli import run_main
from textmtl.data.batching import EncodedSplit, collate
from textmtl.data.tasks import Example, TaskKind, TaskSpec
from textmtl.data.text_encoders import PretrainedTextEncoder
from textmtl.models.architectures import HardSharing
from textmtl.models.encoders import PretrainedTransformer
from textmtl.models.heads import task_loss
from textmtl.selection import (
    ImportanceCache,
    attention_projections,
    exhaustive,
    head_importance,
    head_scores,
    instance_taus,
    kendall_tau,
    normalise,
    random_same_size,
    select_fg,
    select_thres,
    select_trial,
    subsets_up_to,
    tau_matrix,
)
from textmtl.selection.head_importance import instance_head_matrices

SPEC = TaskSpec("toy", TaskKind.CLASSIFICATION, ("neg", "pos"))
TEXTS = [("a great movie", 1), ("awful plot , bad film", 0), ("i love this book very much", 1), ("boring", 0)]


def tiny_model(folder: Path) -> tuple[HardSharing, EncodedSplit, int]:
    torch.manual_seed(0)
    model = HardSharing([SPEC], PretrainedTransformer.from_folder(folder))
    te = PretrainedTextEncoder(folder, 16)
    examples = [Example(t, y) for t, y in TEXTS]
    return model, EncodedSplit(SPEC.kind, te.encode_many(examples), examples), te.pad_id


# --------------------------------------------------------------------------- head importance

@pytest.mark.parametrize("slicing", ["output", "input"])
def test_head_scores_are_the_head_slices_of_wk_and_wv_gradients(tiny_bert, slicing):
    model, split, pad = tiny_model(tiny_bert)
    got = instance_head_matrices(model, "toy", split, pad, slicing=slicing)
    layers = attention_projections(model)
    assert got.shape == (len(TEXTS), 2, 4) and len(layers) == 2
    model.eval()
    for i in range(len(TEXTS)):  # by hand: backward, then slice .grad of W_K and W_V
        model.zero_grad(set_to_none=True)
        batch = collate(split, [i], pad)
        task_loss(SPEC.kind, model("toy", batch).logits, batch.labels).backward()
        for j, layer in enumerate(layers):
            gk, gv = layer.key.weight.grad.abs(), layer.value.weight.grad.abs()
            d = gk.shape[0] // 4
            for h in range(4):
                part = slice(h * d, (h + 1) * d)
                if slicing == "output":  # rows of the [out, in] weight
                    expected = gk[part, :].mean() + gv[part, :].mean()
                else:  # the official code's reshape: input columns
                    expected = gk[:, part].mean() + gv[:, part].mean()
                assert got[i, j, h] == pytest.approx(float(expected), rel=1e-5, abs=1e-12)
    assert got.min() > 0  # real gradients reached every head


@pytest.mark.parametrize("slicing", ["output", "input"])
@pytest.mark.parametrize("kind", [TaskKind.CLASSIFICATION, TaskKind.REGRESSION, TaskKind.TAGGING])
def test_batched_per_example_gradients_equal_the_one_by_one_loop(tiny_bert, slicing, kind):
    model, split, pad = tiny_model(tiny_bert)
    if kind == TaskKind.REGRESSION:
        model = HardSharing([TaskSpec("toy", kind)], model.encoder)
        examples = [Example(t, float(y) * 2.5 - 0.3) for t, y in TEXTS]
        split = EncodedSplit(kind, split.texts, examples)
    elif kind == TaskKind.TAGGING:  # a tagging example's loss is the mean over its own tokens
        model = HardSharing([TaskSpec("toy", kind, ("O", "X"))], model.encoder)
        examples = [Example(t, tuple(len(w) % 2 for w in t.split()), tokens=tuple(t.split())) for t, _ in TEXTS]
        split = EncodedSplit(kind, PretrainedTextEncoder(tiny_bert, 16).encode_many(examples), examples)
    assert len(set(split.lengths().tolist())) > 1  # the batches hold padding
    one = instance_head_matrices(model, "toy", split, pad, slicing=slicing, batch_size=1)
    for batch_size in (3, 16):
        batched = instance_head_matrices(model, "toy", split, pad, slicing=slicing, batch_size=batch_size)
        assert np.allclose(batched, one, rtol=1e-4, atol=1e-10)


def test_importance_pass_changes_no_weight_and_writes_no_grad(tiny_bert):
    model, split, pad = tiny_model(tiny_bert)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    instance_head_matrices(model, "toy", split, pad)
    instance_head_matrices(model, "toy", split, pad, batch_size=4)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert model.training  # mode restored


def test_head_scores_pick_rows_or_columns():
    d, heads = 3, 4
    grad = torch.zeros(d * heads, d * heads)
    grad[2 * d:3 * d, :] = -3.0  # every weight of head 2's output rows (sign: absolute values count)
    assert head_scores(grad, torch.zeros_like(grad), heads, "output").tolist() == [0, 0, 3, 0]
    assert head_scores(grad, torch.zeros_like(grad), heads, "input").tolist() == pytest.approx([0.75] * 4)
    cols = torch.zeros(d * heads, d * heads)
    cols[:, d:2 * d] = 2.0
    assert head_scores(torch.zeros_like(cols), cols, heads, "input").tolist() == [0, 2, 0, 0]


def test_normalise_worked_example():
    # rows / row sums: [[.25, .75], [.5, .5]], then min-max over the whole matrix
    assert normalise(np.array([[1.0, 3.0], [2.0, 2.0]])).tolist() == [[0.0, 1.0], [0.5, 0.5]]
    assert normalise(np.ones((2, 3))).tolist() == [[0.0] * 3] * 2  # constant: no ranking


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 12)),
              elements=st.floats(1e-6, 1e3, allow_nan=False)))
def test_normalise_is_layer_sum_then_global_min_max(m):
    rows = m / m.sum(axis=1, keepdims=True)
    out = normalise(m)
    assert np.allclose(rows.sum(axis=1), 1.0)
    if np.ptp(rows) > 1e-12:
        assert out.min() == pytest.approx(0.0) and out.max() == pytest.approx(1.0)
        assert np.allclose(out, (rows - rows.min()) / np.ptp(rows))
        # the order of the heads is the order of their layer-normalised scores
        assert (np.argsort(out, axis=None, kind="stable") == np.argsort(rows, axis=None, kind="stable")).all()


def test_task_matrix_is_the_normalised_mean_of_instances():
    rng = np.random.default_rng(0)
    raw = rng.random((5, 3, 4))
    imp = head_importance(raw)
    assert np.allclose(imp.raw, raw.mean(0)) and np.allclose(imp.task, normalise(raw.mean(0)))
    assert np.allclose(imp.instances[2], normalise(raw[2]))


# --------------------------------------------------------------------------- correlation

@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_tau_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.random((6, 12)), rng.random((6, 12))
    b[0] = a[0]  # some agreement
    assert kendall_tau(a, b) == pytest.approx(kendalltau(a.ravel(), b.ravel()).statistic, abs=1e-12)


def test_tau_matrix_and_instance_taus():
    rng = np.random.default_rng(1)
    mats = {t: rng.random((3, 4)) for t in ("A", "B", "C")}
    names, tau = tau_matrix(mats)
    assert names == ["A", "B", "C"] and np.allclose(tau, tau.T) and np.allclose(np.diag(tau), 1)
    assert tau[0, 2] == pytest.approx(kendalltau(mats["A"].ravel(), mats["C"].ravel()).statistic)
    inst = rng.random((5, 3, 4))
    assert instance_taus(mats["A"], inst) == pytest.approx(
        [kendalltau(mats["A"].ravel(), m.ravel()).statistic for m in inst])
    assert kendall_tau(np.ones((2, 2)), rng.random((2, 2))) == 0.0  # NaN (constant) counts as no correlation


# --------------------------------------------------------------------------- cache

def test_cache_computes_each_entry_once(tmp_path):
    calls = []

    def compute(task):
        def run():
            calls.append(task)
            return head_importance(np.random.default_rng(len(calls)).random((3, 2, 4))), {"seconds": {"x": 1}}
        return run

    cache = ImportanceCache(tmp_path)
    a, meta, hit = cache.get_or_compute("A", {"seed": 1}, compute("A"))
    assert not hit and calls == ["A"] and meta["settings"] == {"seed": 1}
    again, _, hit = ImportanceCache(tmp_path).get_or_compute("A", {"seed": 1}, compute("A"))  # a new process
    assert hit and calls == ["A"] and np.array_equal(again.task, a.task) and again.instances.shape == (3, 2, 4)
    cache.get_or_compute("A", {"seed": 2}, compute("A"))  # other settings: another entry
    assert calls == ["A", "A"] and (cache.hits, cache.misses) == (0, 2)
    assert not list(tmp_path.glob("*.partial"))


def test_cache_leaves_nothing_when_the_computation_fails(tmp_path):
    def boom():
        raise RuntimeError("interrupted")

    cache = ImportanceCache(tmp_path)
    with pytest.raises(RuntimeError):
        cache.get_or_compute("A", {}, boom)
    assert cache.load("A", {}) is None and not list(tmp_path.glob("A-*[!k]"))  # only the lock file


def test_an_option_added_later_keeps_earlier_keys_at_its_default():
    from textmtl.selection.options import keyed_config

    cfg = {"name": "x", "data": {"benchmark": "glue", "max_train_examples": 500}, "training": {"num_threads": 1}}
    before = keyed_config(cfg)  # a config written before `data.subsample` existed
    assert before["data"]["max_train_examples"] == 500 and "subsample" not in before["data"]
    assert "name" not in before and "num_threads" not in before["training"]  # not what a run computes
    assert keyed_config({**cfg, "data": {**cfg["data"], "subsample": "first"}}) == before
    assert keyed_config({**cfg, "data": {**cfg["data"], "subsample": "random"}}) != before


# --------------------------------------------------------------------------- selection rules

TAUS = {"A": 0.8, "B": 0.65, "C": 0.6, "D": 0.3}


def test_thres_picks_tau_at_least_threshold():
    assert select_thres(TAUS, 0.6) == ["A", "B", "C"]
    assert select_thres(TAUS, 0.9) == []


def test_trial_stops_at_the_first_drop_and_keeps_the_best():
    scores = {(): 0.50, ("A",): 0.55, ("A", "B"): 0.60, ("A", "B", "C"): 0.58, ("A", "B", "C", "D"): 0.99}
    seen = []

    def train(aux):
        seen.append(tuple(aux))
        return scores[tuple(aux)]

    result = select_trial(TAUS, train)
    assert seen == [(), ("A",), ("A", "B"), ("A", "B", "C")]  # stopped: D never trained
    assert result.selected == ["A", "B"] and result.best_score == 0.60 and result.stopped_early


def test_trial_continues_on_equal_scores_and_can_select_nothing():
    flat = select_trial(TAUS, lambda aux: 0.5)
    assert len(flat.trials) == 5 and flat.selected == [] and not flat.stopped_early  # ties: the smaller set
    worse = select_trial(TAUS, lambda aux: 0.5 - 0.1 * len(aux))
    assert [t.aux for t in worse.trials] == [[], ["A"]] and worse.selected == []
    no_ref = select_trial(TAUS, lambda aux: {1: 0.4, 2: 0.3}[len(aux)], include_main_only=False)
    assert no_ref.selected == ["A"] and len(no_ref.trials) == 2


def test_fg_keeps_instances_at_or_above_the_threshold():
    inst = {"A": np.array([0.7, 0.2, 0.55, 0.549]), "B": np.array([0.1]), "C": np.array([0.9])}
    assert select_fg(["A", "B"], inst, 0.55) == {"A": [0, 2], "B": []}


def test_baselines():
    cands = ["A", "B", "C", "D", "E"]
    r = random_same_size(cands, 2, seed=3)
    assert len(r) == 2 and set(r) <= set(cands) and r == random_same_size(cands, 2, seed=3)
    assert random_same_size(cands, 0, seed=1) == []
    subsets = subsets_up_to(cands, 2)
    assert len(subsets) == 5 + 10 and ["A", "E"] in subsets
    res = exhaustive(cands[:3], lambda aux: {("A", "C"): 0.9}.get(tuple(aux), 0.1 * len(aux)))
    assert res.best == ["A", "C"] and len(res.scores) == 1 + 3 + 3


# --------------------------------------------------------------------------- textmtl select

def tiny_select_config(tmp_path: Path, tiny_bert: Path) -> Path:
    cfg = {
        "data": {"max_train_examples": 16, "max_eval_examples": 8},
        "text": {"max_length": 24},
        "model": {"encoder": {"type": "transformer", "path": str(tiny_bert)}},
        "training": {"epochs": 1, "batch_size": 8, "eval_batch_size": 16, "lr": 1e-3, "num_threads": 1},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def select_args(tmp_path: Path, config: Path, data_dir: Path, candidates: str, out: str, *extra: str) -> list[str]:
    return ["select", "--main", "RTE", "--candidates", candidates, "--config", str(config),
            "--data-dir", str(data_dir), "--work-dir", str(tmp_path / "work"), "--out", str(tmp_path / out),
            "--importance-examples", "12", "--importance-epochs", "1", *extra]


def test_select_end_to_end_and_a_new_candidate_reuses_the_cache(tmp_path, tiny_bert, data_dir):
    config = tiny_select_config(tmp_path, tiny_bert)
    code, output = run_main(select_args(tmp_path, config, data_dir, "WNLI,MRPC", "first",
                                        "--strategy", "trial", "--baselines", "main,all,random", "--then-train"))
    assert code == 0, output
    first = json.loads((tmp_path / "first" / "selection.json").read_text())
    assert (tmp_path / "first" / "tau_heatmap.png").stat().st_size > 0
    assert first["cache"] == first["cache"] | {"hits": 0, "misses": 3, "computed": ["RTE", "WNLI", "MRPC"]}
    assert set(first["taus"]) == {"WNLI", "MRPC"} and first["main_metric"] == "accuracy"
    assert first["taus"]["MRPC"] == pytest.approx(first["tau_matrix"]["values"][0][2])
    assert first["trials"][0]["aux"] == [] and set(first["selected"]) <= {"WNLI", "MRPC"}
    assert first["then_train"]["aux"] == sorted(first["selected"])
    assert set(first["baselines"]) == {"main", "all", "random"}
    assert len(first["baselines"]["random"]["aux"]) == len(first["selected"])
    assert first["baselines"]["main"]["run"] == first["trials"][0]["run"]  # one run served both
    runs = [p for p in (tmp_path / "work" / "runs").iterdir() if p.is_dir()]
    assert len(runs) == len({json.dumps(sorted(r["aux"])) for r in [*first["trials"], *first["baselines"].values()]})
    assert first["compute_seconds"]["gradts_total"] > 0 and first["seconds"]["finetune"] > 0

    code, output = run_main(select_args(tmp_path, config, data_dir, "WNLI,MRPC,CoLA", "second", "--strategy", "thres",
                                        "--threshold", "-1", "--baselines", "exhaustive"))
    assert code == 0, output
    second = json.loads((tmp_path / "second" / "selection.json").read_text())
    assert second["cache"] == second["cache"] | {"hits": 3, "misses": 1, "computed": ["CoLA"]}
    assert second["taus"]["MRPC"] == first["taus"]["MRPC"]  # the same cached matrices
    assert second["selected"] == second["ranking"]  # threshold -1: every candidate
    ex = second["baselines"]["exhaustive"]
    assert len(ex["runs"]) == 1 + 3 + 3 and ex["runs"][0]["aux"] == []
    assert ex["best_dev"] == max(r["dev"] for r in ex["runs"])
    assert second["compute_seconds"]["exhaustive"] == pytest.approx(sum(r["seconds"] for r in ex["runs"]), abs=0.05)


def test_select_fg_filters_auxiliary_instances(tmp_path, tiny_bert, data_dir, monkeypatch):
    from textmtl.selection import pipeline
    from textmtl.selection.strategies import Trial, TrialResult

    def trial_picks_wnli(taus, score):  # the trial phase's choice is not what this test is about
        return TrialResult(["WNLI"], score(["WNLI"]), [Trial(["WNLI"], score(["WNLI"]))])

    monkeypatch.setattr(pipeline, "select_trial", trial_picks_wnli)
    config = tiny_select_config(tmp_path, tiny_bert)
    code, output = run_main(select_args(tmp_path, config, data_dir, "WNLI", "fg", "--strategy", "fg",
                                        "--instance-threshold", "-1"))
    assert code == 0, output
    report = json.loads((tmp_path / "fg" / "selection.json").read_text())
    assert report["selected"] == ["WNLI"]
    assert report["fg"]["WNLI"]["kept"] == report["fg"]["WNLI"]["of"] == 12  # threshold -1: every instance with a τ
    assert report["fg_run"]["dev"] == report["fg_run"]["dev"]  # a number, not NaN
    config = yaml.safe_load((Path(report["fg_run"]["run"]) / "config.yaml").read_text())
    (custom,) = config["data"]["custom_tasks"]
    assert custom["name"] == "WNLI" and config["data"]["tasks"] == ["RTE"]
    assert len(Path(custom["files"]["train"]).read_text().splitlines()) == 12  # the filtered training set
    code, _ = run_main(select_args(tmp_path, tiny_select_config(tmp_path, tiny_bert), data_dir, "WNLI", "fg2",
                                   "--strategy", "fg", "--instance-threshold", "2"))
    assert code == 0
    strict = json.loads((tmp_path / "fg2" / "selection.json").read_text())
    assert strict["fg"]["WNLI"]["kept"] == 0 and strict["fg_run"]["aux"] == []  # nothing left: the main task alone


@pytest.mark.parametrize(("args", "message"), [
    (["--main", "RTE", "--candidates", "CoLA,SST2"], "unknown task 'SST2' (did you mean 'SST-2'?)"),
    (["--main", "RTE", "--candidates", "RTE,CoLA"], "cannot be its own candidate"),
    (["--main", "RTE", "--candidates", "CoLA", "--strategy", "best"], "--strategy: expected one of"),
    (["--main", "RTE", "--candidates", "CoLA", "--baselines", "everything"], "--baselines: unknown"),
    (["--main", "RTE", "--candidates", "books"], "not all from one benchmark"),
])
def test_select_bad_input_is_one_line_and_writes_nothing(tmp_path, data_dir, args, message):
    out = tmp_path / "sel"
    code, output = run_main(["select", *args, "--out", str(out), "--work-dir", str(tmp_path / "work"),
                             "--data-dir", str(data_dir)])
    assert code == 2 and message in output and len(output.strip().splitlines()) == 1, output
    assert not out.exists() and not out.with_name("sel.partial").exists() and not (tmp_path / "work").exists()


def test_select_failure_midway_leaves_no_output_directory(tmp_path, tiny_bert, data_dir, monkeypatch):
    from textmtl.errors import TrainingError
    from textmtl.selection.trials import Selection

    def fail(self, task):
        raise TrainingError(f"{task}: stopped")

    monkeypatch.setattr(Selection, "compute_importance", fail)
    config = tiny_select_config(tmp_path, tiny_bert)
    code, output = run_main(select_args(tmp_path, config, data_dir, "WNLI", "sel"))
    assert code == 2 and "RTE: stopped" in output
    assert not (tmp_path / "sel").exists() and not (tmp_path / "sel.partial").exists()
    assert not list((tmp_path / "work" / "importance").glob("*-*[!k]"))  # nothing cached (lock files only)
    code, output = run_main(select_args(tmp_path, config, data_dir, "WNLI", "sel"))
    assert code == 2  # and it can be re-run in the same place
