"""``evaluate``: whole-tile metrics of a checkpoint on a dataset split, with a table and a plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from landseg.utils import atomic_write_text, write_json


@dataclass
class EvalResult:
    scores: dict[str, Any]
    confmat: list[list[int]]
    out_dir: Path
    metrics_json: Path
    table_md: Path
    confusion_png: Path


def evaluate(checkpoint: str | Path, data: str | Path, split: str | None = "Val", out: str | Path = "runs/eval",
             *, model: str | None = None, options: dict[str, Any] | None = None, num_classes: int | None = None,
             mask_dir: str = "masks_png", batch_size: int = 4, num_workers: int = 0, precision: str = "32",
             device: str = "cpu", progress: bool = True) -> EvalResult:
    """Score ``checkpoint`` on every tile of ``data/split`` (validation transform, whole tiles).

    Writes ``metrics.json`` (all scores + confusion matrix), ``metrics.md`` (per-class table) and
    ``confusion_matrix.png`` (row-normalised) into ``out``.
    """
    from tqdm import tqdm

    from landseg.data import SegmentationDataset, val_transform
    from landseg.inference import load_model, predict_logits
    from landseg.metrics import ConfusionMatrix, per_class_markdown, segmentation_scores
    from landseg.plots import plot_confusion_matrix

    loaded = load_model(checkpoint, model=model, options=options, num_classes=num_classes)
    classes = loaded.classes
    ds = SegmentationDataset(data, split, classes=classes, mask_dir=mask_dir,
                             transform=val_transform(mean=tuple(loaded.mean), std=tuple(loaded.std)))
    net = loaded.model.to(device)
    confmat = ConfusionMatrix(len(classes), ignore_index=classes.ignore_index)
    loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers)
    for batch in tqdm(loader, desc=f"evaluate {Path(data).name}/{split}", disable=not progress, unit="batch"):
        logits = predict_logits(net, batch["image"].to(device), precision=precision)
        confmat.update(logits.argmax(1).cpu(), batch["mask"])
    cm = confmat.compute()
    scores = segmentation_scores(cm, classes)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"checkpoint": str(checkpoint), "data": str(data), "split": split, "mask_dir": mask_dir,
               "tiles": len(ds), "classes": classes.names, "scores": scores, "confusion_matrix": cm.tolist()}
    metrics_json = write_json(out_dir / "metrics.json", payload)
    title = f"{Path(str(checkpoint)).name} on {split} ({len(ds)} tiles)"
    table_md = atomic_write_text(out_dir / "metrics.md", f"# {title}\n\n" + per_class_markdown(scores, classes) + "\n")
    png = plot_confusion_matrix(cm, classes, out_dir / "confusion_matrix.png", title=title)
    return EvalResult(scores=scores, confmat=cm.tolist(), out_dir=out_dir, metrics_json=metrics_json,
                      table_md=table_md, confusion_png=Path(png))
