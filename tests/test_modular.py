"""The `modular` architecture: per-task LoRA and bottleneck adapters on a shared transformer
(tiny random BERT). Modules sit where the config says; frozen weights get no gradient and do not
move; a run stores only what trained and reloads to the same predictions; every gradient method
trains on it."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import textmtl
from textmtl.config import validate_config
from textmtl.data.tasks import TaskKind, TaskSpec
from textmtl.errors import ConfigError, ModelError
from textmtl.methods import describe_methods, make_method
from textmtl.models.build import build_model
from textmtl.training.run_directory import load_run

from .test_architectures import make_batch

SPECS = [TaskSpec("alpha", TaskKind.CLASSIFICATION, ("neg", "pos")),
         TaskSpec("beta", TaskKind.CLASSIFICATION, ("neg", "pos")),
         TaskSpec("tag", TaskKind.TAGGING, ("O", "B-X", "I-X"))]
PATTERNS = {
    "lora": {"backbone": "frozen", "shared": "lora", "per_task": "lora", "rank": 4},
    "adapters": {"backbone": "frozen", "shared": "adapter", "per_task": "adapter", "adapter_size": 8},
    "full+adapters": {"backbone": "trained", "shared": "none", "per_task": "adapter", "adapter_size": 8},
}


def build(tiny_bert, pattern: str, specs=SPECS):
    from textmtl.data.text_encoders import PretrainedTextEncoder

    cfg = validate_config({"model": {"architecture": "modular", "modular": PATTERNS[pattern],
                                     "encoder": {"type": "transformer", "path": str(tiny_bert), "dropout": 0.0}}})
    torch.manual_seed(0)
    return build_model(cfg.model, specs, PretrainedTextEncoder(tiny_bert, 16))


def names_of(model, params) -> set[str]:
    ids = {id(p) for p in params}
    return {n for n, p in model.named_parameters() if id(p) in ids}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_modules_sit_where_the_config_says_and_nowhere_else(tiny_bert, pattern):
    model = build(tiny_bert, pattern)
    shared, frozen = names_of(model, model.shared_parameters()), {n for n, p in model.named_parameters()
                                                                  if not p.requires_grad}
    for t in ("alpha", "beta", "tag"):
        own = names_of(model, model.task_parameters(t))
        assert own and not own & shared
        modules = {n for n in own if not n.startswith("heads.")}
        if PATTERNS[pattern]["per_task"] == "lora":
            # A and B of this task's adapter in the query and value projections of both layers, nothing else
            assert len(modules) == 2 * 2 * 2
            assert all(f".task_{t}." in n and (".attention.self.query." in n or ".attention.self.value." in n)
                       for n in modules), modules
        else:
            assert len(modules) == 2 * 4 and all(n.startswith(f"adapters.adapters.task_{t}.") for n in modules)
    lora = {n for n, _ in model.named_parameters() if "lora_" in n}
    assert all(".query." in n or ".value." in n for n in lora)
    if PATTERNS[pattern]["backbone"] == "frozen":
        assert frozen == {n for n, _ in model.encoder.named_parameters(prefix="encoder") if "lora_" not in n}
        expected_shared = {n for n in lora if ".shared." in n} | {n for n, _ in model.named_parameters()
                                                                  if n.startswith("adapters.adapters.shared.")}
        assert shared == expected_shared and shared
    else:
        assert not frozen and {n for n in shared if n.startswith("encoder.")} and not lora
    counts = model.parameter_counts()
    assert counts["total"] == counts["shared"] + sum(counts["task"].values()) + counts["other"]


@pytest.mark.parametrize("pattern", ["lora", "adapters"])
def test_a_forward_pass_uses_its_own_task_module_and_the_shared_one(tiny_bert, pattern):
    """Perturbing task alpha's module changes alpha's output only; the shared module changes both."""
    model = build(tiny_bert, pattern).eval()
    batch = make_batch(TaskKind.CLASSIFICATION, 2)

    def outputs():
        with torch.no_grad():
            return {t: model(t, batch).representation.clone() for t in ("alpha", "beta")}

    before = outputs()
    assert torch.equal(before["alpha"], before["beta"])  # zero-initialised updates: both start as the backbone
    for name, touched in (("task_alpha", {"alpha"}), ("shared", {"alpha", "beta"})):
        for n, p in model.named_parameters():
            if f".{name}." in n and ("lora_B" in n or ".up." in n):
                with torch.no_grad():
                    p.add_(0.5)
        after = outputs()
        for t in ("alpha", "beta"):
            assert (not torch.equal(after[t], before[t])) == (t in touched), (name, t)
        before = after


def toy_config(task_dir, runs, tiny_bert, pattern="lora", method="ls", **training):
    files = {s: str(task_dir / f"{s}.csv") for s in ("train", "dev", "test")}
    return {
        "name": "modular",
        "method": method,
        "model": {"architecture": "modular", "modular": PATTERNS[pattern],
                  "encoder": {"type": "transformer", "path": str(tiny_bert), "dropout": 0.0}},
        "data": {"benchmark": None, "custom_tasks": [{"name": t, "files": files} for t in ("toy_a", "toy_b")]},
        "training": {"steps": 4, "batch_size": 8, "lr": 0.01, "device": "cpu", "eval_every": 2, **training},
        "text": {"max_length": 32},
        "output": {"runs_dir": str(runs)},
    }


@pytest.mark.parametrize("pattern", PATTERNS)
def test_frozen_weights_do_not_move_and_the_run_stores_only_what_trained(toy_csv_task, tmp_path, tiny_bert,
                                                                         pattern):
    result = textmtl.train(toy_config(toy_csv_task, tmp_path / "runs", tiny_bert, pattern), progress=False)
    stored = load_file(str(result.path / "model.safetensors"))
    base = load_file(str(tiny_bert / "model.safetensors"))
    description = json.loads((result.path / "model.json").read_text())
    run = load_run(result.path)
    if PATTERNS[pattern]["backbone"] == "frozen":
        assert not any(k.startswith("encoder.") and "lora_" not in k for k in stored)  # no backbone copy
        assert description["base_model"]["path"] == str(tiny_bert.resolve())
        for name, tensor in run.model.encoder.model.state_dict().items():  # reloaded from the base folder
            if "lora_" not in name and name in base:
                assert torch.equal(tensor, base[name]), name
        trained = {k for k in stored if not k.startswith("heads.")}
        assert trained and all("lora_" in k or k.startswith("adapters.") for k in trained)
        size = (result.path / "model.safetensors").stat().st_size
        assert size < (tiny_bert / "model.safetensors").stat().st_size / 2
    else:
        assert "base_model" not in description
        assert any(k.startswith("encoder.model.") for k in stored)
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert textmtl.evaluate(result.path)["tasks"] == metrics["tasks"]  # the reloaded model scores the same


def test_a_run_whose_base_model_changed_or_went_is_one_clear_error(toy_csv_task, tmp_path, tiny_bert):
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny_bert, base)
    result = textmtl.train(toy_config(toy_csv_task, tmp_path / "runs", base), progress=False)
    state = load_file(str(base / "model.safetensors"))
    from safetensors.torch import save_file

    state[next(iter(state))] = state[next(iter(state))] + 1
    save_file(state, str(base / "model.safetensors"))
    with pytest.raises(ModelError, match="differs from the one this run was trained on"):
        load_run(result.path)
    shutil.rmtree(base)
    with pytest.raises(ModelError, match="is not there"):
        load_run(result.path)


def test_frozen_backbone_gets_no_gradient(tiny_bert):
    model = build(tiny_bert, "lora")
    batch = make_batch(TaskKind.CLASSIFICATION, 2)
    loss = sum(model(t, batch).logits.sum() for t in ("alpha", "beta"))
    loss.backward()
    for n, p in model.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, n
    assert all(p.grad is not None for p in model.shared_parameters())


GRADIENT_METHODS = sorted(m for m, d in describe_methods().items() if "parameters" in d["backends"] and m != "stl")


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_every_gradient_method_steps_on_the_modular_architecture(tiny_bert, toy_csv_task, method):
    """One step: finite losses, the shared modules move, and each head gets its own task's gradient only."""
    from textmtl.api import encode_tasks, load_tasks
    from textmtl.data.text_encoders import PretrainedTextEncoder
    from textmtl.training.trainer import Trainer

    cfg = validate_config(toy_config(toy_csv_task, "unused", tiny_bert, method=method, steps=1))
    tasks = load_tasks(cfg, None)
    te = PretrainedTextEncoder(tiny_bert, 32)
    torch.manual_seed(0)
    model = build_model(cfg.model, [t.spec for t in tasks], te)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = Trainer(model, make_method(method, cfg.method.params), encode_tasks(tasks, te), cfg.training, seed=1,
                      pad_id=te.pad_id)
    losses = trainer.step(1)
    assert all(torch.isfinite(torch.tensor(list(losses.values()))))
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert not any(n.startswith("encoder.") and "lora_" not in n for n in moved)  # the frozen backbone
    assert all(any(n.startswith(f"heads.{t}.") for n in moved) for t in ("toy_a", "toy_b"))
    assert any(".shared." in n for n in moved)


