"""The `parameters` back-end and the aggregator adapter, checked against plain autograd."""

from __future__ import annotations

import json

import pytest
import torch

import textmtl
from textmtl.data.batching import Batch
from textmtl.data.tasks import TaskKind, TaskSpec
from textmtl.errors import ConfigError
from textmtl.gradients import ParameterSpace, shared_jacobian
from textmtl.gradients.diagnostics import gradient_diagnostics
from textmtl.methods import GradientMethod, StepContext, describe_methods, make_method
from textmtl.models.architectures import HardSharing
from textmtl.models.encoders import TextCNN
from textmtl.models.heads import task_loss

from .test_training import toy_config

TASKS = ["a", "b", "c"]


def model_and_losses(seed: int = 0):
    torch.manual_seed(seed)
    specs = [TaskSpec(t, TaskKind.CLASSIFICATION, ("0", "1")) for t in TASKS]
    model = HardSharing(specs, TextCNN(30, embedding_dim=6, kernel_sizes=(3,), num_filters=5, dropout=0.0))
    g = torch.Generator().manual_seed(seed)
    batches = {}
    for t in TASKS:  # every task its own inputs: the multi-domain setting
        ids = torch.randint(1, 30, (4, 7), generator=g)
        batches[t] = Batch(ids, torch.ones(4, 7, dtype=torch.bool), torch.randint(0, 2, (4,), generator=g))

    def losses():
        return {t: task_loss(TaskKind.CLASSIFICATION, model(t, b).logits, b.labels) for t, b in batches.items()}

    return model, batches, losses


def test_jacobian_rows_are_each_tasks_own_gradient_and_heads_get_theirs():
    model, _, losses = model_and_losses()
    shared = ParameterSpace(model.shared_parameters())
    expected = []
    for loss in losses().values():
        grads = torch.autograd.grad(loss, shared.params, allow_unused=True, materialize_grads=True)
        expected.append(torch.cat([g.reshape(-1) for g in grads]))
    head_expected = {t: torch.autograd.grad(l, list(model.heads[t].parameters())) for t, l in losses().items()}
    jac = shared_jacobian(losses(), shared, {t: model.task_parameters(t) for t in TASKS})
    assert torch.allclose(jac, torch.stack(expected), atol=1e-6)
    for t in TASKS:
        for p, g in zip(model.heads[t].parameters(), head_expected[t]):
            assert torch.allclose(p.grad, g, atol=1e-6)


def test_sum_aggregator_reproduces_linear_scalarisation():
    model, batches, losses = model_and_losses()
    ctx = StepContext(model, 1, 10, batches, {})
    make_method("ls").backward(losses(), ctx)
    plain = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    make_method("sum").backward(losses(), ctx)
    for n, p in model.named_parameters():
        assert torch.allclose(p.grad, plain[n], atol=1e-6), n


def test_update_every_reuses_weights_between_recomputations():
    model, batches, losses = model_and_losses()
    method = make_method("mgda", {"update_every": 3})
    seen = []
    for step in range(1, 5):
        model.zero_grad(set_to_none=True)
        stats = method.backward(losses(), StepContext(model, step, 10, batches, {}))
        seen.append(tuple(stats.weights.values()))
        with torch.no_grad():  # move the parameters so fresh weights would differ
            for p in model.shared_parameters():
                p.add_(0.5 * torch.randn_like(p))
    assert seen[0] == seen[1] == seen[2] and seen[3] != seen[0]


def test_diagnostics_from_a_hand_made_gram():
    gram = torch.tensor([[4.0, -2.0, 0.0], [-2.0, 1.0, 0.0], [0.0, 0.0, 9.0]])
    d = gradient_diagnostics(gram, ["x", "y", "z"])
    assert d["cosine"][0][1] == pytest.approx(-1.0) and d["cosine"][0][2] == 0.0
    assert d["grad_norms"] == {"x": 2.0, "y": 1.0, "z": 3.0}
    assert d["conflicting_pairs"] == pytest.approx(1 / 3)
    assert d["gram_condition_number"] is None  # x and y are collinear: G is singular


def test_every_aggregator_is_a_listed_training_method():
    rows = describe_methods()
    for name in ("ls", "stl", "mgda", "pcgrad", "cagrad", "nash_mtl", "getmtl", "getmtl_official", "emtl"):
        assert name in rows
    assert rows["getmtl"]["backends"] == ["parameters", "representation"]
    assert {"update_every", "backend", "epsilon"} <= set(rows["getmtl"]["hyperparameters"])
    with pytest.raises(ConfigError, match="method: cagrad"):
        make_method("cagrad", {"radius": 0.4})
    assert isinstance(make_method("cagrad", {"c": 0.4}), GradientMethod)


