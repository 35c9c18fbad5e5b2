"""``combine_datasets``: merge several datasets into one flat training folder, with a manifest.

Files are hard-linked (copied where links are impossible), name clashes are refused, and the
whole merge — including the manifest — goes through the journal, so combining into an existing
folder can be resumed after a crash and undone byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

from landseg.classes import BIODIVERSITY, ClassTable
from landseg.curation.journal import STAGING, Journal, Op, describe_ops
from landseg.data.files import find_pairs
from landseg.errors import ConfigError, DatasetError
from landseg.utils import atomic_write_text, sha256_file

MANIFEST = "manifest.csv"


@dataclass(frozen=True)
class Source:
    name: str
    root: Path
    prefix: str = ""

    @classmethod
    def parse(cls, text: str) -> Source:
        """``NAME=ROOT[:prefix]`` (e.g. ``oem=data/oem_bio:oem_``)."""
        if "=" not in text:
            raise ConfigError(f"--source {text!r} must look like NAME=ROOT or NAME=ROOT:prefix.")
        name, rest = text.split("=", 1)
        root, _, prefix = rest.partition(":")
        if not name or not root:
            raise ConfigError(f"--source {text!r} must look like NAME=ROOT or NAME=ROOT:prefix.")
        return cls(name, Path(root), prefix)


@dataclass
class CombineResult:
    out: Path
    added: dict[str, int]
    skipped: int
    total: int
    journal: Path | None
    dry_run: bool
    plan_text: str = ""

    def report(self) -> str:
        verb = "Would add" if self.dry_run else "Added"
        parts = ", ".join(f"{n}: {c}" for n, c in self.added.items())
        lines = [f"{verb} {sum(self.added.values())} tile pairs to {self.out} ({parts}); "
                 f"{self.skipped} already present; {self.total} tiles in the combined set."]
        if self.journal:
            lines.append(f"Manifest: {self.out / MANIFEST}.  Journal: {self.journal}  (undo with: landseg undo {self.journal})")
        return "\n".join(lines)


def _read_manifest(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def combine_datasets(sources: list[Source], out: str | Path, *, split: str = "Train",
                     classes: ClassTable = BIODIVERSITY, dry_run: bool = False, workers: int = 1,
                     progress: bool = True) -> CombineResult:
    """Link every image/mask pair of ``sources`` into ``out/<split>/images_png|masks_png``."""
    from landseg.curation.stats import dataset_stats

    if not sources:
        raise ConfigError("Give at least one --source NAME=ROOT[:prefix].")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"Source names must be unique: {names}.")
    out = Path(out).resolve()
    signature = "combine|" + "|".join(f"{s.name}={s.root.resolve()}:{s.prefix}" for s in sources) + f"|{out}|{split}"
    pending = Journal.resume_or_check(out, signature) if out.exists() else None
    if pending is not None and not dry_run:
        pending.apply(progress=progress)
        s = pending.plan["summary"]
        return CombineResult(out, s["added"], s["skipped"], s["total"], pending.path, False)

    img_dir, mask_dir = out / split / "images_png", out / split / "masks_png"
    manifest_path = out / MANIFEST
    rows = {r["file"]: r for r in _read_manifest(manifest_path)}
    planned: dict[str, tuple[str, Path]] = {}  # output name -> (source, original image)
    ops: list[Op] = []
    added: dict[str, int] = {}
    skipped = 0
    for src in sources:
        if not src.root.is_dir():
            raise DatasetError(f"Source {src.name!r}: folder {src.root} does not exist.")
        pairs = find_pairs(src.root)
        stats = dataset_stats(src.root, classes=classes, workers=workers, progress=progress)
        fractions = dict(zip(stats.names, stats.fractions("all").tolist(), strict=True))
        added[src.name] = 0
        for image, mask in pairs:
            assert mask is not None
            name = f"{src.prefix}{image.stem}"
            if name in planned:
                other = planned[name]
                raise DatasetError(f"Name clash: {name!r} comes from {other[0]} ({other[1]}) and from {src.name} "
                                   f"({image}). Give the sources different prefixes (NAME=ROOT:prefix).")
            planned[name] = (src.name, image)
            pair = [Op.plan("link", image, img_dir / f"{name}{image.suffix}"),
                    Op.plan("link", mask, mask_dir / f"{name}.png")]
            for op in pair:
                if Path(op.dst).exists() and sha256_file(op.dst) != op.sha256:
                    raise DatasetError(f"Name clash: {op.dst} already exists with other content than {op.src}. "
                                       "Use a prefix for this source or another --out.")
            todo = [op for op in pair if not Path(op.dst).exists()]
            if not todo:
                skipped += 1
                continue
            ops += todo
            added[src.name] += 1
            mask_sha = pair[1].sha256
            rows[f"{name}.png"] = {"file": f"{name}.png", "image": f"{name}{image.suffix}", "source": src.name,
                                   "original_image": str(image.resolve()), "original_mask": str(mask.resolve()),
                                   "sha256": mask_sha,
                                   **{f"frac_{c}": f"{v:.6f}" for c, v in zip(classes.names, fractions[image.stem],
                                                                              strict=True)}}
    total = len(rows)
    summary = {"added": added, "skipped": skipped, "total": total}
    result = CombineResult(out, added, skipped, total, None, dry_run)
    if not ops:
        result.plan_text = describe_ops("combine", ops)
        return result
    # The manifest is part of the change: stage it, back up the old one, then link the new one in.
    if dry_run:
        result.plan_text = describe_ops("combine", ops + [Op("copy", "<new manifest>", str(manifest_path), "-", 0)])
        return result
    staging = out / STAGING / hashlib.sha256(f"{signature}|{time.time_ns()}".encode()).hexdigest()[:16]
    staged = atomic_write_text(staging / MANIFEST, _manifest_text(list(rows.values()), classes))
    manifest_ops = []
    if manifest_path.exists():
        manifest_ops.append(Op.plan("move", manifest_path, staging / f"previous_{MANIFEST}"))
    manifest_ops.append(Op.plan("copy", staged, manifest_path))
    journal = Journal.create(out, "combine", signature, ops + manifest_ops, summary=summary)
    journal.apply(progress=progress)
    result.journal = journal.path
    return result


def _manifest_text(rows: list[dict[str, str]], classes: ClassTable) -> str:
    fields = ["file", "image", "source", "original_image", "original_mask", "sha256",
              *[f"frac_{c}" for c in classes.names]]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["file"]):
        writer.writerow(row)
    return buf.getvalue()
