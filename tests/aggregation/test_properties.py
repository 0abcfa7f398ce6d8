"""Mathematical properties of every aggregator on random and degenerate Jacobians."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from textmtl.aggregation import AGGREGATORS, make_aggregator

from ._helpers import degenerate_jacobians, jacobians, losses_for, make_jacobian, rtol_for, scale_of

NAMES = sorted(AGGREGATORS)
SEEDED = {"pcgrad", "gradvac", "graddrop"}


def build(name: str, **hp):
    if name in SEEDED:
        hp.setdefault("seed", 0)
    return make_aggregator(name, **hp)


def slsqp_simplex(f, K: int, starts: int = 4, seed: int = 0) -> float:
    """Best value of f over the simplex found by multi-start SLSQP (an independent oracle)."""
    rng = np.random.default_rng(seed)
    best = math.inf
    x0s = [np.full(K, 1.0 / K)] + [rng.dirichlet(np.ones(K)) for _ in range(starts - 1)] + list(np.eye(K))
    for x0 in x0s:
        res = minimize(
            f, x0, method="SLSQP", bounds=[(0.0, 1.0)] * K,
            constraints={"type": "eq", "fun": lambda x: x.sum() - 1.0},
            options={"ftol": 1e-15, "maxiter": 500},
        )
        x = np.clip(res.x, 0.0, None)
        x /= x.sum()
        best = min(best, float(f(x)))
    return best


# --------------------------------------------------------------------------- finiteness
@pytest.mark.parametrize("name", NAMES)
@settings(settings.get_profile("aggregation"), max_examples=25)
@given(J=jacobians())
def test_finite_output_on_random_jacobians(name, J):
    out = build(name)(J, losses=losses_for(J))
    assert out.shape == (J.shape[1],)
    assert torch.isfinite(out).all(), out


@pytest.mark.parametrize("name", NAMES)
@settings(settings.get_profile("aggregation"), max_examples=25)
@given(J=degenerate_jacobians())
def test_finite_output_on_degenerate_jacobians(name, J):
    agg = build(name)
    out = agg(J, losses=losses_for(J))
    assert out.shape == (J.shape[1],)
    assert torch.isfinite(out).all(), out
    if agg.last_weights is not None:
        assert torch.isfinite(agg.last_weights).all()
    if not J.any():
        assert (out == 0).all()


loss_value = st.just(0.0) | st.floats(1e-8, 1e8)


@pytest.mark.parametrize("name", NAMES)
@settings(settings.get_profile("aggregation"), max_examples=25)
@given(J=jacobians() | degenerate_jacobians(), data=st.data())
def test_finite_output_with_zero_tiny_and_huge_losses(name, J, data):
    """Losses in {0} ∪ [1e-8, 1e8] (all zero included) for the methods that read them; the state
    of stateful methods stays finite over repeated calls."""
    agg = build(name)
    for _ in range(2):
        losses = data.draw(st.lists(loss_value, min_size=J.shape[0], max_size=J.shape[0]))
        out = agg(J, losses=torch.tensor(losses, dtype=J.dtype))
        assert torch.isfinite(out).all(), (losses, out)
        if agg.last_weights is not None:
            assert torch.isfinite(agg.last_weights).all()
    state = agg.state_dict()
    assert all(math.isfinite(v) for v in np.ravel(np.asarray(state.get("phi_hat") or state.get("prev_beta") or [])))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_single_task(name, dtype):
    J = make_jacobian(7, 1, 13, 0.0, "random", dtype)
    out = build(name)(J, losses=torch.tensor([0.7], dtype=dtype))
    assert torch.isfinite(out).all()
    # With one task every method returns a non-negative multiple of it.
    cos = torch.nn.functional.cosine_similarity(out.double(), J[0].double(), dim=0)
    if name != "graddrop":
        assert cos > 1 - 1e-5


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("log_scale", [-8.0, 8.0])
def test_extreme_scales_with_exact_degeneracies(name, log_scale):
    for kind in ("zero_row", "duplicate", "opposite", "all_zero", "random"):
        for dtype in (torch.float32, torch.float64):
            J = make_jacobian(11, 4, 6, log_scale, kind, dtype)
            out = build(name)(J, losses=losses_for(J))
            assert torch.isfinite(out).all(), (kind, dtype, out)


# ------------------------------------------------------------------ permutation / scaling
def declaring(prop: str) -> list[str]:
    """The aggregators that declare `prop` in their `properties` (see `Aggregator.properties`)."""
    return [n for n in NAMES if prop in AGGREGATORS[n].properties]


PERMUTATION_INVARIANT = declaring("permutation_invariant")


def test_every_aggregator_declares_known_properties():
    known = {"permutation_invariant", "equivariant_weights", "positively_homogeneous", "unique_when_rank_deficient"}
    for name in NAMES:
        assert AGGREGATORS[name].properties <= known, name
    # the deterministic means are the cases every property holds for
    assert set(declaring("positively_homogeneous")) >= {"mean", "sum"}


@pytest.mark.parametrize("name", PERMUTATION_INVARIANT)
@settings(settings.get_profile("aggregation"), max_examples=20)
@given(J=jacobians(max_k=6, kinds=("random", "correlated"), dtypes=(torch.float64,),
                   min_log_scale=-2, max_log_scale=2), perm_seed=st.integers(0, 1000))
def test_permutation_invariance(name, J, perm_seed):
    K, P = J.shape
    props = AGGREGATORS[name].properties
    # e.g. GetMTL's MGDA weights are not unique, and Nash-MTL's G alpha = 1/alpha has no solution, when K > P
    assume(K <= P or "unique_when_rank_deficient" in props)
    perm = torch.randperm(K, generator=torch.Generator().manual_seed(perm_seed))
    losses = losses_for(J)
    a, b = build(name), build(name)
    out = a(J, losses=losses)
    out_p = b(J[perm], losses=losses[perm])
    scale = max(float(out.norm()), 1e-300)
    assert float((out - out_p).norm()) <= 1e-6 * scale + 1e-12 * scale_of(J)
    if a.last_weights is not None and "equivariant_weights" in props and K <= P:  # unique weights: full rank
        torch.testing.assert_close(b.last_weights, a.last_weights[perm], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", declaring("positively_homogeneous"))
@settings(settings.get_profile("aggregation"), max_examples=20)
@given(J=jacobians(kinds=("random", "correlated"), dtypes=(torch.float64,), min_log_scale=-3, max_log_scale=3),
       log_a=st.floats(-4, 4))
def test_linear_under_scaling(name, J, log_a):
    a = 10.0**log_a
    hp = dict(AGGREGATORS[name].homogeneous_hparams)
    out = build(name, **hp)(J)
    out_a = build(name, **hp)(a * J)
    torch.testing.assert_close(out_a, a * out, rtol=1e-6, atol=1e-9 * a * scale_of(J))


# ------------------------------------------------------------------------------- MGDA
@pytest.mark.parametrize("normalization", ["none", "l2", "loss", "loss+"])
@settings(settings.get_profile("aggregation"), max_examples=40)
@given(J=jacobians())
def test_mgda_kkt(normalization, J):
    """Min-norm point of the hull: weights on the simplex and g_i'd >= ||d||^2 for all i."""
    losses = losses_for(J)
    agg = make_aggregator("mgda", normalization=normalization)
    out = agg(J, losses=losses)
    beta = agg.last_weights.double()
    assert float(beta.min()) >= 0.0 and abs(float(beta.sum()) - 1.0) < 1e-6
    Jd = J.double()
    norms = Jd.norm(dim=1)
    n = {"none": torch.ones_like(norms), "l2": norms, "loss": losses.double(),
         "loss+": losses.double() * norms}[normalization]
    safe = torch.where(n > 0, n, torch.ones_like(n))
    Jn = torch.where((n > 0).unsqueeze(1), Jd / safe.unsqueeze(1), torch.zeros_like(Jd))
    d = beta @ Jn
    tol = rtol_for(J.dtype) * float(Jn.norm(dim=1).max()) ** 2
    assert float((Jn @ d).min() - d @ d) >= -tol
    # the direction combines the raw gradients
    torch.testing.assert_close(out.double(), beta @ Jd, rtol=1e-4, atol=1e-6 * scale_of(J))


