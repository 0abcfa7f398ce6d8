"""Exact convex QP on the non-negative orthant or the simplex (active set), and what is built on it:
MGDA's min-norm point and the dual-cone projections of UPGrad / CAGrad (see `_solvers`)."""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dpotrs as _dpotrs


def sym(matrix: np.ndarray) -> np.ndarray:
    """Symmetric part of a square matrix, as float64."""
    m = np.asarray(matrix, dtype=np.float64)
    return 0.5 * (m + m.T)


# ---------------------------------------------------------------------------------------
# Convex QP with non-negativity (and optionally a simplex) constraint
# ---------------------------------------------------------------------------------------


def _eqp_direction(
    H: np.ndarray,
    g: np.ndarray,
    simplex: bool,
    curvature_tol: float = 1e-11,
    slope_tol: float | None = None,
) -> tuple[np.ndarray, bool]:
    """Step z minimising 1/2 z'Hz + g'z on the current face (and 1'z = 0 if simplex).

    Returns (z, unbounded). ``unbounded`` means a descent direction of zero curvature was
    found; z is then that direction (its length is meaningless, the caller steps to the
    boundary). Curvatures below ``curvature_tol`` (relative) count as zero.
    """
    m = g.shape[0]
    if simplex and m == 1:
        return np.zeros(1), False
    # Fast path: H well conditioned -> Cholesky (+ Schur complement for 1'z=0). Otherwise the
    # eigen-decomposition, which confines the round-off of ill-conditioned solves to the
    # nearly flat directions instead of spreading it over the well-determined ones.
    L, info = _dpotrf(H, lower=1, clean=0)
    if info == 0 and float(L.diagonal().min()) ** 2 > 1e-8 * max(1.0, float(H.diagonal().max())):
        if simplex:
            rhs = np.empty((m, 2))
            rhs[:, 0] = g
            rhs[:, 1] = 1.0
            X, _ = _dpotrs(L, rhs, lower=1)
            mu = X[:, 0].sum() / X[:, 1].sum()
            return -(X[:, 0] - mu * X[:, 1]), False
        X, _ = _dpotrs(L, g, lower=1)
        return -X, False
    # Robust path: eigen-decomposition of the reduced Hessian.
    if simplex:
        # Null-space basis of 1' : Z = [I_{m-1}; -1'] -> z = Z y.
        Hr = H[:-1, :-1] - H[:-1, -1:] - H[-1:, :-1] + H[-1, -1]
        gr = g[:-1] - g[-1]
    else:
        Hr, gr = H, g
    lam, V = np.linalg.eigh(Hr)
    lam_tol = curvature_tol * max(1.0, float(lam[-1]))
    coef = V.T @ gr
    pos = lam > lam_tol
    null_coef = coef[~pos]
    # A slope along a flat direction only counts above the data's noise level (following a
    # round-off slope would run off to huge, cancelling weights).
    if slope_tol is None:
        slope_tol = max(10.0 * curvature_tol, 1e-11)
    if null_coef.size and float(np.max(np.abs(null_coef))) > slope_tol:
        y = -(V[:, ~pos] @ null_coef)
        unbounded = True
    else:
        y = -(V[:, pos] @ (coef[pos] / lam[pos]))
        unbounded = False
    if simplex:
        z = np.empty(m)
        z[:-1] = y
        z[-1] = -y.sum()
    else:
        z = y
    return z, unbounded