def test_the_representation_back_end_is_refused_before_training(toy_csv_task, tmp_path, tiny_bert):
    cfg = toy_config(toy_csv_task, tmp_path / "runs", tiny_bert)
    cfg["method"] = {"name": "mgda", "backend": "representation"}
    with pytest.raises(ConfigError, match="backend 'representation' needs a representation computed by shared"):
        textmtl.train(cfg, progress=False)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_config_errors_name_the_key(tiny_bert):
    with pytest.raises(ConfigError, match="works on encoder type transformer"):
        validate_config({"model": {"architecture": "modular"}})
    with pytest.raises(ConfigError, match="shared"):
        validate_config({"model": {"architecture": "modular", "modular": {"shared": "none"},
                                   "encoder": {"type": "transformer"}}})
    with pytest.raises(ConfigError, match="modular.rank"):
        validate_config({"model": {"architecture": "modular", "modular": {"rank": 0},
                                   "encoder": {"type": "transformer"}}})


def test_stl_over_the_modular_architecture_trains_one_modular_model_per_task(toy_csv_task, tmp_path, tiny_bert):
    """`method: stl` with `architecture: modular` is the task's own path of the multi-task model trained
    alone (frozen backbone, the shared and its own LoRA, its head), not a fully fine-tuned copy: the
    single-task reference of a LoRA grid. Its run stores only the modules and reloads to the same scores."""
    cfg = toy_config(toy_csv_task, tmp_path / "runs", tiny_bert, method="stl")
    model_cfg = validate_config(cfg).model
    assert model_cfg.architecture == "separate" and model_cfg.architecture_settings().each == "modular"
    assert model_cfg.architecture_settings("modular").model_dump(include=set(PATTERNS["lora"])) == PATTERNS["lora"]
    result = textmtl.train(cfg, progress=False)
    run = load_run(result.path)
    assert run.config.model.architecture_settings().each == "modular"  # config.yaml round-trips
    base = load_file(str(tiny_bert / "model.safetensors"))
    stored = load_file(str(result.path / "model.safetensors"))
    for task in ("toy_a", "toy_b"):
        own = run.model.models[task]
        assert own.name == "modular" and own.task_names == [task]
        for name, tensor in own.encoder.model.state_dict().items():  # frozen: still the base weights
            if "lora_" not in name and name in base:
                assert torch.equal(tensor, base[name]), name
    assert stored and all(("lora_" in k or ".heads." in k) for k in stored), sorted(stored)[:5]
    assert json.loads((result.path / "model.json").read_text())["base_model"]["path"] == str(tiny_bert.resolve())
    counts = run.model.parameter_counts()
    lora_and_head = sum(p.numel() for p in run.model.models["toy_a"].parameters() if p.requires_grad)
    assert counts["task"]["toy_a"] == lora_and_head and counts["shared"] == 0
    assert counts["frozen"] == sum(p.numel() for p in run.model.parameters() if not p.requires_grad) > 0
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert textmtl.evaluate(result.path)["tasks"] == metrics["tasks"]