def test_mgda_finds_the_min_norm_point_when_norms_span_1e12():
    """Issue 21's reproducer: orthogonal rows with norms 1e-6, 1, 1e6. The min-norm element has
    weights proportional to 1/||g_i||^2 and ||d|| = 1e-6 (the solver on G alone returned 0.5)."""
    J = torch.zeros(3, 5, dtype=torch.float64)
    J[0, 0], J[1, 1], J[2, 2] = 1e-6, 1.0, 1e6
    out = make_aggregator("mgda")(J)
    assert abs(float(out.norm()) - 1e-6) <= 1e-12


@settings(settings.get_profile("aggregation"), max_examples=40)
@given(K=st.integers(2, 6), P=st.integers(6, 12), seed=st.integers(0, 10_000),
       log_norms=st.lists(st.floats(-6, 6), min_size=6, max_size=6))
def test_mgda_on_gradients_whose_norms_span_up_to_1e12(K, P, seed, log_norms):
    """Random directions with norms 10^[-6, 6]: the min-norm point is never longer than the
    shortest gradient (every vertex is feasible) and satisfies its KKT conditions relative to
    its own length: g_i'd >= ||d||^2 for every task, with equality where the weight is positive."""
    gen = torch.Generator().manual_seed(seed)
    U = torch.nn.functional.normalize(torch.randn(K, P, generator=gen, dtype=torch.float64), dim=1)
    norms = torch.tensor([10.0**x for x in log_norms[:K]], dtype=torch.float64)
    J = U * norms[:, None]
    agg = make_aggregator("mgda")
    d = agg(J)
    w = agg.last_weights.double()
    dd = float(d @ d)
    assert math.sqrt(dd) <= float(norms.min()) * (1 + 1e-9)
    # >= 0, and 0 where w_i > 0; relative to ||g_i|| ||d||, the scale of g_i'd (a cosine)
    relative_slack = (J @ d - dd) / (norms * math.sqrt(dd))
    assert float(relative_slack.min()) >= -1e-8, (relative_slack, dd)
    assert float((w * relative_slack.abs()).max()) <= 1e-8, (w, relative_slack)


