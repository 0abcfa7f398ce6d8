"""Make ``textmtl`` importable from the src layout when the package is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

try:
    import textmtl.aggregation  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hypothesis import HealthCheck, settings

settings.register_profile(
    "aggregation",
    deadline=None,
    max_examples=40,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True, scope="package")
def _single_torch_thread():
    """The K x P test problems are tiny: one intra-op thread avoids oversubscription.

    Scoped to this package and restored afterwards, so other test folders are unaffected.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
