"""`textmtl advise` on tiny synthetic problems of known geometry (issue 21): orthogonal tasks -> ls,
opposed tasks -> a conflict-aware method, 100x loss scales -> the method that beat ls on the conflict
suite's `scales` variant (cagrad; the loss-balancing methods did not: docs/RESULTS.md §16); the same
advice for the same seed; the data checks; the rules on hand-made geometry."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from textmtl.advice.advisor import AdviceOptions, advise
from textmtl.advice.geometry import Probe
from textmtl.advice.overlap import find_overlaps, normalise, overlap_warnings
from textmtl.advice.rules import (
    CONFLICT_FAMILY,
    CONFLICT_METHOD,
    SCALE_METHOD,
    SIZE_METHOD,
    STL_NOTE,
    recommend,
    summarise,
)
from textmtl.data.tasks import Example, TaskData, TaskKind, TaskSpec
from textmtl.errors import ConfigError

from ._cli import run_main

FAST = AdviceOptions(
    steps=12, probe_every=6, probe_size=32, cost_steps=1, cost_rounds=1, candidates=["ls", "pcgrad", "uw"]
)


def _write(path: Path, rows: list[tuple[str, object]]) -> str:
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    return str(path)


def _task(folder: Path, name: str, vocab: str, seed: int, kind: str = "classification", scale: float = 1.0) -> dict:
    """Texts of words `<vocab>0..<vocab>19`; the label says whether more words come from the first half."""
    rng = random.Random(seed)
    rows: dict[str, list] = {"train": [], "test": []}
    for split, n in (("train", 160), ("test", 40)):
        for _ in range(n):
            words = [rng.randrange(20) for _ in range(8)]
            low = sum(w < 10 for w in words)
            label = ("yes" if low > 4 else "no") if kind == "classification" else round(scale * low / 8, 3)
            rows[split].append((" ".join(f"{vocab}{w}" for w in words), label))
    files = {s: _write(folder / f"{name}.{s}.csv", r) for s, r in rows.items()}
    return {"name": name, "kind": kind, "files": files, "dev_size": 16}


def _config(folder: Path, tasks: list[dict], **data) -> dict:
    return {
        "seed": 3,
        "data": {"benchmark": None, "custom_tasks": tasks, **data},
        "model": {"encoder": {"type": "textcnn", "embedding_dim": 128, "glove": False, "num_filters": 4,
                              "kernel_sizes": [2, 3]}},
        "training": {"batch_size": 16, "lr": 0.003, "num_threads": 1},
    }


def test_orthogonal_tasks_get_ls_and_the_same_advice_for_the_same_seed(tmp_path):
    """Four tasks on disjoint vocabularies: their gradients meet only in the shared filters (wide
    embeddings, few filters: cosines near 0)."""
    names = [("a", "alpha"), ("b", "beta"), ("c", "gamma"), ("e", "delta")]
    cfg = _config(tmp_path, [_task(tmp_path, n, v, i) for i, (n, v) in enumerate(names)])
    first = advise(cfg, options=FAST)
    assert first["recommendation"]["method"] == "ls", first["recommendation"]
    assert first["recommendation"]["rule"] == "orthogonal"
    assert abs(first["geometry"]["mean_cosine"]) < 0.3
    again = advise(cfg, options=FAST)
    assert again["geometry"] == first["geometry"] and again["probes"] == first["probes"]
    assert again["recommendation"]["method"] == first["recommendation"]["method"]
    assert set(first["costs"]) >= {"ls", "pcgrad", "uw"} and first["costs"]["ls"] == 1.0


def test_opposed_tasks_get_a_conflict_aware_method(tmp_path):
    """A label-flipped copy with its source's head, trained slowly enough that the heads stay close."""
    cfg = _config(tmp_path, [_task(tmp_path, "a", "alpha", 1)],
                  derived_tasks=[{"name": "a_flipped", "copy_of": "a", "flip_labels": True}])
    cfg["training"]["lr"] = 1e-5
    report = advise(cfg, options=FAST)
    assert report["geometry"]["mean_cosine"] < -0.5
    assert report["recommendation"]["rule"] == "conflict"
    assert report["recommendation"]["method"] == CONFLICT_METHOD and CONFLICT_METHOD in CONFLICT_FAMILY
    assert any(r.startswith("evidence: conflict suite, flipped") for r in report["recommendation"]["reasons"])


def test_losses_on_a_100x_scale_get_the_scale_rule(tmp_path):
    tasks = [_task(tmp_path, "a", "alpha", 1), _task(tmp_path, "r", "beta", 2, kind="regression", scale=100.0)]
    report = advise(_config(tmp_path, tasks), options=FAST)
    assert report["geometry"]["loss_ratio"] >= 100
    assert report["recommendation"]["rule"] == "scale"
    assert report["recommendation"]["method"] == SCALE_METHOD