def test_mgda_two_tasks_closed_form():
    J = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    out = make_aggregator("mgda")(J)
    # min over t of ||t g1 + (1 - t) g2||: t = 4/5
    torch.testing.assert_close(out, torch.tensor([0.8, 0.4], dtype=torch.float64))


# ----------------------------------------------------------------------------- PCGrad
@settings(settings.get_profile("aggregation"), max_examples=50)
@given(J=jacobians(min_k=2, max_k=2))
def test_pcgrad_two_tasks_no_conflict(J):
    out = make_aggregator("pcgrad", seed=0)(J).double()
    tol = rtol_for(J.dtype) * scale_of(J) ** 2
    assert float((J.double() @ out).min()) >= -tol


def test_pcgrad_exact_projection():
    g1 = torch.tensor([1.0, 1.0], dtype=torch.float64)
    g2 = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    out = make_aggregator("pcgrad")(torch.stack([g1, g2]))
    p1 = g1 - (g1 @ g2) / (g2 @ g2) * g2
    p2 = g2 - (g2 @ g1) / (g1 @ g1) * g1
    torch.testing.assert_close(out, p1 + p2)


def test_gradvac_with_zero_target_is_pcgrad_for_two_tasks():
    J = make_jacobian(3, 2, 7, 0.0, "random", torch.float64)
    J[1] = -J[0] + 0.3 * J[1]
    gv = make_aggregator("gradvac", beta=0.0)(J)  # phi_hat stays 0 -> PCGrad
    torch.testing.assert_close(gv, make_aggregator("pcgrad")(J), rtol=1e-6, atol=1e-9)


