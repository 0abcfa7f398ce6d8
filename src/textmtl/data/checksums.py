"""Verify data files against the SHA-256 sums shipped in `textmtl/resources/checksums.json`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from textmtl.errors import ConfigError
from textmtl.files import sha256_file

Status = Literal["ok", "missing", "mismatch"]


@dataclass(frozen=True)
class VerifyResult:
    """One file's check: `path` is relative to the data dir (e.g. `fdu-mtl/books.task.train`)."""

    path: str
    status: Status
    expected: str
    actual: str | None = None  # the file's sha256 (None if missing)


@cache
def known_checksums() -> dict[str, str]:
    """`{relative_path: sha256}` of every known data file (fdu-mtl, glue, conll2003, 20newsgroups)."""
    text = (resources.files("textmtl") / "resources" / "checksums.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def checksum_groups() -> tuple[str, ...]:
    """The top-level data folders that have checksums, e.g. ("conll2003", "fdu-mtl", "glue")."""
    return tuple(sorted({p.split("/", 1)[0] for p in known_checksums()}))


def verify(data_dir: str | Path, benchmark: str | None = None) -> list[VerifyResult]:
    """Check every known file under `data_dir` (only `<benchmark>/...` if given), sorted by path."""
    root = Path(data_dir)
    groups = checksum_groups()
    if benchmark is not None and benchmark not in groups:
        from textmtl.data.sets.base import did_you_mean

        raise ConfigError(
            f"benchmark: no checksums for {benchmark!r}{did_you_mean(str(benchmark), groups)}; "
            f"known: {', '.join(groups)}"
        )
    results = []
    for rel, expected in sorted(known_checksums().items()):
        if benchmark is not None and not rel.startswith(benchmark + "/"):
            continue
        file = root / rel
        if not file.is_file():
            results.append(VerifyResult(rel, "missing", expected))
            continue
        try:
            actual = sha256_file(file)
        except OSError:
            results.append(VerifyResult(rel, "missing", expected))
            continue
        results.append(VerifyResult(rel, "ok" if actual == expected else "mismatch", expected, actual))
    return results
