"""Would Adam's eps treat a mean-scale gradient method differently from `ls`? (docs/RESULTS.md §3)

Gradient methods whose weights sum to 1 (mean, MGDA, GetMTL, ...) write (1/K) sum_t g_t on the
shared parameters where `ls` writes sum_t g_t. Adam is invariant to that scale except through eps:
the update is m / (sqrt(v) + eps). This trains a config with `ls` for N steps, reads Adam's moments
on every shared tensor, and compares the update Adam makes with the update it would make had the
whole gradient history been K times smaller: (m/K) / (sqrt(v)/K + eps). A ratio near 1 everywhere
means eps cannot explain a gap between `ls` and the mean-scale methods.

    .venv/bin/python benchmarks/adam_eps_probe.py configs/fdu-mtl-textcnn.yaml --steps 435
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from textmtl import api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--steps", type=int, default=435)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="benchmarks/results/adam_eps_probe.json")
    args = parser.parse_args()

    optimizers: list[torch.optim.Adam] = []
    original_step = torch.optim.Adam.step

    def recording_step(self, *a, **kw):
        if not optimizers:
            optimizers.append(self)
        return original_step(self, *a, **kw)

    torch.optim.Adam.step = recording_step  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        result = api.train(args.config, overrides=[f"training.steps={args.steps}", "method.name=ls"],
                           data_dir=args.data_dir, name="probe", runs_dir=tmp, progress=False)
    torch.optim.Adam.step = original_step  # type: ignore[method-assign]
    opt = optimizers[0]
    n_tasks = len(result.metrics["tasks"])
    beta1, beta2 = opt.param_groups[0]["betas"]
    eps = opt.param_groups[0]["eps"]
    rows = []
    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state.get(p)
            if not state or p.numel() < 1000:  # the shared encoder's tensors (heads and biases are smaller)
                continue
            t = float(state["step"])
            m = state["exp_avg"] / (1 - beta1 ** t)
            s = (state["exp_avg_sq"] / (1 - beta2 ** t)).sqrt()
            live = s > 0  # entries that have had a gradient (embedding rows of unseen words have not)
            sum_scale = (m / (s + eps))[live].abs()
            mean_scale = ((m / n_tasks) / (s / n_tasks + eps))[live].abs()
            ratio = mean_scale / sum_scale.clamp_min(1e-30)
            rows.append({"shape": list(p.shape), "live_share": float(live.float().mean()),
                         "sqrt_v_median": float(s[live].median()),
                         "ratio_median": float(ratio.median()),
                         "share_ratio_below_0.5": float((ratio < 0.5).float().mean()),
                         "share_ratio_below_0.9": float((ratio < 0.9).float().mean()),
                         "mean_abs_update_sum_scale": float(sum_scale.mean()),
                         "mean_abs_update_mean_scale": float(mean_scale.mean())})
    report = {"config": args.config, "steps": args.steps, "tasks": n_tasks, "adam_eps": eps, "tensors": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for r in rows:
        print(f"{str(r['shape']):>16}  live {r['live_share']:.3f}  median sqrt(v) {r['sqrt_v_median']:.1e}  "
              f"update ratio median {r['ratio_median']:.4f}, < 0.9 on {100 * r['share_ratio_below_0.9']:.2f}% "
              f"of entries  |update| {r['mean_abs_update_sum_scale']:.4f} vs {r['mean_abs_update_mean_scale']:.4f}")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