def test_gradvac_matches_eq3_and_reaches_the_target_cosine():
    J = torch.tensor([[1.0, 0.2, 0.1], [-0.5, 1.0, 0.3]], dtype=torch.float64)
    target = 0.5
    agg = make_aggregator("gradvac", beta=0.0, seed=0)
    agg.load_state_dict({"phi_hat": [[0.0, target], [target, 0.0]], "rng_state": agg.state_dict()["rng_state"]})
    out = agg(J)

    def vaccinate(gi, gj):  # Wang et al. 2021, Eq. (3), written independently
        phi = (gi @ gj) / (gi.norm() * gj.norm())
        if phi >= target:
            return gi
        w = gi.norm() * (target * (1 - phi**2).sqrt() - phi * (1 - target**2) ** 0.5) / (
            gj.norm() * (1 - target**2) ** 0.5)
        new = gi + w * gj
        assert abs(float((new @ gj) / (new.norm() * gj.norm())) - target) < 1e-9
        return new

    expected = vaccinate(J[0], J[1]) + vaccinate(J[1], J[0])
    torch.testing.assert_close(out, expected, rtol=1e-7, atol=1e-9)
    assert agg.phi_hat[0, 1] == target  # beta = 0 keeps the targets


# ----------------------------------------------------------------------------- GradDrop
@settings(settings.get_profile("aggregation"), max_examples=30)
@given(J=jacobians(dtypes=(torch.float64,)), seed=st.integers(0, 100))
def test_graddrop_keeps_one_sign_per_coordinate(J, seed):
    out = make_aggregator("graddrop", seed=seed)(J)
    pos = J.clamp(min=0).sum(0)
    neg = J.clamp(max=0).sum(0)
    ok = torch.isclose(out, pos, rtol=1e-9, atol=0) | torch.isclose(out, neg, rtol=1e-9, atol=0)
    assert ok.all()
    torch.testing.assert_close(make_aggregator("graddrop", leak=1.0)(J), J.sum(0))


# ------------------------------------------------------------------------------ CAGrad
@pytest.mark.parametrize("c", [0.5, 0.1, 0.9])
@settings(settings.get_profile("aggregation"), max_examples=25)
@given(J=jacobians(min_k=2, max_k=6))
def test_cagrad_ball(c, J):
    """||d - g0|| <= c||g0|| (Eq. 3 constraint; exact up to the working precision)."""
    out = make_aggregator("cagrad", c=c)(J).double()
    g0 = J.double().mean(0)
    rel = rtol_for(J.dtype)
    assert float((out - g0).norm()) <= c * float(g0.norm()) * (1 + rel) + rel * 1e-3 * scale_of(J)


@pytest.mark.parametrize("c", [0.5, 0.1, 0.9])
@settings(settings.get_profile("aggregation"), max_examples=25)
@given(J=jacobians(min_k=2, max_k=6, dtypes=(torch.float64,),
                   kinds=("random", "correlated", "imbalanced", "zero_row", "duplicate", "opposite")))
def test_cagrad_optimality(c, J):
    """d is primal optimal: zero duality gap with the returned dual weights, which beat SLSQP.

    (Near-opposite rows are left out: when the optimum sits at a near-cancellation
    ||g_w|| ~ 1e-7 max||g_i||, Gram-based norms only give a few digits of the gap.)
    """
    agg = make_aggregator("cagrad", c=c)
    out = agg(J).double()
    Jd = J.double()
    g0 = Jd.mean(0)
    s = scale_of(J)
    assume(float(g0.norm()) > 1e-6 * s)
    G = (Jd @ Jd.T).numpy()
    a = G.mean(axis=1)
    rho = c * float(g0.norm())
    f = lambda w: a @ w + rho * math.sqrt(max(w @ G @ w, 0.0))  # noqa: E731
    dual = f(agg.last_dual_weights.numpy())
    primal = float((Jd @ out).min())
    # weak duality: primal(d) <= dual(w) for any feasible d and w; a zero gap certifies both.
    tol = 1e-8 * s * s + 1e-7 * rho * s
    assert dual - primal <= tol
    assert dual <= slsqp_simplex(f, J.shape[0]) + tol


