"""The architectures of issue 5: shapes for every task kind, gradient reversal, orthogonality,
graph messages, auxiliary-loss gradients under every kind of method, training with gradient
methods, and save/load round trips."""

from __future__ import annotations

import json
import math

import pytest
import torch

import textmtl
from textmtl.config import validate_config
from textmtl.data.batching import Batch
from textmtl.data.tasks import TaskKind, TaskSpec
from textmtl.data.text_encoders import WordTextEncoder
from textmtl.data.vocab import Vocabulary
from textmtl.errors import ConfigError
from textmtl.methods import StepContext, make_method
from textmtl.models.architectures.adversarial import gradient_reversal, orthogonality_penalty
from textmtl.models.architectures.graph_complete import CompleteGraphRound
from textmtl.models.build import build_model
from textmtl.registry import architectures
from textmtl.models.heads import task_loss
from textmtl.training.run_directory import load_run

# separate shares nothing: tested on its own; modular (per-task modules inside a transformer) in
# test_modular.py and in the transformer test below
TRANSFORMER_ONLY = [e.name for e in architectures.entries() if e.extra.get("encoders") == ("transformer",)]
ARCHS = [a for a in architectures.names() if a != "separate" and a not in TRANSFORMER_ONLY]
METHODS = [("ls", {}), ("pcgrad", {"seed": 0}), ("mgda", {"backend": "representation"})]
# methods whose gradient is one backward pass (`fuses_auxiliary`): the auxiliary loss joins that pass
FUSING = [("uw", {}), ("imtl_l", {}), ("dwa", {}), ("rlw", {"seed": 0}), ("famo", {}), ("tchebycheff", {}), ("gls", {})]
SPECS = [
    TaskSpec("cls", TaskKind.CLASSIFICATION, ("neg", "pos")),
    TaskSpec("pair", TaskKind.PAIR_CLASSIFICATION, ("no", "yes", "maybe")),
    TaskSpec("reg", TaskKind.REGRESSION),
    TaskSpec("tag", TaskKind.TAGGING, ("O", "B-X", "I-X", "B-Y")),
]
BILSTM = {"type": "bilstm", "glove": False, "embedding_dim": 8, "hidden_size": 6, "num_layers": 2, "dropout": 0.0}
TEXTCNN = {"type": "textcnn", "glove": False, "embedding_dim": 8, "num_filters": 4, "dropout": 0.0}


def model_config(arch: str, encoder: dict | None = None, **settings) -> dict:
    cfg: dict = {"architecture": arch, "encoder": dict(encoder or BILSTM)}
    if arch == "hierarchical":
        cfg["hierarchical"] = {"levels": {"tag": 1, "cls": 2, "pair": 2, "reg": 2}}
    block = {"graph_complete": "graph", "graph_star": "graph"}.get(arch, arch)
    if settings:
        cfg[block] = settings
    if arch in ("graph_complete", "graph_star"):
        cfg.setdefault("graph", {}).setdefault("node_size", 8)
    return cfg


def text_encoder() -> WordTextEncoder:
    return WordTextEncoder(Vocabulary.build([[f"w{i}" for i in range(40)]], 1, None), 32)


def build(arch: str, specs=SPECS, encoder: dict | None = None, **settings):
    cfg = validate_config({"model": model_config(arch, encoder, **settings)}).model
    torch.manual_seed(0)
    return build_model(cfg, specs, text_encoder(), pretrained=False)


def make_batch(kind: TaskKind, num_labels: int, rows: int = 3, width: int = 7, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 40, (rows, width), generator=g)
    mask = torch.ones(rows, width, dtype=torch.bool)
    mask[1, width - 2 :] = False
    ids[~mask] = 0
    if kind == TaskKind.REGRESSION:
        labels = torch.rand(rows, generator=g)
    elif kind == TaskKind.TAGGING:
        labels = torch.randint(0, num_labels, (rows, width), generator=g).masked_fill(~mask, -100)
    else:
        labels = torch.randint(0, num_labels, (rows,), generator=g)
    return Batch(ids, mask, labels)


