"""User-facing errors: each carries a one-line message and maps to exit code 2 in the CLI."""

from __future__ import annotations

from pathlib import Path


class TextmtlError(Exception):
    """An error caused by the user's input (config, data, model folder); never a bug."""

    exit_code = 2


class ConfigError(TextmtlError):
    """The configuration is invalid; the message names the bad key."""


class DataError(TextmtlError):
    """A data file is missing, empty or malformed; the message names file and line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line


class ModelError(TextmtlError):
    """A model folder or saved run cannot be loaded."""


class TrainingError(TextmtlError):
    """Training cannot go on (e.g. non-finite losses step after step) or cannot be resumed."""