def test_cagrad_rescale_and_c0():
    J = make_jacobian(5, 3, 8, 0.0, "random", torch.float64)
    d0 = make_aggregator("cagrad", c=0.4)(J)
    torch.testing.assert_close(make_aggregator("cagrad", c=0.4, rescale=1)(J), d0 / 1.16)
    torch.testing.assert_close(make_aggregator("cagrad", c=0.4, rescale=2)(J), d0 / 1.4)
    torch.testing.assert_close(make_aggregator("cagrad", c=0.0)(J), J.mean(0))


# ------------------------------------------------------------------------------ UPGrad
@settings(settings.get_profile("aggregation"), max_examples=40)
@given(J=jacobians())
def test_upgrad_non_conflicting(J):
    out = make_aggregator("upgrad")(J).double()
    tol = rtol_for(J.dtype) * scale_of(J) ** 2
    assert float((J.double() @ out).min()) >= -tol


def test_upgrad_is_mean_without_conflict():
    J = torch.tensor([[1.0, 0.1, 0.0], [0.5, 1.0, 0.2], [0.3, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(make_aggregator("upgrad")(J), J.mean(0))


# ------------------------------------------------------------------------------ IMTL-G
@settings(settings.get_profile("aggregation"), max_examples=30)
@given(J=jacobians(max_k=5, kinds=("random",), dtypes=(torch.float64,), min_log_scale=-3, max_log_scale=3))
def test_imtl_g_equal_projections(J):
    K, P = J.shape
    assume(K <= P)
    agg = make_aggregator("imtl_g")
    out = agg(J)
    assert abs(float(agg.last_weights.sum()) - 1.0) < 1e-8
    proj = (J @ out) / J.norm(dim=1)
    torch.testing.assert_close(proj, proj.mean().expand(K), rtol=1e-6, atol=1e-9 * scale_of(J))


def test_imtl_g_keeps_every_task_with_a_nonzero_gradient():
    """Issue 21's reproducer: orthogonal rows with norms 1e-9, 1, 1e3 get equal projections (the
    pseudo-inverse of G itself cut the smallest task off: projections [0, 0.999, 0.999])."""
    J = torch.zeros(3, 5, dtype=torch.float64)
    J[0, 0], J[1, 1], J[2, 2] = 1e-9, 1.0, 1e3
    agg = make_aggregator("imtl_g")
    out = agg(J)
    proj = (J @ out) / J.norm(dim=1)
    torch.testing.assert_close(proj, proj.mean().expand(3), rtol=1e-9, atol=0.0)
    assert float(proj.min()) > 0 and abs(float(agg.last_weights.sum()) - 1.0) < 1e-12
    J[0] = 0.0  # a zero gradient: weight 0, the others as without it
    agg(J)
    assert float(agg.last_weights[0]) == 0.0
    torch.testing.assert_close(agg.last_weights[1:], make_aggregator("imtl_g").weights(J[1:] @ J[1:].T))


@settings(settings.get_profile("aggregation"), max_examples=40)
@given(K=st.integers(2, 5), seed=st.integers(0, 10_000), log_norms=st.lists(st.floats(-6, 6), min_size=5, max_size=5))
def test_imtl_g_equal_projections_when_norms_span_up_to_1e12(K, seed, log_norms):
    gen = torch.Generator().manual_seed(seed)
    U = torch.nn.functional.normalize(torch.randn(K, 8, generator=gen, dtype=torch.float64), dim=1)
    assume(float(torch.linalg.cond(U @ U.T)) < 1e4)
    J = U * torch.tensor([10.0**x for x in log_norms[:K]], dtype=torch.float64)[:, None]
    out = make_aggregator("imtl_g")(J)
    proj = (J @ out) / J.norm(dim=1)
    torch.testing.assert_close(proj, proj.mean().expand(K), rtol=1e-7, atol=0.0)


# ---------------------------------------------------------------------------- Nash-MTL
@settings(settings.get_profile("aggregation"), max_examples=30)
@given(J=jacobians(max_k=6, kinds=("random", "correlated", "imbalanced"), dtypes=(torch.float64,)))
def test_nash_mtl_bargaining_equation(J):
    K, P = J.shape
    agg = make_aggregator("nash_mtl", max_norm=0.0)
    agg(J)
    alpha = agg.last_weights
    assert (alpha > 0).all() and torch.isfinite(alpha).all()
    G = J @ J.T
    if K <= P:  # (for K > P the equation has no solution; alpha is set by the regulariser)
        torch.testing.assert_close(G @ alpha, 1.0 / alpha, rtol=1e-6, atol=0.0)  # on the raw Gram
        normalized = make_aggregator("nash_mtl", max_norm=0.0, gram="normalized")
        normalized(J)
        Gn = G / torch.linalg.matrix_norm(G)
        torch.testing.assert_close(Gn @ normalized.last_weights, 1.0 / normalized.last_weights, rtol=1e-6, atol=0.0)


@settings(settings.get_profile("aggregation"), max_examples=20)
@given(J=jacobians(max_k=6, kinds=("random", "correlated"), dtypes=(torch.float64,), min_log_scale=-4,
                   max_log_scale=4), log_a=st.floats(-6, 6))
def test_nash_mtl_raw_step_has_norm_sqrt_k_at_any_scale(J, log_a):
    """The official convention: G alpha = 1/alpha on the raw Gram, so alpha'G alpha = K and the
    unclipped step is scale-invariant (Navon et al. 2022, Alg. 1; LibMTL and torchjd alike)."""
    K, P = J.shape
    assume(K <= P)
    out = make_aggregator("nash_mtl", max_norm=0.0)(J)
    assert abs(float(out.norm()) - math.sqrt(K)) < 1e-6 * math.sqrt(K)
    torch.testing.assert_close(make_aggregator("nash_mtl", max_norm=0.0)(10.0**log_a * J), out, rtol=1e-6,
                               atol=1e-9)


def test_nash_mtl_small_gradients_reproducer():
    """The reproducer of issue 21: the official step length 1 (clipped from sqrt(2)), not 0.5289."""
    torch.manual_seed(0)
    J = 0.01 * torch.randn(2, 1000, dtype=torch.float64)
    assert abs(float(make_aggregator("nash_mtl")(J).norm()) - 1.0) < 1e-9
    assert abs(float(make_aggregator("nash_mtl", gram="normalized")(J).norm()) - 0.5289) < 1e-4
    raw, normalized = make_aggregator("nash_mtl", max_norm=0.0)(J), make_aggregator("nash_mtl", gram="normalized")(J)
    assert float(torch.nn.functional.cosine_similarity(raw, normalized, dim=0)) > 1 - 1e-12  # same direction


def test_nash_mtl_zero_gradient_gets_zero_weight():
    J = make_jacobian(1, 3, 8, 0.0, "random", torch.float64)
    J[1] = 0.0
    agg = make_aggregator("nash_mtl", max_norm=0.0)
    out = agg(J)
    assert agg.last_weights[1] == 0.0
    sub = make_aggregator("nash_mtl", max_norm=0.0)(J[[0, 2]])
    torch.testing.assert_close(out, sub)


def test_nash_mtl_max_norm_clips():
    J = 100.0 * make_jacobian(2, 3, 10, 0.0, "random", torch.float64)
    out = make_aggregator("nash_mtl", max_norm=1.0)(J)
    assert abs(float(out.norm()) - 1.0) < 1e-9  # sqrt(3) > 1: clipped
    torch.testing.assert_close(make_aggregator("nash_mtl", max_norm=2.0)(J),  # sqrt(3) < 2: not clipped
                               make_aggregator("nash_mtl", max_norm=0.0)(J))
    small = 1e-3 * make_jacobian(2, 3, 10, 0.0, "random", torch.float64)
    normalized = {"gram": "normalized"}  # ||d|| = sqrt(K ||G||_F): small here, never clipped
    torch.testing.assert_close(make_aggregator("nash_mtl", max_norm=1.0, **normalized)(small),
                               make_aggregator("nash_mtl", max_norm=0.0, **normalized)(small))


# -------------------------------------------------------------------------- Aligned-MTL
@settings(settings.get_profile("aggregation"), max_examples=30)
@given(J=jacobians(max_k=6, kinds=("random", "correlated"), dtypes=(torch.float64,), min_log_scale=-3, max_log_scale=3))
def test_aligned_mtl_equalises_the_singular_values(J):
    """With weights B 1 and B = s^1/2 V L^-1/2 V', the aligned system J'B has B G B = s * Pi."""
    K, P = J.shape
    assume(K <= P)
    B = torch.stack([torch.as_tensor(make_aggregator("aligned_mtl", pref_vector=list(e)).weights(J @ J.T))
                     for e in torch.eye(K, dtype=torch.float64).tolist()], dim=1)
    BGB = B.T @ (J @ J.T) @ B
    lam_min = torch.linalg.eigvalsh(J @ J.T)[0]
    torch.testing.assert_close(BGB, lam_min * torch.eye(K, dtype=torch.float64), rtol=1e-6, atol=1e-8 * float(lam_min))
    out = make_aggregator("aligned_mtl")(J)
    torch.testing.assert_close(out, (B @ torch.full((K,), 1.0 / K, dtype=torch.float64)) @ J)


# ------------------------------------------------------------------------------ GetMTL
def _getmtl_closed_form(J: torch.Tensor, beta: torch.Tensor, w: torch.Tensor, eps: float, floor: float) -> torch.Tensor:
    """Eq. 13 of the paper, computed on J directly (independently of the Gram code path)."""
    Jd = J.double()
    g0 = Jd.mean(0)
    g0_sq = float(g0 @ g0)
    D = max(1.0 - eps**2 * g0_sq, floor)
    g_w = (w.double() * beta.double()) @ Jd
    n = float(g_w.norm())
    d = g0 / D
    if n > 4 * math.sqrt(torch.finfo(J.dtype).eps) * float((beta.double()[:, None] * Jd).norm(dim=1).max()):
        d = d + eps * g0_sq * g_w / (D * n)
    return d


@pytest.mark.parametrize("eps", [0.0075, 0.025, 0.1, 0.5])
@settings(settings.get_profile("aggregation"), max_examples=25)
@given(J=jacobians(max_k=6, dtypes=(torch.float64,), min_log_scale=-2, max_log_scale=2))
def test_getmtl_closed_form_and_dual_optimality(eps, J):
    agg = make_aggregator("getmtl", epsilon=eps)
    out = agg(J)
    beta, w = agg.last_beta, agg.last_w
    assert abs(float(beta.sum()) - 1) < 1e-9 and abs(float(w.sum()) - 1) < 1e-9
    expected = _getmtl_closed_form(J, beta, w, eps, agg.denom_floor)
    s = scale_of(J)
    torch.testing.assert_close(out, expected.to(out.dtype), rtol=1e-6, atol=1e-9 * s)
    # w* minimises J(w) over the simplex (the positive denominator does not change argmin)
    Jd = J.double()
    G = (Jd @ Jd.T).numpy()
    b = beta.double().numpy()
    Q = G * np.outer(b, b)
    g0_sq = float(G.mean())
    a = b * G.mean(axis=1)
    f = lambda v: a @ v + eps * g0_sq * math.sqrt(max(v @ Q @ v, 0.0))  # noqa: E731
    # tolerance: ||g_w|| from a float64 Gram is accurate to ~sqrt(eps) * max||g_i||
    assert f(w.numpy()) <= slsqp_simplex(f, J.shape[0]) + 1e-9 * s * s + 1e-7 * eps * g0_sq * s


@settings(settings.get_profile("aggregation"), max_examples=25)
@given(J=jacobians(kinds=("random", "correlated")))
def test_getmtl_tends_to_mean_gradient(J):
    g0 = J.double().mean(0)
    s = scale_of(J)
    for eps in (1e-6 / max(s, 1e-12), 0.0):
        out = make_aggregator("getmtl", epsilon=eps)(J).double()
        assert float((out - g0).norm()) <= 1e-4 * float(g0.norm()) + rtol_for(J.dtype) * 1e-3 * s


def test_getmtl_denominator_guard():
    J = 1e3 * make_jacobian(0, 3, 5, 0.0, "correlated", torch.float64)
    agg = make_aggregator("getmtl", epsilon=0.0075, denom_floor=0.2)
    out = agg(J)
    assert agg.last_denominator == 0.2
    assert torch.isfinite(out).all()


# --------------------------------------------------------------------- GetMTL (official)
def _official_reference(J: torch.Tensor, scales: np.ndarray, c: float) -> np.ndarray:
    """Direct transcription of heany/GetMTL ``_getmtl`` (+ overwrite_grad's x n_tasks)."""
    grads = J.double().T.numpy()  # [P, T]
    T = grads.shape[1]
    A = grads.T @ grads
    g0_norm = math.sqrt(A.mean() + 1e-8)
    cg0 = c * g0_norm + 1e-8
    cg02 = c * g0_norm * g0_norm + 1e-8
    rho = 1 - (c * g0_norm) ** 2

    def objfn(x):
        q = math.sqrt(x @ A @ x + 1e-8)
        return (cg0 + 1) ** 2 * q**2 / (2 * c * q * rho) - q / 2 * c

    res = minimize(objfn, np.ones(T) / T, bounds=[(0, 1)] * T,
                   constraints={"type": "eq", "fun": lambda x: 1 - sum(x)}, method="SLSQP",
                   options={"ftol": 1e-14, "maxiter": 500})
    wv = res.x * scales
    ww = np.exp(wv - wv.max())
    ww /= ww.sum()
    gw = grads @ ww
    lmda = (np.linalg.norm(gw) + 1e-8) / cg02
    d = grads.mean(1) / rho + gw / rho * lmda
    return d / (1 + c**2) * T


@settings(settings.get_profile("aggregation"), max_examples=20)
@given(J=jacobians(min_k=2, max_k=5, max_p=30, kinds=("random", "correlated"), dtypes=(torch.float64,),
                   min_log_scale=-1, max_log_scale=0.5))
def test_getmtl_official_matches_released_code(J):
    K, P = J.shape
    assume(K <= P)  # min-norm weights not unique: SLSQP may pick another minimiser
    losses = losses_for(J)
    agg = make_aggregator("getmtl_official", epsilon=0.0075)
    out = agg(J, losses=losses)
    ref = _official_reference(J, agg.last_beta.numpy(), 0.0075)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-6 * float(np.abs(ref).max()))
    # the scales are MGDA on the loss+-normalised gradients
    mg = make_aggregator("mgda", normalization="loss+")
    mg(J, losses=losses)
    torch.testing.assert_close(agg.last_beta, mg.last_weights)


# -------------------------------------------------------------------------------- EMTL
@settings(settings.get_profile("aggregation"), max_examples=30)
@given(J=jacobians(kinds=("random", "correlated"), dtypes=(torch.float64,)), strength=st.floats(0.0, 1.0),
       loss_seed=st.integers(0, 100))
def test_emtl_equalises_relative_contributions(J, strength, loss_seed):
    losses = losses_for(J, loss_seed)
    agg = make_aggregator("emtl", strength=strength)
    out = agg(J, losses=losses)
    w = agg.last_weights
    K = J.shape[0]
    assert abs(float(w.sum()) - K) < 1e-9 * K
    r = losses / J.norm(dim=1)
    var_w = torch.var(w * r, unbiased=False)
    var_0 = torch.var(r, unbiased=False)
    assert float(var_w) <= (1 - strength) ** 2 * float(var_0) * (1 + 1e-6) + 1e-12 * float(r.max()) ** 2
    torch.testing.assert_close(out, w @ J)
    if strength == 0.0:
        torch.testing.assert_close(out, J.sum(0))


def test_emtl_rejects_negative_losses():
    J = make_jacobian(0, 2, 3, 0.0, "random", torch.float64)
    with pytest.raises(ValueError, match="non-negative"):
        make_aggregator("emtl")(J, losses=torch.tensor([1.0, -1.0]))