def batches_for(specs=SPECS, seed: int = 0) -> dict[str, Batch]:
    return {s.name: make_batch(s.kind, max(1, len(s.labels)), seed=seed + i) for i, s in enumerate(specs)}


# ------------------------------------------------------------------ shapes and the interface contract


@pytest.mark.parametrize("encoder", ["bilstm", "textcnn"])
@pytest.mark.parametrize("arch", ARCHS)
def test_shapes_for_every_task_kind_and_shared_forward_agrees(arch, encoder):
    if arch == "hierarchical" and encoder == "textcnn":
        with pytest.raises(ConfigError, match="stacked layers"):
            build(arch, encoder=TEXTCNN)
        return
    model = build(arch, encoder=BILSTM if encoder == "bilstm" else TEXTCNN).eval()
    batch = make_batch(TaskKind.TAGGING, 4)
    expected = {"cls": (3, 2), "pair": (3, 3), "reg": (3,), "tag": (3, 7, 4)}
    with torch.no_grad():
        alone = {t: model(t, batch) for t in expected}
        shared = model.forward_shared(list(expected), batch)
    for t, shape in expected.items():
        assert alone[t].logits.shape == shape, t
        assert alone[t].representation.shape[0] == 3
        torch.testing.assert_close(shared[t].logits, alone[t].logits)  # one pass = separate passes
    shared_ids = {id(p) for p in model.shared_parameters()}
    for t in expected:
        own = model.task_parameters(t)
        assert own and not {id(p) for p in own} & shared_ids
    counts = model.parameter_counts()
    assert counts["total"] == counts["shared"] + sum(counts["task"].values()) + counts["other"]
    assert counts["other"] == (model.discriminator.weight.numel() + len(SPECS) if arch == "adversarial" else 0)
    assert model.description()["architecture"] == arch
    json.dumps(model.evaluation_record({"cls": [batch], "tag": [batch]}))


def test_representation_contract_task_parameters_act_downstream_only():
    """Every parameter the representation depends on is shared (the `representation` back-end's rule)."""
    for arch in ARCHS:
        model = build(arch)
        for t, batch in batches_for().items():
            out = model(t, batch)
            own = model.task_parameters(t)
            grads = torch.autograd.grad(out.representation.sum(), own, allow_unused=True)
            assert all(g is None or not g.any() for g in grads), (arch, t)


def test_private_encoders_borrow_the_shared_embedding_table():
    model = build("shared_private")
    table = model.encoder.embed.embedding.weight
    assert all(m.embed.embedding.weight is table for m in model.private.values())
    assert sum(1 for k in model.state_dict() if k.endswith("embedding.weight")) == 1


# ------------------------------------------------------------------ ASP-MTL pieces


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.randn(4, 3, requires_grad=True)
    upstream = torch.randn(4, 3)
    y = gradient_reversal(x, 0.05)
    assert torch.equal(y, x)
    (y * upstream).sum().backward()
    torch.testing.assert_close(x.grad, -0.05 * upstream)


def test_adversarial_loss_trains_the_discriminator_and_reverses_into_the_encoder():
    model = build("adversarial", adversarial_weight=0.3)
    batches = batches_for()
    outputs = model.forward_batches(batches)
    adv = model.adversarial_loss(outputs)
    enc = model.shared_parameters()
    disc = list(model.discriminator.parameters())
    g_rev = torch.autograd.grad(adv, enc + disc, retain_graph=True, allow_unused=True, materialize_grads=True)
    plain = sum(torch.nn.functional.cross_entropy(
        model.discriminator(o.extras["shared_pooled"]),
        torch.full((o.extras["shared_pooled"].shape[0],), model.task_index[t])) for t, o in outputs.items())
    g_plain = torch.autograd.grad(plain, enc + disc, allow_unused=True, materialize_grads=True)
    for a, b in zip(g_rev[len(enc):], g_plain[len(enc):]):  # the discriminator: +∇
        torch.testing.assert_close(a, b)
    moved = [(a, b) for a, b in zip(g_rev[: len(enc)], g_plain[: len(enc)]) if b.abs().sum() > 0]
    assert moved
    for a, b in moved:  # the shared encoder: −λ∇
        torch.testing.assert_close(a, -0.3 * b)
    assert not {id(p) for p in disc} & {id(p) for p in enc}
    assert not any(id(p) in {id(q) for q in disc} for t in model.task_names for p in model.task_parameters(t))


