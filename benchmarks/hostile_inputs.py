"""Issue 22's hostile and careless inputs, each run as a user would (`python -m textmtl.cli ...` in a
fresh folder), with what came out: exit code, whether stderr held a traceback or more than one line,
whether a `.partial` folder or a file outside the runs directory was left.

    python benchmarks/hostile_inputs.py after=src before=/tmp/textmtl-before/src --out benchmarks/results/hostile_inputs.json

Each `LABEL=SRC` runs every case with that source tree first on PYTHONPATH. A case passes when it
ends in one line and exit code 2 (or exit 0 where the input is legitimate and the result right),
leaves nothing half-written and writes nothing outside its folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

ROWS = "".join(f"{w} film {i},{'pos' if w == 'good' else 'neg'}\n" for i, w in enumerate(("good", "bad") * 6))


def toy_config(folder: Path, **over) -> dict:
    for split in ("train", "test"):
        (folder / f"{split}.csv").write_text("text,label\n" + ROWS)
    cfg: dict = {
        "name": "toy",
        "data": {"benchmark": None, "custom_tasks": [{"name": "t", "files": {"train": "train.csv", "test": "test.csv"}}]},
        "model": {"encoder": {"type": "textcnn", "glove": False, "embedding_dim": 4, "num_filters": 2}},
        "training": {"steps": 2, "batch_size": 4, "device": "cpu"},
        "output": {"runs_dir": "runs"},
    }
    for key, value in over.items():
        node = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return cfg


def write_config(folder: Path, text: str | None = None, **over) -> str:
    path = folder / "c.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(toy_config(folder, **over)))
    return str(path)


def finished_run(folder: Path, env: dict) -> Path:
    """A finished toy run in `folder/runs/toy`, trained by the tree under test."""
    cfg = write_config(folder)
    subprocess.run([sys.executable, "-m", "textmtl.cli", "train", cfg, "--quiet"], cwd=folder, env=env,
                   capture_output=True, timeout=300, check=True)
    return folder / "runs" / "toy"


@dataclass
class Case:
    name: str
    setup: Callable[[Path, dict], list[str]]  # -> argv after `textmtl`
    ok_exit: tuple[int, ...] = (2,)
    check: Callable[[Path, str, str], str | None] | None = None  # -> a problem, or None
    stdin: bytes | None = None
    interrupt_after: float | None = None
    timeout: float = 120
    keeps_partial: bool = False


def cfg_case(label: str, **over) -> Case:
    return Case(label, lambda f, env: ["train", write_config(f, **over)])


def text_case(name: str, text: str, ok_exit=(2,)) -> Case:
    return Case(name, lambda f, env: ["train", write_config(f, text=text)], ok_exit=ok_exit)


def data_case(name: str, train: bytes | str, fmt: str = "csv", test: bytes | str | None = None, **over) -> Case:
    def setup(folder: Path, env: dict) -> list[str]:
        cfg = toy_config(folder, **over)
        raw = train.encode() if isinstance(train, str) else train
        (folder / f"train.{fmt}").write_bytes(raw)
        (folder / f"test.{fmt}").write_bytes(raw if test is None else (test.encode() if isinstance(test, str) else test))
        task = cfg["data"]["custom_tasks"][0]
        task["files"] = {"train": f"train.{fmt}", "test": f"test.{fmt}"}
        if fmt == "jsonl":
            task["columns"] = {"text": "text", "label": "label"}
        (folder / "c.yaml").write_text(yaml.safe_dump(cfg))
        return ["train", str(folder / "c.yaml")]

    return Case(name, setup)


def run_case(name: str, damage: Callable[[Path], None], command: str = "evaluate") -> Case:
    def setup(folder: Path, env: dict) -> list[str]:
        run = finished_run(folder, env)
        damage(run)
        if command == "predict":
            (folder / "in.txt").write_text("good film\n")
            return ["predict", str(run), "--task", "t", "--input", str(folder / "in.txt")]
        return ["evaluate", str(run)]

    return Case(name, setup)


def no_nan_metrics(folder: Path, out: str, err: str) -> str | None:
    for m in folder.rglob("metrics.json"):
        if "NaN" in m.read_text():
            return "NaN in metrics.json"
    return None


def predictions_match(expected_lines: int) -> Callable[[Path, str, str], str | None]:
    def check(folder: Path, out: str, err: str) -> str | None:
        got = len(out.splitlines())
        return None if got == expected_lines else f"{got} predictions for {expected_lines} lines"

    return check


def cases() -> list[Case]:
    out: list[Case] = []
    for label, bad in [("../../escaped_run", "../../escaped_run"), ("absolute", "/tmp/hostile_abs_run"),
                       ("empty", ""), ("dot", "."), ("dotdot", ".."), ("newline", "a\nb"), ("slashes", "a/b/c"),
                       ("300 chars", "x" * 300), ("ends .partial", "run.partial")]:
        out.append(cfg_case(f"run name {label} (config)", name=bad))
        if "\n" not in bad:
            out.append(Case(f"run name {label} (--name)", lambda f, env, b=bad: ["train", write_config(f), "--name", b]))
    out.append(text_case("run name with NUL", yaml.safe_dump({"name": "a\0b"})))
    out.append(cfg_case("task named reviews.v2", **{"data.custom_tasks": [
        {"name": "reviews.v2", "files": {"train": "train.csv", "test": "test.csv"}}]}))
    out[-1].ok_exit = (0, 2)
    out.append(cfg_case("task named ''", **{"data.custom_tasks": [{"name": "", "files": {"train": "train.csv",
                                                                                         "test": "test.csv"}}]}))

    def loop(folder: Path, env: dict) -> list[str]:
        cfg = write_config(folder)
        (folder / "train.csv").unlink()
        os.symlink(folder / "loop_a", folder / "loop_b")
        os.symlink(folder / "loop_b", folder / "loop_a")
        os.symlink(folder / "loop_a", folder / "train.csv")
        return ["train", cfg]

    out.append(Case("symlink loop as data file", loop))
    out.append(cfg_case("runs dir under a file", **{"output.runs_dir": "/etc/passwd/runs"}))
    for device in ("tpu", "cuda", "cuda:99", "meta"):
        out.append(cfg_case(f"device {device}", **{"training.device": device}))
    out.append(cfg_case("seed -5", seed=-5))
    out.append(cfg_case("seed 2**70", seed=2**70))
    out.append(cfg_case("epochs 1e308", **{"training.epochs": 1e308, "training.steps": None}))
    for k in ([], [0], [-3]):
        out.append(cfg_case(f"kernel_sizes {k}", **{"model.encoder.kernel_sizes": k}))
    sgd = cfg_case("SGD lr 1e300", **{"training.optimizer": "sgd", "training.lr": 1e300, "training.steps": 12})
    sgd.check = no_nan_metrics
    out.append(sgd)
    out.append(run_case("evaluate: config.yaml invalid YAML", lambda r: (r / "config.yaml").write_text("a: [b\n")))
    out.append(run_case("evaluate: model.safetensors empty", lambda r: (r / "model.safetensors").write_bytes(b"")))
    out.append(run_case("evaluate: model.safetensors garbage", lambda r: (r / "model.safetensors").write_bytes(
        os.urandom(300))))
    out.append(run_case("evaluate: model.safetensors truncated", lambda r: (r / "model.safetensors").write_bytes(
        (r / "model.safetensors").read_bytes()[:200])))
    out.append(run_case("predict: model.json a list", lambda r: (r / "model.json").write_text("[1, 2]"), "predict"))
    out.append(run_case("predict: model.json without tasks", lambda r: (r / "model.json").write_text(
        json.dumps({k: v for k, v in json.loads((r / "model.json").read_text()).items() if k != "tasks"})), "predict"))

    def bogus_kind(r: Path) -> None:
        d = json.loads((r / "model.json").read_text())
        d["tasks"][0]["kind"] = "telepathy"
        (r / "model.json").write_text(json.dumps(d))

    out.append(run_case("predict: model.json bogus kind", bogus_kind, "predict"))

    def swapped(r: Path) -> None:
        d = json.loads((r / "model.json").read_text())
        d["tasks"][0]["labels"] = list(reversed(d["tasks"][0]["labels"]))
        (r / "model.json").write_text(json.dumps(d))

    out.append(run_case("predict: model.json labels swapped", swapped, "predict"))

    def output_dir(folder: Path, env: dict) -> list[str]:
        run = finished_run(folder, env)
        (folder / "in.txt").write_text("good film\n")
        (folder / "outdir").mkdir()
        return ["predict", str(run), "--task", "t", "--input", str(folder / "in.txt"), "--output", str(folder / "outdir")]

    out.append(Case("predict --output a directory", output_dir))

    def garbage_checkpoint(folder: Path, env: dict) -> list[str]:
        cfg = write_config(folder, **{"training.steps": 40, "training.checkpoint_every": 1})
        proc = subprocess.Popen([sys.executable, "-m", "textmtl.cli", "train", cfg, "--quiet"], cwd=folder, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        partial = folder / "runs" / "toy.partial" / "checkpoint"
        deadline = time.time() + 60
        while time.time() < deadline and not list(partial.glob("*.safetensors")):
            time.sleep(0.05)
        time.sleep(0.2)
        proc.kill()
        proc.wait()
        for f in partial.glob("*.safetensors"):
            f.write_bytes(os.urandom(500))
        return ["train", "--resume", str(folder / "runs" / "toy.partial")]

    out.append(Case("--resume with a garbage checkpoint", garbage_checkpoint))
    out[-1].keeps_partial = True  # the interrupted run stays for the user: not something this command wrote

    def four_at_once(folder: Path, env: dict) -> list[str]:
        cfg = write_config(folder)
        procs = [subprocess.Popen([sys.executable, "-m", "textmtl.cli", "train", cfg, "--quiet"], cwd=folder, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(4)]
        codes = [p.wait(timeout=300) for p in procs]
        (folder / "codes.json").write_text(json.dumps(codes))
        return ["train", cfg, "--quiet"]

    race = Case("five runs of one name at once", four_at_once, ok_exit=(0,))
    race.check = lambda f, o, e: None if sorted(p.name for p in (f / "runs").iterdir()) == [
        "toy", "toy-2", "toy-3", "toy-4", "toy-5"] and json.loads((f / "codes.json").read_text()) == [0] * 4 else \
        f"runs: {sorted(p.name for p in (f / 'runs').iterdir())}, exits {(f / 'codes.json').read_text()}"
    out.append(race)
    out.append(Case("Ctrl-C during start-up", lambda f, env: ["train", write_config(f)], ok_exit=(130,),
                    interrupt_after=0.4))
    for label, raw in [("null", "null"), ("list", "[1]"), ("NaN", "NaN"), ("object", '{"a": 1}')]:
        body = "".join(json.dumps({"text": f"good film {i}", "label": ["pos", "neg"][i % 2]}) + "\n" for i in range(10))
        body += '{"text": "odd one", "label": ' + raw + "}\n"
        out.append(data_case(f"JSONL label {label}", body, "jsonl"))
    out.append(data_case("CSV unterminated quote", "text,label\n" + ROWS + '"never closed,pos\n' + ROWS))
    header_only = data_case("header-only test file", "text,label\n" + ROWS, test="text,label\n")
    header_only.check = no_nan_metrics
    out.append(header_only)
    dev0 = cfg_case("dev_size 0", **{"data.custom_tasks": [{"name": "t", "files": {"train": "train.csv",
                                                                                   "test": "test.csv"}, "dev_size": 0}]})
    dev0.check = no_nan_metrics
    out.append(dev0)

    def stdin_predict(folder: Path, env: dict) -> list[str]:
        run = finished_run(folder, env)
        return ["predict", str(run), "--task", "t", "--input", "/dev/stdin"]

    out.append(Case("predict --input /dev/stdin (piped)", stdin_predict, ok_exit=(0, 2), stdin=b"good film\nbad film\n",
                    check=lambda f, o, e: None if len(o.splitlines()) == 2 or "stdin" in e else "0 predictions, exit 0"))

    def fifo_predict(folder: Path, env: dict) -> list[str]:
        import threading

        run = finished_run(folder, env)
        os.mkfifo(folder / "fifo")

        def writer() -> None:  # what `mkfifo f; producer > f &` does
            with open(folder / "fifo", "w") as fh:
                fh.write("good film\nbad film\n")

        threading.Thread(target=writer, daemon=True).start()
        return ["predict", str(run), "--task", "t", "--input", str(folder / "fifo")]

    out.append(Case("predict --input a named FIFO", fifo_predict, ok_exit=(0,), timeout=60,
                    check=predictions_match(2)))

    def utf16(folder: Path, env: dict) -> list[str]:
        run = finished_run(folder, env)
        (folder / "in.txt").write_bytes("good film\nbad film\n".encode("utf-16"))
        return ["predict", str(run), "--task", "t", "--input", str(folder / "in.txt")]

    out.append(Case("predict a UTF-16 file", utf16, ok_exit=(0, 2), check=lambda f, o, e: None
                    if len(o.splitlines()) in (0, 2) else f"{len(o.splitlines())} predictions for 2 lines"))

    markup = cfg_case("rich markup in a task name", **{"data.custom_tasks": [
        {"name": "x:books:y", "files": {"train": "train.csv", "test": "test.csv"}}]})
    markup.ok_exit = (0,)
    markup.check = lambda f, o, e: None if "x:books:y" in o + e else "the task name was not printed as given"
    out.append(markup)
    out.append(text_case("empty config", ""))
    out.append(text_case("null config", "null\n"))
    out.append(cfg_case("batch_size: true", **{"training.batch_size": True}))
    out.append(text_case("duplicate YAML key", "name: a\nname: b\n"))
    out.append(data_case("duplicate JSON key", '{"text": "good", "label": "pos", "label": "neg"}\n' * 6, "jsonl"))
    out.append(data_case("duplicate CSV header column", "text,label,label\n" + "".join(
        line + ",x\n" for line in ROWS.splitlines())))
    eps = cfg_case("epsilon: 1e-3 in a method block", method={"name": "getmtl", "epsilon": "1e-3"})
    eps.setup = lambda f, env: ["train", write_config(f, text=yaml.safe_dump(toy_config(f)).replace(
        "name: toy", "name: toy\nmethod:\n  name: getmtl\n  epsilon: 1e-3"))]
    eps.ok_exit = (0,)
    out.append(eps)

    def killed_early(folder: Path, env: dict) -> list[str]:
        cfg = write_config(folder, **{"training.steps": 2000, "training.checkpoint_every": 0})
        proc = subprocess.Popen([sys.executable, "-m", "textmtl.cli", "train", cfg, "--quiet"], cwd=folder, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and not (folder / "runs" / "toy.partial" / "history.jsonl").exists():
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        return ["train", write_config(folder)]

    left = Case("kill before the first checkpoint, then train again", killed_early, ok_exit=(0,))
    left.check = lambda f, o, e: None if (f / "runs" / "toy").is_dir() and not (f / "runs" / "toy-2").exists() \
        else "the next run sidestepped the dead .partial"
    out.append(left)
    for label, make in [("a directory", lambda p: p.mkdir()), ("a FIFO", lambda p: os.mkfifo(p))]:
        def setup(folder: Path, env: dict, make=make) -> list[str]:
            cfg = write_config(folder)
            (folder / "train.csv").unlink()
            make(folder / "train.csv")
            return ["train", cfg]

        out.append(Case(f"{label} as the train file", setup, timeout=20,
                        check=lambda f, o, e: "reported as not found" if "not found" in e else None))
    big = Case("6 MB config", lambda f, env: ["train", write_config(f, text="name: a\n" + "x: [" + "1, " * 2_000_000
                                                                    + "1]\n")], timeout=60)
    out.append(big)
    return out


def run_all(src: str, only: str | None = None) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve()), "TEXTMTL_DATA_DIR": "/nonexistent",
           "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    results = []
    for case in cases():
        if only and only not in case.name:
            continue
        folder = Path(tempfile.mkdtemp(prefix="hostile-"))
        outside_before = set(Path("/tmp").iterdir())
        row: dict = {"case": case.name}
        try:
            argv = case.setup(folder, env)
            start = time.time()
            proc = subprocess.Popen([sys.executable, "-m", "textmtl.cli", *argv], cwd=folder, env=env,
                                    stdin=subprocess.PIPE if case.stdin is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if case.interrupt_after is not None:
                time.sleep(case.interrupt_after)
                proc.send_signal(signal.SIGINT)
            try:
                out_b, err_b = proc.communicate(case.stdin, timeout=case.timeout)
                code: int | str = proc.returncode
            except subprocess.TimeoutExpired:
                proc.kill()
                out_b, err_b = proc.communicate()
                code = "hung"
            out, err = out_b.decode(errors="replace"), err_b.decode(errors="replace")
            problems = []
            if code not in case.ok_exit:
                problems.append(f"exit {code}")
            if "Traceback" in err:
                problems.append("traceback")
            elif code == 2 and len(err.strip().splitlines()) != 1:
                problems.append(f"{len(err.strip().splitlines())} lines")
            partial = [p for p in folder.rglob("*.partial") if p.is_dir()]
            if partial and code != 0 and case.interrupt_after is None and not case.keeps_partial:
                problems.append("partial left")
            escaped = [p for p in set(Path("/tmp").iterdir()) - outside_before if "hostile_abs" in p.name
                       or "escaped" in p.name]
            if escaped:
                problems.append("wrote outside the runs directory")
            if case.check is not None:
                found = case.check(folder, out, err)
                if found:
                    problems.append(found)
            message = next((line for line in err.strip().splitlines()[-1:]), "")
            row.update({"exit": code, "seconds": round(time.time() - start, 1), "ok": not problems,
                        "problems": problems, "message": message[:200]})
        except Exception as exc:  # noqa: BLE001 - the probe records what the setup could not do
            row.update({"exit": None, "ok": False, "problems": [f"setup failed: {type(exc).__name__}: {exc}"]})
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            for p in [*Path("/tmp").glob("hostile_abs_run*"), *Path("/tmp").glob("escaped_run*")]:
                shutil.rmtree(p, ignore_errors=True)
        results.append(row)
        print(f"{'ok  ' if row['ok'] else 'FAIL'} {case.name}: {row.get('problems')} {row.get('message', '')[:100]}",
              flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", help="LABEL=SRC: the source tree to probe")
    parser.add_argument("--out", default=None)
    parser.add_argument("--only", default=None, help="cases whose name contains this")
    args = parser.parse_args()
    report = {}
    for item in args.trees:
        label, _, src = item.partition("=")
        print(f"== {label} ({src})", flush=True)
        report[label] = run_all(src, args.only)
    summary = {label: f"{sum(r['ok'] for r in rows)}/{len(rows)} ok" for label, rows in report.items()}
    print(json.dumps(summary))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "cases": report}, indent=1) + "\n")


if __name__ == "__main__":
    main()
