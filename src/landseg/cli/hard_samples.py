"""Score every tile of a split with a checkpoint and turn per-tile difficulty into sampling weights.

Each tile is predicted whole with the validation transform (no augmentation, so two runs write
identical files); --window predicts large tiles with overlapping windows instead. Per tile the
per-class IoU and mean IoU become a weight by one of three policies:

  tiers       mean IoU >= 0.8 -> 1, >= 0.7 -> 2, >= 0.6 -> 3, >= 0.5 -> 4.5, else 6  (--tiers)
  additive    1 + (2 if mean IoU < 0.6, 1 if < 0.7) + 1.5 per --hard-classes class with
              IoU < 0.6 on >= --min-pixels truth pixels (the seed's rule)
  continuous  1 + (w_max-1) * ((1 - mean IoU) / (1 - iou_min))^gamma, clipped to [1, w_max]

Writes OUT/sample_weights.tsv (name<TAB>weight, keyed and sorted by tile name),
OUT/hard_samples_analysis.json (per-tile IoU, pixels, weight and why) and
OUT/hard_samples_tables.md (the weight-tier and per-class difficulty tables, also printed).

Examples:
  landseg hard-samples --model runs/demo/baseline/checkpoints/best.ckpt --data runs/demo/data --out runs/demo/hard
  landseg hard-samples --model best.ckpt --data /data/bio --split Train/Rural --out hard \\
      --policy additive --hard-classes "Settlement,SemiNatural Grassland" --min-pixels 200
  landseg hard-samples --model best.ckpt --data /data/bio --out hard --policy continuous --w-max 4 --gamma 2
  landseg hard-samples --model best.ckpt --data /data/bio --out hard --tiers 0.75:1,0.5:3,0:5 --window 512 --overlap 128
"""

from __future__ import annotations

import argparse

from landseg.cli.common import add_data_arguments, add_model_arguments, add_runtime_arguments, model_options

NAME = "hard-samples"
HELP = "per-tile difficulty of a checkpoint and sampling weights (sample_weights.tsv)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    add_data_arguments(p, split="Train")
    pol = p.add_argument_group("weight policy (options of another policy are refused)")
    pol.add_argument("--policy", default="tiers", choices=["tiers", "additive", "continuous"],
                     help="how mean/per-class IoU become a weight (default tiers)")
    pol.add_argument("--tiers", default=None, metavar="T:W,...",
                     help="tiers: MIN_MEAN_IOU:WEIGHT pairs, one with threshold 0 (default 0.8:1,0.7:2,0.6:3,0.5:4.5,0:6)")
    pol.add_argument("--hard-classes", default=None, metavar="NAME,...",
                     help="additive: comma-separated class names that add 1.5 when hard (default: all but class 0)")
    pol.add_argument("--min-pixels", type=int, default=None,
                     help="additive: truth pixels a class needs in a tile to count as hard (default 100)")
    pol.add_argument("--w-max", type=float, default=None, help="continuous: weight of the hardest tiles (default 6)")
    pol.add_argument("--iou-min", type=float, default=None,
                     help="continuous: mean IoU at or below which a tile gets w_max (default 0.3)")
    pol.add_argument("--gamma", type=float, default=None, help="continuous: curve exponent, 1 = linear (default 1)")
    p.add_argument("--window", type=int, default=None,
                   help="predict tiles larger than N pixels with a sliding window of N (default: whole tiles)")
    p.add_argument("--overlap", type=int, default=128, help="sliding-window overlap in pixels (default 128)")
    add_runtime_arguments(p, batch_size=1, batch_help="tiles per forward pass; tiles must share a size")
    p.add_argument("--no-progress", action="store_true", help="do not show a progress bar")


def run(args: argparse.Namespace) -> int:
    from landseg.evaluation.hard_samples import analyze_hard_samples
    from landseg.evaluation.weight_policy import parse_policy

    policy = parse_policy(args.policy, tiers=args.tiers, hard_classes=args.hard_classes, min_pixels=args.min_pixels,
                          w_max=args.w_max, iou_min=args.iou_min, gamma=args.gamma)
    res = analyze_hard_samples(args.model, args.data, args.split, args.out, policy=policy, **model_options(args),
                               mask_dir=args.mask_dir, window=args.window, overlap=args.overlap,
                               batch_size=args.batch_size, precision=args.precision, device=args.device,
                               progress=not args.no_progress)
    print(res.report)
    print(f"wrote {res.weights_tsv}, {res.analysis_json}, {res.tables_md}")
    return 0