def test_unlabelled_text_joins_each_tasks_discriminator_term():
    """ASP-MTL with unlabelled text: task k's term of L_adv is one cross-entropy over its labelled
    and unlabelled shared features."""
    specs = [SPECS[0], SPECS[1]]
    model = build("adversarial", specs=specs, encoder=TEXTCNN, adversarial_weight=0.3).eval()
    batches = batches_for(specs)
    unlabelled = {"cls": make_batch(TaskKind.CLASSIFICATION, 2, rows=5, seed=7)}
    unlabelled["cls"].labels = None
    outputs = model.forward_batches(batches)
    adv = model.adversarial_loss(outputs, unlabelled)
    ce = torch.nn.functional.cross_entropy
    expected = 0.0
    for t, o in outputs.items():
        feats = o.extras["shared_pooled"]
        if t in unlabelled:
            feats = torch.cat([feats, model.encoder(unlabelled[t]).pooled])
        expected = expected + ce(model.discriminator(feats), torch.full((feats.shape[0],), model.task_index[t]))
    torch.testing.assert_close(adv, expected)
    assert not torch.allclose(adv, model.adversarial_loss(outputs))
    assert model.uses_unlabelled and not build("shared_private", specs=specs).uses_unlabelled


def test_confusion_objective_trains_the_discriminator_and_confuses_it_with_the_encoder():
    """encoder_objective: confusion — D gets exactly its cross-entropy gradient; the encoder gets
    λ ∇ CE(D̄(s), uniform) and nothing from D's own loss; the term is ≥ log K, = log K at uniform D."""
    model = build("adversarial", encoder=TEXTCNN, adversarial_weight=0.3, encoder_objective="confusion").eval()
    outputs = model.forward_batches(batches_for())
    enc, disc = model.shared_parameters(), list(model.discriminator.parameters())
    loss = model.adversarial_loss(outputs)
    g = torch.autograd.grad(loss, enc + disc, retain_graph=True, allow_unused=True, materialize_grads=True)
    ce = torch.nn.functional.cross_entropy
    feats = {t: o.extras["shared_pooled"] for t, o in outputs.items()}
    plain = sum(ce(model.discriminator(f), torch.full((f.shape[0],), model.task_index[t])) for t, f in feats.items())
    g_disc = torch.autograd.grad(plain, disc, retain_graph=True)
    for a, b in zip(g[len(enc):], g_disc):
        torch.testing.assert_close(a, b)
    k = len(model.task_names)
    uniform = sum(ce(model.discriminator(f), torch.full((f.shape[0], k), 1.0 / k)) for f in feats.values())
    g_enc = torch.autograd.grad(0.3 * uniform, enc, retain_graph=True, allow_unused=True, materialize_grads=True)
    assert any(b.abs().sum() > 0 for b in g_enc)
    for a, b in zip(g[: len(enc)], g_enc):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(model.last_discriminator_loss, plain.detach())
    with torch.no_grad():  # a discriminator that cannot tell the tasks apart: the minimum, λ log K per task
        model.discriminator.weight.zero_(), model.discriminator.bias.zero_()
    at_uniform = model.adversarial_loss(outputs) - model.last_discriminator_loss
    torch.testing.assert_close(at_uniform, torch.tensor(0.3 * len(feats) * math.log(k)))


@pytest.mark.parametrize("normalized", [True, False])
def test_orthogonality_penalty_is_zero_exactly_for_orthogonal_features(normalized):
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    s, h = q[:, :2] * 3.0, q[:, 2:5] * 0.5  # columns of S orthogonal to columns of H
    assert float(orthogonality_penalty(s, h, normalized)) == pytest.approx(0.0, abs=1e-20)
    h2 = h + 0.1 * s[:, :1]
    value = float(orthogonality_penalty(s, h2, normalized))
    assert value > 1e-4
    if normalized:  # bounded and scale-free
        assert value <= 1.0
        assert float(orthogonality_penalty(10 * s, 0.1 * h2, True)) == pytest.approx(value)
    else:
        assert value == pytest.approx(float(((s.T @ h2) ** 2).sum()))


