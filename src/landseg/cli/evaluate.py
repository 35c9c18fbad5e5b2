"""Evaluate a checkpoint on a dataset split: metrics JSON, per-class table, confusion matrix PNG.

Examples:
  landseg evaluate --model runs/demo/baseline/checkpoints/best.ckpt --data runs/demo/data --split Val --out runs/demo/eval
  landseg evaluate --model best.ckpt --data data/bio --split Val --out eval/ \\
      --original-masks data/bio_masks_original_backup       # corrected vs original masks, side by side
  landseg evaluate --model geoseg.ckpt --arch ftunetformer --data /data/biodiversity --split Val/Rural --out eval/
"""

from __future__ import annotations

import argparse

from landseg.cli.common import add_data_arguments, add_model_arguments, add_runtime_arguments, model_options

NAME = "evaluate"
HELP = "score a checkpoint on a split (metrics.json, metrics.md, confusion_matrix.png)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    add_data_arguments(p, split="Val")
    p.add_argument("--original-masks", default=None, metavar="BACKUP",
                   help="also score against these original masks (the backup replace-masks made), side by side")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    add_runtime_arguments(p, batch_size=4)


def run(args: argparse.Namespace) -> int:
    import sys

    from landseg.evaluation.evaluator import evaluate

    res = evaluate(args.model, args.data, args.split, args.out, **model_options(args),
                   mask_dir=args.mask_dir, batch_size=args.batch_size, num_workers=args.workers,
                   precision=args.precision, device=args.device, original_masks=args.original_masks)
    print(res.table_md.read_text())
    for warning in res.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(f"wrote {res.metrics_json}, {res.table_md}, {res.confusion_png}")
    return 0
