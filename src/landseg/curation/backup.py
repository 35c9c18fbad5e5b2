"""Where a dataset's original masks are kept when ``replace-masks`` corrects it, and how to know one.

Below both the correction (which writes the backup) and the evaluation (which scores against it).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BACKUP_MANIFEST", "corrected_backup", "original_backup"]

#: The sha256 manifest that makes a folder a landseg mask backup.
BACKUP_MANIFEST = "SHA256SUMS"


def original_backup(root: str | Path) -> Path:
    """``<root>_masks_original_backup`` beside the dataset root."""
    root = Path(root)
    return root.with_name(f"{root.name}_masks_original_backup")


def corrected_backup(data: str | Path) -> Path | None:
    """The original-mask backup ``replace-masks`` made for this dataset root, if any."""
    backup = original_backup(Path(data).resolve())
    return backup if (backup / BACKUP_MANIFEST).is_file() else None
