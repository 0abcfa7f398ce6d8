"""Files written safely: atomic replacement, advisory locks, and content hashes.

Every file textmtl writes that another process (or a later run) may read goes through
`atomic_write_*`: the bytes go to `<name>.tmp` beside it and replace the file in one `os.replace`,
so a reader sees the old or the new file, never half of one. `durable=True` also fsyncs the data
(checkpoints: a power cut must not leave a renamed but empty file).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "file_lock",
    "sha256_file",
    "sha256_json",
    "tmp_path",
]

_CHUNK = 1 << 20


def tmp_path(path: Path, suffix: str = ".tmp") -> Path:
    """`<dir>/<name><suffix>`: where `path` is written before it replaces the real file."""
    return path.with_name(path.name + suffix)


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = False) -> None:
    """Replace `path` with `data` in one step (`durable`: fsync before the rename)."""
    path = Path(path)
    tmp = tmp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, *, durable: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def atomic_write_json(path: str | Path, data: Any, *, indent: int | None = 2, durable: bool = False) -> None:
    """JSON (non-JSON values as `str`), with a final newline."""
    atomic_write_text(path, json.dumps(data, indent=indent, default=str) + "\n", durable=durable)


@contextmanager
def file_lock(path: str | Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive advisory lock on `path` (created if missing) for the block. Yields True, or
    False at once when `blocking` is off and another process holds it."""
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(value: Any, *, compact: bool = True) -> str:
    """SHA-256 of `value` as canonical JSON: sorted keys, other values as `str`, no spaces unless
    `compact` is off (`json.dumps`'s default separators, which the keys of earlier caches used)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":") if compact else None, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
