"""Rebuild a ready-to-run model from a checkpoint alone (landseg) or with user options (GeoSeg)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from landseg.classes import BIODIVERSITY, ClassTable
from landseg.errors import CheckpointError
from landseg.models import build_model, load_weights, read_checkpoint
from landseg.models.registry import model_defaults


@dataclass
class LoadedModel:
    model: nn.Module
    classes: ClassTable
    mean: list[float]
    std: list[float]
    tile_size: int
    source: str
    meta: dict[str, Any] = field(default_factory=dict)


def load_model(path: str | Path, model: str | None = None, options: dict[str, Any] | None = None,
               classes: ClassTable | None = None, num_classes: int | None = None) -> LoadedModel:
    """Load a checkpoint for inference (eval mode).

    A landseg checkpoint records its model, classes and normalisation, so nothing else is needed.
    A GeoSeg checkpoint records none of these: pass ``model`` (and ``options``); the classes default
    to the biodiversity table (or ``num_classes`` generic classes).
    """
    ckpt = read_checkpoint(path)
    meta = ckpt.get("landseg")
    if isinstance(meta, dict) and model is None:
        spec = meta["model"]
        table = ClassTable.from_list(meta["classes"], ignore_index=int(meta.get("ignore_index", 255)))
        net = build_model(spec["name"], int(spec["num_classes"]), **{**spec.get("options", {}), **(options or {})})
        d = model_defaults(spec["name"])
        norm = meta.get("normalization", {"mean": d.mean, "std": d.std})
        tile = int(meta.get("tile_size", d.tile))
        source = "landseg"
    else:
        if model is None:
            raise CheckpointError(
                f"{path} is not a landseg checkpoint (it records no model), e.g. a GeoSeg checkpoint: "
                "pass --arch NAME (in Python: model=NAME, e.g. ftunetformer) and any model options it was built with.")
        if classes is None:
            n = num_classes or len(BIODIVERSITY)
            classes = BIODIVERSITY if n == len(BIODIVERSITY) else ClassTable.from_list(
                [{"name": f"class_{i}", "color": [(37 * i) % 256, (97 * i) % 256, (173 * i) % 256]} for i in range(n)])
        table = classes
        net = build_model(model, len(table), **(options or {}))
        d = model_defaults(model)
        norm, tile, source, meta = {"mean": d.mean, "std": d.std}, d.tile, "geoseg", {}
    load_weights(net, path, strict=True)
    net.eval()
    return LoadedModel(model=net, classes=table, mean=list(norm["mean"]), std=list(norm["std"]), tile_size=tile,
                       source=source, meta=meta or {})
