"""Knowledge transfer (`init.from_run`): a new run starts its shared encoder from a finished run's.

ASP-MTL's transfer experiment (Liu et al. 2017, §6.5, Table 3) trains the shared layers on 15
FDU-MTL domains and a new task on the 16th: through the frozen shared layer alone (SC, single
channel: `model.architecture: hard`) or beside a fresh private encoder (BC, bi-channel:
`shared_private`). The encoder (the module every architecture keeps as `.encoder`) and the
vocabulary come from the source run; heads and private encoders are new. `freeze: true` stops the
encoder's parameters from training (they are then no shared parameters of any method). The new
run stores every weight, so it reloads without the source run; `metrics.json` names the source
(`init`: path and the sha256 of its weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ConfigError, TextmtlError
from ..files import sha256_file
from ..models.architectures import Architecture


@dataclass
class TransferSource:
    path: Path
    model: Architecture
    text_encoder: Any
    sha256: str
    freeze: bool

    def record(self) -> dict[str, Any]:
        return {"from_run": str(self.path), "sha256": self.sha256, "freeze": self.freeze}


def load_source(cfg: Any) -> TransferSource | None:
    """The run `cfg.init.from_run` names (None without `init`); a one-line ConfigError when it is not
    a finished run or its encoder is configured differently from this run's."""
    if cfg.init is None:
        return None
    from .run_directory import load_run

    path = Path(cfg.init.from_run)
    try:
        source = load_run(path)
    except TextmtlError as exc:
        raise ConfigError(f"init.from_run: {exc}") from None
    ours = cfg.model.encoder.model_dump(mode="json")
    theirs = source.config.model.encoder.model_dump(mode="json")
    if ours != theirs:
        diff = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        raise ConfigError(
            f"init.from_run: {path} has another encoder (model.encoder.{diff[0]}: {theirs.get(diff[0])!r} there, "
            f"{ours.get(diff[0])!r} here); the transferred weights need the same encoder settings"
        )
    weights = sha256_file(path / "model.safetensors")
    return TransferSource(path, source.model, source.text_encoder, weights, bool(cfg.init.freeze))


def transfer_encoder(source: TransferSource, model: Architecture, *, freeze: bool, copy: bool = True) -> None:
    """Copy the source's shared encoder into `model.encoder` (exactly; not with `copy=False`, for a
    resumed run whose checkpoint holds the weights), and freeze it if asked."""
    theirs, ours = getattr(source.model, "encoder", None), getattr(model, "encoder", None)
    if not isinstance(theirs, nn.Module) or not isinstance(ours, nn.Module):
        which = source.model.name if theirs is None else model.name
        raise ConfigError(
            f"init.from_run: architecture '{which}' has no single shared encoder to transfer "
            "(an architecture that keeps one, `.encoder`: hard, shared_private, adversarial, ...)"
        )
    if copy:
        try:
            ours.load_state_dict(theirs.state_dict(), strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(f"init.from_run: the encoders do not match ({first})") from None
    if freeze:
        for p in ours.parameters():
            p.requires_grad_(False)