# ------------------------------------------------------------------ graph architectures


def test_complete_graph_messages_never_include_a_tasks_own_state():
    torch.manual_seed(0)
    layer = CompleteGraphRound(5)
    h = torch.randn(2, 4, 5, dtype=torch.float32)  # [batch, K=4 tasks, d]
    m, alpha = layer.messages(h)
    assert torch.equal(alpha.diagonal(dim1=-2, dim2=-1), torch.zeros(2, 4))
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2, 4))
    for k in range(4):  # m_k lies in the span of the OTHER tasks' values: zero them and m_k vanishes
        others_zero = h.clone()
        others_zero[:, [j for j in range(4) if j != k]] = 0.0
        assert torch.equal(layer.messages(others_zero)[0][:, k], torch.zeros(2, 5))
    # with two tasks each one's message is exactly the other's value, whatever its own state is
    pair = torch.randn(3, 2, 5)
    moved = pair.clone()
    moved[:, 0] += torch.randn(3, 5)
    torch.testing.assert_close(layer.messages(pair)[0][:, 0], layer.messages(moved)[0][:, 0])
    assert torch.equal(layer.messages(torch.randn(2, 1, 5))[0], torch.zeros(2, 1, 5))  # one task: silence


@pytest.mark.parametrize("arch", ["graph_complete", "graph_star"])
def test_communication_matrix_is_k_by_k_over_a_data_set(arch):
    model = build(arch, rounds=2)
    batches = {t: [b] for t, b in batches_for().items()}
    record = model.evaluation_record(batches)["communication"]
    matrix = record["matrix"]
    assert record["tasks"] == [s.name for s in SPECS] and len(matrix) == 4 and all(len(r) == 4 for r in matrix)
    values = torch.tensor(matrix)
    assert (values >= 0).all() and (values.sum(1) <= 1 + 1e-6).all()
    if arch == "graph_complete":
        assert torch.equal(values.diagonal(), torch.zeros(4))
        torch.testing.assert_close(values.sum(1), torch.ones(4, dtype=values.dtype))
    partial = model.communication_matrix({"cls": batches["cls"]})
    assert partial[0][1] is not None and partial[1] == [None] * 4


def test_hierarchical_levels_pick_encoder_layers():
    model = build("hierarchical")
    assert model.layer_of == {"tag": 1, "cls": 2, "pair": 2, "reg": 2}
    batch = make_batch(TaskKind.TAGGING, 4)
    model.eval()
    with torch.no_grad():
        layers = model.encoder.layer_outputs(batch, tokens=True)
        torch.testing.assert_close(model("tag", batch).representation, layers[0].tokens)
        torch.testing.assert_close(model("cls", batch).representation, model.encoder(batch).pooled)
    with pytest.raises(ConfigError, match="unknown task"):
        build("hierarchical", levels={"nope": 1})
    with pytest.raises(ConfigError, match="at least 3 stacked layers"):
        build("hierarchical", levels={"tag": 1, "cls": 2, "reg": 3})


# ------------------------------------------------------------------ auxiliary loss + methods, training