@pytest.mark.parametrize("method, cut", [("ls", 3), ("stl", 6)])  # stl: in the second task's job
def test_a_checkpoint_leaves_the_frozen_backbone_out_and_resumes_to_the_same_run(toy_csv_task, tmp_path, tiny_bert,
                                                                               monkeypatch, method, cut):
    from textmtl.training.checkpoint import read_checkpoint

    from .test_resume import assert_same_run, interrupt_at

    cfg = toy_config(toy_csv_task, tmp_path / "runs", tiny_bert, method=method, checkpoint_every=1)
    reference = textmtl.train(cfg, progress=False, name="reference")
    with monkeypatch.context() as m:
        interrupt_at(m, cut)
        with pytest.raises(KeyboardInterrupt):
            textmtl.train(cfg, progress=False, name="cut")
    saved = read_checkpoint(tmp_path / "runs" / "cut.partial" / "checkpoint")
    model_keys = [k for k in saved["model"] if "lora_" not in k and ".heads." not in k and not k.startswith("heads.")]
    assert saved["model"] and not model_keys, model_keys[:3]  # no copy of the backbone
    assert saved["base_model"]["path"] == str(tiny_bert.resolve())
    resumed = textmtl.train(resume=tmp_path / "runs" / "cut", progress=False)
    assert_same_run(reference.path, resumed.path)