@pytest.mark.parametrize("method", ["getmtl", "pcgrad", "nash_mtl"])
def test_gradient_methods_train_end_to_end_with_diagnostics(toy_csv_task, tmp_path, method):
    cfg = toy_config(toy_csv_task, tmp_path / "runs", method=method,
                     training={"steps": 8, "batch_size": 8, "lr": 0.01, "eval_every": 4})
    result = textmtl.train(cfg, progress=False)
    records = [json.loads(line) for line in (result.path / "history.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for r in records:
        assert set(r["weights"]) == {"toy_a", "toy_b"}
        assert len(r["gradients"]["cosine"]) == 2 and 0.0 <= r["gradients"]["conflicting_pairs"] <= 1.0
    assert result.metrics["method"] == method


def test_dropin_backward_in_a_plain_loop_with_shared_inputs():
    """One forward pass feeding two heads (shared inputs): heads get their plain gradients, the shared
    layer the aggregator's combination of the two task gradients."""
    torch.manual_seed(0)
    encoder, head_a, head_b = torch.nn.Linear(5, 4), torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)
    x = torch.randn(8, 5)
    z = torch.tanh(encoder(x))
    losses = [head_a(z).pow(2).mean(), (head_b(z) - 1).pow(2).mean()]
    rows = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(l, list(encoder.parameters()), retain_graph=True)])
            for l in losses]
    head_grads = [torch.autograd.grad(losses[0], list(head_a.parameters()), retain_graph=True),
                  torch.autograd.grad(losses[1], list(head_b.parameters()), retain_graph=True)]
    from textmtl.aggregation import make_aggregator

    expected = make_aggregator("mgda")(torch.stack(rows))
    weights = textmtl.backward(losses, shared=encoder.parameters(), method="mgda")
    got = torch.cat([p.grad.reshape(-1) for p in encoder.parameters()])
    assert torch.allclose(got, expected, atol=1e-6) and weights is not None and len(weights) == 2
    for head, grads in ((head_a, head_grads[0]), (head_b, head_grads[1])):
        for p, g in zip(head.parameters(), grads):
            assert torch.allclose(p.grad, g, atol=1e-6)


def test_representation_backend_with_disjoint_inputs_weights_by_inverse_row_norms():
    """Disjoint inputs: representation rows are orthogonal blocks, so MGDA's min-norm weights are
    ∝ 1/‖r_k‖² (the documented limitation), and the encoder gets one combined backward."""
    model, batches, losses = model_and_losses()
    outputs = {t: model(t, b) for t, b in batches.items()}
    lvals = {t: task_loss(TaskKind.CLASSIFICATION, outputs[t].logits, batches[t].labels) for t in TASKS}
    norms = torch.stack([torch.autograd.grad(lvals[t], outputs[t].representation, retain_graph=True)[0].norm()
                         for t in TASKS])
    method = make_method("mgda", {"backend": "representation"})
    stats = method.backward(lvals, StepContext(model, 1, 10, batches, outputs))
    w = torch.tensor(list(stats.weights.values()))
    expected = (1 / norms**2) / (1 / norms**2).sum()
    assert torch.allclose(w, expected.to(w.dtype), atol=1e-5)
    assert all(p.grad is not None for p in model.shared_parameters() if p.requires_grad)


def test_parameters_backend_with_shared_inputs():
    """Several heads on one forward pass (one shared graph): every task's gradient is still exact."""
    model, batches, _ = model_and_losses()
    b = batches["a"]
    rep = model.encoder(b).pooled
    losses = {t: task_loss(TaskKind.CLASSIFICATION, model.heads[t](rep), b.labels) for t in TASKS}
    shared = list(model.shared_parameters())
    rows = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        losses[t], shared, retain_graph=True, allow_unused=True, materialize_grads=True)]) for t in TASKS])
    make_method("sum").backward(losses, StepContext(model, 1, 10, {t: b for t in TASKS}, {}))
    got = torch.cat([p.grad.reshape(-1) for p in shared])
    assert torch.allclose(got, rows.sum(0), atol=1e-6)


@pytest.mark.parametrize("chunk_size", [1, 2, 3])
def test_chunked_batched_vjp_equals_the_sequential_rows(chunk_size):
    model, batches, _ = model_and_losses()
    b = batches["a"]

    def shared_losses():
        rep = model.encoder(b).pooled
        return {t: task_loss(TaskKind.CLASSIFICATION, model.heads[t](rep), b.labels) for t in TASKS}

    space = ParameterSpace(model.shared_parameters())
    own = {t: model.task_parameters(t) for t in TASKS}
    sequential = shared_jacobian(shared_losses(), space, own, retain=True)
    heads = {n: p.grad.clone() for n, p in model.heads.named_parameters()}
    model.zero_grad(set_to_none=True)
    chunked = shared_jacobian(shared_losses(), space, own, retain=True, chunk_size=chunk_size)
    assert torch.allclose(chunked, sequential, atol=1e-6)
    for n, p in model.heads.named_parameters():
        assert torch.allclose(p.grad, heads[n], atol=1e-6)


def test_task_parameters_are_looked_up_once_per_model_and_task(monkeypatch):
    """An architecture derives task_parameters(t) from every task's lists (O(K) per task); the back-end
    asks once per task, not every step (with per-task LoRA it was ~6% of a step), and asks again
    for a new model."""
    model, batches, losses = model_and_losses()
    calls: list[str] = []
    original = type(model).task_parameters

    def counting(self, task):
        calls.append(task)
        return original(self, task)

    monkeypatch.setattr(type(model), "task_parameters", counting)
    method = make_method("mgda")
    for step in range(1, 4):
        model.zero_grad(set_to_none=True)
        method.backward(losses(), StepContext(model, step, 10, batches, {}))
        assert all(p.grad is not None for t in TASKS for p in model.heads[t].parameters())
    assert sorted(calls) == TASKS
    other, other_batches, other_losses = model_and_losses(seed=1)
    method.backward(other_losses(), StepContext(other, 4, 10, other_batches, {}))
    assert sorted(calls) == sorted(TASKS * 2)
    assert all(p.grad is not None for p in other.shared_parameters())