def _grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("method, params", METHODS + FUSING)
def test_auxiliary_gradient_survives_every_kind_of_method(method, params):
    model = build("adversarial", specs=SPECS[:2] + SPECS[3:], orthogonality_weight=0.5)
    batches = batches_for(SPECS[:2] + SPECS[3:])

    def run(with_task: bool, with_aux: bool) -> dict[str, torch.Tensor]:
        model.zero_grad(set_to_none=True)
        outputs = model.forward_batches(batches)
        losses = {t: task_loss(model.specs[t].kind, outputs[t].logits, b.labels) for t, b in batches.items()}
        if with_aux:
            model.auxiliary_loss(outputs, batches).backward(retain_graph=True)
        if with_task:
            m = make_method(method, params)
            m.backward(losses, StepContext(model, 1, 2, batches, outputs))
        return _grads(model)

    both, task_only, aux_only = run(True, True), run(True, False), run(False, True)
    if make_method(method, params).fuses_auxiliary:  # the trainer's one-pass form gives the same gradients
        model.zero_grad(set_to_none=True)
        outputs = model.forward_batches(batches)
        losses = {t: task_loss(model.specs[t].kind, outputs[t].logits, b.labels) for t, b in batches.items()}
        ctx = StepContext(model, 1, 2, batches, outputs)
        ctx.auxiliary = model.auxiliary_loss(outputs, batches)
        make_method(method, params).backward(losses, ctx)
        fused = _grads(model)
        assert fused.keys() == both.keys()
        for name, g in both.items():
            torch.testing.assert_close(fused[name], g, msg=name)
    assert set(aux_only) >= {n for n, _ in model.discriminator.named_parameters(prefix="discriminator")}
    for name, g in both.items():
        expected = task_only.get(name, torch.zeros_like(g)) + aux_only.get(name, torch.zeros_like(g))
        torch.testing.assert_close(g, expected, msg=name)
    assert any(aux_only[n].abs().sum() > 0 for n in aux_only if n.startswith("encoder."))


@pytest.mark.parametrize("method, params", METHODS)
@pytest.mark.parametrize("arch", ARCHS)
def test_every_architecture_trains_with_gradient_methods(arch, method, params, tiny_conll):
    from textmtl.api import encode_tasks, load_tasks
    from textmtl.models.build import build_text_encoder
    from textmtl.training.trainer import Trainer

    cfg = validate_config({
        "data": {"benchmark": "conll2003", "tasks": ["pos", "ner"],
                 "custom_tasks": [_toy_task(tiny_conll)]},
        "model": model_config(arch, **({"levels": {"pos": 1}} if arch == "hierarchical" else {})),
        "method": {"name": method, **params},
        "training": {"steps": 2, "batch_size": 4},
    })
    tasks = load_tasks(cfg, tiny_conll)
    te = build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    torch.manual_seed(0)
    model = build_model(cfg.model, [t.spec for t in tasks], te)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = Trainer(model, make_method(method, params), encode_tasks(tasks, te), cfg.training, seed=1,
                      pad_id=te.pad_id)
    for step in (1, 2):
        losses = trainer.step(step)
        assert set(losses) == {"pos", "ner", "toy"} and all(torch.isfinite(torch.tensor(list(losses.values()))))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith("encoder.") for n in changed)
    assert all(any(n.startswith(f"heads.{t}.") for n in changed) for t in ("pos", "ner", "toy"))
    if arch == "adversarial":
        assert any(n.startswith("discriminator.") for n in changed)


def _toy_task(folder) -> dict:
    """A tiny sentence classification task as CSV files next to the CoNLL folder."""
    rows = ["text,label"] + [f"{w} peter met anna,{'pos' if w == 'good' else 'neg'}" for w in ["good", "bad"] * 6]
    for split in ("train", "dev", "test"):
        (folder / f"toy-{split}.csv").write_text("\n".join(rows) + "\n")
    return {"name": "toy", "files": {s: str(folder / f"toy-{s}.csv") for s in ("train", "dev", "test")}}


