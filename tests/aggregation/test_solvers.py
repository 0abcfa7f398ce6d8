"""The small K x K solvers against independent scipy oracles."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, nnls

from textmtl.aggregation._solvers import (
    linear_plus_norm_on_simplex,
    min_norm_on_simplex,
    nash_bargaining,
    qp_active_set,
)

PROFILE = settings.get_profile("aggregation")


@st.composite
def matrices(draw, min_k=1, max_k=10, max_p=30):
    K = draw(st.integers(min_k, max_k))
    P = draw(st.integers(1, max_p))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    J = rng.standard_normal((K, P)) * 10.0 ** rng.uniform(-1.5, 1.5, size=(K, 1))
    kind = draw(st.sampled_from(["random", "random", "duplicate", "opposite", "zero", "correlated"]))
    if kind == "duplicate" and K > 1:
        J[-1] = J[0]
    elif kind == "opposite" and K > 1:
        J[-1] = -J[0]
    elif kind == "zero":
        J[rng.integers(K)] = 0.0
    elif kind == "correlated":
        J = rng.standard_normal((1, P)) + 0.2 * J
    return J * 10.0 ** draw(st.floats(-6, 6))


@settings(PROFILE, max_examples=80)
@given(J=matrices())
def test_min_norm_kkt(J):
    G = J @ J.T
    w = min_norm_on_simplex(G)
    assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-12
    Gw = G @ w
    top = float(np.diag(G).max())
    # g_i'd >= ||d||^2 for all i, with equality on the support
    assert np.all(Gw - w @ Gw >= -1e-10 * top)
    assert np.all(np.abs(Gw - w @ Gw)[w > 1e-9] <= 1e-9 * top)


@settings(PROFILE, max_examples=80)
@given(J=matrices(), seed=st.integers(0, 1000))
def test_box_qp_matches_scipy_nnls(J, seed):
    """Dual-cone projection weights: min ||J'(u+s)||, s >= 0."""
    K = J.shape[0]
    u = np.random.default_rng(seed).uniform(-1, 1, K)
    G = J @ J.T
    s = qp_active_set(G, G @ u, simplex=False)
    assert np.all(s >= 0)
    s_ref, _ = nnls(J.T, -J.T @ u, maxiter=100 * K)
    d, d_ref = J.T @ (u + s), J.T @ (u + s_ref)
    scale = max(float(np.linalg.norm(J.T @ u)), 1e-300)
    assert np.linalg.norm(d - d_ref) <= 1e-7 * scale + 1e-9 * float(np.abs(J).max()) * np.abs(u).max() * K


@settings(PROFILE, max_examples=60)
@given(J=matrices(min_k=2, max_k=7), c=st.sampled_from([0.05, 0.5, 1.0]), shift=st.floats(-1, 1))
def test_linear_plus_norm_zero_duality_gap(J, c, shift):
    """min_w a'w + rho||J'w|| with a = J g for some g: certified by the primal d = g + rho u."""
    K = J.shape[0]
    g = J.mean(0) + shift * J[0]
    G = J @ J.T
    a = J @ g
    rho = c * float(np.linalg.norm(g))
    w, n = linear_plus_norm_on_simplex(G, a, rho)
    assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-12
    f = lambda v: a @ v + rho * math.sqrt(max(v @ G @ v, 0.0))  # noqa: E731
    s = float(np.linalg.norm(J, axis=1).max())
    tol = 1e-9 * (s * s + rho * s) + 1e-300
    # independent oracle: multi-start SLSQP never beats us
    for x0 in [np.full(K, 1.0 / K)] + list(np.eye(K)):
        res = minimize(f, x0, method="SLSQP", bounds=[(0, 1)] * K,
                       constraints={"type": "eq", "fun": lambda x: x.sum() - 1}, options={"ftol": 1e-15})
        x = np.clip(res.x, 0, None)
        assert f(w) <= f(x / x.sum()) + tol
    # when the optimum is not at g_w = 0 the primal direction closes the gap
    if n > 1e-6 * s:
        d = g + rho * (w @ J) / n
        assert f(w) - float((J @ d).min()) <= tol


@settings(PROFILE, max_examples=30)
@given(J=matrices(max_k=8))
def test_nash_bargaining_solution(J):
    K, P = J.shape
    G = J @ J.T
    fro = np.linalg.norm(G)
    assume(fro != 0)
    Gn = G / fro
    alpha = nash_bargaining(Gn, reg=1e-12)
    assert np.all(alpha > 0) and np.all(np.isfinite(alpha))
    resid = (Gn + 1e-12 * np.eye(K)) @ alpha - 1 / alpha
    assert np.all(np.abs(resid) <= 1e-8 / alpha + 1e-10 * alpha.max())
    # warm start from another point reaches the same (unique) solution
    alpha2 = nash_bargaining(Gn, reg=1e-12, alpha0=alpha * 3.0 + 0.1)
    if float(np.linalg.eigvalsh(Gn)[0]) > 1e-6:
        np.testing.assert_allclose(alpha2, alpha, rtol=1e-6)
    else:  # a near-null direction: α there is ~1/√reg and the residual bound (∝ α.max()) does not pin it
        resid2 = (Gn + 1e-12 * np.eye(K)) @ alpha2 - 1 / alpha2  # (two opposed rows: 0.2% apart, both optimal)
        assert np.all(alpha2 > 0) and np.all(np.abs(resid2) <= 1e-8 / alpha2 + 1e-10 * alpha2.max())