def qp_active_set(
    Q: np.ndarray,
    c: np.ndarray,
    *,
    simplex: bool,
    x0: np.ndarray | None = None,
    max_iter: int | None = None,
    curvature_tol: float = 1e-11,
    slope_tol: float | None = None,
) -> np.ndarray:
    """Exact solution of ``min 1/2 x'Qx + c'x`` s.t. ``x >= 0`` [and ``sum(x) == 1``].

    ``Q`` must be symmetric positive semi-definite (round-off negativity is tolerated).
    The problem data are rescaled to unit magnitude first, so the tolerances are
    relative. ``x0`` (feasible) warm-starts the active set; by default the simplex
    problem starts from the barycentre (all tasks free) and the box problem from 0.
    ``curvature_tol`` is the relative eigenvalue below which Q counts as singular, and
    ``slope_tol`` the gradient along such a flat direction below which it is not followed
    (default ``max(10 curvature_tol, 1e-11)``).
    """
    Q = np.asarray(Q, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    K = c.shape[0]
    if K == 0:
        return np.zeros(0)
    scale = max(float(np.abs(Q).max()), float(np.abs(c).max()))
    if not math.isfinite(scale) or scale <= 0.0:
        return np.full(K, 1.0 / K) if simplex else np.zeros(K)
    Q = Q / scale
    c = c / scale
    if max_iter is None:
        max_iter = 50 + 10 * K

    if x0 is not None and x0.shape == (K,) and bool(np.all(np.isfinite(x0))):
        x = np.clip(np.asarray(x0, dtype=np.float64), 0.0, None)
        if simplex:
            total = x.sum()
            x = x / total if total > 0 else np.full(K, 1.0 / K)
    elif simplex:
        x = np.full(K, 1.0 / K)
    else:
        x = np.zeros(K)
    free = x > 0.0
    tabu = np.zeros(K, dtype=bool)
    last_added = -1
    stationary = False

    for _ in range(max_iter):
        g = Q @ x + c
        if stationary:
            F = None
        else:
            F = free.nonzero()[0]
        if F is None or F.size == 0:
            z, unbounded = None, False
        else:
            z, unbounded = _eqp_direction(Q.take(F, 0).take(F, 1), g[F], simplex, curvature_tol, slope_tol)
            if not unbounded and float(np.abs(z).max()) <= 1e-13 * (1.0 + float(x.max())):
                z = None
        if z is None:
            # Stationary on the current face: check the multipliers of the bounds.
            mu = float(g[free].mean()) if (simplex and free.any()) else 0.0
            reduced = g - mu
            reduced[free | tabu] = np.inf
            j = int(np.argmin(reduced))
            # multiplier tolerance: data are O(1); g carries round-off of order eps*|Q||x|
            tol_g = 1e-11 * (1.0 + float(np.abs(x).max()))
            if not reduced[j] < -tol_g:
                break
            free[j] = True
            last_added = j
            stationary = False
            continue
        # Move along z, stopping at the first bound that becomes active.
        step = math.inf if unbounded else 1.0
        block = -1
        neg = z < 0.0
        if neg.any():
            xF = x[F]
            ratios = xF[neg] / -z[neg]
            k = int(np.argmin(ratios))
            if ratios[k] < step:
                step = max(float(ratios[k]), 0.0)
                block = int(F[neg][k])  # type: ignore[index]  # F is set whenever z is
        if not math.isfinite(step):
            break  # unbounded along a ray: cannot happen for the problems used here
        x[F] += step * z
        stationary = block < 0 and not unbounded  # full step onto the face optimum
        if block >= 0:
            x[block] = 0.0
            if step == 0.0 and block == last_added:
                tabu[block] = True  # round-off cycling guard
        if step > 0.0:
            tabu[:] = False
        np.maximum(x, 0.0, out=x)
        if simplex:
            x /= x.sum()
        free = x > 0.0
    return x


def dual_cone_projection_weights(G: np.ndarray, U: np.ndarray, *, noise_rel: float) -> np.ndarray:
    """Weights V (one row per row u of U) such that J'v is the projection of J'u onto the
    dual cone {d : Jd >= 0} of the rows of J, given only G = J J'.

    By Proposition 1 of Quinton & Rey (2024), ``v = argmin_{v >= u} v'Gv``. The problems are
    solved on the cosine matrix C = D^-1 G D^-1 (D = diag ||g_i||; the cone is invariant
    to positive row scalings) with the substitution v_hat = D v, so that very different
    gradient norms do not hurt the conditioning. Eigenvalues of C below ``noise_rel`` times
    the largest are zeroed (round-off of the input dtype), so that exactly dependent
    gradients give exactly flat directions, and slopes below sqrt(noise_rel) along flat
    directions are not followed: the solver does not drift to huge, cancelling weights.
    Zero gradients are left out (their constraint is void; their weight stays u_i).
    Consecutive problems warm-start each other.
    """
    G = sym(G)
    U = np.atleast_2d(np.asarray(U, dtype=np.float64))
    V_out = U.copy()
    norms = np.sqrt(np.clip(np.diag(G), 0.0, None))
    active = norms > 0.0
    if not active.any():
        return V_out
    n = norms[active]
    C = G[active][:, active] / np.outer(n, n)
    lam, V = np.linalg.eigh(C)
    top = max(float(lam[-1]), 0.0)
    lam = np.where(lam > noise_rel * top, lam, 0.0)
    C = (V * lam) @ V.T
    C = 0.5 * (C + C.T)
    x_prev: np.ndarray | None = None
    for r in range(U.shape[0]):
        u_hat = U[r, active] * n
        t = float(np.abs(u_hat).max())
        if t == 0.0:
            continue
        u_hat = u_hat / t
        start = None
        if x_prev is not None:
            start = np.where(u_hat != 0.0, 0.0, x_prev)
        # Along a direction whose curvature is at the noise level, a slope s would move the
        # weights by s / noise; a slope below sqrt(noise) is not resolvable (the constraint
        # violation from ignoring it is below sqrt(noise) too), so it is not followed.
        x_hat = qp_active_set(
            C,
            C @ u_hat,
            simplex=False,
            x0=start,
            curvature_tol=0.5 * noise_rel,
            slope_tol=math.sqrt(noise_rel),
        )
        x_prev = x_hat
        V_out[r, active] = t * (u_hat + x_hat) / n
    return V_out


WIDE_NORMS = 1e4  # max/min gradient norm from which min_norm_on_simplex also solves the scaled problem


def min_norm_on_simplex(G: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
    """MGDA: argmin over the simplex of w'Gw (min-norm point of the convex hull).

    The simplex QP on G has tolerances relative to the largest squared norm, so when the norms
    span many orders of magnitude (1e-6, 1, 1e6) the small gradients fall under them and the
    returned point is far from the minimum. There the problem is also solved scale-free: with
    n_i = ||g_i||, C = D^-1 G D^-1 and a = 1/n, the min-norm point's KKT conditions are those of
    ``min 1/2 v'Cv - a'v, v >= 0`` (well scaled: C has a unit diagonal), and w = (a o v) / (a'v).
    The candidate with the smaller ||d||^2 = (n o w)' C (n o w) is returned.
    """
    G = sym(G)
    K = G.shape[0]
    w = qp_active_set(G, np.zeros(K), simplex=True, x0=x0)
    n = np.sqrt(np.clip(np.diag(G), 0.0, None))
    if K < 2 or not np.all(n > 0.0) or not float(n.max()) >= WIDE_NORMS * float(n.min()):
        return w
    C = G / np.outer(n, n)
    a = 1.0 / n
    v = qp_active_set(C, -a, simplex=False)
    total = float(a @ v)
    if not (total > 0.0 and math.isfinite(total) and np.all(np.isfinite(v))):
        return w
    scaled = (a * v) / total

    def norm2(x: np.ndarray) -> float:
        u = n * x
        return float(u @ C @ u)

    return scaled if norm2(scaled) < norm2(w) else w
