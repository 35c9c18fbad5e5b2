"""Replace ground-truth masks with the reviewed predictions, in whichever split holds each image.

The whole original mask set is first copied once to <root>_masks_original_backup (with a sha256
manifest); the replacement is journaled: resumable after a crash (re-run the same command),
reversible with `landseg undo JOURNAL`, and a second run changes nothing.

Examples:
  landseg replace-masks --decisions runs/review/decisions.csv --data-root data/biodiversity --dry-run
  landseg replace-masks --decisions runs/review/decisions.csv --data-root data/biodiversity
"""

from __future__ import annotations

import argparse

NAME = "replace-masks"
HELP = "put reviewed predictions in place of GT masks across all splits (backup, journal, undo)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decisions", required=True, help="decisions.csv from `landseg review DIR --export`")
    p.add_argument("--data-root", required=True, help="dataset root (LoveDA layout with any splits/domains, or flat)")
    p.add_argument("--mask-dir", default="masks_png", help="mask folder name (default masks_png)")
    p.add_argument("--backup", default=None, help="original-mask backup folder (default <root>_masks_original_backup)")
    p.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from landseg.correction.replace import replace_masks

    res = replace_masks(args.decisions, args.data_root, mask_dir=args.mask_dir, backup=args.backup,
                        dry_run=args.dry_run, progress=not args.no_progress)
    print(res.report())
    if args.dry_run and res.plan_text:
        print(res.plan_text)
    return 0
