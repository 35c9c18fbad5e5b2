"""Evaluate a checkpoint on a dataset split: metrics JSON, per-class table, confusion matrix PNG.

Examples:
  landseg evaluate --checkpoint runs/demo/baseline/checkpoints/best.ckpt --data runs/demo/data --split Val --out runs/demo/eval
  landseg evaluate --checkpoint geoseg.ckpt --model ftunetformer --data /data/biodiversity --split Val/Rural --out eval/
"""

from __future__ import annotations

import argparse

NAME = "evaluate"
HELP = "score a checkpoint on a split (metrics.json, metrics.md, confusion_matrix.png)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="landseg or GeoSeg checkpoint (.ckpt/.pth)")
    p.add_argument("--data", required=True, help="dataset root (LoveDA layout or flat)")
    p.add_argument("--split", default="Val", help="split folder, e.g. Val or Val/Rural (default: Val)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--mask-dir", default="masks_png", help="mask folder name (e.g. masks_png_clean)")
    p.add_argument("--model", default=None, help="model name for checkpoints that record none (GeoSeg)")
    p.add_argument("--model-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor option for --model, repeatable (e.g. decode_channels=256)")
    p.add_argument("--num-classes", type=int, default=None, help="class count for GeoSeg checkpoints (default 6)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--precision", default="32", choices=["32", "bf16"], help="bf16 autocast is ~2.8x faster on AMX CPUs")
    p.add_argument("--device", default="cpu")


def parse_options(items: list[str]) -> dict:
    from landseg.training.config import parse_override

    out = {}
    for item in items:
        keys, value = parse_override(item)
        out[".".join(keys)] = value
    return out


def run(args: argparse.Namespace) -> int:
    from landseg.evaluation import evaluate

    res = evaluate(args.checkpoint, args.data, args.split, args.out, model=args.model,
                   options=parse_options(args.model_opt) or None, num_classes=args.num_classes,
                   mask_dir=args.mask_dir, batch_size=args.batch_size, num_workers=args.workers,
                   precision=args.precision, device=args.device)
    print(res.table_md.read_text())
    print(f"wrote {res.metrics_json}, {res.table_md}, {res.confusion_png}")
    return 0