def test_single_task_models_and_one_task_are_refused(tmp_path):
    cfg = _config(tmp_path, [_task(tmp_path, "a", "alpha", 1), _task(tmp_path, "b", "beta", 2)])
    cfg["model"]["architecture"] = "separate"
    with pytest.raises(ConfigError, match="shares no parameters"):
        advise(cfg, options=FAST)
    with pytest.raises(ConfigError, match="one task"):
        advise(_config(tmp_path, [_task(tmp_path, "a", "alpha", 1)]), options=FAST)
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        advise(cfg, options=AdviceOptions(candidates=["ls", "nope"]))


def test_the_cli_writes_advice_json_and_prints_the_recommendation(tmp_path):
    import yaml

    cfg = _config(tmp_path, [_task(tmp_path, "a", "alpha", 1), _task(tmp_path, "b", "beta", 2)])
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "advice.json"
    code, printed = run_main(["advise", str(tmp_path / "c.yaml"), "--steps", "4", "--probe-every", "2",
                              "--methods", "ls,pcgrad", "--out", str(out), "--quiet"])
    assert code == 0, printed
    report = json.loads(out.read_text())
    assert "recommended: ls" in printed and report["budget"]["steps"] == 4 and len(report["probes"]) == 3
    code, printed = run_main(["advise", str(tmp_path / "c.yaml"), "--methods", "ls,nope", "--out", str(out)])
    assert code == 2 and "unknown method 'nope'" in printed and len(printed.strip().splitlines()) == 1


# ------------------------------------------------------------------------------- the data checks


def _td(name: str, train: list[str], test: list[str]) -> TaskData:
    spec = TaskSpec(name, TaskKind.CLASSIFICATION, ("n", "p"))
    return TaskData(spec, [Example(t, 0) for t in train], [], [Example(t, 0) for t in test])


def test_overlaps_find_test_texts_in_other_tasks_and_own_training_data():
    mr = _td("mr", ["A fine film!", "dull , boring", "x"], ["y"])
    sst = _td("sst", ["other"], ["a fine   FILM", "Dull, boring.", "new one", "other"])
    found = {(o.test_task, o.train_task): (o.count, o.test_size) for o in find_overlaps([mr, sst])}
    assert found == {("sst", "mr"): (2, 4), ("sst", "sst"): (1, 4)}
    assert normalise(Example("It's  GOOD!", 0)) == "it s good"
    assert normalise(Example("a", 0, "b")) != normalise(Example("a b", 0))  # the pair boundary counts
    lines = overlap_warnings([mr, sst])
    assert lines[0].startswith("2 of 4 test texts of task 'sst' (50.0%) occur in the training data of task 'mr'")


