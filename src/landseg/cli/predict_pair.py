"""Predict a split with two models (A and B) and rank its ground-truth masks by label quality.

For every tile: both predicted masks (OUT/pred_A|pred_B/<name>.png, palette PNGs of class
indices), colour overlays (OUT/overlay_A|overlay_B|overlay_GT/<name>.jpg), mean IoU and pixel
accuracy of each prediction against the ground truth, the A/B agreement and cleanlab's
label-quality score of the ground truth (softmin over the models' averaged probabilities; ignored
pixels left out). OUT/predictions.csv lists the tiles worst label quality first;
OUT/predict_pair.json records the inputs. The dataset is only read.

Examples:
  landseg predict-pair --model A=runs/baseline/checkpoints/best.ckpt --model B=runs/kd/checkpoints/best.ckpt \\
      --data runs/demo/data --split Val --out runs/correction
  landseg predict-pair --model A=a.ckpt --model B=b.ckpt --data /data/bio --split Train/Rural --out corr \\
      --tta flip --precision auto
  # GeoSeg checkpoints record no model: name it per label
  landseg predict-pair --model A=geoseg.ckpt --arch A=ftunetformer --model B=best.ckpt --data /data/bio --out corr
"""

from __future__ import annotations

import argparse
from typing import Any

from landseg.cli.common import add_runtime_arguments
from landseg.errors import ConfigError

NAME = "predict-pair"
HELP = "predict a split with two models and rank ground-truth masks by label quality (predictions.csv)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", action="append", default=[], metavar="LABEL=CKPT", required=True,
                   help="a labelled checkpoint; give exactly two: --model A=a.ckpt --model B=b.ckpt")
    p.add_argument("--data", required=True, help="dataset root (LoveDA layout or flat)")
    p.add_argument("--split", default="Val", help="split folder, e.g. Val or Train/Rural (default: Val)")
    p.add_argument("--out", required=True, help="output folder (outside the dataset)")
    p.add_argument("--mask-dir", default="masks_png", help="ground-truth mask folder name (default masks_png)")
    p.add_argument("--tta", default="none", choices=["none", "flip", "d4"],
                   help="flip: average probabilities over identity, horizontal and vertical flips (3x the time); "
                        "d4: all 8 rotations and reflections (8x)")
    geo = p.add_argument_group("checkpoints that record no model (GeoSeg)")
    geo.add_argument("--arch", action="append", default=[], metavar="LABEL=NAME",
                     help="model name for one label, e.g. A=ftunetformer (repeatable)")
    geo.add_argument("--model-opt", action="append", default=[], metavar="LABEL:KEY=VALUE",
                     help="model constructor option for one label, e.g. A:decode_channels=256 (repeatable)")
    geo.add_argument("--num-classes", type=int, default=None, help="class count for GeoSeg checkpoints (default 6)")
    add_runtime_arguments(p, batch_size=8, batch_help="tiles per forward pass (tiles of one size)")
    p.add_argument("--no-progress", action="store_true", help="do not show a progress bar")


def _labelled(items: list[str], flag: str, example: str) -> dict[str, str]:
    """``["A=x", "B=y"]`` -> ``{"A": "x", "B": "y"}``; a missing label or a repeated one is an error."""
    out: dict[str, str] = {}
    for item in items:
        label, sep, value = item.partition("=")
        label = label.strip()
        if not sep or not label or not value:
            raise ConfigError(f"{flag} {item!r} needs a label: write {flag} {example}.")
        if label in out:
            raise ConfigError(f"{flag} gives label {label!r} twice; give each label once.")
        out[label] = value
    return out


def model_specs(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Checkpoints by label and per-label ``load_model`` arguments from the parsed arguments."""
    from landseg.training.config import parse_override

    models = _labelled(args.model, "--model", "A=path/to/a.ckpt --model B=path/to/b.ckpt")
    options: dict[str, dict[str, Any]] = {}
    for label, arch in _labelled(args.arch, "--arch", "A=ftunetformer").items():
        options.setdefault(label, {})["model"] = arch
    for item in args.model_opt:
        label, sep, rest = item.partition(":")
        if not sep or not label.strip():
            raise ConfigError(f"--model-opt {item!r} needs a label: write --model-opt A:decode_channels=256.")
        keys, value = parse_override(rest)
        options.setdefault(label.strip(), {}).setdefault("options", {})[".".join(keys)] = value
    if args.num_classes is not None:
        for label in models:
            options.setdefault(label, {})["num_classes"] = args.num_classes
    return models, options


def run(args: argparse.Namespace) -> int:
    from landseg.correction.predict_pair import predict_pair

    models, options = model_specs(args)
    res = predict_pair(models, args.data, args.split, args.out, mask_dir=args.mask_dir, tta=args.tta,
                       batch_size=args.batch_size, precision=args.precision, device=args.device,
                       model_options=options, progress=not args.no_progress)
    print(f"{res.count} tiles; worst label quality first:")
    print("  label_quality  agreement  iou_A  iou_B  name")
    for r in res.rows[:10]:
        print(f"  {r['label_quality'][:6]:>13}  {r['agreement'][:5]:>9}  {r['iou_A'][:5]:>5}  {r['iou_B'][:5]:>5}  "
              f"{r['name']}")
    print(f"wrote {res.predictions_csv}, {res.meta_json} and pred_A/, pred_B/, overlay_A/, overlay_B/, overlay_GT/")
    return 0
