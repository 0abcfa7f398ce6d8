"""min over the simplex of a'w + rho ||g_w||: the dual of CAGrad (Liu et al. 2021, Eq. 4) and GetMTL
(Chai et al. 2023, Eq. 14), by a monotone 1-D root search over s = ||g_w|| (see `_solvers`)."""

from __future__ import annotations

import math

import numpy as np

from ._qp import _eqp_direction, qp_active_set, sym


def linear_plus_norm_on_simplex(Q: np.ndarray, a: np.ndarray, rho: float) -> tuple[np.ndarray, float]:
    """Exact minimiser of ``f(w) = a'w + rho*sqrt(w'Qw)`` over the probability simplex.

    Returns ``(w, norm)`` with ``norm = sqrt(w'Qw)``. ``Q`` is PSD (a Gram matrix).

    Method: by the variational identity ``rho*n = min_{s>0} rho/2 (n^2/s + s)``, the
    minimum over w for fixed s is the simplex QP ``min (s/rho) a'w + 1/2 w'Qw`` (solved
    exactly by :func:`qp_active_set`, warm-started), and the outer problem in s is
    convex with derivative proportional to ``1 - phi(s)^2/s^2`` where
    ``phi(s) = ||g_{w(s)}||``. Hence ``r(s) = phi(s)/s - 1`` is non-increasing and the
    optimum is its root (or s -> 0 when the optimum has ``g_w = 0``). On a fixed active
    set ``w(s)`` is affine in s, so ``phi(s)^2 = s^2`` is a quadratic whose root is exact;
    we iterate "solve QP at s -> exact root for that active set" (a Newton-type step that
    terminates once the active set is stable), safeguarded by a bracket and geometric
    bisection.
    """
    Q = sym(Q)
    a = np.asarray(a, dtype=np.float64)
    K = a.shape[0]
    if K == 1:
        return np.ones(1), float(math.sqrt(max(Q[0, 0], 0.0)))
    # Normalise: objective(w) / sigma with sigma = max diag(Q).
    sigma = float(np.max(np.diag(Q)))
    if not math.isfinite(sigma) or sigma <= 0.0:
        # All points are (numerically) zero: the problem is linear.
        w = np.zeros(K)
        w[int(np.argmin(a))] = 1.0
        return w, 0.0
    Qn = Q / sigma
    an = a / sigma
    rho_n = float(rho) / math.sqrt(sigma)
    if not rho_n > 0.0 or not math.isfinite(rho_n):
        # Pure LP (rho == 0): best vertex; ties broken by the smaller norm.
        best = np.flatnonzero(an <= an.min() + 1e-12 * (1.0 + abs(float(an.min()))))
        i = int(best[np.argmin(np.diag(Qn)[best])])
        w = np.zeros(K)
        w[i] = 1.0
        return w, math.sqrt(max(float(Q[i, i]), 0.0))

    w = None  # type: ignore[assignment]  # set by the first iteration
    lo, hi = 0.0, math.inf  # r(lo) > 0 >= r(hi)
    s = 1.0  # = max_i ||g_i|| after normalisation, so r(1) <= 0
    s_min = 1e-8  # below this, ||g_w|| is at the round-off level of a float64 Gram
    w_best = None
    for _ in range(100):
        w = qp_active_set(Qn, (s / rho_n) * an, simplex=True, x0=w)
        Qw = Qn @ w
        phi = math.sqrt(max(float(w @ Qw), 0.0))
        r = phi / s - 1.0
        w_best = w
        if abs(r) <= 1e-12:
            break
        if r > 0.0:
            lo = s
        else:
            hi = s
        if hi <= s_min:
            break  # optimum at g_w = 0 (to 1e-8 relative accuracy)
        if lo > 0.0 and hi - lo <= 1e-13 * hi:
            break
        # Exact root of phi(s) = s on the current active set (w affine in s there).
        cand = math.nan
        F = np.flatnonzero(w > 0.0)
        if F.size > 1:
            q, unbounded = _eqp_direction(Qn[F][:, F], an[F] / rho_n, True)
            if not unbounded:
                wF = w[F]
                p = wF - s * q
                QF = Qn[F][:, F]
                Qq = QF @ q
                A2 = float(q @ Qq) - 1.0
                B2 = 2.0 * float(p @ Qq)
                C2 = float(p @ QF @ p)
                cand = _positive_root_near(A2, B2, C2, s)
        elif F.size == 1:
            # Vertex: phi is constant on this active set.
            cand = phi
        if not (lo < cand < hi) or not math.isfinite(cand):
            cand = math.sqrt(lo * hi) if (lo > 0.0 and math.isfinite(hi)) else (0.1 * hi if lo == 0.0 else 10.0 * lo)
        s = cand
    assert w_best is not None  # the first iteration always records one
    w = w_best
    norm = math.sqrt(max(float(w @ Q @ w), 0.0))
    return w, norm


def _positive_root_near(A: float, B: float, C: float, s: float) -> float:
    """Positive root of A x^2 + B x + C = 0 closest to s (nan if none)."""
    if abs(A) <= 1e-300:
        return -C / B if B != 0.0 else math.nan
    disc = B * B - 4.0 * A * C
    if disc < 0.0:
        return math.nan
    sq = math.sqrt(disc)
    # Numerically stable pair of roots.
    qv = -0.5 * (B + math.copysign(sq, B))
    roots = [qv / A] + ([C / qv] if qv != 0.0 else [])
    roots = [x for x in roots if x > 0.0 and math.isfinite(x)]
    if not roots:
        return math.nan
    return min(roots, key=lambda x: abs(math.log(x / s)))
