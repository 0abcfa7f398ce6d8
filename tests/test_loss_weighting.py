"""Loss-weighting methods (UW, DWA, RLW, GLS, Tchebycheff, IMTL-L, FAMO, GradNorm): their maths
on hand-made losses, their state, their hyper-parameters, and a few training steps each."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import textmtl
from textmtl.errors import ConfigError
from textmtl.methods import METHODS, StepContext, make_method, method_hyperparameters
from textmtl.methods._loss_weighting import TaskAdam
from textmtl.methods.gradnorm import last_shared_layer, used_leaves

from .test_training import toy_config

LOSS_METHODS = ["uw", "dwa", "rlw", "gls", "tchebycheff", "tchebycheff_adv", "imtl_l", "famo", "gradnorm", "banditmtl"]
STATEFUL = ["uw", "dwa", "tchebycheff", "imtl_l", "famo", "gradnorm", "banditmtl"]
FAST = settings(max_examples=30, deadline=None)

loss_value = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)
any_loss = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)


# ------------------------------------------------------------------ hand-made setups

def scalar_losses(values):
    """Leaves x_k = values[k] and losses ℓ_k = x_k · 1 (so ∂L/∂x_k is the weight of ℓ_k)."""
    xs = {t: torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for t, v in values.items()}
    return xs, {t: x * 1.0 for t, x in xs.items()}


def names(k):
    return [chr(ord("a") + i) for i in range(k)]


class Tiny(nn.Module):
    """A two-layer shared body (Linear -> tanh -> Linear) and one linear head per task."""

    def __init__(self, tasks, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4))
        self.heads = nn.ModuleDict({t: nn.Linear(4, 1) for t in tasks})
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(6, 3, generator=g)
        self.y = {t: torch.randn(6, 1, generator=g) for t in tasks}

    def shared_parameters(self):
        return list(self.body.parameters())

    def task_parameters(self, task):
        return list(self.heads[task].parameters())

    def losses(self, scales=None, tasks=None):
        h = self.body(self.x)
        tasks = tasks or list(self.heads)
        return {t: (scales or {}).get(t, 1.0) * ((self.heads[t](h) - self.y[t]) ** 2).mean() for t in tasks}


def ctx(model=None, step=1, forward=None, batches=None, record=False):
    return StepContext(model, step, 100, batches or {}, {}, forward, record)


def run(method, losses, model=None, step=1, record=False, after=None):
    """One step: backward, then after_step with a forward that re-evaluates the losses (times `after[t]`)."""
    detached = {t: l.detach() * (after or {}).get(t, 1.0) for t, l in losses.items()}
    c = ctx(model, step, lambda t, b: detached[t], {t: None for t in losses}, record)
    stats = method.backward(losses, c)
    method.after_step(c)
    return stats


# ------------------------------------------------------------------ UW and IMTL-L

@FAST
@given(st.lists(st.tuples(loss_value, st.floats(-5, 5)), min_size=1, max_size=5))
def test_uw_objective_and_gradient_at_fixed_s(rows):
    tasks = names(len(rows))
    method = make_method("uw")
    method.load_state_dict({"s": {t: s for t, (_, s) in zip(tasks, rows)}})
    xs, losses = scalar_losses({t: v for t, (v, _) in zip(tasks, rows)})
    expected = sum(math.exp(-s) * v + s for v, s in rows)
    assert method.objective(losses).item() == pytest.approx(expected, rel=1e-9)
    stats = method.backward(losses, ctx())
    for t, (_, s) in zip(tasks, rows):
        assert float(xs[t].grad) == pytest.approx(math.exp(-s), rel=1e-9)
        assert stats.weights[t] == pytest.approx(math.exp(-s), rel=1e-9)


def test_uw_weight_of_a_constantly_large_loss_decreases_and_s_moves():
    method = make_method("uw", {"s_lr": 0.05})
    history = []
    for step in range(1, 21):
        _, losses = scalar_losses({"big": 50.0, "small": 0.02})
        history.append(method.backward(losses, ctx(step=step)).weights)
    big = [w["big"] for w in history]
    small = [w["small"] for w in history]
    assert big[0] == 1.0 and all(b2 < b1 for b1, b2 in itertools.pairwise(big))
    assert all(s2 > s1 for s1, s2 in itertools.pairwise(small))  # a small loss gains weight (s → log ℓ < 0)
    assert method.s["big"] > 0.5 and method.s["small"] < -0.5


@FAST
@given(st.lists(st.tuples(loss_value, st.floats(-5, 5)), min_size=1, max_size=5))
def test_imtl_l_objective_and_gradient_at_fixed_s(rows):
    tasks = names(len(rows))
    method = make_method("imtl_l")
    method.load_state_dict({"s": {t: s for t, (_, s) in zip(tasks, rows)}})
    xs, losses = scalar_losses({t: v for t, (v, _) in zip(tasks, rows)})
    assert method.objective(losses).item() == pytest.approx(sum(math.exp(s) * v - s for v, s in rows), rel=1e-9)
    method.backward(losses, ctx())
    for t, (_, s) in zip(tasks, rows):
        assert float(xs[t].grad) == pytest.approx(math.exp(s), rel=1e-9)


def test_imtl_l_drives_every_scaled_loss_towards_one():
    method = make_method("imtl_l", {"s_lr": 0.1})
    for step in range(1, 400):
        _, losses = scalar_losses({"a": 20.0, "b": 0.05})
        weights = method.backward(losses, ctx(step=step)).weights
    assert weights["a"] * 20.0 == pytest.approx(1.0, abs=0.05)
    assert weights["b"] * 0.05 == pytest.approx(1.0, abs=0.05)


# ------------------------------------------------------------------ RLW

@FAST
@given(st.integers(0, 2**31), st.integers(1, 10_000), st.integers(1, 8))
def test_rlw_weights_are_a_reproducible_random_point_of_the_simplex(seed, step, k):
    tasks = names(k)
    a, b = make_method("rlw", {"seed": seed}), make_method("rlw", {"seed": seed})
    xs, losses = scalar_losses({t: 1.0 + i for i, t in enumerate(tasks)})
    wa = a.backward(losses, ctx(step=step)).weights
    wb = b.backward(scalar_losses({t: 1.0 for t in tasks})[1], ctx(step=step)).weights
    assert wa == wb  # same seed and step: same weights, whatever the losses
    assert all(w > 0 for w in wa.values()) and sum(wa.values()) == pytest.approx(1.0)
    for t in tasks:
        assert float(xs[t].grad) == pytest.approx(wa[t])


def test_rlw_weights_change_between_steps_and_seeds():
    tasks = names(3)

    def w(seed, step):
        return make_method("rlw", {"seed": seed}).backward(scalar_losses({t: 1.0 for t in tasks})[1], ctx(step=step)).weights

    assert w(0, 1) != w(0, 2) and w(0, 1) != w(1, 1)
    draws = torch.stack([make_method("rlw", {"seed": 5}).draw(s, 2) for s in range(1, 401)])
    assert draws[:, 0].mean() == pytest.approx(0.5, abs=0.05)  # symmetric on average


# ------------------------------------------------------------------ GLS

@FAST
@given(st.lists(loss_value, min_size=1, max_size=6))
def test_gls_gradient_is_that_of_the_geometric_mean(values):
    tasks = names(len(values))
    xs, losses = scalar_losses(dict(zip(tasks, values)))
    method = make_method("gls")
    stats = method.backward(losses, ctx())
    k = len(values)
    geo = math.exp(sum(math.log(v) for v in values) / k)
    for t, v in zip(tasks, values):
        analytic = geo / (k * v)  # ∂/∂ℓ_t (Π ℓ)^{1/K}
        assert float(xs[t].grad) == pytest.approx(analytic, rel=1e-9)
        assert stats.weights[t] == pytest.approx(analytic, rel=1e-9)
    assert method.objective(scalar_losses(dict(zip(tasks, values)))[1]).item() == pytest.approx(geo, rel=1e-9)


def test_gls_matches_autograd_through_a_shared_model():
    model = Tiny(["a", "b", "c"])
    make_method("gls").backward(model.losses(), ctx(model))
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    losses = model.losses()
    (losses["a"] * losses["b"] * losses["c"]).pow(1 / 3).backward()
    for g, p in zip(got, model.parameters()):
        assert torch.allclose(g, p.grad, atol=1e-6)


# ------------------------------------------------------------------ DWA

def feed(method, seq, start=1):
    out = None
    for i, values in enumerate(seq):
        out = method.backward(scalar_losses(values)[1], ctx(step=start + i)).weights
    return out


@FAST
@given(st.lists(loss_value, min_size=2, max_size=8), st.integers(1, 5))
def test_dwa_equal_histories_give_weights_one(history, k):
    method = make_method("dwa", {"window": 1})
    tasks = names(k)
    feed(method, [{t: v for t in tasks} for v in history])
    weights = method.backward(scalar_losses({t: 1.0 for t in tasks})[1], ctx()).weights
    assert weights == pytest.approx({t: 1.0 for t in tasks})
    assert sum(weights.values()) == pytest.approx(k)


def test_dwa_task_decreasing_slower_gets_more_weight():
    method = make_method("dwa", {"window": 2})
    # windows: a 1.0 -> 0.5 (fast), b 1.0 -> 0.9 (slow); no weights move before two windows close
    weights = feed(method, [{"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 1.0}, {"a": 0.5, "b": 0.9}])
    assert weights == {"a": 1.0, "b": 1.0}
    feed(method, [{"a": 0.5, "b": 0.9}])
    xs, losses = scalar_losses({"a": 0.5, "b": 0.9})
    weights = method.backward(losses, ctx(step=5)).weights
    e = [math.exp(0.5 / 2), math.exp(0.9 / 2)]
    assert weights["a"] == pytest.approx(2 * e[0] / sum(e)) and weights["b"] == pytest.approx(2 * e[1] / sum(e))
    assert weights["b"] > 1 > weights["a"] and sum(weights.values()) == pytest.approx(2)
    assert float(xs["b"].grad) == pytest.approx(weights["b"])


def test_dwa_window_means_average_the_steps_of_a_window():
    method = make_method("dwa", {"window": 3, "temperature": 1.0})
    feed(method, [{"a": 1.0, "b": 4.0}, {"a": 2.0, "b": 4.0}, {"a": 3.0, "b": 4.0},  # means 2, 4
                  {"a": 1.0, "b": 4.0}, {"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 0.0}])  # means 1, 2
    assert method.ratios(["a", "b"]) == pytest.approx([0.5, 0.5])


# ------------------------------------------------------------------ Tchebycheff

@FAST
@given(st.lists(st.tuples(loss_value, loss_value), min_size=1, max_size=5))
def test_tchebycheff_gradient_flows_only_through_the_arg_max(rows):
    tasks = names(len(rows))
    method = make_method("tchebycheff")
    method.backward(scalar_losses({t: h for t, (h, _) in zip(tasks, rows)})[1], ctx(step=1))  # history
    xs, losses = scalar_losses({t: v for t, (_, v) in zip(tasks, rows)})
    stats = method.backward(losses, ctx(step=2))
    inv = [1 / h for h, _ in rows]
    lam = [i / sum(inv) for i in inv]
    scaled = [l * v for l, (_, v) in zip(lam, rows)]
    best = max(scaled)
    near_max = {i for i, x in enumerate(scaled) if x >= best * (1 - 1e-12)}  # ties (up to rounding)
    grads = [0.0 if xs[t].grad is None else float(xs[t].grad) for t in tasks]
    receiving = [i for i, g in enumerate(grads) if g != 0.0]
    assert len(receiving) == 1 and receiving[0] in near_max  # exactly one task, an arg-max, gets a gradient
    top = receiving[0]
    assert grads[top] == pytest.approx(lam[top], rel=1e-9)
    assert stats.weights == {t: (stats.weights[tasks[top]] if i == top else 0.0) for i, t in enumerate(tasks)}
    assert stats.weights[tasks[top]] == pytest.approx(lam[top], rel=1e-9)


def test_tchebycheff_trains_the_task_worst_relative_to_its_own_scale():
    method = make_method("tchebycheff")
    first = method.backward(scalar_losses({"a": 2.0, "b": 1.0})[1], ctx(step=1))
    assert first.weights == pytest.approx({"a": 1 / 3, "b": 0.0})  # no history: λℓ all equal, the first task wins
    xs, losses = scalar_losses({"a": 1.0, "b": 1.0})  # a halved, b did not move: b is worse off
    stats = method.backward(losses, ctx(step=2))
    assert stats.weights == pytest.approx({"a": 0.0, "b": 2 / 3})
    assert xs["a"].grad is None or float(xs["a"].grad) == 0.0
    assert float(xs["b"].grad) == pytest.approx(2 / 3)


def test_tchebycheff_momentum_is_an_ema():
    method = make_method("tchebycheff", {"momentum": 0.5})
    feed(method, [{"a": 4.0}, {"a": 2.0}, {"a": 1.0}])
    assert method.state_dict()["mean"]["a"] == pytest.approx(0.5 * (0.5 * 4 + 0.5 * 2) + 0.5 * 1)
    cumulative = make_method("tchebycheff")
    feed(cumulative, [{"a": 4.0}, {"a": 2.0}, {"a": 1.0}])
    assert cumulative.state_dict()["mean"]["a"] == pytest.approx(7 / 3)


# ------------------------------------------------------------------ FAMO

def test_famo_step_is_the_log_loss_gradient_with_normalised_weights():
    method = make_method("famo")
    method.load_state_dict({"xi": {"a": 0.3, "b": -0.2, "c": 0.0}})
    values = {"a": 2.0, "b": 0.5, "c": 1.0}
    xs, losses = scalar_losses(values)
    stats = method.backward(losses, ctx())
    z = torch.softmax(torch.tensor([0.3, -0.2, 0.0], dtype=torch.float64), 0).tolist()
    c = sum(zi / values[t] for zi, t in zip(z, "abc"))
    for zi, t in zip(z, "abc"):
        assert float(xs[t].grad) == pytest.approx(zi / (c * values[t]), rel=1e-6)
        assert stats.weights[t] == pytest.approx(zi / (c * values[t]), rel=1e-6)
    assert sum(stats.weights.values()) == pytest.approx(1.0)


def test_famo_after_step_moves_weight_to_the_task_that_did_not_improve():
    method = make_method("famo")
    _, losses = scalar_losses({"A": 1.0, "B": 1.0})
    calls = []

    def forward(task, batch):
        calls.append((task, batch, torch.is_grad_enabled()))
        return torch.tensor({"A": 0.5, "B": 1.0}[task], dtype=torch.float64)

    c = ctx(forward=forward, batches={"A": "batch-A", "B": "batch-B"})
    before = method.backward(losses, c).weights
    assert before == pytest.approx({"A": 0.5, "B": 0.5})
    method.after_step(c)
    assert sorted(calls) == [("A", "batch-A", False), ("B", "batch-B", False)]  # same batches, no graph
    assert method.xi["B"] > method.xi["A"]
    after = method.backward(scalar_losses({"A": 1.0, "B": 1.0})[1], ctx()).weights
    assert after["B"] > 0.5 > after["A"]


def test_famo_logit_update_is_adam_with_coupled_weight_decay_as_in_algorithm_2():
    """Against a torch.optim.Adam reference of Algorithm 2 (LibMTL / official code form)."""
    gamma, lr = 1e-3, 0.025
    method = make_method("famo", {"w_lr": lr, "gamma": gamma})
    ref_w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    ref_opt = torch.optim.Adam([ref_w], lr=lr, weight_decay=gamma)
    g = torch.Generator().manual_seed(0)
    prev = torch.rand(3, generator=g, dtype=torch.float64) + 0.5
    tasks = ["a", "b", "c"]
    for _ in range(6):
        curr = prev * (0.5 + torch.rand(3, generator=g, dtype=torch.float64))
        _, losses = scalar_losses(dict(zip(tasks, prev.tolist())))
        c = ctx(forward=lambda t, b, curr=curr: curr[tasks.index(t)], batches={t: None for t in tasks})
        method.backward(losses, c)
        method.after_step(c)
        delta = (prev + 1e-8).log() - (curr + 1e-8).log()
        d = torch.autograd.grad(torch.softmax(ref_w, -1), ref_w, grad_outputs=delta)[0]
        ref_opt.zero_grad()
        ref_w.grad = d
        ref_opt.step()
        assert [method.xi[t] for t in tasks] == pytest.approx(ref_w.detach().tolist(), rel=1e-6, abs=1e-12)
        prev = curr


def test_famo_default_gamma_is_that_of_algorithm_2():
    assert method_hyperparameters(METHODS["famo"])["gamma"] == 1e-3
    assert method_hyperparameters(METHODS["famo"])["w_lr"] == 0.025


def test_task_adam_matches_torch_adam():
    opt = TaskAdam(0.1, weight_decay=0.01)
    p = torch.tensor([0.3, -1.0], dtype=torch.float64, requires_grad=True)
    ref = torch.optim.Adam([p], lr=0.1, weight_decay=0.01)
    values = {"a": 0.3, "b": -1.0}
    for grads in ([1.0, -2.0], [0.5, 0.1], [-3.0, 0.0]):
        values = opt.step(values, dict(zip("ab", grads)))
        p.grad = torch.tensor(grads, dtype=torch.float64)
        ref.step()
        assert [values["a"], values["b"]] == pytest.approx(p.detach().tolist(), rel=1e-12)


# ------------------------------------------------------------------ GradNorm

def test_gradnorm_last_shared_layer_is_the_last_weight_layer_of_the_body():
    model = Tiny(["a", "b"])
    losses = model.losses()
    layer = last_shared_layer(model, model.shared_parameters(), used_leaves(list(losses.values())))
    assert [n for n, _ in layer] == ["body.2.weight", "body.2.bias"]
    chosen = last_shared_layer(model, model.shared_parameters(), set(), layer="body.0")
    assert [n for n, _ in chosen] == ["body.0.weight", "body.0.bias"]
    with pytest.raises(ConfigError, match="method.layer"):
        last_shared_layer(model, model.shared_parameters(), set(), layer="heads")


def test_gradnorm_layer_of_a_textcnn_is_its_last_convolution():
    from .test_gradient_methods import model_and_losses

    model, _, losses = model_and_losses()
    method = make_method("gradnorm")
    method.layer_parameters(model, losses())
    assert [n for n, _ in method._layer] == ["encoder.convs.0.weight", "encoder.convs.0.bias"]  # one kernel size
    wide = make_method("gradnorm", {"layer": "encoder.convs"})
    wide.layer_parameters(model, losses())
    assert len(wide._layer) == 2 and all(n.startswith("encoder.convs.") for n, _ in wide._layer)


def test_gradnorm_task_with_larger_last_layer_gradient_loses_weight():
    model = Tiny(["a", "b", "c"])
    method = make_method("gradnorm")
    losses = model.losses({"a": 10.0})  # same loss ratios (first step), a's gradient is 10x larger
    last = [model.body[2].weight, model.body[2].bias]
    norms = {t: float(torch.cat([g.reshape(-1) for g in torch.autograd.grad(l, last, retain_graph=True)]).norm())
             for t, l in losses.items()}
    stats = method.backward(losses, ctx(model, record=True))
    assert stats.weights == {"a": 1.0, "b": 1.0, "c": 1.0}
    assert stats.extra["gradnorm_layer"] == ["body.2.weight", "body.2.bias"]
    assert stats.extra["gradnorm_grad_norms"] == pytest.approx(norms, rel=1e-5)
    assert method.w["a"] < 1.0 and sum(method.w.values()) == pytest.approx(3.0)
    # the model gradient of the step is that of Σ w ℓ with the weights before the update (all 1)
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    sum(model.losses({"a": 10.0}).values()).backward()
    assert all(torch.allclose(g, p.grad, atol=1e-6) for g, p in zip(got, model.parameters()))


def test_gradnorm_task_training_slower_gains_weight():
    model = Tiny(["a", "b"])
    model.heads["b"].load_state_dict(model.heads["a"].state_dict())  # twin tasks: equal gradient norms
    model.y["b"] = model.y["a"].clone()
    method = make_method("gradnorm", {"alpha": 1.5})
    method.backward(model.losses(), ctx(model))  # records ℓ(0); equal norms and ratios: w stays 1
    assert method.w == pytest.approx({"a": 1.0, "b": 1.0})
    model.zero_grad()
    # b's loss halves (it trains faster: r_b < 1 < r_a) and so does its gradient norm
    method.backward(model.losses({"b": 0.5}), ctx(model, step=2))
    assert method.w["a"] > 1.0 > method.w["b"] and sum(method.w.values()) == pytest.approx(2.0)


@FAST
@given(st.lists(st.floats(0.0, 1e4), min_size=6, max_size=6), st.integers(1, 4))
def test_gradnorm_weights_stay_positive_and_sum_to_k(scales, k):
    tasks = names(k)
    model = Tiny(tasks, seed=k)
    method = make_method("gradnorm", {"w_lr": 0.5})
    for step, s in enumerate(scales, start=1):
        stats = method.backward(model.losses({t: s * (i + 1) for i, t in enumerate(tasks)}), ctx(model, step=step))
        assert all(w > 0 and math.isfinite(w) for w in stats.weights.values())
        assert all(w > 0 for w in method.w.values()) and sum(method.w.values()) == pytest.approx(k)
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        model.zero_grad()


# ------------------------------------------------------------------ every method

def make_losses(name, values, model=None):
    """Losses of the given values: scalar leaves, or (GradNorm) the tiny model's losses scaled to them."""
    if name != "gradnorm":
        return scalar_losses(values)[1]
    base = model.losses(tasks=list(values))
    return {t: l * (values[t] / max(float(l.detach()), 1e-12)) for t, l in base.items()}


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_one_task_gets_its_plain_gradient_direction(name):
    model = Tiny(["a"])
    for step in range(1, 4):
        model.zero_grad()
        losses = model.losses()
        stats = run(make_method(name), losses, model, step)
        w = stats.weights["a"]
        got = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        model.losses()["a"].backward()
        assert w > 0 and all(torch.allclose(g, w * p.grad, atol=1e-6) for g, p in zip(got, model.parameters()))


