"""From measured geometry and cost to a recommended method, with the reasons.

The rules read what decided between methods in our own grids (docs/RESULTS.md §3, §11, §16; 3 seeds
each, paired intervals against `ls`):
- near-orthogonal or aligned gradients, losses and sizes of one scale (FDU-MTL-16, amazon-14: no
  method distinguishable from `ls`; topic-4, out of sample: one of 12, §18) -> `ls`, the cheapest;
- a pair of tasks whose gradients are opposed (mean cosine over the probes below
  `CONFLICT_PAIR_COSINE`; the conflict suite's `flipped` variant) -> `CONFLICT_METHOD`, the best
  conflict-aware method there, although no method was distinguishable from `ls` on it;
- task losses (or gradient norms) `SCALE_RATIO` apart (the `scales` variant: STS-B's squared
  error beside cross-entropies) -> `SCALE_METHOD`, the one method better than `ls` there;
- training sets `SIZE_RATIO` apart (the `sizes` variant) -> `SIZE_METHOD`, better than `ls` there
  (though not after Holm's correction for the 11 methods compared: the weakest of the rules).
`EVIDENCE` holds the measured difference to `ls` behind each rule; the reasons quote it.
No rule proposes `stl`: a few hundred steps of `ls` cannot show what single-task training reaches, so
every recommendation carries `STL_NOTE` (on topic-4 `stl` beat all 13 multi-task methods, §18).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field

import numpy as np

from .geometry import Probe

CONFLICT_COSINE = -0.1  # a pair "clearly conflicts" at a probe below this cosine (reported as a share of pairs)
CONFLICT_PAIR_COSINE = -0.3  # the tasks conflict when some pair's cosine, averaged over the probes, is below this
SCALE_RATIO = 10.0  # largest / smallest task loss (at the start) or gradient norm (median over probes)
REPRESENTATION_GAP = 0.1  # mean |cosine difference| below which the representation back-end sees the same geometry
COST_LIMIT = 1.2  # above this per-step cost relative to `ls`, a cheaper alternative is named
SIZE_RATIO = 10.0  # largest / smallest training set
CONFLICT_METHOD = "getmtl"
CONFLICT_FAMILY = ("getmtl", "mgda", "cagrad", "nash_mtl", "pcgrad")
SCALE_METHOD = "cagrad"
SCALE_FAMILY = ("cagrad", "getmtl", "nash_mtl", "uw", "famo")
SIZE_METHOD = "uw"
SIZE_FAMILY = ("uw", "gradnorm", "getmtl")
#: the measured difference of each rule's method to ls (task average, points, 3 seeds, 95% t interval)
EVIDENCE = {
    "conflict": "conflict suite, flipped: getmtl +0.18 [-0.84, +1.19] vs ls, not distinguishable (mgda -0.16, "
    "cagrad -0.27, nash_mtl -0.66, pcgrad -1.01): the heads absorb most of the conflict within ~200 steps",
    "scale": "conflict suite, scales: cagrad +1.16 [+0.89, +1.43] vs ls, the one method better than ls "
    "(uw -0.52, famo -0.53, gradnorm -1.62, not distinguishable)",
    "size": "conflict suite, sizes: uw +2.00 [+0.52, +3.48] vs ls, p 0.028, not distinguishable after Holm's "
    "correction for 11 methods (cagrad -2.02, famo -6.02, mgda -6.25: worse)",
    "orthogonal": "FDU-MTL-16 and amazon-14: no method distinguishable from ls; topic-4 (out of sample): "
    "nash_mtl +0.58 [+0.17, +0.99] vs ls, the one of 12 (possibly a false positive), mgda -0.94 worse",
}
STL_NOTE = (
    "this compares multi-task methods only: single-task training (stl) beat all of them on topic-4 "
    "(stl - ls +1.01 [+0.76, +1.26], docs/RESULTS.md §18); train stl beside the advice to see whether "
    "sharing helps at all"
)


@dataclass
class Geometry:
    """The numbers the rules read, summarised over the probes."""

    mean_cosine: float
    min_cosine: float
    negative_share: float  # pairs with cosine < 0
    conflict_share: float  # pairs with cosine < CONFLICT_COSINE
    worst_pair_cosine: float  # the lowest over pairs of the pair's mean cosine over the probes
    worst_pair: list[str]
    loss_ratio: float  # at the first probe
    grad_norm_ratio: float  # median over probes
    representation_gap: float | None  # mean |cos_representation - cos_parameters| over pairs and probes
    representation_conflict_share: float | None

    def to_dict(self) -> dict:
        return {k: v if v is None or isinstance(v, list) else round(float(v), 6) for k, v in self.__dict__.items()}


def summarise(probes: Sequence[Probe]) -> Geometry:
    if not probes:
        raise ValueError("no probes")
    pairs = [p.pairs() for p in probes]
    if not any(len(x) for x in pairs):
        raise ValueError("the geometry needs at least two tasks")
    everything = np.concatenate(pairs)
    first = probes[0]
    losses = np.array([max(v, 1e-12) for v in first.losses.values()])
    ratios = []
    for p in probes:
        n = np.array(list(p.norms.values()))
        ratios.append(float(n.max() / n.min()) if n.min() > 0 else float("inf"))
    by_pair = np.mean(np.stack(pairs), axis=0)
    worst = int(np.argmin(by_pair))
    i, j = np.triu_indices(len(first.tasks), k=1)
    gap = rep_conflict = None
    if all(p.representation_cosine is not None for p in probes):
        gap = float(np.mean(np.concatenate([np.abs(p.pairs(p.representation_cosine) - p.pairs()) for p in probes])))
        rep_conflict = float(np.mean([np.mean(p.pairs(p.representation_cosine) < CONFLICT_COSINE) for p in probes]))
    return Geometry(
        mean_cosine=float(everything.mean()),
        min_cosine=float(everything.min()),
        negative_share=float(np.mean([np.mean(x < 0) for x in pairs])),
        conflict_share=float(np.mean([np.mean(x < CONFLICT_COSINE) for x in pairs])),
        worst_pair_cosine=float(by_pair[worst]),
        worst_pair=[first.tasks[int(i[worst])], first.tasks[int(j[worst])]],
        loss_ratio=float(losses.max() / losses.min()),
        grad_norm_ratio=float(np.median(ratios)),
        representation_gap=gap,
        representation_conflict_share=rep_conflict,
    )


@dataclass
class Recommendation:
    method: str
    backend: str | None
    reasons: list[str]
    cost: float | None  # per-step cost relative to ls
    alternative: str | None = None
    alternative_reason: str | None = None
    rule: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _cost_key(method: str, backend: str | None) -> str:
    return method if backend in (None, "parameters") else f"{method}@{backend}"


def recommend(
    geometry: Geometry,
    costs: Mapping[str, float],
    sizes: Mapping[str, int],
    gradient_methods: Set[str] = frozenset(CONFLICT_FAMILY),
) -> Recommendation:
    """The method (and back-end, for `gradient_methods`: those with a representation back-end) the
    rules choose, and why; `costs` maps `method` (parameters back-end) and `method@representation`
    to per-step cost / `ls`."""
    g = geometry
    reasons = []
    if g.worst_pair_cosine < CONFLICT_PAIR_COSINE:
        rule, method = "conflict", CONFLICT_METHOD
        a, b = g.worst_pair
        reasons.append(
            f"the gradients of {a} and {b} are opposed (cosine {g.worst_pair_cosine:.2f} on average over the "
            f"probes, threshold {CONFLICT_PAIR_COSINE}; {100 * g.conflict_share:.0f}% of all pairs below "
            f"{CONFLICT_COSINE})"
        )
    elif g.loss_ratio >= SCALE_RATIO or g.grad_norm_ratio >= SCALE_RATIO:
        rule, method = "scale", SCALE_METHOD
        reasons.append(
            f"task losses differ {g.loss_ratio:.1f}x and gradient norms {g.grad_norm_ratio:.1f}x "
            f"(threshold {SCALE_RATIO:.0f}x): the sum of losses is dominated by the largest"
        )
    elif sizes and max(sizes.values()) / max(1, min(sizes.values())) >= SIZE_RATIO:
        rule, method = "size", SIZE_METHOD
        ratio = max(sizes.values()) / max(1, min(sizes.values()))
        reasons.append(
            f"training sets differ {ratio:.0f}x (threshold {SIZE_RATIO:.0f}x): small tasks are revisited many "
            "times per pass over the large ones and their losses fall far below the others'"
        )
    else:
        rule, method = "orthogonal", "ls"
        reasons.append(
            f"gradients are near-orthogonal or aligned (mean cosine {g.mean_cosine:+.2f}, the most opposed "
            f"pair {g.worst_pair_cosine:+.2f} on average) and losses within {g.loss_ratio:.1f}x: on our benchmarks "
            "with this geometry ls was the best method or within 0.6 points of it"
        )
    reasons.append(f"evidence: {EVIDENCE[rule]}")
    backend = None
    if method in gradient_methods:
        backend = "parameters"
        rep_cost, par_cost = costs.get(_cost_key(method, "representation")), costs.get(method)
        if g.representation_gap is None:
            reasons.append("backend parameters: this architecture has no shared representation")
        elif g.representation_gap < REPRESENTATION_GAP and rep_cost is not None and par_cost and rep_cost < par_cost:
            backend = "representation"
            reasons.append(
                f"backend representation: its cosines differ from the parameters' by {g.representation_gap:.2f} on "
                f"average (< {REPRESENTATION_GAP}) and it costs {rep_cost:.2f}x ls against {par_cost:.2f}x"
            )
        else:
            reasons.append(
                f"backend parameters: the representation back-end sees other cosines (mean difference "
                f"{g.representation_gap:.2f}; conflicting share {100 * (g.representation_conflict_share or 0):.0f}% "
                f"there against {100 * g.conflict_share:.0f}%)"
            )
    sizes_list = [n for n in sizes.values() if n > 0]
    notes = []
    if rule != "size" and sizes_list and max(sizes_list) / min(sizes_list) >= SIZE_RATIO:
        notes.append(
            f"task sizes differ {max(sizes_list) / min(sizes_list):.0f}x: small tasks are revisited many times per "
            "epoch of the large ones; watch their dev curves (overfitting) whichever method you use"
        )
    notes.append(STL_NOTE)
    cost = costs.get(_cost_key(method, backend))
    rec = Recommendation(method, backend, reasons, cost, rule=rule, notes=notes)
    if cost is not None and cost > COST_LIMIT:
        family = {"conflict": CONFLICT_FAMILY, "scale": SCALE_FAMILY, "size": SIZE_FAMILY}.get(rule, ())
        cheaper = sorted((costs[m], m) for m in family if m != method and m in costs and costs[m] <= COST_LIMIT)
        if cheaper:
            rec.alternative = cheaper[0][1]
            rec.alternative_reason = f"{cheaper[0][1]} costs {cheaper[0][0]:.2f}x ls (the advice: {cost:.2f}x)"
        else:
            rec.alternative = "ls"
            none = f"no method of the same kind costs <= {COST_LIMIT}x ls here"
            rec.alternative_reason = f"{none}; ls is the cheapest (the advice: {cost:.2f}x)"
    return rec
