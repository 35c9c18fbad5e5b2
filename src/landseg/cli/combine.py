"""Merge datasets into one flat training folder (OUT/Train/images_png|masks_png) with a manifest.

Files are hard-linked (copied when links are impossible); a name that two sources would both
write is refused. OUT/manifest.csv lists every file with its source, original path, sha256 and
per-class pixel fractions. Combining into an existing folder adds to it; the change is journaled
(resumable after a crash, reversible with `landseg undo JOURNAL`).

Examples:
  landseg combine --source bio=data/biodiversity_corrected/Train/Rural --source oem=data/oem_bio \\
      --out data/biodiversity_combined
  landseg combine --source a=runs/demo/data/Train/Rural --source b=runs/demo/oem:oem_ --out runs/demo/combined --dry-run
"""

from __future__ import annotations

import argparse

NAME = "combine"
HELP = "merge datasets into one flat Train folder with a manifest (undoable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", action="append", required=True, metavar="NAME=ROOT[:prefix]",
                   help="a dataset folder (flat or one LoveDA split/domain); repeatable")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--split", default="Train", help="split folder written under OUT (default Train)")
    p.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    p.add_argument("--workers", type=int, default=1, help="processes for class statistics (default 1)")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from landseg.curation.combine import Source, combine_datasets

    res = combine_datasets([Source.parse(s) for s in args.source], args.out, split=args.split,
                           dry_run=args.dry_run, workers=args.workers, progress=not args.no_progress)
    print(res.report())
    if args.dry_run:
        print(res.plan_text)
    return 0
