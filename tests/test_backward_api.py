"""`textmtl.backward` / `textmtl.Backward` in a user's own loop: state kept across calls, every
method name the trainer knows, and the `features=` form against torchjd's `mtl_backward`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import textmtl
from importlib import import_module

backward_module = import_module("textmtl.gradients.backward")


class TwoHeads(nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 5))
        self.heads = nn.ModuleDict({"a": nn.Linear(5, 3), "b": nn.Linear(5, 2)})

    def losses(self, step: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        g = torch.Generator().manual_seed(step)
        x = torch.randn(16, 6, generator=g)
        ya, yb = torch.randint(0, 3, (16,), generator=g), torch.randint(0, 2, (16,), generator=g)
        z = self.encoder(x)
        ce = nn.functional.cross_entropy
        return {"a": ce(self.heads["a"](z), ya), "b": ce(self.heads["b"](z), yb)}, z


def train(steps: int, backward_step, seed: int = 0) -> TwoHeads:
    model = TwoHeads(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(steps):
        optimizer.zero_grad()
        losses, _ = model.losses(step)
        backward_step(model, losses)
        optimizer.step()
    return model


def same(m1: nn.Module, m2: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))


@pytest.mark.parametrize("method", ["gradvac", "uw", "imtl_l"])
def test_a_named_method_keeps_its_state_across_calls(method):
    backward_module._CACHE.clear()
    by_name = train(30, lambda m, losses: textmtl.backward(losses, shared=m.encoder.parameters(), method=method))
    held: dict[str, textmtl.Backward] = {}

    def with_object(m, losses):
        held.setdefault("step", textmtl.Backward(method, shared=m.encoder.parameters()))(losses)

    assert same(by_name, train(30, with_object))
    # a fresh object at every call (what `backward` did before) loses the state: another model
    fresh = train(30, lambda m, losses: textmtl.Backward(method, shared=m.encoder.parameters())(losses))
    assert not same(by_name, fresh)


def test_the_trainer_method_names_are_accepted():
    for method in ("ls", "uw", "pcgrad", "nash_mtl", "mean", "imtl_l", "rlw"):
        model = TwoHeads()
        losses, _ = model.losses(0)
        textmtl.backward(losses, shared=model.encoder.parameters(), method=method)
        assert all(p.grad is not None for p in model.parameters()), method
    model = TwoHeads()
    losses, _ = model.losses(0)
    textmtl.backward(losses, shared=model.encoder.parameters(), method="ls")
    expected = TwoHeads()
    sum(expected.losses(0)[0].values()).backward()
    assert all(torch.allclose(p.grad, q.grad) for p, q in zip(model.parameters(), expected.parameters()))
    with pytest.raises(textmtl.ConfigError, match="unknown method 'pcgard'.*pcgrad"):
        textmtl.backward(losses, shared=model.encoder.parameters(), method="pcgard")


def test_famo_updates_after_the_step_with_the_new_losses():
    model = TwoHeads()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    step = textmtl.Backward("famo", shared=model.encoder.parameters())
    for i in range(3):
        optimizer.zero_grad()
        losses, _ = model.losses(i)
        step(losses)
        optimizer.step()
        with torch.no_grad():
            after, _ = model.losses(i)
        step.after_step(after)
    assert step.method.state_dict() != textmtl.Backward("famo", shared=model.encoder.parameters()).method.state_dict()
    with pytest.raises(ValueError, match="after_step"):
        step(model.losses(4)[0])
        step.after_step()


@pytest.mark.parametrize("aggregator", ["upgrad", "mgda", "mean"])
def test_features_form_matches_torchjd_mtl_backward(aggregator):
    torchjd = pytest.importorskip("torchjd")
    from torchjd.autojac import jac_to_grad, mtl_backward

    from textmtl.aggregation import make_aggregator

    ours, theirs = TwoHeads(), TwoHeads()
    losses, z = ours.losses(0)
    weights = textmtl.backward(losses, features=z, method=aggregator)  # shared: the parameters behind z
    assert weights is not None and weights.shape == (2,)
    their_losses, their_z = theirs.losses(0)
    mtl_backward(list(their_losses.values()), features=their_z)
    reference = {"upgrad": torchjd.aggregation.UPGrad, "mgda": torchjd.aggregation.MGDA,
                 "mean": torchjd.aggregation.Mean}[aggregator]()
    jac_to_grad(list(theirs.encoder.parameters()), reference)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), name
    del make_aggregator


def test_features_with_the_representation_backend_is_one_pass_through_the_encoder():
    model = TwoHeads()
    losses, z = model.losses(0)
    textmtl.backward(losses, features=z, method="mean", backend="representation")
    reference = TwoHeads()
    l2, _ = reference.losses(0)
    (0.5 * sum(l2.values())).backward()  # mean of two rows on the features, then through the encoder
    for p, q in zip(model.encoder.parameters(), reference.encoder.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6)
    for p, q in zip(model.heads.parameters(), reference.heads.parameters()):
        assert torch.allclose(p.grad, 2 * q.grad, atol=1e-6)  # heads keep their plain gradient
    with pytest.raises(ValueError, match="features="):
        textmtl.backward(model.losses(1)[0], shared=model.encoder.parameters(), method="mean",
                         backend="representation")
