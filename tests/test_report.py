"""`textmtl report`: a self-contained report.html for a run or a benchmark directory, checked as
HTML and as a page rendered by headless Chromium."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from textmtl.errors import TextmtlError
from textmtl.reporting.grid_metrics import delta_m
from textmtl.reporting.grid_summary import RESULT_COLUMNS
from textmtl.reporting.report import build_report, markdown_to_html

from ._cli import run_main

TASKS = ["books", "health_personal_care", "MR"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(path: Path, method: str = "pcgrad", tasks: list[str] = TASKS, diagnostics: bool = True,
              communication: bool = False, separate: bool = False, finished: bool = True, mmoe: bool = False,
              dev: bool = True) -> Path:
    """A run directory as `textmtl train` writes it: config.yaml, history.jsonl (3 evaluations), metrics.json;
    `dev=False`: a protocol without a dev set (amazon-14), whose records carry no dev scores."""
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(f"name: {path.name}\nseed: 1\nmodel:\n  architecture: hard\n"
                                      f"  encoder:\n    type: textcnn\nmethod:\n  name: {method}\n")
    k = len(tasks)
    records = []
    jobs = [(f"{method}:{t}", [t]) for t in tasks] if separate else [(method, tasks)]
    for job, job_tasks in jobs:
        for n, step in enumerate((10, 20, 30)):
            record = {"job": job, "step": step, "epoch": step / 10, "lr": 0.001,
                      "train_loss": {t: 0.7 - 0.1 * n - 0.01 * i for i, t in enumerate(job_tasks)},
                      "dev": {t: {"accuracy": 0.6 + 0.1 * n + 0.01 * i} for i, t in enumerate(job_tasks)},
                      "dev_average": 0.6 + 0.1 * n, "best_dev_average": 0.6 + 0.1 * n,
                      "weights": {t: 1.0 / k + 0.05 * n * (i - 1) for i, t in enumerate(job_tasks)},
                      "elapsed_seconds": float(step)}
            if not dev:
                record.update(dev={}, dev_average=float("nan"), best_dev_average=float("-inf"))
            if diagnostics:
                cosine = [[1.0 if i == j else (-0.3 if (i + j) % 2 else 0.2) * (n + 1) / 3 for j in range(k)]
                          for i in range(k)]
                record["gradients"] = {"tasks": tasks, "cosine": cosine, "grad_norms": {t: 1.0 + n for t in tasks},
                                       "gram_condition_number": 3.0, "conflicting_pairs": 1 / 3}
            if mmoe:
                record["mmoe_gates"] = {t: [0.5 + 0.1 * i, 0.3, 0.2 - 0.1 * i] for i, t in enumerate(tasks)}
            if communication:
                record["communication"] = {"architecture": "graph_star", "tasks": tasks,
                                           "matrix": [[round(1 / k, 3)] * k for _ in tasks],
                                           "definition": "attention weight of each task's node on the others"}
            records.append(record)
    (path / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if finished:
        metrics = {"tasks": {t: {"dev": {"accuracy": 0.8 + 0.01 * i} if dev else {},
                                 "test": {"accuracy": 0.78 + 0.01 * i}} for i, t in enumerate(tasks)},
                   "average": {"dev": 0.81 if dev else float("nan"), "test": 0.79}, "method": method, "seed": 1,
                   "steps": 30, "best_step": 30, "wall_seconds": 42.0, "architecture": {}}
        (path / "metrics.json").write_text(json.dumps(metrics))
    return path


SCORES = {"stl": {"books": 0.80, "health_personal_care": 0.50, "MR": 0.70},
          "ls": {"books": 0.84, "health_personal_care": 0.50, "MR": 0.70},
          "pcgrad": {"books": 0.82, "health_personal_care": 0.55, "MR": 0.63}}


def write_benchmark(path: Path, methods: tuple[str, ...] = ("stl", "ls", "pcgrad"), dev: bool = True) -> Path:
    """results.csv (2 seeds, means as in SCORES), summary.md and the runs' directories."""
    path.mkdir(parents=True)
    rows = []
    for method in methods:
        for seed, shift in ((1, -0.01), (2, 0.01)):
            name = f"toy-{method}-s{seed}"
            write_run(path / "runs" / name, method, diagnostics=method == "pcgrad", separate=method == "stl", dev=dev)
            for task, score in SCORES[method].items():
                rows.append({"suite": "toy", "variant": "default", "method": method, "seed": seed, "task": task,
                             "metric": "accuracy", "dev": score, "test": score + shift, "wall_seconds": 60.0,
                             "steps": 30, "run_dir": f"runs/{name}"})
    with open(path / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (path / "summary.md").write_text("# Benchmark `toy`\n\n- suite: toy\n\n| task | ls (ours, n=2) |\n|---|---|\n"
                                     "| books | 84.00 ± 1.41 |\n| **average** | **68.00** |\n\nAverage: mean.\n")
    return path


def images_of(page: str) -> dict[str, bytes]:
    """The inline images of a page: {file name (title): PNG bytes}."""
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="[^"]*" title="([^"]+)">', page)
    return {name: base64.b64decode(data) for data, name in found}


def visible_text(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", page)


# ------------------------------------------------------------------------------ run directories


def test_run_report_names_every_task_and_inlines_its_figures(tmp_path):
    run = write_run(tmp_path / "runs" / "toy-pcgrad", communication=True, mmoe=True)
    page_path = build_report(run, tmp_path / "out")
    assert page_path == tmp_path / "out" / "report.html"
    page = page_path.read_text()
    text = visible_text(page)
    for task in TASKS:
        assert task in text
    # self-contained: no scripts, no styles or images from elsewhere
    assert "<script" not in page and "<link" not in page and "http://" not in page and "https://" not in page
    assert page.count("<img ") == len(images_of(page))
    images = images_of(page)
    assert set(images) == {"scores.png", "curves.png", "conflicts.png", "conflicts-steps.png",
                           "conflicts-evolution.png", "weights.png", "communication-1.png", "mmoe-gates.png"}
    for name, data in images.items():  # the same PNGs beside the page
        assert data.startswith(PNG_MAGIC) and (tmp_path / "out" / name).read_bytes() == data
    assert "No gradient diagnostics" not in page and "No task communication matrix" not in page
    assert "attention weight of each task" in page  # the architecture's definition of its matrix
    assert "78.00" in page and "79.00" in page  # test scores ×100 in the table


def test_run_without_diagnostics_says_so(tmp_path):
    run = write_run(tmp_path / "ls-run", method="ls", diagnostics=False)
    page = build_report(run).read_text()  # default: <run>/report/
    assert (run / "report" / "report.html").is_file()
    assert "No gradient diagnostics in history.jsonl: method &#x27;ls&#x27;" in page
    assert "conflicts.png" not in images_of(page) and not (run / "report" / "conflicts.png").exists()
    assert "No task communication matrix in this run" in page


def test_run_without_a_dev_set_shows_test_scores_and_loss_curves_only(tmp_path):
    page = build_report(write_run(tmp_path / "amazon-like", dev=False)).read_text()
    assert "Test accuracy of the saved model" in page and "per-task test scores" in page
    assert "the run has no dev scores (its protocol has no dev set), so there are no dev curves" in page
    assert {"scores.png", "curves.png"} <= set(images_of(page))


def test_unfinished_and_per_task_runs(tmp_path):
    run = write_run(tmp_path / "toy.partial", finished=False)
    with open(run / "history.jsonl", "a") as fh:
        fh.write('{"job": "pcgrad", "st')  # a crash mid-write
    page = build_report(run).read_text()
    assert "No metrics.json (an unfinished run)" in page and "1 unreadable lines skipped" in page
    stl = build_report(write_run(tmp_path / "stl", method="stl", diagnostics=False, separate=True)).read_text()
    assert "Each task was trained on its own" in stl and {"curves.png", "scores.png"} <= set(images_of(stl))


def test_sixteen_tasks_stay_readable(tmp_path):
    tasks = [f"task_with_a_long_name_{i}" for i in range(16)]
    page = build_report(write_run(tmp_path / "k16", tasks=tasks)).read_text()
    for task in tasks:
        assert task in visible_text(page)
    from matplotlib.image import imread

    heat = imread(tmp_path / "k16" / "report" / "conflicts.png")
    assert heat.shape[0] >= 16 * 30 and heat.shape[1] >= 16 * 30  # at least ~30 px per task row and column


# ------------------------------------------------------------------------------ benchmark directories


def test_benchmark_report_compares_methods_with_stl_and_ls(tmp_path):
    bench = write_benchmark(tmp_path / "bench")
    page = build_report(bench, tmp_path / "out").read_text()
    for task in TASKS:
        assert task in visible_text(page)
    assert {"scores.png", "delta-m.png", "dev-curves.png", "conflict-share.png"} <= set(images_of(page))
    expected = {m: delta_m(SCORES[m], SCORES["stl"]) for m in ("ls", "pcgrad")}
    assert expected["ls"] == pytest.approx(100 * 0.05 / 3)  # (0.84 - 0.80) / 0.80 on 1 of 3 tasks
    for m, v in expected.items():  # Δm% of every method, as summary.md computes it
        assert f'<td>{m}</td><td class="num">{v:+.2f}</td>' in page, m
    assert "<h3>Benchmark <code>toy</code></h3>" in page and "<td>84.00 ± 1.41</td>" not in page  # summary.md, as HTML
    assert '<td class="num">84.00 ± 1.41</td>' in page
    assert page.count("toy-pcgrad-s") >= 2  # the runs table


def test_a_grid_kept_as_a_bundle_gives_the_same_page(tmp_path):
    """docs/evidence/<grid>/: results.csv + summary.md + runs.jsonl.gz, no runs/ directory."""
    import shutil

    from textmtl.reporting import bundle

    bench = write_benchmark(tmp_path / "bench")
    kept = tmp_path / "kept"
    kept.mkdir()
    for name in ("results.csv", "summary.md"):
        shutil.copy(bench / name, kept / name)
    bundle.pack(sorted((bench / "runs").iterdir()), kept / "runs.jsonl.gz")
    from_dirs = build_report(bench, tmp_path / "a").read_text()
    from_bundle = build_report(kept, tmp_path / "b").read_text()
    assert set(images_of(from_bundle)) == set(images_of(from_dirs))
    assert {"dev-curves.png", "conflict-share.png"} <= set(images_of(from_bundle))


def test_benchmark_without_a_dev_set_plots_the_training_loss_instead(tmp_path):
    page = build_report(write_benchmark(tmp_path / "bench", dev=False)).read_text()
    images = images_of(page)
    assert "train-loss.png" in images and "dev-curves.png" not in images
    assert "No run has a dev score (the protocol has no dev set)" in page
    assert "dev-curves.png" in images_of(build_report(write_benchmark(tmp_path / "with-dev")).read_text())


def test_a_re_render_removes_the_figures_the_page_no_longer_has(tmp_path):
    out = tmp_path / "out"
    build_report(write_benchmark(tmp_path / "with-dev"), out)
    (out / "my-notes.png").write_bytes(PNG_MAGIC)  # not the report's: left alone
    assert (out / "dev-curves.png").is_file()
    page = build_report(write_benchmark(tmp_path / "no-dev", dev=False), out).read_text()
    assert not (out / "dev-curves.png").exists() and (out / "train-loss.png").is_file()
    assert {p.name for p in out.glob("*.png")} == set(images_of(page)) | {"my-notes.png"}


def test_benchmark_without_stl_has_no_delta_m_chart_and_a_note(tmp_path):
    bench = write_benchmark(tmp_path / "bench", methods=("ls", "pcgrad"))
    page = build_report(bench).read_text()
    assert "delta-m.png" not in images_of(page)
    assert "No Δm% chart: no finished &#x27;stl&#x27; (single-task) runs" in page
    assert "No finished &#x27;stl&#x27; runs: no stl marks." in page
    ranks = {"ls": 4 / 3, "pcgrad": 5 / 3}  # SCORES: ls first on books and MR, pcgrad on health_personal_care
    assert '<th>mean rank</th>' in page and '<td>ls</td><td class="num">-</td>' in page  # ranks need no stl
    assert all(f'<td>{m}</td><td class="num">-</td><td class="num">{r:.2f}</td>' in page for m, r in ranks.items())


def test_markdown_tables_become_html_tables():
    out = markdown_to_html("## Variant `a`\n\n| task | x |\n|---|---:|\n| <b> | 1 |\n")
    assert out == ('<h4>Variant <code>a</code></h4>\n<table><thead><tr><th>task</th><th>x</th></tr></thead><tbody>'
                   '<tr><td>&lt;b&gt;</td><td class="num">1</td></tr></tbody></table>')


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("case", ["missing", "empty", "file"])
def test_bad_directory_is_one_line_exit_2(tmp_path, case):
    target = tmp_path / case
    if case == "empty":
        target.mkdir()
    elif case == "file":
        target.write_text("x")
    code, output = run_main(["report", str(target)])
    assert code == 2 and output.count("\n") == 1 and output.startswith("error: ")
    assert {"missing": "no such directory", "empty": "neither a run directory", "file": "not a directory"}[case] \
        in output
    with pytest.raises(TextmtlError):
        build_report(target)
    assert not (tmp_path / "report").exists()


def test_broken_metrics_json_names_the_file(tmp_path):
    run = write_run(tmp_path / "r")
    (run / "metrics.json").write_text("{")
    code, output = run_main(["report", str(run)])
    assert code == 2 and "metrics.json: invalid JSON" in output and output.count("\n") == 1


def test_cli_writes_the_report(tmp_path):
    run = write_run(tmp_path / "r")
    code, output = run_main(["report", str(run), "--out", str(tmp_path / "o")])
    assert code == 0 and (tmp_path / "o" / "report.html").is_file() and "report:" in output


# ------------------------------------------------------------------------------ the page in Chromium


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, str]:
    """One headless-Chromium screenshot of a run's report: (PNG path, the page's HTML)."""
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (`make test` installs the Debian package)")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); CI requires it")
    root = tmp_path_factory.mktemp("render")
    page = build_report(write_run(root / "toy-pcgrad", communication=True), root / "out")
    shot = root / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--allow-file-access-from-files", f"--screenshot={shot}", "--window-size=1280,2000",
                    page.resolve().as_uri()], check=True, capture_output=True, timeout=120)
    return shot, page.read_text()


def test_chromium_renders_a_page_that_is_not_blank(rendered):
    from matplotlib.image import imread

    shot, _ = rendered
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    background = (pixels > 0.9).all(axis=-1)  # white or the light grey page background
    assert 0.05 < 1 - background.mean() < 0.95  # text, figures and frames, not a blank page
    colours = {tuple(p) for p in (pixels[::8, ::8] * 255).astype(int).reshape(-1, 3)}
    assert len(colours) > 200  # the figures' colours, not a flat error page
    assert pixels[..., 2].std() > 0.05


def test_chromium_page_names_every_task(rendered):
    _, page = rendered
    text = visible_text(page)
    for task in TASKS:
        assert task in text
    assert images_of(page)  # and its figures are inline
