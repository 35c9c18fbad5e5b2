"""Data lineage: which masks a stage read or wrote, by path and content fingerprint.

Why: a stage record that names only a folder cannot show that a model was trained on the corrected
masks rather than the originals (the seed workflow's real-data pipeline once read the originals
after correction, silently). A fingerprint hashes the bytes of every mask the stage used, so two
records agree exactly when the masks were the same.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DataUse", "mask_files", "fingerprint", "tree_state"]

_MASK_SUFFIXES = (".png", ".tif", ".tiff")


@dataclass(frozen=True)
class DataUse:
    """One dataset a stage used: its role (train, val, score, ...), root, split and mask folder name."""

    role: str
    root: str
    split: str | None = None
    mask_dir: str = "masks_png"


def mask_files(root: str | Path, split: str | None = None, mask_dir: str = "masks_png") -> list[Path]:
    """Every mask under ``root/split`` in a folder named ``mask_dir`` (any depth: Val covers Val/Rural)."""
    base = Path(root) / split if split else Path(root)
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*") if p.parent.name == mask_dir and p.suffix.lower() in _MASK_SUFFIXES
                  and p.is_file())


def fingerprint(use: DataUse) -> dict[str, Any]:
    """The record of one use: path, split, mask folder, mask count and a sha256 of names + bytes."""
    root = Path(use.root)
    files = mask_files(root, use.split, use.mask_dir)
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return {"role": use.role, "path": str(use.root), "split": use.split, "mask_dir": use.mask_dir,
            "masks": len(files), "sha256": h.hexdigest()[:16] if files else None}


def tree_state(root: str | Path) -> str:
    """A cheap fingerprint of a user's folder (names, sizes, mtimes): a changed dataset re-runs its stage.

    Content hashes of every image would cost minutes on a real dataset at every pipeline start;
    names, sizes and modification times change whenever a file is replaced, added or removed.
    """
    root = Path(root)
    h = hashlib.sha256()
    if root.is_file():
        st = root.stat()
        h.update(f"{root.name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            try:
                st = p.stat()
            except OSError:
                continue
            h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]
