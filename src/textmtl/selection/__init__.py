"""Automatic auxiliary-task selection: GradTS (Ma et al., EMNLP 2021).

- `head_importance`: per-task attention-head importance from |∂ℓ/∂W_K| and |∂ℓ/∂W_V|;
- `cache`: the importance matrices on disk, one entry per (task, encoder, seed, settings);
- `correlation`: Kendall's τ between tasks (and between the main task and auxiliary instances);
- `strategies`: GradTS-thres, GradTS-trial, GradTS-fg as pure functions;
- `baselines`: main only, all candidates, random of the same size, exhaustive search;
- `options`, `trials`, `pipeline`: `textmtl select` (checks and keys; the trainings; from the data to
  `selection.json`).
"""

from .baselines import exhaustive, random_same_size, subsets_up_to
from .cache import ImportanceCache
from .correlation import instance_taus, kendall_tau, tau_matrix
from .head_importance import (
    HeadImportance,
    attention_projections,
    head_importance,
    head_scores,
    normalise,
)
from .strategies import select_fg, select_thres, select_trial

__all__ = [
    "HeadImportance",
    "ImportanceCache",
    "attention_projections",
    "exhaustive",
    "head_importance",
    "head_scores",
    "instance_taus",
    "kendall_tau",
    "normalise",
    "random_same_size",
    "select_fg",
    "select_thres",
    "select_trial",
    "subsets_up_to",
    "tau_matrix",
]
