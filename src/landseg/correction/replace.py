"""``replace_masks``: put reviewed predictions in place of ground-truth masks, across all splits.

Before the first change the whole original mask set is copied once to
``<root>_masks_original_backup`` with a sha256 manifest (the seed backed up all 2,307 masks).
Replacements then go through the curation journal (atomic, resumable after ``kill -9``,
reversible with ``landseg undo``). Predicted masks are written as plain 8-bit class-index PNGs
(mode L), the format GeoSeg's loaders read; a palette PNG would be decoded to colours there.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from landseg.correction import CHOICES, DECISION_COLUMNS
from landseg.curation.backup import BACKUP_MANIFEST, original_backup
from landseg.curation.journal import STAGING, Journal, Op, describe_ops
from landseg.data.files import read_mask
from landseg.errors import DatasetError
from landseg.utils import atomic_write_text, sha256_file


@dataclass
class ReplaceResult:
    root: Path
    replaced: dict[str, int]                 # choice (A/B) -> masks replaced now
    kept_gt: int
    skipped: int
    already: int                             # predictions already in place (re-run)
    not_found: list[str]
    backup: Path
    journal: Path | None
    dry_run: bool
    plan_text: str = ""
    notes: list[str] = field(default_factory=list)

    def report(self) -> str:
        verb = "Would replace" if self.dry_run else "Replaced"
        lines = [f"{verb} {sum(self.replaced.values())} masks: {self.replaced.get('A', 0)} from A, "
                 f"{self.replaced.get('B', 0)} from B; kept GT {self.kept_gt}; skipped {self.skipped}; "
                 f"already replaced {self.already}; not found {len(self.not_found)}"]
        if self.not_found:
            lines.append("Not found in any split: " + ", ".join(self.not_found))
        if not self.dry_run:
            lines.append(f"Original masks backed up in {self.backup} (sha256 manifest: {self.backup / BACKUP_MANIFEST})")
        if self.journal:
            lines.append(f"Journal: {self.journal}  (undo with: landseg undo {self.journal})")
        return "\n".join(lines + self.notes)


def read_decisions(path: str | Path) -> list[dict[str, str]]:
    """Read and validate a decisions.csv (one row per image; the last row for an image wins)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Decisions file not found: {path} (export it with `landseg review DIR --export`).")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("image", "choice", "prediction") if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path} lacks column(s) {', '.join(missing)}; expected {', '.join(DECISION_COLUMNS)}.")
        latest: dict[str, dict[str, str]] = {}
        for lineno, row in enumerate(reader, start=2):
            if row["choice"] not in CHOICES:
                raise DatasetError(f"{path}:{lineno}: choice {row['choice']!r} is not one of {', '.join(CHOICES)}.")
            if row["choice"] in ("A", "B") and not Path(row["prediction"] or "").is_file():
                raise DatasetError(f"{path}:{lineno}: prediction file {row['prediction']!r} for {row['image']} "
                                   "does not exist.")
            latest[Path(row["image"]).stem] = row
    return list(latest.values())


def index_masks(root: Path, mask_dir: str = "masks_png") -> dict[str, list[Path]]:
    """Every mask under ``root`` (any split/domain, or flat) by file stem."""
    found: dict[str, list[Path]] = {}
    for folder in sorted(p for p in root.rglob(mask_dir) if p.is_dir() and ".landseg" not in p.parts):
        for mask in sorted(folder.glob("*.png")):
            found.setdefault(mask.stem, []).append(mask)
    return found


def _png_l(mask: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def backup_all_masks(root: Path, backup: Path, masks: dict[str, list[Path]]) -> bool:
    """Copy every original mask once into ``backup`` with a sha256 manifest; False if it exists.

    The copy is built in ``<backup>.partial`` and renamed when complete, so a killed backup is
    never mistaken for a finished one.
    """
    if (backup / BACKUP_MANIFEST).is_file():
        return False
    if backup.exists():
        raise DatasetError(f"{backup} exists but has no {BACKUP_MANIFEST}; it is not a landseg mask backup. "
                           "Move it away or pass another --backup.")
    partial = backup.with_name(backup.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    lines = []
    for paths in masks.values():
        for src in paths:
            rel = src.relative_to(root)
            dst = partial / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            lines.append(f"{sha256_file(dst)}  {rel.as_posix()}")
    atomic_write_text(partial / BACKUP_MANIFEST, "\n".join(sorted(lines, key=lambda s: s[66:])) + "\n")
    os.replace(partial, backup)
    return True


def replace_masks(decisions: str | Path, data_root: str | Path, *, mask_dir: str = "masks_png",
                  backup: str | Path | None = None, dry_run: bool = False, progress: bool = True) -> ReplaceResult:
    """Replace each mask whose decision chose a prediction (A or B); report what happened to every row."""
    root = Path(data_root).resolve()
    if not root.is_dir():
        raise DatasetError(f"Dataset root not found: {root}")
    backup = Path(backup).resolve() if backup else original_backup(root)
    rows = read_decisions(decisions)
    masks = index_masks(root, mask_dir)
    signature = f"replace-masks|{Path(decisions).resolve()}|{root}|{mask_dir}"
    pending = Journal.resume_or_check(root, signature)
    if pending is not None and not dry_run:
        pending.apply(progress=progress)
        s = pending.plan["summary"]
        return ReplaceResult(root, s["replaced"], s["kept_gt"], s["skipped"], s["already"], s["not_found"], backup,
                             pending.path, False, notes=["(resumed an interrupted run and finished it)"])

    replaced = {"A": 0, "B": 0}
    kept = skipped = already = 0
    not_found: list[str] = []
    staged: list[tuple[Path, bytes, Path]] = []  # (mask to replace, new bytes, prediction)
    for row in rows:
        name, choice = Path(row["image"]).stem, row["choice"]
        if choice == "GT":
            kept += 1
            continue
        if choice == "skip":
            skipped += 1
            continue
        if name not in masks:
            not_found.append(name)
            continue
        if len(masks[name]) > 1:
            raise DatasetError(f"{name} has masks in several folders ({', '.join(map(str, masks[name]))}); "
                               "rename the duplicates so each image is unique under the root.")
        target = masks[name][0]
        new = _png_l(read_mask(row["prediction"]))
        if hashlib.sha256(new).hexdigest() == sha256_file(target):
            already += 1
            continue
        staged.append((target, new, Path(row["prediction"])))
        replaced[choice] += 1
    summary = {"replaced": replaced, "kept_gt": kept, "skipped": skipped, "already": already, "not_found": not_found}
    result = ReplaceResult(root, replaced, kept, skipped, already, sorted(not_found), backup, None, dry_run)
    if dry_run or not staged:
        result.plan_text = "\n".join(f"  replace {t} <- {p}" for t, _, p in staged[:20])
        return result
    backup_all_masks(root, backup, masks)
    stage = root / STAGING / f"replace-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
    ops: list[Op] = []
    for target, new, _ in staged:
        rel = target.relative_to(root)
        new_file = stage / "new" / rel
        new_file.parent.mkdir(parents=True, exist_ok=True)
        new_file.write_bytes(new)
        ops.append(Op.plan("move", target, stage / "original" / rel))  # the old mask stays with the journal
        ops.append(Op.plan("copy", new_file, target))
    journal = Journal.create(root, "replace-masks", signature, ops, summary=summary)
    result.plan_text = describe_ops("replace-masks", ops)
    journal.apply(progress=progress)
    result.journal = journal.path
    return result
