"""``evaluate``: whole-tile metrics of a checkpoint on a dataset split, with a table and a plot."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from landseg.curation.backup import corrected_backup
from landseg.data.files import read_mask
from landseg.errors import DatasetError
from landseg.utils import atomic_write_text, markdown_table, write_json


@dataclass
class EvalResult:
    scores: dict[str, Any]
    confmat: list[list[int]]
    out_dir: Path
    metrics_json: Path
    table_md: Path
    confusion_png: Path
    original_scores: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    #: The precision the model ran in, with its reason (landseg.precision).
    precision: dict[str, str] = field(default_factory=dict)


CORRECTED_WARNING = ("Masks of this split were corrected with model predictions: scores against corrected masks "
                     "favour the models that produced them. Judge models on the untouched Test split.")


def _split_was_corrected(backup: Path, data: Path, mask_paths: list[Path]) -> bool:
    from landseg.utils import sha256_file

    for mask in mask_paths:
        original = backup / mask.resolve().relative_to(data.resolve())
        if original.is_file() and sha256_file(original) != sha256_file(mask):
            return True
    return False


def evaluate(checkpoint: str | Path, data: str | Path, split: str | None = "Val", out: str | Path = "runs/eval",
             *, model: str | None = None, options: dict[str, Any] | None = None, num_classes: int | None = None,
             mask_dir: str = "masks_png", batch_size: int = 4, num_workers: int = 0, precision: str = "auto",
             device: str = "cpu", progress: bool = True, original_masks: str | Path | None = None) -> EvalResult:
    """Score ``checkpoint`` on every tile of ``data/split`` (validation transform, whole tiles).

    Writes ``metrics.json`` (all scores + confusion matrix), ``metrics.md`` (per-class table) and
    ``confusion_matrix.png`` (row-normalised) into ``out``. With ``original_masks`` (the backup
    ``replace-masks`` made) the same predictions are also scored against the original masks, side
    by side; a split whose masks were corrected always gets a warning.
    """
    from tqdm import tqdm

    from landseg.data import SegmentationDataset, val_transform
    from landseg.evaluation.metrics import ConfusionMatrix, per_class_markdown, segmentation_scores
    from landseg.inference import load_model, predict_logits
    from landseg.plots import plot_confusion_matrix
    from landseg.precision import resolve_precision

    choice = resolve_precision(precision, device, "evaluate")
    loaded = load_model(checkpoint, model=model, options=options, num_classes=num_classes)
    classes = loaded.classes
    ds = SegmentationDataset(data, split, classes=classes, mask_dir=mask_dir,
                             transform=val_transform(mean=tuple(loaded.mean), std=tuple(loaded.std)))
    net = loaded.model.to(device)
    data = Path(data)
    masks = [m for _, m in ds.pairs if m is not None]
    originals = None
    if original_masks is not None:
        originals = {p.stem: Path(original_masks) / p.resolve().relative_to(data.resolve()) for p in masks}
        missing = [str(p) for p in originals.values() if not p.is_file()]
        if missing:
            raise DatasetError(f"--original-masks {original_masks} lacks {len(missing)} masks of this split "
                               f"(e.g. {missing[0]}); pass the backup replace-masks made for {data}.")
    warnings = []
    backup = corrected_backup(data)
    if backup is not None and _split_was_corrected(backup, data, masks):
        warnings.append(CORRECTED_WARNING + ("" if originals else f" Compare with --original-masks {backup}."))
    confmat = ConfusionMatrix(len(classes), ignore_index=classes.ignore_index)
    original_cm = ConfusionMatrix(len(classes), ignore_index=classes.ignore_index)
    loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers)
    for batch in tqdm(loader, desc=f"evaluate {data.name}/{split}", disable=not progress, unit="batch"):
        preds = predict_logits(net, batch["image"].to(device), precision=choice.name).argmax(1).cpu()
        confmat.update(preds, batch["mask"])
        if originals is not None:
            target = torch.stack([torch.from_numpy(read_mask(originals[n]).astype("int64")) for n in batch["name"]])
            original_cm.update(preds, target)
    cm = confmat.compute()
    scores = segmentation_scores(cm, classes)
    original_scores = segmentation_scores(original_cm.compute(), classes) if originals is not None else None
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"checkpoint": str(checkpoint), "data": str(data), "split": split, "mask_dir": mask_dir,
               "tiles": len(ds), "classes": classes.names, "scores": scores, "confusion_matrix": cm.tolist(),
               "warnings": warnings, "precision": choice.to_dict()}
    title = f"{Path(str(checkpoint)).name} on {split} ({len(ds)} tiles)"
    text = f"# {title}\n\n" + "".join(f"> **Warning:** {w}\n\n" for w in warnings)
    if original_scores is not None:
        payload["original_masks"] = str(original_masks)
        payload["original_scores"] = original_scores
        payload["original_confusion_matrix"] = original_cm.compute().tolist()
        rows = [[label, f"{100 * s['mIoU']:.2f}", f"{100 * s['mF1']:.2f}", f"{100 * s['OA']:.2f}"]
                for label, s in (("corrected", scores), ("original", original_scores))]
        text += (markdown_table(["masks", scores["labels"]["mIoU"], "mF1", "OA"], rows, [False, True, True, True],
                                pad=False) + "\n\n## Against the corrected masks\n\n")
    text += per_class_markdown(scores, classes) + "\n"
    if original_scores is not None:
        text += "\n## Against the original masks\n\n" + per_class_markdown(original_scores, classes) + "\n"
    metrics_json = write_json(out_dir / "metrics.json", payload)
    table_md = atomic_write_text(out_dir / "metrics.md", text)
    png = plot_confusion_matrix(cm, classes, out_dir / "confusion_matrix.png", title=title)
    return EvalResult(scores=scores, confmat=cm.tolist(), out_dir=out_dir, metrics_json=metrics_json,
                      table_md=table_md, confusion_png=Path(png), original_scores=original_scores,
                      warnings=warnings, precision=choice.to_dict())