@pytest.mark.parametrize("arch", ARCHS)
def test_save_load_round_trip_gives_identical_predictions(arch, tiny_conll, tmp_path, monkeypatch):
    import textmtl.training.lifecycle as api
    from textmtl.training.evaluation import predict_split

    trained = {}
    final_metrics = api.final_metrics

    def keep_model(model, encoded, cfg, pad_id, sync=None):  # the in-memory model, just before it is saved
        trained["model"], trained["encoded"] = model, encoded
        return final_metrics(model, encoded, cfg, pad_id, sync)

    monkeypatch.setattr(api, "final_metrics", keep_model)
    cfg = {
        "data": {"benchmark": "conll2003", "tasks": ["pos", "ner"], "custom_tasks": [_toy_task(tiny_conll)]},
        "text": {"lowercase": False},
        "model": model_config(arch, **({"levels": {"pos": 1}} if arch == "hierarchical" else {})),
        "training": {"steps": 2, "batch_size": 4, "eval_every": 1},
        "output": {"runs_dir": str(tmp_path / "runs")},
    }
    result = textmtl.train(cfg, data_dir=tiny_conll, progress=False, name=arch)
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["architecture"]["architecture"] == arch
    assert json.loads((result.path / "model.json").read_text())["architecture"]["architecture"] == arch
    history = [json.loads(line) for line in (result.path / "history.jsonl").read_text().splitlines()]
    if arch.startswith("graph_"):
        assert len(history[-1]["communication"]["matrix"]) == 3
        assert len(metrics["architecture"]["test"]["communication"]["matrix"]) == 3
    if arch == "adversarial":
        assert {"last_step_adversarial_loss", "last_step_orthogonality_loss"} <= set(history[-1])
    run = load_run(result.path)
    from textmtl.data.batching import eval_batches

    for task, data in trained["encoded"].items():
        batches = list(eval_batches(data.test, 4, run.text_encoder.pad_id))
        a, b = predict_split(trained["model"], task, batches), predict_split(run.model, task, batches)
        assert (a.pred == b.pred).all(), task
        with torch.no_grad():
            trained["model"].eval()
            torch.testing.assert_close(run.model(task, batches[0]).logits, trained["model"](task, batches[0]).logits,
                                       rtol=0, atol=0)
    again = textmtl.evaluate(result.path, data_dir=tiny_conll)
    assert again["tasks"] == metrics["tasks"]
    assert len(textmtl.predict(result.path, "toy", ["good peter met anna", "bad anna"])) == 2


@pytest.mark.parametrize("arch", ARCHS + TRANSFORMER_ONLY)
def test_every_architecture_on_a_transformer_encoder(arch, tiny_bert):
    from textmtl.data.text_encoders import PretrainedTextEncoder

    te = PretrainedTextEncoder(tiny_bert, 16)
    cfg = validate_config({"model": model_config(arch, {"type": "transformer", "path": str(tiny_bert)},
                                                 **({"levels": {"tag": 1}, "layers": [1, 2]}
                                                    if arch == "hierarchical" else {}))}).model
    torch.manual_seed(0)
    model = build_model(cfg, SPECS, te)
    batch = make_batch(TaskKind.TAGGING, 4)
    outputs = model.forward_batches({t: batch for t in ("cls", "tag")})
    assert outputs["cls"].logits.shape == (3, 2) and outputs["tag"].logits.shape == (3, 7, 4)
    loss = sum(task_loss(model.specs[t].kind, o.logits, batch.labels if t == "tag" else batch.labels[:, 0].clamp(0, 1))
               for t, o in outputs.items())
    aux = model.auxiliary_loss(outputs, {})
    (loss + (aux if aux is not None else 0)).backward()
    assert any(p.grad is not None for p in model.shared_parameters())
    if arch in ("shared_private", "adversarial"):  # private BiLSTMs read the transformer's input embeddings
        table = model.encoder.model.get_input_embeddings()
        assert all(m.embed is table for m in model.private.values())


def test_architecture_settings_are_typed_and_errors_name_the_key():
    cfg = validate_config({"model": {"architecture": "adversarial", "adversarial": {"adversarial_weight": 0.1}}})
    settings = cfg.model.architecture_settings()
    assert (settings.adversarial_weight, settings.orthogonality_weight) == (0.1, 0.01)
    assert validate_config({"model": {"architecture": "graph_star"}}).model.architecture_settings().node_size == 64
    assert validate_config({}).model.architecture_settings() is None
    cases = [
        ({"architecture": "mmoe", "mmoe": {"num_expert": 3}},
         "unknown key 'model.mmoe.num_expert' (did you mean 'num_experts'?)"),
        ({"architecture": "mmoe", "mmoe": {"num_experts": 0}}, "model.mmoe.num_experts"),
        ({"architecture": "hard", "graph": {"rounds": 2}},
         "model.graph is set, but it configures architecture graph_complete"),
        ({"architecture": "hierarchical", "hierarchical": {"levels": {"pos": 0}}}, "model.hierarchical.levels"),
    ]
    for model, message in cases:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
            validate_config({"model": model})
    with pytest.raises(ConfigError, match="model.architecture: unknown architecture 'graph'"):
        build("graph")
