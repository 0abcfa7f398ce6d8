"""Registry, hyper-parameters, repr, state (JSON) and input handling of every aggregator."""

from __future__ import annotations

import inspect
import json

import pytest

from textmtl.registry import aggregators
import torch

from textmtl.aggregation import (
    AGGREGATORS,
    Aggregator,
    GramianWeightedAggregator,
    describe,
    make_aggregator,
    register,
)

from ._helpers import losses_for, make_jacobian

EXPECTED = {
    "mean", "sum", "mgda", "pcgrad", "gradvac", "graddrop", "cagrad", "imtl_g", "nash_mtl",
    "aligned_mtl", "upgrad", "getmtl", "getmtl_official", "emtl",
}
NAMES = sorted(AGGREGATORS)


def test_all_methods_registered():
    assert set(AGGREGATORS) == EXPECTED
    for name, cls in AGGREGATORS.items():
        assert cls.name == name
        assert issubclass(cls, Aggregator)


def test_paper_defaults():
    assert make_aggregator("getmtl").epsilon == 0.0075
    assert make_aggregator("getmtl_official").epsilon == 0.0075
    assert make_aggregator("getmtl_official").normalization == "loss+"
    assert make_aggregator("cagrad").c == 0.5
    assert make_aggregator("gradvac").beta == 0.01
    assert make_aggregator("mgda").normalization == "none"


@pytest.mark.parametrize("name", NAMES)
def test_hyperparameters_are_keyword_only_with_defaults(name):
    cls = AGGREGATORS[name]
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    for p in params:
        assert p.kind is p.KEYWORD_ONLY, f"{name}.{p.name} must be keyword-only"
        assert p.default is not p.empty
    agg = cls()
    assert agg.hparams() == {p.name: p.default for p in params}
    json.dumps(agg.hparams())


@pytest.mark.parametrize("name", NAMES)
def test_module_docstring_cites_the_method(name):
    module = inspect.getmodule(AGGREGATORS[name])
    assert module.__doc__ and len(module.__doc__) > 100
    assert AGGREGATORS[name].__doc__


def test_repr_shows_hyperparameters():
    assert repr(make_aggregator("cagrad", c=0.25)) == "CAGrad(c=0.25, rescale=0)"
    assert repr(make_aggregator("mean")) == "Mean()"
    assert repr(make_aggregator("getmtl")) == "GetMTL(epsilon=0.0075, normalization='none', denom_floor=0.1)"
    assert "seed=3" in repr(make_aggregator("pcgrad", seed=3))


def test_make_aggregator_errors_are_value_errors():
    with pytest.raises(ValueError, match="unknown aggregation method 'nope'.*available: .*pcgrad"):
        make_aggregator("nope")
    with pytest.raises(ValueError, match=r"unknown hyper-parameter\(s\) alpha for method 'cagrad'.*c=0.5"):
        make_aggregator("cagrad", alpha=0.4)
    with pytest.raises(ValueError, match="bogus, other"):
        make_aggregator("mgda", other=1, bogus=2)
    with pytest.raises(ValueError, match="normalization must be one of"):
        make_aggregator("mgda", normalization="l1")
    with pytest.raises(ValueError, match="c must be >= 0"):
        make_aggregator("cagrad", c=-1.0)
    with pytest.raises(ValueError, match="strength must be <= 1"):
        make_aggregator("emtl", strength=2.0)
    assert isinstance(make_aggregator("Nash-MTL"), AGGREGATORS["nash_mtl"])


def test_register_decorator():
    @register("_test_dummy")
    class Dummy(GramianWeightedAggregator):
        """A dummy."""

        def __init__(self, *, k: float = 2.0) -> None:
            super().__init__()
            self.k = k

        def _weights(self, gram, losses):
            return torch.full((gram.shape[0],), self.k)

    try:
        assert make_aggregator("_test_dummy", k=3.0)(torch.ones(2, 3)).tolist() == [6.0, 6.0, 6.0]
        with pytest.raises(ValueError, match="already registered"):
            register("_test_dummy")(AGGREGATORS["mean"])
        with pytest.raises(TypeError):
            register("_bad")(int)
    finally:
        aggregators.unregister("_test_dummy")


