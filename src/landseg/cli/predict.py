"""Predict land-cover maps with a checkpoint, ONNX or TorchScript model.

Input decides output: a georeferenced raster (GeoTIFF/VRT with a CRS, any size) becomes a tiled,
compressed GeoTIFF class map with the same CRS and transform, a colour table and nodata kept, plus
<stem>_areas.csv (pixels, hectares, % per class) and <stem>_preview.png; pictures (PNG/JPEG/TIFF
without CRS) become masks/<stem>.png (class indices) and overlays/<stem>.png; a folder, each file by
its kind. areas.csv sums everything; predict.json records the run. Large inputs are predicted in
overlapping windows blended smoothly (no seams), read and written window by window.

Examples:
  landseg predict --model runs/demo/step3_kd_hard/run/checkpoints/best.ckpt --input ortho.tif --out runs/maps
  landseg predict --model model.onnx --input tiles/ --out runs/tiles --pixel-size 0.3
  landseg predict --model best.ckpt --input county/ --out runs/county --devices 4 --device cuda
  landseg predict --model geoseg.ckpt --arch ftunetformer --input scene.tif --out runs/geoseg --tta flip
"""

from __future__ import annotations

import argparse

from landseg.cli.common import add_precision_argument
from landseg.errors import ConfigError
from landseg.precision import PREDICT_PRECISIONS

NAME = "predict"
HELP = "predict maps for tile folders and large GeoTIFFs (seamless, streaming, area tables)"


def _bands(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(b) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bands takes band numbers like 1,2,3, got {text!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="checkpoint (.ckpt/.pth), .onnx or TorchScript file")
    p.add_argument("--input", required=True, help="image, GeoTIFF/VRT, or a folder of them")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--tile", type=int, default=None, help="window side in pixels (default: the model's tile size)")
    p.add_argument("--overlap", type=int, default=None,
                   help="overlap of neighbouring windows in pixels (default: a quarter of the window, 128 for 512)")
    p.add_argument("--tta", default="none", choices=["none", "flip", "d4"],
                   help="test-time augmentation: flips (3 passes) or all 8 rotations/reflections (default none)")
    p.add_argument("--batch-size", type=int, default=2,
                   help="windows per forward pass (default 2; raise it on a GPU with memory to spare)")
    add_precision_argument(p, PREDICT_PRECISIONS)  # checkpoints only: exports run in fp32
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--devices", type=int, default=1,
                   help="processes (CPU) or GPUs sharing the work via Lightning distributed predict (default 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads per process (default: the available cores divided among --devices)")
    p.add_argument("--bands", type=_bands, default=(1, 2, 3), help="raster bands in R,G,B order (default 1,2,3)")
    p.add_argument("--pixel-size", type=float, default=None,
                   help="metres per pixel for inputs without a CRS, to report hectares (e.g. 0.3)")
    p.add_argument("--band-width", type=int, default=8192,
                   help="columns of a raster held in memory at once (default 8192; memory grows with it)")
    p.add_argument("--arch", default=None, help="model name for checkpoints that record none (GeoSeg), e.g. ftunetformer")
    p.add_argument("--model-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="model constructor option for --arch, repeatable")
    p.add_argument("--num-classes", type=int, default=None, help="class count for GeoSeg checkpoints (default 6)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from landseg.inference.predict import predict

    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}.")
    options = {}
    if args.model_opt:
        from landseg.training.config import parse_override

        for item in args.model_opt:
            keys, value = parse_override(item)
            options[".".join(keys)] = value
    res = predict(args.model, args.input, args.out, devices=args.devices, tile=args.tile, overlap=args.overlap,
                  batch_size=args.batch_size, tta=args.tta, precision=args.precision, device=args.device,
                  bands=args.bands, pixel_size=args.pixel_size, band_width=args.band_width, threads=args.threads,
                  progress=not args.no_progress, model_name=args.arch, model_options=options or None,
                  num_classes=args.num_classes)
    if res.summary:
        print(res.report())
    return 0
