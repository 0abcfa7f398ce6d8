"""Knowledge transfer on FDU-MTL, leave one domain out (ASP-MTL Table 3; docs/RESULTS.md, issue 20).

For each architecture (shared_private, adversarial) and each of the 16 target domains: train the
shared layers on the other 15 domains (configs/fdu-mtl-textcnn.yaml with that architecture, `ls`),
then train the target domain alone from that run's frozen shared encoder, SC (`hard`: the shared
encoder alone) and BC (`shared_private`: beside a fresh private encoder). Each 15-domain model
serves both. Finished runs are skipped and an interrupted run continues from its last checkpoint, so
the same command continues an interrupted grid. With `--bundle FILE` the grid also survives the loss
of its runs directory (a new machine, a session that ends): after each source and its two target runs
finish, the finished triples are packed into FILE (no weights), and a later `run` first restores the
triples of FILE that its runs directory lacks, so only unfinished triples are trained again. Commit
FILE as the grid goes (`save` packs it by hand, e.g. while a `run` without `--bundle` is going).

    TEXTMTL_DATA_DIR=../shared/data .venv/bin/python benchmarks/transfer_grid.py run [--seeds 1] \
        [--architectures shared_private,adversarial] [--targets books,dvd] [--runs runs/transfer]
    ... run --bundle docs/evidence/fdu-mtl-transfer/runs.jsonl.gz   # restore from / save to a bundle
    .venv/bin/python benchmarks/transfer_grid.py save --bundle FILE [--runs runs/transfer]
    .venv/bin/python benchmarks/transfer_grid.py table [--runs runs/transfer]   # Markdown beside Table 3
        [--in-domain docs/evidence/fdu-mtl/runs.jsonl.gz]
    ... run --quick   # 2 targets, 3 domains in the source, a few steps: the smoke test in the test suite

Runs are named `<architecture>-minus-<target>-s<seed>` (source) and `<architecture>-<sc|bc>-<target>-s<seed>`.
The vocabulary is the source run's (its 15 domains' training text): target words it lacks are unknown
to the frozen encoder, a stricter setting than a vocabulary over all 16 domains.

The table puts beside each architecture its error when the target is one of the 16 domains trained
together (`in 16`: the same config with all domains, RESULTS §8, mean over the seeds of the bundle's
`fdu-mtl-textcnn-<architecture>-s*` runs), and beside the paper's transfer columns its in-domain
SP-MTL and ASP-MTL (Table 2): what leaving the target out of training costs, ours and theirs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "fdu-mtl-textcnn.yaml"
DOMAINS = (
    "books", "electronics", "dvd", "kitchen_housewares", "apparel", "camera_photo", "health_personal_care",
    "music", "toys_games", "video", "baby", "magazines", "software", "sports_outdoors", "imdb", "MR",
)  # fmt: skip
# ASP-MTL Table 3 (papers.md §6.5): error rates (%) per target; SP-MTL and ASP-MTL, SC and BC
PUBLISHED = {
    "books": (17.8, 16.3, 16.8, 16.3), "electronics": (15.3, 14.8, 17.8, 16.8), "dvd": (14.8, 15.5, 14.5, 14.3),
    "kitchen_housewares": (15.0, 16.3, 16.3, 15.0), "apparel": (14.8, 12.0, 12.5, 13.8),
    "camera_photo": (13.3, 12.5, 11.8, 10.3), "health_personal_care": (14.5, 14.3, 12.3, 13.5),
    "music": (20.0, 17.8, 17.5, 18.3), "toys_games": (13.8, 12.5, 13.0, 11.8), "video": (14.3, 15.0, 14.8, 14.8),
    "baby": (16.5, 16.8, 13.5, 12.0), "magazines": (10.5, 10.3, 8.8, 9.5), "software": (13.0, 12.8, 14.5, 11.8),
    "sports_outdoors": (16.3, 16.3, 13.3, 13.5), "imdb": (12.8, 12.8, 12.5, 13.3), "MR": (26.0, 26.5, 24.8, 23.5),
}  # fmt: skip
COLUMNS = {("shared_private", "sc"): 0, ("shared_private", "bc"): 1, ("adversarial", "sc"): 2, ("adversarial", "bc"): 3}
IN_DOMAIN = ROOT / "docs" / "evidence" / "fdu-mtl" / "runs.jsonl.gz"  # RESULTS §8: all 16 domains trained together
PUBLISHED_IN_DOMAIN = {"shared_private": "SP-MTL", "adversarial": "ASP-MTL"}  # ASP-MTL Table 2 columns


def _train(config: dict, name: str, runs: Path, data_dir: str | None) -> Path:
    import textmtl
    from textmtl.training.checkpoint import has_checkpoint

    final, partial = runs / name, runs / f"{name}.partial"
    if (final / "metrics.json").exists():
        print(f"{name}: done before", flush=True)
        return final
    if has_checkpoint(partial / "checkpoint"):  # interrupted: continue (ends as an uninterrupted run would)
        print(f"{name}: resuming from its last checkpoint", flush=True)
        result = textmtl.train(config, resume=partial, data_dir=data_dir, progress=False)
    else:  # never started, or killed before its first checkpoint
        shutil.rmtree(partial, ignore_errors=True)
        result = textmtl.train(config, name=name, runs_dir=runs, data_dir=data_dir, progress=False)
    print(
        f"{name}: test {100 * result.metrics['average']['test']:.2f} in {result.metrics['wall_seconds']:.0f} s",
        flush=True,
    )
    return result.path


def _triples(names: set[str]) -> list[str]:
    """The run names of every source whose SC and BC target runs are also in `names`, with those two."""
    out = []
    for name in sorted(names):
        arch, sep, rest = name.partition("-minus-")
        if sep and {f"{arch}-sc-{rest}", f"{arch}-bc-{rest}"} <= names:
            out += [name, f"{arch}-sc-{rest}", f"{arch}-bc-{rest}"]
    return out


def _finished(runs: Path) -> set[str]:
    return {m.parent.name for m in runs.glob("*-s*/metrics.json")}


def save(runs: Path, bundle_path: Path) -> int:
    """Add every finished triple (source, SC, BC) of `runs` to `bundle_path` (its other runs are
    kept); returns how many triples it holds. Grid processes sharing the bundle take turns."""
    from textmtl.files import file_lock
    from textmtl.reporting import bundle

    bundle_path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(bundle_path.with_name(bundle_path.name + ".lock")):
        names = _triples(_finished(runs))
        if names:
            bundle.update([runs / n for n in names], bundle_path)
        return len(_triples(set(bundle.names(bundle_path)))) // 3 if bundle_path.is_file() else 0


def restore(runs: Path, bundle_path: Path) -> list[str]:
    """Recreate (without weights) the finished triples of `bundle_path` that `runs` lacks; the names."""
    from textmtl.reporting import bundle

    if not bundle_path.is_file():
        return []
    have = _finished(runs)
    names = [n for n in _triples(set(bundle.names(bundle_path))) if n not in have]
    for name in names:
        shutil.rmtree(runs / f"{name}.partial", ignore_errors=True)  # an unfinished try of a finished run
        bundle.unpack(bundle_path, runs, pattern=name)
    return names


def run(args: argparse.Namespace) -> None:
    base = yaml.safe_load(BASE.read_text())
    base.pop("name", None)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    bundle_path = Path(args.bundle) if args.bundle else None
    if bundle_path is not None and (restored := restore(runs, bundle_path)):
        print(f"restored {len(restored) // 3} finished source(s) with their targets from {bundle_path}", flush=True)
    targets = args.targets.split(",") if args.targets else list(DOMAINS)
    for seed in [int(s) for s in args.seeds.split(",")]:
        for arch in args.architectures.split(","):
            for target in targets:
                source_cfg = json.loads(json.dumps(base))
                source_cfg["seed"], source_cfg["model"]["architecture"] = seed, arch
                others = [d for d in DOMAINS if d != target]
                source_cfg["data"]["tasks"] = others[:3] if args.quick else others
                if args.quick:
                    source_cfg["data"].update(max_train_examples=64, max_eval_examples=32)
                    source_cfg["training"] = {**source_cfg["training"], "steps": 4, "eval_every": 2}
                names = [f"{arch}-{part}-{target}-s{seed}" for part in ("minus", "sc", "bc")]
                if set(names) <= _finished(runs):  # restored from the bundle: no weights, nothing to do
                    print(f"{names[0]}: done before, with its targets", flush=True)
                    continue
                source = _train(source_cfg, names[0], runs, args.data_dir)
                for channel, target_arch in (("sc", "hard"), ("bc", "shared_private")):
                    cfg = json.loads(json.dumps(source_cfg))
                    cfg["data"]["tasks"] = [target]
                    cfg["model"]["architecture"] = target_arch
                    cfg["init"] = {"from_run": str(source), "freeze": True}
                    _train(cfg, f"{arch}-{channel}-{target}-s{seed}", runs, args.data_dir)
                if bundle_path is not None:
                    print(f"{bundle_path}: {save(runs, bundle_path)} finished source(s)", flush=True)


def _in_domain_errors(bundle_path: Path) -> dict[tuple[str, str], float]:
    """{(architecture, domain): test error (%), mean over seeds} of the 16-domain runs in a bundle."""
    from textmtl.reporting import bundle

    per_seed: dict[tuple[str, str], list[float]] = {}
    for entry in bundle.read(bundle_path):
        for arch in PUBLISHED_IN_DOMAIN:
            if entry["name"].rsplit("-s", 1)[0] == f"fdu-mtl-textcnn-{arch}":
                for domain, scores in entry["files"]["metrics.json"]["tasks"].items():
                    per_seed.setdefault((arch, domain), []).append(100 * (1 - scores["test"]["accuracy"]))
    return {key: statistics.fmean(values) for key, values in per_seed.items()}


def table(args: argparse.Namespace) -> str:
    from textmtl.reporting.published import load_published

    runs = Path(args.runs)
    errors: dict[tuple[str, str, str], list[float]] = {}
    for metrics in sorted(runs.glob("*-s*/metrics.json")):
        name = metrics.parent.name
        for arch, channel in COLUMNS:
            prefix = f"{arch}-{channel}-"
            if name.startswith(prefix):
                target = name[len(prefix) :].rsplit("-s", 1)[0]
                test = json.loads(metrics.read_text())["average"]["test"]
                errors.setdefault((arch, channel, target), []).append(100 * (1 - test))
    in_domain = _in_domain_errors(Path(args.in_domain)) if args.in_domain and Path(args.in_domain).exists() else {}
    table2 = load_published("asp_mtl_table2")
    ours = [(arch, channel) for arch in PUBLISHED_IN_DOMAIN for channel in ("sc", "bc", "in16")]
    theirs = [(col, channel) for col in PUBLISHED_IN_DOMAIN.values() for channel in ("SC", "BC", "in 16")]
    head = (
        "| target | "
        + " | ".join(f"{a} {'in 16' if c == 'in16' else c.upper()} (ours)" for a, c in ours)
        + " | "
        + " | ".join(f"{p}{'-' + c if c != 'in 16' else ' in 16'} (ASP-MTL {'T2' if c == 'in 16' else 'T3'})"
                     for p, c in theirs)
        + " |"
    )  # fmt: skip
    lines = [head, "|" + "---|" * (1 + len(ours) + len(theirs))]
    sums: dict[tuple[str, str], list[float]] = {k: [] for k in ours}
    per_target: dict[tuple[str, str], dict[str, float]] = {k: {} for k in ours}
    published_by_target: dict[tuple[str, str], dict[str, float]] = {k: {} for k in ours}
    published_sums: list[list[float]] = [[] for _ in theirs]
    for target in DOMAINS:
        cells = []
        for arch, channel in ours:
            values = [in_domain[(arch, target)]] if channel == "in16" and (arch, target) in in_domain else []
            values = values or errors.get((arch, channel, target), [])
            if values:
                sums[(arch, channel)].append(statistics.fmean(values))
                per_target[(arch, channel)][target] = statistics.fmean(values)
                n = f" (n={len(values)})" if len(values) > 1 else ""
                cells.append(f"{statistics.fmean(values):.1f}{n}")
            else:
                cells.append("-")
        published = []
        for i, (arch, channel) in enumerate(ours):  # the paper's columns, in our columns' order
            if channel == "in16":
                value = 100 * (1 - table2.accuracy(PUBLISHED_IN_DOMAIN[arch])[target])
            else:
                value = PUBLISHED[target][COLUMNS[(arch, channel)]]
            published_sums[i].append(value)
            published_by_target[(arch, channel)][target] = value
            published.append(f"{value:.1f}")
        lines.append(f"| {target} | " + " | ".join(cells) + " | " + " | ".join(published) + " |")
    avg = [f"{statistics.fmean(v):.1f} ({len(v)} targets)" if v else "-" for v in sums.values()]
    lines.append(
        "| **average** | "
        + " | ".join(avg)
        + " | "
        + " | ".join(f"{statistics.fmean(v):.1f}" for v in published_sums)
        + " |"
    )
    return "\n".join(lines + _paired_lines(per_target, published_by_target, ours))


def _paired_lines(
    ours: dict[tuple[str, str], dict[str, float]], published: dict[tuple[str, str], dict[str, float]], columns: list
) -> list[str]:
    """Differences paired over the targets both columns have (error points; 95% t interval, paired
    t-test): BC against SC, each against the target trained among all 16, and ours against the paper's."""
    from textmtl.reporting.significance import paired_difference

    def diff(a: dict[str, float], b: dict[str, float]) -> str:
        common = [t for t in DOMAINS if t in a and t in b]
        return paired_difference([a[t] for t in common], [b[t] for t in common]).cell(scale=1.0, decimals=1)

    lines = ["", "Paired over targets (error points, lower is better; 95% t interval, paired t-test):", ""]
    for arch in PUBLISHED_IN_DOMAIN:
        sc, bc, in16 = (ours.get((arch, c), {}) for c in ("sc", "bc", "in16"))
        if not (sc or bc):
            continue
        lines.append(
            f"- {arch}: BC − SC {diff(bc, sc)}; SC − in 16 {diff(sc, in16)}; BC − in 16 {diff(bc, in16)}; "
            f"ours − paper: SC {diff(sc, published[(arch, 'sc')])}, BC {diff(bc, published[(arch, 'bc')])}"
        )
    architectures = list(PUBLISHED_IN_DOMAIN)
    if all(ours.get((a, c)) for a in architectures for c in ("sc", "bc")):
        cells = []
        for channel in ("sc", "bc"):
            adversarial, shared_private = (published[(a, channel)] for a in architectures[::-1])
            theirs = statistics.fmean(adversarial[t] - shared_private[t] for t in DOMAINS)
            mine = diff(ours[(architectures[1], channel)], ours[(architectures[0], channel)])
            cells.append(f"{channel.upper()} {mine} (the paper's: {theirs:+.1f})")
        lines.append(f"- {architectures[1]} − {architectures[0]}: " + "; ".join(cells))
    return lines


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "save", "table"))
    parser.add_argument("--runs", default=str(ROOT / "runs" / "transfer"))
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--architectures", default="shared_private,adversarial")
    parser.add_argument("--targets", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bundle", default=None, help="restore finished triples from / save them to this bundle")
    parser.add_argument("--in-domain", default=str(IN_DOMAIN), help="bundle of the 16-domain runs (RESULTS §8)")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args)
    elif args.command == "save":
        if not args.bundle:
            parser.error("save needs --bundle FILE")
        print(f"{args.bundle}: {save(Path(args.runs), Path(args.bundle))} finished source(s)")
    else:
        print(table(args))


if __name__ == "__main__":
    main(sys.argv[1:])