def test_train_warns_about_overlap_with_counts(tmp_path):
    import yaml

    rows = [(f"good film {i}", "pos") for i in range(12)] + [(f"bad film {i}", "neg") for i in range(12)]
    files = {"train": _write(tmp_path / "train.csv", rows), "test": _write(tmp_path / "test.csv", rows[:6])}
    cfg = {"data": {"benchmark": None, "custom_tasks": [{"name": "t", "files": files, "dev_size": 4}]},
           "model": {"encoder": {"type": "textcnn", "embedding_dim": 4, "glove": False, "num_filters": 2}},
           "training": {"steps": 1, "batch_size": 4}, "output": {"runs_dir": str(tmp_path / "runs")}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    code, printed = run_main(["train", str(tmp_path / "c.yaml")])
    assert code == 0, printed
    # 5 of 6: the dev hold-out took one of the six out of train
    assert "warning: 5 of 6 test texts of task 't' (83.3%) occur in its own training data" in printed
    import textmtl
    from textmtl.advice.overlap import DataOverlapWarning

    with pytest.warns(DataOverlapWarning, match="5 of 6 test texts of task 't'"):  # the API, no progress output
        textmtl.train(cfg, progress=False, name="quiet")


# ------------------------------------------------------------------------------- the rules


def _probe(cos: np.ndarray, losses: list[float], norms: list[float], rep: np.ndarray | None = None) -> Probe:
    tasks = [f"t{i}" for i in range(len(losses))]
    return Probe(0, tasks, dict(zip(tasks, losses)), cos, dict(zip(tasks, norms)), rep)


def test_rules_on_hand_made_geometry():
    eye = np.eye(3)
    ortho = summarise([_probe(eye, [0.7, 0.7, 0.6], [1, 1, 1], eye)])
    assert ortho.conflict_share == 0 and ortho.loss_ratio == pytest.approx(0.7 / 0.6)
    assert recommend(ortho, {"ls": 1.0}, {"a": 10, "b": 10}).method == "ls"
    opposed = eye.copy()
    opposed[0, 1] = opposed[1, 0] = -0.9
    conflict = summarise([_probe(opposed, [0.7] * 3, [1] * 3, eye)])
    assert conflict.conflict_share == pytest.approx(1 / 3) and conflict.representation_gap == pytest.approx(0.3)
    rec = recommend(conflict, {"ls": 1.0, CONFLICT_METHOD: 1.5, "cagrad": 1.1}, {"a": 10})
    assert (rec.method, rec.backend) == (CONFLICT_METHOD, "parameters")
    assert rec.alternative == "cagrad" and "1.10x" in rec.alternative_reason  # the cheaper one of the same kind
    # the representation back-end sees the same cosines and is cheaper: it is advised
    same = summarise([_probe(opposed, [0.7] * 3, [1] * 3, opposed)])
    rec = recommend(same, {"ls": 1.0, CONFLICT_METHOD: 1.5, f"{CONFLICT_METHOD}@representation": 1.1}, {"a": 1})
    assert rec.backend == "representation" and rec.alternative is None
    scales = summarise([_probe(eye, [0.7, 0.7, 70.0], [1, 1, 1])])
    assert recommend(scales, {"ls": 1.0}, {"a": 1}).method == SCALE_METHOD
    norms = summarise([_probe(eye, [0.7] * 3, [1, 1, 50])])
    assert recommend(norms, {"ls": 1.0}, {"a": 1}).rule == "scale"
    sized = recommend(ortho, {"ls": 1.0}, {"a": 1000, "b": 10})
    assert (sized.rule, sized.method) == ("size", SIZE_METHOD) and "100x" in sized.reasons[0]
    both = recommend(conflict, {"ls": 1.0}, {"a": 1000, "b": 10})  # conflict wins; the sizes become a note
    assert both.rule == "conflict" and both.notes and "100x" in both.notes[0]
    # no rule proposes stl, so every advice says so (topic-4: stl beat every multi-task method)
    assert all(r.notes[-1] == STL_NOTE for r in (rec, sized, both, recommend(ortho, {"ls": 1.0}, {"a": 1})))


def test_the_probe_equals_gradients_read_from_one_forward_pass_of_every_task(tmp_path):
    """`probe` runs one forward pass per input group and accumulates the Gram in blocks (to hold one
    group's activations); it must give what one pass over every task and a float64 Jacobian give."""
    import torch

    from textmtl.advice.geometry import _gram, probe, probe_batches
    from textmtl.config import as_config
    from textmtl.data.loading import encode_tasks, load_tasks
    from textmtl.models.build import build_model, build_text_encoder
    from textmtl.models.heads import task_loss

    cfg = as_config(_config(tmp_path, [_task(tmp_path, "a", "alpha", 1), _task(tmp_path, "b", "beta", 2)],
                            derived_tasks=[{"name": "a_flipped", "copy_of": "a", "flip_labels": True}]))
    tasks = load_tasks(cfg, None)
    text_encoder = build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    torch.manual_seed(0)
    model = build_model(cfg.model, [t.spec for t in tasks], text_encoder)
    batches = probe_batches(encode_tasks(tasks, text_encoder), 24, text_encoder.pad_id, seed=0)
    assert batches["a"].input_key is not None and batches["a"].input_key == batches["a_flipped"].input_key
    got = probe(model, batches, step=0)

    model.eval()
    outputs = model.forward_batches(batches)
    losses = {t: task_loss(model.specs[t].kind, outputs[t].logits, b.labels) for t, b in batches.items()}
    shared = model.shared_parameters()
    jac = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, shared, retain_graph=True)])
                       for loss in losses.values()]).double()
    reps = {t: outputs[t].representation for t in batches}
    assert reps["a"] is reps["a_flipped"] and reps["a"] is not reps["b"]
    rep_rows = torch.zeros((3, reps["a"].numel() + reps["b"].numel()), dtype=torch.float64)
    for k, (t, loss) in enumerate(losses.items()):
        (g,) = torch.autograd.grad(loss, [reps[t]], retain_graph=True)
        start = 0 if t != "b" else reps["a"].numel()
        rep_rows[k, start:start + g.numel()] = g.reshape(-1).double()

    def cos(rows):
        n = rows.norm(dim=1)
        return (rows @ rows.T / torch.outer(n, n)).numpy()

    assert got.tasks == list(batches) and got.losses == pytest.approx({t: v.item() for t, v in losses.items()})
    np.testing.assert_allclose(got.cosine, cos(jac), atol=1e-6)
    np.testing.assert_allclose([got.norms[t] for t in got.tasks], jac.norm(dim=1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(got.representation_cosine, cos(rep_rows), atol=1e-6)
    a, b = got.tasks.index("a"), got.tasks.index("b")
    assert got.representation_cosine[a, b] == 0 and got.representation_cosine[a, a] == pytest.approx(1)  # disjoint
    rows = torch.randn(3, 2500, dtype=torch.float64)
    torch.testing.assert_close(_gram(rows, chunk=1000), rows @ rows.T)
