"""`textmtl advise`: a short `ls` run of the user's config that measures what decides between
methods, then a recommendation with the measured reasons (`rules`), and the data checks (`overlap`).

1. Data: task sizes; test texts found in other tasks' (or their own) training data.
2. Geometry: `steps` steps of `ls` (or fewer when `seconds` run out), probing every `probe_every`
   steps on fixed batches (`geometry.probe`): gradient cosines and norms on the shared parameters and
   on the shared representation, task losses.
3. Cost: every candidate method (and the representation back-end of gradient methods) trains
   `cost_steps` steps from the same weights, in interleaved rounds; the median step time over the
   rounds, relative to `ls` in the same process.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import as_config
from ..data.loading import encode_tasks, load_tasks
from ..errors import ConfigError
from ..methods import make_method
from ..models.build import build_model, build_text_encoder
from ..training.devices import check_device_available, resolve_device
from ..training.lifecycle import seed_everything, start_derived_heads
from ..training.trainer import Trainer
from .geometry import Probe, probe, probe_batches
from .overlap import find_overlaps
from .rules import recommend, summarise

DEFAULT_CANDIDATES = ("ls", "uw", "famo", "mgda", "pcgrad", "cagrad", "nash_mtl", "getmtl")


@dataclass
class AdviceOptions:
    steps: int = 200
    seconds: float | None = None  # a wall-clock budget for the geometry phase (the steps end earlier)
    probe_every: int = 25
    probe_size: int = 64  # examples per task in the fixed probe batches
    cost_steps: int = 3  # steps per candidate and round
    cost_rounds: int = 5
    candidates: Sequence[str] = field(default_factory=lambda: list(DEFAULT_CANDIDATES))


def advise(
    config: Any,
    *,
    overrides: list[str] | None = None,
    data_dir: str | Path | None = None,
    options: AdviceOptions | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure and recommend; returns what `advice.json` holds."""
    opts = options or AdviceOptions()
    say = on_progress or (lambda text: None)
    if opts.steps < 1 or opts.probe_every < 1 or opts.probe_size < 1 or opts.cost_steps < 1 or opts.cost_rounds < 1:
        raise ConfigError("advise: --steps, --probe-every, --probe-size and the cost steps and rounds must be >= 1")
    unknown = [m for m in opts.candidates if m not in _known_methods()]
    if unknown:
        raise ConfigError(f"advise: unknown method '{unknown[0]}' in --methods (textmtl list methods)")
    candidates = ["ls", *[m for m in opts.candidates if m != "ls"]]
    cfg = as_config(config, overrides)
    device = resolve_device(cfg.training.device)
    check_device_available(device)
    cfg.training.device = device
    if cfg.training.num_threads:
        torch.set_num_threads(cfg.training.num_threads)

    tasks = load_tasks(cfg, data_dir)
    if len(tasks) < 2:
        raise ConfigError("advise: the config names one task; advice is about training several together")
    sizes = {t.name: len(t.train) for t in tasks}
    overlaps = find_overlaps(tasks)
    text_encoder = build_text_encoder(cfg.model, cfg.text, (e for t in tasks for e in t.train))
    encoded = encode_tasks(tasks, text_encoder)
    seed_everything(cfg.seed)
    model = build_model(cfg.model, [t.spec for t in tasks], text_encoder, seed=cfg.seed)
    start_derived_heads(cfg, model)
    if not model.shared_parameters():
        raise ConfigError(
            f"advise: architecture '{model.name}' shares no parameters between tasks (single-task models); "
            "set model.architecture to a multi-task one"
        )
    model.to(device)
    batches = probe_batches(encoded, opts.probe_size, text_encoder.pad_id, cfg.seed)

    # 2. geometry along an ls run
    say(f"geometry: up to {opts.steps} steps of ls, probed every {opts.probe_every}")
    trainer = Trainer(model, make_method("ls", {}), encoded, cfg.training, seed=cfg.seed, pad_id=text_encoder.pad_id)
    probes: list[Probe] = [probe(model, batches, 0, device)]
    start = time.perf_counter()
    steps_done = 0
    for step in range(1, opts.steps + 1):
        trainer.step(step)
        steps_done = step
        out_of_time = opts.seconds is not None and time.perf_counter() - start >= opts.seconds
        if step % opts.probe_every == 0 or step == opts.steps or out_of_time:
            probes.append(probe(model, batches, step, device))
            say(f"step {step}: mean cosine {probes[-1].pairs().mean():+.3f}")
        if out_of_time:
            break
    geometry_seconds = time.perf_counter() - start

    # 3. cost per step of every candidate, from the same weights
    say(f"cost: {len(candidates)} methods x {opts.cost_rounds} rounds x {opts.cost_steps} steps")
    costs_seconds = _measure_costs(model, candidates, encoded, cfg, text_encoder.pad_id, opts)
    base = costs_seconds["ls"]
    costs = {k: v / base for k, v in costs_seconds.items()}

    geometry = summarise(probes)
    rec = recommend(geometry, costs, sizes, {m for m in candidates if _has_representation_backend(m)})
    return {
        "config": cfg.model_dump(mode="json"),
        "budget": {
            "steps": steps_done,
            "geometry_seconds": round(geometry_seconds, 3),
            "probe_every": opts.probe_every,
            "probe_size": opts.probe_size,
            "cost_steps": opts.cost_steps,
            "cost_rounds": opts.cost_rounds,
            "device": str(device),
            "threads": torch.get_num_threads(),
        },
        "data": {
            "sizes": sizes,
            "size_ratio": round(max(sizes.values()) / max(1, min(sizes.values())), 3),
            "overlaps": [o.to_dict() for o in overlaps],
        },
        "geometry": geometry.to_dict(),
        "probes": [p.to_dict() for p in probes],
        "costs": {k: round(v, 4) for k, v in costs.items()},
        "step_seconds": {k: round(v, 6) for k, v in costs_seconds.items()},
        "recommendation": rec.to_dict(),
    }


def _known_methods() -> set[str]:
    from ..methods import method_names

    return set(method_names())


def _has_representation_backend(name: str) -> bool:
    return "representation" in getattr(make_method(name), "backends", ())


def _measure_costs(model, candidates, encoded, cfg, pad_id: int, opts: AdviceOptions) -> dict[str, float]:
    """Median seconds per step of each candidate (gradient methods also on the representation
    back-end, where the architecture has a shared representation), interleaved rounds."""
    variants: list[tuple[str, str, dict]] = []
    for m in candidates:
        variants.append((m, m, {}))
        if model.representation_is_shared and _has_representation_backend(m):
            variants.append((f"{m}@representation", m, {"backend": "representation"}))
    trainers = {}
    for key, name, params in variants:
        trainers[key] = Trainer(
            copy.deepcopy(model), make_method(name, params), encoded, cfg.training, seed=cfg.seed, pad_id=pad_id
        )
        trainers[key].step(1)  # warm-up: first-call allocations, solver set-up
    times: dict[str, list[float]] = {key: [] for key in trainers}
    step = 1
    for r in range(opts.cost_rounds):
        order = list(trainers) if r % 2 == 0 else list(reversed(trainers))
        for key in order:
            start = time.perf_counter()
            for i in range(opts.cost_steps):
                trainers[key].step(step + 1 + i)
            times[key].append((time.perf_counter() - start) / opts.cost_steps)
        step += opts.cost_steps
    return {key: statistics.median(v) for key, v in times.items()}