@pytest.mark.parametrize("name", LOSS_METHODS)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_finite_losses_never_give_nan(name, data):
    k = data.draw(st.integers(1, 4))
    tasks = names(k)
    model = Tiny(tasks) if name == "gradnorm" else None
    method = make_method(name, {"window": 1} if name == "dwa" else {})
    for step in range(1, 5):
        values = {t: data.draw(any_loss) for t in tasks}
        losses = make_losses(name, values, model)
        stats = run(method, losses, model, step, record=True)
        assert set(stats.weights) == set(tasks) and all(math.isfinite(w) for w in stats.weights.values())
        json.dumps(method.state_dict())
        assert all(math.isfinite(float(v)) for v in _flat(method.state_dict()))
        if model is not None:
            assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
            model.zero_grad()


def _flat(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _flat(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _flat(v)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield obj


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_sampled_task_subsets(name):
    model = Tiny(["a", "b", "c"])
    method = make_method(name)
    for step, tasks in enumerate([["a", "b", "c"], ["b"], ["c", "a"], ["a", "b", "c"]], start=1):
        model.zero_grad()
        stats = run(method, model.losses(tasks=tasks), model, step)
        assert set(stats.weights) == set(tasks) and all(math.isfinite(w) for w in stats.weights.values())


@pytest.mark.parametrize("name", STATEFUL)
def test_state_dict_round_trip_restores_behaviour(name):
    model = Tiny(["a", "b"])
    params = {"window": 2} if name == "dwa" else {}
    a = make_method(name, params)
    for step in range(1, 6):
        model.zero_grad()
        run(a, model.losses({"a": 1.0 / step, "b": 1.0 + step}), model, step, after={"a": 0.5})
    state = json.loads(json.dumps(a.state_dict()))  # JSON-serialisable
    b = make_method(name, params)
    b.load_state_dict(state)
    assert b.state_dict() == a.state_dict()
    for step in range(6, 9):
        grads = []
        for m in (a, b):
            model.zero_grad()
            stats = run(m, model.losses({"a": 0.3, "b": 2.0 + step}), model, step, after={"b": 0.9})
            grads.append(([p.grad.clone() for p in model.parameters() if p.grad is not None], stats.weights))
        assert grads[0][1] == grads[1][1]
        assert all(torch.equal(x, y) for x, y in zip(grads[0][0], grads[1][0]))
        assert a.state_dict() == b.state_dict()
    fresh = make_method(name, params)
    model.zero_grad()
    assert run(fresh, model.losses({"a": 0.3, "b": 10.0}), model, 9).weights != \
        run(a, model.losses({"a": 0.3, "b": 10.0}), model, 9).weights  # the state matters


DOCUMENTED = {
    "uw": {"s_lr": 0.02, "init": -0.5},
    "dwa": {"temperature": 2.0, "window": 50},
    "rlw": {"seed": 7},
    "gls": {},
    "tchebycheff": {"momentum": 0.9},
    "tchebycheff_adv": {"momentum": 0.9},
    "banditmtl": {"eta": 0.5, "reg": 1.0},
    "imtl_l": {"s_lr": 0.02, "init": 0.0},
    "famo": {"w_lr": 0.025, "gamma": 1e-3, "min_losses": 0.0, "eps": 1e-8},
    "gradnorm": {"alpha": 1.5, "w_lr": 0.025, "layer": "encoder"},
}


@pytest.mark.parametrize("name", LOSS_METHODS)
def test_make_method_accepts_documented_and_rejects_unknown_hyperparameters(name):
    params = DOCUMENTED[name]
    assert set(params) == set(method_hyperparameters(METHODS[name]))
    method = make_method(name, params)
    assert method.backends == ("loss",)
    assert method.hyperparameters() == {k: (float(v) if isinstance(v, float) else v) for k, v in params.items()}
    assert (type(method).__doc__ or "").strip() and METHODS[name].__module__.startswith("textmtl.methods.")
    with pytest.raises(ConfigError, match=f"unknown hyper-parameter of '{name}'"):
        make_method(name, {**params, "not_a_parameter": 1})


@pytest.mark.parametrize("name, params", [
    ("uw", {"s_lr": 0}), ("imtl_l", {"s_lr": -1}), ("dwa", {"window": 0}), ("dwa", {"temperature": 0}),
    ("rlw", {"seed": -1}), ("tchebycheff", {"momentum": 1.0}), ("famo", {"gamma": -1e-3}),
    ("famo", {"w_lr": "fast"}), ("gradnorm", {"alpha": -1}), ("gradnorm", {"layer": ""}),
])
def test_invalid_hyperparameter_values_are_config_errors(name, params):
    with pytest.raises(ConfigError, match=f"method: {name}"):
        make_method(name, params)


# ------------------------------------------------------------------ end to end

@pytest.mark.parametrize("name", LOSS_METHODS)
def test_each_method_trains_through_textmtl_train(toy_csv_task, tmp_path, name):
    method = {"name": name, **({"window": 2} if name == "dwa" else {})}
    cfg = toy_config(toy_csv_task, tmp_path / "runs", method=method,
                     training={"steps": 4, "eval_every": 2, "batch_size": 8})
    result = textmtl.train(cfg, progress=False)  # tchebycheff_adv: on the adversarial architecture it implies
    assert result.metrics["method"] == name and result.metrics["steps"] == 4
    if name == "tchebycheff_adv":
        assert result.metrics["architecture"]["architecture"] == "adversarial"
    records = [json.loads(line) for line in (result.path / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        assert set(r["weights"]) == {"toy_a", "toy_b"}
        assert all(math.isfinite(w) and w >= 0 for w in r["weights"].values())
        assert all(math.isfinite(v) for v in r["train_loss"].values())
    if name == "gradnorm":
        assert records[-1]["gradnorm_layer"] == ["encoder.convs.2.weight", "encoder.convs.2.bias"]
    if name == "famo":
        assert set(records[-1]["famo_softmax"]) == {"toy_a", "toy_b"}


extreme_loss = st.sampled_from([0.0, 1e-45, 1e-30, 1e-8, 1.0, 1e8, 1e30, 3e38]) | \
    st.floats(min_value=0.0, max_value=torch.finfo(torch.float32).max / 2, allow_nan=False, width=32)


@pytest.mark.parametrize("name", ["ls"] + [n for n in LOSS_METHODS if n != "gradnorm"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_extreme_float32_losses_never_give_nan(name, data):
    """Zero, subnormal and near-overflow float32 losses, changing from step to step (ratios of 1e68
    for DWA, log of 0 for GLS/FAMO): weights, gradients and state stay finite."""
    method = make_method(name, {"window": 1} if name == "dwa" else {})
    for step in range(1, 6):
        tasks = names(data.draw(st.integers(1, 3)))
        xs = {t: torch.tensor(data.draw(extreme_loss), dtype=torch.float32, requires_grad=True) for t in tasks}
        after = {t: torch.tensor(data.draw(extreme_loss), dtype=torch.float32) for t in tasks}
        c = ctx(None, step, lambda t, b: after[t], {t: None for t in tasks}, record=True)
        stats = method.backward({t: x * 1.0 for t, x in xs.items()}, c)
        method.after_step(c)
        assert all(math.isfinite(w) for w in stats.weights.values()), stats.weights
        assert all(x.grad is None or torch.isfinite(x.grad).all() for x in xs.values())
        assert all(math.isfinite(float(v)) for v in _flat(method.state_dict()))


# ------------------------------------------------------------------ BanditMTL and TchebycheffAdv (issue 20)


@FAST
@given(st.lists(st.lists(any_loss, min_size=3, max_size=3), min_size=1, max_size=6))
def test_banditmtl_weights_stay_on_the_simplex(history):
    method = make_method("banditmtl")
    for step, values in enumerate(history, start=1):
        xs, losses = scalar_losses(dict(zip("abc", values)))
        stats = run(method, losses, step=step)
        w = np.array([stats.weights[t] for t in "abc"])
        assert np.all(w >= 0) and np.isclose(w.sum(), 3.0)
        assert all(np.isclose(float(xs[t].grad), stats.weights[t]) for t in "abc")  # L = K Σ p ℓ


@FAST
@given(st.lists(loss_value, min_size=2, max_size=5), st.sampled_from([(0.5, 1.0), (0.2, 2.0), (1.0, 0.5)]))
def test_banditmtl_converges_to_the_softmax_of_the_losses_over_lambda(values, params):
    """The fixed point of p <- p^(1-ηλ) exp(ηℓ) for constant losses is softmax(ℓ/λ)."""
    eta, reg = params
    method = make_method("banditmtl", {"eta": eta, "reg": reg})
    tasks = names(len(values))
    for _ in range(400):
        method.observe(dict(zip(tasks, values)))
    expected = len(values) * torch.softmax(torch.tensor(values, dtype=torch.float64) / reg, dim=0)
    assert torch.allclose(method.weights(tasks), expected, rtol=1e-6, atol=1e-9)


def test_banditmtl_limits_uniform_for_a_strong_regulariser_and_max_loss_for_a_weak_one():
    strong = make_method("banditmtl", {"eta": 1e-3, "reg": 1000.0})
    weak = make_method("banditmtl", {"eta": 1.0, "reg": 0.01})
    for _ in range(50):
        for m in (strong, weak):
            m.observe({"a": 0.2, "b": 0.9, "c": 0.5})
    assert torch.allclose(strong.weights(["a", "b", "c"]), torch.ones(3, dtype=torch.float64), atol=1e-3)
    assert weak.weights(["a", "b", "c"])[1] > 2.99  # all of K on the largest loss
    with pytest.raises(ConfigError, match="eta \\* reg must be <= 1"):
        make_method("banditmtl", {"eta": 2.0, "reg": 1.0})


def test_banditmtl_ignores_non_finite_losses_and_keeps_subsets_apart():
    method = make_method("banditmtl")
    method.observe({"a": float("inf"), "b": 1.0})
    assert "a" not in method.state_dict()["log_p"]
    method.observe({"a": 0.5})
    w = method.weights(["a", "b"])
    assert torch.isfinite(w).all() and torch.isclose(w.sum(), torch.tensor(2.0, dtype=torch.float64))


def test_tchebycheff_adv_needs_an_adversarial_model(tmp_path):
    from textmtl.models.architectures.adversarial import AdversarialSharedPrivate

    class Plain:
        name = "hard"

    method = make_method("tchebycheff_adv")
    with pytest.raises(ValueError, match="set model.architecture: adversarial"):
        method.check_model(Plain())
    assert AdversarialSharedPrivate.adversarial_training
    method.check_model(AdversarialSharedPrivate.__new__(AdversarialSharedPrivate))