def test_a_resume_onto_a_changed_base_model_is_one_clear_error(toy_csv_task, tmp_path, tiny_bert, monkeypatch):
    import shutil

    from safetensors.torch import save_file

    from .test_resume import interrupt_at

    base = tmp_path / "base"
    shutil.copytree(tiny_bert, base)
    cfg = toy_config(toy_csv_task, tmp_path / "runs", base, checkpoint_every=1)
    with monkeypatch.context() as m:
        interrupt_at(m, 3)
        with pytest.raises(KeyboardInterrupt):
            textmtl.train(cfg, progress=False, name="cut")
    state = load_file(str(base / "model.safetensors"))
    state[next(iter(state))] = state[next(iter(state))] + 1
    save_file(state, str(base / "model.safetensors"))
    with pytest.raises(ModelError, match="differs from the one this run was trained on"):
        textmtl.train(resume=tmp_path / "runs" / "cut", progress=False)


def test_stl_keeps_the_settings_of_the_architecture_it_nests_and_no_other(tiny_bert):
    transformer = {"type": "transformer", "path": str(tiny_bert)}
    explicit = validate_config({"method": "stl", "model": {
        "architecture": "separate", "separate": {"each": "modular"}, "modular": {"rank": 2}, "encoder": transformer}})
    assert explicit.model.architecture_settings("modular").rank == 2
    dropped = validate_config({"method": "stl", "model": {"architecture": "mmoe", "mmoe": {"num_experts": 3}}})
    assert dropped.model.architecture_settings().each == "hard" and dropped.model.model_dump().get("mmoe") is None
    with pytest.raises(ConfigError, match="separate.each"):
        validate_config({"model": {"architecture": "separate", "separate": {"each": "mmoe"}}})
    with pytest.raises(ConfigError, match="architecture 'modular' works on encoder type transformer"):
        validate_config({"model": {"architecture": "separate", "separate": {"each": "modular"}}})
    with pytest.raises(ConfigError, match="model.modular is set"):
        validate_config({"model": {"architecture": "separate", "modular": {"rank": 2}, "encoder": transformer}})


def test_two_processes_equal_one_process_on_the_modular_architecture(tiny_bert, tmp_path):
    """torchrun, 2 gloo processes, per-task LoRA on a frozen backbone, 12 steps of ls and cagrad: the
    parameters equal one process's on the global batch (the tiny problem of tests/_parallel_setup)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from .test_parallel import assert_equals_one_process

    root = Path(__file__).resolve().parents[1]
    folder = tmp_path / "bert-no-dropout"  # BERT's own dropout would draw different masks per process
    shutil.copytree(tiny_bert, folder)
    hf = json.loads((folder / "config.json").read_text())
    hf.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(hf))
    model = {"architecture": "modular", "modular": PATTERNS["lora"],
             "encoder": {"type": "transformer", "path": str(folder), "dropout": 0.0}}
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(root / "tests" / "_ddp_worker.py"), str(tmp_path), "1", "--model", json.dumps(model),
                           "ls", "cagrad"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    torch.set_num_threads(1)
    for state in assert_equals_one_process(tmp_path, ("ls", "cagrad"), model).values():
        moved = {k for k in state["single"] if not torch.equal(state["single"][k], state["start"][k])}
        assert any("lora_" in k for k in moved)
        assert not any("lora_" not in k and k.startswith("encoder.") for k in moved)  # the frozen backbone


def test_hf_export_merges_the_lora_of_each_task_into_a_plain_model(toy_csv_task, tmp_path, tiny_bert):
    """--format hf: one folder per task whose weights hold the shared and that task's LoRA merged in;
    transformers loads it and gives the run's logits. Adapters cannot be merged: onnx is named."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from textmtl.exporting import export_run
    from textmtl.exporting.onnx import TaskGraph, example_inputs

    from .test_export import texts_of

    run_path = textmtl.train(toy_config(toy_csv_task, tmp_path / "runs", tiny_bert, steps=6), progress=False).path
    written = export_run(run_path, "hf", tmp_path / "hf")
    run = load_run(run_path)
    texts = texts_of(toy_csv_task, 20)
    logits = {}
    for folder in written:
        weights = load_file(str(folder / "model.safetensors"))
        assert not any("lora_" in k for k in weights)
        model = AutoModelForSequenceClassification.from_pretrained(str(folder), trust_remote_code=True).eval()
        enc = AutoTokenizer.from_pretrained(str(folder))(texts, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            theirs = model(**enc).logits
            ours = TaskGraph(run.model, folder.name)(**example_inputs(run, texts))
        torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=1e-4)
        logits[folder.name] = theirs
    assert not torch.equal(logits["toy_a"], logits["toy_b"])
    adapters = textmtl.train(toy_config(toy_csv_task, tmp_path / "runs2", tiny_bert, "adapters"), progress=False).path
    with pytest.raises(ConfigError, match="onnx"):
        export_run(adapters, "hf", tmp_path / "hf2")
