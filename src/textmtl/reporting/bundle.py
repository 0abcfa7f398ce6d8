"""Run bundles: the small files of many finished runs in one compressed JSON Lines file.

The evidence behind docs/RESULTS.md is kept per grid as `results.csv` + `summary.md` + one bundle
(`runs.jsonl.gz`): a line per run with its `config.yaml`, `metrics.json`, `history.jsonl` and
`model.json` (never weights). `textmtl summarize 'ls=BUNDLE:ls-s*'` and `textmtl report GRID_DIR`
read bundles directly; `textmtl bundle unpack` recreates the run directories.

Packing removes machine-specific absolute paths: a path under the current directory becomes
relative to it, any other absolute path keeps only its last part behind `<abs>/`.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import os
import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import yaml

from ..errors import DataError

FORMAT = "textmtl-run-bundle/1"
FILES = ("config.yaml", "metrics.json", "history.jsonl", "model.json")
SUFFIX = ".jsonl.gz"
_ABSOLUTE = re.compile(r"(?<![\w.])/(?:[\w.+-]+/)*[\w.+-]+")


def is_bundle(path: str | Path) -> bool:
    return str(path).endswith(SUFFIX) and Path(path).is_file()


def scrub_paths(text: str, root: Path | None = None) -> str:
    """`text` without absolute paths of this machine (see the module docstring)."""
    root_text = str((root or Path.cwd()).resolve())

    def replace(match: re.Match[str]) -> str:
        value = match.group(0)
        if value == root_text:
            return "."
        if value.startswith(root_text + "/"):
            return value[len(root_text) + 1 :]
        parts = value.strip("/").split("/")
        return "<abs>/" + parts[-1] if len(parts) > 1 else value

    return _ABSOLUTE.sub(replace, text)


def pack(
    run_dirs: Iterable[str | Path], out: str | Path, *, names: dict[str, str] | None = None, root: Path | None = None
) -> int:
    """Write the finished runs `run_dirs` into the bundle `out` (replacing it); `names` renames runs
    (default: the directory's name). Returns how many runs were packed."""
    entries = [_entry(Path(d), (names or {}).get(Path(d).name, Path(d).name), root) for d in run_dirs]
    _write(entries, Path(out))
    return len(entries)


def update(run_dirs: Iterable[str | Path], out: str | Path, *, root: Path | None = None) -> int:
    """Add the finished runs `run_dirs` to the bundle `out` (created if missing), replacing its runs
    of the same names and keeping the others; returns how many runs the bundle holds. Callers that
    share `out` between processes hold a lock around it (`files.file_lock`)."""
    out = Path(out)
    kept = {e["name"]: e for e in read(out)} if out.is_file() else {}
    for run_dir in run_dirs:
        entry = _entry(Path(run_dir), Path(run_dir).name, root)
        kept[entry["name"]] = entry
    _write([kept[name] for name in sorted(kept)], out)
    return len(kept)


def _entry(run_dir: Path, label: str, root: Path | None) -> dict[str, Any]:
    if not (run_dir / "metrics.json").is_file():
        raise DataError(run_dir, "not a finished run (no metrics.json)")
    files: dict[str, Any] = {}
    for name in FILES:
        path = run_dir / name
        if not path.is_file():
            continue
        text = scrub_paths(path.read_text(encoding="utf-8", errors="replace"), root)
        if name.endswith(".json"):
            files[name] = json.loads(text)
        elif name.endswith(".jsonl"):
            files[name] = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            files[name] = text
    return {"format": FORMAT, "name": label, "files": files}


def _write(entries: list[dict[str, Any]], out: Path) -> None:
    lines = [json.dumps(entry, sort_keys=True) for entry in entries]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    # no mtime and no file name in the gzip header: the same runs give the same bytes wherever written
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
        fh.write(("\n".join(lines) + "\n").encode("utf-8"))
    os.replace(tmp, out)


def read(bundle: str | Path) -> list[dict[str, Any]]:
    """Every run of a bundle: `{"name", "files"}` (one-line DataError on a bad file)."""
    bundle = Path(bundle)
    try:
        with gzip.open(bundle, "rt", encoding="utf-8") as fh:
            entries = [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        raise DataError(bundle, "no such run bundle") from None
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(bundle, f"not a run bundle ({exc})") from None
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or entry.get("format") != FORMAT or "name" not in entry:
            raise DataError(bundle, f"entry {i}: expected a {FORMAT} entry")
    return entries


def names(bundle: str | Path) -> list[str]:
    return [e["name"] for e in read(bundle)]


def unpack(
    bundle: str | Path, dest: str | Path, pattern: str = "*", *, only: Collection[str] | None = None
) -> list[Path]:
    """Write the runs whose name matches the glob `pattern` (and is in `only`, when given) as run
    directories under `dest`."""
    dest = Path(dest)
    out = []
    for entry in read(bundle):
        if not fnmatch.fnmatchcase(entry["name"], pattern) or (only is not None and entry["name"] not in only):
            continue
        run_dir = dest / entry["name"]
        run_dir.mkdir(parents=True, exist_ok=True)
        for name, content in entry["files"].items():
            if name not in FILES:
                continue
            if name.endswith(".jsonl"):
                text = "".join(json.dumps(r) + "\n" for r in content)
            elif name.endswith(".json"):
                text = json.dumps(content, indent=2)
            else:
                text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
            (run_dir / name).write_text(text, encoding="utf-8")
        out.append(run_dir)
    return out
