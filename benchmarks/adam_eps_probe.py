"""Would Adam's eps treat a mean-scale gradient method differently from `ls`? (docs/RESULTS.md §3)

Gradient methods whose weights sum to 1 (mean, MGDA, GetMTL, ...) write (1/K) sum_t g_t on the
shared parameters where `ls` writes sum_t g_t. Adam is invariant to that scale except through eps:
the update is m / (sqrt(v) + eps). This trains a config with `ls` for N steps, reads Adam's moments
on every shared tensor, and compares the update Adam makes with the update it would make had the
whole gradient history been K times smaller: (m/K) / (sqrt(v)/K + eps). A ratio near 1 everywhere
means eps barely changes any single update.

The second part trains `ls` and the `mean` aggregator from the same seed (dropout 0, small caps) for
--compare-steps steps, with Adam's eps at 1e-8 and at 1e-30, and counts the shared parameters that
end up different: with eps ~ 0 the two paths are the same computation, so any difference at 1e-8
is eps's doing, amplified by Adam's early, nearly sign-like steps.

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
    parser.add_argument("--compare-steps", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/adam_eps_probe.json")
    args = parser.parse_args()
    comparison = {f"{eps:g}": compare_paths(args.config, args.compare_steps, eps, args.data_dir)
                  for eps in (1e-8, 1e-30)}

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
    report = {"config": args.config, "steps": args.steps, "tasks": n_tasks, "adam_eps": eps, "tensors": rows,
              "ls_vs_mean": {"steps": args.compare_steps, "differing_entries_by_eps": comparison}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for r in rows:
        print(f"{str(r['shape']):>16}  live {r['live_share']:.3f}  median sqrt(v) {r['sqrt_v_median']:.1e}  "
              f"update ratio median {r['ratio_median']:.4f}, < 0.9 on {100 * r['share_ratio_below_0.9']:.2f}% "
              f"of entries  |update| {r['mean_abs_update_sum_scale']:.4f} vs {r['mean_abs_update_mean_scale']:.4f}")
    for eps_name, counts in comparison.items():
        print(f"ls vs mean after {args.compare_steps} steps, Adam eps {eps_name}: entries differing by more than "
              + ", ".join(f"{t}: {n}" for t, n in counts["all_shared"].items()) + f" (of {counts['size']})")
    print(f"written {args.out}")


def compare_paths(config: str, steps: int, eps: float, data_dir: str | None) -> dict:
    """Shared parameters of `ls` and `mean` after `steps` steps from one seed, with Adam's eps set to `eps`."""
    from safetensors.torch import load_file

    original_init = torch.optim.Adam.__init__

    def init_with_eps(self, params, **kw):
        original_init(self, params, **{**kw, "eps": eps})

    torch.optim.Adam.__init__ = init_with_eps  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            weights = {}
            for method in ("ls", "mean"):
                overrides = [f"training.steps={steps}", f"method.name={method}", "model.encoder.dropout=0",
                             "data.max_train_examples=64", "data.max_eval_examples=20"]
                api.train(config, overrides=overrides, data_dir=data_dir, name=method, runs_dir=tmp, progress=False)
                weights[method] = load_file(str(Path(tmp) / method / "model.safetensors"))
    finally:
        torch.optim.Adam.__init__ = original_init  # type: ignore[method-assign]
    shared = [k for k in weights["ls"] if k.startswith("encoder.")]
    diff = torch.cat([(weights["ls"][k] - weights["mean"][k]).abs().flatten() for k in shared])
    return {"size": diff.numel(), "all_shared": {f"{t:g}": int((diff > t).sum()) for t in (1e-6, 1e-4, 1e-3)}}


if __name__ == "__main__":
    main()
