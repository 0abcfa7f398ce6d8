"""Nash-MTL's bargaining condition G alpha = 1/alpha by damped Newton (see `_solvers`)."""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dpotrs as _dpotrs

from ._qp import sym


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
