"""Small dense solvers on K x K Gram matrices (K = number of tasks).

Everything here works on float64 NumPy arrays on the CPU: the problems are tiny (K is
rarely above 32), so a host round trip of K*K numbers per step is far cheaper than a
Python loop of device ops. The aggregators convert back to the Jacobian's dtype/device.

Solvers
-------
* :func:`qp_active_set` -- exact primal active-set method for a convex QP
  ``min 1/2 x'Qx + c'x`` s.t. ``x >= 0`` and optionally ``sum(x) == 1`` (simplex).
  Handles singular / rank-deficient ``Q`` (zero-curvature directions are followed to the
  boundary) and terminates with KKT conditions satisfied to ~1e-12 relative accuracy.
  Used by MGDA (min-norm point), the dual-cone projections and the inner problems of
  :func:`linear_plus_norm_on_simplex`.
* :func:`dual_cone_projection_weights` -- projection of J'u onto {d : Jd >= 0} from G
  (UPGrad; CAGrad's degenerate case), on the cosine matrix with round-off control.
* :func:`linear_plus_norm_on_simplex` -- ``min_{w in simplex} a'w + rho*sqrt(w'Qw)``,
  the dual problem shared by CAGrad (Liu et al. 2021, Eq. 4) and GetMTL (Chai et al.
  2023, Eq. 14). Solved exactly by a monotone 1-D root search over s = ||g_w||, each
  evaluation being one exact simplex QP (warm-started).
* :func:`nash_bargaining` -- the Nash-MTL condition ``G alpha = 1/alpha``, alpha > 0,
  as the unique minimiser of the strictly convex ``1/2 a'Ga - sum(log a)`` by damped
  Newton with backtracking (no cvxpy).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dpotrs as _dpotrs

__all__ = [
    "dual_cone_projection_weights",
    "linear_plus_norm_on_simplex",
    "min_norm_on_simplex",
    "nash_bargaining",
    "qp_active_set",
    "sym",
]


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


def min_norm_on_simplex(G: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
    """MGDA: argmin over the simplex of w'Gw (min-norm point of the convex hull)."""
    G = sym(G)
    return qp_active_set(G, np.zeros(G.shape[0]), simplex=True, x0=x0)


# ---------------------------------------------------------------------------------------
# min_{w in simplex} a'w + rho * ||g_w||,  ||g_w||^2 = w'Qw   (CAGrad / GetMTL duals)
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Nash-MTL: G alpha = 1 / alpha
# ---------------------------------------------------------------------------------------


def nash_bargaining(
    G: np.ndarray,
    *,
    reg: float = 1e-12,
    alpha0: np.ndarray | None = None,
    max_iter: int = 200,
    tol: float = 1e-24,
    residual_tol: float = 1e-13,
) -> np.ndarray:
    """Positive solution of ``(G + reg*I) alpha = 1/alpha`` (Navon et al. 2022, Eq. 2/Alg. 1).

    ``alpha`` is the unique minimiser of the strictly convex, self-concordant
    ``f(alpha) = 1/2 alpha'A alpha - sum(log alpha)`` with ``A = G + reg*I`` (gradient
    ``A alpha - 1/alpha``). Damped Newton with a fraction-to-the-boundary rule and
    Armijo backtracking; stops when max_i |alpha_i (A alpha)_i - 1| <= ``residual_tol``,
    when the squared Newton decrement is below ``tol``, or when no decrease of f is
    measurable any more (round-off level, e.g. for huge alphas of degenerate problems).
    ``G`` should be normalised (e.g. by its Frobenius norm) by the caller; ``reg`` keeps
    the problem bounded when G is singular along a non-negative direction (zero rows,
    exactly opposite gradients), in which case the corresponding alphas are large but
    finite.
    """
    A = sym(G) + reg * np.eye(G.shape[0])
    K = A.shape[0]
    diag = np.clip(np.diag(A), reg, None)
    if alpha0 is not None and alpha0.shape == (K,) and np.all(alpha0 > 0) and np.all(np.isfinite(alpha0)):
        alpha = np.asarray(alpha0, dtype=np.float64).copy()
    else:
        alpha = 1.0 / np.sqrt(diag)
    # Optimal rescaling along the ray: at the solution alpha'A alpha = K.
    q = float(alpha @ A @ alpha)
    if q > 0.0 and math.isfinite(q):
        alpha *= math.sqrt(K / q)

    def f(al: np.ndarray) -> float:
        return 0.5 * float(al @ A @ al) - float(np.sum(np.log(al)))

    fa = f(alpha)
    for _ in range(max_iter):
        inv = 1.0 / alpha
        Aa = A @ alpha
        # Scale-free residual of the optimality condition alpha_i (A alpha)_i = 1.
        if float(np.max(np.abs(alpha * Aa - 1.0))) <= residual_tol:
            break
        grad = Aa - inv
        H = A + np.diag(inv * inv)
        L, info = _dpotrf(H, lower=1, clean=0)
        if info == 0:
            delta = -_dpotrs(L, grad, lower=1)[0]
        else:
            delta = -np.linalg.lstsq(H, grad, rcond=None)[0]
        decrement = -float(grad @ delta)
        if not decrement > tol:
            break
        step = 1.0
        neg = delta < 0.0
        if np.any(neg):
            step = min(1.0, 0.99 * float(np.min(-alpha[neg] / delta[neg])))
        accepted = False
        while step >= 1e-10:
            cand = alpha + step * delta
            fc = f(cand)
            if fc <= fa - 0.25 * step * decrement:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break  # no decrease measurable any more: f is at its round-off level
        gain = fa - fc
        alpha, fa = cand, fc
        if gain <= 1e-14 * max(1.0, abs(fa)):
            break  # idem
    return alpha
