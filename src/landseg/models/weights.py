"""Safe checkpoint loading for landseg, GeoSeg (Lightning) and plain state-dict files.

Every file goes through ``torch.load(..., weights_only=True)``: a checkpoint from a stranger can
carry tensors and plain containers, never code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landseg.errors import CheckpointError

#: Prefixes that wrap the network's keys inside Lightning checkpoints. GeoSeg's LightningModule
#: keeps the network in ``self.net``; landseg's does too, so both load the same way.
_WRAPPER_PREFIXES = ("net.", "model.", "module.")
_MAX_LISTED = 12


@dataclass
class LoadReport:
    loaded: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file safely (tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means the file is unusable; say why
        raise CheckpointError(
            f"Cannot read checkpoint {path}: {str(exc).splitlines()[0]}. landseg only loads tensors and plain "
            "containers (torch.load weights_only=True); re-save the file's state_dict if it holds Python objects."
        ) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"Checkpoint {path} holds a {type(obj).__name__}, expected a dict of tensors.")
    return obj


def extract_state_dict(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The network's weights from a landseg/GeoSeg Lightning checkpoint or a plain state dict."""
    sd = ckpt.get("state_dict", ckpt.get("model", ckpt))
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError("The checkpoint holds no state dict (expected tensors under 'state_dict' or at top level).")
    for prefix in _WRAPPER_PREFIXES:
        if any(k.startswith(prefix) for k in sd):
            # Keys of other sub-modules (e.g. a loss with buffers) are dropped with the prefix filter.
            return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    return dict(sd)


def _fmt(items: list, total: int) -> str:
    shown = ", ".join(str(i) for i in items[:_MAX_LISTED])
    return shown + (f", ... ({total - _MAX_LISTED} more)" if total > _MAX_LISTED else "")


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> LoadReport:
    """Load a checkpoint's weights into ``model``.

    With ``strict=True`` (the default) any missing, unexpected or wrongly shaped key is an error that
    lists them, e.g. a checkpoint for another architecture or class count.
    """
    sd = extract_state_dict(read_checkpoint(path))
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    mismatched = [(k, tuple(sd[k].shape), tuple(own[k].shape)) for k in sorted(set(sd) & set(own))
                  if sd[k].shape != own[k].shape]
    report = LoadReport(loaded=len(set(sd) & set(own)) - len(mismatched), missing=missing,
                        unexpected=unexpected, mismatched=mismatched)
    if strict and (missing or unexpected or mismatched):
        parts = [f"Checkpoint {path} does not fit this {type(model).__name__}"]
        if mismatched:
            parts.append("shape mismatches (checkpoint vs model): "
                         + _fmt([f"{k} {a} vs {b}" for k, a, b in mismatched], len(mismatched)))
        if missing:
            parts.append(f"{len(missing)} keys missing from the checkpoint: " + _fmt(missing, len(missing)))
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: " + _fmt(unexpected, len(unexpected)))
        parts.append("Check --model and the model options (e.g. num_classes) match how it was trained.")
        raise CheckpointError(".\n  ".join(parts))
    usable = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return report


def load_backbone_weights(model: nn.Module, path: str) -> LoadReport:
    """Load pretrained backbone weights from a local file (keys with or without ``backbone.``).

    Used for ``pretrained: path``; unlike a full checkpoint, keys the backbone lacks (e.g. a
    classifier head) are skipped, but a file matching nothing is an error.
    """
    sd = extract_state_dict(read_checkpoint(path))
    backbone = model.backbone  # type: ignore[attr-defined]
    own = backbone.state_dict()
    sd = {k.removeprefix("backbone."): v for k, v in sd.items()}
    usable = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise CheckpointError(f"Pretrained file {path} has no weights matching the {type(backbone).__name__} backbone.")
    backbone.load_state_dict(usable, strict=False)
    return LoadReport(loaded=len(usable), missing=sorted(set(own) - set(usable)))