def test_describe_lists_every_method_with_defaults():
    info = describe()
    assert set(info) == EXPECTED
    assert info["cagrad"]["hparams"] == {"c": 0.5, "rescale": 0}
    assert info["emtl"]["requires_losses"] is True
    assert info["getmtl_official"]["requires_losses"] is True
    assert info["mgda"]["requires_losses"] is False
    assert info["nash_mtl"]["stateful"] is True
    assert info["graddrop"]["gramian_only"] is False
    assert info["upgrad"]["gramian_only"] is True
    for entry in info.values():
        assert entry["summary"]
    json.dumps(info)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_json_roundtrip_and_reset(name):
    J1 = make_jacobian(1, 4, 12, 0.0, "random", torch.float64)
    J2 = make_jacobian(2, 4, 12, 0.0, "random", torch.float64)
    losses = losses_for(J1)
    hp = {"seed": 5} if "seed" in AGGREGATORS[name].hparam_defaults() else {}
    agg = make_aggregator(name, **hp)
    assert agg.last_weights is None
    agg(J1, losses=losses)
    if agg.last_weights is not None:
        assert agg.last_weights.shape == (4,)
    state = json.loads(json.dumps(agg.state_dict()))
    expected = agg(J2, losses=losses)

    clone = make_aggregator(name, **hp)
    clone.load_state_dict(state)
    torch.testing.assert_close(clone(J2, losses=losses), expected, rtol=1e-12, atol=1e-12)

    agg.reset()
    assert agg.last_weights is None
    fresh = make_aggregator(name, **hp)
    torch.testing.assert_close(agg(J1, losses=losses), fresh(J1, losses=losses), rtol=1e-12, atol=1e-12)


def test_load_state_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unexpected"):
        make_aggregator("mean").load_state_dict({"x": 1})
    with pytest.raises(ValueError, match="unexpected"):
        make_aggregator("nash_mtl").load_state_dict({"x": 1})


def test_stateful_methods_change_with_history():
    J = make_jacobian(3, 3, 10, 0.0, "random", torch.float64)
    gv = make_aggregator("gradvac", seed=0, beta=0.5)
    gv(J)
    assert gv.phi_hat is not None and gv.phi_hat.shape == (3, 3)
    assert gv.state_dict()["phi_hat"] != [[0.0] * 3] * 3
    nash = make_aggregator("nash_mtl")
    nash(J)
    assert len(nash.state_dict()["prev_beta"]) == 3


@pytest.mark.parametrize("name", NAMES)
def test_losses_requirement_and_validation(name):
    J = make_jacobian(0, 3, 5, 0.0, "random", torch.float32)
    agg = make_aggregator(name)
    if agg.requires_losses:
        with pytest.raises(ValueError, match="needs the per-task losses"):
            agg(J)
    else:
        assert agg(J).shape == (5,)
    with pytest.raises(ValueError, match="expected 3 losses"):
        agg(J, losses=torch.ones(2))
    with pytest.raises(ValueError, match="2-D"):
        agg(torch.ones(5))


@pytest.mark.parametrize("name", NAMES)
def test_dtype_no_grad_and_empty_inputs(name):
    agg = make_aggregator(name)
    for dtype in (torch.float32, torch.float64):
        J = make_jacobian(0, 3, 6, 0.0, "random", dtype).requires_grad_(True)
        out = agg(J, losses=losses_for(J))
        assert out.dtype == dtype and out.shape == (6,) and not out.requires_grad
        if agg.last_weights is not None:
            assert agg.last_weights.dtype == dtype
    assert agg(torch.zeros(3, 0), losses=torch.ones(3)).shape == (0,)
    assert agg(torch.zeros(0, 4), losses=torch.ones(0)).tolist() == [0.0] * 4


@pytest.mark.parametrize("name", [n for n in NAMES if n != "graddrop"])
def test_gram_only_entry_point_matches_call(name):
    J = make_jacobian(4, 5, 9, 0.0, "random", torch.float64)
    losses = losses_for(J)
    hp = {"seed": 1} if "seed" in AGGREGATORS[name].hparam_defaults() else {}
    a, b = make_aggregator(name, **hp), make_aggregator(name, **hp)
    out = a(J, losses=losses)
    w = b.weights(J @ J.T, losses=losses)
    assert isinstance(b, GramianWeightedAggregator)
    torch.testing.assert_close(w, a.last_weights)
    torch.testing.assert_close(w @ J, out)
    with pytest.raises(ValueError, match="square"):
        b.weights(J)


def test_package_docstring_examples():
    import doctest

    import textmtl.aggregation as package

    result = doctest.testmod(package, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0
