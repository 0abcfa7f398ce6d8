"""The conflict suite's constructions (issue 21): label-flipped copies whose gradients oppose their
source's (cosine -1 at the start), per-task training caps (unequal sizes), and the suite itself."""

from __future__ import annotations

import pytest
import torch

from textmtl.config import validate_config
from textmtl.errors import ConfigError

ROWS = "".join(f"good film {i} fine,pos\nbad film {i} awful,neg\nok film {i},neu\n" for i in range(20))
BINARY = "".join(f"good film {i} fine,pos\nbad film {i} awful,neg\n" for i in range(30))


def _toy(tmp_path, rows: str = ROWS, **data) -> dict:
    (tmp_path / "train.csv").write_text("text,label\n" + rows)
    (tmp_path / "test.csv").write_text("text,label\n" + rows)
    files = {"train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")}
    return {
        "data": {"benchmark": None, "custom_tasks": [{"name": "a", "files": files, "dev_size": 6},
                                                     {"name": "b", "files": files, "dev_size": 6}], **data},
        "model": {"encoder": {"type": "textcnn", "embedding_dim": 8, "glove": False, "num_filters": 4}},
        "training": {"steps": 2, "batch_size": 4},
        "output": {"runs_dir": str(tmp_path / "runs")},
    }


def test_a_flipped_copy_reverses_the_class_order_on_the_same_examples(tmp_path):
    from textmtl.api import load_tasks

    cfg = validate_config(_toy(tmp_path, derived_tasks=[{"name": "a_flip", "copy_of": "a", "flip_labels": True},
                                                        {"name": "b_same", "copy_of": "b"}]))
    tasks = {t.name: t for t in load_tasks(cfg)}
    a, flip, same = tasks["a"], tasks["a_flip"], tasks["b_same"]
    assert flip.spec.labels == a.spec.labels and len(a.spec.labels) == 3
    for split in ("train", "dev", "test"):
        src, got = a.split(split), flip.split(split)
        assert [e.text for e in got] == [e.text for e in src]
        assert [e.label for e in got] == [2 - e.label for e in src]
        assert [e.label for e in same.split(split)] == [e.label for e in tasks["b"].split(split)]
    assert a.input_group == flip.input_group == "a"  # one forward pass per batch for both


def test_derived_task_errors_name_the_key(tmp_path):
    from textmtl.api import load_tasks

    with pytest.raises(ConfigError, match=r"data.derived_tasks.0.copy_of: no task named 'c'"):
        load_tasks(validate_config(_toy(tmp_path, derived_tasks=[{"name": "x", "copy_of": "c"}])))
    with pytest.raises(ConfigError, match=r"data.derived_tasks.0.name: a task named 'b' exists"):
        load_tasks(validate_config(_toy(tmp_path, derived_tasks=[{"name": "b", "copy_of": "a"}])))
    with pytest.raises(ConfigError, match=r"data.max_train_examples.zz: no task of that name"):
        load_tasks(validate_config(_toy(tmp_path, max_train_examples={"zz": 3})))
    with pytest.raises(ConfigError, match="max_train_examples"):
        validate_config(_toy(tmp_path, max_train_examples={"a": 0}))


def test_per_task_caps_give_unequal_sizes(tmp_path):
    from textmtl.api import load_tasks

    tasks = {t.name: t for t in load_tasks(validate_config(_toy(tmp_path, max_train_examples={"a": 5})))}
    assert len(tasks["a"].train) == 5 and len(tasks["b"].train) == 54  # 60 rows, 6 held out for dev


def _gradients_on_the_encoder(cfg: dict) -> tuple[torch.Tensor, torch.Tensor]:
    from textmtl.api import encode_tasks, load_tasks
    from textmtl.data.batching import collate
    from textmtl.models.build import build_model, build_text_encoder
    from textmtl.training.lifecycle import start_derived_heads

    config = validate_config(cfg)
    tasks = load_tasks(config)
    te = build_text_encoder(config.model, config.text, (e for t in tasks for e in t.train))
    encoded = encode_tasks(tasks, te)
    torch.manual_seed(0)
    model = build_model(config.model, [t.spec for t in tasks], te)
    start_derived_heads(config, model)
    model.eval()  # no dropout: the same features for both tasks
    shared = model.shared_parameters()
    grads = []
    for task in ("a", "a_flip"):
        batch = collate(encoded[task].train, list(range(32)), te.pad_id)
        model.zero_grad()
        _loss(model, task, batch).backward()
        grads.append(torch.cat([p.grad.flatten() for p in shared]))
    return grads[0], grads[1]


def _loss(model, task, batch):
    from textmtl.models.heads import task_loss

    return task_loss(model.specs[task].kind, model(task, batch).logits, batch.labels)


def test_a_flipped_copy_with_its_sources_head_has_the_opposite_gradient_at_the_start(tmp_path):
    """Binary labels swapped on the same batch, the same head: opposed (the losses' logit gradients are
    p1 (-1, 1) and p0 (1, -1) per example, so exactly opposed where p = 1/2)."""
    derived = [{"name": "a_flip", "copy_of": "a", "flip_labels": True}]
    g, g_flip = _gradients_on_the_encoder(_toy(tmp_path, BINARY, derived_tasks=derived))
    cosine = float(torch.nn.functional.cosine_similarity(g, g_flip, dim=0))
    assert cosine < -0.95, cosine
    # with a head of its own (copy_head: false) the two gradients are far from opposed
    derived[0]["copy_head"] = False
    g, g_flip = _gradients_on_the_encoder(_toy(tmp_path, BINARY, derived_tasks=derived))
    assert float(torch.nn.functional.cosine_similarity(g, g_flip, dim=0)) > -0.9


def test_the_conflict_suite_plans_its_variants_and_caps_the_sizes_on_real_data(data_dir):
    from textmtl.benchmarking.plan import plan_runs
    from textmtl.benchmarking.suite import resolve_suite

    suite = resolve_suite("conflict")
    grid, _ = plan_runs(suite)
    assert len(grid) == 3 * 12 * 3 and set(suite.variants) == {"flipped", "scales", "sizes"}
    by = {(r.variant, r.method, r.seed): r.config for r in grid}
    flipped = by[("flipped", "ls", 1)]
    assert [d["copy_of"] for d in flipped["data"]["derived_tasks"]] == flipped["data"]["tasks"]
    assert "derived_tasks" not in by[("scales", "ls", 1)]["data"]
    assert by[("sizes", "ls", 1)]["data"]["max_train_examples"] == {"books": 1400, "dvd": 200, "electronics": 50,
                                                                    "kitchen_housewares": 25}
    from textmtl.api import load_tasks

    tasks = {t.name: t for t in load_tasks(validate_config(by[("sizes", "ls", 1)]), data_dir)}
    assert [len(tasks[t].train) for t in ("books", "dvd", "electronics", "kitchen_housewares")] == [1400, 200, 50, 25]
