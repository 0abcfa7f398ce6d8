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

The solvers live in `_qp`, `_norm_dual` and `_nash`; this module is their one import point.
"""

from __future__ import annotations

from ._nash import nash_bargaining
from ._norm_dual import linear_plus_norm_on_simplex
from ._qp import dual_cone_projection_weights, min_norm_on_simplex, qp_active_set, sym

__all__ = [
    "dual_cone_projection_weights",
    "linear_plus_norm_on_simplex",
    "min_norm_on_simplex",
    "nash_bargaining",
    "qp_active_set",
    "sym",
]
