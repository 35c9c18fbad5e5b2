"""Remove tiles dominated by one class by moving them (image and mask) to a backup folder.

Nothing is deleted: the move is journaled, resumable after a crash (re-run the same command) and
reversible with `landseg undo JOURNAL`. The denominator of the class share is explicit: pixels
that carry a label, or all pixels (they differ when a tile has ignore pixels).

Examples:
  landseg filter data/biodiversity_combined/Train --class Settlement --max-fraction 0.5 --dry-run
  landseg filter data/biodiversity_combined/Train --class Settlement --max-fraction 0.5 --denominator all
  landseg filter runs/demo/combined/Train --class Settlement --backup runs/demo/settlement_backup
"""

from __future__ import annotations

import argparse

NAME = "filter"
HELP = "move tiles whose share of a class exceeds a threshold to a backup folder (undoable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset folder (flat images_png/masks_png, or LoveDA layout with --split)")
    p.add_argument("--class", dest="class_name", required=True, help="class name, e.g. Settlement")
    p.add_argument("--max-fraction", type=float, default=0.5, help="remove tiles above this share (default 0.5)")
    p.add_argument("--denominator", choices=["labelled", "all"], default="labelled",
                   help="share of labelled pixels (default) or of all pixels")
    p.add_argument("--split", default=None, help="split inside a LoveDA-layout dataset (e.g. Train/Rural)")
    p.add_argument("--backup", default=None, help="backup folder (default <dataset>_<class>_filtered_backup)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the statistics; change nothing")
    p.add_argument("--workers", type=int, default=1, help="processes for class statistics (default 1)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from landseg.curation.filter import filter_dataset

    res = filter_dataset(args.dataset, args.class_name, args.max_fraction, denominator=args.denominator,
                         split=args.split, backup=args.backup, dry_run=args.dry_run, workers=args.workers,
                         progress=not args.no_progress)
    print(res.report())
    if args.dry_run and res.removed:
        print(res.plan_text)
    return 0
